/* rumpnet.h: bring up lwIP on the first NIC a driver claims. */
#include "lwip/dhcp.h"
#include "lwip/dns.h"
#include "lwip/netif.h"
#include "lwip/tcpip.h"
#include "bmk/kernel.h"
#include "bmk/rumpuser.h"
#include "fwnet_netif.h"
#include "bmk/nic.h"
#include "bmk/rumpnet.h"

static struct netif netif;
static struct nic *nic;
static int use_dhcp;

static void probe(struct bmk_pci_dev *d, void *arg) {
  (void)arg;
  if (nic) return;
  if (!virtio_net_attach(d, &nic) || !e1000_attach(d, &nic))
    bmk_printf("fwnet-rump: %s at pci %02x:%02x.%x irq %d mac %02x:%02x:%02x:%02x:%02x:%02x\n",
               nic->driver, d->bus, d->dev, d->fn, d->irq, nic->mac[0], nic->mac[1], nic->mac[2],
               nic->mac[3], nic->mac[4], nic->mac[5]);
}

static struct rumpuser_mtx *up_mtx;
static struct rumpuser_cv *up_cv;
static int up;

static void tcpip_ready(void *arg) {
  (void)arg;
  rumpuser_mutex_enter(up_mtx);
  up = 1;
  rumpuser_cv_signal(up_cv);
  rumpuser_mutex_exit(up_mtx);
}

int rumpnet_init(void) {
  bmk_pci_scan(probe, NULL);
  if (!nic) {
    bmk_printf("fwnet-rump: no supported NIC (virtio-net legacy 1af4:1000 or e1000 8086:100e)\n");
    return -1;
  }
  rumpuser_mutex_init(&up_mtx, RUMPUSER_MTX_KMUTEX);
  rumpuser_cv_init(&up_cv);
  tcpip_init(tcpip_ready, NULL);
  rumpuser_mutex_enter(up_mtx);
  while (!up) rumpuser_cv_wait(up_cv, up_mtx);
  rumpuser_mutex_exit(up_mtx);
  LOCK_TCPIP_CORE();
  int rc = fwnet_netif_add(&netif, nic);
  netif_set_hostname(&netif, "fwnet-rump");
  UNLOCK_TCPIP_CORE();
  return rc;
}

int rumpnet_static(uint32_t addr, uint32_t mask, uint32_t gw) {
  ip4_addr_t a, m, g;
  a.addr = addr, m.addr = mask, g.addr = gw;
  LOCK_TCPIP_CORE();
  if (use_dhcp) dhcp_release_and_stop(&netif);
  use_dhcp = 0;
  netif_set_addr(&netif, &a, &m, &g);
  UNLOCK_TCPIP_CORE();
  return 0;
}

int rumpnet_dhcp(unsigned timeout_ms) {
  LOCK_TCPIP_CORE();
  use_dhcp = 1;
  err_t e = dhcp_start(&netif);
  UNLOCK_TCPIP_CORE();
  if (e != ERR_OK) return -1;
  uint64_t deadline = bmk_clock_mono_ns() + (uint64_t)timeout_ms * 1000000u;
  for (;;) {
    LOCK_TCPIP_CORE();
    int bound = dhcp_supplied_address(&netif);
    UNLOCK_TCPIP_CORE();
    if (bound) return 0;
    if (bmk_clock_mono_ns() >= deadline) return -1;
    rumpuser_clock_sleep(RUMPUSER_CLOCK_RELWALL, 0, 10000000);
  }
}

void rumpnet_dns(uint32_t server) {
  ip_addr_t s;
  ip_addr_set_ip4_u32(&s, server);
  LOCK_TCPIP_CORE();
  dns_setserver(0, &s);
  UNLOCK_TCPIP_CORE();
}

void rumpnet_info(struct rumpnet_info *o) {
  LOCK_TCPIP_CORE();
  o->addr = ip4_addr_get_u32(netif_ip4_addr(&netif));
  o->mask = ip4_addr_get_u32(netif_ip4_netmask(&netif));
  o->gw = ip4_addr_get_u32(netif_ip4_gw(&netif));
  const ip_addr_t *d = dns_getserver(0);
  o->dns = d ? ip4_addr_get_u32(ip_2_ip4(d)) : 0;
  UNLOCK_TCPIP_CORE();
  o->dhcp = use_dhcp;
  o->nic = nic ? nic->driver : "none";
  for (int i = 0; i < 6; i++) o->mac[i] = nic ? nic->mac[i] : 0;
}

const struct nic_stats *rumpnet_nic_stats(void) { return nic ? &nic->stats : NULL; }
