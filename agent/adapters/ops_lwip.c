/* The agent's socket operations over lwIP's BSD sockets, in the rump-hw
 * image. The agent speaks Linux's values (efisock's constants); lwIP's
 * differ for option names, flags, poll events, EAI codes and sockaddr's
 * layout (it has sin_len), so each call translates; errno values agree. */
#include "lwip/sockets.h"
#include "lwip/netdb.h"
#include "lwip/errno.h"
#include "agent/netops.h"
#include "agent/ops.h"

struct agent_net {
  int err;
  uint64_t (*clock)(void);
  void (*sleep)(unsigned ms);
};

static long rec(struct agent_net *n, long r) {
  if (r < 0) n->err = errno;
  return r < 0 ? -1 : r;
}
#define R(x) rec(n, (long)(x))

static void to_lwip(const struct efisock_sockaddr_in *a, struct sockaddr_in *l) {
  memset(l, 0, sizeof(*l));
  l->sin_len = sizeof(*l);
  l->sin_family = (sa_family_t)a->sin_family;
  l->sin_port = a->sin_port;
  l->sin_addr.s_addr = a->sin_addr.s_addr;
}

static void from_lwip(const struct sockaddr_in *l, struct efisock_sockaddr_in *a) {
  memset(a, 0, sizeof(*a));
  a->sin_family = l->sin_family;
  a->sin_port = l->sin_port;
  a->sin_addr.s_addr = l->sin_addr.s_addr;
}

static int flags_to_lwip(int f) {
  int o = 0;
  if (f & EFISOCK_MSG_PEEK) o |= MSG_PEEK;
  if (f & EFISOCK_MSG_DONTWAIT) o |= MSG_DONTWAIT;
  if (f & EFISOCK_MSG_WAITALL) o |= MSG_WAITALL;
  if (f & EFISOCK_MSG_NOSIGNAL) o |= MSG_NOSIGNAL;
  return o;
}

/* Option (level, name) in Linux numbering -> lwIP's; 0 when unknown. */
static int opt_to_lwip(int level, int name, int *lv, int *nm) {
  if (level == EFISOCK_SOL_SOCKET) {
    *lv = SOL_SOCKET;
    switch (name) {
    case EFISOCK_SO_REUSEADDR: *nm = SO_REUSEADDR; return 1;
    case EFISOCK_SO_TYPE: *nm = SO_TYPE; return 1;
    case EFISOCK_SO_ERROR: *nm = SO_ERROR; return 1;
    case EFISOCK_SO_SNDBUF: *nm = SO_SNDBUF; return 1;
    case EFISOCK_SO_RCVBUF: *nm = SO_RCVBUF; return 1;
    case EFISOCK_SO_KEEPALIVE: *nm = SO_KEEPALIVE; return 1;
    case EFISOCK_SO_RCVTIMEO: *nm = SO_RCVTIMEO; return 1;
    case EFISOCK_SO_SNDTIMEO: *nm = SO_SNDTIMEO; return 1;
    case EFISOCK_SO_ACCEPTCONN: *nm = SO_ACCEPTCONN; return 1;
    case EFISOCK_SO_BROADCAST: *nm = SO_BROADCAST; return 1;
    }
    return 0;
  }
#if LWIP_IGMP
  /* struct ip_mreq is two in_addr on both sides: passed as it is */
  if (level == EFISOCK_IPPROTO_IP) {
    *lv = IPPROTO_IP;
    switch (name) {
    case EFISOCK_IP_ADD_MEMBERSHIP: *nm = IP_ADD_MEMBERSHIP; return 1;
    case EFISOCK_IP_DROP_MEMBERSHIP: *nm = IP_DROP_MEMBERSHIP; return 1;
    }
    return 0;
  }
#endif /* else (rump-hw's lwipopts.h has no LWIP_IGMP): ENOPROTOOPT, no multicast */
  if (level == EFISOCK_IPPROTO_TCP && name == EFISOCK_TCP_NODELAY) {
    *lv = IPPROTO_TCP;
    *nm = TCP_NODELAY;
    return 1;
  }
  return 0;
}

