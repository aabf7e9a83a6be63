/* Address configuration: EFI_IP4_CONFIG2, else the legacy EFI_IP4_CONFIG,
 * else explicit addresses given to each TCP4/UDP4 instance.
 *
 * Every wait has a deadline, so firmware that never configures an address
 * cannot hang the program (quirk dhcp-never-answers). The firmware is read
 * by polling GetData, since RegisterDataNotify(InterfaceInfo) was observed
 * never to fire on OVMF when DHCP completed.
 */
#include "internal.h"

static bool ip_zero(const EFI_IPv4_ADDRESS *a) { return en_ip_u32(a) == 0; }

/* Read InterfaceInfo, growing the buffer on EFI_BUFFER_TOO_SMALL.
 * EFI_NOT_READY / EFI_NOT_FOUND early on just mean "not yet" (DHCP still
 * running, as in quirk no-mapping): -EAGAIN. */
static int read_ifinfo2(struct efinet *net) {
  EFI_IP4_CONFIG2_PROTOCOL *c2 = net->ip4cfg2;
  UINTN size = sizeof(EFI_IP4_CONFIG2_INTERFACE_INFO);
  EFI_IP4_CONFIG2_INTERFACE_INFO *info = NULL;
  EFI_STATUS s = EFI_BUFFER_TOO_SMALL;
  for (int tries = 0; tries < 4 && s == EFI_BUFFER_TOO_SMALL; tries++) {
    en_free(net, info);
    info = en_alloc(net, size);
    if (!info) return -EFISOCK_ENOMEM;
    s = c2->GetData(c2, Ip4Config2DataTypeInterfaceInfo, &size, info);
  }
  if (EFI_ERROR(s) || ip_zero(&info->StationAddress)) {
    en_free(net, info);
    net->have_addr = false;
    return -EFISOCK_EAGAIN;
  }
  net->addr = info->StationAddress;
  net->mask = info->SubnetMask;
  EFI_IPv4_ADDRESS gw = {{0}};
  UINTN gsz = sizeof(gw);
  /* GetData(Gateway) answered EFI_NOT_FOUND after DHCP on OVMF: fall back to
   * the default route in the interface's route table. */
  if (EFI_ERROR(c2->GetData(c2, Ip4Config2DataTypeGateway, &gsz, &gw)) || ip_zero(&gw)) {
    memset(&gw, 0, sizeof(gw));
    for (UINT32 i = 0; info->RouteTable && i < info->RouteTableSize; i++) {
      EFI_IP4_ROUTE_TABLE *r = &info->RouteTable[i];
      if (ip_zero(&r->SubnetAddress) && ip_zero(&r->SubnetMask) && !ip_zero(&r->GatewayAddress))
        gw = r->GatewayAddress;
    }
  }
  net->gateway = gw;
  if (!net->dns_overridden) {
    EFI_IPv4_ADDRESS d[4];
    UINTN dsz = sizeof(d);
    net->ndns = 0;
    if (!EFI_ERROR(c2->GetData(c2, Ip4Config2DataTypeDnsServer, &dsz, d)))
      net->ndns = (unsigned)(dsz / sizeof(d[0]) > 4 ? 4 : dsz / sizeof(d[0]));
    memcpy(net->dns, d, net->ndns * sizeof(d[0]));
  }
  en_free(net, info);
  net->have_addr = true;
  net->ipsource = EFINET_SRC_IP4CONFIG2;
  return 0;
}

static int read_ifinfo_legacy(struct efinet *net) {
  EFI_IP4_CONFIG_PROTOCOL *c = net->ip4cfg;
  UINTN size = sizeof(EFI_IP4_IPCONFIG_DATA);
  EFI_IP4_IPCONFIG_DATA *d = NULL;
  EFI_STATUS s = EFI_BUFFER_TOO_SMALL;
  for (int tries = 0; tries < 4 && s == EFI_BUFFER_TOO_SMALL; tries++) {
    en_free(net, d);
    d = en_alloc(net, size);
    if (!d) return -EFISOCK_ENOMEM;
    s = c->GetData(c, &size, d);
  }
  if (EFI_ERROR(s) || ip_zero(&d->StationAddress)) {
    en_free(net, d);
    net->have_addr = false;
    return -EFISOCK_EAGAIN;
  }
  net->addr = d->StationAddress;
  net->mask = d->SubnetMask;
  memset(&net->gateway, 0, sizeof(net->gateway));
  for (UINT32 i = 0; d->RouteTable && i < d->RouteTableSize; i++) {
    EFI_IP4_ROUTE_TABLE *r = &d->RouteTable[i];
    if (ip_zero(&r->SubnetAddress) && ip_zero(&r->SubnetMask) && !ip_zero(&r->GatewayAddress))
      net->gateway = r->GatewayAddress;
  }
  en_free(net, d);
  net->have_addr = true;
  net->ipsource = EFINET_SRC_IP4CONFIG;
  return 0;
}

