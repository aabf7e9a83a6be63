/* The fwnet agent: executes socket operations on command and reports
 * results, one line each (PROTOCOL.md). Freestanding: the same code runs in
 * a Linux process, over the host fakes, and inside an EFI application. */
#include <stdbool.h>
#include "agent/netops.h"

#include "fwbase/pattern.h"
#include "fwbase/rt.h"

#define MAXBUF (1u << 20)
#define LINE 1024

static uint8_t iobuf[MAXBUF]; /* one operation at a time */

/* ---- text helpers (no libc formatting in freestanding builds) ---- */

static bool streq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

static void append(char *out, size_t cap, const char *s) {
  size_t n = strlen(out);
  while (*s && n + 1 < cap) out[n++] = *s++;
  out[n] = 0;
}

static void fmt_int(char *buf, long long v) {
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
  if (out[0]) append(out, cap, " ");
  append(out, cap, key);
  append(out, cap, "=");
  append(out, cap, val);
}

void agent_kv_int(char *out, size_t cap, const char *key, long long v) {
  char b[24];
  fmt_int(b, v);
  agent_kv(out, cap, key, b);
}

static void fmt_ip(char *b, uint32_t net_order) {
  efisock_inet_ntop(EFISOCK_AF_INET, &net_order, b, 16);
}

void agent_kv_ip(char *out, size_t cap, const char *key, uint32_t net_order) {
  char b[16];
  fmt_ip(b, net_order);
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
  for (; v[i] >= '0' && v[i] <= '9'; i++) r = r * 10 + (v[i] - '0');
  return neg ? -r : r;
}

int agent_parse_ip(const char *s, uint32_t *net_order) {
  return efisock_inet_pton(EFISOCK_AF_INET, s, net_order) == 1 ? 0 : -1;
}

static int arg_sin(const char *args, struct efisock_sockaddr_in *a) {
  char ip[32];
  memset(a, 0, sizeof(*a));
  a->sin_family = EFISOCK_AF_INET;
  if (agent_arg(args, "addr", ip, sizeof(ip)) && agent_parse_ip(ip, &a->sin_addr.s_addr)) return -1;
  a->sin_port = efisock_htons((uint16_t)agent_arg_int(args, "port", 0));
  return 0;
}

/* Data patterns: "seq" (fwbase/pattern.h, from byte `off`), "zero",
 * or a single repeated letter. */
static void fill(uint8_t *b, size_t n, const char *pattern, size_t off) {
  if (streq(pattern, "zero") || (pattern[0] && !pattern[1])) {
    memset(b, streq(pattern, "zero") ? 0 : pattern[0], n);
    return;
  }
  fwb_pattern_fill(b, n, off);
}

/* text= is percent-encoded (%20 space, %0d%0a CRLF): literal requests. */
static size_t unescape(const char *t, uint8_t *out) {
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

static int parse_flags(const char *args) {
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
    if (streq(w, "peek")) f |= EFISOCK_MSG_PEEK;
    else if (streq(w, "dontwait")) f |= EFISOCK_MSG_DONTWAIT;
    else if (streq(w, "waitall")) f |= EFISOCK_MSG_WAITALL;
    else if (streq(w, "trunc")) f |= EFISOCK_MSG_TRUNC;
    if (*p) p++;
  }
  return f;
}

static void fdlist(char *out, size_t cap, const char *key, const efisock_fd_set *s, int nfds) {
  char b[256] = "";
  for (int fd = 0; fd < nfds; fd++) {
    if (!EFISOCK_FD_ISSET(fd, s)) continue;
    char n[8];
    fmt_int(n, fd);
    if (b[0]) append(b, sizeof(b), ",");
    append(b, sizeof(b), n);
  }
  agent_kv(out, cap, key, b[0] ? b : "-");
}

static int parse_fdlist(const char *args, const char *key, efisock_fd_set *s) {
  char v[256];
  EFISOCK_FD_ZERO(s);
  int max = -1;
  if (!agent_arg(args, key, v, sizeof(v))) return max;
  const char *p = v;
  while (*p) {
    int fd = 0;
    while (*p >= '0' && *p <= '9') fd = fd * 10 + (*p++ - '0');
    if (fd < EFISOCK_FD_SETSIZE) {
      EFISOCK_FD_SET(fd, s);
      if (fd > max) max = fd;
    }
    if (*p) p++;
  }
  return max;
}

