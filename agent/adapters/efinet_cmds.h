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

int efc_extra(struct efc *c, const char *op, const char *args, char *out, size_t cap);
void efc_protocols(struct efc *c, char *out, size_t cap);
void efc_close(struct efc *c);
#endif
