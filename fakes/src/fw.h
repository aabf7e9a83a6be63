/* Internals of the fake firmware. One instance at a time: the EFI boot
 * services ABI passes no context to its functions, so the active instance is
 * the one static pointer (fw_active) that every service reads. */
#ifndef FAKEFW_FW_H
#define FAKEFW_FW_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fakefw/fakefw.h"
#include "fwbase/dnszone.h"

#define FW_EVENT_MAGIC 0x45564e54u /* "EVNT" */
#define FW_EVENT_DEAD 0x44454144u
#define FW_POOL_MAGIC 0x504f4f4cu
#define FW_HANDLE_MAGIC 0x48414e44u
#define FW_NS_MS 1000000ull
#define FW_POLL_COST_NS 5000ull /* an empty Poll measured ~5 us of guest time */
#define FW_CHECK_COST_NS 100ull
#define FW_TICK_NS (10 * FW_NS_MS)

struct fevent {
  uint32_t magic;
  uint32_t type;
  EFI_TPL tpl;
  EFI_EVENT_NOTIFY fn;
  void *ctx;
  bool internal; /* the firmware's own, not the program's */
  bool signaled;
  bool pending;
  uint64_t pending_seq;
  bool armed;
  uint64_t trigger, period;
  struct fevent *next;
};

struct fpool {
  uint32_t magic;
  size_t size;
  struct fpool *prev, *next;
};

#define FW_MAX_PROTOS 12
struct fhandle {
  uint32_t magic;
  unsigned np;
  struct {
    EFI_GUID guid;
    void *iface;
  } p[FW_MAX_PROTOS];
  struct fhandle *next;
};

struct fnet;

struct fakefw {
  EFI_SYSTEM_TABLE st;
  EFI_BOOT_SERVICES bs;
  EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL conout;
  EFI_RNG_PROTOCOL rng;
  struct fakefw_opts opts;
  uint64_t now, idle, busy, limit;
  EFI_TPL tpl;
  struct fevent *events;
  uint64_t pending_seq;
  struct fpool *pool;
  unsigned pool_blocks;
  struct fhandle *handles;
  struct fhandle *image;
  struct fnet *net;
  struct fakefw_counters ctr;
  unsigned violations;
  char violation[256];
  uint64_t mono;
  uint64_t rng_state;
};

extern struct fakefw *fw_active;

/* EFI_IPv4_ADDRESS <-> host-order uint32 (the fake network's addresses) */
static inline uint32_t ip_of(const EFI_IPv4_ADDRESS *a) {
  return (uint32_t)a->Addr[0] << 24 | (uint32_t)a->Addr[1] << 16 | (uint32_t)a->Addr[2] << 8 | a->Addr[3];
}
static inline EFI_IPv4_ADDRESS ip_to(uint32_t v) {
  EFI_IPv4_ADDRESS a = {{(UINT8)(v >> 24), (UINT8)(v >> 16), (UINT8)(v >> 8), (UINT8)v}};
  return a;
}

/* boot services, for the fake's own use */
void fw_violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct fevent *fw_event_new(uint32_t type, EFI_TPL tpl, EFI_EVENT_NOTIFY fn, void *ctx, bool internal);
void fw_event_free(struct fevent *e);
void fw_signal(struct fevent *e);
void fw_set_timer(struct fevent *e, EFI_TIMER_DELAY type, uint64_t ns);
void fw_charge(uint64_t ns);
void *fw_pool_alloc(size_t n);
void fw_pool_free(void *p);
struct fhandle *fw_handle_new(void);
EFI_STATUS fw_install(struct fhandle *h, const EFI_GUID *g, void *iface);
EFI_STATUS fw_uninstall(struct fhandle *h, const EFI_GUID *g);
void fw_handle_free(struct fhandle *h);
bool fw_guid_eq(const EFI_GUID *a, const EFI_GUID *b);
bool fw_event_valid(EFI_EVENT e);
/* Complete a firmware token: set its status, then signal its event. */
void fw_complete(EFI_EVENT ev, EFI_STATUS *status_field, EFI_STATUS st);

/* ---- network ---- */

enum ftcp_state {
  FT_CLOSED,
  FT_LISTEN,
  FT_SYN_SENT,
  FT_ESTABLISHED,
  FT_FIN_WAIT,  /* our FIN sent, peer's not yet */
  FT_CLOSE_WAIT,/* peer's FIN received, ours not sent */
  FT_LAST_ACK,  /* both FINs sent/received, waiting for ours to be acked */
  FT_TIME_WAIT,
  FT_RESET,
};

#define FQ_MAX 128
struct fq {
  void *t[FQ_MAX];
  unsigned h, n;
};
bool fq_push(struct fq *q, void *t);
void *fq_peek(struct fq *q);
void *fq_pop(struct fq *q);
bool fq_remove(struct fq *q, void *t);

