/* The stack instance: NIC selection, tokens, safe points and the wait engine.
 *
 * Waiting. The firmware stack moves one frame per Poll(), and without Poll()
 * one frame per 10 ms timer tick. en_wait() therefore polls while polling
 * yields completions and, under the adaptive policy, falls back to sleeping in
 * WaitForEvent (the CPU halts) once a spin budget of unproductive polls is
 * spent. Every token notify and every 10 ms tick signals the wake event, so a
 * sleep never outlasts one tick.
 */
#include "internal.h"


/* ---- memory ---- */

void *en_alloc(struct efinet *net, size_t n) {
  void *p = NULL;
  if (EFI_ERROR(net->bs->AllocatePool(EfiLoaderData, n ? n : 1, &p)) || !p) return NULL;
  memset(p, 0, n);
  return p;
}

void en_free(struct efinet *net, void *p) {
  if (p) net->bs->FreePool(p);
}

/* ---- default protocol source: the boot services' handle database ---- */

static EFI_STATUS bs_locate(void *self, EFI_GUID *proto, UINTN *count, EFI_HANDLE **handles) {
  struct efinet_bs_source *s = self;
  return s->bs->LocateHandleBuffer(ByProtocol, proto, NULL, count, handles);
}

static EFI_STATUS bs_get(void *self, EFI_HANDLE h, EFI_GUID *proto, void **iface) {
  struct efinet_bs_source *s = self;
  return s->bs->OpenProtocol(h, proto, iface, s->image, NULL, EFI_OPEN_PROTOCOL_GET_PROTOCOL);
}

const struct efinet_fwsource *efinet_bs_source_init(struct efinet_bs_source *s, EFI_BOOT_SERVICES *bs,
                                                    EFI_HANDLE image) {
  s->bs = bs;
  s->image = image;
  s->src.locate = bs_locate;
  s->src.get = bs_get;
  s->src.self = s;
  return &s->src;
}

/* ---- tokens ---- */

static VOID EFIAPI tok_notify(EFI_EVENT ev, VOID *ctx) {
  (void)ev;
  struct en_tok *t = ctx;
  struct efinet *net = t->net;
  t->done = 1;
  net->completions++;
  net->stats.completions++;
  net->bs->SignalEvent(net->wake);
}

int en_tok_init(struct efinet *net, struct en_tok *t) {
  memset(t, 0, sizeof(*t));
  t->net = net;
  EFI_STATUS s =
      net->bs->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, tok_notify, t, &t->u.hdr.Event);
  return EFI_ERROR(s) ? -EFISOCK_ENOMEM : 0;
}

void en_tok_fini(struct efinet *net, struct en_tok *t) {
  if (t->u.hdr.Event) net->bs->CloseEvent(t->u.hdr.Event);
  t->u.hdr.Event = NULL;
  t->posted = 0;
}

void en_tok_arm(struct en_tok *t) {
  t->done = 0;
  t->posted = 1;
  t->u.hdr.Status = EFI_NOT_READY;
}

/* ---- children ---- */

int en_child_create(struct efinet *net, EFI_SERVICE_BINDING_PROTOCOL *sb, EFI_GUID *guid,
                    struct en_child *c) {
  memset(c, 0, sizeof(*c));
  if (!sb) return -EFISOCK_ENETDOWN;
  EFI_HANDLE h = NULL;
  EFI_STATUS s = sb->CreateChild(sb, &h);
  if (EFI_ERROR(s)) return en_status_rc(s);
  void *proto = NULL;
  s = net->src.get(net->src.self, h, guid, &proto);
  if (EFI_ERROR(s) || !proto) {
    sb->DestroyChild(sb, h);
    return -EFISOCK_ENETDOWN;
  }
  c->sb = sb;
  c->handle = h;
  c->proto = proto;
  return 0;
}

void en_child_destroy(struct efinet *net, struct en_child *c) {
  (void)net;
  if (c->sb && c->handle) c->sb->DestroyChild(c->sb, c->handle);
  memset(c, 0, sizeof(*c));
}

/* ---- descriptors ---- */

int en_fd_alloc(struct efinet *net, struct en_sock *s) {
  for (int i = 0; i < EFISOCK_MAX_SOCKETS; i++) {
    if (!net->fds[i]) {
      net->fds[i] = s;
      if (i + 1 > net->fd_hi) net->fd_hi = i + 1;
      s->fd = i + EFISOCK_FD_BASE;
      return s->fd;
    }
  }
  return -EFISOCK_EMFILE;
}

