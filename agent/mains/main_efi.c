/* fwnet-agent.efi: the agent as a UEFI application. Commands arrive on the
 * console input (OVMF connects it to the serial port); replies go to the
 * console output, which OVMF mirrors to every serial port among its own
 * messages and escape sequences. So each reply is framed:
 *     @@F <reply> <crc32 of reply, hex> F@@
 * and the harness takes only frames whose CRC matches. On quit the machine
 * powers off, so QEMU exits by itself. */
#include "efinet_cmds.h"
#include "rawtcp.h"

#include "fwbase/rt.h"

typedef struct {
  UINT16 ScanCode;
  CHAR16 UnicodeChar;
} EFI_INPUT_KEY;

typedef struct EFI_SIMPLE_TEXT_INPUT_PROTOCOL EFI_SIMPLE_TEXT_INPUT_PROTOCOL;
struct EFI_SIMPLE_TEXT_INPUT_PROTOCOL {
  EFI_STATUS(EFIAPI *Reset)(EFI_SIMPLE_TEXT_INPUT_PROTOCOL *This, BOOLEAN Ext);
  EFI_STATUS(EFIAPI *ReadKeyStroke)(EFI_SIMPLE_TEXT_INPUT_PROTOCOL *This, EFI_INPUT_KEY *Key);
  EFI_EVENT WaitForKey;
};

typedef struct {
  EFI_TABLE_HEADER Hdr;
  VOID *Slots[10]; /* GetTime .. GetNextHighMonotonicCount */
  VOID(EFIAPI *ResetSystem)(UINTN Type, EFI_STATUS Status, UINTN Size, VOID *Data);
} EFI_RUNTIME_SERVICES_MIN;

/* The app's state: env->user and the backend commands' context. */
struct efi_agent {
  EFI_SYSTEM_TABLE *st;
  uint64_t tsc_per_us;
  struct efc efc;
};

static uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t)hi << 32 | lo;
}

static uint64_t tsc_clock(void *ctx) {
  struct efi_agent *a = ctx;
  return rdtsc() * 1000u / a->tsc_per_us;
}

static void put(EFI_SYSTEM_TABLE *st, const char *s) {
  CHAR16 buf[257];
  while (*s) {
    unsigned n = 0;
    while (*s && n < 256) buf[n++] = (CHAR16)(unsigned char)*s++;
    buf[n] = 0;
    st->ConOut->OutputString(st->ConOut, buf);
  }
}

static void write_frame(struct agent_env *env, const char *line) {
  struct efi_agent *a = env->user;
  static char buf[4200];
  agent_frame(line, buf, sizeof(buf));
  put(a->st, buf);
}

static void vendor(EFI_SYSTEM_TABLE *st, char *out, size_t cap) {
  size_t n = 0;
  for (CHAR16 *v = st->FirmwareVendor; v && *v && n + 1 < cap; v++)
    out[n++] = (*v > ' ' && *v < 127) ? (char)*v : '_';
  out[n] = 0;
}

/* raw dir=rx|tx addr= port= bytes= tokens= size= poll_us= gw= [crc=1] [rcvbuf=] */
static void cmd_raw(void *ctx, const char *args, char *out, size_t cap) {
  struct efi_agent *a = ctx;
  struct raw_args ra;
  struct raw_result rr;
  char v[32];
  for (unsigned i = 0; i < sizeof(ra); i++) ((char *)&ra)[i] = 0;
  uint32_t ip = 0;
  if (agent_arg(args, "addr", v, sizeof(v))) agent_parse_ip(v, &ip);
  for (int i = 0; i < 4; i++) ra.addr.Addr[i] = (UINT8)(ip >> (8 * i));
  ip = 0;
  if (agent_arg(args, "gw", v, sizeof(v))) agent_parse_ip(v, &ip);
  for (int i = 0; i < 4; i++) ra.gw.Addr[i] = (UINT8)(ip >> (8 * i));
  ra.port = (UINT16)agent_arg_int(args, "port", 0);
  ra.tx = agent_arg(args, "dir", v, sizeof(v)) && v[0] == 't';
  ra.bytes = (uint64_t)agent_arg_int(args, "bytes", 1 << 20);
  ra.tokens = (unsigned)agent_arg_int(args, "tokens", 4);
  ra.size = (UINT32)agent_arg_int(args, "size", 65536);
  ra.poll_us = agent_arg_int(args, "poll_us", 0);
  ra.digest = agent_arg_int(args, "crc", 0) != 0;
  ra.rcvbuf = (UINT32)agent_arg_int(args, "rcvbuf", 0);
  ra.clock = tsc_clock;
  ra.clock_ctx = a;
  int rc = raw_transfer(a->st, &ra, &rr);
  agent_kv_int(out, cap, "ret", rc < 0 ? rc : (long long)rr.bytes);
  agent_kv(out, cap, "errno", rc < 0 ? "EIO" : "0");
  agent_kv_int(out, cap, "us", (long long)rr.us);
  agent_kv_int(out, cap, "polls", (long long)rr.polls);
  agent_kv_int(out, cap, "poll_us", (long long)(rr.poll_ns / 1000));
  agent_kv_int(out, cap, "call_us", (long long)(rr.call_ns / 1000));
  agent_kv_int(out, cap, "early", (long long)rr.early);
  agent_kv_int(out, cap, "wait_us", (long long)(rr.wait_ns / 1000));
  agent_kv_int(out, cap, "completions", (long long)rr.completions);
  if (ra.digest) agent_kv_hex32(out, cap, "crc", rr.crc);
}

