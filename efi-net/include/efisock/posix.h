/* efi-net under the standard POSIX names, over one attached instance.
 *
 * A program written for BSD sockets compiles unchanged against efi-net:
 * put efi-net/include/efisock/posix first on the include path (the shim
 * system headers there, <sys/socket.h>, <netinet/in.h>, <netdb.h>, <poll.h>,
 * <errno.h>, <time.h> ..., each include this file), call
 * efisock_posix_attach(net) once, and socket(), connect(), select(),
 * getaddrinfo(), errno ... act on that instance. Built freestanding
 * (-ffreestanding -nostdinc -isystem <gcc's include>) on the host as for EFI.
 *
 * Types and constants are efi-net's, which are Linux's values and x86_64
 * layouts; the structure tags are efi-net's own under the standard names
 * (struct sockaddr_in is struct efisock_sockaddr_in), so the two mix
 * without casts. errno is the attached instance's (efisock_errno_location),
 * one per instance, no threads. Time (clock_gettime, nanosleep) is the
 * clock given to efisock_posix_attach_clock, or efi-net's 10 ms tick.
 *
 * Not here: IPv6, AF_UNIX, read()/write() on files, signals; every
 * descriptor is a socket.
 *
 * The instance lives in weak definitions (one per program, however many
 * translation units include this), so no library has to provide them. */
#ifndef EFISOCK_POSIX_H
#define EFISOCK_POSIX_H

#include <stddef.h>
#include <stdint.h>
#include "efisock/socket.h"

/* ---- the attached instance ---- */

#if defined(__GNUC__) || defined(__clang__)
#define EFISOCK_POSIX_WEAK __attribute__((weak))
#else
#error "efisock/posix.h needs weak definitions (gcc or clang)"
#endif

struct efisock_posix_state {
  efinet_t *net;
  int err; /* errno before attach (EBADF-ish failures of a detached program) */
  uint64_t (*now_ns)(void *ctx);
  void *clock_ctx;
};
EFISOCK_POSIX_WEAK struct efisock_posix_state efisock_posix_state_;

/* Attach the instance every standard name acts on (NULL detaches). */
static inline void efisock_posix_attach(efinet_t *net) { efisock_posix_state_.net = net; }
static inline efinet_t *efisock_posix_instance(void) { return efisock_posix_state_.net; }
/* The clock clock_gettime reads (monotonic ns); without one, efi-net's tick. */
static inline void efisock_posix_attach_clock(uint64_t (*now_ns)(void *ctx), void *ctx) {
  efisock_posix_state_.now_ns = now_ns;
  efisock_posix_state_.clock_ctx = ctx;
}

static inline int *efisock_posix_errno_(void) {
  return efisock_posix_state_.net ? efisock_errno_location(efisock_posix_state_.net)
                                  : &efisock_posix_state_.err;
}
/* A call with no instance attached fails with ENETDOWN. */
#define EFISOCK_POSIX_NET_(fail)                                          \
  efinet_t *net_ = efisock_posix_state_.net;                             \
  if (!net_) {                                                           \
    efisock_posix_state_.err = EFISOCK_ENETDOWN;                         \
    return fail;                                                         \
  }

#ifndef EFISOCK_POSIX_NO_NAMES

/* ---- types ---- */
typedef efisock_socklen_t socklen_t;
typedef efisock_ssize_t ssize_t;
typedef uint16_t sa_family_t;
typedef uint16_t in_port_t;
typedef uint32_t in_addr_t;
typedef unsigned long nfds_t;
typedef int64_t time_t;
typedef int64_t suseconds_t;
typedef int clockid_t;
typedef efisock_fd_set fd_set;
#define sockaddr efisock_sockaddr
#define sockaddr_in efisock_sockaddr_in
#define in_addr efisock_in_addr
#define ip_mreq efisock_ip_mreq
#define linger efisock_linger
#define iovec efisock_iovec
#define msghdr efisock_msghdr
#define timeval efisock_timeval
#define pollfd efisock_pollfd
#define addrinfo efisock_addrinfo
#define hostent efisock_hostent
struct timespec {
  time_t tv_sec;
  long tv_nsec;
};
struct sockaddr_storage { /* room for any address this library has (IPv4) */
  sa_family_t ss_family;
  char ss_pad_[126];
};