struct en_sock *en_fd_get(struct efinet *net, int fd) {
  int i = fd - EFISOCK_FD_BASE;
  if (i < 0 || i >= EFISOCK_MAX_SOCKETS) return NULL;
  return net->fds[i];
}

struct en_sock *en_sock_new(struct efinet *net, int type) {
  struct en_sock *s = en_alloc(net, sizeof(*s));
  if (!s) return NULL;
  s->net = net;
  s->fd = -1;
  s->type = type;
  s->local.sin_family = EFISOCK_AF_INET;
  s->peer.sin_family = EFISOCK_AF_INET;
  s->ops = type == EFISOCK_SOCK_STREAM ? &en_tcp_ops : &en_udp_ops;
  if (s->ops->init(s) < 0) {
    en_free(net, s);
    return NULL;
  }
  return s;
}

void en_sock_free(struct en_sock *s) {
  s->ops->abort(s);
  en_free(s->net, s);
}

/* ---- randomness: firmware RNG when present, else a documented mix ---- */

uint32_t en_random(struct efinet *net) {
  /* xorshift64*; seeded once from EFI_RNG_PROTOCOL, or from the monotonic
   * counter and the tick count when the firmware has no RNG. */
  if (!net->rng) {
    EFI_RNG_PROTOCOL *rng = NULL;
    uint64_t seed = 0;
    if (!EFI_ERROR(net->bs->LocateProtocol(&efi_rng_guid, NULL, (void **)&rng)) && rng)
      rng->GetRNG(rng, NULL, sizeof(seed), (UINT8 *)&seed);
    if (!seed) {
      UINT64 mono = 0;
      net->bs->GetNextMonotonicCount(&mono);
      seed = mono * 0x9e3779b97f4a7c15ull ^ net->ticks ^ (uint64_t)(uintptr_t)net;
    }
    net->rng = seed ? seed : 0x2545f4914f6cdd1dull;
  }
  net->rng ^= net->rng >> 12;
  net->rng ^= net->rng << 25;
  net->rng ^= net->rng >> 27;
  return (uint32_t)((net->rng * 0x2545f4914f6cdd1dull) >> 32);
}

/* ---- safe points ---- */

void en_progress(struct efinet *net) {
  for (int i = 0; i < net->fd_hi; i++)
    if (net->fds[i]) net->fds[i]->ops->progress(net->fds[i]);
  /* Zombies: unlink before destroying, never while iterating past them. */
  struct en_sock **pp = &net->zombies;
  while (*pp) {
    struct en_sock *z = *pp;
    z->ops->progress(z);
    if (z->ops->close(z)) {
      *pp = z->next_zombie;
      en_sock_free(z);
    } else {
      pp = &z->next_zombie;
    }
  }
  /* Orphaned tokens (cancel unsupported): free once the firmware is done. */
  for (unsigned i = 0; i < EN_ARRAY_SIZE(net->orphans); i++) {
    struct en_tok *t = net->orphans[i];
    if (t && t->done) {
      en_tok_fini(net, t);
      en_free(net, t);
      net->orphans[i] = NULL;
    }
  }
}

static void en_progress_posting(struct efinet *net);

/* One Poll() of a protocol (any socket's: they share the stack), then the
 * safe point after it, where Receive tokens are posted. */
static void poll_once(struct efinet *net) {
  struct en_sock *target = NULL;
  for (int i = 0; i < net->fd_hi && !target; i++) {
    struct en_sock *s = net->fds[i];
    if (s && s->child.proto) target = s;
  }
  if (!target)
    for (struct en_sock *z = net->zombies; z && !target; z = z->next_zombie)
      if (z->child.proto) target = z;
  uint64_t before = net->completions;
  /* Time inside Poll() splits guest time into the firmware's share and the
   * socket layer's: where a throughput gap lives. */
  uint64_t t0 = en_clock(net);
  if (target) target->ops->poll(target);
  /* test only: a planted regression in Poll frequency (cfg.plant_poll_repeat) */
  for (unsigned k = 1; target && k < net->cfg.plant_poll_repeat; k++) {
    target->ops->poll(target);
    en_count_poll(net, target, false);
  }
  if (net->cfg.clock_ns) {
    uint64_t dt = en_clock(net) - t0;
    net->stats.poll_ns += dt;
    if (target) target->stats.poll_ns += dt;
  }
  /* A closing zombie may be freed by the safe point below: count on it
   * only if it has a descriptor (those are freed by close() alone). */
  if (target && target->fd < 0) target = NULL;
  en_progress_posting(net);
  /* Poll() may return EFI_NOT_READY or EFI_SUCCESS whatever it did (OVMF
   * always says SUCCESS): productivity is judged by completions alone, in
   * the Poll or in the Receives posted after it (what it brought). */
  en_count_poll(net, target, net->completions != before);
}

