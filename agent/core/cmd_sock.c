/* The socket commands (PROTOCOL.md "Commands"): one call on the backend's
 * agent_netops each, its results as reply fields. Freestanding. */
#include "core.h"

#include "fwbase/pattern.h"
#include "fwbase/rt.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
  const char *name;
  short bit;
} pollbits[] = {
    {.name = "in", .bit = EFISOCK_POLLIN},   {.name = "pri", .bit = EFISOCK_POLLPRI},
    {.name = "out", .bit = EFISOCK_POLLOUT}, {.name = "err", .bit = EFISOCK_POLLERR},
    {.name = "hup", .bit = EFISOCK_POLLHUP}, {.name = "nval", .bit = EFISOCK_POLLNVAL},
};

/* OPT_MREQ: val= an IPv4 group, set only (struct efisock_ip_mreq, interface INADDR_ANY) */
enum { OPT_INT, OPT_TIMEVAL_MS, OPT_MREQ };

static const struct {
  const char *name;
  int level, opt, kind;
} sockopts[] = {
    {.name = "reuseaddr", .level = EFISOCK_SOL_SOCKET, .opt = EFISOCK_SO_REUSEADDR, .kind = OPT_INT},
    {.name = "error", .level = EFISOCK_SOL_SOCKET, .opt = EFISOCK_SO_ERROR, .kind = OPT_INT},
    {.name = "type", .level = EFISOCK_SOL_SOCKET, .opt = EFISOCK_SO_TYPE, .kind = OPT_INT},
    {.name = "rcvbuf", .level = EFISOCK_SOL_SOCKET, .opt = EFISOCK_SO_RCVBUF, .kind = OPT_INT},
    {.name = "sndbuf", .level = EFISOCK_SOL_SOCKET, .opt = EFISOCK_SO_SNDBUF, .kind = OPT_INT},
    {.name = "keepalive", .level = EFISOCK_SOL_SOCKET, .opt = EFISOCK_SO_KEEPALIVE, .kind = OPT_INT},
    {.name = "acceptconn", .level = EFISOCK_SOL_SOCKET, .opt = EFISOCK_SO_ACCEPTCONN, .kind = OPT_INT},
    {.name = "broadcast", .level = EFISOCK_SOL_SOCKET, .opt = EFISOCK_SO_BROADCAST, .kind = OPT_INT},
    {.name = "rcvtimeo", .level = EFISOCK_SOL_SOCKET, .opt = EFISOCK_SO_RCVTIMEO, .kind = OPT_TIMEVAL_MS},
    {.name = "sndtimeo", .level = EFISOCK_SOL_SOCKET, .opt = EFISOCK_SO_SNDTIMEO, .kind = OPT_TIMEVAL_MS},
    {.name = "nodelay", .level = EFISOCK_IPPROTO_TCP, .opt = EFISOCK_TCP_NODELAY, .kind = OPT_INT},
    {.name = "add_membership", .level = EFISOCK_IPPROTO_IP, .opt = EFISOCK_IP_ADD_MEMBERSHIP, .kind = OPT_MREQ},
    {.name = "drop_membership", .level = EFISOCK_IPPROTO_IP, .opt = EFISOCK_IP_DROP_MEMBERSHIP, .kind = OPT_MREQ},
};

static void cmd_socket(struct agent_call *c) {
  char t[16] = "stream";
  agent_arg(c->args, "type", t, sizeof(t));
  c->ret = c->o->socket(c->n, !strcmp(t, "dgram") ? EFISOCK_SOCK_DGRAM : EFISOCK_SOCK_STREAM,
                        (int)agent_arg_int(c->args, "nonblock", 0));
}

/* addr= port= [family=unspec] for bind and connect */
static int call_addr(struct agent_call *c, struct efisock_sockaddr_in *a) {
  char fam[16];
  if (agent_arg_sin(c->args, a)) {
    c->ret = -1, c->err = EFISOCK_EINVAL;
    return -1;
  }
  if (agent_arg(c->args, "family", fam, sizeof(fam)) && !strcmp(fam, "unspec")) a->sin_family = 0;
  return 0;
}

