/* Argument parsing and reply formatting for the agent (PROTOCOL.md
 * "Replies", "Commands"). Freestanding: no libc formatting. */
#include "core.h"

#include "fwbase/pattern.h"
#include "fwbase/rt.h"

void agent_append(char *out, size_t cap, const char *s) {
  size_t n = strlen(out);
  while (*s && n + 1 < cap) out[n++] = *s++;
  out[n] = 0;
}

void agent_fmt_int(char *buf, long long v) {
  char tmp[24];
  int n = 0;
  unsigned long long u = v < 0 ? (unsigned long long)(-(v + 1)) + 1 : (unsigned long long)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  int k = 0;
  if (v < 0) buf[k++] = '-';
  while (n) buf[k++] = tmp[--n];
  buf[k] = 0;
}

void agent_kv(char *out, size_t cap, const char *key, const char *val) {
  if (out[0]) agent_append(out, cap, " ");
  agent_append(out, cap, key);
  agent_append(out, cap, "=");
  agent_append(out, cap, val);
}

void agent_kv_int(char *out, size_t cap, const char *key, long long v) {
  char b[24];
  agent_fmt_int(b, v);
  agent_kv(out, cap, key, b);
}

void agent_fmt_ip(char *b, uint32_t net_order) { efisock_inet_ntop(EFISOCK_AF_INET, &net_order, b, 16); }

void agent_kv_ip(char *out, size_t cap, const char *key, uint32_t net_order) {
  char b[16];
  agent_fmt_ip(b, net_order);
  agent_kv(out, cap, key, b);
}

void agent_kv_hex32(char *out, size_t cap, const char *key, uint32_t v) {
  char b[9];
  for (int i = 7; i >= 0; i--, v >>= 4) b[i] = "0123456789abcdef"[v & 15];
  b[8] = 0;
  agent_kv(out, cap, key, b);
}

int agent_arg(const char *args, const char *key, char *val, size_t cap) {
  size_t kl = strlen(key);
  const char *p = args;
  while (*p) {
    while (*p == ' ') p++;
    const char *start = p;
    while (*p && *p != ' ') p++;
    if ((size_t)(p - start) > kl && start[kl] == '=') {
      size_t i = 0;
      for (; i < kl && start[i] == key[i]; i++) {
      }
      if (i == kl) {
        size_t vl = (size_t)(p - start) - kl - 1;
        if (vl >= cap) vl = cap - 1;
        memcpy(val, start + kl + 1, vl);
        val[vl] = 0;
        return 1;
      }
    }
  }
  return 0;
}

long agent_arg_int(const char *args, const char *key, long dflt) {
  char v[32];
  if (!agent_arg(args, key, v, sizeof(v))) return dflt;
  long r = 0;
  int neg = 0, i = 0;
  if (v[0] == '-') neg = 1, i = 1;
  for (; v[i] >= '0' && v[i] <= '9'; i++) /* saturates at LONG_MAX (fuzz/ found the overflow) */
    r = r > (__LONG_MAX__ - (v[i] - '0')) / 10 ? __LONG_MAX__ : r * 10 + (v[i] - '0');
  return neg ? -r : r;
}

int agent_parse_ip(const char *s, uint32_t *net_order) {
  return efisock_inet_pton(EFISOCK_AF_INET, s, net_order) == 1 ? 0 : -1;
}

/* addr= and port=; -1 when addr= is not an IPv4 address */
int agent_arg_sin(const char *args, struct efisock_sockaddr_in *a) {
  char ip[32];
  memset(a, 0, sizeof(*a));
  a->sin_family = EFISOCK_AF_INET;
  if (agent_arg(args, "addr", ip, sizeof(ip)) && agent_parse_ip(ip, &a->sin_addr.s_addr)) return -1;
  a->sin_port = efisock_htons((uint16_t)agent_arg_int(args, "port", 0));
  return 0;
}

/* Data patterns: "seq" (fwbase/pattern.h, from byte `off`), "zero",
 * or a single repeated letter. */
