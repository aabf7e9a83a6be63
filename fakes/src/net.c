/* The simulated LAN behind the fake protocols.
 *
 * Frames towards the guest wait in one FIFO; the guest's stack takes one
 * ready frame per Poll() and one per 10 ms tick (EDK2's MNP takes one frame
 * per Poll, and its timer one per tick: 100 frames/s without Poll). Frames
 * from the guest reach peers at once: EDK2 transmits inside the call.
 * Peers are scripted by tests through the fnet_* API or are ready-made
 * (echo, discard, source, reset-after).
 */
#include "fw.h"
#include "fwbase/pattern.h"


/* ---- token queues ---- */

bool fq_push(struct fq *q, void *t) {
  if (q->n >= FQ_MAX) return false;
  q->t[(q->h + q->n++) % FQ_MAX] = t;
  return true;
}
void *fq_peek(struct fq *q) { return q->n ? q->t[q->h] : NULL; }
void *fq_pop(struct fq *q) {
  if (!q->n) return NULL;
  void *t = q->t[q->h];
  q->h = (q->h + 1) % FQ_MAX;
  q->n--;
  return t;
}
bool fq_remove(struct fq *q, void *t) {
  for (unsigned i = 0; i < q->n; i++) {
    if (q->t[(q->h + i) % FQ_MAX] != t) continue;
    for (unsigned j = i; j + 1 < q->n; j++) q->t[(q->h + j) % FQ_MAX] = q->t[(q->h + j + 1) % FQ_MAX];
    q->n--;
    return true;
  }
  return false;
}

/* ---- frames ---- */

struct fframe *fnet_frame(size_t len) {
  struct fframe *f = calloc(1, sizeof(*f) + len);
  f->len = len;
  return f;
}

void fnet_queue(struct fnet *n, struct fframe *f) {
  f->ready = n->fw->now + n->latency + f->ready;
  f->next = NULL;
  if (n->fq_tail) n->fq_tail->next = f;
  else n->fq_head = f;
  n->fq_tail = f;
}

bool fnet_process_one(struct fnet *n) {
  struct fframe **pp = &n->fq_head, *prev = NULL;
  while (*pp && (*pp)->ready > n->fw->now) {
    prev = *pp;
    pp = &(*pp)->next;
  }
  struct fframe *f = *pp;
  if (!f) return false;
  *pp = f->next;
  if (n->fq_tail == f) n->fq_tail = prev;
  n->fw->ctr.frames_in++;
  switch (f->kind) {
  case FR_TCP:
  case FR_ICMP_TCP:
    ftcp_input(n, f);
    break;
  case FR_UDP:
    fudp_input(n, f);
    break;
  case FR_ICMP_UDP:
    fudp_icmp(n, f);
    break;
  case FR_DNS4:
    fdns_input(n, f);
    break;
  }
  free(f);
  return true;
}

/* ---- addressing ---- */

void fnet_nic_start_dhcp(struct fnic *nic) {
  struct fnet *n = nic->net;
  if (nic->dhcp_running) return;
  nic->dhcp_running = true;
  nic->configured = false;
  nic->dhcp_done_at = n->fw->opts.dhcp_silent ? UINT64_MAX
                                              : n->fw->now + (uint64_t)n->fw->opts.dhcp_ms * FW_NS_MS;
  n->fw->ctr.dhcp_runs++;
}

void fnet_nic_update(struct fnic *nic) {
  struct fnet *n = nic->net;
  if (nic->static_pending && n->fw->now >= nic->static_at) {
    nic->static_pending = false;
    nic->configured = true;
    nic->addr = nic->man_addr;
    nic->mask = nic->man_mask;
    nic->gw = nic->man_gw;
  }
  if (nic->dhcp_running && n->fw->now >= nic->dhcp_done_at) {
    nic->dhcp_running = false;
    nic->configured = true;
    /* Several NICs on one LAN get consecutive addresses. */
    nic->addr = n->dhcp_addr + nic->index;
    nic->mask = n->dhcp_mask;
    nic->gw = n->dhcp_gw;
    nic->dns[0] = n->dhcp_dns;
    nic->ndns = n->dhcp_dns ? 1 : 0;
    if (nic->legacy_done && fw_event_valid(nic->legacy_done)) fw_signal(nic->legacy_done);
  }
}

