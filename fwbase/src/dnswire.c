/* DNS wire format for the built-in resolver: build an A query, parse an
 * answer. Parsing trusts nothing: every read is bounds-checked, compression
 * pointers are limited in number and must stay inside the message, names
 * are limited to 255 octets, and the question must echo ours. */
#include "fwbase/dnswire.h"
#include "fwbase/rt.h"

bool fwb_dns_name_eq(const char *a, const char *b) {
  size_t la = 0, lb = 0;
  while (a[la]) la++;
  while (b[lb]) lb++;
  if (la && a[la - 1] == '.') la--; /* trailing dot: same name */
  if (lb && b[lb - 1] == '.') lb--;
  if (la != lb) return false;
  for (size_t i = 0; i < la; i++)
    if (fwb_lower(a[i]) != fwb_lower(b[i])) return false;
  return true;
}

int fwb_dns_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name) {
  if (cap < 12 + 2 + 4) return -1;
  memset(buf, 0, 12);
  buf[0] = (uint8_t)(id >> 8);
  buf[1] = (uint8_t)id;
  buf[2] = 0x01; /* RD */
  buf[5] = 1;    /* QDCOUNT */
  size_t o = 12;
  const char *p = name;
  if (!*p) return -1;
  while (*p) {
    const char *dot = p;
    while (*dot && *dot != '.') dot++;
    size_t l = (size_t)(dot - p);
    if (l == 0 || l > 63) return -1;
    if (o + 1 + l + 1 + 4 > cap || o - 12 + 1 + l > 254) return -1;
    buf[o++] = (uint8_t)l;
    memcpy(buf + o, p, l);
    o += l;
    p = *dot ? dot + 1 : dot;
  }
  buf[o++] = 0;
  buf[o++] = 0;
  buf[o++] = FWB_DNS_TYPE_A;
  buf[o++] = 0;
  buf[o++] = 1; /* IN */
  return (int)o;
}

/* Decode a possibly compressed name at *off into out (dotted, no trailing
 * dot). *off moves past the name as it stands in the message. */
static int read_name(const uint8_t *m, size_t len, size_t *off, char *out, size_t cap) {
  size_t o = *off, n = 0;
  int jumps = 0;
  bool jumped = false;
  for (;;) {
    if (o >= len) return FWB_DNS_E_MALFORMED;
    uint8_t l = m[o];
    if ((l & 0xc0) == 0xc0) {
      if (o + 1 >= len) return FWB_DNS_E_MALFORMED;
      size_t ptr = (size_t)(l & 0x3f) << 8 | m[o + 1];
      if (ptr >= len || ++jumps > 32) return FWB_DNS_E_MALFORMED; /* loops */
      if (!jumped) *off = o + 2;
      jumped = true;
      o = ptr;
      continue;
    }
    if (l & 0xc0) return FWB_DNS_E_MALFORMED; /* extended label types */
    o++;
    if (l == 0) break;
    if (o + l > len) return FWB_DNS_E_MALFORMED;
    if (n + l + 2 > cap || n + l + 1 > 255) return FWB_DNS_E_MALFORMED;
    if (n) out[n++] = '.';
    for (uint8_t i = 0; i < l; i++) {
      char c = (char)m[o + i];
      if (c == 0 || c == '.') return FWB_DNS_E_MALFORMED;
      out[n++] = c;
    }
    o += l;
  }
  out[n] = 0;
  if (!jumped) *off = o;
  return 0;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

struct rr {
  char owner[256];
  uint16_t type;
  size_t rdoff;
  uint16_t rdlen;
};

int fwb_dns_parse(const uint8_t *m, size_t len, uint16_t id, const char *qname,
                 struct fwb_dns_result *res) {
  memset(res, 0, sizeof(*res));
  if (len < 12) return FWB_DNS_E_MALFORMED;
  if (rd16(m) != id) return FWB_DNS_E_ID;
  if (!(m[2] & 0x80)) return FWB_DNS_E_MALFORMED; /* not a response */
  if ((m[2] >> 3) & 0x0f) return FWB_DNS_E_MALFORMED; /* opcode */
  res->tc = (m[2] & 0x02) != 0;
  res->rcode = m[3] & 0x0f;
  uint16_t qd = rd16(m + 4), an = rd16(m + 6);
  if (qd != 1) return FWB_DNS_E_QUESTION;
  size_t off = 12;
  char name[256];
  int e = read_name(m, len, &off, name, sizeof(name));
  if (e) return e;
  if (off + 4 > len) return FWB_DNS_E_MALFORMED;
  if (!fwb_dns_name_eq(name, qname) || rd16(m + off) != FWB_DNS_TYPE_A || rd16(m + off + 2) != 1)
    return FWB_DNS_E_QUESTION;
  off += 4;
  if (res->tc) return 0; /* the caller retries over TCP */

  /* Collect the answer records; then follow the CNAME chain from qname. */
  enum { MAX_RR = 32 };
  struct rr rrs[MAX_RR]; /* about 9 KiB of stack */
  unsigned nrr = 0;
  for (uint16_t i = 0; i < an; i++) {
    struct rr tmp;
    e = read_name(m, len, &off, tmp.owner, sizeof(tmp.owner));
    if (e) return e;
    if (off + 10 > len) return FWB_DNS_E_MALFORMED;
    tmp.type = rd16(m + off);
    uint16_t cls = rd16(m + off + 2);
    tmp.rdlen = rd16(m + off + 8);
    off += 10;
    if (off + tmp.rdlen > len) return FWB_DNS_E_MALFORMED;
    tmp.rdoff = off;
    off += tmp.rdlen;
    if (cls != 1) continue;
    if (tmp.type == FWB_DNS_TYPE_A && tmp.rdlen != 4) return FWB_DNS_E_MALFORMED;
    if (nrr < MAX_RR) rrs[nrr++] = tmp;
  }
  char cur[256];
  size_t ql = 0;
  while (qname[ql] && ql < 255) {
    cur[ql] = qname[ql];
    ql++;
  }
  if (ql && cur[ql - 1] == '.') ql--;
  cur[ql] = 0;
  for (int hops = 0; hops < 16; hops++) {
    bool followed = false;
    for (unsigned i = 0; i < nrr; i++) {
      if (rrs[i].type != FWB_DNS_TYPE_CNAME || !fwb_dns_name_eq(rrs[i].owner, cur)) continue;
      size_t ro = rrs[i].rdoff;
      char target[256];
      e = read_name(m, len, &ro, target, sizeof(target));
      if (e || ro != rrs[i].rdoff + rrs[i].rdlen) return FWB_DNS_E_MALFORMED;
      memcpy(cur, target, sizeof(cur));
      followed = true;
      break;
    }
    if (!followed) break;
  }
  for (unsigned i = 0; i < nrr && res->naddr < FWB_DNS_MAX_ADDRS; i++) {
    if (rrs[i].type != FWB_DNS_TYPE_A || !fwb_dns_name_eq(rrs[i].owner, cur)) continue;
    memcpy(&res->addrs[res->naddr++], m + rrs[i].rdoff, 4);
  }
  size_t cl = 0;
  while (cur[cl]) cl++;
  memcpy(res->canon, cur, cl + 1);
  return 0;
}
