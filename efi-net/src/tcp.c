/* SOCK_STREAM over EFI_TCP4: one TCP4 child per socket.
 *
 * Receive: up to rx_tokens Receive tokens stay posted in a ring; completed
 * tokens hold their data until recv() consumes it, then are reposted. So
 * readiness is known without peeking, data is copied once, and a program
 * that stops reading stops reposting, which closes the TCP window as it should.
 * Completions are consumed in posting order whatever order they were
 * signalled in.
 *
 * When to post. By default one token is outstanding per socket, (re)posted
 * only at the safe point right after a Poll() (and before sleeping): the
 * frames a Poll brings wait in TCP4's own buffer and the Receive posted next
 * takes them at once, instead of a token waiting in TCP4 for each frame
 * (efi-net/README.md gives the measurements). Before Close() every free
 * token is posted, since EDK2 accepts no Receive after it (the rest of a
 * half-closed stream and its FIN arrive in those). rx_keep_posted keeps all
 * rx_tokens posted through Polls instead.
 *
 * Send: send() copies into a free Transmit token (the token's buffer must
 * outlive the call; Transmit completes only on ACK). tx_tokens x
 * tx_token_size is the socket's send buffer; no other layer buffers.
 *
 * Close: a graceful Close() token, then the socket lingers as a zombie that
 * every safe point progresses, with a deadline after which it is aborted.
 * Teardown order: Configure(NULL) (firmware lets go of every token),
 * DestroyChild, then events closed and buffers freed.
 *
 * States (enum en_tcp_state). TCP4 runs the RFC 793 machine itself; a socket
 * needs only the states its calls can tell apart:
 *
 *                 socket()
 *                    |
 *                    v         listen(): Configure(passive)
 *       .-------->  NEW  --------------------------------> LISTEN
 *       |            |                                       |
 *       |            | connect(): Configure(active),         | Accept token done:
 *       |            | Connect token posted                  | a new socket
 *       |            v                                       v
 *       |       CONNECTING --- Connect done (SUCCESS) ---> CONNECTED
 *       |            |                                    |       |
 *       |            | Connect failed                     |       | close(), nothing unread:
 *       |            v                                    |       | Close token posted
 *       '------- CLOSED <-- reset or error, reported -----'       v
 *    connect()                by recv()/send()                 CLOSING
 *    again: Configure(NULL)                                    (no descriptor; progressed
 *                                                              at every safe point)
 *
 * close() in any other state, with unread data, or a CLOSING socket whose
 * Close completed, was reset or passed close_timeout_ms: aborted
 * (Configure(NULL)) and freed. The TCP4 child is configured in every state
 * but NEW. Independent of the state: rd_shut (shutdown(SHUT_RD)), wr_shut
 * (Close() posted: by shutdown(SHUT_WR) in CONNECTED, or by close()), and
 * connect_report (a non-blocking connect's success not yet reported).
 */
#include "internal.h"


static EFI_TCP4_PROTOCOL *P(struct en_sock *s) { return s->child.proto; }

enum { EN_RX_EOF = 3, EN_RX_ERR = 4 };

static int tcp_init(struct en_sock *s) {
  struct efinet *net = s->net;
  struct en_tcp *t = &s->u.tcp;
  int err = 0;
  t->nrx = net->cfg.rx_tokens;
  t->ntx = net->cfg.tx_tokens;
  err |= en_tok_init(net, &t->conn_tok);
  err |= en_tok_init(net, &t->close_tok);
  err |= en_tok_init(net, &t->listen_tok);
  for (unsigned i = 0; i < t->nrx; i++) err |= en_tok_init(net, &t->rx[i].tok);
  for (unsigned i = 0; i < t->ntx; i++) err |= en_tok_init(net, &t->tx[i].tok);
  s->sndbuf = t->ntx * net->cfg.tx_token_size;
  s->rcvbuf = t->nrx * net->cfg.rx_token_size;
  return err ? -EFISOCK_ENOMEM : 0;
}

/* Buffers only for sockets that carry data (not for listeners). */
static int alloc_io(struct en_sock *s) {
  struct efinet *net = s->net;
  struct en_tcp *t = &s->u.tcp;
  for (unsigned i = 0; i < t->nrx; i++)
    if (!t->rx[i].buf && !(t->rx[i].buf = en_alloc(net, net->cfg.rx_token_size)))
      return -EFISOCK_ENOMEM;
  for (unsigned i = 0; i < t->ntx; i++)
    if (!t->tx[i].buf && !(t->tx[i].buf = en_alloc(net, net->cfg.tx_token_size)))
      return -EFISOCK_ENOMEM;
  return 0;
}

/* Tokens in use: posted, or holding data the program has not read. */
static unsigned rx_in_use(struct en_tcp *t) {
  unsigned n = 0;
  for (unsigned i = 0; i < t->nrx; i++)
    n += t->rx[i].state == EN_RX_POSTED || t->rx[i].state == EN_RX_DATA;
  return n;
}

/* Keep Receive tokens posted, in ring order, while the stream is open
 * (CONNECTED, or CLOSING: what still arrives is discarded): all
 * of them with rx_keep_posted; otherwise one in use at a time (posted or
 * holding unread data), posted only at the safe point after a Poll (the
 * file's head says why); every free one when all is true (before Close():
 * EDK2 takes no Receive after it). */