/* ---- constants ---- */
#define AF_UNSPEC EFISOCK_AF_UNSPEC
#define AF_INET EFISOCK_AF_INET
#define PF_UNSPEC AF_UNSPEC
#define PF_INET AF_INET
#define SOCK_STREAM EFISOCK_SOCK_STREAM
#define SOCK_DGRAM EFISOCK_SOCK_DGRAM
#define SOCK_NONBLOCK EFISOCK_SOCK_NONBLOCK
#define SOCK_CLOEXEC 02000000 /* accepted, meaningless: no exec */
#define IPPROTO_IP EFISOCK_IPPROTO_IP
#define IPPROTO_TCP EFISOCK_IPPROTO_TCP
#define IPPROTO_UDP EFISOCK_IPPROTO_UDP
#define INADDR_ANY ((in_addr_t)0x00000000)
#define INADDR_BROADCAST ((in_addr_t)0xffffffff)
#define INADDR_NONE ((in_addr_t)0xffffffff)
#define INADDR_LOOPBACK ((in_addr_t)0x7f000001)
#define INET_ADDRSTRLEN 16
#define MSG_PEEK EFISOCK_MSG_PEEK
#define MSG_TRUNC EFISOCK_MSG_TRUNC
#define MSG_DONTWAIT EFISOCK_MSG_DONTWAIT
#define MSG_WAITALL EFISOCK_MSG_WAITALL
#define MSG_NOSIGNAL EFISOCK_MSG_NOSIGNAL
#define SHUT_RD EFISOCK_SHUT_RD
#define SHUT_WR EFISOCK_SHUT_WR
#define SHUT_RDWR EFISOCK_SHUT_RDWR
#define SOL_SOCKET EFISOCK_SOL_SOCKET
#define SO_REUSEADDR EFISOCK_SO_REUSEADDR
#define SO_TYPE EFISOCK_SO_TYPE
#define SO_ERROR EFISOCK_SO_ERROR
#define SO_BROADCAST EFISOCK_SO_BROADCAST
#define SO_SNDBUF EFISOCK_SO_SNDBUF
#define SO_RCVBUF EFISOCK_SO_RCVBUF
#define SO_KEEPALIVE EFISOCK_SO_KEEPALIVE
#define SO_LINGER EFISOCK_SO_LINGER
#define SO_RCVTIMEO EFISOCK_SO_RCVTIMEO
#define SO_SNDTIMEO EFISOCK_SO_SNDTIMEO
#define SO_ACCEPTCONN EFISOCK_SO_ACCEPTCONN
#define TCP_NODELAY EFISOCK_TCP_NODELAY
#define IP_ADD_MEMBERSHIP EFISOCK_IP_ADD_MEMBERSHIP
#define IP_DROP_MEMBERSHIP EFISOCK_IP_DROP_MEMBERSHIP
#define SOMAXCONN 4096
#define FIONREAD EFISOCK_FIONREAD
#define FIONBIO EFISOCK_FIONBIO
#define F_GETFL EFISOCK_F_GETFL
#define F_SETFL EFISOCK_F_SETFL
#define O_NONBLOCK EFISOCK_O_NONBLOCK
#define O_NDELAY O_NONBLOCK
#define POLLIN EFISOCK_POLLIN
#define POLLPRI EFISOCK_POLLPRI
#define POLLOUT EFISOCK_POLLOUT
#define POLLERR EFISOCK_POLLERR
#define POLLHUP EFISOCK_POLLHUP
#define POLLNVAL EFISOCK_POLLNVAL
#define POLLRDNORM POLLIN
#define POLLWRNORM POLLOUT
#define FD_SETSIZE EFISOCK_FD_SETSIZE
#define FD_ZERO(s) EFISOCK_FD_ZERO(s)
#define FD_SET(fd, s) ((void)EFISOCK_FD_SET(fd, s))
#define FD_CLR(fd, s) ((void)EFISOCK_FD_CLR(fd, s))
#define FD_ISSET(fd, s) ((int)EFISOCK_FD_ISSET(fd, s))
#define IOV_MAX EFISOCK_IOV_MAX
#define AI_PASSIVE EFISOCK_AI_PASSIVE
#define AI_CANONNAME EFISOCK_AI_CANONNAME
#define AI_NUMERICHOST EFISOCK_AI_NUMERICHOST
#define AI_NUMERICSERV EFISOCK_AI_NUMERICSERV
#define NI_NUMERICHOST EFISOCK_NI_NUMERICHOST
#define NI_NUMERICSERV EFISOCK_NI_NUMERICSERV
#define NI_NAMEREQD EFISOCK_NI_NAMEREQD
#define NI_MAXHOST 1025
#define NI_MAXSERV 32
#define HOST_NOT_FOUND EFISOCK_HOST_NOT_FOUND
#define TRY_AGAIN EFISOCK_TRY_AGAIN
#define NO_RECOVERY EFISOCK_NO_RECOVERY
#define NO_DATA EFISOCK_NO_DATA
#define EAI_BADFLAGS EFISOCK_EAI_BADFLAGS
#define EAI_NONAME EFISOCK_EAI_NONAME
#define EAI_AGAIN EFISOCK_EAI_AGAIN
#define EAI_FAIL EFISOCK_EAI_FAIL
#define EAI_FAMILY EFISOCK_EAI_FAMILY
#define EAI_SOCKTYPE EFISOCK_EAI_SOCKTYPE
#define EAI_SERVICE EFISOCK_EAI_SERVICE
#define EAI_MEMORY EFISOCK_EAI_MEMORY
#define EAI_SYSTEM EFISOCK_EAI_SYSTEM
#define EAI_OVERFLOW EFISOCK_EAI_OVERFLOW
#define CLOCK_REALTIME 0 /* no wall clock: the monotonic one */
#define CLOCK_MONOTONIC 1
#define STDIN_FILENO 0
#define STDOUT_FILENO 1
#define STDERR_FILENO 2

