/* efi-net: BSD sockets over UEFI network protocols.
 *
 * Every call takes the stack instance (efinet_t) explicitly. Constants and
 * errno values are Linux's, so results compare directly with the Linux
 * reference backend; the stateless part of the vocabulary (errno values and
 * names, byte order, address text) is fwbase's, re-exported here.
 */
#ifndef EFISOCK_SOCKET_H
#define EFISOCK_SOCKET_H

#include <stddef.h>
#include <stdint.h>
#include "fwbase/errno.h"
#include "fwbase/inet.h"
#include "fwnet/uefi_net.h"

typedef struct efinet efinet_t;
typedef intptr_t efisock_ssize_t;

/* ---- families, types, protocols, flags ---- */
#define EFISOCK_AF_UNSPEC 0
#define EFISOCK_SOCK_STREAM 1
#define EFISOCK_SOCK_DGRAM 2
#define EFISOCK_SOCK_NONBLOCK 04000
#define EFISOCK_IPPROTO_IP 0
#define EFISOCK_IPPROTO_TCP 6
#define EFISOCK_IPPROTO_UDP 17
#define EFISOCK_INADDR_ANY 0u

#define EFISOCK_MSG_PEEK 0x2
#define EFISOCK_MSG_TRUNC 0x20
#define EFISOCK_MSG_DONTWAIT 0x40
#define EFISOCK_MSG_WAITALL 0x100
#define EFISOCK_MSG_NOSIGNAL 0x4000

#define EFISOCK_SHUT_RD 0
#define EFISOCK_SHUT_WR 1
#define EFISOCK_SHUT_RDWR 2

#define EFISOCK_SOL_SOCKET 1
#define EFISOCK_SO_REUSEADDR 2
#define EFISOCK_SO_TYPE 3
#define EFISOCK_SO_ERROR 4
#define EFISOCK_SO_SNDBUF 7
#define EFISOCK_SO_RCVBUF 8
#define EFISOCK_SO_BROADCAST 6
#define EFISOCK_SO_KEEPALIVE 9
#define EFISOCK_SO_LINGER 13
#define EFISOCK_SO_RCVTIMEO 20
#define EFISOCK_SO_SNDTIMEO 21
#define EFISOCK_SO_ACCEPTCONN 30
#define EFISOCK_TCP_NODELAY 1
#define EFISOCK_IP_ADD_MEMBERSHIP 35 /* struct efisock_ip_mreq, level IPPROTO_IP */
#define EFISOCK_IP_DROP_MEMBERSHIP 36

/* ioctl requests (Linux's values) */
#define EFISOCK_FIONREAD 0x541B /* int: bytes readable (UDP: the next datagram's size) */
#define EFISOCK_FIONBIO 0x5421  /* int: non-zero sets O_NONBLOCK */

#define EFISOCK_F_GETFL 3
#define EFISOCK_F_SETFL 4
#define EFISOCK_O_NONBLOCK 04000

#define EFISOCK_POLLIN 0x001
#define EFISOCK_POLLPRI 0x002
#define EFISOCK_POLLOUT 0x004
#define EFISOCK_POLLERR 0x008
#define EFISOCK_POLLHUP 0x010
#define EFISOCK_POLLNVAL 0x020

#define EFISOCK_FD_SETSIZE 256
#define EFISOCK_MAX_SOCKETS 64
#define EFISOCK_FD_BASE 3 /* first descriptor handed out, as after stdio on Linux */

struct efisock_in_addr {
  uint32_t s_addr; /* network byte order */
};
struct efisock_sockaddr {
  uint16_t sa_family;
  char sa_data[14];
};
struct efisock_sockaddr_in {
  uint16_t sin_family;
  uint16_t sin_port; /* network byte order */
  struct efisock_in_addr sin_addr;
  uint8_t sin_zero[8];
};
struct efisock_ip_mreq {
  struct efisock_in_addr imr_multiaddr; /* the group */
  struct efisock_in_addr imr_interface; /* INADDR_ANY or the instance's address */
};
struct efisock_linger {
  int l_onoff;  /* close() lingers ... */
  int l_linger; /* ... this many seconds; 0: abortive close (RST) */
};
struct efisock_iovec {
  void *iov_base;
  size_t iov_len;
};
struct efisock_msghdr {
  void *msg_name; /* struct efisock_sockaddr_in: destination / source, or NULL */
  efisock_socklen_t msg_namelen;
  struct efisock_iovec *msg_iov;
  size_t msg_iovlen; /* at most EFISOCK_IOV_MAX */
  void *msg_control; /* no ancillary data: recvmsg sets msg_controllen 0 */
  size_t msg_controllen;
  int msg_flags; /* recvmsg: EFISOCK_MSG_TRUNC when a datagram was cut */
};
#define EFISOCK_IOV_MAX 1024
struct efisock_timeval {
  int64_t tv_sec;
  int64_t tv_usec;
};
struct efisock_pollfd {
  int fd;
  short events;
  short revents;
};
typedef struct {
  uint64_t bits[EFISOCK_FD_SETSIZE / 64];
} efisock_fd_set;