int en_ip_discover(struct efinet *net) {
  if (net->explicit_addr) return 0;
  if (net->ip4cfg2) return read_ifinfo2(net);
  if (net->ip4cfg) return read_ifinfo_legacy(net);
  return -EFISOCK_EAGAIN;
}

struct tick_wait {
  struct efinet *net;
  uint64_t until;
};
static bool tick_reached(void *a) {
  struct tick_wait *w = a;
  return w->net->ticks >= w->until;
}
static bool addr_ready(void *a) { return en_ip_discover(a) == 0; }

/* Legacy IP4_CONFIG: Start(done, reconfig) then wait for done. Never
 * Stop(): UEFI 2.4 says all configuration data is lost after it, and
 * Ip4ConfigDxe does drop the address (GetData fails, the next Start runs
 * DHCP again); BITS never calls it either. The driver keeps the two events,
 * so they live in the instance until efinet_close(). */
static VOID EFIAPI legacy_nop(EFI_EVENT e, VOID *c) { (void)e; (void)c; }
static bool legacy_done(void *a) {
  struct efinet *net = a;
  return net->bs->CheckEvent(net->legacy_done) == EFI_SUCCESS || en_ip_discover(net) == 0;
}

static int legacy_start(struct efinet *net, unsigned ms) {
  EFI_BOOT_SERVICES *bs = net->bs;
  if (!net->legacy_done) {
    if (EFI_ERROR(bs->CreateEvent(0, 0, NULL, NULL, &net->legacy_done))) {
      net->legacy_done = NULL;
      return -EFISOCK_ENOMEM;
    }
    if (EFI_ERROR(bs->CreateEvent(EVT_NOTIFY_SIGNAL, TPL_CALLBACK, legacy_nop, NULL,
                                  &net->legacy_reconfig))) {
      bs->CloseEvent(net->legacy_done);
      net->legacy_done = net->legacy_reconfig = NULL;
      return -EFISOCK_ENOMEM;
    }
  }
  /* EFI_ALREADY_STARTED: running already (ours or another program's). */
  EFI_STATUS s = net->ip4cfg->Start(net->ip4cfg, net->legacy_done, net->legacy_reconfig);
  int rc = 0;
  if (s == EFI_SUCCESS || s == EFI_ALREADY_STARTED)
    rc = en_wait(net, legacy_done, net, ms, false);
  else
    rc = en_status_rc(s);
  if (!rc) rc = en_ip_discover(net);
  return rc;
}

int en_ip_wait_addr(struct efinet *net, unsigned ms) {
  if (net->explicit_addr) return 0;
  if (en_ip_discover(net) == 0) return 0;
  if (!net->ip4cfg2 && net->ip4cfg) return legacy_start(net, ms);
  if (!net->ip4cfg2) return -EFISOCK_ENETDOWN;
  return en_wait(net, addr_ready, net, ms, false);
}

/* The legacy events go with the instance; the configuration stays (see
 * legacy_start). */
void en_ip_release(struct efinet *net) {
  if (net->legacy_done) net->bs->CloseEvent(net->legacy_done);
  if (net->legacy_reconfig) net->bs->CloseEvent(net->legacy_reconfig);
  net->legacy_done = net->legacy_reconfig = NULL;
}

/* SetData(Policy): EFI_NOT_READY (being applied) and EFI_ABORTED (that
 * policy is already in force, as EDK2 answers) are both fine. */
static EFI_STATUS set_policy(EFI_IP4_CONFIG2_PROTOCOL *c2, EFI_IP4_CONFIG2_POLICY pol) {
  EFI_STATUS s = c2->SetData(c2, Ip4Config2DataTypePolicy, sizeof(pol), &pol);
  return s == EFI_NOT_READY || s == EFI_ABORTED ? EFI_SUCCESS : s;
}