static void post_rx_some(struct en_sock *s, bool all) {
  struct en_tcp *t = &s->u.tcp;
  struct efinet *net = s->net;
  if ((t->state != EN_TCP_CONNECTED && t->state != EN_TCP_CLOSING) || t->rd_shut) return;
  bool keep = net->cfg.rx_keep_posted || all;
  if (!keep && !net->rx_post_open) return;
  unsigned limit = keep ? t->nrx : 1;
  for (unsigned n = keep ? 0 : rx_in_use(t);
       n < limit && t->rx[t->rx_post].state == EN_RX_FREE && t->rx[t->rx_post].buf; n++) {
    /* Nothing after end of stream or an error. */
    unsigned prev = (t->rx_post + t->nrx - 1) % t->nrx;
    if (t->rx[prev].state == EN_RX_EOF || t->rx[prev].state == EN_RX_ERR) return;
    struct en_rxbuf *r = &t->rx[t->rx_post];
    r->rxd.UrgentFlag = FALSE;
    r->rxd.DataLength = net->cfg.rx_token_size;
    r->rxd.FragmentCount = 1;
    r->rxd.FragmentTable[0].FragmentLength = net->cfg.rx_token_size;
    r->rxd.FragmentTable[0].FragmentBuffer = r->buf;
    r->tok.u.io.Packet.RxData = &r->rxd;
    en_tok_arm(&r->tok);
    uint64_t t0 = en_clock(net);
    EFI_STATUS st = P(s)->Receive(P(s), &r->tok.u.io);
    en_count_call(s, t0);
    if (st == EFI_SUCCESS) {
      r->state = EN_RX_POSTED;
      s->stats.rx_posted++;
      net->stats.rx_posted++;
      if (r->tok.u.hdr.Status != EFI_NOT_READY) { /* completed inside the call */
        s->stats.rx_early++;
        net->stats.rx_early++;
      }
    } else {
      r->tok.posted = 0;
      if (st == EFI_CONNECTION_FIN || st == EFI_NOT_STARTED) {
        r->state = EN_RX_EOF; /* the stream ended before this token */
      } else if (st == EFI_CONNECTION_RESET) {
        r->state = EN_RX_ERR;
        if (!s->so_error) s->so_error = EFISOCK_ECONNRESET;
      } else {
        return; /* transient (EFI_NOT_READY, resources): try at the next safe point */
      }
    }
    t->rx_post = (t->rx_post + 1) % t->nrx;
  }
}

static void post_rx(struct en_sock *s) { post_rx_some(s, false); }

static void fill_names(struct en_sock *s) {
  EFI_TCP4_CONFIG_DATA cd;
  EFI_TCP4_CONNECTION_STATE st;
  memset(&cd, 0, sizeof(cd));
  if (EFI_ERROR(P(s)->GetModeData(P(s), &st, &cd, NULL, NULL, NULL))) return;
  EFI_IPv4_ADDRESS local = cd.AccessPoint.StationAddress;
  if (en_ip_u32(&local) == 0) local = s->net->addr;
  s->local.sin_addr = en_ip_sin(&local);
  s->local.sin_port = efisock_htons(cd.AccessPoint.StationPort);
  if (en_ip_u32(&cd.AccessPoint.RemoteAddress)) {
    s->peer.sin_addr = en_ip_sin(&cd.AccessPoint.RemoteAddress);
    s->peer.sin_port = efisock_htons(cd.AccessPoint.RemotePort);
  }
}

static void became_connected(struct en_sock *s) {
  struct en_tcp *t = &s->u.tcp;
  t->state = EN_TCP_CONNECTED;
  fill_names(s);
  if (alloc_io(s)) {
    s->so_error = EFISOCK_ENOMEM;
    t->state = EN_TCP_CLOSED;
    return;
  }
  post_rx(s);
}

/* A failed Connect as an rc (negative errno). */
static int connect_status_rc(EFI_STATUS st) {
  /* A RST answering our SYN is a refusal, however the firmware names it. */
  if (st == EFI_CONNECTION_RESET) return -EFISOCK_ECONNREFUSED;
  int rc = en_status_rc(st);
  return rc ? rc : -EFISOCK_ECONNREFUSED;
}

static void accept_one(struct en_sock *ls) {
  struct efinet *net = ls->net;
  struct en_tcp *lt = &ls->u.tcp;
  EFI_HANDLE h = lt->listen_tok.u.listen.NewChildHandle;
  struct en_sock *ns = en_sock_new(net, EFISOCK_SOCK_STREAM);
  void *proto = NULL;
  if (!ns || EFI_ERROR(net->src.get(net->src.self, h, &efi_tcp4_guid, &proto)) || !proto) {
    /* Cannot take it: abort the firmware's child so it is not leaked. */
    if (ns) en_sock_free(ns);
    if (!EFI_ERROR(net->src.get(net->src.self, h, &efi_tcp4_guid, &proto)) && proto)
      ((EFI_TCP4_PROTOCOL *)proto)->Configure(proto, NULL);
    net->tcp4_sb->DestroyChild(net->tcp4_sb, h);
    return;
  }
  ns->child.sb = net->tcp4_sb;
  ns->child.handle = h;
  ns->child.proto = proto;
  ns->bound = true;
  /* The child runs with the listener's ControlOption (TcpDxe copies it). */
  ns->nodelay = ls->nodelay;
  ns->keepalive = ls->keepalive;
  ns->rcvbuf_set = ls->rcvbuf_set;
  if (ls->rcvbuf_set) ns->rcvbuf = ls->rcvbuf;
  became_connected(ns);
  unsigned slot = (lt->acq_head + lt->acq_len) % EN_ARRAY_SIZE(lt->acq);
  lt->acq[slot] = ns;
  lt->acq_len++;
  ls->stats.accepts++;
  net->stats.accepts++;
}