uint16_t fnet_ephemeral(struct fnet *n) {
  n->next_port = (uint16_t)(n->next_port >= 60999 ? 32768 : n->next_port + 1);
  return n->next_port;
}

static enum fnet_host_kind host_kind(struct fnet *n, uint32_t ip, bool *known) {
  for (struct fhost *h = n->hosts; h; h = h->next)
    if (h->ip == ip) {
      *known = true;
      return h->kind;
    }
  *known = false;
  return FNET_HOST_UP;
}

static bool host_has_service(struct fnet *n, uint32_t ip) {
  for (struct flisten *l = n->listeners; l; l = l->next)
    if (l->ip == ip) return true;
  for (struct fudpbind *b = n->udpbinds; b; b = b->next)
    if (b->ip == ip) return true;
  if (n->dns_on && n->dns_ip == ip) return true;
  return ip == n->dhcp_gw;
}

/* Can the guest reach dst? Off-subnet needs a gateway; the default route
 * counts when the instance added it or the NIC was configured with one (the
 * quirk layer models firmware that ignores the latter). */
bool fnet_route(struct fnic *nic, uint32_t dst, bool has_routes, EFI_STATUS *unreach) {
  struct fnet *n = nic->net;
  (void)has_routes;
  *unreach = EFI_SUCCESS;
  bool known;
  enum fnet_host_kind k = host_kind(n, dst, &known);
  bool on_link = (dst & nic->mask) == (nic->addr & nic->mask);
  if (!on_link && !nic->gw) {
    *unreach = EFI_NETWORK_UNREACHABLE;
    return false;
  }
  if (known) {
    if (k == FNET_HOST_UNREACH_NET) *unreach = EFI_NETWORK_UNREACHABLE;
    if (k == FNET_HOST_UNREACH_HOST) *unreach = EFI_HOST_UNREACHABLE;
    return k == FNET_HOST_UP;
  }
  if (host_has_service(n, dst)) return true;
  /* Unknown: on the LAN nobody answers ARP; beyond the router, ICMP. */
  if (!on_link) *unreach = EFI_NETWORK_UNREACHABLE;
  return false;
}

/* ---- the firmware's timer: one frame per tick ---- */

static VOID EFIAPI tick_notify(EFI_EVENT e, VOID *ctx) {
  (void)e;
  struct fnet *n = ctx;
  n->fw->ctr.ticks++;
  for (unsigned i = 0; i < n->nnics; i++) fnet_nic_update(&n->nics[i]);
  /* Connection attempts that nobody answered time out here. */
  for (unsigned i = 0; i < n->nnics; i++)
    for (struct ftcp *t = n->nics[i].tcps; t; t = t->next)
      if (t->state == FT_SYN_SENT && t->conn_tok && n->fw->now >= t->conn_deadline) {
        EFI_TCP4_CONNECTION_TOKEN *tok = t->conn_tok;
        t->conn_tok = NULL;
        t->state = FT_CLOSED;
        fw_complete(tok->CompletionToken.Event, &tok->CompletionToken.Status, EFI_TIMEOUT);
      }
  fnet_process_one(n);
}

/* ---- lifetime ---- */

static EFI_STATUS EFIAPI sb_create(EFI_SERVICE_BINDING_PROTOCOL *This, EFI_HANDLE *child);
static EFI_STATUS EFIAPI sb_destroy(EFI_SERVICE_BINDING_PROTOCOL *This, EFI_HANDLE child);

