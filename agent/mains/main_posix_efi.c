/* fwnet-agent-posix.efi: the Linux adapter (adapters/ops_linux.c, compiled
 * unchanged against efi-net's <efisock/posix.h> shim headers) as a UEFI
 * application over efi-net. fwnet-agent.efi's main (main_efi.c, included:
 * serial channel and framing, hello, fwinfo, raw) with the socket
 * commands going through the Linux adapter: `open` opens efi-net as the
 * efi-net agent does (efinet_cmds.c, through an efi-net env of its own) and
 * attaches the instance to the POSIX names. */
#define efi_main efi_main_efinet_unused
#include "main_efi.c"
#undef efi_main

#define EFISOCK_POSIX_NO_NAMES
#include "efisock/posix.h"
#include "posix_open.h"

static struct agent_env efenv; /* the efi-net env efinet_cmds.c opens through */

static void cmd_posix_hello(void *ctx, const char *args, char *out, size_t cap) {
  cmd_hello(ctx, args, out, cap);
  agent_kv(out, cap, "adapter", "posix");
}

static const struct agent_cmd posix_hello_cmds[] = {
    {.name = "hello", .run = cmd_posix_hello, .help = ""},
    {.name = NULL},
};

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st) {
  static struct efi_agent agent;
  static struct agent_env env;
  efi_agent_start(&agent, st, image);
  agent_linux_env(&env);
  agent_efinet_env(&efenv, tsc_clock, &agent);
  efisock_posix_attach_clock(tsc_clock, &agent);
  env.write_line = write_frame;
  env.user = &agent;
  efenv.write_line = write_frame;
  efenv.user = &agent;
  agent_add_cmds(&env, posix_hello_cmds, &agent);
  agent_add_cmds(&env, efi_cmds, &agent);
  agent_add_cmds(&env, posix_open_cmds, &agent.efc);
  agent_add_cmds(&env, efc_cmds, &agent.efc);
  agent.efc.st = st;
  agent.efc.image = image;
  agent.efc.env = &efenv;
  efi_agent_serve(&agent, &env, "ready backend=efi adapter=posix");
  efisock_posix_attach(NULL);
  return efi_agent_finish(&agent, &env, st);
}