static void cmd_bind(struct agent_call *c) {
  struct efisock_sockaddr_in a;
  if (!call_addr(c, &a)) c->ret = c->o->bind(c->n, c->fd, &a);
}

static void cmd_connect(struct agent_call *c) {
  struct efisock_sockaddr_in a;
  if (!call_addr(c, &a)) c->ret = c->o->connect(c->n, c->fd, &a);
}

static void cmd_listen(struct agent_call *c) {
  c->ret = c->o->listen(c->n, c->fd, (int)agent_arg_int(c->args, "backlog", 5));
}

static void cmd_accept(struct agent_call *c) {
  struct efisock_sockaddr_in p;
  memset(&p, 0, sizeof(p));
  c->ret = c->o->accept(c->n, c->fd, &p);
  if (c->ret >= 0) agent_kv_ip(c->fields, sizeof(c->fields), "peer", p.sin_addr.s_addr);
}

static void do_send(struct agent_call *c, bool has_to) {
  uint8_t *b = c->buf->io;
  size_t len = (size_t)agent_arg_int(c->args, "len", 0);
  char pat[16] = "seq";
  agent_arg(c->args, "pattern", pat, sizeof(pat));
  if (len > AGENT_MAXBUF) len = AGENT_MAXBUF;
  agent_fill(b, len, pat, (size_t)agent_arg_int(c->args, "off", 0));
  if (agent_arg(c->args, "text", c->buf->text, sizeof(c->buf->text))) len = agent_unescape(c->buf->text, b);
  struct efisock_sockaddr_in to;
  if (has_to) agent_arg_sin(c->args, &to);
  c->ret = c->o->sendto(c->n, c->fd, b, len, agent_parse_flags(c->args), has_to ? &to : NULL);
  if (c->ret > 0) agent_kv_hex32(c->fields, sizeof(c->fields), "crc", fwb_crc32(0, b, (size_t)c->ret));
}

static void cmd_send(struct agent_call *c) { do_send(c, false); }
static void cmd_sendto(struct agent_call *c) { do_send(c, true); }

static void do_recv(struct agent_call *c, bool has_from) {
  uint8_t *b = c->buf->io;
  size_t len = (size_t)agent_arg_int(c->args, "len", 1024);
  if (len > AGENT_MAXBUF) len = AGENT_MAXBUF;
  struct efisock_sockaddr_in from;
  memset(&from, 0, sizeof(from));
  int flags = agent_parse_flags(c->args);
  c->ret = c->o->recvfrom(c->n, c->fd, b, len, flags, &from);
  if (c->ret < 0) return;
  size_t got = (size_t)c->ret < len ? (size_t)c->ret : len; /* flags=trunc: ret is the datagram's size */
  agent_kv_hex32(c->fields, sizeof(c->fields), "crc", fwb_crc32(0, b, got));
  if (got <= 32) {
    char hex[65];
    for (size_t k = 0; k < got; k++) {
      hex[2 * k] = "0123456789abcdef"[b[k] >> 4];
      hex[2 * k + 1] = "0123456789abcdef"[b[k] & 15];
    }
    hex[2 * got] = 0;
    agent_kv(c->fields, sizeof(c->fields), "data", got ? hex : "-");
  }
  if (has_from) {
    agent_kv_ip(c->fields, sizeof(c->fields), "from", from.sin_addr.s_addr);
    agent_kv_int(c->fields, sizeof(c->fields), "fromport", efisock_ntohs(from.sin_port));
  }
}

static void cmd_recv(struct agent_call *c) { do_recv(c, false); }
static void cmd_recvfrom(struct agent_call *c) { do_recv(c, true); }

static void cmd_shutdown(struct agent_call *c) {
  char h[8] = "wr";
  agent_arg(c->args, "how", h, sizeof(h));
  c->ret = c->o->shutdown(c->n, c->fd, !strcmp(h, "rd")     ? EFISOCK_SHUT_RD
                                       : !strcmp(h, "rdwr") ? EFISOCK_SHUT_RDWR
                                                            : EFISOCK_SHUT_WR);
}