struct fnet *fnet_create(struct fakefw *fw) {
  struct fnet *n = calloc(1, sizeof(*n));
  n->fw = fw;
  n->dhcp_addr = FNET_IP(10, 0, 2, 15);
  n->dhcp_mask = FNET_IP(255, 255, 255, 0);
  n->dhcp_gw = FNET_IP(10, 0, 2, 2);
  n->dhcp_dns = FNET_IP(10, 0, 2, 3);
  n->next_port = 49152;
  n->next_id = 1;
  n->nnics = fw->opts.nics;
  n->nics = calloc(n->nnics, sizeof(struct fnic));
  for (unsigned i = 0; i < n->nnics; i++) {
    struct fnic *nic = &n->nics[i];
    nic->net = n;
    nic->index = i;
    nic->handle = fw_handle_new();
    nic->policy = fw->opts.policy_static ? Ip4Config2PolicyStatic : Ip4Config2PolicyDhcp;
    struct fsb *sbs[3] = {&nic->tcp_sb, &nic->udp_sb, &nic->dns_sb};
    for (int k = 0; k < 3; k++) {
      sbs[k]->sb.CreateChild = sb_create;
      sbs[k]->sb.DestroyChild = sb_destroy;
      sbs[k]->nic = nic;
      sbs[k]->kind = k;
    }
    fw_install(nic->handle, &efi_tcp4_sb_guid, &nic->tcp_sb);
    if (!fw->opts.no_udp4) fw_install(nic->handle, &efi_udp4_sb_guid, &nic->udp_sb);
    if (!fw->opts.no_dns4) fw_install(nic->handle, &efi_dns4_sb_guid, &nic->dns_sb);
    fipcfg_install(nic);
  }
  n->tick = fw_event_new(EVT_TIMER | EVT_NOTIFY_SIGNAL, TPL_CALLBACK, tick_notify, n, true);
  fw_set_timer(n->tick, TimerPeriodic, FW_TICK_NS);
  return n;
}

void fnet_destroy(struct fnet *n) {
  while (n->fq_head) {
    struct fframe *f = n->fq_head;
    n->fq_head = f->next;
    free(f);
  }
  for (unsigned i = 0; i < n->nnics; i++) {
    struct fnic *nic = &n->nics[i];
    while (nic->tcps) ftcp_destroy(nic->tcps);
    while (nic->udps) fudp_destroy(nic->udps);
    while (nic->dnss) fdns_destroy(nic->dnss);
  }
  while (n->conns) {
    struct fconn *c = n->conns;
    n->conns = c->next;
    free(c->in);
    free(c->out);
    free(c);
  }
  while (n->listeners) {
    struct flisten *l = n->listeners;
    n->listeners = l->next;
    free(l);
  }
  while (n->udpbinds) {
    struct fudpbind *b = n->udpbinds;
    n->udpbinds = b->next;
    free(b);
  }
  while (n->hosts) {
    struct fhost *h = n->hosts;
    n->hosts = h->next;
    free(h);
  }
  dnszone_clear(&n->dns);
  fudp_free_rxbufs(n);
  free(n->nics);
  free(n);
}

static EFI_STATUS EFIAPI sb_create(EFI_SERVICE_BINDING_PROTOCOL *This, EFI_HANDLE *child) {
  struct fsb *sb = (struct fsb *)This;
  if (!child) return EFI_INVALID_PARAMETER;
  EFI_STATUS s;
  if (sb->kind == 0) {
    struct ftcp *t;
    s = ftcp_create(sb->nic, &t);
    if (!EFI_ERROR(s)) *child = t->handle;
  } else if (sb->kind == 1) {
    struct fudp *u;
    s = fudp_create(sb->nic, &u);
    if (!EFI_ERROR(s)) *child = u->handle;
  } else {
    struct fdns *d;
    s = fdns_create(sb->nic, &d);
    if (!EFI_ERROR(s)) *child = d->handle;
  }
  return s;
}

static EFI_STATUS EFIAPI sb_destroy(EFI_SERVICE_BINDING_PROTOCOL *This, EFI_HANDLE child) {
  struct fsb *sb = (struct fsb *)This;
  struct fnic *nic = sb->nic;
  if (sb->kind == 0) {
    for (struct ftcp *t = nic->tcps; t; t = t->next)
      if (t->handle == child) {
        ftcp_destroy(t);
        return EFI_SUCCESS;
      }
  } else if (sb->kind == 1) {
    for (struct fudp *u = nic->udps; u; u = u->next)
      if (u->handle == child) {
        fudp_destroy(u);
        return EFI_SUCCESS;
      }
  } else {
    for (struct fdns *d = nic->dnss; d; d = d->next)
      if (d->handle == child) {
        fdns_destroy(d);
        return EFI_SUCCESS;
      }
  }
  fw_violation("DestroyChild(%p): not a child of this service binding", child);
  return EFI_INVALID_PARAMETER;
}

