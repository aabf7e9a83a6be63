/* Fake EFI_TCP4_PROTOCOL instances and the peer side of their connections.
 *
 * Behaviour follows EDK2's TcpDxe as observed on OVMF: a Receive completes
 * with at most one segment; Receive on a drained stream after the peer's FIN
 * returns EFI_CONNECTION_FIN at once; a Transmit token completes when the
 * peer has acknowledged all of its data; Configure(NULL) aborts the
 * connection (RST) and completes every token with EFI_ABORTED before it
 * returns; UseDefaultAddress before an address exists gives EFI_NO_MAPPING
 * and starts DHCP (switching a Static policy to DHCP, as EDK2 does).
 */
#include "fw.h"

#define MSS 1460
#define FF_FINACK 32



static struct ftcp *T(EFI_TCP4_PROTOCOL *p) { return (struct ftcp *)p; }

static void complete_io(EFI_TCP4_IO_TOKEN *tok, EFI_STATUS st) {
  fw_complete(tok->CompletionToken.Event, &tok->CompletionToken.Status, st);
}

/* Complete every pending token with st (reset, abort). */
static void flush(struct ftcp *t, EFI_STATUS st) {
  EFI_TCP4_IO_TOKEN *io;
  while ((io = fq_pop(&t->rxq))) complete_io(io, st);
  while ((io = fq_pop(&t->txq))) complete_io(io, st);
  EFI_TCP4_LISTEN_TOKEN *lt;
  while ((lt = fq_pop(&t->acceptq)))
    fw_complete(lt->CompletionToken.Event, &lt->CompletionToken.Status, st);
  if (t->conn_tok) {
    EFI_TCP4_CONNECTION_TOKEN *c = t->conn_tok;
    t->conn_tok = NULL;
    fw_complete(c->CompletionToken.Event, &c->CompletionToken.Status, st);
  }
  if (t->close_tok) {
    EFI_TCP4_CLOSE_TOKEN *c = t->close_tok;
    t->close_tok = NULL;
    fw_complete(c->CompletionToken.Event, &c->CompletionToken.Status,
                st == EFI_ABORTED ? EFI_SUCCESS : st);
  }
}

static void free_data(struct ftcp *t) {
  while (t->seg_head) {
    struct fseg *s = t->seg_head;
    t->seg_head = s->next;
    free(s);
  }
  t->seg_tail = NULL;
  t->buffered = 0;
  t->unsent_len = 0;
}

/* The guest side goes away without a FIN: the peer sees a reset. */
static void detach_abort(struct ftcp *t) {
  struct fconn *c = t->conn;
  if (!c) return;
  t->conn = NULL;
  c->g = NULL;
  bool alive = c->established && !c->got_reset && !(c->got_fin && c->peer_fin_sent);
  if (alive && t->state != FT_RESET) {
    t->nic->net->fw->ctr.frames_out++;
    c->got_reset = true;
    if (c->ops && c->ops->on_reset) c->ops->on_reset(c, c->user);
  }
}

static void destroy_pending(struct ftcp *t) {
  struct ftcp *ch;
  while ((ch = fq_pop(&t->pending))) ftcp_destroy(ch);
}

static void reset_instance(struct ftcp *t) {
  detach_abort(t);
  flush(t, EFI_ABORTED);
  destroy_pending(t);
  free_data(t);
  t->configured = false;
  t->state = FT_CLOSED;
  t->rcv_fin = t->fin_queued = t->fin_sent = t->fin_acked = false;
  t->has_routes = false;
}

/* ---- protocol functions ---- */

