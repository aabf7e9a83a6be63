#ifndef FWNET_HOST_MACHINE_H
#define FWNET_HOST_MACHINE_H
#include <stddef.h>
#include <stdint.h>
#include "bmk/sched.h"
extern uint64_t host_now;
extern char host_console[4096];
extern size_t host_console_len;
extern const char *host_cmdline[16][2];
extern unsigned host_idles, host_deadlocks;
extern const struct bmk_platform host_platform;
#endif
