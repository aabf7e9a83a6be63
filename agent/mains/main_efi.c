/* fwnet-agent.efi: the agent as a UEFI application. Commands arrive on the
 * serial port and replies leave on it (efi_chan.c: driven directly, or
 * through the console, where OVMF mixes in its own messages and escape
 * sequences). So each reply is framed:
 *     @@F <reply> <crc32 of reply, hex> F@@
 * and the harness takes only frames whose CRC matches. On quit the machine
 * powers off, so QEMU exits by itself. */
#include "efi_chan.h"
#include "efinet_cmds.h"
#include "rawtcp.h"

#include "fwbase/rt.h"

typedef struct {
  EFI_TABLE_HEADER Hdr;
  VOID *Slots[10]; /* GetTime .. GetNextHighMonotonicCount */
  VOID(EFIAPI *ResetSystem)(UINTN Type, EFI_STATUS Status, UINTN Size, VOID *Data);
} EFI_RUNTIME_SERVICES_MIN;

/* The app's state: env->user and the backend commands' context. */
struct efi_agent {
  EFI_SYSTEM_TABLE *st;
  uint64_t tsc_per_us;
  struct efi_chan chan;
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

static void write_frame(struct agent_env *env, const char *line) {
  struct efi_agent *a = env->user;
  static char buf[4200];
  agent_frame(line, buf, sizeof(buf));
  efi_chan_write(&a->chan, buf);
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
  char v[64], rev[16];
  /* nonce=: echoed, so the harness can tell this reply from stale bytes
   * (after loadvm the agent resumes mid-loop; PROTOCOL.md hello) */
  if (agent_arg(args, "nonce", v, sizeof(v))) agent_kv(out, cap, "nonce", v);
  vendor(a->st, v, sizeof(v));
  uint32_t r = a->st->FirmwareRevision;
  rev[0] = '0', rev[1] = 'x';
  for (int i = 9; i >= 2; i--, r >>= 4) rev[i] = "0123456789abcdef"[r & 15];
  rev[10] = 0;
  agent_kv(out, cap, "backend", "efi");
  agent_kv(out, cap, "vendor", v);
  agent_kv(out, cap, "rev", rev);
  agent_kv_int(out, cap, "uefi", (long long)(a->st->Hdr.Revision >> 16));
  agent_kv(out, cap, "chan", a->chan.kind);
  if (a->chan.why) agent_kv(out, cap, "chan_why", a->chan.why);
  efc_protocols(&a->efc, out, cap);
}


/* ---- fwinfo: the firmware's identity ---- */

typedef EFI_STATUS(EFIAPI *open_info_fn)(EFI_HANDLE Handle, EFI_GUID *Protocol,
                                         EFI_OPEN_PROTOCOL_INFORMATION_ENTRY **Entries, UINTN *Count);
typedef EFI_STATUS(EFIAPI *protocols_per_handle_fn)(EFI_HANDLE Handle, EFI_GUID ***Protocols, UINTN *Count);

typedef struct EFI_COMPONENT_NAME2_PROTOCOL EFI_COMPONENT_NAME2_PROTOCOL;
struct EFI_COMPONENT_NAME2_PROTOCOL {
  EFI_STATUS(EFIAPI *GetDriverName)(EFI_COMPONENT_NAME2_PROTOCOL *This, CHAR8 *Language, CHAR16 **Name);
  VOID *GetControllerName;
  CHAR8 *SupportedLanguages;
};

typedef struct {
  VOID *Supported, *Start, *Stop;
  UINT32 Version;
  EFI_HANDLE ImageHandle, DriverBindingHandle;
} EFI_DRIVER_BINDING_MIN;

static int guid_eq(const EFI_GUID *a, const EFI_GUID *b) {
  const unsigned char *x = (const void *)a, *y = (const void *)b;
  for (int i = 0; i < 16; i++)
    if (x[i] != y[i]) return 0;
  return 1;
}

/* A reply value: printable ASCII, spaces and '=' as '_' (PROTOCOL.md). */
static void put_clean(char *dst, size_t cap, const char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n && s[i] && k + 1 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    dst[k++] = (c > ' ' && c < 127 && c != '=') ? (char)c : '_';
  }
  while (k && dst[k - 1] == '_') k--;
  dst[k] = 0;
  if (!k && cap > 1) dst[0] = '-', dst[1] = 0;
}