static void post_accept(struct en_sock *s) {
  struct en_tcp *t = &s->u.tcp;
  if (t->state != EN_TCP_LISTEN || t->listen_tok.posted || t->acq_len >= t->backlog) return;
  en_tok_arm(&t->listen_tok);
  t->listen_tok.u.listen.NewChildHandle = NULL;
  if (EFI_ERROR(P(s)->Accept(P(s), &t->listen_tok.u.listen))) t->listen_tok.posted = 0;
}

static void tcp_progress(struct en_sock *s) {
  struct efinet *net = s->net;
  struct en_tcp *t = &s->u.tcp;
  if (en_tok_complete(&t->conn_tok)) {
    t->conn_tok.posted = 0;
    EFI_STATUS st = t->conn_tok.u.hdr.Status;
    if (st == EFI_SUCCESS && t->state == EN_TCP_CONNECTING) {
      became_connected(s);
    } else if (t->state == EN_TCP_CONNECTING) {
      s->so_error = -connect_status_rc(st);
      t->state = EN_TCP_CLOSED;
    }
  }
  /* Receive completions: mark each; reading follows ring (posting) order. */
  for (unsigned i = 0; i < t->nrx; i++) {
    struct en_rxbuf *r = &t->rx[i];
    if (r->state != EN_RX_POSTED || !en_tok_complete(&r->tok)) continue;
    r->tok.posted = 0;
    EFI_STATUS st = r->tok.u.hdr.Status;
    s->stats.rx_completed++;
    net->stats.rx_completed++;
    if (st == EFI_SUCCESS || st == EFI_ABORTED) {
      /* EFI_ABORTED and EFI_SUCCESS with 0 bytes carry nothing (quirks
       * receive-empty-first, receive-aborted-first): the token keeps its
       * place in the ring as empty data, so the read index passes it in
       * order instead of waiting on a free slot. */
      r->len = st == EFI_SUCCESS ? r->rxd.DataLength : 0;
      r->off = 0;
      r->state = EN_RX_DATA;
      s->stats.rx_bytes += r->len;
      net->stats.rx_bytes += r->len;
    } else if (st == EFI_CONNECTION_FIN) {
      r->state = EN_RX_EOF;
    } else {
      r->state = EN_RX_ERR;
      if (!s->so_error) s->so_error = efisock_status_to_errno(st);
      if (st == EFI_CONNECTION_RESET) {
        s->stats.resets++;
        net->stats.resets++;
      }
    }
  }
  for (unsigned i = 0; i < t->ntx; i++) {
    struct en_txbuf *x = &t->tx[i];
    if (!en_tok_complete(&x->tok)) continue;
    x->tok.posted = 0;
    s->stats.tx_completed++;
    net->stats.tx_completed++;
    EFI_STATUS st = x->tok.u.hdr.Status;
    if (st != EFI_SUCCESS && st != EFI_ABORTED && !s->so_error)
      s->so_error = efisock_status_to_errno(st);
  }
  if (en_tok_complete(&t->listen_tok)) {
    t->listen_tok.posted = 0;
    if (t->listen_tok.u.hdr.Status == EFI_SUCCESS) accept_one(s);
  }
  /* Empty tokens at the head are read at once. */
  for (struct en_rxbuf *h = &t->rx[t->rx_read]; t->nrx && h->state == EN_RX_DATA && h->off == h->len;
       h = &t->rx[t->rx_read]) {
    h->state = EN_RX_FREE;
    t->rx_read = (t->rx_read + 1) % t->nrx;
  }
  if (en_tok_complete(&t->close_tok)) t->close_tok.posted = 0; /* close_done stays visible via done */
  if (t->state == EN_TCP_CLOSING) {
    /* A closing socket discards what still arrives, so the window stays
     * open and the peer's FIN can get through. */
    while (t->rx[t->rx_read].state == EN_RX_DATA) {
      t->rx[t->rx_read].state = EN_RX_FREE;
      t->rx_read = (t->rx_read + 1) % t->nrx;
    }
  }
  post_rx(s);
  post_accept(s);
}

/* ---- configuration ---- */

static void fill_options(struct en_sock *s, EFI_TCP4_OPTION *o, unsigned backlog) {
  memset(o, 0, sizeof(*o));
  /* SO_RCVBUF, when set, is TCP4's receive buffer (the window the peer
   * sees); otherwise 256 KiB, which keeps a LAN transfer from waiting on
   * the window. */
  o->ReceiveBufferSize = s->rcvbuf_set ? s->rcvbuf : 0x40000;
  o->SendBufferSize = 0x40000;
  o->MaxSynBackLog = backlog ? backlog : 5;
  o->ConnectionTimeout = s->sndtimeo_ms ? (s->sndtimeo_ms + 999) / 1000 : 0;
  o->DataRetries = 12;
  o->FinTimeout = 2;
  o->TimeWaitTimeout = 2;
  o->KeepAliveProbes = s->keepalive ? 9 : 0;
  o->KeepAliveTime = 7200;
  o->KeepAliveInterval = 75;
  o->EnableNagle = s->nodelay ? FALSE : TRUE;
  o->EnableTimeStamp = FALSE;
  o->EnableWindowScaling = TRUE;
  o->EnableSelectiveAck = FALSE;
  o->EnablePathMtuDiscovery = FALSE;
}

