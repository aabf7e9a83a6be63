/* lwIP hooks of this port (LWIP_HOOK_FILENAME). */
#ifndef FWNET_LWIP_HOOKS_H
#define FWNET_LWIP_HOOKS_H
#include "lwip/ip_addr.h"
/* RFC 6528 initial sequence numbers: lwIP 2.1.3's own are a counter
 * (every connection of a boot starts alike), so the port supplies them. */
u32_t fwnet_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip, u16_t remote_port);
#endif
