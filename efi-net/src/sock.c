/* The descriptor-level socket API: argument checks, errno, dispatch to the
 * TCP or UDP operations, and socket options. */
#include "internal.h"

#define GET_SOCK(net, fd, s)                                    \
  struct en_sock *s = en_fd_get(net, fd);                       \
  if (!s) return en_fail(net, EFISOCK_EBADF);

static int check_addr(const struct efisock_sockaddr *a, efisock_socklen_t len,
                      struct efisock_sockaddr_in *out, bool allow_unspec) {
  if (!a) return EFISOCK_EFAULT;
  if (len < sizeof(uint16_t)) return EFISOCK_EINVAL;
  if (allow_unspec && a->sa_family == EFISOCK_AF_UNSPEC) {
    memset(out, 0, sizeof(*out));
    return 0;
  }
  if (len < sizeof(struct efisock_sockaddr_in)) return EFISOCK_EINVAL;
  if (a->sa_family != EFISOCK_AF_INET) return EFISOCK_EAFNOSUPPORT;
  memcpy(out, a, sizeof(*out));
  return 0;
}

static void put_addr(const struct efisock_sockaddr_in *in, struct efisock_sockaddr *a,
                     efisock_socklen_t *len) {
  if (!a || !len) return;
  struct efisock_sockaddr_in tmp = *in;
  tmp.sin_family = EFISOCK_AF_INET;
  memset(tmp.sin_zero, 0, sizeof(tmp.sin_zero));
  efisock_socklen_t n = *len < sizeof(tmp) ? *len : (efisock_socklen_t)sizeof(tmp);
  memcpy(a, &tmp, n);
  *len = sizeof(tmp);
}

int efisock_socket(efinet_t *net, int domain, int type, int protocol) {
  int nonblock = type & EFISOCK_SOCK_NONBLOCK;
  type &= ~EFISOCK_SOCK_NONBLOCK;
  if (domain != EFISOCK_AF_INET) return en_fail(net, EFISOCK_EAFNOSUPPORT);
  if (type != EFISOCK_SOCK_STREAM && type != EFISOCK_SOCK_DGRAM)
    return en_fail(net, EFISOCK_ESOCKTNOSUPPORT);
  if (protocol && !(type == EFISOCK_SOCK_STREAM && protocol == EFISOCK_IPPROTO_TCP) &&
      !(type == EFISOCK_SOCK_DGRAM && protocol == EFISOCK_IPPROTO_UDP))
    return en_fail(net, EFISOCK_EPROTONOSUPPORT);
  if (type == EFISOCK_SOCK_STREAM && !net->tcp4_sb) return en_fail(net, EFISOCK_EAFNOSUPPORT);
  if (type == EFISOCK_SOCK_DGRAM && !net->udp4_sb) return en_fail(net, EFISOCK_EAFNOSUPPORT);
  struct en_sock *s = en_sock_new(net, type);
  if (!s) return en_fail(net, EFISOCK_ENOMEM);
  s->nonblock = nonblock != 0;
  if (type == EFISOCK_SOCK_STREAM) {
    int e = en_tcp_open_child(s);
    if (e) {
      en_sock_free(s);
      return en_fail(net, e);
    }
  }
  if (en_fd_alloc(net, s) < 0) {
    en_sock_free(s);
    return en_fail(net, EFISOCK_EMFILE);
  }
  return s->fd;
}

int efisock_bind(efinet_t *net, int fd, const struct efisock_sockaddr *a, efisock_socklen_t len) {
  GET_SOCK(net, fd, s);
  struct efisock_sockaddr_in in;
  int e = check_addr(a, len, &in, false);
  if (!e) e = s->ops->bind(s, &in);
  return e ? en_fail(net, e) : 0;
}

int efisock_listen(efinet_t *net, int fd, int backlog) {
  GET_SOCK(net, fd, s);
  int e = s->ops->listen(s, backlog);
  return e ? en_fail(net, e) : 0;
}

int efisock_accept(efinet_t *net, int fd, struct efisock_sockaddr *a, efisock_socklen_t *len) {
  GET_SOCK(net, fd, s);
  struct en_sock *ns = NULL;
  int e = s->ops->accept(s, &ns);
  if (e) return en_fail(net, e);
  if (en_fd_alloc(net, ns) < 0) {
    ns->u.tcp.aborting = true;
    en_sock_free(ns);
    return en_fail(net, EFISOCK_EMFILE);
  }
  put_addr(&ns->peer, a, len);
  return ns->fd;
}