static int tcp_configure(struct en_sock *s, bool active, const struct efisock_sockaddr_in *remote,
                         unsigned backlog) {
  struct efinet *net = s->net;
  EFI_TCP4_CONFIG_DATA cd;
  EFI_TCP4_OPTION opt;
  memset(&cd, 0, sizeof(cd));
  cd.TimeToLive = 64;
  cd.AccessPoint.StationAddress = en_sin_ip(&s->local.sin_addr);
  cd.AccessPoint.StationPort = efisock_ntohs(s->local.sin_port);
  if (remote) {
    cd.AccessPoint.RemoteAddress = en_sin_ip(&remote->sin_addr);
    cd.AccessPoint.RemotePort = efisock_ntohs(remote->sin_port);
  }
  cd.AccessPoint.ActiveFlag = active ? TRUE : FALSE;
  bool want_opts = !active || s->keepalive || s->nodelay || s->rcvbuf_set || s->sndtimeo_ms;
  if (want_opts) {
    fill_options(s, &opt, backlog);
    cd.ControlOption = &opt;
  }
  EFI_STATUS st = en_configure_retry(net, &cd, false, P(s));
  if (st == EFI_UNSUPPORTED && cd.ControlOption) {
    /* Some control option is not supported: go without (documented). */
    cd.ControlOption = NULL;
    st = en_configure_retry(net, &cd, false, P(s));
  }
  if (EFI_ERROR(st)) {
    if (st == EFI_ACCESS_DENIED || st == EFI_IP_ADDRESS_CONFLICT) return -EFISOCK_EADDRINUSE;
    if (st == EFI_INVALID_PARAMETER && !active) return -EFISOCK_EADDRNOTAVAIL;
    return en_status_rc(st);
  }
  en_add_default_route(net, P(s), false);
  return 0;
}

/* Only for a configured child (tcp_configure succeeded). */
static void tcp_unconfigure(struct en_sock *s) {
  if (P(s)) P(s)->Configure(P(s), NULL);
}

/* ---- operations ---- */

static bool port_in_use(struct en_sock *s, uint16_t port) {
  struct efinet *net = s->net;
  for (int i = 0; i < net->fd_hi; i++) {
    struct en_sock *o = net->fds[i];
    if (o && o != s && o->ops == &en_tcp_ops && o->bound && o->local.sin_port == port)
      return true;
  }
  return false;
}

/* SO_REUSEADDR (documented meaning): EFI has no such option, and a port
 * stays taken until the old TCP4 child is destroyed. With it set,
 * bind() aborts closing (zombie) sockets that hold the port; without it,
 * such a port gives EADDRINUSE, as a port in TIME_WAIT does on Linux. */
static int reclaim_port(struct en_sock *s, uint16_t port) {
  struct efinet *net = s->net;
  struct en_sock **pp = &net->zombies;
  int found = 0;
  while (*pp) {
    struct en_sock *z = *pp;
    if (z->ops == &en_tcp_ops && z->local.sin_port == port) {
      found = 1;
      if (s->reuseaddr) {
        *pp = z->next_zombie;
        en_sock_free(z); /* aborts */
        continue;
      }
    }
    pp = &z->next_zombie;
  }
  return found && !s->reuseaddr ? -EFISOCK_EADDRINUSE : 0;
}

static int tcp_bind(struct en_sock *s, const struct efisock_sockaddr_in *a) {
  if (s->bound || s->u.tcp.state != EN_TCP_NEW) return -EFISOCK_EINVAL;
  if (a->sin_addr.s_addr && s->net->have_addr &&
      a->sin_addr.s_addr != en_ip_sin(&s->net->addr).s_addr)
    return -EFISOCK_EADDRNOTAVAIL;
  if (a->sin_port) {
    if (port_in_use(s, a->sin_port)) return -EFISOCK_EADDRINUSE;
    int rc = reclaim_port(s, a->sin_port);
    if (rc < 0) return rc;
  }
  s->local.sin_addr = a->sin_addr;
  s->local.sin_port = a->sin_port;
  s->bound = true;
  return 0;
}

static int tcp_listen(struct en_sock *s, int backlog) {
  struct en_tcp *t = &s->u.tcp;
  unsigned max = EN_ARRAY_SIZE(t->acq);
  unsigned b = backlog < 1 ? 1 : (unsigned)backlog > max ? max : (unsigned)backlog;
  if (t->state == EN_TCP_LISTEN) {
    t->backlog = b;
    return 0;
  }
  if (t->state != EN_TCP_NEW) return -EFISOCK_EINVAL;
  int rc = tcp_configure(s, false, NULL, b);
  if (rc < 0) return rc;
  t->backlog = b;
  t->state = EN_TCP_LISTEN;
  s->bound = true;
  fill_names(s);
  post_accept(s);
  return 0;
}

static bool accept_ready(void *a) { return ((struct en_sock *)a)->u.tcp.acq_len > 0; }

static int tcp_accept(struct en_sock *s, struct en_sock **out) {
  struct efinet *net = s->net;
  struct en_tcp *t = &s->u.tcp;
  if (t->state != EN_TCP_LISTEN) return -EFISOCK_EINVAL;
  tcp_progress(s);
  if (!t->acq_len) {
    int rc = s->nonblock ? en_wait(net, accept_ready, s, 0, false)
                         : en_wait(net, accept_ready, s, s->rcvtimeo_ms, s->rcvtimeo_ms == 0);
    if (rc < 0) return -EFISOCK_EAGAIN;
  }
  *out = t->acq[t->acq_head];
  t->acq_head = (t->acq_head + 1) % EN_ARRAY_SIZE(t->acq);
  t->acq_len--;
  post_accept(s);
  return 0;
}

static bool connect_done(void *a) {
  struct en_sock *s = a;
  return s->u.tcp.state != EN_TCP_CONNECTING;
}