/* Bulk transfers over several connections, driven by one select() loop:
 * step() runs for each ready fd and says whether it is done (1), failed
 * (-1) or wants another turn (0). Returns nonzero when select() found
 * nothing for 10 s or a step failed. */
struct bulk_many {
  long long want, total;
  long long moved[EFISOCK_FD_SETSIZE];
};
typedef int (*bulk_step)(const struct agent_netops *o, struct agent_net *n, int fd, struct bulk_many *m);

static int select_each(const struct agent_netops *o, struct agent_net *n, efisock_fd_set live, int maxfd,
                       bool writing, bulk_step step, struct bulk_many *m) {
  int nlive = 0;
  for (int f = 0; f <= maxfd; f++) nlive += EFISOCK_FD_ISSET(f, &live) ? 1 : 0;
  while (nlive > 0) {
    efisock_fd_set rs, ws, es;
    EFISOCK_FD_ZERO(&rs);
    EFISOCK_FD_ZERO(&ws);
    EFISOCK_FD_ZERO(&es);
    if (writing) ws = live;
    else rs = live;
    if (o->select(n, maxfd + 1, &rs, &ws, &es, 10000) <= 0) return 1;
    for (int f = 0; f <= maxfd; f++) {
      if (!EFISOCK_FD_ISSET(f, writing ? &ws : &rs)) continue;
      int r = step(o, n, f, m);
      if (r < 0) return 1;
      if (r > 0) {
        EFISOCK_FD_CLR(f, &live);
        nlive--;
      }
    }
  }
  return 0;
}

/* read what is there; done at bytes= or EOF */
static int recv_step(const struct agent_netops *o, struct agent_net *n, int fd, struct bulk_many *m) {
  long long left = m->want - m->moved[fd];
  intptr_t r = o->recvfrom(n, fd, iobuf, (size_t)(left < (long long)MAXBUF ? left : (long long)MAXBUF), 0, NULL);
  if (r > 0) m->moved[fd] += r, m->total += r;
  return r < 0 ? -1 : (r == 0 || m->moved[fd] >= m->want);
}

/* send what fits without blocking (EAGAIN: select again) */
static int send_step(const struct agent_netops *o, struct agent_net *n, int fd, struct bulk_many *m) {
  long long left = m->want - m->moved[fd];
  size_t chunk = (size_t)(left < 65536 ? left : 65536);
  fill(iobuf, chunk, "seq", (size_t)m->moved[fd]);
  intptr_t r = o->sendto(n, fd, iobuf, chunk, EFISOCK_MSG_DONTWAIT, NULL);
  if (r > 0) m->moved[fd] += r, m->total += r;
  if (r < 0 && o->last_errno(n) != EFISOCK_EAGAIN) return -1;
  return m->moved[fd] >= m->want;
}

static const struct {
  const char *name;
  short bit;
} pollbits[] = {{"in", EFISOCK_POLLIN},   {"pri", EFISOCK_POLLPRI}, {"out", EFISOCK_POLLOUT},
                {"err", EFISOCK_POLLERR}, {"hup", EFISOCK_POLLHUP}, {"nval", EFISOCK_POLLNVAL}};

static const struct {
  const char *name;
  int level, opt, kind; /* kind 0 int, 1 timeval (ms) */
} sockopts[] = {
    {"reuseaddr", EFISOCK_SOL_SOCKET, EFISOCK_SO_REUSEADDR, 0},
    {"error", EFISOCK_SOL_SOCKET, EFISOCK_SO_ERROR, 0},
    {"type", EFISOCK_SOL_SOCKET, EFISOCK_SO_TYPE, 0},
    {"rcvbuf", EFISOCK_SOL_SOCKET, EFISOCK_SO_RCVBUF, 0},
    {"sndbuf", EFISOCK_SOL_SOCKET, EFISOCK_SO_SNDBUF, 0},
    {"keepalive", EFISOCK_SOL_SOCKET, EFISOCK_SO_KEEPALIVE, 0},
    {"acceptconn", EFISOCK_SOL_SOCKET, EFISOCK_SO_ACCEPTCONN, 0},
    {"rcvtimeo", EFISOCK_SOL_SOCKET, EFISOCK_SO_RCVTIMEO, 1},
    {"sndtimeo", EFISOCK_SOL_SOCKET, EFISOCK_SO_SNDTIMEO, 1},
    {"nodelay", EFISOCK_IPPROTO_TCP, EFISOCK_TCP_NODELAY, 0},
};