static void cmd_close(struct agent_call *c) { c->ret = c->o->close(c->n, c->fd); }

static void reply_addr(struct agent_call *c, const struct efisock_sockaddr_in *a) {
  if (c->ret != 0) return;
  agent_kv_ip(c->fields, sizeof(c->fields), "addr", a->sin_addr.s_addr);
  agent_kv_int(c->fields, sizeof(c->fields), "port", efisock_ntohs(a->sin_port));
}

static void cmd_sockname(struct agent_call *c) {
  struct efisock_sockaddr_in a;
  memset(&a, 0, sizeof(a));
  c->ret = c->o->sockname(c->n, c->fd, &a);
  reply_addr(c, &a);
}

static void cmd_peername(struct agent_call *c) {
  struct efisock_sockaddr_in a;
  memset(&a, 0, sizeof(a));
  c->ret = c->o->peername(c->n, c->fd, &a);
  reply_addr(c, &a);
}

/* opt= as an index into sockopts[]; -1 (ENOPROTOOPT) when unknown */
static int find_opt(struct agent_call *c, char *name, size_t cap) {
  name[0] = 0;
  agent_arg(c->args, "opt", name, cap);
  for (unsigned k = 0; k < COUNT(sockopts); k++)
    if (!strcmp(sockopts[k].name, name)) return (int)k;
  c->ret = -1, c->err = EFISOCK_ENOPROTOOPT;
  return -1;
}

static void cmd_setsockopt(struct agent_call *c) {
  char name[16];
  int k = find_opt(c, name, sizeof(name));
  if (k < 0) return;
  if (sockopts[k].kind == OPT_MREQ) {
    char g[32] = "";
    struct efisock_ip_mreq m;
    memset(&m, 0, sizeof(m));
    m.imr_interface.s_addr = EFISOCK_INADDR_ANY;
    if (!agent_arg(c->args, "val", g, sizeof(g)) || agent_parse_ip(g, &m.imr_multiaddr.s_addr)) {
      c->ret = -1, c->err = EFISOCK_EINVAL;
      return;
    }
    c->ret = c->o->setsockopt(c->n, c->fd, sockopts[k].level, sockopts[k].opt, &m, sizeof(m));
    return;
  }
  long v = agent_arg_int(c->args, "val", 0);
  if (sockopts[k].kind == OPT_TIMEVAL_MS) {
    struct efisock_timeval tv = {v / 1000, (v % 1000) * 1000};
    c->ret = c->o->setsockopt(c->n, c->fd, sockopts[k].level, sockopts[k].opt, &tv, sizeof(tv));
  } else {
    int iv = (int)v;
    c->ret = c->o->setsockopt(c->n, c->fd, sockopts[k].level, sockopts[k].opt, &iv, sizeof(iv));
  }
}

static void cmd_getsockopt(struct agent_call *c) {
  char name[16];
  int k = find_opt(c, name, sizeof(name));
  if (k < 0) return;
  if (sockopts[k].kind == OPT_MREQ) { /* set-only, as on Linux */
    c->ret = -1, c->err = EFISOCK_ENOPROTOOPT;
    return;
  }
  if (sockopts[k].kind == OPT_TIMEVAL_MS) {
    struct efisock_timeval tv = {0, 0};
    unsigned l = sizeof(tv);
    c->ret = c->o->getsockopt(c->n, c->fd, sockopts[k].level, sockopts[k].opt, &tv, &l);
    if (c->ret == 0) agent_kv_int(c->fields, sizeof(c->fields), "val", tv.tv_sec * 1000 + tv.tv_usec / 1000);
  } else {
    int iv = 0;
    unsigned l = sizeof(iv);
    c->ret = c->o->getsockopt(c->n, c->fd, sockopts[k].level, sockopts[k].opt, &iv, &l);
    if (c->ret != 0) return;
    if (!strcmp(name, "error")) agent_kv(c->fields, sizeof(c->fields), "val", efisock_errname(iv));
    else agent_kv_int(c->fields, sizeof(c->fields), "val", iv);
  }
}

