/* SOCK_DGRAM over EFI_UDP4: one UDP4 child per socket, created on first use.
 *
 * One Receive stays posted. Each completion is copied into the socket's
 * datagram queue (bounded by SO_RCVBUF; overflow drops and counts, as UDP
 * does), then the firmware's buffer is returned at once via RecycleSignal:
 * holding firmware packet buffers would starve the stack.
 */
#include "internal.h"

#define UDP_MAX_PAYLOAD 65507u

static EFI_UDP4_PROTOCOL *P(struct en_sock *s) { return s->child.proto; }

static int udp_init(struct en_sock *s) {
  struct efinet *net = s->net;
  struct en_udp *u = &s->u.udp;
  int err = en_tok_init(net, &u->rx_tok);
  u->ntx = net->cfg.tx_tokens;
  for (unsigned i = 0; i < u->ntx; i++) err |= en_tok_init(net, &u->tx_tok[i]);
  s->rcvbuf = 212992; /* Linux's default */
  s->sndbuf = u->ntx * UDP_MAX_PAYLOAD;
  return err ? -EFISOCK_ENOMEM : 0;
}

static void post_rx(struct en_sock *s) {
  struct en_udp *u = &s->u.udp;
  if (!u->configured || u->rx_tok.posted) return;
  en_tok_arm(&u->rx_tok);
  u->rx_tok.u.udp.Packet.RxData = NULL;
  if (EFI_ERROR(P(s)->Receive(P(s), &u->rx_tok.u.udp)))
    u->rx_tok.posted = 0;
  else {
    s->stats.rx_posted++;
    s->net->stats.rx_posted++;
  }
}

static void enqueue(struct en_sock *s, EFI_UDP4_RECEIVE_DATA *rx);

/* A failed UDP4 Transmit as an rc. EFI_NOT_FOUND is IP4's "no route"
 * (Ip4Output in EDK2's Ip4Dxe); the token's EFI_NETWORK_UNREACHABLE and
 * EFI_HOST_UNREACHABLE map through the one table (errno.c). */
static int tx_status_rc(EFI_STATUS st) {
  if (st == EFI_NOT_FOUND) return -EFISOCK_ENETUNREACH;
  if (st == EFI_NOT_READY) return -EFISOCK_EAGAIN;
  if (st == EFI_BAD_BUFFER_SIZE) return -EFISOCK_EMSGSIZE;
  return en_status_rc(st);
}


/* Consume a completed Receive: queue its datagram and give the firmware
 * its buffer back (RecycleSignal), or note an ICMP error. Returns whether
 * the token had completed. */
static bool rx_consume(struct en_sock *s) {
  struct efinet *net = s->net;
  struct en_udp *u = &s->u.udp;
  if (!en_tok_complete(&u->rx_tok)) return false;
  u->rx_tok.posted = 0;
  s->stats.rx_completed++;
  net->stats.rx_completed++;
  EFI_STATUS st = u->rx_tok.u.hdr.Status;
  EFI_UDP4_RECEIVE_DATA *rx = u->rx_tok.u.udp.Packet.RxData;
  if (st == EFI_SUCCESS && rx) {
    enqueue(s, rx);
    net->bs->SignalEvent(rx->RecycleSignal); /* give the buffer back now */
  } else if (st != EFI_ABORTED && st != EFI_SUCCESS) {
    s->so_error = efisock_status_to_errno(st); /* ICMP error on a connected socket */
  }
  return true;
}

