/* The scripted DNS zone and server (dnszone.h). */
#define _POSIX_C_SOURCE 200809L
#include "fwbase/dnszone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dnszone_rec {
  struct dnszone_rec *next;
  char name[256];
  bool cname;
  char target[256];
  uint32_t ip;
};

static bool name_eq(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la && a[la - 1] == '.') la--;
  if (lb && b[lb - 1] == '.') lb--;
  if (la != lb) return false;
  for (size_t i = 0; i < la; i++) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

void dnszone_add_a(struct dnszone *z, const char *name, uint32_t ip) {
  struct dnszone_rec *r = calloc(1, sizeof(*r));
  snprintf(r->name, sizeof(r->name), "%s", name);
  r->ip = ip;
  r->next = z->recs;
  z->recs = r;
}

void dnszone_add_cname(struct dnszone *z, const char *name, const char *target) {
  struct dnszone_rec *r = calloc(1, sizeof(*r));
  snprintf(r->name, sizeof(r->name), "%s", name);
  snprintf(r->target, sizeof(r->target), "%s", target);
  r->cname = true;
  r->next = z->recs;
  z->recs = r;
}

void dnszone_set_fault(struct dnszone *z, enum dnszone_fault f, unsigned count) {
  z->fault = f;
  z->fault_left = count ? count : UINT32_MAX;
}

int dnszone_parse_fault(const char *name, enum dnszone_fault *f) {
  static const char *names[] = {"ok", "nxdomain", "servfail", "drop", "truncate", "wrong-id",
                                "wrong-source", "malformed", "pointer-loop"};
  for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (!strcmp(name, names[i])) {
      *f = (enum dnszone_fault)i;
      return 0;
    }
  return -1;
}

enum dnszone_fault dnszone_take_fault(struct dnszone *z) {
  z->queries++;
  if (z->fault == DNSZ_OK || !z->fault_left) return DNSZ_OK;
  if (z->fault_left != UINT32_MAX) z->fault_left--;
  return z->fault;
}

void dnszone_clear(struct dnszone *z) {
  while (z->recs) {
    struct dnszone_rec *r = z->recs;
    z->recs = r->next;
    free(r);
  }
  memset(z, 0, sizeof(*z));
}

/* Resolve name through the zone: the CNAME chain and the final A records. */
struct chain {
  char names[9][256];
  unsigned nnames;
  uint32_t addrs[8];
  unsigned naddr;
  bool exists;
};

static void resolve(struct dnszone *z, const char *name, struct chain *ch) {
  memset(ch, 0, sizeof(*ch));
  snprintf(ch->names[0], 256, "%s", name);
  ch->nnames = 1;
  for (int hop = 0; hop < 8; hop++) {
    const char *cur = ch->names[ch->nnames - 1];
    struct dnszone_rec *cn = NULL;
    for (struct dnszone_rec *r = z->recs; r; r = r->next)
      if (r->cname && name_eq(r->name, cur)) cn = r;
    if (!cn) break;
    ch->exists = true;
    snprintf(ch->names[ch->nnames++], 256, "%s", cn->target);
  }
  const char *fin = ch->names[ch->nnames - 1];
  /* Zone records are newest-first; answer in the order they were added. */
  uint32_t tmp[8];
  unsigned k = 0;
  for (struct dnszone_rec *r = z->recs; r && k < 8; r = r->next)
    if (!r->cname && name_eq(r->name, fin)) tmp[k++] = r->ip;
  for (unsigned i = 0; i < k; i++) ch->addrs[i] = tmp[k - 1 - i];
  ch->naddr = k;
  if (k) ch->exists = true;
}

int dnszone_resolve(struct dnszone *z, const char *name, uint32_t *addrs, unsigned max) {
  struct chain ch;
  resolve(z, name, &ch);
  if (!ch.naddr) return -1;
  unsigned n = ch.naddr < max ? ch.naddr : max;
  for (unsigned i = 0; i < n; i++) addrs[i] = ch.addrs[i];
  return (int)n;
}

static size_t put_name(uint8_t *o, size_t cap, size_t off, const char *name) {
  const char *p = name;
  while (*p) {
    const char *dot = strchr(p, '.');
    size_t l = dot ? (size_t)(dot - p) : strlen(p);
    if (l == 0 || off + l + 2 > cap) break;
    o[off++] = (uint8_t)l;
    memcpy(o + off, p, l);
    off += l;
    p += l;
    if (*p == '.') p++;
  }
  o[off++] = 0;
  return off;
}