static void cmd_nonblock(struct agent_call *c) {
  c->ret = c->o->set_nonblock(c->n, c->fd, (int)agent_arg_int(c->args, "on", 1));
}

static void cmd_select(struct agent_call *c) {
  efisock_fd_set r, w, e;
  int m = agent_parse_fdlist(c->args, "r", &r), mw = agent_parse_fdlist(c->args, "w", &w),
      me = agent_parse_fdlist(c->args, "e", &e);
  if (mw > m) m = mw;
  if (me > m) m = me;
  c->ret = c->o->select(c->n, m + 1, &r, &w, &e, (int)agent_arg_int(c->args, "timeout_ms", -1));
  if (c->ret >= 0) {
    agent_kv_fdlist(c->fields, sizeof(c->fields), "r", &r, m + 1);
    agent_kv_fdlist(c->fields, sizeof(c->fields), "w", &w, m + 1);
  }
}

/* fds=3:in+out,4:in into p[]; returns the count (at most max) */
static unsigned parse_pollfds(const char *args, struct efisock_pollfd *p, unsigned max) {
  char v[256];
  unsigned np = 0;
  if (!agent_arg(args, "fds", v, sizeof(v))) return 0;
  const char *q = v;
  while (*q && np < max) {
    int f = 0;
    while (*q >= '0' && *q <= '9') /* no descriptor is this big: stops growing (fuzz/: overflow) */
      f = f < 100000000 ? f * 10 + (*q++ - '0') : (q++, f);
    short ev = 0;
    if (*q == ':') {
      q++;
      while (*q && *q != ',') {
        char w[8];
        unsigned l = 0;
        while (*q && *q != '+' && *q != ',' && l < 7) w[l++] = *q++;
        w[l] = 0;
        for (unsigned b = 0; b < COUNT(pollbits); b++)
          if (!strcmp(w, pollbits[b].name)) ev |= pollbits[b].bit;
        if (*q == '+') q++;
      }
    }
    p[np].fd = f;
    p[np].events = ev;
    p[np++].revents = 0;
    if (*q == ',') q++;
  }
  return np;
}

static void cmd_poll(struct agent_call *c) {
  struct efisock_pollfd p[16];
  unsigned np = parse_pollfds(c->args, p, COUNT(p));
  c->ret = c->o->poll(c->n, p, np, (int)agent_arg_int(c->args, "timeout_ms", -1));
  if (c->ret < 0) return;
  char b[512] = "";
  for (unsigned k = 0; k < np; k++) {
    char num[24]; /* any int: fds=12345678 overran num[8] (found with fuzz/'s overflow) */
    agent_fmt_int(num, p[k].fd);
    if (b[0]) agent_append(b, sizeof(b), ",");
    agent_append(b, sizeof(b), num);
    agent_append(b, sizeof(b), ":");
    bool any = false;
    for (unsigned bit = 0; bit < COUNT(pollbits); bit++) {
      if (!(p[k].revents & pollbits[bit].bit)) continue;
      if (any) agent_append(b, sizeof(b), "+");
      agent_append(b, sizeof(b), pollbits[bit].name);
      any = true;
    }
    if (!any) agent_append(b, sizeof(b), "-");
  }
  agent_kv(c->fields, sizeof(c->fields), "revents", b);
}

static void cmd_resolve(struct agent_call *c) {
  char name[256];
  uint32_t addrs[8];
  unsigned cnt = 0;
  if (!agent_arg(c->args, "name", name, sizeof(name))) name[0] = 0;
  int g = c->o->resolve(c->n, name, addrs, 8, &cnt);
  c->ret = g;
  if (g != 0) {
    agent_kv(c->fields, sizeof(c->fields), "gai", efisock_gai_strerror(g));
    return;
  }
  char b[160] = "";
  for (unsigned k = 0; k < cnt; k++) {
    char ip[16];
    agent_fmt_ip(ip, addrs[k]);
    if (b[0]) agent_append(b, sizeof(b), ",");
    agent_append(b, sizeof(b), ip);
  }
  agent_kv(c->fields, sizeof(c->fields), "addrs", b);
}