static int tcp_connect(struct en_sock *s, const struct efisock_sockaddr_in *a) {
  struct efinet *net = s->net;
  struct en_tcp *t = &s->u.tcp;
  switch (t->state) {
  case EN_TCP_CONNECTING:
    return -EFISOCK_EALREADY;
  case EN_TCP_CONNECTED:
    /* Like Linux: the first connect() after a non-blocking connect
     * completed reports that success; later ones say EISCONN. */
    if (t->connect_report) {
      t->connect_report = false;
      return 0;
    }
    return -EFISOCK_EISCONN;
  case EN_TCP_LISTEN:
  case EN_TCP_CLOSING: /* not reachable: a closing socket has no descriptor */
    return -EFISOCK_EISCONN;
  case EN_TCP_CLOSED:
    /* A failed connect leaves the socket reusable, as on Linux. */
    tcp_unconfigure(s);
    t->state = EN_TCP_NEW;
    break;
  case EN_TCP_NEW:
    break;
  }
  if (a->sin_addr.s_addr == 0 || a->sin_port == 0) return -EFISOCK_ECONNREFUSED;
  int rc = tcp_configure(s, true, a, 0);
  if (rc < 0) return rc;
  s->peer = *a;
  en_tok_arm(&t->conn_tok);
  EFI_STATUS st = P(s)->Connect(P(s), &t->conn_tok.u.conn);
  if (EFI_ERROR(st)) {
    t->conn_tok.posted = 0;
    tcp_unconfigure(s);
    if (st == EFI_ACCESS_DENIED) return -EFISOCK_EISCONN;
    return connect_status_rc(st);
  }
  t->state = EN_TCP_CONNECTING;
  s->bound = true;
  s->stats.connects++;
  net->stats.connects++;
  if (s->nonblock) {
    tcp_progress(s);
    if (t->state == EN_TCP_CONNECTED) return 0;
    t->connect_report = true;
    return -EFISOCK_EINPROGRESS;
  }
  /* Like Linux, SO_SNDTIMEO bounds a blocking connect: EINPROGRESS after. */
  if (en_wait(net, connect_done, s, s->sndtimeo_ms, s->sndtimeo_ms == 0) < 0)
    return -EFISOCK_EINPROGRESS;
  if (t->state == EN_TCP_CONNECTED) return 0;
  return en_sock_error(s, -EFISOCK_ECONNREFUSED);
}

static bool rx_head_ready(void *a) {
  struct en_sock *s = a;
  struct en_tcp *t = &s->u.tcp;
  uint8_t st = t->rx[t->rx_read].state;
  return st == EN_RX_DATA || st == EN_RX_EOF || st == EN_RX_ERR || t->state != EN_TCP_CONNECTED ||
         t->rd_shut;
}

static efisock_ssize_t tcp_recv(struct en_sock *s, void *buf, size_t len, int flags,
                                struct efisock_sockaddr_in *from) {
  struct efinet *net = s->net;
  struct en_tcp *t = &s->u.tcp;
  bool peek = flags & EFISOCK_MSG_PEEK;
  bool nb = s->nonblock || (flags & EFISOCK_MSG_DONTWAIT);
  bool waitall = (flags & EFISOCK_MSG_WAITALL) && !peek;
  if (from) *from = s->peer;
  if (t->state == EN_TCP_NEW || t->state == EN_TCP_LISTEN) return -EFISOCK_ENOTCONN;
  if (t->state == EN_TCP_CONNECTING) {
    if (nb) return -EFISOCK_EAGAIN;
    if (en_wait(net, connect_done, s, s->rcvtimeo_ms, s->rcvtimeo_ms == 0)) return -EFISOCK_EAGAIN;
    if (t->state != EN_TCP_CONNECTED) return en_sock_error(s, -EFISOCK_ENOTCONN);
  }
  size_t copied = 0;
  bool nb_polled = false;
  for (;;) {
    tcp_progress(s);
    if (t->rd_shut) return (efisock_ssize_t)copied;
    if (nb_polled) nb = true; /* one Poll only */
    unsigned idx = t->rx_read;
    for (unsigned n = 0; n < t->nrx && copied < len; n++) {
      struct en_rxbuf *r = &t->rx[idx];
      if (r->state != EN_RX_DATA) break;
      uint32_t off = r->off;
      size_t avail = r->len - off;
      size_t take = len - copied < avail ? len - copied : avail;
      memcpy((uint8_t *)buf + copied, r->buf + off, take);
      copied += take;
      if (peek) {
        if (take < avail) break;
      } else {
        r->off += (uint32_t)take;
        if (r->off < r->len) break;
        r->state = EN_RX_FREE;
        t->rx_read = (t->rx_read + 1) % t->nrx;
      }
      idx = (idx + 1) % t->nrx;
    }
    if (!peek && copied) post_rx(s);
    if (copied == len || (copied && !waitall)) return (efisock_ssize_t)copied;
    uint8_t head = t->rx[t->rx_read].state;
    if (peek && copied) return (efisock_ssize_t)copied;
    if (head == EN_RX_EOF) return (efisock_ssize_t)copied;
    if (head == EN_RX_ERR) {
      if (copied) return (efisock_ssize_t)copied;
      /* Report the error once; afterwards the stream reads as ended. */
      t->rx[t->rx_read].state = EN_RX_EOF;
      t->state = EN_TCP_CLOSED;
      return en_sock_error(s, -EFISOCK_ECONNRESET);
    }
    if (t->state == EN_TCP_CLOSED) {
      if (copied) return (efisock_ssize_t)copied;
      return en_sock_error(s, 0); /* the error once, then end of stream */
    }
    if (nb) {
      if (copied || en_wait(net, rx_head_ready, s, 0, false))
        return copied ? (efisock_ssize_t)copied : -EFISOCK_EAGAIN;
      nb_polled = true;
      continue;
    }
    if (en_wait(net, rx_head_ready, s, s->rcvtimeo_ms, s->rcvtimeo_ms == 0))
      return copied ? (efisock_ssize_t)copied : -EFISOCK_EAGAIN;
  }
}