static void ucs2_clean(char *dst, size_t cap, const CHAR16 *s) {
  char tmp[128];
  size_t n = 0;
  for (; s && *s && n + 1 < sizeof(tmp); s++) tmp[n++] = *s < 127 ? (char)*s : '?';
  tmp[n] = 0;
  put_clean(dst, cap, tmp, n);
}

/* SMBIOS string number idx (1-based) of the structure at p with formatted length len. */
static const char *smbios_str(const unsigned char *p, unsigned len, unsigned idx) {
  const char *s = (const char *)p + len;
  if (!idx) return "";
  for (unsigned i = 1; i < idx; i++) {
    if (!*s) return "";
    while (*s) s++;
    s++;
  }
  return s;
}

static void smbios_type0(EFI_SYSTEM_TABLE *st, char *out, size_t cap) {
  const unsigned char *table = NULL;
  uint64_t size = 0;
  const char *kind = "none";
  for (UINTN i = 0; i < st->NumberOfTableEntries; i++) {
    EFI_CONFIGURATION_TABLE *c = &st->ConfigurationTable[i];
    const unsigned char *e = c->VendorTable;
    if (guid_eq(&c->VendorGuid, &efi_smbios3_guid) && e[0] == '_' && e[1] == 'S' && e[3] == '3') {
      uint64_t addr = 0;
      for (int k = 7; k >= 0; k--) addr = addr << 8 | e[0x10 + k];
      if (addr > (uint64_t)UINTPTR_MAX) continue; /* ia32: above 4 GiB, unreachable; try SMBIOS 2 */
      size = (uint64_t)e[0x0c] | (uint64_t)e[0x0d] << 8 | (uint64_t)e[0x0e] << 16 | (uint64_t)e[0x0f] << 24;
      table = (const unsigned char *)(uintptr_t)addr;
      kind = "3";
      break;
    }
    if (guid_eq(&c->VendorGuid, &efi_smbios_guid) && e[0] == '_' && e[1] == 'S' && e[2] == 'M' && !table) {
      uint32_t addr = (uint32_t)e[0x18] | (uint32_t)e[0x19] << 8 | (uint32_t)e[0x1a] << 16 | (uint32_t)e[0x1b] << 24;
      size = (uint64_t)e[0x16] | (uint64_t)e[0x17] << 8;
      table = (const unsigned char *)(uintptr_t)addr;
      kind = "2";
    }
  }
  agent_kv(out, cap, "smbios", kind);
  char v[96];
  for (uint64_t off = 0; table && off + 4 <= size;) {
    const unsigned char *p = table + off;
    unsigned len = p[1];
    if (len < 4) break;
    if (p[0] == 0 && len >= 9) {
      const char *s;
      s = smbios_str(p, len, p[4]);
      put_clean(v, sizeof(v), s, strlen(s));
      agent_kv(out, cap, "bios_vendor", v);
      s = smbios_str(p, len, p[5]);
      put_clean(v, sizeof(v), s, strlen(s));
      agent_kv(out, cap, "bios_version", v);
      s = smbios_str(p, len, p[8]);
      put_clean(v, sizeof(v), s, strlen(s));
      agent_kv(out, cap, "bios_date", v);
      return;
    }
    if (p[0] == 127) break;
    const unsigned char *q = p + len; /* strings end with a double NUL */
    while (q + 1 < table + size && (q[0] || q[1])) q++;
    off = (uint64_t)(q + 2 - table);
  }
}

/* The driver that made each SNP handle: the agent of a BY_CHILD_CONTROLLER
 * open whose controller is that handle (VirtioNetDxe on VirtIo, iPXE on
 * its PCI device), named by its ComponentName2. */
