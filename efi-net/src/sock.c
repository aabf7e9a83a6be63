/* The descriptor-level socket API: argument checks, dispatch to the socket
 * type's operations (en_sock_ops), and socket options.
 *
 * These entry points are the public boundary of the error convention:
 * everything below them returns negative errno or >= 0, and each entry
 * point converts once, with en_ret(), to -1 and the instance's errno. */
#include "internal.h"

#define GET_SOCK(net, fd, s)                                    \
  struct en_sock *s = en_fd_get(net, fd);                       \
  if (!s) return en_ret(net, -EFISOCK_EBADF);

static int check_addr(const struct efisock_sockaddr *a, efisock_socklen_t len,
                      struct efisock_sockaddr_in *out, bool allow_unspec) {
  if (!a) return -EFISOCK_EFAULT;
  if (len < sizeof(uint16_t)) return -EFISOCK_EINVAL;
  if (allow_unspec && a->sa_family == EFISOCK_AF_UNSPEC) {
    memset(out, 0, sizeof(*out));
    return 0;
  }
  if (len < sizeof(struct efisock_sockaddr_in)) return -EFISOCK_EINVAL;
  if (a->sa_family != EFISOCK_AF_INET) return -EFISOCK_EAFNOSUPPORT;
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
  if (domain != EFISOCK_AF_INET) return en_ret(net, -EFISOCK_EAFNOSUPPORT);
  if (type != EFISOCK_SOCK_STREAM && type != EFISOCK_SOCK_DGRAM)
    return en_ret(net, -EFISOCK_ESOCKTNOSUPPORT);
  if (protocol && !(type == EFISOCK_SOCK_STREAM && protocol == EFISOCK_IPPROTO_TCP) &&
      !(type == EFISOCK_SOCK_DGRAM && protocol == EFISOCK_IPPROTO_UDP))
    return en_ret(net, -EFISOCK_EPROTONOSUPPORT);
  if (type == EFISOCK_SOCK_STREAM && !net->tcp4_sb) return en_ret(net, -EFISOCK_EAFNOSUPPORT);
  if (type == EFISOCK_SOCK_DGRAM && !net->udp4_sb) return en_ret(net, -EFISOCK_EAFNOSUPPORT);
  struct en_sock *s = en_sock_new(net, type);
  if (!s) return en_ret(net, -EFISOCK_ENOMEM);
  s->nonblock = nonblock != 0;
  int rc = s->ops->open(s);
  if (rc >= 0) rc = en_fd_alloc(net, s);
  if (rc < 0) en_sock_free(s);
  return en_ret(net, rc);
}

int efisock_bind(efinet_t *net, int fd, const struct efisock_sockaddr *a, efisock_socklen_t len) {
  GET_SOCK(net, fd, s);
  struct efisock_sockaddr_in in;
  int rc = check_addr(a, len, &in, false);
  if (rc >= 0) rc = s->ops->bind(s, &in);
  return en_ret(net, rc);
}

int efisock_listen(efinet_t *net, int fd, int backlog) {
  GET_SOCK(net, fd, s);
  return en_ret(net, s->ops->listen(s, backlog));
}

int efisock_accept(efinet_t *net, int fd, struct efisock_sockaddr *a, efisock_socklen_t *len) {
  GET_SOCK(net, fd, s);
  struct en_sock *ns = NULL;
  int rc = s->ops->accept(s, &ns);
  if (rc >= 0) rc = en_fd_alloc(net, ns);
  if (rc < 0) {
    if (ns) en_sock_free(ns); /* aborts the accepted connection */
    return en_ret(net, rc);
  }
  put_addr(&ns->peer, a, len);
  return ns->fd;
}

int efisock_connect(efinet_t *net, int fd, const struct efisock_sockaddr *a, efisock_socklen_t len) {
  GET_SOCK(net, fd, s);
  struct efisock_sockaddr_in in;
  int rc = check_addr(a, len, &in, s->type == EFISOCK_SOCK_DGRAM);
  if (rc >= 0) rc = s->ops->connect(s, &in);
  return en_ret(net, rc);
}

efisock_ssize_t efisock_sendto(efinet_t *net, int fd, const void *buf, size_t len, int flags,
                               const struct efisock_sockaddr *to, efisock_socklen_t tolen) {
  GET_SOCK(net, fd, s);
  if (!buf && len) return en_ret(net, -EFISOCK_EFAULT);
  struct efisock_sockaddr_in in, *pin = NULL;
  if (to && s->type == EFISOCK_SOCK_DGRAM) {
    int rc = check_addr(to, tolen, &in, false);
    if (rc < 0) return en_ret(net, rc);
    pin = &in;
  }
  return en_ret_ssize(net, s->ops->send(s, buf, len, flags, pin));
}

