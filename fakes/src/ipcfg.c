/* Fake EFI_IP4_CONFIG2_PROTOCOL and legacy EFI_IP4_CONFIG_PROTOCOL.
 *
 * As measured on OVMF: GetData(Gateway) answers EFI_NOT_FOUND after DHCP
 * (the default route is only in InterfaceInfo's route table);
 * RegisterDataNotify is accepted but never fires; a manual address is
 * applied asynchronously (SetData answers EFI_NOT_READY, ready ~40 ms later);
 * setting the policy already in force answers EFI_ABORTED, as EDK2 does.
 */
#include "fw.h"


#define NIC2(p) ((struct fnic *)((uint8_t *)(p) - offsetof(struct fnic, cfg2)))
#define NIC1(p) ((struct fnic *)((uint8_t *)(p) - offsetof(struct fnic, cfg1)))

static unsigned route_count(struct fnic *nic) {
  if (!nic->configured) return 0;
  return nic->gw ? 2 : 1;
}

static void fill_routes(struct fnic *nic, EFI_IP4_ROUTE_TABLE *r) {
  r[0].SubnetAddress = ip_to(nic->addr & nic->mask);
  r[0].SubnetMask = ip_to(nic->mask);
  r[0].GatewayAddress = ip_to(0);
  if (nic->gw) {
    r[1].SubnetAddress = ip_to(0);
    r[1].SubnetMask = ip_to(0);
    r[1].GatewayAddress = ip_to(nic->gw);
  }
}

static EFI_STATUS EFIAPI c2_set(EFI_IP4_CONFIG2_PROTOCOL *This, EFI_IP4_CONFIG2_DATA_TYPE type,
                                UINTN size, VOID *data) {
  struct fnic *nic = NIC2(This);
  struct fakefw *fw = nic->net->fw;
  if (type >= Ip4Config2DataTypeMaximum) return EFI_UNSUPPORTED;
  if (!data && size) return EFI_INVALID_PARAMETER;
  switch (type) {
  case Ip4Config2DataTypeInterfaceInfo:
    return EFI_WRITE_PROTECTED;
  case Ip4Config2DataTypePolicy: {
    if (size != sizeof(EFI_IP4_CONFIG2_POLICY)) return EFI_BAD_BUFFER_SIZE;
    EFI_IP4_CONFIG2_POLICY p = *(EFI_IP4_CONFIG2_POLICY *)data;
    if (p >= Ip4Config2PolicyMax) return EFI_INVALID_PARAMETER;
    if (p == nic->policy) return EFI_ABORTED;
    nic->policy = p;
    nic->configured = false;
    nic->dhcp_running = false;
    nic->static_pending = false;
    nic->addr = nic->mask = nic->gw = 0;
    nic->man_addr = nic->man_mask = nic->man_gw = 0;
    if (p == Ip4Config2PolicyDhcp) fnet_nic_start_dhcp(nic);
    return EFI_SUCCESS;
  }
  case Ip4Config2DataTypeManualAddress: {
    if (nic->policy != Ip4Config2PolicyStatic) return EFI_WRITE_PROTECTED;
    if (size != sizeof(EFI_IP4_CONFIG2_MANUAL_ADDRESS)) return EFI_BAD_BUFFER_SIZE;
    EFI_IP4_CONFIG2_MANUAL_ADDRESS *m = data;
    nic->man_addr = ip_of(&m->Address);
    nic->man_mask = ip_of(&m->SubnetMask);
    if (!nic->man_addr) return EFI_INVALID_PARAMETER;
    nic->configured = false;
    nic->static_pending = true;
    nic->static_at = fw->now + 40 * FW_NS_MS; /* conflict detection (ARP) */
    return EFI_NOT_READY;
  }
  case Ip4Config2DataTypeGateway:
    if (nic->policy != Ip4Config2PolicyStatic) return EFI_WRITE_PROTECTED;
    if (size % sizeof(EFI_IPv4_ADDRESS)) return EFI_BAD_BUFFER_SIZE;
    nic->man_gw = size ? ip_of(data) : 0;
    if (nic->configured) nic->gw = nic->man_gw;
    return EFI_SUCCESS;
  case Ip4Config2DataTypeDnsServer: {
    if (size % sizeof(EFI_IPv4_ADDRESS)) return EFI_BAD_BUFFER_SIZE;
    unsigned n = (unsigned)(size / sizeof(EFI_IPv4_ADDRESS));
    nic->ndns = n > 2 ? 2 : n;
    for (unsigned i = 0; i < nic->ndns; i++) nic->dns[i] = ip_of((EFI_IPv4_ADDRESS *)data + i);
    nic->dns_set = true;
    return EFI_SUCCESS;
  }
  default:
    return EFI_UNSUPPORTED;
  }
}