struct fseg {
  struct fseg *next;
  size_t len, off;
  uint8_t data[];
};

struct fnic;
struct fconn;

struct ftcp {
  EFI_TCP4_PROTOCOL proto;
  uint32_t id;
  struct fnic *nic;
  struct fhandle *handle;
  struct ftcp *next;
  bool configured, active, has_routes;
  EFI_TCP4_CONFIG_DATA cfg; /* cfg.ControlOption points at opt, or is NULL */
  EFI_TCP4_OPTION opt;      /* a copy: the caller's lives only during Configure() */
  bool has_opt;
  uint32_t laddr, raddr, mask;
  uint16_t lport, rport;
  uint32_t rcvbuf, backlog;
  enum ftcp_state state;
  struct fconn *conn;
  EFI_TCP4_CONNECTION_TOKEN *conn_tok;
  uint64_t conn_deadline;
  EFI_TCP4_CLOSE_TOKEN *close_tok;
  struct fq rxq, txq, acceptq;
  size_t tx_left[FQ_MAX]; /* unacked bytes of each txq token, by slot */
  struct fseg *seg_head, *seg_tail;
  size_t buffered;
  bool rcv_fin, fin_queued, fin_sent, fin_acked;
  uint8_t *unsent;
  size_t unsent_len, unsent_cap;
  struct fq pending; /* listener: accepted connections awaiting Accept() */
  struct ftcp *listener;
};

struct fudp_dgram {
  struct fudp_dgram *next;
  uint32_t src;
  uint16_t sport;
  size_t len;
  uint8_t data[];
};

struct frxbuf {
  struct frxbuf *next, *prev;
  struct fnet *net;
  struct fevent *recycle;
  EFI_UDP4_RECEIVE_DATA rx;
  uint8_t data[];
};

struct fudp {
  EFI_UDP4_PROTOCOL proto;
  uint32_t id;
  struct fnic *nic;
  struct fhandle *handle;
  struct fudp *next;
  bool configured, dup_ok, has_routes, bcast; /* bcast: AcceptBroadcast */
  uint32_t laddr, raddr, mask;
  uint16_t lport, rport;
  uint32_t groups[16]; /* joined by Groups(), host order */
  unsigned ngroups;
  struct fq rxq, txq;
  struct fudp_dgram *q_head, *q_tail;
  unsigned qn;
};

struct fdns {
  EFI_DNS4_PROTOCOL proto;
  uint32_t id;
  struct fnic *nic;
  struct fhandle *handle;
  struct fdns *next;
  bool configured;
  uint32_t retry_count, retry_interval;
  unsigned pending;
};

/* A service binding with its owner NIC. */
struct fsb {
  EFI_SERVICE_BINDING_PROTOCOL sb;
  struct fnic *nic;
  int kind; /* 0 tcp, 1 udp, 2 dns */
};

struct fnic {
  struct fnet *net;
  unsigned index;
  struct fhandle *handle;
  struct fsb tcp_sb, udp_sb, dns_sb;
  EFI_IP4_CONFIG2_PROTOCOL cfg2;
  EFI_IP4_CONFIG_PROTOCOL cfg1;
  /* addressing */
  EFI_IP4_CONFIG2_POLICY policy;
  bool configured;
  uint32_t addr, mask, gw, dns[2];
  unsigned ndns;
  uint32_t man_addr, man_mask, man_gw;
  bool static_pending;
  uint64_t static_at;
  bool dns_set;
  bool dhcp_running;
  uint64_t dhcp_done_at;
  EFI_EVENT legacy_done;
  bool legacy_started;
  struct ftcp *tcps;
  struct fudp *udps;
  struct fdns *dnss;
};

enum fframe_kind { FR_TCP, FR_UDP, FR_ICMP_TCP, FR_ICMP_UDP, FR_DNS4 };
#define FF_SYN 1
#define FF_ACK 2
#define FF_FIN 4
#define FF_RST 8
#define FF_DATA 16

struct fframe {
  struct fframe *next;
  enum fframe_kind kind;
  uint64_t ready;
  struct fconn *c;
  unsigned flags;
  size_t acked;
  EFI_STATUS icmp;
  uint32_t inst_id;
  uint32_t src, dst;
  uint16_t sport, dport;
  EFI_DNS4_COMPLETION_TOKEN *dtok;
  EFI_STATUS dstatus;
  uint32_t daddrs[8];
  unsigned ndaddr;
  size_t len;
  uint8_t data[];
};

struct flisten {
  struct flisten *next;
  uint32_t ip;
  uint16_t port;
  const struct fpeer_ops *ops;
  void *user;
  int builtin;
  size_t param;
  bool close_after;
};

struct fudpbind {
  struct fudpbind *next;
  uint32_t ip;
  uint16_t port;
  fnet_udp_cb cb;
  void *user;
};

