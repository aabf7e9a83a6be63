/* The posix agents' `open` (posix_open.h). */
#include "posix_open.h"
#include "efinet_cmds.h"
#include "fwbase/rt.h"
#define EFISOCK_POSIX_NO_NAMES /* only the attach calls: libc may be in scope */
#include "efisock/posix.h"

static void cmd_posix_open(void *ctx, const char *args, char *out, size_t cap) {
  struct efc *c = ctx;
  efisock_posix_attach(NULL);
  for (const struct agent_cmd *k = efc_cmds; k->name; k++)
    if (!strcmp(k->name, "open")) k->run(c, args, out, cap);
  efisock_posix_attach(c->net);
}

const struct agent_cmd posix_open_cmds[] = {
    {.name = "open", .run = cmd_posix_open, .help = "as efi-net's open; attaches it to the POSIX names"},
    {.name = NULL},
};