struct ftcp *fnet_find_tcp(struct fnet *n, uint32_t id) {
  for (unsigned i = 0; i < n->nnics; i++)
    for (struct ftcp *t = n->nics[i].tcps; t; t = t->next)
      if (t->id == id) return t;
  return NULL;
}
struct fudp *fnet_find_udp(struct fnet *n, uint32_t id) {
  for (unsigned i = 0; i < n->nnics; i++)
    for (struct fudp *u = n->nics[i].udps; u; u = u->next)
      if (u->id == id) return u;
  return NULL;
}
struct fdns *fnet_find_dns(struct fnet *n, uint32_t id) {
  for (unsigned i = 0; i < n->nnics; i++)
    for (struct fdns *d = n->nics[i].dnss; d; d = d->next)
      if (d->id == id) return d;
  return NULL;
}

unsigned fnet_outstanding_tokens(struct fnet *n) {
  unsigned c = 0;
  for (unsigned i = 0; i < n->nnics; i++) {
    for (struct ftcp *t = n->nics[i].tcps; t; t = t->next)
      c += t->rxq.n + t->txq.n + t->acceptq.n + (t->conn_tok != NULL) + (t->close_tok != NULL);
    for (struct fudp *u = n->nics[i].udps; u; u = u->next) c += u->rxq.n + u->txq.n;
    for (struct fdns *d = n->nics[i].dnss; d; d = d->next) c += d->pending;
  }
  return c;
}

/* ---- scripting API ---- */

void fnet_host(struct fnet *n, uint32_t ip, enum fnet_host_kind kind) {
  struct fhost *h = calloc(1, sizeof(*h));
  h->ip = ip;
  h->kind = kind;
  h->next = n->hosts;
  n->hosts = h;
}

void fnet_set_dhcp(struct fnet *n, uint32_t addr, uint32_t mask, uint32_t gw, uint32_t dns) {
  n->dhcp_addr = addr;
  n->dhcp_mask = mask;
  n->dhcp_gw = gw;
  n->dhcp_dns = dns;
}

void fnet_set_latency(struct fnet *n, uint64_t ns) { n->latency = ns; }

enum { B_NONE, B_ECHO, B_DISCARD, B_SOURCE, B_RESET_AFTER, B_DNS };

static void add_listener(struct fnet *n, uint32_t ip, uint16_t port, const struct fpeer_ops *ops,
                         void *user, int builtin, size_t param, bool close_after) {
  fnet_tcp_unlisten(n, ip, port);
  struct flisten *l = calloc(1, sizeof(*l));
  l->ip = ip;
  l->port = port;
  l->ops = ops;
  l->user = user;
  l->builtin = builtin;
  l->param = param;
  l->close_after = close_after;
  l->next = n->listeners;
  n->listeners = l;
}

void fnet_tcp_listen(struct fnet *n, uint32_t ip, uint16_t port, const struct fpeer_ops *ops,
                     void *user) {
  add_listener(n, ip, port, ops, user, B_NONE, 0, false);
}

void fnet_tcp_unlisten(struct fnet *n, uint32_t ip, uint16_t port) {
  struct flisten **pp = &n->listeners;
  while (*pp) {
    if ((*pp)->ip == ip && (*pp)->port == port) {
      struct flisten *l = *pp;
      *pp = l->next;
      free(l);
    } else {
      pp = &(*pp)->next;
    }
  }
}

struct flisten *fnet_find_listener(struct fnet *n, uint32_t ip, uint16_t port) {
  for (struct flisten *l = n->listeners; l; l = l->next)
    if (l->ip == ip && l->port == port) return l;
  return NULL;
}

void fnet_peer_echo(struct fnet *n, uint32_t ip, uint16_t port) {
  add_listener(n, ip, port, NULL, NULL, B_ECHO, 0, false);
}
void fnet_peer_discard(struct fnet *n, uint32_t ip, uint16_t port) {
  add_listener(n, ip, port, NULL, NULL, B_DISCARD, 0, false);
}
void fnet_peer_source(struct fnet *n, uint32_t ip, uint16_t port, size_t bytes, bool close_after) {
  add_listener(n, ip, port, NULL, NULL, B_SOURCE, bytes, close_after);
}
void fnet_peer_reset_after(struct fnet *n, uint32_t ip, uint16_t port, size_t bytes) {
  add_listener(n, ip, port, NULL, NULL, B_RESET_AFTER, bytes, false);
}

