/* Raw EFI_TCP4 bulk transfer, for the benchmarks: no socket layer at all.
 * The limit of the firmware's own stack is "raw": N tokens kept posted and a
 * Poll() loop. The precedent's strategy is "bits": one 64 KiB Receive (or one
 * Transmit) outstanding and a busy Poll. poll_us > 0 stalls between Polls,
 * for the Poll-interval sweep; poll_us < 0 never polls (timer tick only).
 * Freestanding; runs in the EFI agent beside efi-net, on the same NIC. */
#include "rawtcp.h"
#include "fwbase/pattern.h"

#include "fwbase/rt.h"


#define RAW_MAX_TOKENS 16

struct rtok {
  EFI_TCP4_IO_TOKEN io;
  union {
    EFI_TCP4_RECEIVE_DATA rx;
    EFI_TCP4_TRANSMIT_DATA tx;
  } d;
  volatile int done;
  int posted;
  UINT8 *buf;
};

static VOID EFIAPI raw_notify(EFI_EVENT e, VOID *ctx) {
  (void)e;
  ((struct rtok *)ctx)->done = 1;
}

struct conn_done {
  volatile int done;
};
static VOID EFIAPI flag_notify(EFI_EVENT e, VOID *ctx) {
  (void)e;
  ((struct conn_done *)ctx)->done = 1;
}

