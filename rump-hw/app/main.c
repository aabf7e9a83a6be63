/* fwnet-rump: the application of the bare-metal image. Reads its
 * configuration from the kernel command line:
 *   net=static|dhcp|none  ip=A.B.C.D/len  gw=A.B.C.D  dns=A.B.C.D
 *   svc=agent,echo,discard,source,http   (default: all of them)
 * brings up lwIP on the NIC, starts the services, prints one "listening"
 * line (the harness and the benchmark wait for it), then runs the agent on
 * the serial console, or idles. */
#include <stdlib.h>
#include <string.h>
#include "bmk/kernel.h"
#include "bmk/rumpuser.h"
#include "lwip/inet.h"
#include "bmk/rumpnet.h"

static int parse_ip(const char *s, uint32_t *out, int *prefix) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char *e;
    long b = strtol(s, &e, 10);
    if (e == s || b < 0 || b > 255 || (i < 3 && *e != '.')) return -1;
    v = v << 8 | (uint32_t)b;
    s = e + (i < 3);
  }
  if (prefix) {
    *prefix = 24;
    if (*s == '/') *prefix = (int)strtol(s + 1, NULL, 10);
  }
  *out = lwip_htonl(v);
  return 0;
}

static uint32_t mask_of(int prefix) {
  return lwip_htonl(prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1));
}

int bmk_main(void) {
  const char *svc = bmk_cmdline_get("svc");
  if (!svc) svc = "agent,echo,discard,source,http";
  const char *mode = bmk_cmdline_get("net");
  const char *ip = bmk_cmdline_get("ip");
  if (!mode) mode = ip ? "static" : "dhcp";
  if (rumpnet_init()) bmk_panic("network: no NIC");
  if (!bmk_strcmp(mode, "static")) {
    uint32_t a = 0, g = 0;
    int prefix = 24;
    if (!ip || parse_ip(ip, &a, &prefix)) bmk_panic("command line: net=static needs ip=A.B.C.D/len");
    const char *gw = bmk_cmdline_get("gw");
    if (gw && parse_ip(gw, &g, NULL)) bmk_panic("command line: bad gw=%s", gw);
    rumpnet_static(a, mask_of(prefix), g);
  } else if (!bmk_strcmp(mode, "dhcp")) {
    if (rumpnet_dhcp(20000)) bmk_printf("fwnet-rump: DHCP: no lease within 20 s\n");
  } else if (bmk_strcmp(mode, "none")) {
    bmk_panic("command line: net=%s (static, dhcp or none)", mode);
  }
  const char *dns = bmk_cmdline_get("dns");
  if (dns) {
    uint32_t d;
    if (parse_ip(dns, &d, NULL)) bmk_panic("command line: bad dns=%s", dns);
    rumpnet_dns(d);
  }
  int n = services_start(svc);
  struct rumpnet_info ni;
  rumpnet_info(&ni);
  uint8_t *a = (uint8_t *)&ni.addr;
  struct bmk_mem_stats ms;
  bmk_mem_stats(&ms);
  bmk_printf("fwnet-rump: listening addr=%d.%d.%d.%d services=%d svc=%s uptime_ms=%lu mem_used_kib=%lu\n",
             a[0], a[1], a[2], a[3], n, svc, (unsigned long)(bmk_clock_mono_ns() / 1000000),
             (unsigned long)ms.pages_used * 4);
  if (strstr(svc, "agent")) agent_rump_main();
  for (;;) rumpuser_clock_sleep(RUMPUSER_CLOCK_RELWALL, 3600, 0);
}