/* errno values: fwbase's (Linux's numbers) */
#define EPERM EFISOCK_EPERM
#define ENOENT EFISOCK_ENOENT
#define EINTR EFISOCK_EINTR
#define EIO EFISOCK_EIO
#define EBADF EFISOCK_EBADF
#define EAGAIN EFISOCK_EAGAIN
#define EWOULDBLOCK EFISOCK_EWOULDBLOCK
#define ENOMEM EFISOCK_ENOMEM
#define EACCES EFISOCK_EACCES
#define EFAULT EFISOCK_EFAULT
#define EBUSY EFISOCK_EBUSY
#define EEXIST EFISOCK_EEXIST
#define ENODEV EFISOCK_ENODEV
#define EINVAL EFISOCK_EINVAL
#define EMFILE EFISOCK_EMFILE
#define ENOSPC EFISOCK_ENOSPC
#define EROFS EFISOCK_EROFS
#define EPIPE EFISOCK_EPIPE
#define EDOM EFISOCK_EDOM
#define ERANGE EFISOCK_ERANGE
#define ENOSYS EFISOCK_ENOSYS
#define EPROTO EFISOCK_EPROTO
#define EBADMSG EFISOCK_EBADMSG
#define EOVERFLOW EFISOCK_EOVERFLOW
#define ENOTSOCK EFISOCK_ENOTSOCK
#define EDESTADDRREQ EFISOCK_EDESTADDRREQ
#define EMSGSIZE EFISOCK_EMSGSIZE
#define EPROTOTYPE EFISOCK_EPROTOTYPE
#define ENOPROTOOPT EFISOCK_ENOPROTOOPT
#define EPROTONOSUPPORT EFISOCK_EPROTONOSUPPORT
#define ESOCKTNOSUPPORT EFISOCK_ESOCKTNOSUPPORT
#define EOPNOTSUPP EFISOCK_EOPNOTSUPP
#define ENOTSUP EFISOCK_EOPNOTSUPP
#define EAFNOSUPPORT EFISOCK_EAFNOSUPPORT
#define EADDRINUSE EFISOCK_EADDRINUSE
#define EADDRNOTAVAIL EFISOCK_EADDRNOTAVAIL
#define ENETDOWN EFISOCK_ENETDOWN
#define ENETUNREACH EFISOCK_ENETUNREACH
#define ENETRESET EFISOCK_ENETRESET
#define ECONNABORTED EFISOCK_ECONNABORTED
#define ECONNRESET EFISOCK_ECONNRESET
#define ENOBUFS EFISOCK_ENOBUFS
#define EISCONN EFISOCK_EISCONN
#define ENOTCONN EFISOCK_ENOTCONN
#define ESHUTDOWN EFISOCK_ESHUTDOWN
#define ETIMEDOUT EFISOCK_ETIMEDOUT
#define ECONNREFUSED EFISOCK_ECONNREFUSED
#define EHOSTDOWN EFISOCK_EHOSTDOWN
#define EHOSTUNREACH EFISOCK_EHOSTUNREACH
#define EALREADY EFISOCK_EALREADY
#define EINPROGRESS EFISOCK_EINPROGRESS