static int set_static2(struct efinet *net, const struct efinet_ipconfig *c, unsigned ms) {
  EFI_IP4_CONFIG2_PROTOCOL *c2 = net->ip4cfg2;
  EFI_STATUS s = set_policy(c2, Ip4Config2PolicyStatic);
  if (EFI_ERROR(s)) return en_status_rc(s);
  EFI_IP4_CONFIG2_MANUAL_ADDRESS ma;
  ma.Address = en_sin_ip(&c->addr);
  ma.SubnetMask = en_sin_ip(&c->mask);
  /* EFI_NOT_READY: accepted, applied asynchronously (address conflict check) */
  s = c2->SetData(c2, Ip4Config2DataTypeManualAddress, sizeof(ma), &ma);
  if (EFI_ERROR(s) && s != EFI_NOT_READY) return en_status_rc(s);
  if (c->gateway.s_addr) {
    EFI_IPv4_ADDRESS gw = en_sin_ip(&c->gateway);
    s = c2->SetData(c2, Ip4Config2DataTypeGateway, sizeof(gw), &gw);
    if (EFI_ERROR(s) && s != EFI_NOT_READY) return en_status_rc(s);
  }
  if (c->ndns) {
    EFI_IPv4_ADDRESS d[2];
    for (unsigned i = 0; i < c->ndns && i < 2; i++) d[i] = en_sin_ip(&c->dns[i]);
    s = c2->SetData(c2, Ip4Config2DataTypeDnsServer, sizeof(d[0]) * (c->ndns > 2 ? 2 : c->ndns), d);
    if (EFI_ERROR(s) && s != EFI_NOT_READY) return en_status_rc(s);
  }
  int rc = en_wait(net, addr_ready, net, ms, false);
  if (rc) return rc;
  /* The address that shows up must be the one we set. */
  if (en_ip_u32(&net->addr) != en_ip_u32(&ma.Address)) return -EFISOCK_EADDRNOTAVAIL;
  return 0;
}

static int set_dhcp2(struct efinet *net, unsigned ms) {
  EFI_IP4_CONFIG2_PROTOCOL *c2 = net->ip4cfg2;
  /* (Re)start DHCP by going through Static: setting the policy already in
   * force starts nothing. EFI_NOT_READY from SetData(Policy) only means the
   * change is still being applied. */
  EFI_STATUS s = set_policy(c2, Ip4Config2PolicyStatic);
  if (EFI_ERROR(s)) return en_status_rc(s);
  s = set_policy(c2, Ip4Config2PolicyDhcp);
  if (EFI_ERROR(s)) return en_status_rc(s);
  net->have_addr = false;
  return en_wait(net, addr_ready, net, ms, false);
}

int efinet_ip_configure(efinet_t *net, const struct efinet_ipconfig *c) {
  unsigned ms = c->timeout_ms ? c->timeout_ms : net->cfg.config_timeout_ms;
  int rc;
  net->explicit_addr = false;
  switch (c->method) {
  case EFINET_IP_KEEP:
    rc = en_ip_wait_addr(net, ms);
    break;
  case EFINET_IP_DHCP:
    if (net->ip4cfg2)
      rc = set_dhcp2(net, ms);
    else if (net->ip4cfg)
      rc = legacy_start(net, ms);
    else
      rc = -EFISOCK_EOPNOTSUPP;
    break;
  case EFINET_IP_STATIC:
    if (net->ip4cfg2) {
      rc = set_static2(net, c, ms);
    } else {
      /* No static API on the legacy protocol (or none at all): give every
       * TCP4/UDP4 instance the address explicitly. */
      net->explicit_addr = true;
      net->have_addr = true;
      net->ipsource = EFINET_SRC_EXPLICIT;
      net->addr = en_sin_ip(&c->addr);
      net->mask = en_sin_ip(&c->mask);
      net->gateway = en_sin_ip(&c->gateway);
      rc = 0;
    }
    if (!rc && c->ndns) efinet_set_dns(net, c->dns, c->ndns);
    break;
  default:
    rc = -EFISOCK_EINVAL;
  }
  return en_ret(net, rc < 0 ? rc : 0);
}