int efisock_connect(efinet_t *net, int fd, const struct efisock_sockaddr *a, efisock_socklen_t len) {
  GET_SOCK(net, fd, s);
  struct efisock_sockaddr_in in;
  int e = check_addr(a, len, &in, s->type == EFISOCK_SOCK_DGRAM);
  if (!e) e = s->ops->connect(s, &in);
  return e ? en_fail(net, e) : 0;
}

efisock_ssize_t efisock_sendto(efinet_t *net, int fd, const void *buf, size_t len, int flags,
                               const struct efisock_sockaddr *to, efisock_socklen_t tolen) {
  GET_SOCK(net, fd, s);
  if (!buf && len) return en_fail(net, EFISOCK_EFAULT);
  struct efisock_sockaddr_in in, *pin = NULL;
  if (to && s->type == EFISOCK_SOCK_DGRAM) {
    int e = check_addr(to, tolen, &in, false);
    if (e) return en_fail(net, e);
    pin = &in;
  }
  efisock_ssize_t r = s->ops->send(s, buf, len, flags, pin);
  return r < 0 ? en_fail(net, (int)-r) : r;
}

efisock_ssize_t efisock_send(efinet_t *net, int fd, const void *buf, size_t len, int flags) {
  return efisock_sendto(net, fd, buf, len, flags, NULL, 0);
}

efisock_ssize_t efisock_recvfrom(efinet_t *net, int fd, void *buf, size_t len, int flags,
                                 struct efisock_sockaddr *from, efisock_socklen_t *fromlen) {
  GET_SOCK(net, fd, s);
  if (!buf && len) return en_fail(net, EFISOCK_EFAULT);
  struct efisock_sockaddr_in in;
  memset(&in, 0, sizeof(in));
  efisock_ssize_t r = s->ops->recv(s, buf, len, flags, &in);
  if (r < 0) return en_fail(net, (int)-r);
  put_addr(&in, from, fromlen);
  return r;
}

efisock_ssize_t efisock_recv(efinet_t *net, int fd, void *buf, size_t len, int flags) {
  return efisock_recvfrom(net, fd, buf, len, flags, NULL, NULL);
}

int efisock_shutdown(efinet_t *net, int fd, int how) {
  GET_SOCK(net, fd, s);
  if (how < EFISOCK_SHUT_RD || how > EFISOCK_SHUT_RDWR) return en_fail(net, EFISOCK_EINVAL);
  int e = s->ops->shutdown(s, how);
  return e ? en_fail(net, e) : 0;
}

int efisock_close(efinet_t *net, int fd) {
  GET_SOCK(net, fd, s);
  net->fds[fd - EFISOCK_FD_BASE] = NULL;
  while (net->fd_hi && !net->fds[net->fd_hi - 1]) net->fd_hi--;
  s->fd = -1;
  if (s->ops->close(s)) {
    en_sock_free(s);
  } else {
    /* Closing in the firmware: progressed at every safe point, destroyed
     * when done or at its deadline (efinet_close bounds the rest). */
    s->next_zombie = net->zombies;
    net->zombies = s;
    en_progress(net);
  }
  return 0;
}

int efisock_getsockname(efinet_t *net, int fd, struct efisock_sockaddr *a, efisock_socklen_t *len) {
  GET_SOCK(net, fd, s);
  if (!a || !len) return en_fail(net, EFISOCK_EFAULT);
  struct efisock_sockaddr_in in;
  s->ops->sockname(s, &in);
  put_addr(&in, a, len);
  return 0;
}

int efisock_getpeername(efinet_t *net, int fd, struct efisock_sockaddr *a, efisock_socklen_t *len) {
  GET_SOCK(net, fd, s);
  if (!a || !len) return en_fail(net, EFISOCK_EFAULT);
  bool connected = s->type == EFISOCK_SOCK_STREAM ? s->u.tcp.state == EN_TCP_CONNECTED
                                                  : s->u.udp.connected;
  if (!connected) return en_fail(net, EFISOCK_ENOTCONN);
  put_addr(&s->peer, a, len);
  return 0;
}

static unsigned tv_ms(const struct efisock_timeval *tv) {
  uint64_t ms = (uint64_t)tv->tv_sec * 1000u + (uint64_t)(tv->tv_usec + 999) / 1000u;
  return ms > 0x7fffffffu ? 0x7fffffffu : (unsigned)ms;
}