/* errno: the attached instance's (efisock_errno_location) */
#define errno (*efisock_posix_errno_())
#define h_errno (efisock_posix_state_.net ? efisock_h_errno(efisock_posix_state_.net) : HOST_NOT_FOUND)

/* ---- byte order, address text ---- */
static inline uint16_t htons(uint16_t v) { return efisock_htons(v); }
static inline uint16_t ntohs(uint16_t v) { return efisock_ntohs(v); }
static inline uint32_t htonl(uint32_t v) { return efisock_htonl(v); }
static inline uint32_t ntohl(uint32_t v) { return efisock_ntohl(v); }
static inline int inet_pton(int af, const char *src, void *dst) {
  int r = efisock_inet_pton(af, src, dst);
  if (r < 0) *efisock_posix_errno_() = EAFNOSUPPORT;
  return r;
}
static inline const char *inet_ntop(int af, const void *src, char *dst, socklen_t size) {
  const char *r = efisock_inet_ntop(af, src, dst, size);
  if (!r) *efisock_posix_errno_() = af == AF_INET ? ENOSPC : EAFNOSUPPORT;
  return r;
}
static inline in_addr_t inet_addr(const char *cp) {
  struct in_addr a;
  return efisock_inet_pton(AF_INET, cp, &a) == 1 ? a.s_addr : INADDR_NONE;
}
static inline int inet_aton(const char *cp, struct in_addr *a) {
  return efisock_inet_pton(AF_INET, cp, a) == 1;
}

/* ---- sockets ---- */
static inline int socket(int domain, int type, int protocol) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_socket(net_, domain, type & ~SOCK_CLOEXEC, protocol);
}
static inline int bind(int fd, const struct sockaddr *a, socklen_t len) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_bind(net_, fd, a, len);
}
static inline int listen(int fd, int backlog) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_listen(net_, fd, backlog);
}
static inline int accept(int fd, struct sockaddr *a, socklen_t *len) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_accept(net_, fd, a, len);
}
static inline int accept4(int fd, struct sockaddr *a, socklen_t *len, int flags) {
  EFISOCK_POSIX_NET_(-1)
  int s = efisock_accept(net_, fd, a, len);
  if (s >= 0 && (flags & SOCK_NONBLOCK)) efisock_fcntl(net_, s, F_SETFL, O_NONBLOCK);
  return s;
}
static inline int connect(int fd, const struct sockaddr *a, socklen_t len) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_connect(net_, fd, a, len);
}
static inline ssize_t send(int fd, const void *b, size_t len, int flags) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_send(net_, fd, b, len, flags);
}
static inline ssize_t recv(int fd, void *b, size_t len, int flags) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_recv(net_, fd, b, len, flags);
}
static inline ssize_t sendto(int fd, const void *b, size_t len, int flags, const struct sockaddr *to,
                             socklen_t tolen) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_sendto(net_, fd, b, len, flags, to, tolen);
}
static inline ssize_t recvfrom(int fd, void *b, size_t len, int flags, struct sockaddr *from,
                               socklen_t *fromlen) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_recvfrom(net_, fd, b, len, flags, from, fromlen);
}
static inline ssize_t sendmsg(int fd, const struct msghdr *m, int flags) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_sendmsg(net_, fd, m, flags);
}
static inline ssize_t recvmsg(int fd, struct msghdr *m, int flags) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_recvmsg(net_, fd, m, flags);
}
/* read()/write() on a socket: recv()/send() without flags */
static inline ssize_t read(int fd, void *b, size_t len) { return recv(fd, b, len, 0); }
static inline ssize_t write(int fd, const void *b, size_t len) { return send(fd, b, len, 0); }
static inline int shutdown(int fd, int how) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_shutdown(net_, fd, how);
}
static inline int close(int fd) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_close(net_, fd);
}
static inline int getsockname(int fd, struct sockaddr *a, socklen_t *len) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_getsockname(net_, fd, a, len);
}
static inline int getpeername(int fd, struct sockaddr *a, socklen_t *len) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_getpeername(net_, fd, a, len);
}
static inline int setsockopt(int fd, int level, int name, const void *v, socklen_t len) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_setsockopt(net_, fd, level, name, v, len);
}
static inline int getsockopt(int fd, int level, int name, void *v, socklen_t *len) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_getsockopt(net_, fd, level, name, v, len);
}
/* fcntl(fd, F_GETFL) / fcntl(fd, F_SETFL, flags): the optional third argument */
static inline int efisock_posix_fcntl_(int fd, int cmd, long arg) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_fcntl(net_, fd, cmd, (int)arg);
}
#define EFISOCK_POSIX_FCNTL_(fd, cmd, arg, ...) efisock_posix_fcntl_((fd), (cmd), (long)(arg))
#define fcntl(...) EFISOCK_POSIX_FCNTL_(__VA_ARGS__, 0, 0)
static inline int ioctl(int fd, unsigned long request, void *arg) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_ioctl(net_, fd, request, arg);
}
static inline int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *timeout) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_select(net_, nfds, r, w, e, timeout);
}
static inline int poll(struct pollfd *fds, nfds_t nfds, int timeout_ms) {
  EFISOCK_POSIX_NET_(-1)
  return efisock_poll(net_, fds, (unsigned)nfds, timeout_ms);
}

