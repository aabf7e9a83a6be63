/* The posix agents' `open`: efi-net's own open (efinet_cmds.c), then the
 * instance attached to <efisock/posix.h>'s names, which the unchanged Linux
 * adapter calls. Shared by main_posix_fakes.c and main_posix_efi.c. */
#ifndef FWNET_AGENT_POSIX_OPEN_H
#define FWNET_AGENT_POSIX_OPEN_H
#include "agent/netops.h"

/* Register before efc_cmds so that this open wins; ctx: the struct efc. */
extern const struct agent_cmd posix_open_cmds[];
#endif
