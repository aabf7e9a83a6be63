/* efi-net internals: the stack context, tokens, and the socket object.
 *
 * Completion model. Every firmware token lives inside an en_tok, and every
 * en_tok has its own event whose notify function does exactly two things:
 * set tok->done and signal the stack's wake event. Nothing is queued, nothing
 * is allocated, so no completion can be lost: the "queue" is the set of
 * tokens, bounded by construction. Socket state changes only at safe points
 * (en_progress), which scan for done tokens in posting order, so completions
 * signalled out of order (a quirk) are still consumed in the order the
 * firmware filled them.
 */
#ifndef EFINET_INTERNAL_H
#define EFINET_INTERNAL_H

#include <stdbool.h>
#include "efisock/socket.h"

#include "fwbase/rt.h"

#define EN_MAX_TOKENS 16
#define EN_TICK_100NS 100000u /* 10 ms coarse clock */
#define EN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct efinet;
struct en_sock;

/* The header every completion token type starts with. */
struct en_tokhdr {
  EFI_EVENT Event;
  EFI_STATUS Status;
};

struct en_tok {
  union {
    struct en_tokhdr hdr;
    EFI_TCP4_IO_TOKEN io;
    EFI_TCP4_CONNECTION_TOKEN conn;
    EFI_TCP4_LISTEN_TOKEN listen;
    EFI_TCP4_CLOSE_TOKEN close;
    EFI_UDP4_COMPLETION_TOKEN udp;
    EFI_DNS4_COMPLETION_TOKEN dns;
  } u;
  struct efinet *net;
  volatile uint8_t done; /* written only by the notify function */
  uint8_t posted;        /* handed to firmware, completion not yet consumed */
};

int en_tok_init(struct efinet *net, struct en_tok *t);
void en_tok_fini(struct efinet *net, struct en_tok *t); /* closes the event */
void en_tok_arm(struct en_tok *t);                      /* before handing to firmware */
static inline bool en_tok_complete(const struct en_tok *t) { return t->posted && t->done; }

/* A network service reached through a service binding: one child. */
struct en_child {
  EFI_SERVICE_BINDING_PROTOCOL *sb;
  EFI_HANDLE handle;
  void *proto;
};

/* A socket type's operations (tcp.c, udp.c). Nothing outside a type's file
 * touches that type's state (en_sock.u): the core calls through this table,
 * and every member is set (no NULL checks in the core).
 *
 * Return convention, here as everywhere inside efi-net: negative errno
 * (-EFISOCK_E...) on failure, >= 0 on success. The efisock_* / efinet_*
 * entry points convert once, with en_ret(). */
struct en_sock_ops {
  int (*init)(struct en_sock *s); /* tokens and defaults, at creation */
  int (*open)(struct en_sock *s); /* socket(): firmware resources needed from the start */
  int (*bind)(struct en_sock *s, const struct efisock_sockaddr_in *a);
  int (*listen)(struct en_sock *s, int backlog);
  int (*accept)(struct en_sock *s, struct en_sock **out);
  int (*connect)(struct en_sock *s, const struct efisock_sockaddr_in *a);
  efisock_ssize_t (*send)(struct en_sock *s, const void *buf, size_t len, int flags,
                          const struct efisock_sockaddr_in *to);
  efisock_ssize_t (*recv)(struct en_sock *s, void *buf, size_t len, int flags,
                          struct efisock_sockaddr_in *from);
  int (*shutdown)(struct en_sock *s, int how);
  /* Start closing (and, for a lingering socket, check on it). Returns true
   * when the socket can be aborted now, false when it must linger
   * (graceful close in progress). */
  bool (*close)(struct en_sock *s);
  /* Abort whatever is in flight (the firmware lets go of every token) and
   * release every resource; the socket object itself is freed by the core. */
  void (*abort)(struct en_sock *s);
  void (*progress)(struct en_sock *s); /* consume completions, repost tokens */
  void (*poll)(struct en_sock *s);     /* one Poll() of the socket's protocol */
  /* Work the firmware owes soon (Transmit, Connect, Close in flight). */
  bool (*busy)(struct en_sock *s);
  unsigned (*poll_mask)(struct en_sock *s);
  int (*sockname)(struct en_sock *s, struct efisock_sockaddr_in *out);
  int (*peername)(struct en_sock *s, struct efisock_sockaddr_in *out); /* -ENOTCONN */
  bool (*accepting)(struct en_sock *s); /* SO_ACCEPTCONN */
  /* SO_KEEPALIVE, SO_RCVBUF, SO_SNDBUF (SOL_SOCKET) and TCP_NODELAY
   * (IPPROTO_TCP), value already read: applied, or -errno saying why not. */
  int (*setopt)(struct en_sock *s, int level, int name, int value);
  int (*nread)(struct en_sock *s); /* FIONREAD: bytes readable, or -errno */
  /* IP_ADD_MEMBERSHIP (join) / IP_DROP_MEMBERSHIP. */
  int (*membership)(struct en_sock *s, bool join, const struct efisock_ip_mreq *m);
};

