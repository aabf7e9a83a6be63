/* Backend constructors for the agent's entry points. */
#ifndef FWNET_AGENT_OPS_H
#define FWNET_AGENT_OPS_H
#include "agent/netops.h"

void agent_linux_env(struct agent_env *env);
/* efi-net backend: clock() gives nanoseconds (virtual on the fakes, the
 * TSC on EFI). The instance is set (and reset) with agent_efinet_set(). */
void agent_efinet_env(struct agent_env *env, uint64_t (*clock)(void *), void *clock_ctx);
void agent_efinet_set(struct agent_env *env, efinet_t *net);
efinet_t *agent_efinet_get(struct agent_env *env);
/* lwIP backend (the rump-hw image): monotonic ns and a sleep from the platform. */
void agent_lwip_env(struct agent_env *env, uint64_t (*clock)(void), void (*sleep_ms)(unsigned));

#endif