static void cmd_sleep(struct agent_call *c) { c->o->sleep_ms(c->n, (unsigned)agent_arg_int(c->args, "ms", 0)); }

static void cmd_stats(struct agent_call *c) {
  struct efinet_stats s;
  c->ret = c->o->stats(c->n, c->fd, &s);
  if (c->ret != 0) return;
  char *f = c->fields;
  size_t cap = sizeof(c->fields);
  agent_kv_int(f, cap, "polls", (long long)s.polls);
  agent_kv_int(f, cap, "polls_productive", (long long)s.polls_productive);
  agent_kv_int(f, cap, "waits", (long long)s.waits);
  agent_kv_int(f, cap, "completions", (long long)s.completions);
  agent_kv_int(f, cap, "rx_completed", (long long)s.rx_completed);
  agent_kv_int(f, cap, "rx_bytes", (long long)s.rx_bytes);
  agent_kv_int(f, cap, "rx_early", (long long)s.rx_early);
  agent_kv_int(f, cap, "tx_completed", (long long)s.tx_completed);
  agent_kv_int(f, cap, "tx_bytes", (long long)s.tx_bytes);
  agent_kv_int(f, cap, "ticks", (long long)s.ticks);
  agent_kv_int(f, cap, "poll_us", (long long)(s.poll_ns / 1000));
  agent_kv_int(f, cap, "call_us", (long long)(s.call_ns / 1000));
  agent_kv_int(f, cap, "wait_us", (long long)(s.wait_ns / 1000));
  agent_kv_int(f, cap, "tx_at_poll", (long long)s.tx_at_poll);
}

static void cmd_quit(struct agent_call *c) { (void)c; }

const struct core_cmd agent_sock_cmds[] = {
    {.name = "socket", .run = cmd_socket, .help = "type=stream|dgram nonblock=0|1"},
    {.name = "bind", .run = cmd_bind, .help = "fd= addr= port= [family=unspec]"},
    {.name = "connect", .run = cmd_connect, .help = "fd= addr= port= [family=unspec]"},
    {.name = "listen", .run = cmd_listen, .help = "fd= backlog="},
    {.name = "accept", .run = cmd_accept, .help = "fd="},
    {.name = "send", .run = cmd_send, .help = "fd= len= pattern= off= text= flags="},
    {.name = "sendto", .run = cmd_sendto, .help = "fd= len= pattern= off= text= flags= addr= port="},
    {.name = "recv", .run = cmd_recv, .help = "fd= len= flags="},
    {.name = "recvfrom", .run = cmd_recvfrom, .help = "fd= len= flags="},
    {.name = "shutdown", .run = cmd_shutdown, .help = "fd= how=rd|wr|rdwr"},
    {.name = "close", .run = cmd_close, .help = "fd="},
    {.name = "sockname", .run = cmd_sockname, .help = "fd="},
    {.name = "peername", .run = cmd_peername, .help = "fd="},
    {.name = "setsockopt", .run = cmd_setsockopt, .help = "fd= opt= val="},
    {.name = "getsockopt", .run = cmd_getsockopt, .help = "fd= opt="},
    {.name = "nonblock", .run = cmd_nonblock, .help = "fd= on=0|1"},
    {.name = "select", .run = cmd_select, .help = "r= w= e= timeout_ms="},
    {.name = "poll", .run = cmd_poll, .help = "fds=3:in+out,4:in timeout_ms="},
    {.name = "resolve", .run = cmd_resolve, .flags = AGENT_CMD_STATUS, .help = "name="},
    {.name = "sleep", .run = cmd_sleep, .help = "ms="},
    {.name = "stats", .run = cmd_stats, .help = "[fd=]"},
    {.name = "quit", .run = cmd_quit, .flags = AGENT_CMD_QUIT, .help = ""},
    {.name = NULL},
};