struct en_rxbuf {
  struct en_tok tok;
  EFI_TCP4_RECEIVE_DATA rxd;
  uint8_t *buf;
  uint32_t len, off; /* valid data [off, len) once complete */
  uint8_t state;     /* EN_RX_FREE, EN_RX_POSTED, EN_RX_DATA */
};
enum { EN_RX_FREE, EN_RX_POSTED, EN_RX_DATA };

struct en_txbuf {
  struct en_tok tok;
  EFI_TCP4_TRANSMIT_DATA txd;
  uint8_t *buf;
};

/* TCP socket states (tcp.c draws the diagram). */
enum en_tcp_state {
  EN_TCP_NEW,        /* no connection yet; the TCP4 child is not configured */
  EN_TCP_LISTEN,     /* configured passive; Accept token posted while backlog allows */
  EN_TCP_CONNECTING, /* Connect token outstanding */
  EN_TCP_CONNECTED,
  EN_TCP_CLOSING,    /* close()d: no descriptor, lingering until the firmware closes */
  EN_TCP_CLOSED,     /* failed, reset or closed: no more I/O */
};

struct en_tcp {
  enum en_tcp_state state;
  /* The only flags beside the state: they are independent of it. */
  bool rd_shut;        /* shutdown(SHUT_RD): reads return end of stream */
  bool wr_shut;        /* Close() posted (shutdown(SHUT_WR) or close()): no more sends */
  bool connect_report; /* non-blocking connect: success not yet reported by connect() */
  struct en_tok conn_tok;
  struct en_tok close_tok;
  struct en_rxbuf rx[EN_MAX_TOKENS];
  unsigned nrx, rx_read, rx_post; /* ring: read oldest, post next free in order */
  struct en_txbuf tx[EN_MAX_TOKENS];
  unsigned ntx;
  /* listening */
  struct en_tok listen_tok;
  struct en_sock *acq[EN_MAX_TOKENS * 4];
  unsigned acq_head, acq_len, backlog;
  uint64_t close_deadline; /* in ticks */
};

struct en_dgram {
  struct en_dgram *next;
  struct efisock_sockaddr_in from;
  uint32_t len;
  uint8_t data[];
};

struct en_udp {
  bool configured, connected;
  struct en_tok rx_tok;
  struct en_tok tx_tok[EN_MAX_TOKENS];
  EFI_UDP4_TRANSMIT_DATA txd[EN_MAX_TOKENS];
  EFI_UDP4_SESSION_DATA txsess[EN_MAX_TOKENS];
  uint8_t *txbuf[EN_MAX_TOKENS];
  unsigned ntx;
  struct en_dgram *q_head, *q_tail;
  uint32_t q_bytes;
  EFI_IPv4_ADDRESS groups[20]; /* multicast memberships, joined after every Configure() */
  unsigned ngroups;
};

struct en_sock {
  const struct en_sock_ops *ops;
  struct efinet *net;
  struct en_sock *next_zombie;
  int fd;
  int type;
  bool nonblock, reuseaddr, keepalive, nodelay, bound, rcvbuf_set;
  bool broadcast;      /* SO_BROADCAST: UDP may send to a broadcast address */
  bool linger;         /* SO_LINGER on: close() waits linger_s, or aborts when 0 */
  unsigned linger_s;
  int so_error; /* pending error (a positive errno, the SO_ERROR value): read and
                 * cleared only through en_sock_error() */
  unsigned rcvtimeo_ms, sndtimeo_ms; /* 0: forever */
  unsigned rcvbuf, sndbuf;
  struct efisock_sockaddr_in local, peer;
  struct en_child child;
  struct efinet_stats stats;
  union {
    struct en_tcp tcp;
    struct en_udp udp;
  } u;
};

struct efinet {
  EFI_HANDLE image;
  EFI_SYSTEM_TABLE *st;
  EFI_BOOT_SERVICES *bs;
  struct efinet_fwsource src;
  struct efinet_bs_source bs_src; /* src's state when no source was given */
  struct efinet_config cfg;
  int err; /* errno of the last failed call (written by en_ret alone) */
  int h_err;

  /* the NIC: every protocol below comes from this one handle */
  EFI_HANDLE nic;
  EFI_SERVICE_BINDING_PROTOCOL *tcp4_sb, *udp4_sb, *dns4_sb;
  EFI_IP4_CONFIG2_PROTOCOL *ip4cfg2;
  EFI_IP4_CONFIG_PROTOCOL *ip4cfg;

  /* learned address configuration */
  bool have_addr, explicit_addr;
  enum efinet_ipsource ipsource;
  EFI_IPv4_ADDRESS addr, mask, gateway;
  EFI_IPv4_ADDRESS dns[4];
  unsigned ndns;
  bool dns_overridden;
  /* Legacy IP4_CONFIG Start()ed by us: its events live until efinet_close()
   * (never Stop(): it loses the configuration, ipconfig.c). */
  EFI_EVENT legacy_done, legacy_reconfig;

  /* events: wake (signalled by every token notify), a deadline timer, a tick */
  EFI_EVENT wake, timer, tick;
  volatile uint64_t ticks;
  volatile uint64_t completions;
  uint64_t seen_completions;