/* Ready-made peer behaviour, run where a scripted peer's callbacks would. */
void fnet_add_dns_listener(struct fnet *n, uint32_t ip) {
  add_listener(n, ip, 53, NULL, NULL, B_DNS, 0, false);
}

void fconn_builtin_event(struct fconn *c, int what, const uint8_t *d, size_t len) {
  enum { CONNECT = EV_CONNECT, DATA = EV_DATA, FIN = EV_FIN };
  switch (c->builtin) {
  case B_ECHO:
    if (what == DATA) fnet_conn_send(c, d, len);
    if (what == FIN) fnet_conn_close(c);
    break;
  case B_DISCARD:
    if (what == FIN) fnet_conn_close(c);
    break;
  case B_SOURCE:
    if (what == CONNECT) {
      uint8_t *buf = malloc(c->param ? c->param : 1);
      fwb_pattern_fill(buf, c->param, 0);
      fnet_conn_send(c, buf, c->param);
      free(buf);
      if (c->close_after) fnet_conn_close(c);
    }
    if (what == FIN && !c->close_after) fnet_conn_close(c);
    break;
  case B_DNS:
    if (what == DATA) fdns_tcp_data(c);
    break;
  case B_RESET_AFTER:
    c->count += len;
    if (what == DATA && c->count >= c->param) fnet_conn_reset(c);
    break;
  default:
    break;
  }
}

struct fconn *fnet_last_conn(struct fnet *n) { return n->conns; }
unsigned fnet_conn_count(struct fnet *n) { return n->nconns; }

/* ---- UDP peers ---- */

void fnet_udp_bind(struct fnet *n, uint32_t ip, uint16_t port, fnet_udp_cb cb, void *user) {
  struct fudpbind *b = calloc(1, sizeof(*b));
  b->ip = ip;
  b->port = port;
  b->cb = cb;
  b->user = user;
  b->next = n->udpbinds;
  n->udpbinds = b;
}

void fnet_udp_send(struct fnet *n, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                   const void *d, size_t len) {
  struct fframe *f = fnet_frame(len);
  f->kind = FR_UDP;
  f->src = src;
  f->sport = sport;
  f->dst = dst;
  f->dport = dport;
  memcpy(f->data, d, len);
  fnet_queue(n, f);
}

static void udp_echo_cb(struct fnet *n, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                        const uint8_t *d, size_t len, void *user) {
  (void)user;
  fnet_udp_send(n, dst, dport, src, sport, d, len);
}

void fnet_peer_udp_echo(struct fnet *n, uint32_t ip, uint16_t port) {
  fnet_udp_bind(n, ip, port, udp_echo_cb, NULL);
}

/* A datagram from the guest: to a bound peer, the DNS server, or nowhere
 * (ICMP port unreachable, which only a connected instance is told of). */
void fnet_udp_from_guest(struct fnet *n, struct fudp *u, uint32_t src, uint16_t sport,
                         uint32_t dst, uint16_t dport, const uint8_t *d, size_t len) {
  n->fw->ctr.frames_out++;
  if (n->dns_on && dst == n->dns_ip && dport == 53) {
    uint8_t out[1500];
    uint32_t from = n->dns_ip;
    size_t rl = fdns_server_answer(n, d, len, out, sizeof(out), false, &from);
    if (rl) {
      struct fframe *f = fnet_frame(rl);
      f->kind = FR_UDP;
      f->src = from;
      f->sport = 53;
      f->dst = src;
      f->dport = sport;
      f->ready = n->dns.delay_ns;
      memcpy(f->data, out, rl);
      fnet_queue(n, f);
    }
    return;
  }
  for (struct fudpbind *b = n->udpbinds; b; b = b->next) {
    if (b->ip == dst && b->port == dport) {
      b->cb(n, src, sport, dst, dport, d, len, b->user);
      return;
    }
  }
  bool known;
  enum fnet_host_kind k = host_kind(n, dst, &known);
  if (u->raddr && (!known || k == FNET_HOST_UP) && host_has_service(n, dst)) {
    struct fframe *f = fnet_frame(0);
    f->kind = FR_ICMP_UDP;
    f->inst_id = u->id;
    f->icmp = EFI_PORT_UNREACHABLE;
    fnet_queue(n, f);
  }
}
