/* Targeted rules (rules.h). Frames are parsed only as far as the fields the
 * rules name: Ethernet type, IPv4 protocol, ports, TCP flags. */
#define _POSIX_C_SOURCE 200809L
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_ns(const char *v, uint64_t *ns) {
  char *end;
  double x = strtod(v, &end);
  if (end == v || !(x >= 0)) return -1; /* NaN too */
  double mul = !strcmp(end, "s") ? 1e9 : !strcmp(end, "ms") || !*end ? 1e6 : !strcmp(end, "us") ? 1e3 : -1;
  if (mul < 0 || !(x * mul < 1.8e19)) return -1; /* beyond uint64_t nanoseconds (fuzz/) */
  *ns = (uint64_t)(x * mul);
  return 0;
}

int rule_parse(const char *text, struct rule *r, char *err, size_t errlen) {
  char buf[512];
  memset(r, 0, sizeof(*r));
  snprintf(buf, sizeof(buf), "%s", text);
  char *save = NULL, *w = strtok_r(buf, " \t", &save);
  if (!w) goto bad_empty;
  if (!strcmp(w, "drop")) r->action = RULE_DROP;
  else if (!strcmp(w, "delay")) r->action = RULE_DELAY;
  else if (!strcmp(w, "dup")) r->action = RULE_DUP;
  else {
    snprintf(err, errlen, "unknown rule action '%s' (drop, delay, dup)", w);
    return -1;
  }
  while ((w = strtok_r(NULL, " \t", &save))) {
    char *v = strchr(w, '=');
    if (!v) goto bad;
    *v++ = 0;
    if (!strcmp(w, "dir")) {
      if (!strcmp(v, "to-guest")) r->dir = DIR_TO_GUEST;
      else if (!strcmp(v, "from-guest")) r->dir = DIR_FROM_GUEST;
      else if (!strcmp(v, "any")) r->dir = DIR_ANY;
      else goto bad_v;
    } else if (!strcmp(w, "proto")) {
      if (!strcmp(v, "tcp")) r->proto = 6;
      else if (!strcmp(v, "udp")) r->proto = 17;
      else if (!strcmp(v, "icmp")) r->proto = 1;
      else if (!strcmp(v, "arp")) r->proto = -1;
      else goto bad_v;
    } else if (!strcmp(w, "port") || !strcmp(w, "sport") || !strcmp(w, "dport")) {
      int p = atoi(v);
      if (p <= 0 || p > 65535) goto bad_v;
      *(w[0] == 'p' ? &r->port : w[0] == 's' ? &r->sport : &r->dport) = p;
    } else if (!strcmp(w, "flags")) {
      r->flags_given = 1;
      for (char *s2 = NULL, *f = strtok_r(v, "+|", &s2); f; f = strtok_r(NULL, "+|", &s2)) {
        if (!strcmp(f, "SYN")) r->flags |= 0x02;
        else if (!strcmp(f, "ACK")) r->flags |= 0x10;
        else if (!strcmp(f, "FIN")) r->flags |= 0x01;
        else if (!strcmp(f, "RST")) r->flags |= 0x04;
        else goto bad_v;
      }
      if (!r->proto) r->proto = 6;
    } else if (!strcmp(w, "nth")) {
      r->nth = (unsigned)atoi(v);
      if (!r->nth) goto bad_v;
    } else if (!strcmp(w, "count")) {
      r->count = (unsigned)atoi(v);
      if (!r->count) goto bad_v;
    } else if (!strcmp(w, "delay")) {
      if (parse_ns(v, &r->delay_ns)) goto bad_v;
    } else {
      v[-1] = '=';
      goto bad;
    }
  }
  if (r->action == RULE_DELAY && !r->delay_ns) {
    snprintf(err, errlen, "delay rule needs delay=");
    return -1;
  }
  if (r->nth && !r->count) r->count = 1;
  return 0;
bad_v:
  snprintf(err, errlen, "bad value in '%s=%s'", w, strchr(w, 0) + 1);
  return -1;
bad:
  snprintf(err, errlen, "bad rule word '%s'", w);
  return -1;
bad_empty:
  snprintf(err, errlen, "empty rule");
  return -1;
}

int rules_add(struct rules *rs, const char *text, char *err, size_t errlen) {
  if (rs->n >= RULES_MAX) {
    snprintf(err, errlen, "too many rules (%d)", RULES_MAX);
    return -1;
  }
  if (rule_parse(text, &rs->r[rs->n], err, errlen)) return -1;
  rs->n++;
  return 0;
}

struct fields {
  int proto, sport, dport;
  uint8_t flags;
};

static int parse_frame(const uint8_t *f, size_t len, struct fields *x) {
  memset(x, 0, sizeof(*x));
  if (len < 14) return -1;
  unsigned type = (unsigned)f[12] << 8 | f[13];
  if (type == 0x0806) {
    x->proto = -1;
    return 0;
  }
  if (type != 0x0800 || len < 14 + 20) return -1;
  const uint8_t *ip = f + 14;
  size_t ihl = (size_t)(ip[0] & 15) * 4;
  if (ihl < 20 || len < 14 + ihl) return -1;
  x->proto = ip[9];
  const uint8_t *l4 = ip + ihl;
  size_t l4len = len - 14 - ihl;
  if ((x->proto == 6 && l4len >= 14) || (x->proto == 17 && l4len >= 8)) {
    x->sport = l4[0] << 8 | l4[1];
    x->dport = l4[2] << 8 | l4[3];
    if (x->proto == 6) x->flags = l4[13];
  }
  return 0;
}

enum rule_action rules_match(struct rules *rs, enum rule_dir dir, const uint8_t *frame, size_t len,
                             uint64_t *delay_ns) {
  struct fields x;
  if (!rs->n || parse_frame(frame, len, &x)) return RULE_NONE;
  for (unsigned i = 0; i < rs->n; i++) {
    struct rule *r = &rs->r[i];
    if (r->dir != DIR_ANY && r->dir != dir) continue;
    if (r->proto && r->proto != x.proto) continue;
    if (r->port && r->port != x.sport && r->port != x.dport) continue;
    if (r->sport && r->sport != x.sport) continue;
    if (r->dport && r->dport != x.dport) continue;
    if (r->flags_given && (x.flags & 0x17) != r->flags) continue;
    r->matched++;
    if (r->nth && r->matched < r->nth) continue;
    if (r->count && r->applied >= r->count) continue;
    r->applied++;
    *delay_ns = r->delay_ns;
    return r->action;
  }
  return RULE_NONE;
}