static void nic_driver(EFI_SYSTEM_TABLE *st, char *out, size_t cap) {
  EFI_BOOT_SERVICES *bs = st->BootServices;
  open_info_fn open_info = (open_info_fn)bs->OpenProtocolInformation;
  protocols_per_handle_fn per_handle = (protocols_per_handle_fn)bs->ProtocolsPerHandle;
  EFI_HANDLE *snps = NULL, *all = NULL;
  UINTN nsnp = 0, nall = 0;
  char names[200];
  names[0] = 0;
  size_t used = 0;
  int found = 0;
  if (bs->LocateHandleBuffer(ByProtocol, &efi_snp_guid, NULL, &nsnp, &snps) != EFI_SUCCESS) nsnp = 0;
  if (bs->LocateHandleBuffer(AllHandles, NULL, NULL, &nall, &all) != EFI_SUCCESS) nall = 0;
  if (!nsnp && nall) { /* not connected yet: what efi-net's open does too */
    for (UINTN i = 0; i < nall; i++) bs->ConnectController(all[i], NULL, NULL, TRUE);
    bs->FreePool(all);
    all = NULL;
    nall = 0;
    if (bs->LocateHandleBuffer(ByProtocol, &efi_snp_guid, NULL, &nsnp, &snps) != EFI_SUCCESS) nsnp = 0;
    if (bs->LocateHandleBuffer(AllHandles, NULL, NULL, &nall, &all) != EFI_SUCCESS) nall = 0;
  }
  EFI_HANDLE seen[8];
  unsigned nseen = 0;
  for (UINTN h = 0; h < nall; h++) {
    EFI_GUID **prots = NULL;
    UINTN np = 0;
    if (per_handle(all[h], &prots, &np) != EFI_SUCCESS) continue;
    for (UINTN k = 0; k < np; k++) {
      EFI_OPEN_PROTOCOL_INFORMATION_ENTRY *ents = NULL;
      UINTN ne = 0;
      if (open_info(all[h], prots[k], &ents, &ne) != EFI_SUCCESS) continue;
      for (UINTN e = 0; e < ne; e++) {
        if (!(ents[e].Attributes & EFI_OPEN_PROTOCOL_BY_CHILD_CONTROLLER)) continue;
        int is_snp = 0;
        for (UINTN s = 0; s < nsnp; s++) is_snp |= ents[e].ControllerHandle == snps[s];
        int dup = 0;
        for (unsigned s = 0; s < nseen; s++) dup |= seen[s] == ents[e].AgentHandle;
        if (!is_snp || dup || nseen == 8) continue;
        seen[nseen++] = ents[e].AgentHandle;
        EFI_COMPONENT_NAME2_PROTOCOL *cn = NULL;
        EFI_DRIVER_BINDING_MIN *db = NULL;
        CHAR16 *name = NULL;
        char v[96] = "-";
        if (bs->HandleProtocol(ents[e].AgentHandle, &efi_component_name2_guid, (VOID **)&cn) == EFI_SUCCESS && cn &&
            (cn->GetDriverName(cn, (CHAR8 *)"en", &name) == EFI_SUCCESS ||
             cn->GetDriverName(cn, (CHAR8 *)"en-US", &name) == EFI_SUCCESS) && name)
          ucs2_clean(v, sizeof(v), name);
        size_t n = strlen(v);
        if (used + n + 12 < sizeof(names)) {
          if (used) names[used++] = ',';
          for (size_t i = 0; i < n; i++) names[used++] = v[i];
          if (bs->HandleProtocol(ents[e].AgentHandle, &efi_driver_binding_guid, (VOID **)&db) == EFI_SUCCESS && db) {
            uint32_t ver = db->Version;
            names[used++] = '@';
            names[used++] = '0', names[used++] = 'x';
            for (int i = 7; i >= 0; i--) names[used++] = "0123456789abcdef"[(ver >> (4 * i)) & 15];
          }
          names[used] = 0;
        }
        found = 1;
      }
      if (ents) bs->FreePool(ents);
    }
    if (prots) bs->FreePool(prots);
  }
  if (all) bs->FreePool(all);
  if (snps) bs->FreePool(snps);
  agent_kv_int(out, cap, "snp", (long long)nsnp);
  agent_kv(out, cap, "nic_driver", found ? names : "-");
}