#define EFISOCK_FD_ZERO(s) \
  do { for (unsigned _i = 0; _i < EFISOCK_FD_SETSIZE / 64; _i++) (s)->bits[_i] = 0; } while (0)
#define EFISOCK_FD_SET(fd, s) ((s)->bits[(unsigned)(fd) / 64] |= (1ull << ((unsigned)(fd) % 64)))
#define EFISOCK_FD_CLR(fd, s) ((s)->bits[(unsigned)(fd) / 64] &= ~(1ull << ((unsigned)(fd) % 64)))
#define EFISOCK_FD_ISSET(fd, s) (((s)->bits[(unsigned)(fd) / 64] >> ((unsigned)(fd) % 64)) & 1u)

/* ---- name resolution ---- */
#define EFISOCK_AI_PASSIVE 0x1
#define EFISOCK_AI_CANONNAME 0x2
#define EFISOCK_AI_NUMERICHOST 0x4
#define EFISOCK_AI_NUMERICSERV 0x400
#define EFISOCK_NI_NUMERICHOST 1
#define EFISOCK_NI_NUMERICSERV 2
#define EFISOCK_NI_NAMEREQD 8
#define EFISOCK_HOST_NOT_FOUND 1
#define EFISOCK_TRY_AGAIN 2
#define EFISOCK_NO_RECOVERY 3
#define EFISOCK_NO_DATA 4

struct efisock_addrinfo {
  int ai_flags;
  int ai_family;
  int ai_socktype;
  int ai_protocol;
  efisock_socklen_t ai_addrlen;
  struct efisock_sockaddr *ai_addr;
  char *ai_canonname;
  struct efisock_addrinfo *ai_next;
};
struct efisock_hostent {
  char *h_name;
  char **h_aliases;
  int h_addrtype;
  int h_length;
  char **h_addr_list;
};

/* ---- stack instance ---- */

/* Where protocol interfaces come from. The default reads the boot services'
 * handle database; the quirk layer (efi-quirks) supplies one that wraps
 * every interface it hands out. */
struct efinet_fwsource {
  /* Handles carrying proto; *handles is pool memory the caller frees. */
  EFI_STATUS (*locate)(void *self, EFI_GUID *proto, UINTN *count, EFI_HANDLE **handles);
  EFI_STATUS (*get)(void *self, EFI_HANDLE handle, EFI_GUID *proto, void **iface);
  void *self;
};

/* The default source: the boot services' handle database, interfaces opened
 * GET_PROTOCOL on behalf of image. Also what a wrapping source (the quirk
 * layer) sits on when it is not given another. Returns &s->src. */
struct efinet_bs_source {
  struct efinet_fwsource src;
  EFI_BOOT_SERVICES *bs;
  EFI_HANDLE image;
};
const struct efinet_fwsource *efinet_bs_source_init(struct efinet_bs_source *s, EFI_BOOT_SERVICES *bs,
                                                    EFI_HANDLE image);

enum efinet_poll_policy {
  EFINET_POLL_ADAPTIVE = 0, /* Poll while it makes progress, then sleep on events */
  EFINET_POLL_ALWAYS,       /* Poll on every wait iteration, never sleep (BITS-like) */
  EFINET_POLL_NEVER,        /* never Poll; rely on the firmware's timer tick */
};

/* Which resolver answers getaddrinfo/gethostbyname.
 *
 * The default is the built-in resolver first, because it is the one that
 * gives Linux's answers on OVMF: it asks over UDP4 as glibc does, takes
 * NXDOMAIN as final, follows CNAME chains, and retries over TCP after a
 * truncated answer, while OVMF's DnsDxe (edk2-stable202211) retries an
 * NXDOMAIN until EFI_TIMEOUT, does not follow a two-step CNAME chain and
 * has no TCP path. DNS4 first with fallback reaches the same answers but an
 * NXDOMAIN costs DnsDxe's whole retry schedule first. */