efisock_ssize_t efisock_send(efinet_t *net, int fd, const void *buf, size_t len, int flags) {
  return efisock_sendto(net, fd, buf, len, flags, NULL, 0);
}

efisock_ssize_t efisock_recvfrom(efinet_t *net, int fd, void *buf, size_t len, int flags,
                                 struct efisock_sockaddr *from, efisock_socklen_t *fromlen) {
  GET_SOCK(net, fd, s);
  if (!buf && len) return en_ret(net, -EFISOCK_EFAULT);
  struct efisock_sockaddr_in in;
  memset(&in, 0, sizeof(in));
  efisock_ssize_t r = s->ops->recv(s, buf, len, flags, &in);
  if (r < 0) return en_ret_ssize(net, r);
  put_addr(&in, from, fromlen);
  return r;
}

efisock_ssize_t efisock_recv(efinet_t *net, int fd, void *buf, size_t len, int flags) {
  return efisock_recvfrom(net, fd, buf, len, flags, NULL, NULL);
}

/* The iovecs' total length, or -EINVAL / -EMSGSIZE / -EFAULT as Linux. */
static efisock_ssize_t iov_total(const struct efisock_msghdr *m) {
  if (!m) return -EFISOCK_EFAULT;
  if (m->msg_iovlen > EFISOCK_IOV_MAX) return -EFISOCK_EMSGSIZE;
  if (m->msg_iovlen && !m->msg_iov) return -EFISOCK_EFAULT;
  size_t total = 0;
  for (size_t i = 0; i < m->msg_iovlen; i++) {
    if (!m->msg_iov[i].iov_base && m->msg_iov[i].iov_len) return -EFISOCK_EFAULT;
    if (m->msg_iov[i].iov_len > (size_t)INTPTR_MAX - total) return -EFISOCK_EINVAL;
    total += m->msg_iov[i].iov_len;
  }
  return (efisock_ssize_t)total;
}

/* One iovec is used in place; several go through one pool buffer, since a
 * datagram is one Transmit and a read must not block between iovecs. */
efisock_ssize_t efisock_sendmsg(efinet_t *net, int fd, const struct efisock_msghdr *m, int flags) {
  GET_SOCK(net, fd, s);
  efisock_ssize_t total = iov_total(m);
  if (total < 0) return en_ret_ssize(net, total);
  if (m->msg_controllen) return en_ret_ssize(net, -EFISOCK_EOPNOTSUPP);
  struct efisock_sockaddr_in in, *pin = NULL;
  if (m->msg_name && s->type == EFISOCK_SOCK_DGRAM) {
    int rc = check_addr(m->msg_name, m->msg_namelen, &in, false);
    if (rc < 0) return en_ret_ssize(net, rc);
    pin = &in;
  }
  if (m->msg_iovlen == 1 && m->msg_iov[0].iov_base)
    return en_ret_ssize(net, s->ops->send(s, m->msg_iov[0].iov_base, (size_t)total, flags, pin));
  uint8_t *buf = total ? en_alloc(net, (size_t)total) : NULL;
  if (total && !buf) return en_ret_ssize(net, -EFISOCK_ENOBUFS);
  size_t off = 0;
  for (size_t i = 0; i < m->msg_iovlen; i++) {
    if (m->msg_iov[i].iov_len) memcpy(buf + off, m->msg_iov[i].iov_base, m->msg_iov[i].iov_len);
    off += m->msg_iov[i].iov_len;
  }
  efisock_ssize_t r = s->ops->send(s, buf, (size_t)total, flags, pin);
  en_free(net, buf);
  return en_ret_ssize(net, r);
}

efisock_ssize_t efisock_recvmsg(efinet_t *net, int fd, struct efisock_msghdr *m, int flags) {
  GET_SOCK(net, fd, s);
  efisock_ssize_t total = iov_total(m);
  if (total < 0) return en_ret_ssize(net, total);
  bool dgram = s->type == EFISOCK_SOCK_DGRAM;
  /* A datagram's full length tells whether it was cut (msg_flags). */
  int f = dgram ? flags | EFISOCK_MSG_TRUNC : flags;
  uint8_t none, *buf = m->msg_iovlen == 1 ? m->msg_iov[0].iov_base : NULL;
  if (m->msg_iovlen > 1 && total && !(buf = en_alloc(net, (size_t)total)))
    return en_ret_ssize(net, -EFISOCK_ENOBUFS);
  bool pooled = buf && m->msg_iovlen > 1;
  if (!buf) buf = &none; /* nothing to fill: still a valid pointer */
  struct efisock_sockaddr_in in;
  memset(&in, 0, sizeof(in));
  efisock_ssize_t r = s->ops->recv(s, buf, (size_t)total, f, &in);
  if (r >= 0) {
    size_t got = dgram && r > total ? (size_t)total : (size_t)r;
    if (pooled) {
      size_t off = 0;
      for (size_t i = 0; i < m->msg_iovlen && off < got; i++) {
        size_t n = got - off < m->msg_iov[i].iov_len ? got - off : m->msg_iov[i].iov_len;
        memcpy(m->msg_iov[i].iov_base, buf + off, n);
        off += n;
      }
    }
    m->msg_flags = dgram && r > total ? EFISOCK_MSG_TRUNC : 0;
    m->msg_controllen = 0;
    if (m->msg_name) put_addr(&in, m->msg_name, &m->msg_namelen);
    if (!(flags & EFISOCK_MSG_TRUNC)) r = (efisock_ssize_t)got;
  }
  if (pooled) en_free(net, buf);
  return en_ret_ssize(net, r);
}