  struct en_sock *fds[EFISOCK_MAX_SOCKETS];
  int fd_hi; /* one past the highest slot in use: the per-Poll loops stop there */
  bool rx_post_open; /* Receive tokens may be posted now (unless cfg.rx_keep_posted: always) */
  struct en_sock *zombies; /* closed by the program, still closing in firmware */
  struct en_tok *orphans[8]; /* tokens that could not be cancelled (DNS4) */
  struct efinet_stats stats;

  struct efisock_hostent hent;
  char hent_name[256];
  char *hent_addrs[9];
  struct efisock_in_addr hent_addrv[8];
  char *hent_aliases[1];
  uint64_t rng;
};

/* core.c */
void *en_alloc(struct efinet *net, size_t n); /* zeroed pool memory */
void en_free(struct efinet *net, void *p);
void en_progress(struct efinet *net);
/* Block until cond(arg) holds or the deadline passes. Polls the firmware
 * through the sockets' ops->poll per the poll policy. Returns 0, or -ETIMEDOUT. */
int en_wait(struct efinet *net, bool (*cond)(void *), void *arg, unsigned timeout_ms, bool forever);
/* Time a firmware call into stats.call_ns (when the config gives a clock). */
uint64_t en_clock(struct efinet *net);
void en_count_call(struct en_sock *s, uint64_t t0);
void en_count_poll(struct efinet *net, struct en_sock *s, bool productive);
uint32_t en_random(struct efinet *net);

int en_child_create(struct efinet *net, EFI_SERVICE_BINDING_PROTOCOL *sb, EFI_GUID *guid,
                    struct en_child *c);
void en_child_destroy(struct efinet *net, struct en_child *c);

int en_fd_alloc(struct efinet *net, struct en_sock *s); /* the fd, or -EMFILE */
struct en_sock *en_fd_get(struct efinet *net, int fd);
struct en_sock *en_sock_new(struct efinet *net, int type);
void en_sock_free(struct en_sock *s); /* aborts what is in flight, then frees */

/* ipconfig.c */
int en_ip_discover(struct efinet *net);               /* read what firmware has */
int en_ip_wait_addr(struct efinet *net, unsigned ms); /* wait for a usable address */
void en_ip_release(struct efinet *net);

/* tcp.c / udp.c */
extern const struct en_sock_ops en_tcp_ops, en_udp_ops;
/* TCP4/UDP4 Configure with efi-net's workarounds (quirks
 * default-address-already-started and no-mapping, efi-quirks/QUIRKS.md).
 * A wrapper of one firmware call, so it answers in the firmware's
 * convention (EFI_STATUS): the caller maps the status by context. */
EFI_STATUS en_configure_retry(struct efinet *net, void *cfgdata, bool udp, void *proto);
/* Quirk routes-not-applied: give the instance the IP4 default route. */
void en_add_default_route(struct efinet *net, void *proto, bool udp);

/* SO_RCVBUF / SO_SNDBUF as Linux stores them: doubled, with its minimum. */
static inline unsigned en_linux_buf(int v, unsigned min_half) {
  return v < (int)min_half ? 2u * min_half : (unsigned)v * 2u;
}

/* ---- the error convention ---- */

/* An EFI status as an internal return code: 0, or negative errno. */
static inline int en_status_rc(EFI_STATUS st) { return -efisock_status_to_errno(st); }

/* Read and clear a socket's pending error (as Linux's sock_error()):
 * returns it as a negative errno, or dflt when none is pending. */
static inline int en_sock_error(struct en_sock *s, int dflt) {
  int e = s->so_error;
  s->so_error = 0;
  return e ? -e : dflt;
}

/* The public boundary: an internal return code (negative errno, or >= 0)
 * in the socket API's convention (-1 with the instance's errno set, or the
 * value). The only place efinet.err is written. */
static inline int en_ret(struct efinet *net, int rc) {
  if (rc >= 0) return rc;
  net->err = -rc;
  return -1;
}
static inline efisock_ssize_t en_ret_ssize(struct efinet *net, efisock_ssize_t rc) {
  if (rc >= 0) return rc;
  net->err = (int)-rc;
  return -1;
}

/* helpers */
static inline uint32_t en_ip_u32(const EFI_IPv4_ADDRESS *a) {
  return (uint32_t)a->Addr[0] << 24 | (uint32_t)a->Addr[1] << 16 | (uint32_t)a->Addr[2] << 8 |
         a->Addr[3];
}
static inline EFI_IPv4_ADDRESS en_u32_ip(uint32_t v) {
  EFI_IPv4_ADDRESS a = {{(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v}};
  return a;
}
/* sin_addr (network order in memory) <-> EFI address (bytes in order) */
static inline EFI_IPv4_ADDRESS en_sin_ip(const struct efisock_in_addr *a) {
  EFI_IPv4_ADDRESS r;
  memcpy(r.Addr, &a->s_addr, 4);
  return r;
}
static inline struct efisock_in_addr en_ip_sin(const EFI_IPv4_ADDRESS *a) {
  struct efisock_in_addr r;
  memcpy(&r.s_addr, a->Addr, 4);
  return r;
}

#endif