static int l_socket(struct agent_net *n, int type, int nonblock) {
  int fd = lwip_socket(AF_INET, type == EFISOCK_SOCK_DGRAM ? SOCK_DGRAM : SOCK_STREAM, 0);
  if (fd >= 0 && nonblock) lwip_fcntl(fd, F_SETFL, O_NONBLOCK);
  return R(fd);
}
static int l_bind(struct agent_net *n, int fd, const struct efisock_sockaddr_in *a) {
  struct sockaddr_in l;
  to_lwip(a, &l);
  return R(lwip_bind(fd, (struct sockaddr *)&l, sizeof(l)));
}
static int l_listen(struct agent_net *n, int fd, int b) { return R(lwip_listen(fd, b)); }
static int l_accept(struct agent_net *n, int fd, struct efisock_sockaddr_in *p) {
  struct sockaddr_in l;
  socklen_t len = sizeof(l);
  int r = lwip_accept(fd, (struct sockaddr *)&l, &len);
  if (r >= 0 && p) from_lwip(&l, p);
  return R(r);
}
static int l_connect(struct agent_net *n, int fd, const struct efisock_sockaddr_in *a) {
  struct sockaddr_in l;
  to_lwip(a, &l);
  return R(lwip_connect(fd, (struct sockaddr *)&l, sizeof(l)));
}
static intptr_t l_sendto(struct agent_net *n, int fd, const void *b, size_t len, int flags,
                         const struct efisock_sockaddr_in *to) {
  struct sockaddr_in l;
  if (to) to_lwip(to, &l);
  return R(lwip_sendto(fd, b, len, flags_to_lwip(flags), to ? (struct sockaddr *)&l : NULL,
                       to ? sizeof(l) : 0));
}
/* lwIP 2.1.3 accepts MSG_WAITALL but does not implement it (sockets.h:
 * "Unimplemented"): for stream sockets the agent loops as Linux's kernel
 * does, until len bytes, end of stream or an error. */
static long recv_waitall(int fd, char *b, size_t len, int flags) {
  size_t got = 0;
  while (got < len) {
    long r = lwip_recv(fd, b + got, len - got, flags);
    if (r < 0) return got ? (long)got : r;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (long)got;
}

static intptr_t l_recvfrom(struct agent_net *n, int fd, void *b, size_t len, int flags,
                           struct efisock_sockaddr_in *from) {
  int type = 0;
  socklen_t tl = sizeof(type);
  if ((flags & EFISOCK_MSG_WAITALL) && !(flags & EFISOCK_MSG_PEEK) &&
      !lwip_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) && type == SOCK_STREAM) {
    if (from) memset(from, 0, sizeof(*from));
    return R(recv_waitall(fd, b, len, flags_to_lwip(flags & ~EFISOCK_MSG_WAITALL)));
  }
  struct sockaddr_in l;
  socklen_t sl = sizeof(l);
  memset(&l, 0, sizeof(l));
  long r = lwip_recvfrom(fd, b, len, flags_to_lwip(flags), from ? (struct sockaddr *)&l : NULL,
                         from ? &sl : NULL);
  if (r >= 0 && from) from_lwip(&l, from);
  return R(r);
}
static int l_shutdown(struct agent_net *n, int fd, int how) { return R(lwip_shutdown(fd, how)); }
static int l_close(struct agent_net *n, int fd) { return R(lwip_close(fd)); }
static int l_sockname(struct agent_net *n, int fd, struct efisock_sockaddr_in *a) {
  struct sockaddr_in l;
  socklen_t len = sizeof(l);
  int r = lwip_getsockname(fd, (struct sockaddr *)&l, &len);
  if (!r) from_lwip(&l, a);
  return R(r);
}
static int l_peername(struct agent_net *n, int fd, struct efisock_sockaddr_in *a) {
  struct sockaddr_in l;
  socklen_t len = sizeof(l);
  int r = lwip_getpeername(fd, (struct sockaddr *)&l, &len);
  if (!r) from_lwip(&l, a);
  return R(r);
}
static int l_setsockopt(struct agent_net *n, int fd, int lv, int nm, const void *v, unsigned len) {
  int l, m;
  if (!opt_to_lwip(lv, nm, &l, &m)) {
    n->err = ENOPROTOOPT;
    return -1;
  }
  return R(lwip_setsockopt(fd, l, m, v, len));
}
static int l_getsockopt(struct agent_net *n, int fd, int lv, int nm, void *v, unsigned *len) {
  int l, m;
  if (!opt_to_lwip(lv, nm, &l, &m)) {
    n->err = ENOPROTOOPT;
    return -1;
  }
  socklen_t sl = *len;
  int r = lwip_getsockopt(fd, l, m, v, &sl);
  *len = sl;
  if (!r && l == SOL_SOCKET && m == SO_TYPE && sl >= sizeof(int))
    *(int *)v = *(int *)v == SOCK_DGRAM ? EFISOCK_SOCK_DGRAM : EFISOCK_SOCK_STREAM;
  return R(r);
}
static int l_nonblock(struct agent_net *n, int fd, int on) {
  int fl = lwip_fcntl(fd, F_GETFL, 0);
  if (fl < 0) return R(-1);
  return R(lwip_fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK));
}
static int l_select(struct agent_net *n, int nfds, efisock_fd_set *r, efisock_fd_set *w,
                    efisock_fd_set *e, int ms) {
  fd_set lr, lw, le;
  FD_ZERO(&lr);
  FD_ZERO(&lw);
  FD_ZERO(&le);
  int max = nfds < LWIP_SOCKET_OFFSET + MEMP_NUM_NETCONN ? nfds : LWIP_SOCKET_OFFSET + MEMP_NUM_NETCONN;
  for (int fd = LWIP_SOCKET_OFFSET; fd < max; fd++) {
    if (r && EFISOCK_FD_ISSET(fd, r)) FD_SET(fd, &lr);
    if (w && EFISOCK_FD_ISSET(fd, w)) FD_SET(fd, &lw);
    if (e && EFISOCK_FD_ISSET(fd, e)) FD_SET(fd, &le);
  }
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  int rc = lwip_select(max, &lr, &lw, &le, ms < 0 ? NULL : &tv);
  if (rc < 0) return R(rc);
  if (r) EFISOCK_FD_ZERO(r);
  if (w) EFISOCK_FD_ZERO(w);
  if (e) EFISOCK_FD_ZERO(e);
  for (int fd = LWIP_SOCKET_OFFSET; fd < max; fd++) {
    if (r && FD_ISSET(fd, &lr)) EFISOCK_FD_SET(fd, r);
    if (w && FD_ISSET(fd, &lw)) EFISOCK_FD_SET(fd, w);
    if (e && FD_ISSET(fd, &le)) EFISOCK_FD_SET(fd, e);
  }
  return rc;
}