static EFI_STATUS EFIAPI c2_get(EFI_IP4_CONFIG2_PROTOCOL *This, EFI_IP4_CONFIG2_DATA_TYPE type,
                                UINTN *size, VOID *data) {
  struct fnic *nic = NIC2(This);
  if (!size || (*size && !data)) return EFI_INVALID_PARAMETER;
  fnet_nic_update(nic);
  UINTN need;
  switch (type) {
  case Ip4Config2DataTypeInterfaceInfo: {
    unsigned nr = route_count(nic);
    need = sizeof(EFI_IP4_CONFIG2_INTERFACE_INFO) + nr * sizeof(EFI_IP4_ROUTE_TABLE);
    if (*size < need) {
      *size = need;
      return EFI_BUFFER_TOO_SMALL;
    }
    EFI_IP4_CONFIG2_INTERFACE_INFO *info = data;
    memset(info, 0, need);
    const char *nm = "eth";
    for (int i = 0; nm[i]; i++) info->Name[i] = (CHAR16)nm[i];
    info->Name[3] = (CHAR16)('0' + nic->index);
    info->IfType = 1;
    info->HwAddressSize = 6;
    info->HwAddress.Addr[0] = 0x52;
    info->HwAddress.Addr[1] = 0x54;
    info->HwAddress.Addr[5] = (UINT8)(0x10 + nic->index);
    if (nic->configured) {
      info->StationAddress = ip_to(nic->addr);
      info->SubnetMask = ip_to(nic->mask);
    }
    info->RouteTableSize = nr;
    info->RouteTable = nr ? (EFI_IP4_ROUTE_TABLE *)(info + 1) : NULL;
    if (nr) fill_routes(nic, info->RouteTable);
    *size = need;
    return EFI_SUCCESS;
  }
  case Ip4Config2DataTypePolicy:
    need = sizeof(EFI_IP4_CONFIG2_POLICY);
    if (*size < need) {
      *size = need;
      return EFI_BUFFER_TOO_SMALL;
    }
    *(EFI_IP4_CONFIG2_POLICY *)data = nic->policy;
    *size = need;
    return EFI_SUCCESS;
  case Ip4Config2DataTypeManualAddress:
    if (!nic->man_addr) return EFI_NOT_FOUND;
    need = sizeof(EFI_IP4_CONFIG2_MANUAL_ADDRESS);
    if (*size < need) {
      *size = need;
      return EFI_BUFFER_TOO_SMALL;
    }
    ((EFI_IP4_CONFIG2_MANUAL_ADDRESS *)data)->Address = ip_to(nic->man_addr);
    ((EFI_IP4_CONFIG2_MANUAL_ADDRESS *)data)->SubnetMask = ip_to(nic->man_mask);
    *size = need;
    return EFI_SUCCESS;
  case Ip4Config2DataTypeGateway:
    if (!nic->man_gw) return EFI_NOT_FOUND; /* also after DHCP, as on OVMF */
    need = sizeof(EFI_IPv4_ADDRESS);
    if (*size < need) {
      *size = need;
      return EFI_BUFFER_TOO_SMALL;
    }
    *(EFI_IPv4_ADDRESS *)data = ip_to(nic->man_gw);
    *size = need;
    return EFI_SUCCESS;
  case Ip4Config2DataTypeDnsServer:
    if (!nic->ndns) return EFI_NOT_FOUND;
    need = nic->ndns * sizeof(EFI_IPv4_ADDRESS);
    if (*size < need) {
      *size = need;
      return EFI_BUFFER_TOO_SMALL;
    }
    for (unsigned i = 0; i < nic->ndns; i++) ((EFI_IPv4_ADDRESS *)data)[i] = ip_to(nic->dns[i]);
    *size = need;
    return EFI_SUCCESS;
  default:
    return EFI_UNSUPPORTED;
  }
}

