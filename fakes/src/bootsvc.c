/* Boot services on a virtual clock: events, TPL and notify dispatch as the
 * UEFI spec describes them, timers, pool with ownership checks, the protocol
 * database, and the firmware's lifetime (create/destroy, leak accounting).
 *
 * Misuse that real firmware might tolerate silently (using a closed event,
 * freeing a foreign pointer, WaitForEvent above TPL_APPLICATION) is counted
 * as a violation, so tests catch it.
 */
#include <stdarg.h>
#include "fw.h"

struct fakefw *fw_active;

void fw_violation(const char *fmt, ...) {
  struct fakefw *fw = fw_active;
  fw->violations++;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(fw->violation, sizeof(fw->violation), fmt, ap);
  va_end(ap);
  if (getenv("FAKEFW_VERBOSE")) fprintf(stderr, "fakefw: violation: %s\n", fw->violation);
}

bool fw_guid_eq(const EFI_GUID *a, const EFI_GUID *b) { return memcmp(a, b, sizeof(*a)) == 0; }

/* ---- pool ---- */

void *fw_pool_alloc(size_t n) {
  struct fakefw *fw = fw_active;
  struct fpool *p = calloc(1, sizeof(*p) + n + 16);
  if (!p) return NULL;
  p->magic = FW_POOL_MAGIC;
  p->size = n;
  p->next = fw->pool;
  if (fw->pool) fw->pool->prev = p;
  fw->pool = p;
  fw->pool_blocks++;
  return (uint8_t *)p + sizeof(*p);
}

void fw_pool_free(void *ptr) {
  struct fakefw *fw = fw_active;
  /* Look the block up among the live ones before touching its header: a
   * double free or a foreign pointer must be reported, not dereferenced. */
  struct fpool *p = fw->pool;
  while (p && (uint8_t *)p + sizeof(*p) != (uint8_t *)ptr) p = p->next;
  if (!p || p->magic != FW_POOL_MAGIC) {
    fw_violation("FreePool(%p): not a pool block (double free?)", ptr);
    return;
  }
  p->magic = 0;
  if (p->prev) p->prev->next = p->next;
  else fw->pool = p->next;
  if (p->next) p->next->prev = p->prev;
  fw->pool_blocks--;
  free(p);
}

static EFI_STATUS EFIAPI bs_allocate_pool(EFI_MEMORY_TYPE t, UINTN n, VOID **out) {
  (void)t;
  if (!out) return EFI_INVALID_PARAMETER;
  *out = fw_pool_alloc(n);
  return *out ? EFI_SUCCESS : EFI_OUT_OF_RESOURCES;
}

static EFI_STATUS EFIAPI bs_free_pool(VOID *p) {
  if (!p) return EFI_INVALID_PARAMETER;
  fw_pool_free(p);
  return EFI_SUCCESS;
}

/* ---- events and TPL ---- */

bool fw_event_valid(EFI_EVENT e) {
  struct fevent *ev = e;
  if (!ev) return false;
  for (struct fevent *x = fw_active->events; x; x = x->next)
    if (x == ev) return ev->magic == FW_EVENT_MAGIC;
  return false;
}

struct fevent *fw_event_new(uint32_t type, EFI_TPL tpl, EFI_EVENT_NOTIFY fn, void *ctx, bool internal) {
  struct fakefw *fw = fw_active;
  struct fevent *e = calloc(1, sizeof(*e));
  e->magic = FW_EVENT_MAGIC;
  e->type = type;
  e->tpl = tpl;
  e->fn = fn;
  e->ctx = ctx;
  e->internal = internal;
  e->next = fw->events;
  fw->events = e;
  return e;
}

/* Closed events stay allocated (marked dead) until the firmware goes, so a
 * program that signals or closes one again is caught, not crashed. */
void fw_event_free(struct fevent *e) {
  e->magic = FW_EVENT_DEAD;
  e->armed = false;
  e->pending = false;
}