static bool tcp_tx_posted(struct en_sock *s) {
  struct en_tcp *t = &s->u.tcp;
  for (unsigned i = 0; i < t->ntx; i++)
    if (t->tx[i].tok.posted) return true;
  return false;
}

static int free_tx(struct en_sock *s) {
  struct en_tcp *t = &s->u.tcp;
  for (unsigned i = 0; i < t->ntx; i++)
    if (!t->tx[i].tok.posted) return (int)i;
  return -1;
}

/* Bytes send() may hand to TCP4 now: SO_SNDBUF bounds the bytes in
 * Transmit tokens not yet completed (acknowledged), one token at most. */
static uint32_t tx_room(struct en_sock *s) {
  struct en_tcp *t = &s->u.tcp;
  if (free_tx(s) < 0) return 0;
  uint32_t inflight = 0;
  for (unsigned i = 0; i < t->ntx; i++)
    if (t->tx[i].tok.posted) inflight += t->tx[i].txd.DataLength;
  if (inflight >= s->sndbuf) return 0;
  uint32_t room = s->sndbuf - inflight;
  return room < s->net->cfg.tx_token_size ? room : s->net->cfg.tx_token_size;
}

struct tx_wait {
  struct en_sock *s;
  uint64_t tick;
};
static bool tx_space(void *a) {
  struct tx_wait *w = a;
  struct en_sock *s = w->s;
  struct en_tcp *t = &s->u.tcp;
  return tx_room(s) > 0 || s->so_error || t->state != EN_TCP_CONNECTED || t->wr_shut ||
         (w->tick && s->net->ticks > w->tick);
}

static efisock_ssize_t tcp_send(struct en_sock *s, const void *buf, size_t len, int flags,
                                const struct efisock_sockaddr_in *to) {
  (void)to;
  struct efinet *net = s->net;
  struct en_tcp *t = &s->u.tcp;
  bool nb = s->nonblock || (flags & EFISOCK_MSG_DONTWAIT);
  if (t->state == EN_TCP_CONNECTING) {
    if (nb) return -EFISOCK_EAGAIN;
    if (en_wait(net, connect_done, s, s->sndtimeo_ms, s->sndtimeo_ms == 0)) return -EFISOCK_EAGAIN;
  }
  tcp_progress(s);
  if (s->so_error && t->state != EN_TCP_CONNECTING) {
    if (t->state == EN_TCP_CONNECTED) t->state = EN_TCP_CLOSED;
    return en_sock_error(s, 0);
  }
  if (t->state != EN_TCP_CONNECTED || t->wr_shut) return -EFISOCK_EPIPE;
  size_t sent = 0;
  while (sent < len) {
    int i = free_tx(s);
    uint32_t room = tx_room(s);
    if (i < 0 || room == 0) {
      struct tx_wait w = {s, 0};
      if (nb ? en_wait(net, tx_space, &w, 0, false)
             : en_wait(net, tx_space, &w, s->sndtimeo_ms, s->sndtimeo_ms == 0))
        break;
      if (s->so_error || t->state != EN_TCP_CONNECTED || t->wr_shut) break;
      continue;
    }
    struct en_txbuf *x = &t->tx[i];
    uint32_t chunk = (uint32_t)(len - sent < room ? len - sent : room);
    memcpy(x->buf, (const uint8_t *)buf + sent, chunk);
    x->txd.Push = TRUE;
    x->txd.Urgent = FALSE;
    x->txd.DataLength = chunk;
    x->txd.FragmentCount = 1;
    x->txd.FragmentTable[0].FragmentLength = chunk;
    x->txd.FragmentTable[0].FragmentBuffer = x->buf;
    x->tok.u.io.Packet.TxData = &x->txd;
    en_tok_arm(&x->tok);
    uint64_t t0 = en_clock(s->net);
    EFI_STATUS st = P(s)->Transmit(P(s), &x->tok.u.io);
    en_count_call(s, t0);
    if (st == EFI_SUCCESS) {
      sent += chunk;
      s->stats.tx_posted++;
      s->stats.tx_bytes += chunk;
      net->stats.tx_posted++;
      net->stats.tx_bytes += chunk;
      continue;
    }
    x->tok.posted = 0;
    if (st == EFI_NOT_READY || st == EFI_OUT_OF_RESOURCES) {
      /* Firmware's transmit queue is full: wait for a tick or a completion. */
      if (nb) break;
      struct tx_wait w = {s, net->ticks};
      if (en_wait(net, tx_space, &w, s->sndtimeo_ms ? s->sndtimeo_ms : 1000, false) &&
          s->sndtimeo_ms)
        break;
      continue;
    }
    int rc = st == EFI_ACCESS_DENIED ? -EFISOCK_EPIPE : en_status_rc(st);
    if (sent) {
      s->so_error = -rc; /* reported by the next call */
      break;
    }
    return rc;
  }
  if (sent) return (efisock_ssize_t)sent;
  if (s->so_error) return en_sock_error(s, 0);
  if (t->wr_shut || t->state != EN_TCP_CONNECTED) return -EFISOCK_EPIPE;
  return -EFISOCK_EAGAIN;
}

static int post_close(struct en_sock *s, bool abort) {
  struct en_tcp *t = &s->u.tcp;
  if (t->close_tok.posted || t->close_tok.done) return 0;
  if (!abort) post_rx_some(s, true); /* the tokens that will see the rest of the stream and its FIN */
  en_tok_arm(&t->close_tok);
  t->close_tok.u.close.AbortOnClose = abort ? TRUE : FALSE;
  EFI_STATUS st = P(s)->Close(P(s), &t->close_tok.u.close);
  if (EFI_ERROR(st)) {
    t->close_tok.posted = 0;
    return en_status_rc(st);
  }
  return 0;
}

