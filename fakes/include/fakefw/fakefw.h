/* fakefw: a fake UEFI firmware for the host.
 *
 * Boot services (events, TPL, timers on a virtual clock, pool, protocol
 * database) and the network protocols (TCP4, UDP4, IP4_CONFIG2, legacy
 * IP4_CONFIG, DNS4 and their service bindings), all EFIAPI, so efi-net runs
 * on it unchanged. Behind the protocols is a deterministic simulated network
 * whose peers tests script. Time never passes by itself: it advances only
 * inside firmware calls (Poll costs 5 us, WaitForEvent skips to the next
 * timer), so tests never sleep and every run is identical.
 *
 * Defaults follow what Debian's OVMF measured (shared/design/efi-sockets.md):
 * one TCP segment per Receive completion, Transmit completes on ACK, one
 * inbound frame per Poll() and otherwise one per 10 ms tick, DHCP takes about
 * 3 s, EFI_NO_MAPPING until an address is configured.
 */
#ifndef FAKEFW_H
#define FAKEFW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fwnet/uefi_net.h"

struct fakefw;
struct fnet;
struct fconn;

/* How the fake EFI_DNS4 behaves. */
enum fakefw_dns4_model {
  FAKEFW_DNS4_IDEAL = 0,   /* answers as a resolver would: NXDOMAIN is EFI_NOT_FOUND, CNAME
                              chains are followed */
  FAKEFW_DNS4_EDK2_202211, /* OVMF edk2-stable202211's DnsDxe: an NXDOMAIN answer is not final
                              (tries until EFI_TIMEOUT), a chain of two CNAMEs gives no address
                              (EFI_NOT_FOUND), a truncated answer fails (no TCP path) */
};

struct fakefw_opts {
  unsigned nics;            /* NIC handles carrying the network stack (default 1) */
  bool no_ip4config2;       /* firmware without EFI_IP4_CONFIG2 */
  bool legacy_ip4config;    /* firmware with the legacy EFI_IP4_CONFIG */
  bool no_dns4;             /* firmware without EFI_DNS4 */
  enum fakefw_dns4_model dns4_model;
  bool no_udp4;
  bool rng;                 /* firmware with EFI_RNG_PROTOCOL */
  bool policy_static;       /* Ip4Config2 policy starts Static (Feb 2016 - Oct 2017 EDK2) */
  bool no_auto_dhcp;        /* ...and Configure(UseDefaultAddress) never starts DHCP (that bug) */
  bool dhcp_silent;         /* no DHCP server on the LAN */
  bool close_is_full_close; /* EDK2's TcpInput: data arriving after Close() resets (QUIRKS.md) */
  unsigned dhcp_ms;         /* DHCP duration (default 3100: EDK2 collects offers ~3 s) */
  unsigned tcp_rcvbuf;      /* default TCP receive buffer when no ControlOption (65536) */
  uint64_t time_limit_ms;   /* virtual time after which a run is declared hung (default 3600000) */
  const char *vendor;       /* FirmwareVendor (default "fwnet fake firmware") */
};

struct fakefw *fakefw_create(const struct fakefw_opts *opts);
void fakefw_destroy(struct fakefw *fw);
EFI_SYSTEM_TABLE *fakefw_st(struct fakefw *fw);
EFI_HANDLE fakefw_image(struct fakefw *fw);
struct fnet *fakefw_net(struct fakefw *fw);
EFI_HANDLE fakefw_nic_handle(struct fakefw *fw, unsigned i);

/* virtual clock */
uint64_t fakefw_now_ns(struct fakefw *fw);
void fakefw_advance(struct fakefw *fw, uint64_t ns); /* runs timers on the way */
uint64_t fakefw_idle_ns(struct fakefw *fw);          /* time spent halted in WaitForEvent */
uint64_t fakefw_busy_ns(struct fakefw *fw);          /* time charged to calls (Poll, ...) */

/* Leak accounting: what the program still holds. Every test ends with all
 * zero after efinet_close(). */
struct fakefw_leaks {
  unsigned events;          /* events created through boot services, not closed */
  unsigned pool_blocks;     /* AllocatePool blocks not freed */
  unsigned children;        /* service-binding children not destroyed */
  unsigned tokens;          /* tokens handed to protocols, not yet signalled */
  unsigned rx_buffers;      /* UDP4 receive buffers not recycled */
  unsigned open_timers;     /* timers still armed on program events */
};
void fakefw_leaks(struct fakefw *fw, struct fakefw_leaks *out);
bool fakefw_leak_free(struct fakefw *fw, char *why, size_t n); /* text for a failed assert */

/* Counters of what crossed the fake firmware. */
struct fakefw_counters {
  uint64_t polls, frames_in, frames_out, ticks;
  uint64_t tcp_configure, tcp_connect, tcp_receive, tcp_transmit, tcp_close, routes_added;
  uint64_t udp_transmit, udp_receive, dns4_queries, dns_server_queries, dhcp_runs;
};
void fakefw_counters(struct fakefw *fw, struct fakefw_counters *out);

/* ---- the simulated network ---- */