enum efinet_dns_policy {
  EFINET_DNS_BUILTIN_FIRST = 0, /* built-in; DNS4 only when the built-in cannot ask (no UDP4,
                                   no server address known, no socket) */
  EFINET_DNS_DNS4_FIRST,        /* DNS4; the built-in when DNS4 times out, fails or finds
                                   nothing (its NXDOMAIN and truncation are not trusted) */
  EFINET_DNS_DNS4_ONLY,         /* DNS4 and nothing else (EAI_FAIL without DNS4) */
  EFINET_DNS_BUILTIN_ONLY,      /* never DNS4 */
};

struct efinet_config {
  EFI_HANDLE image;
  EFI_SYSTEM_TABLE *st;
  const struct efinet_fwsource *source; /* NULL: boot services */
  unsigned nic_index;                   /* n-th handle carrying TCP4 service binding */
  enum efinet_poll_policy poll_policy;
  /* adaptive: how long to keep polling without progress before sleeping
   * (default 3000 us). Measured with clock_ns when given; without a clock it
   * is approximated as spin_us/5 Polls. At most spin_us Polls either way
   * (a clock that does not advance cannot make it spin forever). */
  unsigned poll_spin_us;
  uint64_t (*clock_ns)(void *ctx); /* monotonic nanoseconds, or NULL */
  void *clock_ctx;
  unsigned rx_tokens;        /* TCP Receive tokens per socket (default 4, max 16) */
  unsigned rx_token_size;    /* bytes per Receive token (default 16384) */
  int rx_keep_posted;        /* 1: all rx_tokens stay posted through Polls; default 0: one,
                                posted only after a Poll (tcp.c says why) */
  unsigned tx_tokens;        /* Transmit tokens per socket (default 4, max 16) */
  unsigned tx_token_size;    /* bytes per Transmit token (default 65536) */
  unsigned close_timeout_ms; /* graceful close deadline before abort (default 5000) */
  unsigned config_timeout_ms;/* deadline for address configuration waits (default 10000) */
  unsigned dns_timeout_ms;   /* per-try resolver timeout (default 2000) */
  unsigned dns_retries;      /* resolver tries per server, DNS4 and built-in alike (default 2;
                                DNS4 cannot do fewer than 2: RetryCount 0 is its default) */
  enum efinet_dns_policy dns_policy;
  int use_builtin_resolver;  /* ignore DNS4 even when the firmware has it: dns_policy
                                EFINET_DNS_BUILTIN_ONLY, whatever dns_policy says */
  int no_connect;            /* do not ConnectController() when no NIC is started */
  unsigned plant_poll_repeat;/* test only (fwnet bench --plant poll2x): each Poll made this many
                                times, each counted (0, 1: once). A planted regression. */
};

enum efinet_ipmethod {
  EFINET_IP_KEEP = 0, /* use whatever the firmware has (DHCP by default on EDK2) */
  EFINET_IP_DHCP,     /* (re)start DHCP and wait for an address */
  EFINET_IP_STATIC,   /* set the given address */
};

struct efinet_ipconfig {
  enum efinet_ipmethod method;
  struct efisock_in_addr addr, mask, gateway;
  struct efisock_in_addr dns[2];
  unsigned ndns;
  unsigned timeout_ms; /* 0: the instance's config_timeout_ms */
};

enum efinet_ipsource { EFINET_SRC_NONE, EFINET_SRC_IP4CONFIG2, EFINET_SRC_IP4CONFIG, EFINET_SRC_EXPLICIT };

struct efinet_ipinfo {
  struct efisock_in_addr addr, mask, gateway;
  struct efisock_in_addr dns[4];
  unsigned ndns;
  enum efinet_ipsource source;
  int has_tcp4, has_udp4, has_ip4config2, has_ip4config, has_dns4;
};

/* Counters fwnet regression-tests Poll frequency and throughput from. */
struct efinet_stats {
  uint64_t polls;            /* Poll() calls */
  uint64_t polls_productive; /* ... after which some completion had arrived */
  uint64_t waits;            /* WaitForEvent() calls (idle sleeps) */
  uint64_t completions;      /* token notify callbacks */
  uint64_t rx_posted, rx_completed, rx_bytes;
  uint64_t rx_early;         /* TCP Receives completed inside the call (data was buffered) */
  uint64_t tx_posted, tx_completed, tx_bytes;
  uint64_t accepts, connects, resets;
  uint64_t udp_dropped;      /* datagrams dropped, receive queue full */
  uint64_t ticks;            /* 10 ms ticks seen (coarse clock) */
  uint64_t poll_ns;          /* time inside Poll() (the firmware's stack and our
                                notifies), when the config gives a clock */
  uint64_t call_ns;          /* time inside Receive() and Transmit() */
  uint64_t wait_ns;          /* time asleep in WaitForEvent() */
  uint64_t tx_at_poll;       /* Transmit tokens in flight at each TCP Poll(), summed: over
                                polls, the transmit pipeline's mean depth */
};

