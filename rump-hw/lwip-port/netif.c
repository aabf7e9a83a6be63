/* An lwIP netif on a NIC driver (drivers/nic.h). Transmit: one copy of the
 * pbuf chain into the ring slot. Receive: the driver's upcall (interrupt
 * thread) copies the frame into a pool pbuf and hands it to the tcpip
 * thread's mailbox. */
#include "lwip/opt.h"
#include "lwip/etharp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcpip.h"
#include "netif/ethernet.h"
#include "fwnet_netif.h"
#include "bmk/nic.h"

static err_t linkoutput(struct netif *netif, struct pbuf *p) {
  struct nic *n = netif->state;
  void *buf = n->ops->tx_reserve(n, p->tot_len);
  if (!buf) return ERR_IF;
  pbuf_copy_partial(p, buf, p->tot_len, 0);
  n->ops->tx_commit(n, p->tot_len);
  LINK_STATS_INC(link.xmit);
  return ERR_OK;
}

static void nic_input(struct nic *n, const void *frame, size_t len) {
  struct netif *netif = n->upper;
  struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
  if (!p) {
    LINK_STATS_INC(link.memerr);
    LINK_STATS_INC(link.drop);
    return;
  }
  pbuf_take(p, frame, (u16_t)len);
  LINK_STATS_INC(link.recv);
  if (netif->input(p, netif) != ERR_OK) { /* tcpip mailbox or message pool full */
    LINK_STATS_INC(link.drop);
    pbuf_free(p);
  }
}

static err_t netif_init_cb(struct netif *netif) {
  struct nic *n = netif->state;
  netif->name[0] = 'e';
  netif->name[1] = 'n';
  netif->hwaddr_len = 6;
  for (int i = 0; i < 6; i++) netif->hwaddr[i] = n->mac[i];
  netif->mtu = 1500;
  netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
  netif->output = etharp_output;
  netif->linkoutput = linkoutput;
  n->upper = netif;
  n->input = nic_input;
  return ERR_OK;
}

int fwnet_netif_add(struct netif *netif, struct nic *n) {
  ip4_addr_t any = {0};
  if (!netif_add(netif, &any, &any, &any, n, netif_init_cb, tcpip_input)) return -1;
  netif_set_default(netif);
  netif_set_up(netif);
  n->ops->start(n);
  return 0;
}