int efisock_shutdown(efinet_t *net, int fd, int how) {
  GET_SOCK(net, fd, s);
  if (how < EFISOCK_SHUT_RD || how > EFISOCK_SHUT_RDWR) return en_ret(net, -EFISOCK_EINVAL);
  return en_ret(net, s->ops->shutdown(s, how));
}

struct zombie_wait {
  struct efinet *net;
  const struct en_sock *s; /* compared, never dereferenced: it may be freed */
};
static bool zombie_gone(void *a) {
  struct zombie_wait *w = a;
  for (struct en_sock *z = w->net->zombies; z; z = z->next_zombie)
    if (z == w->s) return false;
  return true;
}

int efisock_close(efinet_t *net, int fd) {
  GET_SOCK(net, fd, s);
  net->fds[fd - EFISOCK_FD_BASE] = NULL;
  while (net->fd_hi && !net->fds[net->fd_hi - 1]) net->fd_hi--;
  s->fd = -1;
  unsigned linger_ms = s->linger ? s->linger_s * 1000u : 0; /* s may be freed below */
  if (s->ops->close(s)) {
    en_sock_free(s);
  } else {
    /* Closing in the firmware: progressed at every safe point, destroyed
     * when done or at its deadline (efinet_close bounds the rest). */
    s->next_zombie = net->zombies;
    net->zombies = s;
    en_progress(net);
    if (linger_ms) {
      /* SO_LINGER: close() returns when the close finished (the zombie
       * is gone) or after l_linger seconds, as on Linux. */
      struct zombie_wait w = {net, s};
      en_wait(net, zombie_gone, &w, linger_ms, false);
    }
  }
  return 0;
}

int efisock_getsockname(efinet_t *net, int fd, struct efisock_sockaddr *a, efisock_socklen_t *len) {
  GET_SOCK(net, fd, s);
  if (!a || !len) return en_ret(net, -EFISOCK_EFAULT);
  struct efisock_sockaddr_in in;
  s->ops->sockname(s, &in);
  put_addr(&in, a, len);
  return 0;
}

int efisock_getpeername(efinet_t *net, int fd, struct efisock_sockaddr *a, efisock_socklen_t *len) {
  GET_SOCK(net, fd, s);
  if (!a || !len) return en_ret(net, -EFISOCK_EFAULT);
  struct efisock_sockaddr_in in;
  int rc = s->ops->peername(s, &in);
  if (rc < 0) return en_ret(net, rc);
  put_addr(&in, a, len);
  return 0;
}

static unsigned tv_ms(const struct efisock_timeval *tv) {
  uint64_t ms = (uint64_t)tv->tv_sec * 1000u + (uint64_t)(tv->tv_usec + 999) / 1000u;
  return ms > 0x7fffffffu ? 0x7fffffffu : (unsigned)ms;
}