int efinet_ip_info(efinet_t *net, struct efinet_ipinfo *out) {
  memset(out, 0, sizeof(*out));
  en_ip_discover(net);
  out->addr = en_ip_sin(&net->addr);
  out->mask = en_ip_sin(&net->mask);
  out->gateway = en_ip_sin(&net->gateway);
  out->ndns = net->ndns;
  for (unsigned i = 0; i < net->ndns && i < 4; i++) out->dns[i] = en_ip_sin(&net->dns[i]);
  out->source = net->have_addr ? net->ipsource : EFINET_SRC_NONE;
  out->has_tcp4 = net->tcp4_sb != NULL;
  out->has_udp4 = net->udp4_sb != NULL;
  out->has_ip4config2 = net->ip4cfg2 != NULL;
  out->has_ip4config = net->ip4cfg != NULL;
  out->has_dns4 = net->dns4_sb != NULL;
  return net->have_addr ? 0 : en_ret(net, -EFISOCK_ENETDOWN);
}

int efinet_set_dns(efinet_t *net, const struct efisock_in_addr *servers, unsigned n) {
  if (n > 4) n = 4;
  for (unsigned i = 0; i < n; i++) net->dns[i] = en_sin_ip(&servers[i]);
  net->ndns = n;
  net->dns_overridden = n > 0;
  return 0;
}

/* ---- TCP4/UDP4 Configure with the firmware workarounds ---- */

EFI_STATUS en_configure_retry(struct efinet *net, void *cfgdata, bool udp, void *proto) {
  EFI_TCP4_CONFIG_DATA *tc = udp ? NULL : cfgdata;
  EFI_UDP4_CONFIG_DATA *uc = udp ? cfgdata : NULL;
  BOOLEAN *use_default = udp ? &uc->UseDefaultAddress : &tc->AccessPoint.UseDefaultAddress;
  EFI_IPv4_ADDRESS *station = udp ? &uc->StationAddress : &tc->AccessPoint.StationAddress;
  EFI_IPv4_ADDRESS *mask = udp ? &uc->SubnetMask : &tc->AccessPoint.SubnetMask;
  bool bound_specific = !ip_zero(station);
  if (net->explicit_addr || bound_specific) {
    *use_default = FALSE;
    if (!bound_specific) *station = net->addr;
    *mask = net->mask;
  } else {
    *use_default = TRUE;
  }
  struct tick_wait tw = {net, 0};
  uint64_t deadline = net->ticks + (net->cfg.config_timeout_ms + 9) / 10;
  for (;;) {
    EFI_STATUS s = udp ? ((EFI_UDP4_PROTOCOL *)proto)->Configure(proto, uc)
                       : ((EFI_TCP4_PROTOCOL *)proto)->Configure(proto, tc);
    if (s == EFI_ALREADY_STARTED && *use_default) {
      /* Quirk default-address-already-started: UseDefaultAddress can fail
       * with EFI_ALREADY_STARTED; the explicit station address and mask work. */
      if (en_ip_wait_addr(net, net->cfg.config_timeout_ms) != 0) return EFI_NO_MAPPING;
      *use_default = FALSE;
      *station = net->addr;
      *mask = net->mask;
      continue;
    }
    if (s != EFI_NO_MAPPING) return s;
    /* Quirk no-mapping: no address yet (DHCP running; EDK2 starts it
     * itself): wait a tick. */
    if (net->ticks >= deadline) return EFI_NO_MAPPING;
    tw.until = net->ticks + 1;
    en_wait(net, tick_reached, &tw, 1000, false);
  }
}

/* Quirk routes-not-applied: TCP4/UDP4 instances do not pick up the IP4
 * default route; add it and ignore EFI_ACCESS_DENIED (already there) and
 * every other refusal. */
void en_add_default_route(struct efinet *net, void *proto, bool udp) {
  en_ip_discover(net);
  if (ip_zero(&net->gateway)) return;
  EFI_IPv4_ADDRESS zero = {{0}};
  EFI_IPv4_ADDRESS gw = net->gateway;
  if (udp)
    ((EFI_UDP4_PROTOCOL *)proto)->Routes(proto, FALSE, &zero, &zero, &gw);
  else
    ((EFI_TCP4_PROTOCOL *)proto)->Routes(proto, FALSE, &zero, &zero, &gw);
}
