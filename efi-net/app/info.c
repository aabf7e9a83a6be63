/* efinet-info.efi: open efi-net on the first NIC, configure the address
 * (DHCP by default; "static" on the load options is not parsed here), and
 * print what the firmware offers. A smoke test that the freestanding library
 * links and runs; the full agent lives in agent/. */
#include "efisock/socket.h"

static void put(EFI_SYSTEM_TABLE *st, const char *s) {
  CHAR16 buf[128];
  unsigned n = 0;
  while (*s) {
    if (*s == '\n') buf[n++] = '\r';
    buf[n++] = (CHAR16)(unsigned char)*s++;
    if (n >= 120) {
      buf[n] = 0;
      st->ConOut->OutputString(st->ConOut, buf);
      n = 0;
    }
  }
  buf[n] = 0;
  st->ConOut->OutputString(st->ConOut, buf);
}

static void put_ip(EFI_SYSTEM_TABLE *st, const char *label, struct efisock_in_addr a) {
  char b[16];
  put(st, label);
  put(st, efisock_inet_ntop(EFISOCK_AF_INET, &a, b, sizeof(b)) ? b : "?");
  put(st, "\n");
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st) {
  struct efinet_config cfg = {0};
  cfg.image = image;
  cfg.st = st;
  efinet_t *net = NULL;
  put(st, "efinet-info: ");
  int e = efinet_open(&net, &cfg);
  if (e) {
    put(st, "no network: ");
    put(st, efisock_errname(e));
    put(st, "\n");
    return EFI_NOT_FOUND;
  }
  struct efinet_ipconfig ic = {0};
  ic.method = EFINET_IP_DHCP;
  ic.timeout_ms = 15000;
  int rc = efinet_ip_configure(net, &ic);
  struct efinet_ipinfo info;
  efinet_ip_info(net, &info);
  put(st, info.has_tcp4 ? "TCP4 " : "");
  put(st, info.has_udp4 ? "UDP4 " : "");
  put(st, info.has_ip4config2 ? "IP4_CONFIG2 " : "");
  put(st, info.has_ip4config ? "IP4_CONFIG " : "");
  put(st, info.has_dns4 ? "DNS4" : "");
  put(st, "\n");
  if (rc) {
    put(st, "address: ");
    put(st, efisock_errname(efisock_errno(net)));
    put(st, "\n");
  } else {
    put_ip(st, "address: ", info.addr);
    put_ip(st, "gateway: ", info.gateway);
  }
  efinet_close(net);
  return rc ? EFI_TIMEOUT : EFI_SUCCESS;
}
