/* The quirk wrappers: a protocol source that hands out wrapped service
 * bindings, TCP4/UDP4/DNS4 children and IP4_CONFIG2, plus a legacy
 * IP4_CONFIG made from IP4_CONFIG2 when firmware lacks one.
 *
 * Completion quirks (events-delayed, completions-reordered,
 * close-never-completes) intercept a token: its Event is swapped for a
 * shadow event of ours while the firmware holds it; when the firmware
 * signals the shadow, the wrapper decides when (or whether) the program's
 * event is signalled. Configure(NULL), Close(abort) and DestroyChild release
 * everything held on the instance before they return, as real firmware
 * completes aborted tokens synchronously; so no program event is ever
 * signalled after the program may have freed it.
 */
#include <stdbool.h>
#include "efiquirks/quirks.h"

#include "fwbase/rt.h"


enum { K_TCP, K_UDP, K_DNS };
enum { IT_POSTED, IT_HELD, IT_DONE };

struct fwq;
struct fwq_child;

struct fwq_itok {
  struct fwq_itok *next;
  struct fwq *q;
  struct fwq_child *owner;
  EFI_EVENT *slot; /* the token's Event field */
  EFI_EVENT orig, shadow, timer;
  uint8_t state;
  bool swallow, delay_done;
};

struct fwq_child {
  union {
    EFI_TCP4_PROTOCOL tcp;
    EFI_UDP4_PROTOCOL udp;
    EFI_DNS4_PROTOCOL dns;
  } w; /* first: This -> wrapper */
  void *real;
  struct fwq *q;
  int kind;
  EFI_HANDLE handle, nic;
  bool has_route, addr_known, received;
  uint32_t addr, mask, raddr;
  struct fwq_itok *held;
  struct fwq_child *next;
};

struct fwq_sbw {
  EFI_SERVICE_BINDING_PROTOCOL sb;
  EFI_SERVICE_BINDING_PROTOCOL *real;
  struct fwq *q;
  int kind;
  EFI_HANDLE nic;
  struct fwq_sbw *next;
};

struct fwq_cfg2w {
  EFI_IP4_CONFIG2_PROTOCOL p;
  EFI_IP4_CONFIG2_PROTOCOL *real;
  struct fwq *q;
  EFI_HANDLE nic;
  struct fwq_cfg2w *next;
};

struct fwq_legacy {
  EFI_IP4_CONFIG_PROTOCOL p;
  EFI_IP4_CONFIG2_PROTOCOL *cfg2;
  struct fwq *q;
  EFI_HANDLE nic;
  EFI_EVENT done, timer;
  bool started;
  struct fwq_legacy *next;
};

struct fwq {
  EFI_BOOT_SERVICES *bs;
  EFI_HANDLE image;
  struct fwq_set set;
  struct efinet_fwsource under, src;
  struct efinet_bs_source bs_src; /* under's state when none was given */
  struct fwq_child *children;
  struct fwq_sbw *sbs;
  struct fwq_cfg2w *cfgs;
  struct fwq_legacy *legs;
  struct fwq_itok *itoks;
  unsigned configure_calls;
  struct fwq_stats st;
};

static bool guid_eq(const EFI_GUID *a, const EFI_GUID *b) { return memcmp(a, b, sizeof(*a)) == 0; }
static uint32_t ip_u32(const EFI_IPv4_ADDRESS *a) {
  return (uint32_t)a->Addr[0] << 24 | (uint32_t)a->Addr[1] << 16 | (uint32_t)a->Addr[2] << 8 | a->Addr[3];
}

static void *q_alloc(struct fwq *q, size_t n) {
  void *p = NULL;
  if (EFI_ERROR(q->bs->AllocatePool(EfiLoaderData, n, &p)) || !p) return NULL;
  memset(p, 0, n);
  return p;
}
static void q_free(struct fwq *q, void *p) {
  if (p) q->bs->FreePool(p);
}

/* ---- token interception ---- */

static void release(struct fwq_itok *it);

static VOID EFIAPI timer_notify(EFI_EVENT e, VOID *ctx) {
  (void)e;
  struct fwq_itok *it = ctx;
  if (it->owner && it->owner->held == it) it->owner->held = NULL;
  it->delay_done = true;
  release(it);
}

/* Tell the program, now or after the configured delay. */
static void release(struct fwq_itok *it) {
  struct fwq *q = it->q;
  if (it->state != IT_HELD) return;
  if ((q->set.flags & FWQ_EVENTS_DELAYED) && !it->delay_done && q->set.delay_ms) {
    it->delay_done = true;
    q->st.delayed++;
    q->bs->SetTimer(it->timer, TimerRelative, (UINT64)q->set.delay_ms * 10000u);
    return;
  }
  it->state = IT_DONE;
  q->bs->SignalEvent(it->orig);
}

static VOID EFIAPI shadow_notify(EFI_EVENT e, VOID *ctx) {
  (void)e;
  struct fwq_itok *it = ctx;
  struct fwq *q = it->q;
  if (it->state != IT_POSTED) return;
  *it->slot = it->orig; /* the firmware is done with the token */
  it->state = IT_HELD;
  if (it->swallow) {
    q->st.closes_swallowed++;
    return;
  }
  struct fwq_child *c = it->owner;
  if ((q->set.flags & FWQ_COMPLETIONS_REORDERED) && c) {
    if (!c->held) {
      c->held = it; /* wait for the next one; a timer releases a lone one */
      q->bs->SetTimer(it->timer, TimerRelative, 20u * 10000u);
      return;
    }
    struct fwq_itok *older = c->held;
    c->held = NULL;
    q->bs->SetTimer(older->timer, TimerCancel, 0);
    q->st.reordered++;
    release(it);
    release(older);
    return;
  }
  release(it);
}

