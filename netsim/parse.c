/* netsim's parsers behind one public call each (include/netsim/parse.h). */
#define _POSIX_C_SOURCE 200809L
#include "netsim/parse.h"

#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns.h"
#include "hub.h"
#include "rules.h"

/* An ARP, a TCP SYN, a UDP DHCP offer, a DNS query: enough for rules_match's fields. */
static void frame(uint8_t *f, size_t *len, int kind) {
  memset(f, 0, 64);
  f[12] = 0x08, f[13] = kind ? 0x00 : 0x06;
  uint8_t *ip = f + 14;
  ip[0] = 0x45, ip[9] = kind == 1 ? 6 : 17;
  uint8_t *l4 = ip + 20;
  if (kind == 1) l4[1] = 80, l4[13] = 0x02;
  if (kind == 2) l4[1] = 67, l4[3] = 68;
  if (kind == 3) l4[0] = 0x30, l4[3] = 53;
  *len = 64;
}

int netsim_parse_rules(const char *text) {
  static struct rules rs;
  memset(&rs, 0, sizeof(rs));
  char line[1024], err[256];
  const char *p = text;
  while (*p) {
    size_t n = strcspn(p, "\n");
    size_t k = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
    memcpy(line, p, k);
    line[k] = 0;
    rules_add(&rs, line, err, sizeof(err));
    p += n + (p[n] == '\n');
  }
  uint8_t f[64];
  size_t len;
  uint64_t d;
  for (int round = 0; round < 3; round++)
    for (int kind = 0; kind < 4; kind++) {
      frame(f, &len, kind);
      rules_match(&rs, DIR_TO_GUEST, f, len, &d);
      rules_match(&rs, DIR_FROM_GUEST, f, len, &d);
    }
  return (int)rs.n;
}

static struct hub lan;
static struct dns dns;
static int guest = -1; /* the guest's end of its port's socket pair */
static int port = -1;

static void lan_up(void) {
  static bool once;
  char err[128];
  if (!once) {
    hub_init(&lan, 1);
    dns_init(&dns, &lan);
    dnszone_add_a(&dns.zone, "peer.test", 0x0a000264);
    dnszone_add_cname(&dns.zone, "www.test", "peer.test");
    hub_add_uplink(&lan, &dns_uplink_ops, &dns);
    once = true;
  }
  memset(&lan.rules, 0, sizeof(lan.rules));
  rules_add(&lan.rules, "drop dir=from-guest proto=tcp flags=SYN nth=2", err, sizeof(err));
  rules_add(&lan.rules, "delay proto=udp dport=53 delay=1ms", err, sizeof(err));
  rules_add(&lan.rules, "dup dir=to-guest proto=udp count=1", err, sizeof(err));
  if (port < 0 || lan.port[port].fd < 0) {
    int sv[2];
    if (guest >= 0) close(guest);
    guest = port = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return;
    port = hub_attach(&lan, sv[0]);
    guest = sv[1];
    fcntl(guest, F_SETFL, fcntl(guest, F_GETFL) | O_NONBLOCK);
  }
  lan.port[port].rlen = 0;
}

static size_t drain(void) {
  uint8_t buf[65536];
  size_t got = 0;
  ssize_t n;
  while (guest >= 0 && (n = read(guest, buf, sizeof(buf))) > 0) got += (size_t)n;
  return got;
}

size_t netsim_guest_bytes(const uint8_t *data, size_t len) {
  lan_up();
  if (port < 0) return 0;
  size_t got = 0;
  while (len) {
    ssize_t n = write(guest, data, len);
    if (n <= 0) break;
    data += n, len -= (size_t)n;
    struct pollfd pfd[HUB_POLL_MAX];
    int np = hub_poll_fill(&lan, pfd);
    for (int i = 0; i < np; i++) pfd[i].revents = 0;
    pfd[port].revents = POLLIN;
    hub_poll_done(&lan, pfd, hub_now_ns());
    hub_run_due(&lan, UINT64_MAX);
    got += drain();
    if (port < 0 || lan.port[port].fd < 0) break; /* the hub dropped the port (bad framing) */
  }
  hub_run_due(&lan, UINT64_MAX);
  return got + drain();
}