static const struct {
  short linux_ev, lwip_ev;
} pollmap[] = {
    {EFISOCK_POLLIN, POLLIN}, {EFISOCK_POLLOUT, POLLOUT}, {EFISOCK_POLLERR, POLLERR},
    {EFISOCK_POLLHUP, POLLHUP}, {EFISOCK_POLLNVAL, POLLNVAL}, {EFISOCK_POLLPRI, POLLPRI},
};

static short ev_map(short v, int to_lwip) {
  short o = 0;
  for (unsigned i = 0; i < sizeof(pollmap) / sizeof(pollmap[0]); i++)
    if (v & (to_lwip ? pollmap[i].linux_ev : pollmap[i].lwip_ev))
      o |= to_lwip ? pollmap[i].lwip_ev : pollmap[i].linux_ev;
  return o;
}

static int l_poll(struct agent_net *n, struct efisock_pollfd *p, unsigned np, int ms) {
  struct pollfd lp[64];
  if (np > 64) {
    n->err = EINVAL;
    return -1;
  }
  for (unsigned i = 0; i < np; i++) {
    lp[i].fd = p[i].fd;
    lp[i].events = ev_map(p[i].events, 1);
    lp[i].revents = 0;
  }
  int rc = lwip_poll(lp, np, ms);
  for (unsigned i = 0; i < np; i++) p[i].revents = rc >= 0 ? ev_map(lp[i].revents, 0) : 0;
  return R(rc);
}

static int l_resolve(struct agent_net *n, const char *name, uint32_t *addrs, unsigned max, unsigned *cnt) {
  (void)n;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  int rc = lwip_getaddrinfo(name, NULL, &hints, &res);
  *cnt = 0;
  switch (rc) {
  case 0: break;
  case EAI_NONAME: return EFISOCK_EAI_NONAME;
  case EAI_SERVICE: return EFISOCK_EAI_SERVICE;
  case EAI_MEMORY: return EFISOCK_EAI_MEMORY;
  case EAI_FAMILY: return EFISOCK_EAI_FAMILY;
  default: return EFISOCK_EAI_FAIL;
  }
  for (struct addrinfo *ai = res; ai && *cnt < max; ai = ai->ai_next)
    addrs[(*cnt)++] = ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr;
  lwip_freeaddrinfo(res);
  return 0;
}
static int l_errno(struct agent_net *n) { return n->err; }
static uint64_t l_now(struct agent_net *n) { return n->clock(); }
static void l_sleep(struct agent_net *n, unsigned ms) { n->sleep(ms); }
static int l_stats(struct agent_net *n, int fd, struct efinet_stats *s) {
  (void)fd, (void)s;
  n->err = ENOSYS;
  return -1;
}

static const struct agent_netops lwip_ops = {
    .backend = "rump",
    .socket = l_socket,
    .bind = l_bind,
    .listen = l_listen,
    .accept = l_accept,
    .connect = l_connect,
    .sendto = l_sendto,
    .recvfrom = l_recvfrom,
    .shutdown = l_shutdown,
    .close = l_close,
    .sockname = l_sockname,
    .peername = l_peername,
    .setsockopt = l_setsockopt,
    .getsockopt = l_getsockopt,
    .set_nonblock = l_nonblock,
    .select = l_select,
    .poll = l_poll,
    .resolve = l_resolve,
    .last_errno = l_errno,
    .now_ns = l_now,
    .sleep_ms = l_sleep,
    .stats = l_stats,
};

static struct agent_net lwip_net;

void agent_lwip_env(struct agent_env *env, uint64_t (*clock)(void), void (*sleep_ms)(unsigned)) {
  lwip_net.clock = clock;
  lwip_net.sleep = sleep_ms;
  env->ops = &lwip_ops;
  env->net = &lwip_net;
}
