/* Fake EFI_UDP4_PROTOCOL instances.
 *
 * Received datagrams are handed over in firmware-owned buffers that the
 * program must return by signalling RxData->RecycleSignal; buffers not
 * returned are counted (fakefw_leaks.rx_buffers). Only an instance
 * configured with a remote address is told of ICMP errors, as in EDK2.
 * Broadcasts (255.255.255.255 and the subnet's) reach the instances
 * configured with AcceptBroadcast, multicasts those that joined the group
 * with Groups(); both are sent on the link without a route.
 */
#include "fw.h"

#define UDP_QUEUE_MAX 64


static struct fudp *U(EFI_UDP4_PROTOCOL *p) { return (struct fudp *)p; }

static void complete(EFI_UDP4_COMPLETION_TOKEN *t, EFI_STATUS st) {
  fw_complete(t->Event, &t->Status, st);
}

static void flush(struct fudp *u, EFI_STATUS st) {
  EFI_UDP4_COMPLETION_TOKEN *t;
  while ((t = fq_pop(&u->rxq))) complete(t, st);
  while ((t = fq_pop(&u->txq))) complete(t, st);
  while (u->q_head) {
    struct fudp_dgram *d = u->q_head;
    u->q_head = d->next;
    free(d);
  }
  u->q_tail = NULL;
  u->qn = 0;
}

static VOID EFIAPI recycle_notify(EFI_EVENT e, VOID *ctx) {
  (void)e;
  struct frxbuf *b = ctx;
  struct fnet *n = b->net;
  if (b->prev) b->prev->next = b->next;
  else n->rxbufs = b->next;
  if (b->next) b->next->prev = b->prev;
  n->rx_buffers--;
  fw_event_free(b->recycle);
  free(b);
}

static void deliver(struct fudp *u) {
  struct fnet *n = u->nic->net;
  while (u->rxq.n && u->q_head) {
    EFI_UDP4_COMPLETION_TOKEN *tok = fq_pop(&u->rxq);
    struct fudp_dgram *d = u->q_head;
    u->q_head = d->next;
    if (!u->q_head) u->q_tail = NULL;
    u->qn--;
    struct frxbuf *b = calloc(1, sizeof(*b) + d->len);
    b->net = n;
    b->recycle = fw_event_new(EVT_NOTIFY_SIGNAL, TPL_NOTIFY, recycle_notify, b, true);
    b->rx.RecycleSignal = b->recycle;
    b->rx.UdpSession.SourceAddress = ip_to(d->src);
    b->rx.UdpSession.SourcePort = d->sport;
    b->rx.UdpSession.DestinationAddress = ip_to(u->laddr);
    b->rx.UdpSession.DestinationPort = u->lport;
    b->rx.DataLength = (UINT32)d->len;
    b->rx.FragmentCount = 1;
    b->rx.FragmentTable[0].FragmentLength = (UINT32)d->len;
    b->rx.FragmentTable[0].FragmentBuffer = b->data;
    memcpy(b->data, d->data, d->len);
    free(d);
    b->next = n->rxbufs;
    if (n->rxbufs) n->rxbufs->prev = b;
    n->rxbufs = b;
    n->rx_buffers++;
    tok->Packet.RxData = &b->rx;
    complete(tok, EFI_SUCCESS);
  }
}

static EFI_STATUS EFIAPI u_get_mode(EFI_UDP4_PROTOCOL *This, EFI_UDP4_CONFIG_DATA *cfg,
                                    EFI_IP4_MODE_DATA *ip, EFI_MANAGED_NETWORK_CONFIG_DATA *m,
                                    EFI_SIMPLE_NETWORK_MODE *s) {
  (void)ip, (void)m, (void)s;
  struct fudp *u = U(This);
  if (!u->configured) return EFI_NOT_STARTED;
  if (cfg) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->StationAddress = ip_to(u->laddr);
    cfg->SubnetMask = ip_to(u->mask);
    cfg->StationPort = u->lport;
    cfg->RemoteAddress = ip_to(u->raddr);
    cfg->RemotePort = u->rport;
    cfg->AllowDuplicatePort = u->dup_ok;
    cfg->AcceptBroadcast = u->bcast;
    cfg->TimeToLive = 64;
  }
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI u_configure(EFI_UDP4_PROTOCOL *This, EFI_UDP4_CONFIG_DATA *cd) {
  struct fudp *u = U(This);
  struct fnic *nic = u->nic;
  if (!cd) {
    flush(u, EFI_ABORTED);
    u->configured = false;
    u->has_routes = false;
    u->ngroups = 0; /* the reset leaves every group */
    return EFI_SUCCESS;
  }
  if (u->configured) return EFI_ALREADY_STARTED;
  fnet_nic_update(nic);
  uint32_t laddr, mask;
  if (cd->UseDefaultAddress) {
    if (!nic->configured) {
      if (nic->policy == Ip4Config2PolicyStatic && !nic->man_addr && !nic->net->fw->opts.no_auto_dhcp)
        nic->policy = Ip4Config2PolicyDhcp;
      if (nic->policy == Ip4Config2PolicyDhcp) fnet_nic_start_dhcp(nic);
      return EFI_NO_MAPPING;
    }
    laddr = nic->addr;
    mask = nic->mask;
  } else {
    laddr = ip_of(&cd->StationAddress);
    mask = ip_of(&cd->SubnetMask);
    if (!laddr) return EFI_INVALID_PARAMETER;
  }
  uint16_t port = cd->StationPort ? cd->StationPort : fnet_ephemeral(nic->net);
  for (struct fudp *o = nic->udps; o; o = o->next)
    if (o != u && o->configured && o->lport == port && !(o->dup_ok && cd->AllowDuplicatePort))
      return EFI_ACCESS_DENIED;
  u->laddr = laddr;
  u->mask = mask;
  u->lport = port;
  u->raddr = ip_of(&cd->RemoteAddress);
  u->rport = cd->RemotePort;
  u->dup_ok = cd->AllowDuplicatePort;
  u->bcast = cd->AcceptBroadcast;
  u->configured = true;
  return EFI_SUCCESS;
}

