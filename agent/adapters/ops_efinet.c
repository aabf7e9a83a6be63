/* The efi-net backend: the same agent over efi-net, on the host fakes or as
 * an EFI application. Freestanding. */
#include "agent/netops.h"
#include "agent/ops.h"

struct agent_net {
  efinet_t *net;
  uint64_t (*clock)(void *);
  void *clock_ctx;
};

static struct agent_net the_net;

static int e_socket(struct agent_net *n, int type, int nb) {
  return efisock_socket(n->net, EFISOCK_AF_INET, type | (nb ? EFISOCK_SOCK_NONBLOCK : 0), 0);
}
static int e_bind(struct agent_net *n, int fd, const struct efisock_sockaddr_in *a) {
  return efisock_bind(n->net, fd, (const struct efisock_sockaddr *)a, sizeof(*a));
}
static int e_listen(struct agent_net *n, int fd, int b) { return efisock_listen(n->net, fd, b); }
static int e_accept(struct agent_net *n, int fd, struct efisock_sockaddr_in *p) {
  efisock_socklen_t l = sizeof(*p);
  return efisock_accept(n->net, fd, (struct efisock_sockaddr *)p, &l);
}
static int e_connect(struct agent_net *n, int fd, const struct efisock_sockaddr_in *a) {
  return efisock_connect(n->net, fd, (const struct efisock_sockaddr *)a, sizeof(*a));
}
static intptr_t e_sendto(struct agent_net *n, int fd, const void *b, size_t len, int flags,
                         const struct efisock_sockaddr_in *to) {
  return efisock_sendto(n->net, fd, b, len, flags, (const struct efisock_sockaddr *)to, to ? sizeof(*to) : 0);
}
/* Test only (open plant_rx_work=N, `fwnet bench --plant rxwork`): N busy
 * iterations per KiB received, a planted regression in the receive path
 * that the bench's check must catch. 0: none. */
unsigned agent_plant_rx_work;

static intptr_t e_recvfrom(struct agent_net *n, int fd, void *b, size_t len, int flags,
                           struct efisock_sockaddr_in *from) {
  efisock_socklen_t l = sizeof(*from);
  intptr_t r = efisock_recvfrom(n->net, fd, b, len, flags, (struct efisock_sockaddr *)from, from ? &l : 0);
  if (r > 0 && agent_plant_rx_work) {
    volatile uint64_t x = 0;
    for (uint64_t i = (uint64_t)r * agent_plant_rx_work / 1024; i; i--) x = x + 1;
  }
  return r;
}
static int e_shutdown(struct agent_net *n, int fd, int how) { return efisock_shutdown(n->net, fd, how); }
static int e_close(struct agent_net *n, int fd) { return efisock_close(n->net, fd); }
static int e_sockname(struct agent_net *n, int fd, struct efisock_sockaddr_in *a) {
  efisock_socklen_t l = sizeof(*a);
  return efisock_getsockname(n->net, fd, (struct efisock_sockaddr *)a, &l);
}
static int e_peername(struct agent_net *n, int fd, struct efisock_sockaddr_in *a) {
  efisock_socklen_t l = sizeof(*a);
  return efisock_getpeername(n->net, fd, (struct efisock_sockaddr *)a, &l);
}
/* efi-net takes the agent's EFISOCK_* options as they are, SO_BROADCAST and
 * IP_ADD/DROP_MEMBERSHIP (struct efisock_ip_mreq, UDP4 Groups()) included. */
static int e_setsockopt(struct agent_net *n, int fd, int lv, int nm, const void *v, unsigned len) {
  return efisock_setsockopt(n->net, fd, lv, nm, v, len);
}
static int e_getsockopt(struct agent_net *n, int fd, int lv, int nm, void *v, unsigned *len) {
  efisock_socklen_t l = *len;
  int r = efisock_getsockopt(n->net, fd, lv, nm, v, &l);
  *len = l;
  return r;
}
static int e_nonblock(struct agent_net *n, int fd, int on) {
  return efisock_fcntl(n->net, fd, EFISOCK_F_SETFL, on ? EFISOCK_O_NONBLOCK : 0);
}
static int e_select(struct agent_net *n, int nfds, efisock_fd_set *r, efisock_fd_set *w,
                    efisock_fd_set *e, int ms) {
  struct efisock_timeval tv = {ms / 1000, (ms % 1000) * 1000};
  return efisock_select(n->net, nfds, r, w, e, ms < 0 ? 0 : &tv);
}
static int e_poll(struct agent_net *n, struct efisock_pollfd *p, unsigned np, int ms) {
  return efisock_poll(n->net, p, np, ms);
}
static int e_resolve(struct agent_net *n, const char *name, uint32_t *addrs, unsigned max, unsigned *cnt) {
  struct efisock_addrinfo hints, *res = 0;
  for (unsigned i = 0; i < sizeof(hints); i++) ((char *)&hints)[i] = 0;
  hints.ai_family = EFISOCK_AF_INET;
  hints.ai_socktype = EFISOCK_SOCK_STREAM;
  int rc = efisock_getaddrinfo(n->net, name, 0, &hints, &res);
  *cnt = 0;
  if (rc) return rc;
  for (struct efisock_addrinfo *ai = res; ai && *cnt < max; ai = ai->ai_next)
    addrs[(*cnt)++] = ((struct efisock_sockaddr_in *)ai->ai_addr)->sin_addr.s_addr;
  efisock_freeaddrinfo(n->net, res);
  return 0;
}
static int e_errno(struct agent_net *n) { return efisock_errno(n->net); }
static uint64_t e_now(struct agent_net *n) { return n->clock(n->clock_ctx); }
static void e_sleep(struct agent_net *n, unsigned ms) {
  /* sleep through the stack's own wait, so the firmware keeps moving;
   * before "open" there is no stack: wait on the clock */
  if (n->net) {
    efisock_poll(n->net, 0, 0, (int)ms);
    return;
  }
  uint64_t end = n->clock(n->clock_ctx) + (uint64_t)ms * 1000000u;
  while (n->clock(n->clock_ctx) < end) {
  }
}
static int e_stats(struct agent_net *n, int fd, struct efinet_stats *s) {
  return efinet_get_stats(n->net, fd, s);
}

static const struct agent_netops efinet_ops = {
    .backend = "efinet",
    .socket = e_socket,
    .bind = e_bind,
    .listen = e_listen,
    .accept = e_accept,
    .connect = e_connect,
    .sendto = e_sendto,
    .recvfrom = e_recvfrom,
    .shutdown = e_shutdown,
    .close = e_close,
    .sockname = e_sockname,
    .peername = e_peername,
    .setsockopt = e_setsockopt,
    .getsockopt = e_getsockopt,
    .set_nonblock = e_nonblock,
    .select = e_select,
    .poll = e_poll,
    .resolve = e_resolve,
    .last_errno = e_errno,
    .now_ns = e_now,
    .sleep_ms = e_sleep,
    .stats = e_stats,
};

void agent_efinet_env(struct agent_env *env, uint64_t (*clock)(void *), void *clock_ctx) {
  the_net.clock = clock;
  the_net.clock_ctx = clock_ctx;
  env->ops = &efinet_ops;
  env->net = &the_net;
}

void agent_efinet_set(struct agent_env *env, efinet_t *net) { env->net->net = net; }
efinet_t *agent_efinet_get(struct agent_env *env) { return env->net->net; }