/* ---- names ---- */
static inline int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                              struct addrinfo **res) {
  if (!efisock_posix_state_.net) return EAI_FAIL;
  return efisock_getaddrinfo(efisock_posix_state_.net, node, service, hints, res);
}
static inline void freeaddrinfo(struct addrinfo *res) {
  if (efisock_posix_state_.net) efisock_freeaddrinfo(efisock_posix_state_.net, res);
}
static inline const char *gai_strerror(int err) { return efisock_gai_strerror(err); }
static inline int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen,
                              char *serv, socklen_t servlen, int flags) {
  if (!efisock_posix_state_.net) return EAI_FAIL;
  return efisock_getnameinfo(efisock_posix_state_.net, sa, salen, host, hostlen, serv, servlen, flags);
}
static inline struct hostent *gethostbyname(const char *name) {
  EFISOCK_POSIX_NET_(NULL)
  return efisock_gethostbyname(net_, name);
}
static inline char *strerror(int err) { return (char *)efisock_strerror(err); }

/* ---- time: the attached clock, else efi-net's 10 ms tick ---- */
static inline uint64_t efisock_posix_now_ns_(void) {
  if (efisock_posix_state_.now_ns) return efisock_posix_state_.now_ns(efisock_posix_state_.clock_ctx);
  return efisock_posix_state_.net ? efinet_ticks(efisock_posix_state_.net) * 10000000ull : 0;
}
static inline int clock_gettime(clockid_t id, struct timespec *ts) {
  (void)id;
  uint64_t ns = efisock_posix_now_ns_();
  ts->tv_sec = (time_t)(ns / 1000000000ull);
  ts->tv_nsec = (long)(ns % 1000000000ull);
  return 0;
}
/* Sleeps through the stack's own wait (poll with no descriptors), so the
 * firmware keeps moving; without an instance it spins on the clock. */
static inline int nanosleep(const struct timespec *req, struct timespec *rem) {
  uint64_t ns = (uint64_t)req->tv_sec * 1000000000ull + (uint64_t)req->tv_nsec;
  if (rem) rem->tv_sec = 0, rem->tv_nsec = 0;
  if (efisock_posix_state_.net) {
    efisock_poll(efisock_posix_state_.net, NULL, 0, (int)((ns + 999999u) / 1000000u));
    return 0;
  }
  uint64_t end = efisock_posix_now_ns_() + ns;
  while (efisock_posix_state_.now_ns && efisock_posix_now_ns_() < end) {
  }
  return 0;
}
static inline unsigned sleep(unsigned s) {
  struct timespec ts = {(time_t)s, 0};
  nanosleep(&ts, NULL);
  return 0;
}
static inline int usleep(unsigned us) {
  struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
  return nanosleep(&ts, NULL);
}

#endif /* EFISOCK_POSIX_NO_NAMES */
#endif