static EFI_STATUS EFIAPI c2_reg(EFI_IP4_CONFIG2_PROTOCOL *This, EFI_IP4_CONFIG2_DATA_TYPE type,
                                EFI_EVENT ev) {
  (void)This;
  if (type >= Ip4Config2DataTypeMaximum || !ev) return EFI_INVALID_PARAMETER;
  return EFI_SUCCESS; /* accepted; never signalled (OVMF did not either) */
}

static EFI_STATUS EFIAPI c2_unreg(EFI_IP4_CONFIG2_PROTOCOL *This, EFI_IP4_CONFIG2_DATA_TYPE type,
                                  EFI_EVENT ev) {
  (void)This;
  if (type >= Ip4Config2DataTypeMaximum || !ev) return EFI_INVALID_PARAMETER;
  return EFI_SUCCESS;
}

/* ---- legacy IP4_CONFIG ---- */

static EFI_STATUS EFIAPI c1_start(EFI_IP4_CONFIG_PROTOCOL *This, EFI_EVENT done, EFI_EVENT reconfig) {
  struct fnic *nic = NIC1(This);
  if (!done || !reconfig) return EFI_INVALID_PARAMETER;
  if (nic->legacy_started) return EFI_ALREADY_STARTED;
  nic->legacy_started = true;
  nic->legacy_done = done;
  fnet_nic_update(nic);
  if (nic->configured) {
    if (fw_event_valid(done)) fw_signal(done);
  } else {
    fnet_nic_start_dhcp(nic);
  }
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI c1_stop(EFI_IP4_CONFIG_PROTOCOL *This) {
  struct fnic *nic = NIC1(This);
  if (!nic->legacy_started) return EFI_NOT_STARTED;
  nic->legacy_started = false;
  nic->legacy_done = NULL;
  /* UEFI 2.4 EFI_IP4_CONFIG_PROTOCOL.Stop(): "all configuration data will
   * be lost", as Ip4ConfigDxe does: GetData answers EFI_NOT_STARTED and the
   * address is gone until the next Start() runs DHCP again. */
  nic->configured = false;
  nic->dhcp_running = false;
  nic->addr = nic->mask = nic->gw = 0;
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI c1_get(EFI_IP4_CONFIG_PROTOCOL *This, UINTN *size, EFI_IP4_IPCONFIG_DATA *d) {
  struct fnic *nic = NIC1(This);
  if (!size) return EFI_INVALID_PARAMETER;
  fnet_nic_update(nic);
  if (!nic->configured) return nic->dhcp_running ? EFI_NOT_READY : EFI_NOT_STARTED;
  unsigned nr = route_count(nic);
  UINTN need = sizeof(*d) + nr * sizeof(EFI_IP4_ROUTE_TABLE);
  if (*size < need || !d) {
    *size = need;
    return EFI_BUFFER_TOO_SMALL;
  }
  d->StationAddress = ip_to(nic->addr);
  d->SubnetMask = ip_to(nic->mask);
  d->RouteTableSize = nr;
  d->RouteTable = (EFI_IP4_ROUTE_TABLE *)(d + 1);
  fill_routes(nic, d->RouteTable);
  *size = need;
  return EFI_SUCCESS;
}

void fipcfg_install(struct fnic *nic) {
  struct fakefw *fw = nic->net->fw;
  nic->cfg2.SetData = c2_set;
  nic->cfg2.GetData = c2_get;
  nic->cfg2.RegisterDataNotify = c2_reg;
  nic->cfg2.UnregisterDataNotify = c2_unreg;
  nic->cfg1.Start = c1_start;
  nic->cfg1.Stop = c1_stop;
  nic->cfg1.GetData = c1_get;
  if (!fw->opts.no_ip4config2) fw_install(nic->handle, &efi_ip4cfg2_guid, &nic->cfg2);
  if (fw->opts.legacy_ip4config) fw_install(nic->handle, &efi_ip4cfg_guid, &nic->cfg1);
}