static void cmd_hello(void *ctx, const char *args, char *out, size_t cap) {
  struct efi_agent *a = ctx;
  (void)args;
  char v[64], rev[16];
  vendor(a->st, v, sizeof(v));
  uint32_t r = a->st->FirmwareRevision;
  rev[0] = '0', rev[1] = 'x';
  for (int i = 9; i >= 2; i--, r >>= 4) rev[i] = "0123456789abcdef"[r & 15];
  rev[10] = 0;
  agent_kv(out, cap, "backend", "efi");
  agent_kv(out, cap, "vendor", v);
  agent_kv(out, cap, "rev", rev);
  agent_kv_int(out, cap, "uefi", (long long)(a->st->Hdr.Revision >> 16));
  efc_protocols(&a->efc, out, cap);
}

static const struct agent_cmd efi_cmds[] = {
    {.name = "hello", .run = cmd_hello, .help = ""},
    {.name = "raw", .run = cmd_raw, .help = "dir=rx|tx addr= port= gw= bytes= tokens= size= poll_us= [crc=1] [rcvbuf=]"},
    {.name = NULL},
};

static int read_line(EFI_SYSTEM_TABLE *st, char *buf, size_t cap) {
  EFI_SIMPLE_TEXT_INPUT_PROTOCOL *in = st->ConIn;
  size_t n = 0;
  for (;;) {
    EFI_INPUT_KEY k;
    UINTN idx;
    if (in->ReadKeyStroke(in, &k) != EFI_SUCCESS) {
      st->BootServices->WaitForEvent(1, &in->WaitForKey, &idx);
      continue;
    }
    CHAR16 ch = k.UnicodeChar;
    if (ch == '\r' || ch == '\n') {
      if (!n) continue;
      buf[n] = 0;
      return (int)n;
    }
    if (ch >= 32 && ch < 127 && n + 1 < cap) buf[n++] = (char)ch;
  }
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st) {
  static struct efi_agent agent;
  static struct agent_env env;
  agent.st = st;
  EFI_BOOT_SERVICES *bs = st->BootServices;
  bs->SetWatchdogTimer(0, 0, 0, NULL); /* the boot manager's 5-minute watchdog */
  uint64_t t0 = rdtsc();
  bs->Stall(10000);
  uint64_t dt = rdtsc() - t0;
  agent.tsc_per_us = dt / 10000 ? dt / 10000 : 1;
  agent_efinet_env(&env, tsc_clock, &agent);
  env.write_line = write_frame;
  env.user = &agent;
  agent_add_cmds(&env, efi_cmds, &agent);
  agent_add_cmds(&env, efc_cmds, &agent.efc);
  agent.efc.st = st;
  agent.efc.image = image;
  agent.efc.env = &env;
  char line[1024];
  write_frame(&env, "ready backend=efi");
  for (;;) {
    read_line(st, line, sizeof(line));
    if (line[0] == 'q' && line[1] == 'u' && line[2] == 'i' && line[3] == 't') break;
    agent_execute(&env, line);
  }
  efc_close(&agent.efc);
  write_frame(&env, "ok op=quit ret=0 errno=0");
  EFI_RUNTIME_SERVICES_MIN *rt = st->RuntimeServices;
  rt->ResetSystem(2 /* EfiResetShutdown */, EFI_SUCCESS, 0, NULL);
  return EFI_SUCCESS;
}