static int udp_configure(struct en_sock *s) {
  struct efinet *net = s->net;
  struct en_udp *u = &s->u.udp;
  if (!s->child.proto) {
    int rc = en_child_create(net, net->udp4_sb, &efi_udp4_guid, &s->child);
    if (rc < 0) return rc;
  }
  if (u->configured) {
    /* A Receive that already completed holds a datagram and a firmware
     * buffer: queue it and recycle the buffer before Configure(NULL), as
     * Linux keeps its receive queue across connect(). */
    rx_consume(s);
    P(s)->Configure(P(s), NULL); /* aborts the posted Receive (EFI_ABORTED) */
    u->configured = false;
    rx_consume(s);
    u->rx_tok.posted = 0; /* an abort the notify has not reported yet */
  }
  EFI_UDP4_CONFIG_DATA cd;
  memset(&cd, 0, sizeof(cd));
  cd.AllowDuplicatePort = s->reuseaddr ? TRUE : FALSE;
  /* Linux delivers broadcasts to a socket bound to INADDR_ANY whether or
   * not SO_BROADCAST is set (that option is about sending). */
  cd.AcceptBroadcast = s->local.sin_addr.s_addr == 0 ? TRUE : FALSE;
  cd.TimeToLive = 64;
  cd.StationAddress = en_sin_ip(&s->local.sin_addr);
  cd.StationPort = efisock_ntohs(s->local.sin_port);
  if (u->connected) {
    /* A connected instance gets ICMP errors (port unreachable) reported
     * on its Receive token: connected UDP sockets see ECONNREFUSED. */
    cd.RemoteAddress = en_sin_ip(&s->peer.sin_addr);
    cd.RemotePort = efisock_ntohs(s->peer.sin_port);
  }
  EFI_STATUS st = en_configure_retry(net, &cd, true, P(s));
  if (EFI_ERROR(st)) {
    if (st == EFI_ACCESS_DENIED) return -EFISOCK_EADDRINUSE;
    return en_status_rc(st);
  }
  u->configured = true;
  s->bound = true;
  en_add_default_route(net, P(s), true);
  /* Configure(NULL) left every group: join them again. */
  for (unsigned i = 0; i < u->ngroups; i++) P(s)->Groups(P(s), TRUE, &u->groups[i]);
  EFI_UDP4_CONFIG_DATA got;
  memset(&got, 0, sizeof(got));
  if (!EFI_ERROR(P(s)->GetModeData(P(s), &got, NULL, NULL, NULL))) {
    s->local.sin_port = efisock_htons(got.StationPort);
    if (en_ip_u32(&got.StationAddress)) s->local.sin_addr = en_ip_sin(&got.StationAddress);
  }
  post_rx(s);
  return 0;
}

static void enqueue(struct en_sock *s, EFI_UDP4_RECEIVE_DATA *rx) {
  struct efinet *net = s->net;
  struct en_udp *u = &s->u.udp;
  if (u->connected && (en_ip_sin(&rx->UdpSession.SourceAddress).s_addr !=
                           s->peer.sin_addr.s_addr ||
                       efisock_htons(rx->UdpSession.SourcePort) != s->peer.sin_port))
    return; /* connected: only the peer's datagrams, as on Linux */
  if (u->q_bytes + rx->DataLength > s->rcvbuf) {
    s->stats.udp_dropped++;
    net->stats.udp_dropped++;
    return;
  }
  struct en_dgram *d = en_alloc(net, sizeof(*d) + rx->DataLength);
  if (!d) {
    s->stats.udp_dropped++;
    net->stats.udp_dropped++;
    return;
  }
  d->from.sin_family = EFISOCK_AF_INET;
  d->from.sin_addr = en_ip_sin(&rx->UdpSession.SourceAddress);
  d->from.sin_port = efisock_htons(rx->UdpSession.SourcePort);
  uint32_t off = 0;
  for (UINT32 i = 0; i < rx->FragmentCount && off < rx->DataLength; i++) {
    uint32_t n = rx->FragmentTable[i].FragmentLength;
    if (n > rx->DataLength - off) n = rx->DataLength - off;
    memcpy(d->data + off, rx->FragmentTable[i].FragmentBuffer, n);
    off += n;
  }
  d->len = off;
  if (u->q_tail)
    u->q_tail->next = d;
  else
    u->q_head = d;
  u->q_tail = d;
  u->q_bytes += d->len;
  s->stats.rx_bytes += d->len;
  net->stats.rx_bytes += d->len;
}

static void udp_progress(struct en_sock *s) {
  struct efinet *net = s->net;
  struct en_udp *u = &s->u.udp;
  /* Drain what the firmware already has: each repost may complete at once.
   * Bounded, so a flood cannot hold the safe point for ever. */
  for (unsigned round = 0; round < 64 && rx_consume(s); round++) post_rx(s);
  for (unsigned i = 0; i < u->ntx; i++) {
    if (!en_tok_complete(&u->tx_tok[i])) continue;
    u->tx_tok[i].posted = 0;
    en_free(net, u->txbuf[i]);
    u->txbuf[i] = NULL;
    s->stats.tx_completed++;
    net->stats.tx_completed++;
    /* A datagram the firmware could not send: the next call reports it. */
    EFI_STATUS st = u->tx_tok[i].u.hdr.Status;
    if (st != EFI_SUCCESS && st != EFI_ABORTED && !s->so_error) s->so_error = -tx_status_rc(st);
  }
  post_rx(s);
}