/* Addresses are host-order uint32 (FNET_IP(10,0,2,2)). Defaults, as slirp's:
 * guest 10.0.2.15/24 by DHCP, gateway 10.0.2.2, DNS 10.0.2.3. Nothing here
 * touches a real network: the LAN exists only in memory. */
#define FNET_IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

enum fnet_host_kind {
  FNET_HOST_UP,          /* answers (RST on closed ports) */
  FNET_HOST_BLACKHOLE,   /* never answers: connects time out */
  FNET_HOST_UNREACH_NET, /* the router answers ICMP network unreachable */
  FNET_HOST_UNREACH_HOST,/* the router answers ICMP host unreachable */
};
void fnet_host(struct fnet *n, uint32_t ip, enum fnet_host_kind kind);
void fnet_set_dhcp(struct fnet *n, uint32_t addr, uint32_t mask, uint32_t gw, uint32_t dns);
/* Each inbound frame waits this long on the wire before it can be taken. */
void fnet_set_latency(struct fnet *n, uint64_t ns);

struct fpeer_ops {
  void (*on_connect)(struct fconn *c, void *user);
  void (*on_data)(struct fconn *c, const uint8_t *d, size_t n, void *user);
  void (*on_fin)(struct fconn *c, void *user);
  void (*on_reset)(struct fconn *c, void *user);
  void (*on_refused)(struct fconn *c, void *user); /* a peer-initiated connect failed */
};

/* Peers listening on the LAN (ip,port). backlog 0 = unlimited. */
void fnet_tcp_listen(struct fnet *n, uint32_t ip, uint16_t port, const struct fpeer_ops *ops,
                     void *user);
void fnet_tcp_unlisten(struct fnet *n, uint32_t ip, uint16_t port);
/* Peer opens a connection to the guest (guest listens). */
struct fconn *fnet_tcp_connect(struct fnet *n, uint32_t src_ip, uint32_t dst_ip, uint16_t port,
                               const struct fpeer_ops *ops, void *user);
void fnet_conn_send(struct fconn *c, const void *d, size_t n);
void fnet_conn_close(struct fconn *c); /* FIN after queued data */
void fnet_conn_reset(struct fconn *c);
void fnet_conn_set_reading(struct fconn *c, bool reading); /* false: window closes */
const uint8_t *fnet_conn_received(struct fconn *c, size_t *len);
bool fnet_conn_got_fin(struct fconn *c);
bool fnet_conn_got_reset(struct fconn *c);
bool fnet_conn_established(struct fconn *c);
uint16_t fnet_conn_guest_port(struct fconn *c);
/* The ControlOption the guest's TCP4 instance was configured with (false:
 * none given, or the guest side is gone). */
bool fnet_conn_guest_options(struct fconn *c, EFI_TCP4_OPTION *out);
struct fconn *fnet_last_conn(struct fnet *n); /* most recent connection */
unsigned fnet_conn_count(struct fnet *n);

/* Ready-made peers. */
void fnet_peer_echo(struct fnet *n, uint32_t ip, uint16_t port);    /* echoes; closes on FIN */
void fnet_peer_discard(struct fnet *n, uint32_t ip, uint16_t port); /* reads; closes on FIN */
void fnet_peer_source(struct fnet *n, uint32_t ip, uint16_t port, size_t bytes, bool close_after);
void fnet_peer_reset_after(struct fnet *n, uint32_t ip, uint16_t port, size_t bytes);

typedef void (*fnet_udp_cb)(struct fnet *n, uint32_t src, uint16_t sport, uint32_t dst,
                            uint16_t dport, const uint8_t *d, size_t len, void *user);
void fnet_udp_bind(struct fnet *n, uint32_t ip, uint16_t port, fnet_udp_cb cb, void *user);
void fnet_udp_send(struct fnet *n, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                   const void *d, size_t len);
void fnet_peer_udp_echo(struct fnet *n, uint32_t ip, uint16_t port);

/* Scripted DNS server (answers the built-in resolver over UDP/TCP 53 and
 * backs the fake DNS4 protocol). */
enum fnet_dns_fault {
  FNET_DNS_OK,
  FNET_DNS_NXDOMAIN,
  FNET_DNS_SERVFAIL,
  FNET_DNS_DROP,         /* no answer: timeout */
  FNET_DNS_TRUNCATE,     /* TC set over UDP; the full answer over TCP */
  FNET_DNS_WRONG_ID,     /* answer with another transaction id */
  FNET_DNS_WRONG_SOURCE, /* answer from another address */
  FNET_DNS_MALFORMED,    /* answer cut in the middle of a record */
  FNET_DNS_POINTER_LOOP, /* answer whose name compression loops */
};
void fnet_dns_server(struct fnet *n, uint32_t ip);
void fnet_dns_add_a(struct fnet *n, const char *name, uint32_t ip);
void fnet_dns_add_cname(struct fnet *n, const char *name, const char *target);
/* Apply fault to the next `count` queries (0: all), then answer normally. */
void fnet_dns_fault(struct fnet *n, enum fnet_dns_fault f, unsigned count);
void fnet_dns_delay(struct fnet *n, uint64_t ns);
unsigned fnet_dns_queries(struct fnet *n);

#endif