enum { SHUT_DRAIN_MS = 20, SHUT_QUIET_TICKS = 2, SHUT_QUIET_MS = 50 };

static bool tx_drained(void *a) {
  struct en_sock *s = a;
  return !tcp_tx_posted(s) || s->so_error || s->u.tcp.state != EN_TCP_CONNECTED;
}

/* Quiet: no completion on the stack for SHUT_QUIET_TICKS whole ticks. */
struct quiet {
  struct efinet *net;
  uint64_t seen, since;
};
static bool quiet(void *a) {
  struct quiet *q = a;
  if (q->net->completions != q->seen) {
    q->seen = q->net->completions;
    q->since = q->net->ticks;
  }
  return q->net->ticks >= q->since + SHUT_QUIET_TICKS;
}

static int tcp_shutdown(struct en_sock *s, int how) {
  struct efinet *net = s->net;
  struct en_tcp *t = &s->u.tcp;
  if (t->state != EN_TCP_CONNECTED) return -EFISOCK_ENOTCONN;
  if (how == EFISOCK_SHUT_RD || how == EFISOCK_SHUT_RDWR) t->rd_shut = true;
  if ((how == EFISOCK_SHUT_WR || how == EFISOCK_SHUT_RDWR) && !t->wr_shut) {
    /* TCP4 has no half-close, and EDK2's Close() is a full close: data
     * that arrives after it resets the connection (QUIRKS.md
     * close-is-full-close). So the FIN waits, briefly, until what was sent
     * has left and the stack has been quiet for two whole ticks (10-20 ms,
     * bounded): a reply already on its way is kept. Close()
     * then sends FIN, and the receive tokens posted before it see the rest
     * of the stream and the peer's FIN. */
    t->wr_shut = true;
    en_wait(net, tx_drained, s, SHUT_DRAIN_MS, false);
    struct quiet q = {.net = net, .seen = net->completions, .since = net->ticks};
    en_wait(net, quiet, &q, SHUT_QUIET_MS, false);
    int rc = post_close(s, false);
    if (rc < 0) return rc;
  }
  return 0;
}

static bool tcp_close(struct en_sock *s) {
  struct efinet *net = s->net;
  struct en_tcp *t = &s->u.tcp;
  if (t->state != EN_TCP_CLOSING) {
    if (s->linger && s->linger_s == 0) {
      /* SO_LINGER 0: abortive close, a RST (Close() with AbortOnClose). */
      if (t->state == EN_TCP_CONNECTED) post_close(s, true);
      return true;
    }
    if (t->state != EN_TCP_CONNECTED) return true; /* nothing to close gracefully */
    /* Unread data: Linux resets the connection; so do we (abort). */
    if (t->rx[t->rx_read].state == EN_RX_DATA) return true;
    if (!t->wr_shut) {
      t->wr_shut = true;
      if (post_close(s, false) < 0) return true;
    }
    t->state = EN_TCP_CLOSING;
    t->close_deadline = net->ticks + (net->cfg.close_timeout_ms + 9) / 10;
    return false;
  }
  if (t->close_tok.done && !t->close_tok.posted) return true; /* closed */
  if (s->so_error == EFISOCK_ECONNRESET) return true;
  /* The firmware never finished: abort (Configure(NULL)). */
  return net->ticks >= t->close_deadline;
}

static void tcp_abort(struct en_sock *s) {
  struct efinet *net = s->net;
  struct en_tcp *t = &s->u.tcp;
  /* Accepted but never taken connections go with their listener. */
  while (t->acq_len) {
    struct en_sock *c = t->acq[t->acq_head];
    t->acq_head = (t->acq_head + 1) % EN_ARRAY_SIZE(t->acq);
    t->acq_len--;
    en_sock_free(c); /* aborts */
  }
  /* An Accept that completed but was never consumed handed us a child. */
  if (en_tok_complete(&t->listen_tok) && t->listen_tok.u.hdr.Status == EFI_SUCCESS &&
      t->listen_tok.u.listen.NewChildHandle) {
    EFI_HANDLE h = t->listen_tok.u.listen.NewChildHandle;
    void *proto = NULL;
    if (!EFI_ERROR(net->src.get(net->src.self, h, &efi_tcp4_guid, &proto)) && proto)
      ((EFI_TCP4_PROTOCOL *)proto)->Configure(proto, NULL);
    net->tcp4_sb->DestroyChild(net->tcp4_sb, h);
    t->listen_tok.posted = 0;
  }
  if (P(s)) {
    P(s)->Configure(P(s), NULL); /* aborts: firmware lets go of every token */
    en_child_destroy(net, &s->child);
  }
  en_tok_fini(net, &t->conn_tok);
  en_tok_fini(net, &t->close_tok);
  en_tok_fini(net, &t->listen_tok);
  for (unsigned i = 0; i < t->nrx; i++) {
    en_tok_fini(net, &t->rx[i].tok);
    en_free(net, t->rx[i].buf);
    t->rx[i].buf = NULL;
  }
  for (unsigned i = 0; i < t->ntx; i++) {
    en_tok_fini(net, &t->tx[i].tok);
    en_free(net, t->tx[i].buf);
    t->tx[i].buf = NULL;
  }
}