struct fhost {
  struct fhost *next;
  uint32_t ip;
  enum fnet_host_kind kind;
};

struct fconn {
  struct fconn *next;
  struct fnet *net;
  struct ftcp *g;
  const struct fpeer_ops *ops;
  void *user;
  int builtin;
  size_t param, count;
  bool close_after;
  uint32_t pip, gip;
  uint16_t pport, gport;
  bool established, syn_pending, peer_fin_queued, peer_fin_sent, got_fin, got_reset, reading,
      dead, by_peer, refused;
  uint8_t *in, *out;
  size_t in_len, in_cap, out_len, out_off, out_cap;
  size_t inflight; /* data bytes in frames on their way to the guest */
};

struct fnet {
  struct fakefw *fw;
  struct fnic *nics;
  unsigned nnics;
  uint32_t dhcp_addr, dhcp_mask, dhcp_gw, dhcp_dns;
  uint64_t latency;
  struct fframe *fq_head, *fq_tail;
  struct fevent *tick;
  struct flisten *listeners;
  struct fudpbind *udpbinds;
  struct fhost *hosts;
  struct fconn *conns;
  unsigned nconns;
  uint32_t next_id;
  uint16_t next_port;
  /* DNS server */
  bool dns_on;
  uint32_t dns_ip;
  struct dnszone dns;
  unsigned rx_buffers; /* UDP4 rx buffers handed out, not recycled */
  struct frxbuf *rxbufs;
};

/* net.c */
struct fnet *fnet_create(struct fakefw *fw);
void fnet_destroy(struct fnet *n);
void fnet_queue(struct fnet *n, struct fframe *f);
struct fframe *fnet_frame(size_t len);
bool fnet_process_one(struct fnet *n); /* one inbound frame, if one is ready */
void fnet_nic_update(struct fnic *nic);  /* DHCP progress */
void fnet_nic_start_dhcp(struct fnic *nic);
bool fnet_route(struct fnic *nic, uint32_t dst, bool has_routes, EFI_STATUS *unreach);
uint16_t fnet_ephemeral(struct fnet *n);
unsigned fnet_outstanding_tokens(struct fnet *n);
struct ftcp *fnet_find_tcp(struct fnet *n, uint32_t id);
struct flisten *fnet_find_listener(struct fnet *n, uint32_t ip, uint16_t port);
void fconn_builtin_event(struct fconn *c, int what, const uint8_t *d, size_t len);
void fudp_free_rxbufs(struct fnet *n);
void fnet_udp_from_guest(struct fnet *n, struct fudp *u, uint32_t src, uint16_t sport,
                         uint32_t dst, uint16_t dport, const uint8_t *d, size_t len);
enum { EV_CONNECT, EV_DATA, EV_FIN };
struct fudp *fnet_find_udp(struct fnet *n, uint32_t id);
struct fdns *fnet_find_dns(struct fnet *n, uint32_t id);

/* tcp4.c */
void ftcp_install(struct fnic *nic);
EFI_STATUS ftcp_create(struct fnic *nic, struct ftcp **out);
void ftcp_destroy(struct ftcp *t);
void ftcp_input(struct fnet *n, struct fframe *f);
void fconn_guest_data(struct fconn *c, const uint8_t *d, size_t len); /* guest -> peer */
void fconn_pump(struct fconn *c);
void fconn_peer_syn(struct fconn *c); /* a peer-initiated connect reaches the guest */
struct fconn *fconn_new(struct fnet *n);
void ftcp_guest_push(struct ftcp *t);

/* udp4.c */
EFI_STATUS fudp_create(struct fnic *nic, struct fudp **out);
void fudp_destroy(struct fudp *u);
void fudp_input(struct fnet *n, struct fframe *f);
void fudp_icmp(struct fnet *n, struct fframe *f);

/* ipcfg.c */
void fipcfg_install(struct fnic *nic);

/* dns.c */
EFI_STATUS fdns_create(struct fnic *nic, struct fdns **out);
void fdns_destroy(struct fdns *d);
void fdns_input(struct fnet *n, struct fframe *f);
/* The scripted server: answer one query message; returns the reply length
 * (0: drop). *from_ip may be changed (wrong-source fault). */
size_t fdns_server_answer(struct fnet *n, const uint8_t *q, size_t qlen, uint8_t *out,
                          size_t cap, bool tcp, uint32_t *from_ip);
void fnet_add_dns_listener(struct fnet *n, uint32_t ip);
void fdns_tcp_data(struct fconn *c); /* DNS over TCP on a peer connection */
/* For DNS4: resolve through the same zone and faults. */
EFI_STATUS fdns_lookup(struct fnet *n, const char *name, uint32_t *addrs, unsigned *naddr);

#endif