int efisock_setsockopt(efinet_t *net, int fd, int level, int name, const void *val,
                       efisock_socklen_t len) {
  GET_SOCK(net, fd, s);
  if (!val) return en_ret(net, -EFISOCK_EFAULT);
  if (level == EFISOCK_SOL_SOCKET && (name == EFISOCK_SO_RCVTIMEO || name == EFISOCK_SO_SNDTIMEO)) {
    if (len < sizeof(struct efisock_timeval)) return en_ret(net, -EFISOCK_EINVAL);
    const struct efisock_timeval *tv = val;
    if (tv->tv_usec < 0 || tv->tv_usec >= 1000000) return en_ret(net, -EFISOCK_EDOM);
    unsigned ms = tv_ms(tv);
    if (name == EFISOCK_SO_RCVTIMEO)
      s->rcvtimeo_ms = ms;
    else
      s->sndtimeo_ms = ms;
    return 0;
  }
  if (level == EFISOCK_SOL_SOCKET && name == EFISOCK_SO_LINGER) {
    if (len < sizeof(struct efisock_linger)) return en_ret(net, -EFISOCK_EINVAL);
    const struct efisock_linger *l = val;
    s->linger = l->l_onoff != 0;
    s->linger_s = l->l_linger < 0 ? 0 : (unsigned)l->l_linger;
    return 0;
  }
  if (level == EFISOCK_IPPROTO_IP &&
      (name == EFISOCK_IP_ADD_MEMBERSHIP || name == EFISOCK_IP_DROP_MEMBERSHIP)) {
    if (len < sizeof(struct efisock_ip_mreq)) return en_ret(net, -EFISOCK_EINVAL);
    return en_ret(net, s->ops->membership(s, name == EFISOCK_IP_ADD_MEMBERSHIP, val));
  }
  if (len < sizeof(int)) return en_ret(net, -EFISOCK_EINVAL);
  int v = *(const int *)val;
  if (level == EFISOCK_SOL_SOCKET) {
    switch (name) {
    case EFISOCK_SO_REUSEADDR:
      s->reuseaddr = v != 0;
      return 0;
    case EFISOCK_SO_BROADCAST:
      s->broadcast = v != 0; /* checked by UDP's send; kept, no effect, on TCP, as Linux */
      return 0;
    case EFISOCK_SO_KEEPALIVE:
    case EFISOCK_SO_RCVBUF:
    case EFISOCK_SO_SNDBUF:
      return en_ret(net, s->ops->setopt(s, level, name, v)); /* the type applies or refuses */
    default:
      return en_ret(net, -EFISOCK_ENOPROTOOPT);
    }
  }
  if (level == EFISOCK_IPPROTO_TCP && name == EFISOCK_TCP_NODELAY)
    return en_ret(net, s->ops->setopt(s, level, name, v));
  return en_ret(net, -EFISOCK_ENOPROTOOPT);
}

int efisock_getsockopt(efinet_t *net, int fd, int level, int name, void *val,
                       efisock_socklen_t *len) {
  GET_SOCK(net, fd, s);
  if (!val || !len) return en_ret(net, -EFISOCK_EFAULT);
  if (level == EFISOCK_SOL_SOCKET && (name == EFISOCK_SO_RCVTIMEO || name == EFISOCK_SO_SNDTIMEO)) {
    if (*len < sizeof(struct efisock_timeval)) return en_ret(net, -EFISOCK_EINVAL);
    unsigned ms = name == EFISOCK_SO_RCVTIMEO ? s->rcvtimeo_ms : s->sndtimeo_ms;
    struct efisock_timeval tv = {ms / 1000, (ms % 1000) * 1000};
    memcpy(val, &tv, sizeof(tv));
    *len = sizeof(tv);
    return 0;
  }
  if (level == EFISOCK_SOL_SOCKET && name == EFISOCK_SO_LINGER) {
    if (*len < sizeof(struct efisock_linger)) return en_ret(net, -EFISOCK_EINVAL);
    struct efisock_linger l = {s->linger, (int)s->linger_s};
    memcpy(val, &l, sizeof(l));
    *len = sizeof(l);
    return 0;
  }
  int v;
  if (level == EFISOCK_SOL_SOCKET) {
    switch (name) {
    case EFISOCK_SO_ERROR:
      /* Safe point first, so a completed connect's error is visible. */
      s->ops->progress(s);
      v = -en_sock_error(s, 0);
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
    case EFISOCK_SO_BROADCAST:
      v = s->broadcast;
      break;
    case EFISOCK_SO_RCVBUF:
      v = (int)s->rcvbuf;
      break;
    case EFISOCK_SO_SNDBUF:
      v = (int)s->sndbuf;
      break;
    case EFISOCK_SO_ACCEPTCONN:
      v = s->ops->accepting(s);
      break;
    default:
      return en_ret(net, -EFISOCK_ENOPROTOOPT);
    }
  } else if (level == EFISOCK_IPPROTO_TCP && name == EFISOCK_TCP_NODELAY &&
             s->type == EFISOCK_SOCK_STREAM) {
    v = s->nodelay;
  } else {
    return en_ret(net, -EFISOCK_ENOPROTOOPT);
  }
  efisock_socklen_t n = *len < sizeof(int) ? *len : (efisock_socklen_t)sizeof(int);
  memcpy(val, &v, n);
  *len = n;
  return 0;
}

int efisock_ioctl(efinet_t *net, int fd, unsigned long request, void *arg) {
  GET_SOCK(net, fd, s);
  if (!arg) return en_ret(net, -EFISOCK_EFAULT);
  switch (request) {
  case EFISOCK_FIONBIO:
    s->nonblock = *(const int *)arg != 0;
    return 0;
  case EFISOCK_FIONREAD: {
    int n = s->ops->nread(s);
    if (n < 0) return en_ret(net, n);
    *(int *)arg = n;
    return 0;
  }
  default:
    return en_ret(net, -EFISOCK_EINVAL);
  }
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
    return en_ret(net, -EFISOCK_EINVAL);
  }
}