void agent_fill(uint8_t *b, size_t n, const char *pattern, size_t off) {
  if (!strcmp(pattern, "zero") || (pattern[0] && !pattern[1])) {
    memset(b, !strcmp(pattern, "zero") ? 0 : pattern[0], n);
    return;
  }
  fwb_pattern_fill(b, n, off);
}

/* text= is percent-encoded (%20 space, %0d%0a CRLF): literal requests. */
size_t agent_unescape(const char *t, uint8_t *out) {
  size_t n = 0;
  for (; *t; t++) {
    if (*t == '%' && t[1] && t[2]) {
      int v = 0;
      for (int k = 1; k <= 2; k++) {
        char c = t[k];
        v = v * 16 + (c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 0);
      }
      out[n++] = (uint8_t)v;
      t += 2;
    } else {
      out[n++] = (uint8_t)*t;
    }
  }
  return n;
}

/* flags=peek,dontwait,waitall,trunc */
int agent_parse_flags(const char *args) {
  char v[96];
  if (!agent_arg(args, "flags", v, sizeof(v))) return 0;
  int f = 0;
  const char *p = v;
  while (*p) {
    const char *s = p;
    while (*p && *p != ',') p++;
    char w[16];
    size_t l = (size_t)(p - s) < sizeof(w) - 1 ? (size_t)(p - s) : sizeof(w) - 1;
    memcpy(w, s, l);
    w[l] = 0;
    if (!strcmp(w, "peek")) f |= EFISOCK_MSG_PEEK;
    else if (!strcmp(w, "dontwait")) f |= EFISOCK_MSG_DONTWAIT;
    else if (!strcmp(w, "waitall")) f |= EFISOCK_MSG_WAITALL;
    else if (!strcmp(w, "trunc")) f |= EFISOCK_MSG_TRUNC;
    if (*p) p++;
  }
  return f;
}

/* key=3,4 ("-" when empty) */
void agent_kv_fdlist(char *out, size_t cap, const char *key, const efisock_fd_set *s, int nfds) {
  char b[256] = "";
  for (int fd = 0; fd < nfds; fd++) {
    if (!EFISOCK_FD_ISSET(fd, s)) continue;
    char n[8];
    agent_fmt_int(n, fd);
    if (b[0]) agent_append(b, sizeof(b), ",");
    agent_append(b, sizeof(b), n);
  }
  agent_kv(out, cap, key, b[0] ? b : "-");
}

/* key=3,4 into *s; returns the highest fd, -1 when none */
int agent_parse_fdlist(const char *args, const char *key, efisock_fd_set *s) {
  char v[256];
  EFISOCK_FD_ZERO(s);
  int max = -1;
  if (!agent_arg(args, key, v, sizeof(v))) return max;
  const char *p = v;
  while (*p) {
    int fd = 0;
    while (*p >= '0' && *p <= '9') /* past FD_SETSIZE it stops growing (fuzz/ found the overflow) */
      fd = fd < EFISOCK_FD_SETSIZE ? fd * 10 + (*p++ - '0') : (p++, fd);
    if (fd < EFISOCK_FD_SETSIZE) {
      EFISOCK_FD_SET(fd, s);
      if (fd > max) max = fd;
    }
    if (*p) p++;
  }
  return max;
}

/* Serial framing for the guest backends (EFI, rump): "@@F <line> <crc> F@@"
 * where crc is CRC-32 (IEEE) of line in hex; firmware output around it is
 * ignored by the harness. Returns the framed length (truncated to cap). */
size_t agent_frame(const char *line, char *out, size_t cap) {
  size_t n = 0;
  const char *parts[3] = {"\r\n@@F ", line, " "};
  for (int i = 0; i < 3; i++)
    for (const char *p = parts[i]; *p && n + 1 < cap; p++) out[n++] = *p;
  uint32_t c = fwb_crc32(0, (const uint8_t *)line, strlen(line));
  for (int i = 7; i >= 0 && n + 8 < cap; i--) out[n + (size_t)i] = "0123456789abcdef"[(c >> (4 * (7 - i))) & 15];
  if (n + 8 < cap) n += 8;
  for (const char *p = " F@@\r\n"; *p && n + 1 < cap; p++) out[n++] = *p;
  out[n] = 0;
  return n;
}
