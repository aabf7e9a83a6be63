/* fwnet-agent-posix-fakes: the Linux adapter (adapters/ops_linux.c, compiled
 * unchanged against efi-net's <efisock/posix.h> shim headers) over efi-net
 * on the host's fake firmware. Proves that a program written for BSD
 * sockets runs on efi-net without a line changed.
 *
 * It is fwnet-agent-fakes' main (main_fakes.c, included: hello, peer, dns)
 * with the socket commands going through the Linux adapter: `open` opens
 * efi-net as the efi-net agents do (efinet_cmds.c, through an efi-net env of
 * its own) and attaches the instance to the POSIX names. */
#define main fakes_agent_main_unused
#include "main_fakes.c"
#undef main

#define EFISOCK_POSIX_NO_NAMES /* libc's headers are in this file: only the attach calls */
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

int main(void) {
  struct agent_env env = {0};
  struct fakes_agent a = {0};
  a.fw = fakefw_create(NULL);
  agent_linux_env(&env);
  agent_efinet_env(&efenv, vclock, &a);
  efisock_posix_attach_clock(vclock, &a);
  env.write_line = write_line;
  agent_add_cmds(&env, posix_hello_cmds, &a);
  agent_add_cmds(&env, fakes_cmds, &a);
  agent_add_cmds(&env, posix_open_cmds, &a.efc);
  agent_add_cmds(&env, efc_cmds, &a.efc);
  a.efc.st = fakefw_st(a.fw);
  a.efc.image = fakefw_image(a.fw);
  a.efc.env = &efenv;
  fakes_serve(&env);
  efisock_posix_attach(NULL);
  return fakes_finish(&a);
}
