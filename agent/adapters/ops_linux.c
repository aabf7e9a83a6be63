/* The reference backend: Linux BSD sockets. efi-net's constants and
 * structures are Linux's (values and x86_64 layouts), so most calls pass
 * straight through; fd_set is the exception (different size). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "agent/netops.h"
#include "agent/ops.h"

_Static_assert(sizeof(struct sockaddr_in) == sizeof(struct efisock_sockaddr_in), "sockaddr_in");
_Static_assert(sizeof(struct pollfd) == sizeof(struct efisock_pollfd), "pollfd");
_Static_assert(MSG_PEEK == EFISOCK_MSG_PEEK && MSG_WAITALL == EFISOCK_MSG_WAITALL, "flags");
_Static_assert(SO_RCVTIMEO == EFISOCK_SO_RCVTIMEO && TCP_NODELAY == EFISOCK_TCP_NODELAY, "opts");
_Static_assert(SO_BROADCAST == EFISOCK_SO_BROADCAST && IPPROTO_IP == EFISOCK_IPPROTO_IP, "opts");
_Static_assert(IP_ADD_MEMBERSHIP == EFISOCK_IP_ADD_MEMBERSHIP && IP_DROP_MEMBERSHIP == EFISOCK_IP_DROP_MEMBERSHIP,
               "membership");
_Static_assert(sizeof(struct ip_mreq) == sizeof(struct efisock_ip_mreq) &&
                   offsetof(struct ip_mreq, imr_interface) == offsetof(struct efisock_ip_mreq, imr_interface),
               "ip_mreq");
_Static_assert(ECONNREFUSED == EFISOCK_ECONNREFUSED && EINPROGRESS == EFISOCK_EINPROGRESS, "errno");
_Static_assert(EAI_AGAIN == EFISOCK_EAI_AGAIN && EAI_NONAME == EFISOCK_EAI_NONAME, "eai");

struct agent_net {
  int err;
};

/* Record errno for a failed call; evaluates the call once. */
static long rec(struct agent_net *n, long r) {
  if (r < 0) n->err = errno;
  return r < 0 ? -1 : r;
}
#define R(x) rec(n, (long)(x))

static int l_socket(struct agent_net *n, int type, int nonblock) {
  return R(socket(AF_INET, type | (nonblock ? SOCK_NONBLOCK : 0), 0));
}
static int l_bind(struct agent_net *n, int fd, const struct efisock_sockaddr_in *a) {
  return R(bind(fd, (const struct sockaddr *)a, sizeof(*a)));
}
static int l_listen(struct agent_net *n, int fd, int b) { return R(listen(fd, b)); }
static int l_accept(struct agent_net *n, int fd, struct efisock_sockaddr_in *p) {
  socklen_t l = sizeof(*p);
  return R(accept(fd, (struct sockaddr *)p, &l));
}
static int l_connect(struct agent_net *n, int fd, const struct efisock_sockaddr_in *a) {
  return R(connect(fd, (const struct sockaddr *)a, sizeof(*a)));
}
static intptr_t l_sendto(struct agent_net *n, int fd, const void *b, size_t len, int flags,
                         const struct efisock_sockaddr_in *to) {
  return R(sendto(fd, b, len, flags | MSG_NOSIGNAL, (const struct sockaddr *)to, to ? sizeof(*to) : 0));
}
static intptr_t l_recvfrom(struct agent_net *n, int fd, void *b, size_t len, int flags,
                           struct efisock_sockaddr_in *from) {
  socklen_t l = sizeof(*from);
  return R(recvfrom(fd, b, len, flags, (struct sockaddr *)from, from ? &l : NULL));
}
static int l_shutdown(struct agent_net *n, int fd, int how) { return R(shutdown(fd, how)); }
static int l_close(struct agent_net *n, int fd) { return R(close(fd)); }
static int l_sockname(struct agent_net *n, int fd, struct efisock_sockaddr_in *a) {
  socklen_t l = sizeof(*a);
  return R(getsockname(fd, (struct sockaddr *)a, &l));
}
static int l_peername(struct agent_net *n, int fd, struct efisock_sockaddr_in *a) {
  socklen_t l = sizeof(*a);
  return R(getpeername(fd, (struct sockaddr *)a, &l));
}
static int l_setsockopt(struct agent_net *n, int fd, int lv, int nm, const void *v, unsigned len) {
  return R(setsockopt(fd, lv, nm, v, len));
}
static int l_getsockopt(struct agent_net *n, int fd, int lv, int nm, void *v, unsigned *len) {
  socklen_t l = *len;
  int r = getsockopt(fd, lv, nm, v, &l);
  *len = l;
  return R(r);
}
static int l_nonblock(struct agent_net *n, int fd, int on) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return R(-1);
  return R(fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK));
}
static int l_select(struct agent_net *n, int nfds, efisock_fd_set *r, efisock_fd_set *w,
                    efisock_fd_set *e, int ms) {
  fd_set lr, lw, le;
  FD_ZERO(&lr);
  FD_ZERO(&lw);
  FD_ZERO(&le);
  for (int fd = 0; fd < nfds; fd++) {
    if (EFISOCK_FD_ISSET(fd, r)) FD_SET(fd, &lr);
    if (EFISOCK_FD_ISSET(fd, w)) FD_SET(fd, &lw);
    if (EFISOCK_FD_ISSET(fd, e)) FD_SET(fd, &le);
  }
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  int rc = select(nfds, &lr, &lw, &le, ms < 0 ? NULL : &tv);
  if (rc < 0) return R(rc);
  EFISOCK_FD_ZERO(r);
  EFISOCK_FD_ZERO(w);
  EFISOCK_FD_ZERO(e);
  for (int fd = 0; fd < nfds; fd++) {
    if (FD_ISSET(fd, &lr)) EFISOCK_FD_SET(fd, r);
    if (FD_ISSET(fd, &lw)) EFISOCK_FD_SET(fd, w);
    if (FD_ISSET(fd, &le)) EFISOCK_FD_SET(fd, e);
  }
  return rc;
}
static int l_poll(struct agent_net *n, struct efisock_pollfd *p, unsigned np, int ms) {
  return R(poll((struct pollfd *)p, np, ms));
}
static int l_resolve(struct agent_net *n, const char *name, uint32_t *addrs, unsigned max, unsigned *cnt) {
  (void)n;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(name, NULL, &hints, &res);
  *cnt = 0;
  if (rc) return rc;
  for (struct addrinfo *ai = res; ai && *cnt < max; ai = ai->ai_next)
    addrs[(*cnt)++] = ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr;
  freeaddrinfo(res);
  return 0;
}
static int l_errno(struct agent_net *n) { return n->err; }
static uint64_t l_now(struct agent_net *n) {
  (void)n;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static void l_sleep(struct agent_net *n, unsigned ms) {
  (void)n;
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}
static int l_stats(struct agent_net *n, int fd, struct efinet_stats *s) {
  (void)fd, (void)s;
  n->err = ENOSYS;
  return -1;
}

static const struct agent_netops linux_ops = {
    .backend = "linux",
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

static struct agent_net linux_net;

void agent_linux_env(struct agent_env *env) {
  env->ops = &linux_ops;
  env->net = &linux_net;
}