static bool wants_intercept(struct fwq *q) {
  return (q->set.flags & (FWQ_EVENTS_DELAYED | FWQ_COMPLETIONS_REORDERED)) != 0;
}

static struct fwq_itok *intercept(struct fwq_child *c, EFI_EVENT *slot, bool swallow) {
  struct fwq *q = c->q;
  struct fwq_itok *it = q_alloc(q, sizeof(*it));
  if (!it) return NULL;
  it->q = q;
  it->owner = c;
  it->slot = slot;
  it->orig = *slot;
  it->swallow = swallow;
  if (EFI_ERROR(q->bs->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, shadow_notify, it, &it->shadow)) ||
      EFI_ERROR(q->bs->CreateEvent(EVT_TIMER | EVT_NOTIFY_SIGNAL, TPL_CALLBACK, timer_notify, it,
                                   &it->timer))) {
    if (it->shadow) q->bs->CloseEvent(it->shadow);
    q_free(q, it);
    return NULL;
  }
  *slot = it->shadow;
  it->next = q->itoks;
  q->itoks = it;
  return it;
}

/* The firmware refused the token synchronously: put it back as it was. */
static void undo(struct fwq_itok *it) {
  if (!it) return;
  *it->slot = it->orig;
  it->state = IT_DONE;
}

/* Free tokens the program has been told about (never from notify context). */
static void gc(struct fwq *q) {
  struct fwq_itok **pp = &q->itoks;
  while (*pp) {
    struct fwq_itok *it = *pp;
    if (it->state == IT_DONE) {
      *pp = it->next;
      q->bs->CloseEvent(it->timer);
      q->bs->CloseEvent(it->shadow);
      q_free(q, it);
    } else {
      pp = &it->next;
    }
  }
}

/* Instance reset or destroyed: everything held is told now; swallowed
 * tokens are dropped (the program tears the token down next). */
static void flush(struct fwq_child *c) {
  struct fwq *q = c->q;
  c->held = NULL;
  for (struct fwq_itok *it = q->itoks; it; it = it->next) {
    if (it->owner != c) continue;
    q->bs->SetTimer(it->timer, TimerCancel, 0);
    if (it->state == IT_POSTED) {
      *it->slot = it->orig; /* firmware never completed it (quirk-swallowed) */
      it->state = IT_DONE;
    } else if (it->state == IT_HELD) {
      if (it->swallow) {
        it->state = IT_DONE;
      } else {
        it->delay_done = true;
        release(it);
      }
    }
    it->owner = NULL;
  }
}

/* ---- helpers reading the firmware's address state ---- */

static EFI_IP4_CONFIG2_PROTOCOL *real_cfg2(struct fwq *q, EFI_HANDLE nic) {
  void *p = NULL;
  if (!nic || EFI_ERROR(q->under.get(q->under.self, nic, &efi_ip4cfg2_guid, &p))) return NULL;
  return p;
}

static bool policy_is_dhcp(struct fwq *q, EFI_HANDLE nic) {
  EFI_IP4_CONFIG2_PROTOCOL *c2 = real_cfg2(q, nic);
  if (!c2) return true; /* legacy firmware: DHCP is the only policy */
  EFI_IP4_CONFIG2_POLICY p = Ip4Config2PolicyDhcp;
  UINTN sz = sizeof(p);
  c2->GetData(c2, Ip4Config2DataTypePolicy, &sz, &p);
  return p == Ip4Config2PolicyDhcp;
}

/* Station address and mask as the program would see them (quirks applied). */
static bool station(struct fwq *q, EFI_HANDLE nic, uint32_t *addr, uint32_t *mask) {
  EFI_IP4_CONFIG2_PROTOCOL *c2 = real_cfg2(q, nic);
  if (!c2) return false;
  if ((q->set.flags & FWQ_DHCP_NEVER_ANSWERS) && policy_is_dhcp(q, nic)) return false;
  union {
    EFI_IP4_CONFIG2_INTERFACE_INFO i;
    uint8_t raw[sizeof(EFI_IP4_CONFIG2_INTERFACE_INFO) + 16 * sizeof(EFI_IP4_ROUTE_TABLE)];
  } u;
  UINTN sz = sizeof(u);
  if (EFI_ERROR(c2->GetData(c2, Ip4Config2DataTypeInterfaceInfo, &sz, &u))) return false;
  *addr = ip_u32(&u.i.StationAddress);
  *mask = ip_u32(&u.i.SubnetMask);
  return *addr != 0;
}

/* Common Configure quirks for TCP4/UDP4/DNS4; EFI_SUCCESS: call through. */
static EFI_STATUS configure_quirks(struct fwq_child *c, bool use_default) {
  struct fwq *q = c->q;
  if ((q->set.flags & FWQ_NO_MAPPING) && q->configure_calls < q->set.no_mapping_n) {
    q->configure_calls++;
    q->st.no_mapping++;
    return EFI_NO_MAPPING;
  }
  if (use_default && (q->set.flags & FWQ_DHCP_NEVER_ANSWERS) && policy_is_dhcp(q, c->nic)) {
    q->st.dhcp_hidden++;
    return EFI_NO_MAPPING;
  }
  if (use_default && (q->set.flags & FWQ_DEFAULT_ADDR_ALREADY_STARTED) && c->kind != K_DNS) {
    q->st.already_started++;
    return EFI_ALREADY_STARTED;
  }
  return EFI_SUCCESS;
}