static bool is_multicast(uint32_t a) { return (a >> 28) == 0xe; }
static bool is_broadcast(const struct fudp *u, uint32_t a) {
  return a == 0xffffffffu || (u->mask && a == (u->laddr | ~u->mask));
}

/* UEFI EFI_UDP4_PROTOCOL.Groups(), as Udp4Dxe checks it. */
static EFI_STATUS EFIAPI u_groups(EFI_UDP4_PROTOCOL *This, BOOLEAN join, EFI_IPv4_ADDRESS *a) {
  struct fudp *u = U(This);
  if (join && !a) return EFI_INVALID_PARAMETER;
  if (a && !is_multicast(ip_of(a))) return EFI_INVALID_PARAMETER;
  if (!u->configured) return EFI_NOT_STARTED;
  if (!join && !a) {
    u->ngroups = 0;
    return EFI_SUCCESS;
  }
  uint32_t g = ip_of(a);
  for (unsigned i = 0; i < u->ngroups; i++) {
    if (u->groups[i] != g) continue;
    if (join) return EFI_ALREADY_STARTED;
    u->groups[i] = u->groups[--u->ngroups];
    return EFI_SUCCESS;
  }
  if (!join) return EFI_NOT_FOUND;
  if (u->ngroups == sizeof(u->groups) / sizeof(u->groups[0])) return EFI_OUT_OF_RESOURCES;
  u->groups[u->ngroups++] = g;
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI u_routes(EFI_UDP4_PROTOCOL *This, BOOLEAN del, EFI_IPv4_ADDRESS *sn,
                                  EFI_IPv4_ADDRESS *mask, EFI_IPv4_ADDRESS *gw) {
  struct fudp *u = U(This);
  if (!sn || !mask || !gw) return EFI_INVALID_PARAMETER;
  if (!u->configured) return EFI_NOT_STARTED;
  if (del) {
    u->has_routes = false;
    return EFI_SUCCESS;
  }
  if (u->has_routes) return EFI_ACCESS_DENIED;
  u->has_routes = true;
  u->nic->net->fw->ctr.routes_added++;
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI u_transmit(EFI_UDP4_PROTOCOL *This, EFI_UDP4_COMPLETION_TOKEN *tok) {
  struct fudp *u = U(This);
  struct fnet *n = u->nic->net;
  if (!tok || !tok->Event || !tok->Packet.TxData) return EFI_INVALID_PARAMETER;
  EFI_UDP4_TRANSMIT_DATA *tx = tok->Packet.TxData;
  if (!tx->FragmentCount) return EFI_INVALID_PARAMETER;
  size_t sum = 0;
  for (UINT32 i = 0; i < tx->FragmentCount; i++) sum += tx->FragmentTable[i].FragmentLength;
  if (sum != tx->DataLength) return EFI_INVALID_PARAMETER;
  if (!u->configured) return EFI_NOT_STARTED;
  if (sum > 65507) return EFI_BAD_BUFFER_SIZE;
  uint32_t dst;
  uint16_t dport;
  if (tx->UdpSessionData) {
    dst = ip_of(&tx->UdpSessionData->DestinationAddress);
    dport = tx->UdpSessionData->DestinationPort;
  } else {
    if (!u->raddr) return EFI_INVALID_PARAMETER;
    dst = u->raddr;
    dport = u->rport;
  }
  if (!dst || !dport) return EFI_INVALID_PARAMETER;
  n->fw->ctr.udp_transmit++;
  uint8_t *buf = malloc(sum ? sum : 1);
  size_t off = 0;
  for (UINT32 i = 0; i < tx->FragmentCount; i++) {
    if (!tx->FragmentTable[i].FragmentLength) continue;
    memcpy(buf + off, tx->FragmentTable[i].FragmentBuffer, tx->FragmentTable[i].FragmentLength);
    off += tx->FragmentTable[i].FragmentLength;
  }
  struct fnic tmp = *u->nic;
  tmp.addr = u->laddr;
  tmp.mask = u->mask;
  EFI_STATUS unreach = EFI_SUCCESS;
  bool link = is_broadcast(u, dst) || is_multicast(dst); /* on the link, no route */
  bool ok = link || fnet_route(&tmp, dst, u->has_routes, &unreach);
  if (ok || unreach == EFI_SUCCESS) {
    if (ok) fnet_udp_from_guest(n, u, u->laddr, u->lport, dst, dport, buf, sum);
    complete(tok, EFI_SUCCESS);
  } else {
    complete(tok, unreach);
  }
  free(buf);
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI u_receive(EFI_UDP4_PROTOCOL *This, EFI_UDP4_COMPLETION_TOKEN *tok) {
  struct fudp *u = U(This);
  if (!tok || !tok->Event) return EFI_INVALID_PARAMETER;
  if (!u->configured) return EFI_NOT_STARTED;
  if (!fq_push(&u->rxq, tok)) return EFI_NOT_READY;
  u->nic->net->fw->ctr.udp_receive++;
  deliver(u);
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI u_cancel(EFI_UDP4_PROTOCOL *This, EFI_UDP4_COMPLETION_TOKEN *tok) {
  struct fudp *u = U(This);
  if (!u->configured) return EFI_NOT_STARTED;
  if (!tok) {
    EFI_UDP4_COMPLETION_TOKEN *t;
    while ((t = fq_pop(&u->rxq))) complete(t, EFI_ABORTED);
    return EFI_SUCCESS;
  }
  if (fq_remove(&u->rxq, tok)) {
    complete(tok, EFI_ABORTED);
    return EFI_SUCCESS;
  }
  return EFI_NOT_FOUND;
}

static EFI_STATUS EFIAPI u_poll(EFI_UDP4_PROTOCOL *This) {
  struct fudp *u = U(This);
  struct fnet *n = u->nic->net;
  n->fw->ctr.polls++;
  fw_charge(FW_POLL_COST_NS);
  fnet_nic_update(u->nic);
  fnet_process_one(n);
  return EFI_SUCCESS;
}

EFI_STATUS fudp_create(struct fnic *nic, struct fudp **out) {
  struct fudp *u = calloc(1, sizeof(*u));
  u->proto.GetModeData = u_get_mode;
  u->proto.Configure = u_configure;
  u->proto.Groups = u_groups;
  u->proto.Routes = u_routes;
  u->proto.Transmit = u_transmit;
  u->proto.Receive = u_receive;
  u->proto.Cancel = u_cancel;
  u->proto.Poll = u_poll;
  u->nic = nic;
  u->id = nic->net->next_id++;
  u->handle = fw_handle_new();
  fw_install(u->handle, &efi_udp4_guid, &u->proto);
  u->next = nic->udps;
  nic->udps = u;
  *out = u;
  return EFI_SUCCESS;
}

void fudp_destroy(struct fudp *u) {
  flush(u, EFI_ABORTED);
  struct fudp **pp = &u->nic->udps;
  while (*pp && *pp != u) pp = &(*pp)->next;
  if (*pp) *pp = u->next;
  fw_handle_free(u->handle);
  free(u);
}

static bool joined(const struct fudp *u, uint32_t g) {
  for (unsigned i = 0; i < u->ngroups; i++)
    if (u->groups[i] == g) return true;
  return false;
}

/* A unicast goes to one instance; a broadcast or multicast to each that
 * takes it. */
void fudp_input(struct fnet *n, struct fframe *f) {
  for (unsigned i = 0; i < n->nnics; i++) {
    for (struct fudp *u = n->nics[i].udps; u; u = u->next) {
      if (!u->configured || u->lport != f->dport) continue;
      bool many = is_multicast(f->dst) || is_broadcast(u, f->dst);
      if (is_multicast(f->dst) ? !joined(u, f->dst)
          : is_broadcast(u, f->dst) ? !u->bcast
                                    : u->laddr != f->dst)
        continue;
      if (u->raddr && (u->raddr != f->src || (u->rport && u->rport != f->sport))) continue;
      if (u->qn >= UDP_QUEUE_MAX) {
        if (many) continue;
        return; /* the firmware's queue is full: dropped */
      }
      struct fudp_dgram *d = malloc(sizeof(*d) + f->len);
      d->next = NULL;
      d->src = f->src;
      d->sport = f->sport;
      d->len = f->len;
      memcpy(d->data, f->data, f->len);
      if (u->q_tail) u->q_tail->next = d;
      else u->q_head = d;
      u->q_tail = d;
      u->qn++;
      deliver(u);
      if (!many) return;
    }
  }
}

void fudp_icmp(struct fnet *n, struct fframe *f) {
  struct fudp *u = fnet_find_udp(n, f->inst_id);
  if (!u || !u->configured || !u->raddr) return;
  EFI_UDP4_COMPLETION_TOKEN *tok = fq_pop(&u->rxq);
  if (tok) complete(tok, f->icmp);
}

void fudp_free_rxbufs(struct fnet *n) {
  while (n->rxbufs) {
    struct frxbuf *b = n->rxbufs;
    n->rxbufs = b->next;
    free(b);
  }
}
