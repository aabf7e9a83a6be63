/* DNS interception on the LAN's DNS address. */
#define _POSIX_C_SOURCE 200809L
#include "dns.h"

#include <string.h>

static const uint8_t dns_ip[4] = {10, 0, 2, 3};

void dns_init(struct dns *d, struct hub *hub) {
  memset(d, 0, sizeof(*d));
  d->hub = hub;
}

void dns_destroy(struct dns *d) { dnszone_clear(&d->zone); }

/* The Internet checksum (RFC 1071) over p, starting from sum. */
static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += (uint32_t)p[n - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* A guest's UDP query to the DNS address: answered here, from the zone. */
static enum hub_verdict dns_input(void *ctx, int from, const uint8_t *f, size_t len) {
  struct dns *d = ctx;
  if (len < 14 + 20 + 8 || f[12] != 0x08 || f[13] != 0x00) return HUB_PASS;
  const uint8_t *ip = f + 14;
  size_t ihl = (size_t)(ip[0] & 15) * 4;
  if (ip[9] != 17 || memcmp(ip + 16, dns_ip, 4) || len < 14 + ihl + 8) return HUB_PASS;
  const uint8_t *udp = ip + ihl;
  if ((udp[2] << 8 | udp[3]) != 53) return HUB_PASS;
  size_t qlen = len - 14 - ihl - 8;
  uint8_t out[1600];
  bool wrong = false;
  size_t alen = dnszone_answer(&d->zone, udp + 8, qlen, out + 42, sizeof(out) - 42, false, &wrong);
  if (!alen) return HUB_TAKEN; /* dropped: no answer */
  d->answered++;
  /* Ethernet: to the querier, from the gateway's MAC for that address */
  memcpy(out, f + 6, 6);
  uint8_t src[4] = {10, 0, 2, (uint8_t)(wrong ? 4 : 3)};
  const uint8_t mac[6] = {0x52, 0x55, 10, 0, 2, src[3]};
  memcpy(out + 6, mac, 6);
  out[12] = 0x08, out[13] = 0x00;
  uint8_t *oip = out + 14, *oudp = out + 34;
  size_t ulen = 8 + alen, tlen = 20 + ulen;
  memset(oip, 0, 20);
  oip[0] = 0x45, oip[2] = (uint8_t)(tlen >> 8), oip[3] = (uint8_t)tlen, oip[8] = 64, oip[9] = 17;
  memcpy(oip + 12, src, 4);
  memcpy(oip + 16, ip + 12, 4);
  uint16_t c = csum(oip, 20, 0);
  oip[10] = (uint8_t)(c >> 8), oip[11] = (uint8_t)c;
  oudp[0] = 0, oudp[1] = 53, oudp[2] = udp[0], oudp[3] = udp[1];
  oudp[4] = (uint8_t)(ulen >> 8), oudp[5] = (uint8_t)ulen, oudp[6] = oudp[7] = 0;
  uint8_t pseudo[12]; /* RFC 768 pseudo-header */
  memcpy(pseudo, oip + 12, 8);
  pseudo[8] = 0, pseudo[9] = 17, pseudo[10] = (uint8_t)(ulen >> 8), pseudo[11] = (uint8_t)ulen;
  uint32_t sum = 0;
  for (int i = 0; i < 12; i += 2) sum += (uint32_t)(pseudo[i] << 8 | pseudo[i + 1]);
  c = csum(oudp, ulen, sum);
  if (!c) c = 0xffff;
  oudp[6] = (uint8_t)(c >> 8), oudp[7] = (uint8_t)c;
  /* through the guest's link, after the zone's delay */
  hub_to_port(d->hub, from, hub_now_ns() + d->zone.delay_ns, out, 42 + alen);
  return HUB_TAKEN;
}

const struct hub_uplink_ops dns_uplink_ops = {
    .name = "dns",
    .input = dns_input,
};

ssize_t dns_tcp_write(const void *buf, size_t len, void *opaque) {
  struct dns *d = opaque;
  if (len > sizeof(d->tcpin) - d->tcpin_len) d->tcpin_len = 0; /* garbage: start over */
  if (len > sizeof(d->tcpin)) return (ssize_t)len;
  memcpy(d->tcpin + d->tcpin_len, buf, len);
  d->tcpin_len += len;
  while (d->tcpin_len >= 2) {
    size_t mlen = (size_t)(d->tcpin[0] << 8 | d->tcpin[1]);
    if (d->tcpin_len < 2 + mlen) break;
    bool wrong = false;
    size_t room = sizeof(d->tcpout) - d->tcpout_len;
    if (room > 2) {
      size_t alen = dnszone_answer(&d->zone, d->tcpin + 2, mlen, d->tcpout + d->tcpout_len + 2, room - 2, true,
                                   &wrong);
      if (alen) {
        d->tcpout[d->tcpout_len] = (uint8_t)(alen >> 8), d->tcpout[d->tcpout_len + 1] = (uint8_t)alen;
        d->tcpout_len += 2 + alen;
        d->answered++;
      }
    }
    memmove(d->tcpin, d->tcpin + 2 + mlen, d->tcpin_len - 2 - mlen);
    d->tcpin_len -= 2 + mlen;
  }
  return (ssize_t)len;
}

size_t dns_tcp_pending(const struct dns *d, const uint8_t **p) {
  if (d->tcpout_off >= d->tcpout_len) return 0;
  *p = d->tcpout + d->tcpout_off;
  return d->tcpout_len - d->tcpout_off;
}

void dns_tcp_consumed(struct dns *d, size_t n) {
  d->tcpout_off += n;
  if (d->tcpout_off == d->tcpout_len) d->tcpout_off = d->tcpout_len = 0;
}