/* ---- TCP4 ---- */

#define TC(This) ((struct fwq_child *)(This))
#define TREAL(This) ((EFI_TCP4_PROTOCOL *)TC(This)->real)

static EFI_STATUS EFIAPI wt_mode(EFI_TCP4_PROTOCOL *This, EFI_TCP4_CONNECTION_STATE *s,
                                 EFI_TCP4_CONFIG_DATA *c, EFI_IP4_MODE_DATA *i,
                                 EFI_MANAGED_NETWORK_CONFIG_DATA *m, EFI_SIMPLE_NETWORK_MODE *n) {
  return TREAL(This)->GetModeData(TREAL(This), s, c, i, m, n);
}

static EFI_STATUS EFIAPI wt_configure(EFI_TCP4_PROTOCOL *This, EFI_TCP4_CONFIG_DATA *cd) {
  struct fwq_child *c = TC(This);
  gc(c->q);
  if (!cd) {
    EFI_STATUS s = TREAL(This)->Configure(TREAL(This), NULL);
    flush(c);
    c->has_route = false;
    return s;
  }
  EFI_STATUS s = configure_quirks(c, cd->AccessPoint.UseDefaultAddress);
  if (s != EFI_SUCCESS) return s;
  s = TREAL(This)->Configure(TREAL(This), cd);
  if (!EFI_ERROR(s)) {
    c->has_route = false;
    c->raddr = ip_u32(&cd->AccessPoint.RemoteAddress);
    if (cd->AccessPoint.UseDefaultAddress) {
      c->addr_known = station(c->q, c->nic, &c->addr, &c->mask);
    } else {
      c->addr = ip_u32(&cd->AccessPoint.StationAddress);
      c->mask = ip_u32(&cd->AccessPoint.SubnetMask);
      c->addr_known = true;
    }
  }
  return s;
}

static EFI_STATUS EFIAPI wt_routes(EFI_TCP4_PROTOCOL *This, BOOLEAN del, EFI_IPv4_ADDRESS *sn,
                                   EFI_IPv4_ADDRESS *mask, EFI_IPv4_ADDRESS *gw) {
  struct fwq_child *c = TC(This);
  EFI_STATUS s = TREAL(This)->Routes(TREAL(This), del, sn, mask, gw);
  if (!del && sn && mask && !ip_u32(sn) && !ip_u32(mask) && (s == EFI_SUCCESS || s == EFI_ACCESS_DENIED))
    c->has_route = true;
  return s;
}

static EFI_STATUS EFIAPI wt_connect(EFI_TCP4_PROTOCOL *This, EFI_TCP4_CONNECTION_TOKEN *tok) {
  struct fwq_child *c = TC(This);
  struct fwq *q = c->q;
  gc(q);
  if ((q->set.flags & FWQ_ROUTES_NOT_APPLIED) && tok && c->addr_known && c->has_route &&
      (c->raddr & c->mask) != (c->addr & c->mask))
    q->st.routes_engaged++;
  if ((q->set.flags & FWQ_ROUTES_NOT_APPLIED) && tok && c->addr_known && !c->has_route &&
      (c->raddr & c->mask) != (c->addr & c->mask)) {
    /* The instance has no route off its subnet: firmware reports it. */
    q->st.routes_refused++;
    tok->CompletionToken.Status = EFI_NETWORK_UNREACHABLE;
    q->bs->SignalEvent(tok->CompletionToken.Event);
    return EFI_SUCCESS;
  }
  struct fwq_itok *it = tok && wants_intercept(q) ? intercept(c, &tok->CompletionToken.Event, false) : NULL;
  EFI_STATUS s = TREAL(This)->Connect(TREAL(This), tok);
  if (EFI_ERROR(s)) undo(it);
  return s;
}

static EFI_STATUS EFIAPI wt_accept(EFI_TCP4_PROTOCOL *This, EFI_TCP4_LISTEN_TOKEN *tok) {
  struct fwq_child *c = TC(This);
  gc(c->q);
  struct fwq_itok *it = tok && wants_intercept(c->q) ? intercept(c, &tok->CompletionToken.Event, false) : NULL;
  EFI_STATUS s = TREAL(This)->Accept(TREAL(This), tok);
  if (EFI_ERROR(s)) undo(it);
  return s;
}

static EFI_STATUS EFIAPI wt_transmit(EFI_TCP4_PROTOCOL *This, EFI_TCP4_IO_TOKEN *tok) {
  struct fwq_child *c = TC(This);
  gc(c->q);
  struct fwq_itok *it = tok && wants_intercept(c->q) ? intercept(c, &tok->CompletionToken.Event, false) : NULL;
  EFI_STATUS s = TREAL(This)->Transmit(TREAL(This), tok);
  if (EFI_ERROR(s)) undo(it);
  return s;
}