static size_t put_rr_head(uint8_t *o, size_t off, uint16_t type, uint16_t rdlen) {
  o[off++] = 0;
  o[off++] = (uint8_t)type;
  o[off++] = 0;
  o[off++] = 1; /* IN */
  o[off++] = 0;
  o[off++] = 0;
  o[off++] = 0x0e;
  o[off++] = 0x10; /* TTL 3600 */
  o[off++] = (uint8_t)(rdlen >> 8);
  o[off++] = (uint8_t)rdlen;
  return off;
}

size_t dnszone_answer(struct dnszone *z, const uint8_t *q, size_t qlen, uint8_t *out, size_t cap,
                      bool tcp, bool *wrong_source) {
  if (qlen < 12 + 5 || cap < 512) return 0;
  /* Parse the question (queries carry no compression). */
  char qname[256];
  size_t off = 12, nl = 0;
  while (off < qlen && q[off]) {
    size_t l = q[off++];
    if (l > 63 || off + l > qlen || nl + l + 2 > sizeof(qname)) return 0;
    if (nl) qname[nl++] = '.';
    memcpy(qname + nl, q + off, l);
    nl += l;
    off += l;
  }
  qname[nl] = 0;
  off++;
  if (off + 4 > qlen) return 0;
  size_t qend = off + 4;
  enum dnszone_fault f = dnszone_take_fault(z);
  if (f == DNSZ_DROP) return 0;
  if (f == DNSZ_TRUNCATE && tcp) f = DNSZ_OK;
  struct chain ch;
  resolve(z, qname, &ch);
  memcpy(out, q, qend);
  uint16_t id = (uint16_t)(q[0] << 8 | q[1]);
  if (f == DNSZ_WRONG_ID) id ^= 0x5a5a;
  out[0] = (uint8_t)(id >> 8);
  out[1] = (uint8_t)id;
  out[2] = 0x81; /* QR, RD */
  out[3] = 0x80; /* RA */
  out[4] = 0;
  out[5] = 1;
  memset(out + 6, 0, 6);
  *wrong_source = f == DNSZ_WRONG_SOURCE;
  if (f == DNSZ_SERVFAIL) {
    out[3] |= 2;
    return qend;
  }
  if (f == DNSZ_TRUNCATE) {
    out[2] |= 0x02;
    return qend;
  }
  if (f == DNSZ_NXDOMAIN || !ch.exists) {
    out[3] |= 3;
    return qend;
  }
  size_t o = qend;
  unsigned an = 0;
  for (unsigned i = 0; i + 1 < ch.nnames; i++) {
    /* owner: the question's name by pointer for the first, else spelled out */
    if (i == 0) {
      out[o++] = 0xc0;
      out[o++] = 12;
    } else {
      o = put_name(out, cap, o, ch.names[i]);
    }
    size_t head = o;
    o = put_rr_head(out, o, 5, 0);
    size_t rd = o;
    o = put_name(out, cap, o, ch.names[i + 1]);
    out[head + 8] = (uint8_t)((o - rd) >> 8);
    out[head + 9] = (uint8_t)(o - rd);
    an++;
  }
  for (unsigned i = 0; i < ch.naddr && o + 64 < cap; i++) {
    if (f == DNSZ_POINTER_LOOP && i == 0) {
      out[o] = 0xc0; /* a pointer to itself */
      out[o + 1] = (uint8_t)o;
      o += 2;
    } else if (ch.nnames == 1) {
      out[o++] = 0xc0;
      out[o++] = 12;
    } else {
      o = put_name(out, cap, o, ch.names[ch.nnames - 1]);
    }
    o = put_rr_head(out, o, 1, 4);
    out[o++] = (uint8_t)(ch.addrs[i] >> 24);
    out[o++] = (uint8_t)(ch.addrs[i] >> 16);
    out[o++] = (uint8_t)(ch.addrs[i] >> 8);
    out[o++] = (uint8_t)ch.addrs[i];
    an++;
  }
  out[6] = (uint8_t)(an >> 8);
  out[7] = (uint8_t)an;
  if (f == DNSZ_MALFORMED) o -= 3; /* cut inside the last record */
  return o;
}