static void dispatch(void) {
  struct fakefw *fw = fw_active;
  for (;;) {
    struct fevent *best = NULL;
    for (struct fevent *e = fw->events; e; e = e->next) {
      if (!e->pending || e->magic != FW_EVENT_MAGIC || e->tpl <= fw->tpl) continue;
      if (!best || e->tpl > best->tpl || (e->tpl == best->tpl && e->pending_seq < best->pending_seq))
        best = e;
    }
    if (!best) return;
    best->pending = false;
    EFI_TPL old = fw->tpl;
    fw->tpl = best->tpl;
    best->fn(best, best->ctx);
    fw->tpl = old;
  }
}

static void queue_notify(struct fevent *e) {
  if (e->pending) return;
  e->pending = true;
  e->pending_seq = ++fw_active->pending_seq;
}

void fw_signal(struct fevent *e) {
  if (e->type & EVT_NOTIFY_SIGNAL) {
    queue_notify(e);
    dispatch();
  } else {
    e->signaled = true;
  }
}

void fw_complete(EFI_EVENT ev, EFI_STATUS *status_field, EFI_STATUS st) {
  *status_field = st;
  if (!fw_event_valid(ev)) {
    fw_violation("token completed whose event %p was closed", ev);
    return;
  }
  fw_signal(ev);
}

static EFI_TPL EFIAPI bs_raise_tpl(EFI_TPL n) {
  struct fakefw *fw = fw_active;
  EFI_TPL old = fw->tpl;
  if (n < old) fw_violation("RaiseTPL(%lu) below current %lu", (unsigned long)n, (unsigned long)old);
  fw->tpl = n;
  return old;
}

static VOID EFIAPI bs_restore_tpl(EFI_TPL old) {
  struct fakefw *fw = fw_active;
  if (old > fw->tpl) fw_violation("RestoreTPL(%lu) above current", (unsigned long)old);
  fw->tpl = old;
  dispatch();
}