static EFI_STATUS EFIAPI wt_receive(EFI_TCP4_PROTOCOL *This, EFI_TCP4_IO_TOKEN *tok) {
  struct fwq_child *c = TC(This);
  struct fwq *q = c->q;
  gc(q);
  if ((q->set.flags & FWQ_RECEIVE_SHORT) && tok && tok->Packet.RxData) {
    EFI_TCP4_RECEIVE_DATA *rx = tok->Packet.RxData;
    UINT32 left = q->set.receive_short;
    if (rx->DataLength > left) {
      rx->DataLength = left;
      q->st.receives_shortened++;
    }
    for (UINT32 i = 0; i < rx->FragmentCount; i++) {
      if (rx->FragmentTable[i].FragmentLength > left) rx->FragmentTable[i].FragmentLength = left;
      left -= rx->FragmentTable[i].FragmentLength;
    }
  }
  if ((q->set.flags & (FWQ_RECEIVE_EMPTY_FIRST | FWQ_RECEIVE_ABORTED_FIRST)) && tok &&
      tok->Packet.RxData && !c->received) {
    /* Quirks receive-empty-first / receive-aborted-first: the token comes
     * back without data, before any real one, and the firmware never sees it. */
    c->received = true;
    q->st.receives_emptied++;
    tok->Packet.RxData->DataLength = 0;
    tok->CompletionToken.Status =
        (q->set.flags & FWQ_RECEIVE_ABORTED_FIRST) ? EFI_ABORTED : EFI_SUCCESS;
    q->bs->SignalEvent(tok->CompletionToken.Event);
    return EFI_SUCCESS;
  }
  c->received = true;
  struct fwq_itok *it = tok && wants_intercept(q) ? intercept(c, &tok->CompletionToken.Event, false) : NULL;
  EFI_STATUS s = TREAL(This)->Receive(TREAL(This), tok);
  if (EFI_ERROR(s)) undo(it);
  return s;
}

static EFI_STATUS EFIAPI wt_close(EFI_TCP4_PROTOCOL *This, EFI_TCP4_CLOSE_TOKEN *tok) {
  struct fwq_child *c = TC(This);
  struct fwq *q = c->q;
  gc(q);
  bool swallow = tok && !tok->AbortOnClose && (q->set.flags & FWQ_CLOSE_NEVER_COMPLETES);
  struct fwq_itok *it =
      tok && (swallow || wants_intercept(q)) ? intercept(c, &tok->CompletionToken.Event, swallow) : NULL;
  EFI_STATUS s = TREAL(This)->Close(TREAL(This), tok);
  if (EFI_ERROR(s)) undo(it);
  if (tok && tok->AbortOnClose) flush(c);
  return s;
}

static EFI_STATUS EFIAPI wt_cancel(EFI_TCP4_PROTOCOL *This, EFI_TCP4_COMPLETION_TOKEN *tok) {
  struct fwq_child *c = TC(This);
  if (c->q->set.flags & FWQ_CANCEL_UNSUPPORTED) {
    c->q->st.cancels_refused++;
    return EFI_UNSUPPORTED;
  }
  return TREAL(This)->Cancel(TREAL(This), tok);
}

static EFI_STATUS EFIAPI wt_poll(EFI_TCP4_PROTOCOL *This) {
  struct fwq_child *c = TC(This);
  EFI_STATUS s = TREAL(This)->Poll(TREAL(This));
  if (c->q->set.flags & FWQ_POLL_NOT_READY) {
    c->q->st.polls_not_ready++;
    return EFI_NOT_READY;
  }
  return s;
}

/* ---- UDP4 ---- */

#define UREAL(This) ((EFI_UDP4_PROTOCOL *)TC(This)->real)

static EFI_STATUS EFIAPI wu_mode(EFI_UDP4_PROTOCOL *This, EFI_UDP4_CONFIG_DATA *c, EFI_IP4_MODE_DATA *i,
                                 EFI_MANAGED_NETWORK_CONFIG_DATA *m, EFI_SIMPLE_NETWORK_MODE *n) {
  return UREAL(This)->GetModeData(UREAL(This), c, i, m, n);
}

static EFI_STATUS EFIAPI wu_configure(EFI_UDP4_PROTOCOL *This, EFI_UDP4_CONFIG_DATA *cd) {
  struct fwq_child *c = TC(This);
  gc(c->q);
  if (!cd) {
    EFI_STATUS s = UREAL(This)->Configure(UREAL(This), NULL);
    flush(c);
    return s;
  }
  EFI_STATUS s = configure_quirks(c, cd->UseDefaultAddress);
  if (s != EFI_SUCCESS) return s;
  return UREAL(This)->Configure(UREAL(This), cd);
}

static EFI_STATUS EFIAPI wu_groups(EFI_UDP4_PROTOCOL *This, BOOLEAN j, EFI_IPv4_ADDRESS *a) {
  return UREAL(This)->Groups(UREAL(This), j, a);
}

static EFI_STATUS EFIAPI wu_routes(EFI_UDP4_PROTOCOL *This, BOOLEAN d, EFI_IPv4_ADDRESS *s,
                                   EFI_IPv4_ADDRESS *m, EFI_IPv4_ADDRESS *g) {
  return UREAL(This)->Routes(UREAL(This), d, s, m, g);
}

static EFI_STATUS EFIAPI wu_transmit(EFI_UDP4_PROTOCOL *This, EFI_UDP4_COMPLETION_TOKEN *tok) {
  struct fwq_child *c = TC(This);
  gc(c->q);
  struct fwq_itok *it = tok && wants_intercept(c->q) ? intercept(c, &tok->Event, false) : NULL;
  EFI_STATUS s = UREAL(This)->Transmit(UREAL(This), tok);
  if (EFI_ERROR(s)) undo(it);
  return s;
}

