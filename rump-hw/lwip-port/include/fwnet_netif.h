#ifndef FWNET_NETIF_H
#define FWNET_NETIF_H
struct netif;
struct nic;
/* Add n as lwIP's default interface, up, and start the device. Call with
 * the tcpip core lock held (or from the tcpip thread). */
int fwnet_netif_add(struct netif *netif, struct nic *n);
#endif
