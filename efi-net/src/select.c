/* select() and poll(): readiness comes from the buffers the background
 * Receive/Accept tokens fill, so no call here ever peeks at the firmware.
 * Waiting goes through en_wait, so the poll policy and the idle sleep apply.
 * select() writes the time left back into its timeout, as Linux does: to
 * the nanosecond clock when the config gives one, else to the 10 ms tick. */
#include "internal.h"

struct poll_req {
  struct efinet *net;
  struct efisock_pollfd *fds;
  unsigned n;
  int ready;
};

static bool poll_scan(void *a) {
  struct poll_req *r = a;
  int ready = 0;
  for (unsigned i = 0; i < r->n; i++) {
    struct efisock_pollfd *p = &r->fds[i];
    p->revents = 0;
    if (p->fd < 0) continue;
    struct en_sock *s = en_fd_get(r->net, p->fd);
    unsigned m = s ? s->ops->poll_mask(s) : EFISOCK_POLLNVAL;
    /* POLLERR, POLLHUP and POLLNVAL are reported whether asked for or not. */
    p->revents = (short)(m & ((unsigned)(unsigned short)p->events | EFISOCK_POLLERR |
                              EFISOCK_POLLHUP | EFISOCK_POLLNVAL));
    if (p->revents) ready++;
  }
  r->ready = ready;
  return ready > 0;
}

int efisock_poll(efinet_t *net, struct efisock_pollfd *fds, unsigned nfds, int timeout_ms) {
  if (nfds && !fds) return en_ret(net, -EFISOCK_EFAULT);
  struct poll_req r = {net, fds, nfds, 0};
  en_wait(net, poll_scan, &r, timeout_ms < 0 ? 0 : (unsigned)timeout_ms, timeout_ms < 0);
  poll_scan(&r);
  return r.ready;
}

struct select_req {
  struct efinet *net;
  int nfds;
  efisock_fd_set *rin, *win, *ein;
  efisock_fd_set r, w, e;
  int ready;
};

#define SEL_IN (EFISOCK_POLLIN | EFISOCK_POLLHUP | EFISOCK_POLLERR)
#define SEL_OUT (EFISOCK_POLLOUT | EFISOCK_POLLERR)
#define SEL_EX (EFISOCK_POLLPRI)

static bool select_scan(void *a) {
  struct select_req *q = a;
  int ready = 0;
  EFISOCK_FD_ZERO(&q->r);
  EFISOCK_FD_ZERO(&q->w);
  EFISOCK_FD_ZERO(&q->e);
  for (int fd = 0; fd < q->nfds; fd++) {
    bool want_r = q->rin && EFISOCK_FD_ISSET(fd, q->rin);
    bool want_w = q->win && EFISOCK_FD_ISSET(fd, q->win);
    bool want_e = q->ein && EFISOCK_FD_ISSET(fd, q->ein);
    if (!want_r && !want_w && !want_e) continue;
    struct en_sock *s = en_fd_get(q->net, fd);
    unsigned m = s ? s->ops->poll_mask(s) : 0;
    if (want_r && (m & SEL_IN)) { EFISOCK_FD_SET(fd, &q->r); ready++; }
    if (want_w && (m & SEL_OUT)) { EFISOCK_FD_SET(fd, &q->w); ready++; }
    if (want_e && (m & SEL_EX)) { EFISOCK_FD_SET(fd, &q->e); ready++; }
  }
  q->ready = ready;
  return ready > 0;
}

int efisock_select(efinet_t *net, int nfds, efisock_fd_set *r, efisock_fd_set *w,
                   efisock_fd_set *e, struct efisock_timeval *timeout) {
  if (nfds < 0 || nfds > EFISOCK_FD_SETSIZE) return en_ret(net, -EFISOCK_EINVAL);
  if (timeout && (timeout->tv_sec < 0 || timeout->tv_usec < 0))
    return en_ret(net, -EFISOCK_EINVAL);
  for (int fd = 0; fd < nfds; fd++) {
    bool any = (r && EFISOCK_FD_ISSET(fd, r)) || (w && EFISOCK_FD_ISSET(fd, w)) ||
               (e && EFISOCK_FD_ISSET(fd, e));
    if (any && !en_fd_get(net, fd)) return en_ret(net, -EFISOCK_EBADF);
  }
  struct select_req q;
  q.net = net;
  q.nfds = nfds;
  q.rin = r;
  q.win = w;
  q.ein = e;
  unsigned ms = 0;
  if (timeout) {
    uint64_t v = (uint64_t)timeout->tv_sec * 1000u + ((uint64_t)timeout->tv_usec + 999u) / 1000u;
    ms = v > 0x7fffffffu ? 0x7fffffffu : (unsigned)v;
  }
  uint64_t t0 = en_clock(net), k0 = net->ticks;
  en_wait(net, select_scan, &q, ms, timeout == NULL);
  select_scan(&q);
  if (timeout) {
    uint64_t total_us = (uint64_t)timeout->tv_sec * 1000000u + (uint64_t)timeout->tv_usec;
    uint64_t used_us = net->cfg.clock_ns ? (en_clock(net) - t0) / 1000u
                                         : (net->ticks - k0) * (EN_TICK_100NS / 10u);
    uint64_t left = q.ready && used_us < total_us ? total_us - used_us : 0;
    timeout->tv_sec = (int64_t)(left / 1000000u);
    timeout->tv_usec = (int64_t)(left % 1000000u);
  }
  if (r) *r = q.r;
  if (w) *w = q.w;
  if (e) *e = q.e;
  return q.ready;
}