int raw_transfer(EFI_SYSTEM_TABLE *st, const struct raw_args *a, struct raw_result *r) {
  EFI_BOOT_SERVICES *bs = st->BootServices;
  memset(r, 0, sizeof(*r));
  UINTN n = 0;
  EFI_HANDLE *hs = NULL;
  if (EFI_ERROR(bs->LocateHandleBuffer(ByProtocol, &efi_tcp4_sb_guid, NULL, &n, &hs)) || !n) return -1;
  EFI_SERVICE_BINDING_PROTOCOL *sb = NULL;
  bs->HandleProtocol(hs[0], &efi_tcp4_sb_guid, (void **)&sb);
  bs->FreePool(hs);
  EFI_HANDLE child = NULL;
  if (!sb || EFI_ERROR(sb->CreateChild(sb, &child))) return -2;
  EFI_TCP4_PROTOCOL *t = NULL;
  bs->HandleProtocol(child, &efi_tcp4_guid, (void **)&t);
  int rc = -3;
  unsigned ntok = a->tokens < 1 ? 1 : a->tokens > RAW_MAX_TOKENS ? RAW_MAX_TOKENS : a->tokens;
  struct rtok tok[RAW_MAX_TOKENS];
  memset(tok, 0, sizeof(tok));
  EFI_TCP4_CONFIG_DATA cd;
  memset(&cd, 0, sizeof(cd));
  cd.TimeToLive = 64;
  cd.AccessPoint.UseDefaultAddress = TRUE;
  cd.AccessPoint.RemoteAddress = a->addr;
  cd.AccessPoint.RemotePort = a->port;
  cd.AccessPoint.ActiveFlag = TRUE;
  EFI_TCP4_OPTION opt;
  memset(&opt, 0, sizeof(opt));
  if (a->rcvbuf) {
    opt.ReceiveBufferSize = a->rcvbuf;
    opt.SendBufferSize = a->rcvbuf;
    opt.MaxSynBackLog = 5;
    opt.DataRetries = 12;
    opt.FinTimeout = 2;
    opt.TimeWaitTimeout = 2;
    opt.KeepAliveTime = 7200;
    opt.KeepAliveInterval = 75;
    opt.EnableNagle = TRUE;
    opt.EnableWindowScaling = TRUE;
    cd.ControlOption = &opt;
  }
  EFI_STATUS s = EFI_NO_MAPPING;
  for (int i = 0; i < 500 && s == EFI_NO_MAPPING; i++) {
    s = t->Configure(t, &cd);
    if (s == EFI_NO_MAPPING) bs->Stall(10000);
  }
  if (EFI_ERROR(s)) goto out;
  EFI_IPv4_ADDRESS zero = {{0}};
  t->Routes(t, FALSE, &zero, &zero, (EFI_IPv4_ADDRESS *)&a->gw); /* as BITS did */
  struct conn_done cdone = {0};
  EFI_TCP4_CONNECTION_TOKEN ct;
  memset(&ct, 0, sizeof(ct));
  bs->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, flag_notify, &cdone, &ct.CompletionToken.Event);
  if (EFI_ERROR(t->Connect(t, &ct))) {
    bs->CloseEvent(ct.CompletionToken.Event);
    goto unconf;
  }
  while (!cdone.done) t->Poll(t);
  bs->CloseEvent(ct.CompletionToken.Event);
  if (ct.CompletionToken.Status != EFI_SUCCESS) goto unconf;

  for (unsigned i = 0; i < ntok; i++) {
    bs->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, raw_notify, &tok[i], &tok[i].io.CompletionToken.Event);
    bs->AllocatePool(EfiLoaderData, a->size, (void **)&tok[i].buf);
    fwb_pattern_fill(tok[i].buf, a->size, 0);
  }
  uint64_t t0 = a->clock(a->clock_ctx);
  uint64_t moved = 0, posted_bytes = 0;
  int fin = 0;
  rc = 0;
  /* Tokens are posted, and their completions taken, in ring order from
   * head (the firmware completes them in posting order), so received data
   * is digested in stream order. Every pass first takes all completed
   * tokens from head, then reposts the free ones before the next Poll: a
   * token not waiting in the firmware when a frame arrives leaves the frame
   * in the socket's buffer, and the later Receive takes it through
   * TCP4's slow immediate path (about 10 times the cost of a waiting one). */
  unsigned head = 0;
  while (!fin && moved < a->bytes) {
    while (tok[head].posted && tok[head].done) {
      struct rtok *k = &tok[head];
      k->posted = 0;
      head = (head + 1) % ntok;
      r->completions++;
      EFI_STATUS ks = k->io.CompletionToken.Status;
      if (ks != EFI_SUCCESS) {
        fin = 1;
        if (ks != EFI_CONNECTION_FIN) rc = -4;
        break;
      }
      moved += a->tx ? k->d.tx.DataLength : k->d.rx.DataLength;
      if (!a->tx && a->digest) r->crc = fwb_crc32(r->crc, k->buf, k->d.rx.DataLength);
    }
    for (unsigned step = 0; step < ntok && !fin; step++) {
      struct rtok *k = &tok[(head + step) % ntok];
      if (k->posted || (a->tx && posted_bytes >= a->bytes)) continue;
      k->done = 0;
      k->io.CompletionToken.Status = EFI_NOT_READY; /* the firmware sets it when it completes */
      uint64_t c0 = a->clock(a->clock_ctx);
      EFI_STATUS ps;
      if (a->tx) {
        UINT32 len = (UINT32)(a->bytes - posted_bytes < a->size ? a->bytes - posted_bytes : a->size);
        k->d.tx.Push = TRUE;
        k->d.tx.DataLength = len;
        k->d.tx.FragmentCount = 1;
        k->d.tx.FragmentTable[0].FragmentLength = len;
        k->d.tx.FragmentTable[0].FragmentBuffer = k->buf;
        k->io.Packet.TxData = &k->d.tx;
        ps = t->Transmit(t, &k->io);
        if (ps == EFI_SUCCESS) posted_bytes += len;
      } else {
        k->d.rx.DataLength = a->size;
        k->d.rx.FragmentCount = 1;
        k->d.rx.FragmentTable[0].FragmentLength = a->size;
        k->d.rx.FragmentTable[0].FragmentBuffer = k->buf;
        k->io.Packet.RxData = &k->d.rx;
        ps = t->Receive(t, &k->io);
        if (ps == EFI_CONNECTION_FIN) fin = 1;
      }
      r->call_ns += a->clock(a->clock_ctx) - c0;
      if (ps != EFI_SUCCESS) break; /* retried after the next Poll; order kept */
      if (!a->tx && k->io.CompletionToken.Status != EFI_NOT_READY) r->early++;
      k->posted = 1;
    }
    if (a->poll_us >= 0) {
      uint64_t p0 = a->clock(a->clock_ctx);
      t->Poll(t);
      r->poll_ns += a->clock(a->clock_ctx) - p0;
      r->polls++;
      if (a->poll_us > 0) {
        uint64_t w0 = a->clock(a->clock_ctx);
        bs->Stall((UINTN)a->poll_us);
        r->wait_ns += a->clock(a->clock_ctx) - w0;
      }
    } else {
      uint64_t w0 = a->clock(a->clock_ctx);
      bs->Stall(1000); /* no Poll: only the firmware's timer moves frames */
      r->wait_ns += a->clock(a->clock_ctx) - w0;
    }
  }
  /* A Receive posted after the FIN fails at once with CONNECTION_FIN, and
   * the loop ends there, while older tokens may hold the stream's last
   * data: take it, in order, before the abort below cancels them. */
  for (unsigned step = 0; step < ntok && !a->tx && moved < a->bytes; step++) {
    struct rtok *k = &tok[head];
    if (!k->posted || !k->done || k->io.CompletionToken.Status != EFI_SUCCESS) break;
    k->posted = 0;
    r->completions++;
    moved += k->d.rx.DataLength;
    if (a->digest) r->crc = fwb_crc32(r->crc, k->buf, k->d.rx.DataLength);
    head = (head + 1) % ntok;
  }
  r->us = (a->clock(a->clock_ctx) - t0) / 1000;
  r->bytes = moved;
  /* Abort: Configure(NULL) completes every token before the buffers go. */
unconf:
  t->Configure(t, NULL);
  for (unsigned i = 0; i < ntok; i++) {
    if (tok[i].io.CompletionToken.Event) bs->CloseEvent(tok[i].io.CompletionToken.Event);
    if (tok[i].buf) bs->FreePool(tok[i].buf);
  }
out:
  sb->DestroyChild(sb, child);
  return rc;
}