uint64_t en_clock(struct efinet *net) {
  return net->cfg.clock_ns ? net->cfg.clock_ns(net->cfg.clock_ctx) : 0;
}

void en_count_call(struct en_sock *s, uint64_t t0) {
  if (!s->net->cfg.clock_ns) return;
  uint64_t dt = en_clock(s->net) - t0;
  s->net->stats.call_ns += dt;
  s->stats.call_ns += dt;
}

void en_count_poll(struct efinet *net, struct en_sock *s, bool productive) {
  net->stats.polls++;
  if (productive) net->stats.polls_productive++;
  if (s) {
    s->stats.polls++;
    if (productive) s->stats.polls_productive++;
  }
}

/* Work the firmware owes us soon (ops->busy: Transmit, Connect or Close
 * tokens in flight; background Receives do not count, they may wait for
 * ever). While there is, the adaptive policy keeps polling instead of
 * sleeping a tick. */
static bool transfers_pending(struct efinet *net) {
  for (int i = 0; i < net->fd_hi; i++)
    if (net->fds[i] && net->fds[i]->ops->busy(net->fds[i])) return true;
  return false;
}

static bool has_poll_target(struct efinet *net) {
  for (int i = 0; i < net->fd_hi; i++)
    if (net->fds[i] && net->fds[i]->child.proto) return true;
  for (struct en_sock *z = net->zombies; z; z = z->next_zombie)
    if (z->child.proto) return true;
  return false;
}

/* A safe point right after a Poll (or before a sleep): the one place where
 * Receive tokens are posted (unless cfg.rx_keep_posted: anywhere). */
static void en_progress_posting(struct efinet *net) {
  net->rx_post_open = true;
  en_progress(net);
  net->rx_post_open = false;
}

/* The program's own safe point: it may come at any time, so it posts. */
void efinet_progress(efinet_t *net) { en_progress_posting(net); }

int en_wait(struct efinet *net, bool (*cond)(void *), void *arg, unsigned timeout_ms, bool forever) {
  EFI_BOOT_SERVICES *bs = net->bs;
  en_progress(net);
  if (cond(arg)) return 0;
  if (!forever && timeout_ms == 0) {
    /* A non-blocking call gives the stack one Poll() before EAGAIN: a
     * program spinning on non-blocking calls then moves at Poll rate, not
     * at one frame per timer tick. */
    if (net->cfg.poll_policy != EFINET_POLL_NEVER && has_poll_target(net))
      poll_once(net);
    else
      en_progress_posting(net); /* under "never" too: the timer moves frames into what is posted */
    if (cond(arg)) return 0;
    return -EFISOCK_ETIMEDOUT;
  }
  if (!forever) bs->SetTimer(net->timer, TimerRelative, (UINT64)timeout_ms * 10000u);
  /* The adaptive spin: poll while it pays, then sleep. With a clock the
   * spin is time (poll_spin_us after the last progress); without one, a
   * Poll count. Polls are capped at poll_spin_us either way. */
  uint64_t (*now)(void *) = net->cfg.clock_ns;
  uint64_t spin_ns = (uint64_t)net->cfg.poll_spin_us * 1000u;
  unsigned cap = net->cfg.poll_spin_us ? net->cfg.poll_spin_us : 1;
  unsigned spin_max = now ? cap : (net->cfg.poll_spin_us / 5 ? net->cfg.poll_spin_us / 5 : 1);
  unsigned budget = spin_max;
  uint64_t spin_end = now ? now(net->cfg.clock_ctx) + spin_ns : 0;
  int rc = 0;
  bool timer_fired = false;
  for (;;) {
    enum efinet_poll_policy pol = net->cfg.poll_policy;
    bool spinning = budget > 0 && (!now || now(net->cfg.clock_ctx) < spin_end);
    bool poll = has_poll_target(net) &&
                (pol == EFINET_POLL_ALWAYS || (pol == EFINET_POLL_ADAPTIVE && spinning));
    if (poll) {
      uint64_t before = net->completions;
      poll_once(net);
      if (net->completions != before || transfers_pending(net)) {
        budget = spin_max; /* progress, or work in flight: keep polling */
        if (now) spin_end = now(net->cfg.clock_ctx) + spin_ns;
      } else if (budget) {
        budget--;
      }
    } else {
      if (!net->cfg.rx_keep_posted) {
        /* tokens must wait in the firmware while we sleep: a frame the
         * timer moves then completes one and wakes us */
        en_progress_posting(net);
        if (cond(arg)) break;
      }
      EFI_EVENT evs[2] = {net->wake, net->timer};
      UINTN idx = 0;
      net->stats.waits++;
      uint64_t t0 = en_clock(net);
      /* WaitForEvent resets the event that ended it: if that was the
       * deadline timer, remember it, or the timeout would be lost. */
      if (bs->WaitForEvent(forever ? 1 : 2, evs, &idx) == EFI_SUCCESS && idx == 1)
        timer_fired = true;
      net->stats.wait_ns += en_clock(net) - t0;
      /* After a sleep poll briefly again; each idle cycle halves the spin so
       * an idle wait settles at about one Poll per tick. */
      spin_max = spin_max > 1 ? spin_max / 2 : 1;
      budget = spin_max;
      spin_ns /= 2;
      if (now) spin_end = now(net->cfg.clock_ctx) + spin_ns;
      if (now && !spin_ns) budget = 1; /* still one Poll after each wake-up */
      en_progress_posting(net);
    }
    if (cond(arg)) break;
    if (!forever && (timer_fired || bs->CheckEvent(net->timer) == EFI_SUCCESS)) {
      rc = -EFISOCK_ETIMEDOUT;
      break;
    }
  }
  if (!forever) bs->SetTimer(net->timer, TimerCancel, 0);
  return rc;
}