/* ---- dispatch ---- */

int agent_execute(struct agent_env *env, const char *line) {
  const struct agent_netops *o = env->ops;
  struct agent_net *n = env->net;
  char op[24];
  size_t i = 0;
  while (*line == ' ') line++;
  while (line[i] && line[i] != ' ' && i < sizeof(op) - 1) {
    op[i] = line[i];
    i++;
  }
  op[i] = 0;
  const char *args = line + i;
  char out[LINE] = "", fields[LINE] = "", fdsarg[256];
  long long ret = 0;
  int err = 0;
  bool known = true, quit = false;
  uint64_t t0 = o->now_ns(n);
  int fd = (int)agent_arg_int(args, "fd", -1);

  if (!op[0]) return 0;
  if (streq(op, "socket")) {
    char t[16] = "stream";
    agent_arg(args, "type", t, sizeof(t));
    ret = o->socket(n, streq(t, "dgram") ? EFISOCK_SOCK_DGRAM : EFISOCK_SOCK_STREAM,
                    (int)agent_arg_int(args, "nonblock", 0));
  } else if (streq(op, "bind") || streq(op, "connect")) {
    struct efisock_sockaddr_in a;
    char fam[16];
    if (arg_sin(args, &a)) {
      ret = -1, err = EFISOCK_EINVAL;
    } else {
      if (agent_arg(args, "family", fam, sizeof(fam)) && streq(fam, "unspec")) a.sin_family = 0;
      ret = streq(op, "bind") ? o->bind(n, fd, &a) : o->connect(n, fd, &a);
    }
  } else if (streq(op, "listen")) {
    ret = o->listen(n, fd, (int)agent_arg_int(args, "backlog", 5));
  } else if (streq(op, "accept")) {
    struct efisock_sockaddr_in p;
    memset(&p, 0, sizeof(p));
    ret = o->accept(n, fd, &p);
    if (ret >= 0) agent_kv_ip(fields, sizeof(fields), "peer", p.sin_addr.s_addr);
  } else if (streq(op, "send") || streq(op, "sendto")) {
    size_t len = (size_t)agent_arg_int(args, "len", 0);
    char pat[16] = "seq";
    agent_arg(args, "pattern", pat, sizeof(pat));
    if (len > MAXBUF) len = MAXBUF;
    fill(iobuf, len, pat, (size_t)agent_arg_int(args, "off", 0));
    static char text[512];
    if (agent_arg(args, "text", text, sizeof(text))) len = unescape(text, iobuf);
    struct efisock_sockaddr_in to;
    bool has_to = streq(op, "sendto");
    if (has_to) arg_sin(args, &to);
    ret = o->sendto(n, fd, iobuf, len, parse_flags(args), has_to ? &to : NULL);
    if (ret > 0) agent_kv_hex32(fields, sizeof(fields), "crc", fwb_crc32(0, iobuf, (size_t)ret));
  } else if (streq(op, "recv") || streq(op, "recvfrom")) {
    size_t len = (size_t)agent_arg_int(args, "len", 1024);
    if (len > MAXBUF) len = MAXBUF;
    struct efisock_sockaddr_in from;
    memset(&from, 0, sizeof(from));
    int flags = parse_flags(args);
    ret = o->recvfrom(n, fd, iobuf, len, flags, &from);
    if (ret >= 0) {
      size_t got = (size_t)ret < len ? (size_t)ret : len;
      agent_kv_hex32(fields, sizeof(fields), "crc", fwb_crc32(0, iobuf, got));
      if (got <= 32) {
        char hex[65];
        for (size_t k = 0; k < got; k++) {
          hex[2 * k] = "0123456789abcdef"[iobuf[k] >> 4];
          hex[2 * k + 1] = "0123456789abcdef"[iobuf[k] & 15];
        }
        hex[2 * got] = 0;
        agent_kv(fields, sizeof(fields), "data", got ? hex : "-");
      }
      if (streq(op, "recvfrom")) {
        agent_kv_ip(fields, sizeof(fields), "from", from.sin_addr.s_addr);
        agent_kv_int(fields, sizeof(fields), "fromport", efisock_ntohs(from.sin_port));
      }
    }
  } else if (streq(op, "bulkrecv") && agent_arg(args, "fds", fdsarg, sizeof(fdsarg))) {
    /* several connections at once: select() over fds=, each read until
     * bytes= or EOF; ret is the total over all of them */
    struct bulk_many m = {agent_arg_int(args, "bytes", 0), 0, {0}};
    efisock_fd_set live;
    int maxfd = parse_fdlist(args, "fds", &live);
    int failed = select_each(o, n, live, maxfd, false, recv_step, &m);
    ret = failed && m.total == 0 ? -1 : m.total;
  } else if (streq(op, "bulkrecv")) {
    /* receive up to bytes= or EOF; report total, CRC, elapsed */
    long long want = agent_arg_int(args, "bytes", 0), total = 0;
    uint32_t crc = 0;
    intptr_t r = 1;
    bool use_select = agent_arg_int(args, "select", 0) != 0; /* a select()-driven loop */
    while (total < want && r > 0) {
      size_t chunk = (size_t)(want - total < (long long)MAXBUF ? want - total : (long long)MAXBUF);
      if (use_select) {
        efisock_fd_set rs, ws, es;
        EFISOCK_FD_ZERO(&rs);
        EFISOCK_FD_ZERO(&ws);
        EFISOCK_FD_ZERO(&es);
        EFISOCK_FD_SET(fd, &rs);
        if (o->select(n, fd + 1, &rs, &ws, &es, 10000) <= 0) {
          r = -1;
          break;
        }
      }
      r = o->recvfrom(n, fd, iobuf, chunk, 0, NULL);
      if (r > 0) {
        crc = fwb_crc32(crc, iobuf, (size_t)r);
        total += r;
      }
    }
    ret = r < 0 && total == 0 ? -1 : total;
    agent_kv_hex32(fields, sizeof(fields), "crc", crc);
  } else if (streq(op, "bulksend") && agent_arg(args, "fds", fdsarg, sizeof(fdsarg))) {
    /* a select()-driven send over fds=, bytes= of the pattern to each;
     * drain=1 as below; ret is the total over all of them */
    struct bulk_many m = {agent_arg_int(args, "bytes", 0), 0, {0}};
    efisock_fd_set live;
    int maxfd = parse_fdlist(args, "fds", &live);
    int failed = select_each(o, n, live, maxfd, true, send_step, &m);
    if (agent_arg_int(args, "drain", 0) && !failed) {
      struct efinet_stats st;
      for (int f = 0; f <= maxfd; f++)
        while (EFISOCK_FD_ISSET(f, &live) && o->stats(n, f, &st) == 0 && st.tx_completed < st.tx_posted)
          o->sleep_ms(n, 0);
    }
    ret = failed && m.total == 0 ? -1 : m.total;
  } else if (streq(op, "bulksend")) {
    long long want = agent_arg_int(args, "bytes", 0), total = 0;
    uint32_t crc = 0;
    intptr_t r = 1;
    /* crc=0: the benchmarks' sends skip the digest of the agent's own
     * pattern (work the raw driver does not do, ~6% of a send under TCG) */
    bool digest = agent_arg_int(args, "crc", 1) != 0;
    while (total < want && r > 0) {
      size_t chunk = (size_t)(want - total < 65536 ? want - total : 65536);
      fill(iobuf, chunk, "seq", (size_t)total);
      r = o->sendto(n, fd, iobuf, chunk, 0, NULL);
      if (r > 0) {
        if (digest) crc = fwb_crc32(crc, iobuf, (size_t)r);
        total += r;
      }
    }
    /* drain=1: end when the firmware has completed every Transmit (the
     * data is acknowledged), the criterion the raw driver uses. */
    if (agent_arg_int(args, "drain", 0)) {
      struct efinet_stats st;
      for (;;) {
        if (o->stats(n, fd, &st) != 0 || st.tx_completed >= st.tx_posted) break;
        o->sleep_ms(n, 0);
      }
    }
    ret = r < 0 && total == 0 ? -1 : total;
    if (digest) agent_kv_hex32(fields, sizeof(fields), "crc", crc);
  } else if (streq(op, "bulkecho")) {
    /* send bytes= of the pattern and read the echo back at the same time
     * (poll-driven, so neither direction's window can deadlock the other) */
    long long want = agent_arg_int(args, "bytes", 0), sent = 0, got = 0;
    uint32_t crc = 0;
    int rc = 0;
    static uint8_t rxbuf[65536];
    while (got < want && rc >= 0) {
      struct efisock_pollfd p = {fd, (short)(EFISOCK_POLLIN | (sent < want ? EFISOCK_POLLOUT : 0)), 0};
      rc = o->poll(n, &p, 1, 10000);
      if (rc <= 0) {
        rc = -1;
        break;
      }
      if ((p.revents & EFISOCK_POLLOUT) && sent < want) {
        size_t chunk = (size_t)(want - sent < 16384 ? want - sent : 16384);
        fill(iobuf, chunk, "seq", (size_t)sent);
        intptr_t r = o->sendto(n, fd, iobuf, chunk, EFISOCK_MSG_DONTWAIT, NULL);
        if (r > 0) sent += r;
        else if (r < 0 && o->last_errno(n) != EFISOCK_EAGAIN) rc = -1;
      }
      if (p.revents & (EFISOCK_POLLIN | EFISOCK_POLLHUP | EFISOCK_POLLERR)) {
        intptr_t r = o->recvfrom(n, fd, rxbuf, sizeof(rxbuf), EFISOCK_MSG_DONTWAIT, NULL);
        if (r > 0) {
          crc = fwb_crc32(crc, rxbuf, (size_t)r);
          got += r;
        } else if (r == 0 || o->last_errno(n) != EFISOCK_EAGAIN) {
          rc = -1;
        }
      }
    }
    ret = rc < 0 && got == 0 ? -1 : got;
    agent_kv_hex32(fields, sizeof(fields), "crc", crc);
  } else if (streq(op, "rr")) {
    /* request/response: count= round trips of size= bytes to an echo peer */
    long count = agent_arg_int(args, "count", 100), size = agent_arg_int(args, "size", 64), k = 0;
    if (size < 1 || size > 65536) size = 64;
    fill(iobuf, (size_t)size, "seq", 0);
    static uint8_t back[65536];
    for (; k < count; k++) {
      if (o->sendto(n, fd, iobuf, (size_t)size, 0, NULL) != size) break;
      if (o->recvfrom(n, fd, back, (size_t)size, EFISOCK_MSG_WAITALL, NULL) != size) break;
    }
    ret = k == count ? k : -1;
  } else if (streq(op, "fill")) {
    /* non-blocking sends until the stack refuses: the send buffer's size */
    long long total = 0;
    intptr_t r;
    fill(iobuf, 65536, "seq", 0);
    do {
      r = o->sendto(n, fd, iobuf, 65536, EFISOCK_MSG_DONTWAIT, NULL);
      if (r > 0) total += r;
    } while (r > 0 && total < (1ll << 30));
    ret = r < 0 ? -1 : total;
    agent_kv_int(fields, sizeof(fields), "bytes", total);
  } else if (streq(op, "shutdown")) {
    char h[8] = "wr";
    agent_arg(args, "how", h, sizeof(h));
    ret = o->shutdown(n, fd, streq(h, "rd") ? EFISOCK_SHUT_RD : streq(h, "rdwr") ? EFISOCK_SHUT_RDWR : EFISOCK_SHUT_WR);
  } else if (streq(op, "close")) {
    ret = o->close(n, fd);
  } else if (streq(op, "sockname") || streq(op, "peername")) {
    struct efisock_sockaddr_in a;
    memset(&a, 0, sizeof(a));
    ret = streq(op, "sockname") ? o->sockname(n, fd, &a) : o->peername(n, fd, &a);
    if (ret == 0) {
      agent_kv_ip(fields, sizeof(fields), "addr", a.sin_addr.s_addr);
      agent_kv_int(fields, sizeof(fields), "port", efisock_ntohs(a.sin_port));
    }
  } else if (streq(op, "setsockopt") || streq(op, "getsockopt")) {
    char name[16] = "";
    agent_arg(args, "opt", name, sizeof(name));
    unsigned k = 0;
    while (k < sizeof(sockopts) / sizeof(sockopts[0]) && !streq(sockopts[k].name, name)) k++;
    if (k == sizeof(sockopts) / sizeof(sockopts[0])) {
      ret = -1, err = EFISOCK_ENOPROTOOPT;
    } else if (streq(op, "setsockopt")) {
      long v = agent_arg_int(args, "val", 0);
      if (sockopts[k].kind == 1) {
        struct efisock_timeval tv = {v / 1000, (v % 1000) * 1000};
        ret = o->setsockopt(n, fd, sockopts[k].level, sockopts[k].opt, &tv, sizeof(tv));
      } else {
        int iv = (int)v;
        ret = o->setsockopt(n, fd, sockopts[k].level, sockopts[k].opt, &iv, sizeof(iv));
      }
    } else {
      if (sockopts[k].kind == 1) {
        struct efisock_timeval tv = {0, 0};
        unsigned l = sizeof(tv);
        ret = o->getsockopt(n, fd, sockopts[k].level, sockopts[k].opt, &tv, &l);
        if (ret == 0) agent_kv_int(fields, sizeof(fields), "val", tv.tv_sec * 1000 + tv.tv_usec / 1000);
      } else {
        int iv = 0;
        unsigned l = sizeof(iv);
        ret = o->getsockopt(n, fd, sockopts[k].level, sockopts[k].opt, &iv, &l);
        if (ret == 0) {
          if (streq(name, "error")) agent_kv(fields, sizeof(fields), "val", efisock_errname(iv));
          else agent_kv_int(fields, sizeof(fields), "val", iv);
        }
      }
    }
  } else if (streq(op, "nonblock")) {
    ret = o->set_nonblock(n, fd, (int)agent_arg_int(args, "on", 1));
  } else if (streq(op, "select")) {
    efisock_fd_set r, w, e;
    int m = parse_fdlist(args, "r", &r), mw = parse_fdlist(args, "w", &w), me = parse_fdlist(args, "e", &e);
    if (mw > m) m = mw;
    if (me > m) m = me;
    ret = o->select(n, m + 1, &r, &w, &e, (int)agent_arg_int(args, "timeout_ms", -1));
    if (ret >= 0) {
      fdlist(fields, sizeof(fields), "r", &r, m + 1);
      fdlist(fields, sizeof(fields), "w", &w, m + 1);
    }
  } else if (streq(op, "poll")) {
    /* fds=3:in+out,4:in */
    char v[256];
    struct efisock_pollfd p[16];
    unsigned np = 0;
    if (agent_arg(args, "fds", v, sizeof(v))) {
      const char *q = v;
      while (*q && np < 16) {
        int f = 0;
        while (*q >= '0' && *q <= '9') f = f * 10 + (*q++ - '0');
        short ev = 0;
        if (*q == ':') {
          q++;
          while (*q && *q != ',') {
            char w[8];
            unsigned l = 0;
            while (*q && *q != '+' && *q != ',' && l < 7) w[l++] = *q++;
            w[l] = 0;
            for (unsigned b = 0; b < sizeof(pollbits) / sizeof(pollbits[0]); b++)
              if (streq(w, pollbits[b].name)) ev |= pollbits[b].bit;
            if (*q == '+') q++;
          }
        }
        p[np].fd = f;
        p[np].events = ev;
        p[np++].revents = 0;
        if (*q == ',') q++;
      }
    }
    ret = o->poll(n, p, np, (int)agent_arg_int(args, "timeout_ms", -1));
    if (ret >= 0) {
      char b[512] = "";
      for (unsigned k = 0; k < np; k++) {
        char num[8];
        fmt_int(num, p[k].fd);
        if (b[0]) append(b, sizeof(b), ",");
        append(b, sizeof(b), num);
        append(b, sizeof(b), ":");
        bool any = false;
        for (unsigned bit = 0; bit < sizeof(pollbits) / sizeof(pollbits[0]); bit++) {
          if (!(p[k].revents & pollbits[bit].bit)) continue;
          if (any) append(b, sizeof(b), "+");
          append(b, sizeof(b), pollbits[bit].name);
          any = true;
        }
        if (!any) append(b, sizeof(b), "-");
      }
      agent_kv(fields, sizeof(fields), "revents", b);
    }
  } else if (streq(op, "resolve")) {
    char name[256];
    uint32_t addrs[8];
    unsigned cnt = 0;
    if (!agent_arg(args, "name", name, sizeof(name))) name[0] = 0;
    int g = o->resolve(n, name, addrs, 8, &cnt);
    ret = g;
    if (g == 0) {
      char b[160] = "";
      for (unsigned k = 0; k < cnt; k++) {
        char ip[16];
        fmt_ip(ip, addrs[k]);
        if (b[0]) append(b, sizeof(b), ",");
        append(b, sizeof(b), ip);
      }
      agent_kv(fields, sizeof(fields), "addrs", b);
    } else {
      agent_kv(fields, sizeof(fields), "gai", efisock_gai_strerror(g));
    }
  } else if (streq(op, "sleep")) {
    o->sleep_ms(n, (unsigned)agent_arg_int(args, "ms", 0));
  } else if (streq(op, "stats")) {
    struct efinet_stats s;
    ret = o->stats(n, fd, &s);
    if (ret == 0) {
      agent_kv_int(fields, sizeof(fields), "polls", (long long)s.polls);
      agent_kv_int(fields, sizeof(fields), "polls_productive", (long long)s.polls_productive);
      agent_kv_int(fields, sizeof(fields), "waits", (long long)s.waits);
      agent_kv_int(fields, sizeof(fields), "completions", (long long)s.completions);
      agent_kv_int(fields, sizeof(fields), "rx_completed", (long long)s.rx_completed);
      agent_kv_int(fields, sizeof(fields), "rx_bytes", (long long)s.rx_bytes);
      agent_kv_int(fields, sizeof(fields), "rx_early", (long long)s.rx_early);
      agent_kv_int(fields, sizeof(fields), "tx_completed", (long long)s.tx_completed);
      agent_kv_int(fields, sizeof(fields), "tx_bytes", (long long)s.tx_bytes);
      agent_kv_int(fields, sizeof(fields), "ticks", (long long)s.ticks);
      agent_kv_int(fields, sizeof(fields), "poll_us", (long long)(s.poll_ns / 1000));
      agent_kv_int(fields, sizeof(fields), "call_us", (long long)(s.call_ns / 1000));
      agent_kv_int(fields, sizeof(fields), "wait_us", (long long)(s.wait_ns / 1000));
    }
  } else if (streq(op, "quit")) {
    quit = true;
  } else {
    known = false;
  }

  if (!known) {
    char extra[LINE] = "";
    if (!env->extra || env->extra(env, op, args, extra, sizeof(extra)) != 0) {
      append(out, sizeof(out), "err op=");
      append(out, sizeof(out), op);
      append(out, sizeof(out), " ret=-1 errno=ENOSYS msg=unknown-command");
      env->write_line(env, out);
      return 0;
    }
    char rv[8] = "0";
    agent_arg(extra, "ret", rv, sizeof(rv));
    append(out, sizeof(out), rv[0] == '-' ? "err op=" : "ok op=");
    append(out, sizeof(out), op);
    if (extra[0]) {
      append(out, sizeof(out), " ");
      append(out, sizeof(out), extra);
    }
    env->write_line(env, out);
    return 0;
  }
  if (ret < 0 && !err && !streq(op, "resolve")) err = o->last_errno(n);
  uint64_t us = (o->now_ns(n) - t0) / 1000;
  append(out, sizeof(out), ret < 0 && !streq(op, "resolve") ? "err" : "ok");
  append(out, sizeof(out), " op=");
  append(out, sizeof(out), op);
  char tmp[LINE] = "";
  agent_kv_int(tmp, sizeof(tmp), "ret", ret);
  agent_kv(tmp, sizeof(tmp), "errno", ret < 0 && !streq(op, "resolve") ? efisock_errname(err) : "0");
  agent_kv_int(tmp, sizeof(tmp), "us", (long long)us);
  append(out, sizeof(out), " ");
  append(out, sizeof(out), tmp);
  if (fields[0]) {
    append(out, sizeof(out), " ");
    append(out, sizeof(out), fields);
  }
  env->write_line(env, out);
  return quit ? 1 : 0;
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

