#ifndef FWNET_AGENT_EFINET_CMDS_H
#define FWNET_AGENT_EFINET_CMDS_H
#include <stdbool.h>
#include "agent/netops.h"
#include "agent/ops.h"
#include "efiquirks/quirks.h"

struct efc {
  EFI_SYSTEM_TABLE *st;
  EFI_HANDLE image;
  struct agent_env *env;
  efinet_t *net;
  struct fwq *q;
};

/* open, net: a table whose handlers take the struct efc (agent_add_cmds) */
extern const struct agent_cmd efc_cmds[];
void efc_protocols(struct efc *c, char *out, size_t cap);
void efc_close(struct efc *c);
/* Test only: busy iterations per KiB received (ops_efinet.c; open plant_rx_work=). */
extern unsigned agent_plant_rx_work;
#endif