static VOID EFIAPI tick_notify(EFI_EVENT ev, VOID *ctx) {
  (void)ev;
  struct efinet *net = ctx;
  net->ticks++;
  net->stats.ticks++;
  net->bs->SignalEvent(net->wake);
}

uint64_t efinet_ticks(efinet_t *net) { return net->ticks; }

/* ---- open / close ---- */

static void *get_on_nic(struct efinet *net, EFI_GUID *g) {
  void *p = NULL;
  if (EFI_ERROR(net->src.get(net->src.self, net->nic, g, &p))) return NULL;
  return p;
}

static void connect_all(EFI_BOOT_SERVICES *bs) {
  UINTN n = 0;
  EFI_HANDLE *all = NULL;
  if (EFI_ERROR(bs->LocateHandleBuffer(AllHandles, NULL, NULL, &n, &all)) || !all) return;
  for (UINTN i = 0; i < n; i++) bs->ConnectController(all[i], NULL, NULL, TRUE);
  bs->FreePool(all);
}

/* Public convention of its own: 0 or a positive errno (no instance yet to
 * hold one). */
int efinet_open(efinet_t **out, const struct efinet_config *cfg) {
  if (!out || !cfg || !cfg->st || !cfg->st->BootServices) return EFISOCK_EINVAL;
  EFI_BOOT_SERVICES *bs = cfg->st->BootServices;
  struct efinet *net = NULL;
  if (EFI_ERROR(bs->AllocatePool(EfiLoaderData, sizeof(*net), (void **)&net)) || !net)
    return EFISOCK_ENOMEM;
  memset(net, 0, sizeof(*net));
  net->st = cfg->st;
  net->bs = bs;
  net->image = cfg->image;
  net->cfg = *cfg;
  net->src = cfg->source ? *cfg->source : *efinet_bs_source_init(&net->bs_src, bs, cfg->image);
  struct efinet_config *c = &net->cfg;
  /* 3 ms: a spin much shorter than a LAN round trip misses the reply, and
   * every miss costs a tick (efi-net/README.md, on waits). */
  if (!c->poll_spin_us) c->poll_spin_us = 3000;
  if (!c->rx_tokens) c->rx_tokens = 4;
  if (c->rx_tokens > EN_MAX_TOKENS) c->rx_tokens = EN_MAX_TOKENS;
  if (!c->rx_token_size) c->rx_token_size = 16384;
  if (!c->tx_tokens) c->tx_tokens = 4;
  if (c->tx_tokens > EN_MAX_TOKENS) c->tx_tokens = EN_MAX_TOKENS;
  if (!c->tx_token_size) c->tx_token_size = 65536;
  if (!c->close_timeout_ms) c->close_timeout_ms = 5000;
  if (!c->config_timeout_ms) c->config_timeout_ms = 10000;
  if (!c->dns_timeout_ms) c->dns_timeout_ms = 2000;
  if (!c->dns_retries) c->dns_retries = 2;

  int rc = -EFISOCK_ENOMEM;
  if (EFI_ERROR(bs->CreateEvent(0, 0, NULL, NULL, &net->wake))) goto fail;
  if (EFI_ERROR(bs->CreateEvent(EVT_TIMER, 0, NULL, NULL, &net->timer))) goto fail;
  if (EFI_ERROR(bs->CreateEvent(EVT_TIMER | EVT_NOTIFY_SIGNAL, TPL_CALLBACK, tick_notify, net,
                                &net->tick)))
    goto fail;
  bs->SetTimer(net->tick, TimerPeriodic, EN_TICK_100NS);

  /* One NIC handle, and every protocol from that same handle: TCP4 and
   * the address configuration then describe the same interface. */
  UINTN n = 0;
  EFI_HANDLE *hs = NULL;
  rc = -EFISOCK_ENETDOWN;
  if (EFI_ERROR(net->src.locate(net->src.self, &efi_tcp4_sb_guid, &n, &hs)) || n == 0) {
    if (hs) bs->FreePool(hs);
    hs = NULL;
    /* The boot manager connects only the boot device: the network drivers
     * may never have been started. Connect everything, as `connect -r`. */
    if (!cfg->no_connect) connect_all(bs);
    if (EFI_ERROR(net->src.locate(net->src.self, &efi_tcp4_sb_guid, &n, &hs)) || n == 0) {
      if (hs) bs->FreePool(hs);
      goto fail;
    }
  }
  if (cfg->nic_index >= n) {
    bs->FreePool(hs);
    rc = -EFISOCK_ENODEV;
    goto fail;
  }
  net->nic = hs[cfg->nic_index];
  bs->FreePool(hs);
  net->tcp4_sb = get_on_nic(net, &efi_tcp4_sb_guid);
  net->udp4_sb = get_on_nic(net, &efi_udp4_sb_guid);
  net->dns4_sb = get_on_nic(net, &efi_dns4_sb_guid);
  net->ip4cfg2 = get_on_nic(net, &efi_ip4cfg2_guid);
  if (!net->ip4cfg2) net->ip4cfg = get_on_nic(net, &efi_ip4cfg_guid);
  en_ip_discover(net);
  *out = net;
  return 0;
fail:
  if (net->tick) bs->CloseEvent(net->tick);
  if (net->timer) bs->CloseEvent(net->timer);
  if (net->wake) bs->CloseEvent(net->wake);
  bs->FreePool(net);
  return -rc;
}