static int udp_bind(struct en_sock *s, const struct efisock_sockaddr_in *a) {
  if (s->bound) return -EFISOCK_EINVAL;
  if (a->sin_addr.s_addr && s->net->have_addr &&
      a->sin_addr.s_addr != en_ip_sin(&s->net->addr).s_addr)
    return -EFISOCK_EADDRNOTAVAIL;
  s->local.sin_addr = a->sin_addr;
  s->local.sin_port = a->sin_port;
  return udp_configure(s);
}

static int udp_connect(struct en_sock *s, const struct efisock_sockaddr_in *a) {
  struct en_udp *u = &s->u.udp;
  /* What arrived before connect() stays queued whoever sent it (Linux
   * does not filter its queue): consume it under the old filter. */
  if (u->configured) rx_consume(s);
  if (a->sin_family == EFISOCK_AF_UNSPEC) {
    u->connected = false;
    memset(&s->peer.sin_addr, 0, sizeof(s->peer.sin_addr));
    s->peer.sin_port = 0;
  } else {
    if (a->sin_addr.s_addr == 0) return -EFISOCK_EINVAL;
    s->peer = *a;
    u->connected = true;
  }
  return udp_configure(s);
}

/* The limited broadcast, or this subnet's. */
static bool is_broadcast(struct efinet *net, struct efisock_in_addr a) {
  uint32_t v = efisock_ntohl(a.s_addr);
  if (v == 0xffffffffu) return true;
  uint32_t mask = en_ip_u32(&net->mask);
  return net->have_addr && mask && mask != 0xffffffffu && v == (en_ip_u32(&net->addr) | ~mask);
}

static int free_tx(struct en_udp *u) {
  for (unsigned i = 0; i < u->ntx; i++)
    if (!u->tx_tok[i].posted) return (int)i;
  return -1;
}
/* A free Transmit token, and SO_SNDBUF not reached by the datagrams in
 * flight (Linux's test too: one datagram may take it past the limit). */
static bool tx_room(struct en_sock *s) {
  struct en_udp *u = &s->u.udp;
  uint32_t inflight = 0;
  for (unsigned i = 0; i < u->ntx; i++)
    if (u->tx_tok[i].posted) inflight += u->txd[i].DataLength;
  return free_tx(u) >= 0 && inflight < s->sndbuf;
}
static bool udp_tx_space(void *a) { return tx_room(a); }

static efisock_ssize_t udp_send(struct en_sock *s, const void *buf, size_t len, int flags,
                                const struct efisock_sockaddr_in *to) {
  struct efinet *net = s->net;
  struct en_udp *u = &s->u.udp;
  bool nb = s->nonblock || (flags & EFISOCK_MSG_DONTWAIT);
  if (!to) {
    if (!u->connected) return -EFISOCK_EDESTADDRREQ;
    to = &s->peer;
  }
  if (len > UDP_MAX_PAYLOAD) return -EFISOCK_EMSGSIZE;
  if (to->sin_addr.s_addr == 0) return -EFISOCK_EINVAL;
  if (is_broadcast(net, to->sin_addr) && !s->broadcast) return -EFISOCK_EACCES; /* as Linux */
  if (!u->configured) {
    int rc = udp_configure(s);
    if (rc < 0) return rc;
  }
  udp_progress(s);
  if (s->so_error) return en_sock_error(s, 0);
  int i = free_tx(u);
  if (i < 0 || !tx_room(s)) {
    if (nb ? en_wait(net, udp_tx_space, s, 0, false)
           : en_wait(net, udp_tx_space, s, s->sndtimeo_ms, s->sndtimeo_ms == 0))
      return -EFISOCK_EAGAIN;
    i = free_tx(u);
  }
  uint8_t *copy = en_alloc(net, len);
  if (!copy) return -EFISOCK_ENOBUFS;
  if (len) memcpy(copy, buf, len);
  u->txbuf[i] = copy;
  EFI_UDP4_SESSION_DATA *sd = &u->txsess[i];
  memset(sd, 0, sizeof(*sd));
  sd->DestinationAddress = en_sin_ip(&to->sin_addr);
  sd->DestinationPort = efisock_ntohs(to->sin_port);
  EFI_UDP4_TRANSMIT_DATA *td = &u->txd[i];
  bool to_peer = u->connected && to->sin_addr.s_addr == s->peer.sin_addr.s_addr &&
                 to->sin_port == s->peer.sin_port;
  td->UdpSessionData = to_peer ? NULL : sd; /* connected instances use their remote */
  td->GatewayAddress = NULL;
  td->DataLength = (UINT32)len;
  td->FragmentCount = 1;
  td->FragmentTable[0].FragmentLength = (UINT32)len;
  td->FragmentTable[0].FragmentBuffer = copy;
  struct en_tok *t = &u->tx_tok[i];
  t->u.udp.Packet.TxData = td;
  en_tok_arm(t);
  EFI_STATUS st = P(s)->Transmit(P(s), &t->u.udp);
  if (!EFI_ERROR(st) && en_tok_complete(t) && t->u.hdr.Status != EFI_SUCCESS) {
    /* Failed inside the call (no route): this sendto fails, as on Linux. */
    st = t->u.hdr.Status;
    s->stats.tx_completed++;
    net->stats.tx_completed++;
  }
  if (EFI_ERROR(st)) {
    t->posted = 0;
    en_free(net, copy);
    u->txbuf[i] = NULL;
    return tx_status_rc(st);
  }
  s->stats.tx_posted++;
  s->stats.tx_bytes += len;
  net->stats.tx_posted++;
  net->stats.tx_bytes += len;
  return (efisock_ssize_t)len;
}