/* fwinfo: vendor= rev= uefi= smbios= bios_vendor= bios_version= bios_date= snp= nic_driver= */
static void cmd_fwinfo(void *ctx, const char *args, char *out, size_t cap) {
  struct efi_agent *a = ctx;
  (void)args;
  char v[96], rev[16];
  agent_kv(out, cap, "ret", "0");
  agent_kv(out, cap, "errno", "0");
  ucs2_clean(v, sizeof(v), a->st->FirmwareVendor);
  agent_kv(out, cap, "vendor", v);
  uint32_t r = a->st->FirmwareRevision;
  rev[0] = '0', rev[1] = 'x';
  for (int i = 9; i >= 2; i--, r >>= 4) rev[i] = "0123456789abcdef"[r & 15];
  rev[10] = 0;
  agent_kv(out, cap, "rev", rev);
  agent_kv_int(out, cap, "uefi", (long long)(a->st->Hdr.Revision >> 16));
  agent_kv_int(out, cap, "uefi_minor", (long long)(a->st->Hdr.Revision & 0xffff));
  smbios_type0(a->st, out, cap);
  nic_driver(a->st, out, cap);
}

static const struct agent_cmd efi_cmds[] = {
    {.name = "hello", .run = cmd_hello, .help = ""},
    {.name = "fwinfo", .run = cmd_fwinfo, .help = ""},
    {.name = "raw", .run = cmd_raw, .help = "dir=rx|tx addr= port= gw= bytes= tokens= size= poll_us= [crc=1] [rcvbuf=]"},
    {.name = NULL},
};

/* The watchdog off, and the TSC measured against Stall: every timing the
 * agent reports (tsc_clock) uses it. */
static void efi_agent_start(struct efi_agent *agent, EFI_SYSTEM_TABLE *st, EFI_HANDLE image) {
  agent->st = st;
  EFI_BOOT_SERVICES *bs = st->BootServices;
  bs->SetWatchdogTimer(0, 0, 0, NULL); /* the boot manager's 5-minute watchdog */
  uint64_t t0 = rdtsc();
  bs->Stall(10000);
  uint64_t dt = rdtsc() - t0;
  agent->tsc_per_us = dt / 10000 ? dt / 10000 : 1;
  efi_chan_open(&agent->chan, st, image);
}

/* The ready frame, then the commands until quit (main_posix_efi.c runs the
 * same loop). */
static void efi_agent_serve(struct efi_agent *agent, struct agent_env *env, const char *ready) {
  char line[1024];
  write_frame(env, ready);
  for (;;) {
    efi_chan_read_line(&agent->chan, line, sizeof(line));
    if (line[0] == 'q' && line[1] == 'u' && line[2] == 'i' && line[3] == 't') break;
    agent_execute(env, line);
  }
}

/* Close the stack, say so, power off. */
static EFI_STATUS efi_agent_finish(struct efi_agent *agent, struct agent_env *env, EFI_SYSTEM_TABLE *st) {
  efc_close(&agent->efc);
  write_frame(env, "ok op=quit ret=0 errno=0");
  EFI_RUNTIME_SERVICES_MIN *rt = st->RuntimeServices;
  rt->ResetSystem(2 /* EfiResetShutdown */, EFI_SUCCESS, 0, NULL);
  return EFI_SUCCESS;
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st) {
  static struct efi_agent agent;
  static struct agent_env env;
  efi_agent_start(&agent, st, image);
  agent_efinet_env(&env, tsc_clock, &agent);
  env.write_line = write_frame;
  env.user = &agent;
  agent_add_cmds(&env, efi_cmds, &agent);
  agent_add_cmds(&env, efc_cmds, &agent.efc);
  agent.efc.st = st;
  agent.efc.image = image;
  agent.efc.env = &env;
  efi_agent_serve(&agent, &env, "ready backend=efi");
  return efi_agent_finish(&agent, &env, st);
}