static bool no_zombies(void *a) { return ((struct efinet *)a)->zombies == NULL; }

void efinet_close(efinet_t *net) {
  if (!net) return;
  EFI_BOOT_SERVICES *bs = net->bs;
  /* Close every descriptor gracefully, give the closes a bounded time to
   * finish, then abort whatever is left. */
  for (int i = 0; i < EFISOCK_MAX_SOCKETS; i++)
    if (net->fds[i]) efisock_close(net, i + EFISOCK_FD_BASE);
  if (net->zombies) {
    en_wait(net, no_zombies, net, net->cfg.close_timeout_ms, false);
  }
  while (net->zombies) {
    struct en_sock *z = net->zombies;
    net->zombies = z->next_zombie;
    en_sock_free(z); /* aborts */
  }
  for (unsigned i = 0; i < EN_ARRAY_SIZE(net->orphans); i++) {
    if (net->orphans[i]) {
      en_tok_fini(net, net->orphans[i]);
      en_free(net, net->orphans[i]);
      net->orphans[i] = NULL;
    }
  }
  en_ip_release(net);
  bs->SetTimer(net->tick, TimerCancel, 0);
  bs->CloseEvent(net->tick);
  bs->CloseEvent(net->timer);
  bs->CloseEvent(net->wake);
  bs->FreePool(net);
}

void efinet_set_poll_policy(efinet_t *net, enum efinet_poll_policy p) { net->cfg.poll_policy = p; }

int efinet_get_stats(efinet_t *net, int fd, struct efinet_stats *out) {
  if (fd < 0) {
    *out = net->stats;
    return 0;
  }
  struct en_sock *s = en_fd_get(net, fd);
  if (!s) return en_ret(net, -EFISOCK_EBADF);
  *out = s->stats;
  return 0;
}

int efisock_errno(efinet_t *net) { return net->err; }
int *efisock_errno_location(efinet_t *net) { return &net->err; }