static bool udp_readable(void *a) {
  struct en_sock *s = a;
  return s->u.udp.q_head || s->so_error;
}

static efisock_ssize_t udp_recv(struct en_sock *s, void *buf, size_t len, int flags,
                                struct efisock_sockaddr_in *from) {
  struct efinet *net = s->net;
  struct en_udp *u = &s->u.udp;
  bool nb = s->nonblock || (flags & EFISOCK_MSG_DONTWAIT);
  if (!u->configured) {
    /* Linux lets an unbound UDP socket wait; it binds on first send. */
    if (nb) return -EFISOCK_EAGAIN;
    int rc = udp_configure(s);
    if (rc < 0) return rc;
  }
  udp_progress(s);
  if (!u->q_head && !s->so_error) {
    if (nb ? en_wait(net, udp_readable, s, 0, false)
           : en_wait(net, udp_readable, s, s->rcvtimeo_ms, s->rcvtimeo_ms == 0))
      return -EFISOCK_EAGAIN;
  }
  if (!u->q_head) return en_sock_error(s, -EFISOCK_EAGAIN);
  struct en_dgram *d = u->q_head;
  size_t n = d->len < len ? d->len : len;
  memcpy(buf, d->data, n);
  if (from) *from = d->from;
  efisock_ssize_t ret = (flags & EFISOCK_MSG_TRUNC) ? (efisock_ssize_t)d->len : (efisock_ssize_t)n;
  if (!(flags & EFISOCK_MSG_PEEK)) {
    u->q_head = d->next;
    if (!u->q_head) u->q_tail = NULL;
    u->q_bytes -= d->len;
    en_free(net, d);
  }
  return ret;
}

static int udp_shutdown(struct en_sock *s, int how) {
  (void)how;
  return s->u.udp.connected ? 0 : -EFISOCK_ENOTCONN;
}

static bool udp_close(struct en_sock *s) {
  (void)s;
  return true;
}

static void udp_abort(struct en_sock *s) {
  struct efinet *net = s->net;
  struct en_udp *u = &s->u.udp;
  if (P(s)) {
    if (u->configured) P(s)->Configure(P(s), NULL);
    /* A datagram that completed but was never consumed still holds a
     * firmware buffer: recycle it before the child goes. */
    if (en_tok_complete(&u->rx_tok) && u->rx_tok.u.hdr.Status == EFI_SUCCESS &&
        u->rx_tok.u.udp.Packet.RxData)
      net->bs->SignalEvent(u->rx_tok.u.udp.Packet.RxData->RecycleSignal);
    en_child_destroy(net, &s->child);
  }
  en_tok_fini(net, &u->rx_tok);
  for (unsigned i = 0; i < u->ntx; i++) {
    en_tok_fini(net, &u->tx_tok[i]);
    en_free(net, u->txbuf[i]);
    u->txbuf[i] = NULL;
  }
  while (u->q_head) {
    struct en_dgram *d = u->q_head;
    u->q_head = d->next;
    en_free(net, d);
  }
  u->q_tail = NULL;
}

static unsigned udp_poll_mask(struct en_sock *s) {
  unsigned m = 0;
  if (s->u.udp.q_head) m |= EFISOCK_POLLIN;
  if (tx_room(s)) m |= EFISOCK_POLLOUT;
  if (s->so_error) m |= EFISOCK_POLLERR;
  return m;
}

static int udp_sockname(struct en_sock *s, struct efisock_sockaddr_in *out) {
  *out = s->local;
  return 0;
}

static int udp_peername(struct en_sock *s, struct efisock_sockaddr_in *out) {
  if (!s->u.udp.connected) return -EFISOCK_ENOTCONN;
  *out = s->peer;
  return 0;
}