int efinet_open(efinet_t **out, const struct efinet_config *cfg); /* 0 or errno */
void efinet_close(efinet_t *net); /* closes every socket, releases everything */
int efinet_ip_configure(efinet_t *net, const struct efinet_ipconfig *cfg);
int efinet_ip_info(efinet_t *net, struct efinet_ipinfo *out);
int efinet_set_dns(efinet_t *net, const struct efisock_in_addr *servers, unsigned n);
void efinet_set_poll_policy(efinet_t *net, enum efinet_poll_policy p);
int efinet_get_stats(efinet_t *net, int fd, struct efinet_stats *out); /* fd -1: global */
uint64_t efinet_ticks(efinet_t *net);
void efinet_progress(efinet_t *net); /* run a safe point: gather completions, repost */

/* ---- sockets ---- */
int efisock_errno(efinet_t *net);
int *efisock_errno_location(efinet_t *net);

int efisock_socket(efinet_t *net, int domain, int type, int protocol);
int efisock_bind(efinet_t *net, int fd, const struct efisock_sockaddr *a, efisock_socklen_t len);
int efisock_listen(efinet_t *net, int fd, int backlog);
int efisock_accept(efinet_t *net, int fd, struct efisock_sockaddr *a, efisock_socklen_t *len);
int efisock_connect(efinet_t *net, int fd, const struct efisock_sockaddr *a, efisock_socklen_t len);
efisock_ssize_t efisock_send(efinet_t *net, int fd, const void *buf, size_t len, int flags);
efisock_ssize_t efisock_recv(efinet_t *net, int fd, void *buf, size_t len, int flags);
efisock_ssize_t efisock_sendto(efinet_t *net, int fd, const void *buf, size_t len, int flags,
                               const struct efisock_sockaddr *to, efisock_socklen_t tolen);
efisock_ssize_t efisock_recvfrom(efinet_t *net, int fd, void *buf, size_t len, int flags,
                                 struct efisock_sockaddr *from, efisock_socklen_t *fromlen);
/* sendmsg: msg_control must be empty (EOPNOTSUPP otherwise). */
efisock_ssize_t efisock_sendmsg(efinet_t *net, int fd, const struct efisock_msghdr *m, int flags);
efisock_ssize_t efisock_recvmsg(efinet_t *net, int fd, struct efisock_msghdr *m, int flags);
int efisock_shutdown(efinet_t *net, int fd, int how);
int efisock_close(efinet_t *net, int fd);
int efisock_getsockname(efinet_t *net, int fd, struct efisock_sockaddr *a, efisock_socklen_t *len);
int efisock_getpeername(efinet_t *net, int fd, struct efisock_sockaddr *a, efisock_socklen_t *len);
int efisock_setsockopt(efinet_t *net, int fd, int level, int name, const void *val,
                       efisock_socklen_t len);
int efisock_getsockopt(efinet_t *net, int fd, int level, int name, void *val,
                       efisock_socklen_t *len);
int efisock_fcntl(efinet_t *net, int fd, int cmd, int arg);
/* EFISOCK_FIONBIO, EFISOCK_FIONREAD; anything else EINVAL (fwbase has no ENOTTY). */
int efisock_ioctl(efinet_t *net, int fd, unsigned long request, void *arg);
int efisock_select(efinet_t *net, int nfds, efisock_fd_set *r, efisock_fd_set *w,
                   efisock_fd_set *e, struct efisock_timeval *timeout);
int efisock_poll(efinet_t *net, struct efisock_pollfd *fds, unsigned nfds, int timeout_ms);

/* ---- addresses and names ---- */
int efisock_getaddrinfo(efinet_t *net, const char *node, const char *service,
                        const struct efisock_addrinfo *hints, struct efisock_addrinfo **res);
void efisock_freeaddrinfo(efinet_t *net, struct efisock_addrinfo *res);
struct efisock_hostent *efisock_gethostbyname(efinet_t *net, const char *name);
int efisock_h_errno(efinet_t *net);
int efisock_getnameinfo(efinet_t *net, const struct efisock_sockaddr *sa, efisock_socklen_t salen,
                        char *host, efisock_socklen_t hostlen, char *serv,
                        efisock_socklen_t servlen, int flags);

/* The errno for an EFI status returned by a network protocol (one table,
 * efi-net/src/errno.c). EFI_CONNECTION_FIN maps to 0: end of stream. */
int efisock_status_to_errno(EFI_STATUS s);
const char *efisock_status_name(EFI_STATUS s);

#endif