static EFI_STATUS create_event(UINT32 type, EFI_TPL tpl, EFI_EVENT_NOTIFY fn, const VOID *ctx,
                               EFI_EVENT *out) {
  if (!out) return EFI_INVALID_PARAMETER;
  if ((type & (EVT_NOTIFY_SIGNAL | EVT_NOTIFY_WAIT)) == (EVT_NOTIFY_SIGNAL | EVT_NOTIFY_WAIT))
    return EFI_INVALID_PARAMETER;
  if (type & (EVT_NOTIFY_SIGNAL | EVT_NOTIFY_WAIT)) {
    if (!fn || (tpl != TPL_CALLBACK && tpl != TPL_NOTIFY && tpl != TPL_HIGH_LEVEL))
      return EFI_INVALID_PARAMETER;
  }
  *out = fw_event_new(type, tpl, fn, (void *)ctx, false);
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI bs_create_event(UINT32 type, EFI_TPL tpl, EFI_EVENT_NOTIFY fn, VOID *ctx,
                                         EFI_EVENT *out) {
  return create_event(type, tpl, fn, ctx, out);
}

static EFI_STATUS EFIAPI bs_create_event_ex(UINT32 type, EFI_TPL tpl, EFI_EVENT_NOTIFY fn,
                                            const VOID *ctx, const EFI_GUID *group,
                                            EFI_EVENT *out) {
  if (group) return EFI_UNSUPPORTED; /* event groups: not used by efi-net */
  return create_event(type, tpl, fn, ctx, out);
}

static struct fevent *checked(EFI_EVENT e, const char *what) {
  if (!fw_event_valid(e)) {
    fw_violation("%s on an invalid or closed event %p", what, e);
    return NULL;
  }
  return e;
}

void fw_set_timer(struct fevent *e, EFI_TIMER_DELAY type, uint64_t ns) {
  struct fakefw *fw = fw_active;
  if (type == TimerCancel) {
    e->armed = false;
    return;
  }
  e->armed = true;
  e->period = type == TimerPeriodic ? (ns ? ns : FW_TICK_NS) : 0;
  e->trigger = fw->now + (ns ? ns : (type == TimerPeriodic ? FW_TICK_NS : 0));
}

static EFI_STATUS EFIAPI bs_set_timer(EFI_EVENT ev, EFI_TIMER_DELAY type, UINT64 t100ns) {
  struct fevent *e = checked(ev, "SetTimer");
  if (!e) return EFI_INVALID_PARAMETER;
  if (!(e->type & EVT_TIMER) || type > TimerRelative) return EFI_INVALID_PARAMETER;
  fw_set_timer(e, type, t100ns * 100);
  return EFI_SUCCESS;
}

/* Advance the clock to `to`, firing every timer due on the way. */
static void run_until(uint64_t to) {
  struct fakefw *fw = fw_active;
  for (;;) {
    struct fevent *next = NULL;
    for (struct fevent *e = fw->events; e; e = e->next)
      if (e->armed && e->magic == FW_EVENT_MAGIC && e->trigger <= to && (!next || e->trigger < next->trigger))
        next = e;
    if (!next) break;
    if (next->trigger > fw->now) fw->now = next->trigger;
    if (next->period)
      next->trigger += next->period;
    else
      next->armed = false;
    fw_signal(next);
  }
  if (to > fw->now) fw->now = to;
  if (fw->now > fw->limit) {
    fprintf(stderr, "fakefw: virtual time limit (%llu ms) exceeded: the program hangs\n",
            (unsigned long long)(fw->limit / FW_NS_MS));
    abort();
  }
}

void fw_charge(uint64_t ns) {
  fw_active->busy += ns;
  run_until(fw_active->now + ns);
}

void fakefw_advance(struct fakefw *fw, uint64_t ns) {
  (void)fw;
  run_until(fw_active->now + ns);
}

static EFI_STATUS check_event(struct fevent *e) {
  if (e->type & EVT_NOTIFY_SIGNAL) return EFI_INVALID_PARAMETER;
  if (!e->signaled && (e->type & EVT_NOTIFY_WAIT)) {
    queue_notify(e);
    dispatch();
  }
  if (e->signaled) {
    e->signaled = false;
    return EFI_SUCCESS;
  }
  return EFI_NOT_READY;
}

static EFI_STATUS EFIAPI bs_check_event(EFI_EVENT ev) {
  struct fevent *e = checked(ev, "CheckEvent");
  if (!e) return EFI_INVALID_PARAMETER;
  fw_charge(FW_CHECK_COST_NS);
  return check_event(e);
}

static EFI_STATUS EFIAPI bs_signal_event(EFI_EVENT ev) {
  struct fevent *e = checked(ev, "SignalEvent");
  if (!e) return EFI_INVALID_PARAMETER;
  fw_signal(e);
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI bs_close_event(EFI_EVENT ev) {
  struct fevent *e = checked(ev, "CloseEvent");
  if (!e) return EFI_INVALID_PARAMETER;
  fw_event_free(e);
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI bs_wait_for_event(UINTN n, EFI_EVENT *evs, UINTN *index) {
  struct fakefw *fw = fw_active;
  if (!n || !evs || !index) return EFI_INVALID_PARAMETER;
  if (fw->tpl != TPL_APPLICATION) {
    fw_violation("WaitForEvent at TPL %lu", (unsigned long)fw->tpl);
    return EFI_UNSUPPORTED;
  }
  for (;;) {
    for (UINTN i = 0; i < n; i++) {
      struct fevent *e = checked(evs[i], "WaitForEvent");
      if (!e) return EFI_INVALID_PARAMETER;
      EFI_STATUS s = check_event(e);
      if (s == EFI_INVALID_PARAMETER) {
        *index = i;
        return s;
      }
      if (s == EFI_SUCCESS) {
        *index = i;
        return EFI_SUCCESS;
      }
    }
    /* Halt until the next timer: the idle time a real CPU would sleep. */
    struct fevent *next = NULL;
    for (struct fevent *e = fw->events; e; e = e->next)
      if (e->armed && e->magic == FW_EVENT_MAGIC && (!next || e->trigger < next->trigger)) next = e;
    if (!next) {
      fprintf(stderr, "fakefw: WaitForEvent with no timer armed would block forever\n");
      abort();
    }
    if (next->trigger > fw->now) fw->idle += next->trigger - fw->now;
    run_until(next->trigger);
  }
}

static EFI_STATUS EFIAPI bs_stall(UINTN us) {
  fw_charge((uint64_t)us * 1000);
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI bs_monotonic(UINT64 *c) {
  if (!c) return EFI_INVALID_PARAMETER;
  *c = ++fw_active->mono;
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI bs_watchdog(UINTN t, UINT64 c, UINTN n, CHAR16 *d) {
  (void)t, (void)c, (void)n, (void)d;
  return EFI_SUCCESS;
}

/* ---- protocol database ---- */

struct fhandle *fw_handle_new(void) {
  struct fhandle *h = calloc(1, sizeof(*h));
  h->magic = FW_HANDLE_MAGIC;
  h->next = fw_active->handles;
  fw_active->handles = h;
  return h;
}

static struct fhandle *handle_ok(EFI_HANDLE hh) {
  for (struct fhandle *h = fw_active->handles; h; h = h->next)
    if (h == hh) return h;
  return NULL;
}

void fw_handle_free(struct fhandle *h) {
  struct fhandle **pp = &fw_active->handles;
  while (*pp && *pp != h) pp = &(*pp)->next;
  if (*pp) *pp = h->next;
  h->magic = 0;
  free(h);
}

EFI_STATUS fw_install(struct fhandle *h, const EFI_GUID *g, void *iface) {
  for (unsigned i = 0; i < h->np; i++)
    if (fw_guid_eq(&h->p[i].guid, g)) return EFI_INVALID_PARAMETER;
  if (h->np >= FW_MAX_PROTOS) return EFI_OUT_OF_RESOURCES;
  h->p[h->np].guid = *g;
  h->p[h->np].iface = iface;
  h->np++;
  return EFI_SUCCESS;
}

EFI_STATUS fw_uninstall(struct fhandle *h, const EFI_GUID *g) {
  for (unsigned i = 0; i < h->np; i++) {
    if (fw_guid_eq(&h->p[i].guid, g)) {
      h->p[i] = h->p[--h->np];
      return EFI_SUCCESS;
    }
  }
  return EFI_NOT_FOUND;
}

static void *find_proto(struct fhandle *h, const EFI_GUID *g) {
  for (unsigned i = 0; i < h->np; i++)
    if (fw_guid_eq(&h->p[i].guid, g)) return h->p[i].iface;
  return NULL;
}

static EFI_STATUS EFIAPI bs_install(EFI_HANDLE *hp, EFI_GUID *g, EFI_INTERFACE_TYPE t, VOID *iface) {
  (void)t;
  if (!hp || !g) return EFI_INVALID_PARAMETER;
  struct fhandle *h = *hp ? handle_ok(*hp) : fw_handle_new();
  if (!h) return EFI_INVALID_PARAMETER;
  *hp = h;
  return fw_install(h, g, iface);
}

static EFI_STATUS EFIAPI bs_reinstall(EFI_HANDLE hh, EFI_GUID *g, VOID *old, VOID *nw) {
  struct fhandle *h = handle_ok(hh);
  if (!h || !g) return EFI_INVALID_PARAMETER;
  for (unsigned i = 0; i < h->np; i++) {
    if (fw_guid_eq(&h->p[i].guid, g) && h->p[i].iface == old) {
      h->p[i].iface = nw;
      return EFI_SUCCESS;
    }
  }
  return EFI_NOT_FOUND;
}

static EFI_STATUS EFIAPI bs_uninstall(EFI_HANDLE hh, EFI_GUID *g, VOID *iface) {
  struct fhandle *h = handle_ok(hh);
  if (!h || !g) return EFI_INVALID_PARAMETER;
  if (find_proto(h, g) != iface) return EFI_NOT_FOUND;
  return fw_uninstall(h, g);
}

static EFI_STATUS EFIAPI bs_handle_protocol(EFI_HANDLE hh, EFI_GUID *g, VOID **out) {
  struct fhandle *h = handle_ok(hh);
  if (!h || !g || !out) return EFI_INVALID_PARAMETER;
  *out = find_proto(h, g);
  return *out ? EFI_SUCCESS : EFI_UNSUPPORTED;
}

static EFI_STATUS EFIAPI bs_open_protocol(EFI_HANDLE hh, EFI_GUID *g, VOID **out, EFI_HANDLE agent,
                                          EFI_HANDLE ctrl, UINT32 attr) {
  (void)agent, (void)ctrl;
  struct fhandle *h = handle_ok(hh);
  if (!h || !g) return EFI_INVALID_PARAMETER;
  void *p = find_proto(h, g);
  if (!p) return EFI_UNSUPPORTED;
  if (attr != EFI_OPEN_PROTOCOL_TEST_PROTOCOL) {
    if (!out) return EFI_INVALID_PARAMETER;
    *out = p;
  }
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI bs_close_protocol(EFI_HANDLE hh, EFI_GUID *g, EFI_HANDLE a, EFI_HANDLE c) {
  (void)a, (void)c;
  struct fhandle *h = handle_ok(hh);
  if (!h || !g) return EFI_INVALID_PARAMETER;
  return find_proto(h, g) ? EFI_SUCCESS : EFI_NOT_FOUND;
}

static EFI_STATUS EFIAPI bs_locate_handle_buffer(EFI_LOCATE_SEARCH_TYPE st, EFI_GUID *g, VOID *key,
                                                 UINTN *n, EFI_HANDLE **buf) {
  (void)key;
  if (!n || !buf || (st == ByProtocol && !g)) return EFI_INVALID_PARAMETER;
  UINTN count = 0;
  for (struct fhandle *h = fw_active->handles; h; h = h->next)
    if (st == AllHandles || find_proto(h, g)) count++;
  if (!count) {
    *n = 0;
    *buf = NULL;
    return EFI_NOT_FOUND;
  }
  EFI_HANDLE *out = fw_pool_alloc(count * sizeof(EFI_HANDLE));
  /* The list is newest-first; report in creation order, as firmware does. */
  UINTN i = count;
  for (struct fhandle *h = fw_active->handles; h; h = h->next)
    if (st == AllHandles || find_proto(h, g)) out[--i] = h;
  *n = count;
  *buf = out;
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI bs_locate_handle(EFI_LOCATE_SEARCH_TYPE st, EFI_GUID *g, VOID *key,
                                          UINTN *size, EFI_HANDLE *buf) {
  UINTN n = 0;
  EFI_HANDLE *all = NULL;
  EFI_STATUS s = bs_locate_handle_buffer(st, g, key, &n, &all);
  if (EFI_ERROR(s)) return s;
  UINTN need = n * sizeof(EFI_HANDLE);
  if (*size < need) {
    *size = need;
    fw_pool_free(all);
    return EFI_BUFFER_TOO_SMALL;
  }
  memcpy(buf, all, need);
  *size = need;
  fw_pool_free(all);
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI bs_locate_protocol(EFI_GUID *g, VOID *reg, VOID **out) {
  (void)reg;
  if (!g || !out) return EFI_INVALID_PARAMETER;
  for (struct fhandle *h = fw_active->handles; h; h = h->next) {
    void *p = find_proto(h, g);
    if (p) {
      *out = p;
      return EFI_SUCCESS;
    }
  }
  *out = NULL;
  return EFI_NOT_FOUND;
}

static EFI_STATUS EFIAPI conout_string(EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *t, CHAR16 *s) {
  (void)t;
  if (getenv("FAKEFW_VERBOSE"))
    for (; *s; s++) fputc(*s < 128 ? (int)*s : '?', stderr);
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI rng_get(EFI_RNG_PROTOCOL *t, EFI_GUID *alg, UINTN n, UINT8 *out) {
  (void)t, (void)alg;
  struct fakefw *fw = fw_active;
  for (UINTN i = 0; i < n; i++) {
    fw->rng_state = fw->rng_state * 6364136223846793005ull + 1442695040888963407ull;
    out[i] = (UINT8)(fw->rng_state >> 56);
  }
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI bs_unimplemented(void) {
  fw_violation("a boot service the fake does not implement was called");
  return EFI_UNSUPPORTED;
}

/* ---- lifetime ---- */

struct fakefw *fakefw_create(const struct fakefw_opts *opts) {
  if (fw_active) {
    /* A test that failed half way never destroyed its firmware. */
    fprintf(stderr, "fakefw: destroying a firmware left over by a failed test\n");
    fakefw_destroy(fw_active);
  }
  struct fakefw *fw = calloc(1, sizeof(*fw));
  fw_active = fw;
  if (opts) fw->opts = *opts;
  if (!fw->opts.nics) fw->opts.nics = 1;
  if (!fw->opts.dhcp_ms) fw->opts.dhcp_ms = 3100;
  if (!fw->opts.tcp_rcvbuf) fw->opts.tcp_rcvbuf = 65536;
  fw->limit = (fw->opts.time_limit_ms ? fw->opts.time_limit_ms : 3600000ull) * FW_NS_MS;
  fw->tpl = TPL_APPLICATION;
  fw->rng_state = 0x853c49e6748fea9bull;
  EFI_BOOT_SERVICES *bs = &fw->bs;
  void **slots = (void **)((uint8_t *)bs + sizeof(bs->Hdr));
  for (size_t i = 0; i < (sizeof(*bs) - sizeof(bs->Hdr)) / sizeof(void *); i++)
    slots[i] = (void *)bs_unimplemented;
  bs->Hdr.Signature = EFI_BOOT_SERVICES_SIGNATURE;
  bs->Hdr.Revision = (2u << 16) | 70u;
  bs->Hdr.HeaderSize = sizeof(*bs);
  bs->RaiseTPL = bs_raise_tpl;
  bs->RestoreTPL = bs_restore_tpl;
  bs->AllocatePool = bs_allocate_pool;
  bs->FreePool = bs_free_pool;
  bs->CreateEvent = bs_create_event;
  bs->CreateEventEx = bs_create_event_ex;
  bs->SetTimer = bs_set_timer;
  bs->WaitForEvent = bs_wait_for_event;
  bs->SignalEvent = bs_signal_event;
  bs->CloseEvent = bs_close_event;
  bs->CheckEvent = bs_check_event;
  bs->InstallProtocolInterface = bs_install;
  bs->ReinstallProtocolInterface = bs_reinstall;
  bs->UninstallProtocolInterface = bs_uninstall;
  bs->HandleProtocol = bs_handle_protocol;
  bs->Reserved = NULL;
  bs->LocateHandle = bs_locate_handle;
  bs->GetNextMonotonicCount = bs_monotonic;
  bs->Stall = bs_stall;
  bs->SetWatchdogTimer = bs_watchdog;
  bs->OpenProtocol = bs_open_protocol;
  bs->CloseProtocol = bs_close_protocol;
  bs->LocateHandleBuffer = bs_locate_handle_buffer;
  bs->LocateProtocol = bs_locate_protocol;
  fw->conout.OutputString = conout_string;
  fw->st.Hdr.Signature = EFI_SYSTEM_TABLE_SIGNATURE;
  fw->st.Hdr.Revision = (2u << 16) | 70u;
  fw->st.Hdr.HeaderSize = sizeof(fw->st);
  static CHAR16 vendor[64];
  const char *v = fw->opts.vendor ? fw->opts.vendor : "fwnet fake firmware";
  size_t i = 0;
  for (; v[i] && i < 63; i++) vendor[i] = (CHAR16)v[i];
  vendor[i] = 0;
  fw->st.FirmwareVendor = vendor;
  fw->st.FirmwareRevision = 0x00010000;
  fw->st.ConOut = &fw->conout;
  fw->st.StdErr = &fw->conout;
  fw->st.BootServices = bs;
  fw->image = fw_handle_new();
  if (fw->opts.rng) {
    fw->rng.GetRNG = rng_get;
    fw_install(fw_handle_new(), &efi_rng_guid, &fw->rng);
  }
  fw->net = fnet_create(fw);
  return fw;
}

void fakefw_destroy(struct fakefw *fw) {
  fnet_destroy(fw->net);
  while (fw->events) {
    struct fevent *e = fw->events;
    fw->events = e->next;
    free(e);
  }
  while (fw->pool) {
    struct fpool *p = fw->pool;
    fw->pool = p->next;
    free(p);
  }
  while (fw->handles) {
    struct fhandle *h = fw->handles;
    fw->handles = h->next;
    free(h);
  }
  free(fw);
  fw_active = NULL;
}

EFI_SYSTEM_TABLE *fakefw_st(struct fakefw *fw) { return &fw->st; }
EFI_HANDLE fakefw_image(struct fakefw *fw) { return fw->image; }
struct fnet *fakefw_net(struct fakefw *fw) { return fw->net; }
uint64_t fakefw_now_ns(struct fakefw *fw) { return fw->now; }
uint64_t fakefw_idle_ns(struct fakefw *fw) { return fw->idle; }
uint64_t fakefw_busy_ns(struct fakefw *fw) { return fw->busy; }
void fakefw_counters(struct fakefw *fw, struct fakefw_counters *out) { *out = fw->ctr; }

EFI_HANDLE fakefw_nic_handle(struct fakefw *fw, unsigned i) {
  struct fnet *n = fw->net;
  return i < n->nnics ? n->nics[i].handle : NULL;
}

void fakefw_leaks(struct fakefw *fw, struct fakefw_leaks *out) {
  memset(out, 0, sizeof(*out));
  for (struct fevent *e = fw->events; e; e = e->next) {
    if (e->internal || e->magic != FW_EVENT_MAGIC) continue;
    out->events++;
    if (e->armed) out->open_timers++;
  }
  out->pool_blocks = fw->pool_blocks;
  struct fnet *n = fw->net;
  for (unsigned i = 0; i < n->nnics; i++) {
    struct fnic *nic = &n->nics[i];
    for (struct ftcp *t = nic->tcps; t; t = t->next) out->children++;
    for (struct fudp *u = nic->udps; u; u = u->next) out->children++;
    for (struct fdns *d = nic->dnss; d; d = d->next) out->children++;
  }
  out->tokens = fnet_outstanding_tokens(n);
  out->rx_buffers = n->rx_buffers;
}

bool fakefw_leak_free(struct fakefw *fw, char *why, size_t len) {
  struct fakefw_leaks l;
  fakefw_leaks(fw, &l);
  bool ok = !l.events && !l.pool_blocks && !l.children && !l.tokens && !l.rx_buffers &&
            !fw->violations;
  if (why)
    snprintf(why, len, "events=%u pool=%u children=%u tokens=%u rxbufs=%u violations=%u%s%s",
             l.events, l.pool_blocks, l.children, l.tokens, l.rx_buffers, fw->violations,
             fw->violations ? " last: " : "", fw->violations ? fw->violation : "");
  return ok;
}