static EFI_STATUS EFIAPI t_get_mode(EFI_TCP4_PROTOCOL *This, EFI_TCP4_CONNECTION_STATE *state,
                                    EFI_TCP4_CONFIG_DATA *cfg, EFI_IP4_MODE_DATA *ip,
                                    EFI_MANAGED_NETWORK_CONFIG_DATA *mnp,
                                    EFI_SIMPLE_NETWORK_MODE *snp) {
  (void)ip, (void)mnp, (void)snp;
  struct ftcp *t = T(This);
  static const EFI_TCP4_CONNECTION_STATE map[] = {
      Tcp4StateClosed,   Tcp4StateListen,    Tcp4StateSynSent,  Tcp4StateEstablished,
      Tcp4StateFinWait1, Tcp4StateCloseWait, Tcp4StateLastAck,  Tcp4StateTimeWait,
      Tcp4StateClosed};
  if (state) *state = map[t->state];
  if (cfg) {
    if (!t->configured) return EFI_NOT_STARTED;
    /* As TcpDxe: a ControlOption buffer the caller gives is filled in. */
    EFI_TCP4_OPTION *co = cfg->ControlOption;
    *cfg = t->cfg;
    cfg->ControlOption = co;
    if (co) {
      memset(co, 0, sizeof(*co));
      if (t->has_opt) {
        *co = t->opt;
      } else {
        co->ReceiveBufferSize = t->rcvbuf;
        co->SendBufferSize = 65536;
        co->MaxSynBackLog = t->backlog;
        co->EnableNagle = TRUE;
      }
    }
    cfg->AccessPoint.StationAddress = ip_to(t->laddr);
    cfg->AccessPoint.StationPort = t->lport;
    cfg->AccessPoint.RemoteAddress = ip_to(t->raddr);
    cfg->AccessPoint.RemotePort = t->rport;
  }
  return EFI_SUCCESS;
}

static bool port_taken(struct ftcp *t, uint16_t port, bool passive, uint32_t raddr, uint16_t rport) {
  for (struct ftcp *o = t->nic->tcps; o; o = o->next) {
    if (o == t || !o->configured || o->listener || o->lport != port) continue;
    if (passive || o->state == FT_LISTEN) return true;
    if (o->raddr == raddr && o->rport == rport) return true;
  }
  return false;
}