static EFI_STATUS EFIAPI wu_receive(EFI_UDP4_PROTOCOL *This, EFI_UDP4_COMPLETION_TOKEN *tok) {
  struct fwq_child *c = TC(This);
  gc(c->q);
  struct fwq_itok *it = tok && wants_intercept(c->q) ? intercept(c, &tok->Event, false) : NULL;
  EFI_STATUS s = UREAL(This)->Receive(UREAL(This), tok);
  if (EFI_ERROR(s)) undo(it);
  return s;
}

static EFI_STATUS EFIAPI wu_cancel(EFI_UDP4_PROTOCOL *This, EFI_UDP4_COMPLETION_TOKEN *tok) {
  struct fwq_child *c = TC(This);
  if (c->q->set.flags & FWQ_CANCEL_UNSUPPORTED) {
    c->q->st.cancels_refused++;
    return EFI_UNSUPPORTED;
  }
  return UREAL(This)->Cancel(UREAL(This), tok);
}

static EFI_STATUS EFIAPI wu_poll(EFI_UDP4_PROTOCOL *This) {
  struct fwq_child *c = TC(This);
  EFI_STATUS s = UREAL(This)->Poll(UREAL(This));
  if (c->q->set.flags & FWQ_POLL_NOT_READY) {
    c->q->st.polls_not_ready++;
    return EFI_NOT_READY;
  }
  return s;
}

/* ---- DNS4 ---- */

#define DREAL(This) ((EFI_DNS4_PROTOCOL *)TC(This)->real)

static EFI_STATUS EFIAPI wd_mode(EFI_DNS4_PROTOCOL *This, EFI_DNS4_MODE_DATA *m) {
  return DREAL(This)->GetModeData(DREAL(This), m);
}

static EFI_STATUS EFIAPI wd_configure(EFI_DNS4_PROTOCOL *This, EFI_DNS4_CONFIG_DATA *cd) {
  struct fwq_child *c = TC(This);
  gc(c->q);
  if (!cd) {
    EFI_STATUS s = DREAL(This)->Configure(DREAL(This), NULL);
    flush(c);
    return s;
  }
  EFI_STATUS s = configure_quirks(c, cd->UseDefaultSetting);
  if (s != EFI_SUCCESS) return s;
  return DREAL(This)->Configure(DREAL(This), cd);
}

static EFI_STATUS EFIAPI wd_h2ip(EFI_DNS4_PROTOCOL *This, CHAR16 *h, EFI_DNS4_COMPLETION_TOKEN *tok) {
  struct fwq_child *c = TC(This);
  gc(c->q);
  struct fwq_itok *it = tok && wants_intercept(c->q) ? intercept(c, &tok->Event, false) : NULL;
  EFI_STATUS s = DREAL(This)->HostNameToIp(DREAL(This), h, tok);
  if (EFI_ERROR(s)) undo(it);
  return s;
}

static EFI_STATUS EFIAPI wd_ip2h(EFI_DNS4_PROTOCOL *This, EFI_IPv4_ADDRESS a, EFI_DNS4_COMPLETION_TOKEN *t) {
  return DREAL(This)->IpToHostName(DREAL(This), a, t);
}

static EFI_STATUS EFIAPI wd_poll(EFI_DNS4_PROTOCOL *This) {
  struct fwq_child *c = TC(This);
  EFI_STATUS s = DREAL(This)->Poll(DREAL(This));
  if (c->q->set.flags & FWQ_POLL_NOT_READY) {
    c->q->st.polls_not_ready++;
    return EFI_NOT_READY;
  }
  return s;
}

static EFI_STATUS EFIAPI wd_cancel(EFI_DNS4_PROTOCOL *This, EFI_DNS4_COMPLETION_TOKEN *tok) {
  struct fwq_child *c = TC(This);
  if (c->q->set.flags & FWQ_CANCEL_UNSUPPORTED) {
    c->q->st.cancels_refused++;
    return EFI_UNSUPPORTED;
  }
  return DREAL(This)->Cancel(DREAL(This), tok);
}

/* ---- children and service bindings ---- */

static struct fwq_child *child_for(struct fwq *q, EFI_HANDLE h, int kind, void *real, EFI_HANDLE nic) {
  for (struct fwq_child *c = q->children; c; c = c->next)
    if (c->handle == h && c->kind == kind) return c;
  struct fwq_child *c = q_alloc(q, sizeof(*c));
  if (!c) return NULL;
  c->q = q;
  c->kind = kind;
  c->handle = h;
  c->real = real;
  c->nic = nic;
  if (kind == K_TCP) {
    c->w.tcp.GetModeData = wt_mode;
    c->w.tcp.Configure = wt_configure;
    c->w.tcp.Routes = wt_routes;
    c->w.tcp.Connect = wt_connect;
    c->w.tcp.Accept = wt_accept;
    c->w.tcp.Transmit = wt_transmit;
    c->w.tcp.Receive = wt_receive;
    c->w.tcp.Close = wt_close;
    c->w.tcp.Cancel = wt_cancel;
    c->w.tcp.Poll = wt_poll;
  } else if (kind == K_UDP) {
    c->w.udp.GetModeData = wu_mode;
    c->w.udp.Configure = wu_configure;
    c->w.udp.Groups = wu_groups;
    c->w.udp.Routes = wu_routes;
    c->w.udp.Transmit = wu_transmit;
    c->w.udp.Receive = wu_receive;
    c->w.udp.Cancel = wu_cancel;
    c->w.udp.Poll = wu_poll;
  } else {
    c->w.dns.GetModeData = wd_mode;
    c->w.dns.Configure = wd_configure;
    c->w.dns.HostNameToIp = wd_h2ip;
    c->w.dns.IpToHostName = wd_ip2h;
    c->w.dns.Poll = wd_poll;
    c->w.dns.Cancel = wd_cancel;
  }
  c->next = q->children;
  q->children = c;
  return c;
}