int efisock_setsockopt(efinet_t *net, int fd, int level, int name, const void *val,
                       efisock_socklen_t len) {
  GET_SOCK(net, fd, s);
  if (!val) return en_fail(net, EFISOCK_EFAULT);
  if (level == EFISOCK_SOL_SOCKET && (name == EFISOCK_SO_RCVTIMEO || name == EFISOCK_SO_SNDTIMEO)) {
    if (len < sizeof(struct efisock_timeval)) return en_fail(net, EFISOCK_EINVAL);
    const struct efisock_timeval *tv = val;
    if (tv->tv_usec < 0 || tv->tv_usec >= 1000000) return en_fail(net, EFISOCK_EDOM);
    unsigned ms = tv_ms(tv);
    if (name == EFISOCK_SO_RCVTIMEO)
      s->rcvtimeo_ms = ms;
    else
      s->sndtimeo_ms = ms;
    return 0;
  }
  if (len < sizeof(int)) return en_fail(net, EFISOCK_EINVAL);
  int v = *(const int *)val;
  if (level == EFISOCK_SOL_SOCKET) {
    switch (name) {
    case EFISOCK_SO_REUSEADDR:
      s->reuseaddr = v != 0;
      return 0;
    case EFISOCK_SO_KEEPALIVE:
      if (s->type != EFISOCK_SOCK_STREAM) return 0;
      s->keepalive = v != 0;
      return 0;
    case EFISOCK_SO_RCVBUF:
      /* Linux doubles the value; so do we, for identical getsockopt results. */
      s->rcvbuf = v < 1152 ? 2304u : (unsigned)v * 2u;
      s->rcvbuf_set = true;
      return 0;
    case EFISOCK_SO_SNDBUF:
      s->sndbuf = v < 2304 ? 4608u : (unsigned)v * 2u;
      return 0;
    default:
      return en_fail(net, EFISOCK_ENOPROTOOPT);
    }
  }
  if (level == EFISOCK_IPPROTO_TCP && name == EFISOCK_TCP_NODELAY) {
    if (s->type != EFISOCK_SOCK_STREAM) return en_fail(net, EFISOCK_EOPNOTSUPP);
    s->nodelay = v != 0;
    return 0;
  }
  return en_fail(net, EFISOCK_ENOPROTOOPT);
}

int efisock_getsockopt(efinet_t *net, int fd, int level, int name, void *val,
                       efisock_socklen_t *len) {
  GET_SOCK(net, fd, s);
  if (!val || !len) return en_fail(net, EFISOCK_EFAULT);
  if (level == EFISOCK_SOL_SOCKET && (name == EFISOCK_SO_RCVTIMEO || name == EFISOCK_SO_SNDTIMEO)) {
    if (*len < sizeof(struct efisock_timeval)) return en_fail(net, EFISOCK_EINVAL);
    unsigned ms = name == EFISOCK_SO_RCVTIMEO ? s->rcvtimeo_ms : s->sndtimeo_ms;
    struct efisock_timeval tv = {ms / 1000, (ms % 1000) * 1000};
    memcpy(val, &tv, sizeof(tv));
    *len = sizeof(tv);
    return 0;
  }
  int v;
  if (level == EFISOCK_SOL_SOCKET) {
    switch (name) {
    case EFISOCK_SO_ERROR:
      /* Safe point first, so a completed connect's error is visible. */
      s->ops->progress(s);
      v = s->so_error;
      s->so_error = 0;
      break;
    case EFISOCK_SO_TYPE:
      v = s->type;
      break;
    case EFISOCK_SO_REUSEADDR:
      v = s->reuseaddr;
      break;
    case EFISOCK_SO_KEEPALIVE:
      v = s->keepalive;
      break;
    case EFISOCK_SO_RCVBUF:
      v = (int)s->rcvbuf;
      break;
    case EFISOCK_SO_SNDBUF:
      v = (int)s->sndbuf;
      break;
    case EFISOCK_SO_ACCEPTCONN:
      v = s->type == EFISOCK_SOCK_STREAM && s->u.tcp.state == EN_TCP_LISTEN;
      break;
    default:
      return en_fail(net, EFISOCK_ENOPROTOOPT);
    }
  } else if (level == EFISOCK_IPPROTO_TCP && name == EFISOCK_TCP_NODELAY &&
             s->type == EFISOCK_SOCK_STREAM) {
    v = s->nodelay;
  } else {
    return en_fail(net, EFISOCK_ENOPROTOOPT);
  }
  efisock_socklen_t n = *len < sizeof(int) ? *len : (efisock_socklen_t)sizeof(int);
  memcpy(val, &v, n);
  *len = n;
  return 0;
}

int efisock_fcntl(efinet_t *net, int fd, int cmd, int arg) {
  GET_SOCK(net, fd, s);
  switch (cmd) {
  case EFISOCK_F_GETFL:
    return 2 /* O_RDWR */ | (s->nonblock ? EFISOCK_O_NONBLOCK : 0);
  case EFISOCK_F_SETFL:
    s->nonblock = (arg & EFISOCK_O_NONBLOCK) != 0;
    return 0;
  default:
    return en_fail(net, EFISOCK_EINVAL);
  }
}