static EFI_STATUS EFIAPI t_configure(EFI_TCP4_PROTOCOL *This, EFI_TCP4_CONFIG_DATA *cd) {
  struct ftcp *t = T(This);
  struct fnic *nic = t->nic;
  struct fakefw *fw = nic->net->fw;
  fw->ctr.tcp_configure++;
  if (!cd) {
    reset_instance(t);
    return EFI_SUCCESS;
  }
  if (t->configured) return EFI_ACCESS_DENIED;
  const EFI_TCP4_ACCESS_POINT *ap = &cd->AccessPoint;
  uint32_t raddr = ip_of(&ap->RemoteAddress);
  if (ap->ActiveFlag && (!raddr || !ap->RemotePort)) return EFI_INVALID_PARAMETER;
  fnet_nic_update(nic);
  uint32_t laddr, mask;
  if (ap->UseDefaultAddress) {
    if (!nic->configured) {
      /* EDK2 starts DHCP itself, switching a Static policy with no address. */
      if (nic->policy == Ip4Config2PolicyStatic && !nic->man_addr && !nic->net->fw->opts.no_auto_dhcp)
        nic->policy = Ip4Config2PolicyDhcp;
      if (nic->policy == Ip4Config2PolicyDhcp) fnet_nic_start_dhcp(nic);
      return EFI_NO_MAPPING;
    }
    laddr = nic->addr;
    mask = nic->mask;
  } else {
    laddr = ip_of(&ap->StationAddress);
    mask = ip_of(&ap->SubnetMask);
    if (!laddr) return EFI_INVALID_PARAMETER;
  }
  uint16_t lport = ap->StationPort ? ap->StationPort : fnet_ephemeral(nic->net);
  if (port_taken(t, lport, !ap->ActiveFlag, raddr, ap->RemotePort)) return EFI_ACCESS_DENIED;
  t->cfg = *cd;
  t->has_opt = cd->ControlOption != NULL;
  if (t->has_opt) t->opt = *cd->ControlOption;
  t->cfg.ControlOption = t->has_opt ? &t->opt : NULL;
  t->laddr = laddr;
  t->mask = mask;
  t->lport = lport;
  t->raddr = raddr;
  t->rport = ap->RemotePort;
  t->active = ap->ActiveFlag;
  t->rcvbuf = cd->ControlOption && cd->ControlOption->ReceiveBufferSize
                  ? cd->ControlOption->ReceiveBufferSize
                  : fw->opts.tcp_rcvbuf;
  t->backlog = cd->ControlOption && cd->ControlOption->MaxSynBackLog
                   ? cd->ControlOption->MaxSynBackLog
                   : 5;
  t->configured = true;
  t->state = t->active ? FT_CLOSED : FT_LISTEN;
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI t_routes(EFI_TCP4_PROTOCOL *This, BOOLEAN del, EFI_IPv4_ADDRESS *subnet,
                                  EFI_IPv4_ADDRESS *mask, EFI_IPv4_ADDRESS *gw) {
  struct ftcp *t = T(This);
  if (!subnet || !mask || !gw) return EFI_INVALID_PARAMETER;
  if (!t->configured) return EFI_NOT_STARTED;
  if (del) {
    if (!t->has_routes) return EFI_NOT_FOUND;
    t->has_routes = false;
    return EFI_SUCCESS;
  }
  if (t->has_routes) return EFI_ACCESS_DENIED;
  t->has_routes = true;
  t->nic->net->fw->ctr.routes_added++;
  return EFI_SUCCESS;
}

struct fconn *fconn_new(struct fnet *n) {
  struct fconn *c = calloc(1, sizeof(*c));
  c->net = n;
  c->reading = true;
  c->next = n->conns;
  n->conns = c;
  n->nconns++;
  return c;
}

static void queue_ctl(struct fconn *c, unsigned flags, size_t acked) {
  struct fframe *f = fnet_frame(0);
  f->kind = FR_TCP;
  f->c = c;
  f->flags = flags;
  f->acked = acked;
  fnet_queue(c->net, f);
}

static EFI_STATUS EFIAPI t_connect(EFI_TCP4_PROTOCOL *This, EFI_TCP4_CONNECTION_TOKEN *tok) {
  struct ftcp *t = T(This);
  struct fnet *n = t->nic->net;
  if (!tok || !tok->CompletionToken.Event) return EFI_INVALID_PARAMETER;
  if (!t->configured) return EFI_NOT_STARTED;
  if (!t->active || t->state != FT_CLOSED) return EFI_ACCESS_DENIED;
  n->fw->ctr.tcp_connect++;
  n->fw->ctr.frames_out++;
  t->state = FT_SYN_SENT;
  t->conn_tok = tok;
  uint32_t to_s = t->cfg.ControlOption && t->cfg.ControlOption->ConnectionTimeout
                      ? t->cfg.ControlOption->ConnectionTimeout
                      : 75;
  t->conn_deadline = n->fw->now + (uint64_t)to_s * 1000 * FW_NS_MS;
  struct fconn *c = fconn_new(n);
  c->g = t;
  t->conn = c;
  c->gip = t->laddr;
  c->gport = t->lport;
  c->pip = t->raddr;
  c->pport = t->rport;
  /* Routing as the instance sees it: its own mask; a gateway from the NIC's
   * configuration (the quirk layer models firmware where that needs Routes). */
  struct fnic tmp = *t->nic;
  tmp.addr = t->laddr;
  tmp.mask = t->mask;
  if (!t->nic->configured && !t->has_routes) tmp.gw = 0;
  if (t->has_routes && !tmp.gw) tmp.gw = n->dhcp_gw;
  EFI_STATUS unreach;
  if (!fnet_route(&tmp, t->raddr, t->has_routes, &unreach)) {
    if (unreach != EFI_SUCCESS) {
      struct fframe *f = fnet_frame(0);
      f->kind = FR_ICMP_TCP;
      f->c = c;
      f->icmp = unreach;
      fnet_queue(n, f);
    }
    return EFI_SUCCESS; /* blackhole: the tick times it out */
  }
  struct flisten *l = fnet_find_listener(n, t->raddr, t->rport);
  if (!l) {
    queue_ctl(c, FF_RST, 0);
    return EFI_SUCCESS;
  }
  c->ops = l->ops;
  c->user = l->user;
  c->builtin = l->builtin;
  c->param = l->param;
  c->close_after = l->close_after;
  c->established = true;
  queue_ctl(c, FF_SYN | FF_ACK, 0);
  if (c->ops && c->ops->on_connect) c->ops->on_connect(c, c->user);
  fconn_builtin_event(c, EV_CONNECT, NULL, 0);
  return EFI_SUCCESS;
}

static void give_accept(struct ftcp *l) {
  while (l->acceptq.n && l->pending.n) {
    EFI_TCP4_LISTEN_TOKEN *tok = fq_pop(&l->acceptq);
    struct ftcp *ch = fq_pop(&l->pending);
    tok->NewChildHandle = ch->handle;
    fw_complete(tok->CompletionToken.Event, &tok->CompletionToken.Status, EFI_SUCCESS);
  }
}

static EFI_STATUS EFIAPI t_accept(EFI_TCP4_PROTOCOL *This, EFI_TCP4_LISTEN_TOKEN *tok) {
  struct ftcp *t = T(This);
  if (!tok || !tok->CompletionToken.Event) return EFI_INVALID_PARAMETER;
  if (!t->configured) return EFI_NOT_STARTED;
  if (t->state != FT_LISTEN) return EFI_ACCESS_DENIED;
  for (unsigned i = 0; i < t->acceptq.n; i++)
    if (t->acceptq.t[(t->acceptq.h + i) % FQ_MAX] == tok) return EFI_ACCESS_DENIED;
  if (!fq_push(&t->acceptq, tok)) return EFI_OUT_OF_RESOURCES;
  give_accept(t);
  return EFI_SUCCESS;
}

/* Guest data and FIN towards the peer, as far as the peer reads. */
void ftcp_guest_push(struct ftcp *t) {
  struct fconn *c = t->conn;
  if (!c || !c->established || c->got_reset) return;
  if (t->state == FT_SYN_SENT || t->state == FT_CLOSED || t->state == FT_RESET) return;
  if (t->unsent_len && c->reading) {
    size_t len = t->unsent_len;
    uint8_t *d = malloc(len);
    memcpy(d, t->unsent, len);
    t->unsent_len = 0;
    fconn_guest_data(c, d, len);
    free(d);
  }
  if (t->fin_queued && !t->fin_sent && !t->unsent_len) {
    t->fin_sent = true;
    t->nic->net->fw->ctr.frames_out++;
    c->got_fin = true;
    queue_ctl(c, FF_ACK | FF_FINACK, 0);
    if (c->ops && c->ops->on_fin) c->ops->on_fin(c, c->user);
    fconn_builtin_event(c, EV_FIN, NULL, 0);
  }
}

static EFI_STATUS EFIAPI t_transmit(EFI_TCP4_PROTOCOL *This, EFI_TCP4_IO_TOKEN *tok) {
  struct ftcp *t = T(This);
  if (!tok || !tok->CompletionToken.Event || !tok->Packet.TxData) return EFI_INVALID_PARAMETER;
  EFI_TCP4_TRANSMIT_DATA *tx = tok->Packet.TxData;
  if (!tx->FragmentCount) return EFI_INVALID_PARAMETER;
  size_t sum = 0;
  for (UINT32 i = 0; i < tx->FragmentCount; i++) sum += tx->FragmentTable[i].FragmentLength;
  if (sum != tx->DataLength) return EFI_INVALID_PARAMETER;
  if (!t->configured) return EFI_NOT_STARTED;
  if (t->state == FT_RESET) return EFI_CONNECTION_RESET;
  if (t->fin_queued || (t->state != FT_ESTABLISHED && t->state != FT_CLOSE_WAIT &&
                        t->state != FT_SYN_SENT))
    return EFI_ACCESS_DENIED;
  for (unsigned i = 0; i < t->txq.n; i++)
    if (((EFI_TCP4_IO_TOKEN *)t->txq.t[(t->txq.h + i) % FQ_MAX])->CompletionToken.Event ==
        tok->CompletionToken.Event)
      return EFI_ACCESS_DENIED;
  unsigned slot = (t->txq.h + t->txq.n) % FQ_MAX;
  if (!fq_push(&t->txq, tok)) return EFI_NOT_READY;
  t->tx_left[slot] = sum;
  t->nic->net->fw->ctr.tcp_transmit++;
  if (t->unsent_len + sum > t->unsent_cap) {
    t->unsent_cap = (t->unsent_len + sum) * 2;
    t->unsent = realloc(t->unsent, t->unsent_cap);
  }
  for (UINT32 i = 0; i < tx->FragmentCount; i++) {
    if (!tx->FragmentTable[i].FragmentLength) continue;
    memcpy(t->unsent + t->unsent_len, tx->FragmentTable[i].FragmentBuffer,
           tx->FragmentTable[i].FragmentLength);
    t->unsent_len += tx->FragmentTable[i].FragmentLength;
  }
  if (sum == 0) {
    fq_remove(&t->txq, tok);
    complete_io(tok, EFI_SUCCESS);
  }
  ftcp_guest_push(t);
  return EFI_SUCCESS;
}

static void deliver(struct ftcp *t) {
  bool consumed = false;
  while (t->rxq.n && t->seg_head) {
    EFI_TCP4_IO_TOKEN *tok = fq_pop(&t->rxq);
    EFI_TCP4_RECEIVE_DATA *rx = tok->Packet.RxData;
    struct fseg *s = t->seg_head;
    size_t avail = s->len - s->off, done = 0;
    for (UINT32 i = 0; i < rx->FragmentCount && done < avail; i++) {
      size_t n = rx->FragmentTable[i].FragmentLength;
      if (n > avail - done) n = avail - done;
      memcpy(rx->FragmentTable[i].FragmentBuffer, s->data + s->off + done, n);
      rx->FragmentTable[i].FragmentLength = (UINT32)n;
      done += n;
    }
    rx->DataLength = (UINT32)done;
    s->off += done;
    t->buffered -= done;
    if (s->off == s->len) {
      t->seg_head = s->next;
      if (!t->seg_head) t->seg_tail = NULL;
      free(s);
    }
    consumed = true;
    complete_io(tok, EFI_SUCCESS);
  }
  if (t->rcv_fin && !t->seg_head) {
    EFI_TCP4_IO_TOKEN *tok;
    while ((tok = fq_pop(&t->rxq))) complete_io(tok, EFI_CONNECTION_FIN);
  }
  if (consumed && t->conn) fconn_pump(t->conn); /* the window opened */
}

static EFI_STATUS EFIAPI t_receive(EFI_TCP4_PROTOCOL *This, EFI_TCP4_IO_TOKEN *tok) {
  struct ftcp *t = T(This);
  if (!tok || !tok->CompletionToken.Event || !tok->Packet.RxData) return EFI_INVALID_PARAMETER;
  EFI_TCP4_RECEIVE_DATA *rx = tok->Packet.RxData;
  if (!rx->DataLength || !rx->FragmentCount) return EFI_INVALID_PARAMETER;
  if (!t->configured) return EFI_NOT_STARTED;
  if (t->state == FT_RESET) return EFI_CONNECTION_RESET;
  if (t->rcv_fin && !t->seg_head) return EFI_CONNECTION_FIN;
  if (t->state == FT_CLOSED || t->state == FT_LISTEN) return EFI_NOT_STARTED;
  if (!fq_push(&t->rxq, tok)) return EFI_NOT_READY;
  t->nic->net->fw->ctr.tcp_receive++;
  deliver(t);
  return EFI_SUCCESS;
}

static void check_closed(struct ftcp *t) {
  if (t->close_tok && t->fin_acked && t->rcv_fin) {
    EFI_TCP4_CLOSE_TOKEN *c = t->close_tok;
    t->close_tok = NULL;
    t->state = FT_TIME_WAIT;
    fw_complete(c->CompletionToken.Event, &c->CompletionToken.Status, EFI_SUCCESS);
  }
}

static EFI_STATUS EFIAPI t_close(EFI_TCP4_PROTOCOL *This, EFI_TCP4_CLOSE_TOKEN *tok) {
  struct ftcp *t = T(This);
  if (!tok || !tok->CompletionToken.Event) return EFI_INVALID_PARAMETER;
  if (!t->configured) return EFI_NOT_STARTED;
  if (t->close_tok) return EFI_ACCESS_DENIED;
  t->nic->net->fw->ctr.tcp_close++;
  if (tok->AbortOnClose || t->state == FT_SYN_SENT || t->state == FT_CLOSED ||
      t->state == FT_LISTEN || t->state == FT_RESET) {
    detach_abort(t);
    flush(t, EFI_ABORTED);
    destroy_pending(t);
    t->state = FT_CLOSED;
    fw_complete(tok->CompletionToken.Event, &tok->CompletionToken.Status, EFI_SUCCESS);
    return EFI_SUCCESS;
  }
  t->close_tok = tok;
  t->fin_queued = true;
  t->state = t->state == FT_CLOSE_WAIT ? FT_LAST_ACK : FT_FIN_WAIT;
  ftcp_guest_push(t);
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI t_cancel(EFI_TCP4_PROTOCOL *This, EFI_TCP4_COMPLETION_TOKEN *tok) {
  struct ftcp *t = T(This);
  if (!t->configured) return EFI_NOT_STARTED;
  if (!tok) {
    EFI_TCP4_IO_TOKEN *io;
    while ((io = fq_pop(&t->rxq))) complete_io(io, EFI_ABORTED);
    EFI_TCP4_LISTEN_TOKEN *lt;
    while ((lt = fq_pop(&t->acceptq)))
      fw_complete(lt->CompletionToken.Event, &lt->CompletionToken.Status, EFI_ABORTED);
    return EFI_SUCCESS;
  }
  if (fq_remove(&t->rxq, tok) || fq_remove(&t->acceptq, tok)) {
    fw_complete(tok->Event, &tok->Status, EFI_ABORTED);
    return EFI_SUCCESS;
  }
  return EFI_NOT_FOUND; /* transmit, connect and close tokens are not cancellable here */
}

static EFI_STATUS EFIAPI t_poll(EFI_TCP4_PROTOCOL *This) {
  struct ftcp *t = T(This);
  struct fnet *n = t->nic->net;
  n->fw->ctr.polls++;
  fw_charge(FW_POLL_COST_NS);
  fnet_nic_update(t->nic);
  fnet_process_one(n);
  return EFI_SUCCESS; /* OVMF answered EFI_SUCCESS whether or not anything moved */
}

/* ---- lifetime ---- */

EFI_STATUS ftcp_create(struct fnic *nic, struct ftcp **out) {
  struct ftcp *t = calloc(1, sizeof(*t));
  t->proto.GetModeData = t_get_mode;
  t->proto.Configure = t_configure;
  t->proto.Routes = t_routes;
  t->proto.Connect = t_connect;
  t->proto.Accept = t_accept;
  t->proto.Transmit = t_transmit;
  t->proto.Receive = t_receive;
  t->proto.Close = t_close;
  t->proto.Cancel = t_cancel;
  t->proto.Poll = t_poll;
  t->nic = nic;
  t->id = nic->net->next_id++;
  t->handle = fw_handle_new();
  fw_install(t->handle, &efi_tcp4_guid, &t->proto);
  t->next = nic->tcps;
  nic->tcps = t;
  *out = t;
  return EFI_SUCCESS;
}

void ftcp_destroy(struct ftcp *t) {
  reset_instance(t);
  struct ftcp **pp = &t->nic->tcps;
  while (*pp && *pp != t) pp = &(*pp)->next;
  if (*pp) *pp = t->next;
  /* A listener still holding it as pending forgets it. */
  for (struct ftcp *o = t->nic->tcps; o; o = o->next) fq_remove(&o->pending, t);
  fw_handle_free(t->handle);
  free(t->unsent);
  free(t);
}

/* ---- input from the wire ---- */

static struct ftcp *find_listener_inst(struct fnet *n, uint32_t ip, uint16_t port) {
  for (unsigned i = 0; i < n->nnics; i++)
    for (struct ftcp *t = n->nics[i].tcps; t; t = t->next)
      if (t->configured && t->state == FT_LISTEN && t->lport == port && t->laddr == ip) return t;
  return NULL;
}

static void peer_syn_arrives(struct fnet *n, struct fconn *c) {
  struct ftcp *l = find_listener_inst(n, c->gip, c->gport);
  if (!l || l->pending.n >= l->backlog) {
    c->refused = true;
    c->dead = true;
    if (c->ops && c->ops->on_refused) c->ops->on_refused(c, c->user);
    return;
  }
  struct ftcp *ch;
  ftcp_create(l->nic, &ch);
  ch->cfg = l->cfg;
  ch->opt = l->opt; /* the child has the listener's options, as in TcpDxe */
  ch->has_opt = l->has_opt;
  ch->cfg.ControlOption = ch->has_opt ? &ch->opt : NULL;
  ch->configured = true;
  ch->active = false;
  ch->laddr = l->laddr;
  ch->mask = l->mask;
  ch->lport = l->lport;
  ch->raddr = c->pip;
  ch->rport = c->pport;
  ch->rcvbuf = l->rcvbuf;
  ch->listener = l;
  ch->state = FT_ESTABLISHED;
  ch->conn = c;
  c->g = ch;
  c->established = true;
  fq_push(&l->pending, ch);
  if (c->ops && c->ops->on_connect) c->ops->on_connect(c, c->user);
  fconn_builtin_event(c, EV_CONNECT, NULL, 0);
  fconn_pump(c);
  give_accept(l);
}

void ftcp_input(struct fnet *n, struct fframe *f) {
  struct fconn *c = f->c;
  if (f->kind == FR_TCP && (f->flags & FF_SYN) && !(f->flags & FF_ACK)) {
    peer_syn_arrives(n, c);
    return;
  }
  struct ftcp *t = c->g;
  if (!t) return; /* the guest instance is gone */
  if (f->kind == FR_ICMP_TCP) {
    if (t->state == FT_SYN_SENT && t->conn_tok) {
      EFI_TCP4_CONNECTION_TOKEN *tok = t->conn_tok;
      t->conn_tok = NULL;
      t->state = FT_CLOSED;
      fw_complete(tok->CompletionToken.Event, &tok->CompletionToken.Status, f->icmp);
    }
    return;
  }
  if (f->flags & FF_RST) {
    if (t->state == FT_SYN_SENT && t->conn_tok) {
      EFI_TCP4_CONNECTION_TOKEN *tok = t->conn_tok;
      t->conn_tok = NULL;
      t->state = FT_CLOSED;
      fw_complete(tok->CompletionToken.Event, &tok->CompletionToken.Status, EFI_CONNECTION_REFUSED);
    } else {
      t->state = FT_RESET;
      flush(t, EFI_CONNECTION_RESET);
      free_data(t);
    }
    return;
  }
  if ((f->flags & FF_SYN) && (f->flags & FF_ACK)) {
    if (t->state == FT_SYN_SENT) {
      t->state = FT_ESTABLISHED;
      EFI_TCP4_CONNECTION_TOKEN *tok = t->conn_tok;
      t->conn_tok = NULL;
      if (tok) fw_complete(tok->CompletionToken.Event, &tok->CompletionToken.Status, EFI_SUCCESS);
      ftcp_guest_push(t);
      fconn_pump(c);
    }
    return;
  }
  if (f->flags & FF_DATA) {
    c->inflight -= f->len;
    if (t->state == FT_RESET || t->state == FT_CLOSED) return;
    if (t->state == FT_FIN_WAIT && t->nic->net->fw->opts.close_is_full_close) {
      /* EDK2 TcpInput, the application closed: "connection reset because
       * data is lost" (a RST to the peer, every token reset) */
      detach_abort(t);
      t->state = FT_RESET;
      flush(t, EFI_CONNECTION_RESET);
      free_data(t);
      return;
    }
    struct fseg *s = malloc(sizeof(*s) + f->len);
    s->next = NULL;
    s->len = f->len;
    s->off = 0;
    memcpy(s->data, f->data, f->len);
    if (t->seg_tail) t->seg_tail->next = s;
    else t->seg_head = s;
    t->seg_tail = s;
    t->buffered += f->len;
    deliver(t);
  }
  if ((f->flags & FF_ACK) && f->acked) {
    size_t acked = f->acked;
    while (acked && t->txq.n) {
      unsigned slot = t->txq.h;
      size_t take = acked < t->tx_left[slot] ? acked : t->tx_left[slot];
      t->tx_left[slot] -= take;
      acked -= take;
      if (t->tx_left[slot] == 0) complete_io(fq_pop(&t->txq), EFI_SUCCESS);
    }
  }
  if (f->flags & FF_FINACK) {
    t->fin_acked = true;
    check_closed(t);
  }
  if (f->flags & FF_FIN) {
    t->rcv_fin = true;
    if (t->state == FT_ESTABLISHED) t->state = FT_CLOSE_WAIT;
    deliver(t);
    check_closed(t);
  }
}

/* ---- the peer's side of a connection ---- */

void fconn_guest_data(struct fconn *c, const uint8_t *d, size_t len) {
  struct fnet *n = c->net;
  if (!len) return;
  for (size_t off = 0; off < len; off += MSS) {
    size_t chunk = len - off < MSS ? len - off : MSS;
    n->fw->ctr.frames_out++;
    queue_ctl(c, FF_ACK, chunk); /* one ACK per segment received */
  }
  if (c->in_len + len > c->in_cap) {
    c->in_cap = (c->in_len + len) * 2;
    c->in = realloc(c->in, c->in_cap);
  }
  memcpy(c->in + c->in_len, d, len);
  c->in_len += len;
  if (c->ops && c->ops->on_data) c->ops->on_data(c, d, len, c->user);
  fconn_builtin_event(c, EV_DATA, d, len);
}

void fconn_pump(struct fconn *c) {
  struct ftcp *t = c->g;
  if (!t || c->dead || c->got_reset) return;
  if (t->state == FT_SYN_SENT) return;
  while (c->out_off < c->out_len) {
    size_t used = t->buffered + c->inflight;
    size_t window = t->rcvbuf > used ? t->rcvbuf - used : 0;
    if (!window) return;
    size_t left = c->out_len - c->out_off;
    size_t chunk = left < MSS ? left : MSS;
    if (chunk > window) chunk = window;
    struct fframe *f = fnet_frame(chunk);
    f->kind = FR_TCP;
    f->c = c;
    f->flags = FF_DATA | FF_ACK;
    memcpy(f->data, c->out + c->out_off, chunk);
    fnet_queue(c->net, f);
    c->out_off += chunk;
    c->inflight += chunk;
  }
  if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
  if (c->peer_fin_queued && !c->peer_fin_sent) {
    c->peer_fin_sent = true;
    queue_ctl(c, FF_FIN | FF_ACK, 0);
  }
}

void fnet_conn_send(struct fconn *c, const void *d, size_t len) {
  if (c->dead || c->got_reset || c->peer_fin_queued || !len) return;
  if (c->out_len + len > c->out_cap) {
    c->out_cap = (c->out_len + len) * 2;
    c->out = realloc(c->out, c->out_cap);
  }
  memcpy(c->out + c->out_len, d, len);
  c->out_len += len;
  fconn_pump(c);
}

void fnet_conn_close(struct fconn *c) {
  if (c->peer_fin_queued) return;
  c->peer_fin_queued = true;
  fconn_pump(c);
}

void fnet_conn_reset(struct fconn *c) {
  if (c->dead) return;
  c->dead = true;
  c->out_len = c->out_off = 0;
  queue_ctl(c, FF_RST, 0);
}

void fnet_conn_set_reading(struct fconn *c, bool reading) {
  c->reading = reading;
  if (reading && c->g) ftcp_guest_push(c->g);
}

const uint8_t *fnet_conn_received(struct fconn *c, size_t *len) {
  *len = c->in_len;
  return c->in;
}
bool fnet_conn_got_fin(struct fconn *c) { return c->got_fin; }
bool fnet_conn_got_reset(struct fconn *c) { return c->got_reset; }
bool fnet_conn_established(struct fconn *c) { return c->established && !c->refused; }
uint16_t fnet_conn_guest_port(struct fconn *c) { return c->gport; }

bool fnet_conn_guest_options(struct fconn *c, EFI_TCP4_OPTION *out) {
  if (!c->g || !c->g->has_opt) return false;
  *out = c->g->opt;
  return true;
}

struct fconn *fnet_tcp_connect(struct fnet *n, uint32_t src_ip, uint32_t dst_ip, uint16_t port,
                               const struct fpeer_ops *ops, void *user) {
  struct fconn *c = fconn_new(n);
  c->ops = ops;
  c->user = user;
  c->by_peer = true;
  c->pip = src_ip;
  c->pport = fnet_ephemeral(n);
  c->gip = dst_ip;
  c->gport = port;
  queue_ctl(c, FF_SYN, 0);
  return c;
}