static bool udp_accepting(struct en_sock *s) {
  (void)s;
  return false;
}

static int udp_listen(struct en_sock *s, int b) {
  (void)s;
  (void)b;
  return -EFISOCK_EOPNOTSUPP;
}
static int udp_accept(struct en_sock *s, struct en_sock **o) {
  (void)s;
  (void)o;
  return -EFISOCK_EOPNOTSUPP;
}

static int udp_setopt(struct en_sock *s, int level, int name, int v) {
  if (level == EFISOCK_IPPROTO_TCP) return -EFISOCK_EOPNOTSUPP; /* TCP_NODELAY */
  switch (name) {
  case EFISOCK_SO_KEEPALIVE:
    s->keepalive = v != 0; /* kept and reported, no effect: as Linux on UDP */
    return 0;
  case EFISOCK_SO_RCVBUF:
    s->rcvbuf = en_linux_buf(v, 1152); /* bounds the datagram queue (enqueue) */
    s->rcvbuf_set = true;
    return 0;
  case EFISOCK_SO_SNDBUF:
    s->sndbuf = en_linux_buf(v, 2304); /* bounds the datagrams in flight (tx_room) */
    return 0;
  default:
    return -EFISOCK_ENOPROTOOPT;
  }
}

/* Memberships are kept by the socket and given to UDP4 Groups() whenever
 * the child is configured; errors as Linux's IP_ADD/DROP_MEMBERSHIP. */
static int udp_membership(struct en_sock *s, bool join, const struct efisock_ip_mreq *m) {
  struct efinet *net = s->net;
  struct en_udp *u = &s->u.udp;
  if ((efisock_ntohl(m->imr_multiaddr.s_addr) >> 28) != 0xe) return -EFISOCK_EINVAL;
  if (m->imr_interface.s_addr &&
      (!net->have_addr || m->imr_interface.s_addr != en_ip_sin(&net->addr).s_addr))
    return -EFISOCK_ENODEV; /* not this instance's interface */
  EFI_IPv4_ADDRESS g = en_sin_ip(&m->imr_multiaddr);
  unsigned i = 0;
  while (i < u->ngroups && en_ip_u32(&u->groups[i]) != en_ip_u32(&g)) i++;
  if (join) {
    if (i < u->ngroups) return -EFISOCK_EADDRINUSE;
    if (u->ngroups == EN_ARRAY_SIZE(u->groups)) return -EFISOCK_ENOBUFS;
    if (u->configured) {
      EFI_STATUS st = P(s)->Groups(P(s), TRUE, &g);
      if (st == EFI_ALREADY_STARTED) return -EFISOCK_EADDRINUSE;
      if (EFI_ERROR(st)) return en_status_rc(st);
    }
    u->groups[u->ngroups++] = g;
    return 0;
  }
  if (i == u->ngroups) return -EFISOCK_EADDRNOTAVAIL;
  if (u->configured) P(s)->Groups(P(s), FALSE, &g); /* EFI_NOT_FOUND: already left */
  u->groups[i] = u->groups[--u->ngroups];
  return 0;
}

/* FIONREAD on UDP: the size of the next datagram, as Linux. */
static int udp_nread(struct en_sock *s) {
  if (s->u.udp.configured) udp_progress(s);
  return s->u.udp.q_head ? (int)s->u.udp.q_head->len : 0;
}

/* The UDP4 child is created on first use (bind, connect, send, recv). */
static int udp_open(struct en_sock *s) {
  (void)s;
  return 0;
}

static void udp_poll(struct en_sock *s) { P(s)->Poll(P(s)); }

/* Transmit tokens in flight (the Receive may wait for ever). */
static bool udp_busy(struct en_sock *s) {
  struct en_udp *u = &s->u.udp;
  for (unsigned i = 0; i < u->ntx; i++)
    if (u->tx_tok[i].posted) return true;
  return false;
}

const struct en_sock_ops en_udp_ops = {
    .init = udp_init,
    .open = udp_open,
    .bind = udp_bind,
    .listen = udp_listen,
    .accept = udp_accept,
    .connect = udp_connect,
    .send = udp_send,
    .recv = udp_recv,
    .shutdown = udp_shutdown,
    .close = udp_close,
    .abort = udp_abort,
    .progress = udp_progress,
    .poll = udp_poll,
    .busy = udp_busy,
    .poll_mask = udp_poll_mask,
    .sockname = udp_sockname,
    .peername = udp_peername,
    .accepting = udp_accepting,
    .setopt = udp_setopt,
    .nread = udp_nread,
    .membership = udp_membership,
};