/* Readiness as Linux's tcp_poll() computes it. */
static unsigned tcp_poll_mask(struct en_sock *s) {
  struct en_tcp *t = &s->u.tcp;
  unsigned m = 0;
  if (t->state == EN_TCP_LISTEN) return t->acq_len ? EFISOCK_POLLIN : 0;
  uint8_t head = t->rx[t->rx_read].state;
  bool rd_closed = t->rd_shut || head == EN_RX_EOF || head == EN_RX_ERR || t->state == EN_TCP_CLOSED;
  bool wr_closed = t->wr_shut || t->state == EN_TCP_CLOSED;
  if (s->so_error) m |= EFISOCK_POLLERR;
  if ((rd_closed && wr_closed) || t->state == EN_TCP_NEW || t->state == EN_TCP_CLOSED)
    m |= EFISOCK_POLLHUP;
  if (rd_closed) m |= EFISOCK_POLLIN;
  if (t->state != EN_TCP_CONNECTING) {
    if (head == EN_RX_DATA) m |= EFISOCK_POLLIN;
    if (!wr_closed) {
      if (t->state == EN_TCP_NEW || tx_room(s) > 0) m |= EFISOCK_POLLOUT;
    } else {
      m |= EFISOCK_POLLOUT;
    }
  }
  return m;
}

static int tcp_sockname(struct en_sock *s, struct efisock_sockaddr_in *out) {
  if (s->u.tcp.state != EN_TCP_NEW && s->local.sin_port == 0) fill_names(s);
  *out = s->local;
  return 0;
}

static int tcp_peername(struct en_sock *s, struct efisock_sockaddr_in *out) {
  if (s->u.tcp.state != EN_TCP_CONNECTED) return -EFISOCK_ENOTCONN;
  *out = s->peer;
  return 0;
}

static bool tcp_accepting(struct en_sock *s) { return s->u.tcp.state == EN_TCP_LISTEN; }

/* TCP4 takes options only in Configure() (ControlOption) and has no call to
 * change them later; TcpDxe answers EFI_ACCESS_DENIED to Configure() on a
 * configured instance (UEFI: Configure(NULL) first, which aborts the
 * connection). So once configured (connecting, connected, listening,
 * accepted) an option can only be "set" to the value in force: EISCONN. */
static int tcp_setopt(struct en_sock *s, int level, int name, int v) {
  enum en_tcp_state st = s->u.tcp.state;
  bool fixed = st != EN_TCP_NEW && st != EN_TCP_CLOSED; /* CLOSED: reconfigured by connect() */
  bool on = v != 0;
  if (level == EFISOCK_IPPROTO_TCP && name == EFISOCK_TCP_NODELAY) {
    if (fixed && on != s->nodelay) return -EFISOCK_EISCONN;
    s->nodelay = on;
    return 0;
  }
  switch (name) {
  case EFISOCK_SO_KEEPALIVE:
    if (fixed && on != s->keepalive) return -EFISOCK_EISCONN;
    s->keepalive = on;
    return 0;
  case EFISOCK_SO_RCVBUF: {
    unsigned b = en_linux_buf(v, 1152);
    if (fixed && b != s->rcvbuf) return -EFISOCK_EISCONN;
    s->rcvbuf = b;
    s->rcvbuf_set = true;
    return 0;
  }
  case EFISOCK_SO_SNDBUF: {
    /* efi-net's own limit (tx_room), so it applies at any time; at most
     * the Transmit buffers it has. */
    unsigned b = en_linux_buf(v, 2304), max = s->u.tcp.ntx * s->net->cfg.tx_token_size;
    s->sndbuf = b < max ? b : max;
    return 0;
  }
  default:
    return -EFISOCK_ENOPROTOOPT;
  }
}

static int tcp_membership(struct en_sock *s, bool join, const struct efisock_ip_mreq *m) {
  (void)s, (void)join, (void)m;
  return -EFISOCK_EPROTO; /* as Linux for a connection-oriented socket */
}

static int tcp_nread(struct en_sock *s) {
  struct en_tcp *t = &s->u.tcp;
  if (t->state == EN_TCP_LISTEN) return -EFISOCK_EINVAL; /* as Linux */
  tcp_progress(s);
  uint32_t n = 0;
  for (unsigned k = 0, i = t->rx_read; k < t->nrx && t->rx[i].state == EN_RX_DATA;
       k++, i = (i + 1) % t->nrx)
    n += t->rx[i].len - t->rx[i].off;
  return n > 0x7fffffffu ? 0x7fffffff : (int)n;
}

/* socket() creates the TCP4 child at once (an accepted socket gets its
 * child from the Listen token instead). */
static int tcp_open(struct en_sock *s) {
  return en_child_create(s->net, s->net->tcp4_sb, &efi_tcp4_guid, &s->child);
}

static void tcp_poll(struct en_sock *s) {
  struct en_tcp *t = &s->u.tcp;
  for (unsigned i = 0; i < t->ntx; i++) s->net->stats.tx_at_poll += t->tx[i].tok.posted != 0;
  P(s)->Poll(P(s));
}

/* Transmit, Connect or Close tokens in flight (Receives may wait for ever). */
static bool tcp_busy(struct en_sock *s) {
  struct en_tcp *t = &s->u.tcp;
  return t->conn_tok.posted || t->close_tok.posted || tcp_tx_posted(s);
}

const struct en_sock_ops en_tcp_ops = {
    .init = tcp_init,
    .open = tcp_open,
    .bind = tcp_bind,
    .listen = tcp_listen,
    .accept = tcp_accept,
    .connect = tcp_connect,
    .send = tcp_send,
    .recv = tcp_recv,
    .shutdown = tcp_shutdown,
    .close = tcp_close,
    .abort = tcp_abort,
    .progress = tcp_progress,
    .poll = tcp_poll,
    .busy = tcp_busy,
    .poll_mask = tcp_poll_mask,
    .sockname = tcp_sockname,
    .peername = tcp_peername,
    .accepting = tcp_accepting,
    .setopt = tcp_setopt,
    .nread = tcp_nread,
    .membership = tcp_membership,
};