static void child_drop(struct fwq *q, EFI_HANDLE h) {
  struct fwq_child **pp = &q->children;
  while (*pp) {
    struct fwq_child *c = *pp;
    if (c->handle == h) {
      flush(c);
      *pp = c->next;
      q_free(q, c);
    } else {
      pp = &c->next;
    }
  }
}

static EFI_STATUS EFIAPI wsb_create(EFI_SERVICE_BINDING_PROTOCOL *This, EFI_HANDLE *child) {
  struct fwq_sbw *w = (struct fwq_sbw *)This;
  gc(w->q);
  EFI_STATUS s = w->real->CreateChild(w->real, child);
  if (!EFI_ERROR(s) && child && *child) {
    /* Bind the wrapper now so it knows its NIC. */
    EFI_GUID *g = w->kind == K_TCP ? &efi_tcp4_guid : w->kind == K_UDP ? &efi_udp4_guid : &efi_dns4_guid;
    void *real = NULL;
    if (!EFI_ERROR(w->q->under.get(w->q->under.self, *child, g, &real)) && real)
      child_for(w->q, *child, w->kind, real, w->nic);
  }
  return s;
}

static EFI_STATUS EFIAPI wsb_destroy(EFI_SERVICE_BINDING_PROTOCOL *This, EFI_HANDLE child) {
  struct fwq_sbw *w = (struct fwq_sbw *)This;
  child_drop(w->q, child);
  EFI_STATUS s = w->real->DestroyChild(w->real, child);
  gc(w->q);
  return s;
}

static struct fwq_sbw *sb_for(struct fwq *q, EFI_HANDLE nic, int kind, EFI_SERVICE_BINDING_PROTOCOL *real) {
  for (struct fwq_sbw *w = q->sbs; w; w = w->next)
    if (w->nic == nic && w->kind == kind) return w;
  struct fwq_sbw *w = q_alloc(q, sizeof(*w));
  if (!w) return NULL;
  w->sb.CreateChild = wsb_create;
  w->sb.DestroyChild = wsb_destroy;
  w->real = real;
  w->q = q;
  w->kind = kind;
  w->nic = nic;
  w->next = q->sbs;
  q->sbs = w;
  return w;
}

/* ---- IP4_CONFIG2 (dhcp-never-answers) ---- */

#define C2W(This) ((struct fwq_cfg2w *)(This))

static EFI_STATUS EFIAPI wc2_set(EFI_IP4_CONFIG2_PROTOCOL *This, EFI_IP4_CONFIG2_DATA_TYPE t, UINTN n, VOID *d) {
  return C2W(This)->real->SetData(C2W(This)->real, t, n, d);
}

static EFI_STATUS EFIAPI wc2_get(EFI_IP4_CONFIG2_PROTOCOL *This, EFI_IP4_CONFIG2_DATA_TYPE t, UINTN *n, VOID *d) {
  struct fwq_cfg2w *w = C2W(This);
  EFI_STATUS s = w->real->GetData(w->real, t, n, d);
  if (EFI_ERROR(s) || !policy_is_dhcp(w->q, w->nic)) return s;
  if (t == Ip4Config2DataTypeInterfaceInfo) {
    EFI_IP4_CONFIG2_INTERFACE_INFO *i = d;
    memset(&i->StationAddress, 0, sizeof(i->StationAddress));
    memset(&i->SubnetMask, 0, sizeof(i->SubnetMask));
    i->RouteTableSize = 0;
    w->q->st.dhcp_hidden++;
  } else if (t == Ip4Config2DataTypeDnsServer || t == Ip4Config2DataTypeGateway) {
    return EFI_NOT_FOUND;
  }
  return s;
}

static EFI_STATUS EFIAPI wc2_reg(EFI_IP4_CONFIG2_PROTOCOL *This, EFI_IP4_CONFIG2_DATA_TYPE t, EFI_EVENT e) {
  return C2W(This)->real->RegisterDataNotify(C2W(This)->real, t, e);
}

static EFI_STATUS EFIAPI wc2_unreg(EFI_IP4_CONFIG2_PROTOCOL *This, EFI_IP4_CONFIG2_DATA_TYPE t, EFI_EVENT e) {
  return C2W(This)->real->UnregisterDataNotify(C2W(This)->real, t, e);
}

static struct fwq_cfg2w *cfg2_for(struct fwq *q, EFI_HANDLE nic, EFI_IP4_CONFIG2_PROTOCOL *real) {
  for (struct fwq_cfg2w *w = q->cfgs; w; w = w->next)
    if (w->nic == nic) return w;
  struct fwq_cfg2w *w = q_alloc(q, sizeof(*w));
  if (!w) return NULL;
  w->p.SetData = wc2_set;
  w->p.GetData = wc2_get;
  w->p.RegisterDataNotify = wc2_reg;
  w->p.UnregisterDataNotify = wc2_unreg;
  w->real = real;
  w->q = q;
  w->nic = nic;
  w->next = q->cfgs;
  q->cfgs = w;
  return w;
}

/* ---- legacy IP4_CONFIG made from IP4_CONFIG2 ---- */

#define LG(This) ((struct fwq_legacy *)(This))

