/* The image's network: one NIC, lwIP's default netif, configured at boot from
 * the command line and again by the agent's "net" command. Addresses are in
 * network byte order. */
#ifndef FWNET_RUMPNET_H
#define FWNET_RUMPNET_H
#include <stdint.h>

int rumpnet_init(void); /* lwIP up, first supported NIC attached; 0 or -1 */
int rumpnet_static(uint32_t addr, uint32_t mask, uint32_t gw);
int rumpnet_dhcp(unsigned timeout_ms); /* 0 once bound, -1 on timeout */
void rumpnet_dns(uint32_t server);
struct rumpnet_info {
  uint32_t addr, mask, gw, dns;
  int dhcp;
  const char *nic;
  uint8_t mac[6];
};
void rumpnet_info(struct rumpnet_info *out);
struct nic_stats;
const struct nic_stats *rumpnet_nic_stats(void);

/* services.c: start the listeners named in a comma list (agent excluded):
 * echo(7) discard(9) source(19) http(80); returns how many started. */
int services_start(const char *list);
/* the agent on the serial console (agent/mains/main_rump.c); never returns */
void agent_rump_main(void);

#endif