static VOID EFIAPI legacy_tick(EFI_EVENT e, VOID *ctx) {
  (void)e;
  struct fwq_legacy *l = ctx;
  uint32_t a, m;
  if (l->started && station(l->q, l->nic, &a, &m)) {
    l->q->bs->SetTimer(l->timer, TimerCancel, 0);
    l->q->bs->SignalEvent(l->done);
  }
}

static EFI_STATUS EFIAPI wl_start(EFI_IP4_CONFIG_PROTOCOL *This, EFI_EVENT done, EFI_EVENT reconfig) {
  struct fwq_legacy *l = LG(This);
  if (!done || !reconfig) return EFI_INVALID_PARAMETER;
  if (l->started) return EFI_ALREADY_STARTED;
  l->started = true;
  l->done = done;
  uint32_t a, m;
  if (station(l->q, l->nic, &a, &m)) {
    l->q->bs->SignalEvent(done);
    return EFI_SUCCESS;
  }
  /* Legacy Start() means "run DHCP": (re)start it the IP4_CONFIG2 way,
   * through Static, since EDK2 starts DHCP only on demand. */
  EFI_IP4_CONFIG2_POLICY p = Ip4Config2PolicyStatic;
  l->cfg2->SetData(l->cfg2, Ip4Config2DataTypePolicy, sizeof(p), &p);
  p = Ip4Config2PolicyDhcp;
  l->cfg2->SetData(l->cfg2, Ip4Config2DataTypePolicy, sizeof(p), &p);
  l->q->bs->SetTimer(l->timer, TimerPeriodic, 100000u);
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI wl_stop(EFI_IP4_CONFIG_PROTOCOL *This) {
  struct fwq_legacy *l = LG(This);
  if (!l->started) return EFI_NOT_STARTED;
  l->started = false;
  l->q->bs->SetTimer(l->timer, TimerCancel, 0);
  l->done = NULL;
  /* Stop() loses all configuration data (UEFI 2.4 EFI_IP4_CONFIG_PROTOCOL,
   * Ip4ConfigDxe): drop the IP4_CONFIG2 address by leaving DHCP. */
  EFI_IP4_CONFIG2_POLICY p = Ip4Config2PolicyStatic;
  l->cfg2->SetData(l->cfg2, Ip4Config2DataTypePolicy, sizeof(p), &p);
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI wl_get(EFI_IP4_CONFIG_PROTOCOL *This, UINTN *size, EFI_IP4_IPCONFIG_DATA *d) {
  struct fwq_legacy *l = LG(This);
  if (!size) return EFI_INVALID_PARAMETER;
  uint32_t a, m;
  if (!station(l->q, l->nic, &a, &m)) return l->started ? EFI_NOT_READY : EFI_NOT_STARTED;
  /* Routes: the subnet, and the default route from InterfaceInfo. */
  union {
    EFI_IP4_CONFIG2_INTERFACE_INFO i;
    uint8_t raw[sizeof(EFI_IP4_CONFIG2_INTERFACE_INFO) + 16 * sizeof(EFI_IP4_ROUTE_TABLE)];
  } u;
  UINTN sz = sizeof(u);
  if (EFI_ERROR(l->cfg2->GetData(l->cfg2, Ip4Config2DataTypeInterfaceInfo, &sz, &u))) return EFI_NOT_READY;
  UINT32 nr = u.i.RouteTableSize > 16 ? 16 : u.i.RouteTableSize;
  UINTN need = sizeof(*d) + nr * sizeof(EFI_IP4_ROUTE_TABLE);
  if (*size < need || !d) {
    *size = need;
    return EFI_BUFFER_TOO_SMALL;
  }
  d->StationAddress = u.i.StationAddress;
  d->SubnetMask = u.i.SubnetMask;
  d->RouteTableSize = nr;
  d->RouteTable = (EFI_IP4_ROUTE_TABLE *)(d + 1);
  for (UINT32 i = 0; i < nr; i++) d->RouteTable[i] = u.i.RouteTable[i];
  *size = need;
  return EFI_SUCCESS;
}

static struct fwq_legacy *legacy_for(struct fwq *q, EFI_HANDLE nic, EFI_IP4_CONFIG2_PROTOCOL *cfg2) {
  for (struct fwq_legacy *l = q->legs; l; l = l->next)
    if (l->nic == nic) return l;
  struct fwq_legacy *l = q_alloc(q, sizeof(*l));
  if (!l) return NULL;
  if (EFI_ERROR(q->bs->CreateEvent(EVT_TIMER | EVT_NOTIFY_SIGNAL, TPL_CALLBACK, legacy_tick, l, &l->timer))) {
    q_free(q, l);
    return NULL;
  }
  l->p.Start = wl_start;
  l->p.Stop = wl_stop;
  l->p.GetData = wl_get;
  l->cfg2 = cfg2;
  l->q = q;
  l->nic = nic;
  l->next = q->legs;
  q->legs = l;
  return l;
}

/* ---- the source ---- */

static bool hidden(struct fwq *q, EFI_GUID *g) {
  if ((q->set.flags & FWQ_NO_DNS4) && (guid_eq(g, &efi_dns4_sb_guid) || guid_eq(g, &efi_dns4_guid))) return true;
  if ((q->set.flags & FWQ_LEGACY_IP4CONFIG) && guid_eq(g, &efi_ip4cfg2_guid)) return true;
  return false;
}

static EFI_STATUS src_locate(void *self, EFI_GUID *g, UINTN *n, EFI_HANDLE **hs) {
  struct fwq *q = self;
  if (hidden(q, g)) {
    q->st.hidden_lookups++;
    *n = 0;
    *hs = NULL;
    return EFI_NOT_FOUND;
  }
  EFI_STATUS s = q->under.locate(q->under.self, g, n, hs);
  if (s == EFI_NOT_FOUND && (q->set.flags & FWQ_LEGACY_IP4CONFIG) && guid_eq(g, &efi_ip4cfg_guid))
    s = q->under.locate(q->under.self, &efi_ip4cfg2_guid, n, hs); /* served by the shim */
  return s;
}

static EFI_STATUS src_get(void *self, EFI_HANDLE h, EFI_GUID *g, void **iface) {
  struct fwq *q = self;
  gc(q);
  if (hidden(q, g)) {
    q->st.hidden_lookups++;
    return EFI_UNSUPPORTED;
  }
  void *real = NULL;
  EFI_STATUS s = q->under.get(q->under.self, h, g, &real);
  if (guid_eq(g, &efi_ip4cfg_guid) && (q->set.flags & FWQ_LEGACY_IP4CONFIG) && EFI_ERROR(s)) {
    void *c2 = NULL;
    if (EFI_ERROR(q->under.get(q->under.self, h, &efi_ip4cfg2_guid, &c2)) || !c2) return s;
    struct fwq_legacy *l = legacy_for(q, h, c2);
    if (!l) return EFI_OUT_OF_RESOURCES;
    *iface = &l->p;
    return EFI_SUCCESS;
  }
  if (EFI_ERROR(s) || !real) return s;
  int kind = -1;
  bool sb = false;
  if (guid_eq(g, &efi_tcp4_sb_guid)) kind = K_TCP, sb = true;
  else if (guid_eq(g, &efi_udp4_sb_guid)) kind = K_UDP, sb = true;
  else if (guid_eq(g, &efi_dns4_sb_guid)) kind = K_DNS, sb = true;
  else if (guid_eq(g, &efi_tcp4_guid)) kind = K_TCP;
  else if (guid_eq(g, &efi_udp4_guid)) kind = K_UDP;
  else if (guid_eq(g, &efi_dns4_guid)) kind = K_DNS;
  if (sb) {
    struct fwq_sbw *w = sb_for(q, h, kind, real);
    if (!w) return EFI_OUT_OF_RESOURCES;
    *iface = &w->sb;
    return EFI_SUCCESS;
  }
  if (kind >= 0) {
    /* Accepted connections arrive as new handles: bind them to the NIC of
     * any wrapped TCP4 service binding (single-NIC assumption noted). */
    EFI_HANDLE nic = NULL;
    for (struct fwq_child *c = q->children; c; c = c->next)
      if (c->handle == h) nic = c->nic;
    if (!nic)
      for (struct fwq_sbw *w = q->sbs; w && !nic; w = w->next)
        if (w->kind == kind) nic = w->nic;
    struct fwq_child *c = child_for(q, h, kind, real, nic);
    if (!c) return EFI_OUT_OF_RESOURCES;
    *iface = &c->w;
    return EFI_SUCCESS;
  }
  if (guid_eq(g, &efi_ip4cfg2_guid) && (q->set.flags & FWQ_DHCP_NEVER_ANSWERS)) {
    struct fwq_cfg2w *w = cfg2_for(q, h, real);
    if (!w) return EFI_OUT_OF_RESOURCES;
    *iface = &w->p;
    return EFI_SUCCESS;
  }
  *iface = real;
  return EFI_SUCCESS;
}

int fwq_open(struct fwq **out, EFI_SYSTEM_TABLE *st, EFI_HANDLE image, const struct fwq_set *set,
             const struct efinet_fwsource *under) {
  EFI_BOOT_SERVICES *bs = st->BootServices;
  struct fwq *q = NULL;
  if (EFI_ERROR(bs->AllocatePool(EfiLoaderData, sizeof(*q), (void **)&q)) || !q) return EFISOCK_ENOMEM;
  memset(q, 0, sizeof(*q));
  q->bs = bs;
  q->image = image;
  q->set = *set;
  /* by default over the boot services, as efi-net itself would be */
  q->under = under ? *under : *efinet_bs_source_init(&q->bs_src, bs, image);
  q->src.locate = src_locate;
  q->src.get = src_get;
  q->src.self = q;
  *out = q;
  return 0;
}

const struct efinet_fwsource *fwq_source(struct fwq *q) { return &q->src; }

void fwq_get_stats(struct fwq *q, struct fwq_stats *out) { *out = q->st; }

void fwq_close(struct fwq *q) {
  if (!q) return;
  while (q->children) {
    struct fwq_child *c = q->children;
    flush(c);
    q->children = c->next;
    q_free(q, c);
  }
  for (struct fwq_itok *it = q->itoks; it; it = it->next) {
    q->bs->SetTimer(it->timer, TimerCancel, 0);
    it->state = IT_DONE;
  }
  gc(q);
  while (q->sbs) {
    struct fwq_sbw *w = q->sbs;
    q->sbs = w->next;
    q_free(q, w);
  }
  while (q->cfgs) {
    struct fwq_cfg2w *w = q->cfgs;
    q->cfgs = w->next;
    q_free(q, w);
  }
  while (q->legs) {
    struct fwq_legacy *l = q->legs;
    q->legs = l->next;
    q->bs->SetTimer(l->timer, TimerCancel, 0);
    q->bs->CloseEvent(l->timer);
    q_free(q, l);
  }
  q->bs->FreePool(q);
}
