/* The agent in fwnet's bare-metal image (rump-hw): commands on COM1, framed
 * replies on COM1 (the same framing as the EFI agent, since the image's own
 * messages share the port). Sockets are lwIP's (ops_lwip.c); "net"
 * reconfigures the image's interface, "open" has nothing to open (lwIP is
 * up from boot) and "quit" powers the machine off. */
#include "bmk/kernel.h"
#include "bmk/rumpuser.h"
#include "lwip/init.h"
#include "lwip/memp.h"
#include "lwip/stats.h"
#include "bmk/nic.h"
#include "bmk/rumpnet.h"
#include "agent/netops.h"
#include "agent/ops.h"

static void write_frame(struct agent_env *env, const char *line) {
  (void)env;
  static char buf[4200];
  size_t n = agent_frame(line, buf, sizeof(buf));
  bmk_cons_write(buf, n);
}

static uint64_t now_ns(void) { return bmk_clock_mono_ns(); }
static void sleep_ms(unsigned ms) {
  rumpuser_clock_sleep(RUMPUSER_CLOCK_RELWALL, ms / 1000, (long)(ms % 1000) * 1000000);
}

static void net_reply(char *out, size_t cap, int rc, const char *err) {
  struct rumpnet_info ni;
  rumpnet_info(&ni);
  agent_kv_int(out, cap, "ret", rc);
  agent_kv(out, cap, "errno", err);
  agent_kv_ip(out, cap, "addr", ni.addr);
  agent_kv_ip(out, cap, "gw", ni.gw);
  agent_kv_ip(out, cap, "dns", ni.dns);
  agent_kv(out, cap, "source", ni.dhcp ? "dhcp" : "static");
}

/* mode=static|dhcp addr= mask= gw= dns= timeout_ms= */
static void cmd_net(void *ctx, const char *args, char *out, size_t cap) {
  (void)ctx;
  char mode[16] = "static", v[32];
  agent_arg(args, "mode", mode, sizeof(mode));
  if (!bmk_strcmp(mode, "dhcp")) {
    int rc = rumpnet_dhcp((unsigned)agent_arg_int(args, "timeout_ms", 10000));
    net_reply(out, cap, rc ? -1 : 0, rc ? "ETIMEDOUT" : "0");
    return;
  }
  uint32_t a = 0, m = 0, g = 0, d = 0;
  if (!agent_arg(args, "addr", v, sizeof(v)) || agent_parse_ip(v, &a) ||
      !agent_arg(args, "mask", v, sizeof(v)) || agent_parse_ip(v, &m)) {
    net_reply(out, cap, -1, "EINVAL");
    return;
  }
  if (agent_arg(args, "gw", v, sizeof(v)) && agent_parse_ip(v, &g)) {
    net_reply(out, cap, -1, "EINVAL");
    return;
  }
  rumpnet_static(a, m, g);
  if (agent_arg(args, "dns", v, sizeof(v)) && !agent_parse_ip(v, &d)) rumpnet_dns(d);
  net_reply(out, cap, 0, "0");
}

static void cmd_hello(void *ctx, const char *args, char *out, size_t cap) {
  (void)ctx, (void)args;
  struct rumpnet_info ni;
  struct bmk_mem_stats ms;
  rumpnet_info(&ni);
  bmk_mem_stats(&ms);
  agent_kv(out, cap, "backend", "rump");
  agent_kv(out, cap, "vendor", "lwIP");
  agent_kv(out, cap, "rev", LWIP_VERSION_STRING);
  agent_kv(out, cap, "protocols", "lwip-sockets");
  agent_kv(out, cap, "nic", ni.nic);
  agent_kv(out, cap, "random", bmk_random_source());
  agent_kv_int(out, cap, "mem_used_kib", (long long)ms.pages_used * 4);
  agent_kv_int(out, cap, "mem_peak_kib", (long long)ms.pages_peak * 4);
  agent_kv_int(out, cap, "mem_total_kib", (long long)ms.pages_total * 4);
}

/* the stack is up from boot: nothing to open */
static void cmd_open(void *ctx, const char *args, char *out, size_t cap) {
  (void)ctx, (void)args;
  agent_kv(out, cap, "ret", "0");
  agent_kv(out, cap, "errno", "0");
}

static void cmd_nicstats(void *ctx, const char *args, char *out, size_t cap) {
  (void)ctx, (void)args;
  const struct nic_stats *s = rumpnet_nic_stats();
  agent_kv(out, cap, "ret", s ? "0" : "-1");
  agent_kv(out, cap, "errno", s ? "0" : "ENODEV");
  if (s) {
    agent_kv_int(out, cap, "rx_frames", (long long)s->rx_frames);
    agent_kv_int(out, cap, "tx_frames", (long long)s->tx_frames);
    agent_kv_int(out, cap, "irqs", (long long)s->irqs);
    agent_kv_int(out, cap, "tx_ring_full", (long long)s->tx_ring_full);
  }
}

/* the stack's own counters, for diagnosis */
static void cmd_lwipstats(void *ctx, const char *args, char *out, size_t cap) {
  (void)ctx, (void)args;
  agent_kv(out, cap, "ret", "0");
  agent_kv(out, cap, "errno", "0");
  agent_kv_int(out, cap, "link_drop", lwip_stats.link.drop);
  agent_kv_int(out, cap, "link_memerr", lwip_stats.link.memerr);
  agent_kv_int(out, cap, "ip_drop", lwip_stats.ip.drop);
  agent_kv_int(out, cap, "tcp_recv", lwip_stats.tcp.recv);
  agent_kv_int(out, cap, "tcp_drop", lwip_stats.tcp.drop);
  agent_kv_int(out, cap, "tcp_memerr", lwip_stats.tcp.memerr);
  agent_kv_int(out, cap, "tcp_proterr", lwip_stats.tcp.proterr);
  agent_kv_int(out, cap, "tcp_rterr", lwip_stats.tcp.rterr);
  agent_kv_int(out, cap, "mem_err", lwip_stats.mem.err);
  for (int i = 0; i < MEMP_MAX; i++)
    if (lwip_stats.memp[i] && lwip_stats.memp[i]->err) {
      char k[24];
      bmk_snprintf(k, sizeof(k), "memp%d_err", i);
      agent_kv_int(out, cap, k, lwip_stats.memp[i]->err);
    }
}

static const struct agent_cmd rump_cmds[] = {
    {.name = "hello", .run = cmd_hello, .help = ""},
    {.name = "open", .run = cmd_open, .help = "(accepted, ignored)"},
    {.name = "net", .run = cmd_net, .help = "mode=static|dhcp addr= mask= gw= dns= timeout_ms="},
    {.name = "nicstats", .run = cmd_nicstats, .help = ""},
    {.name = "lwipstats", .run = cmd_lwipstats, .help = ""},
    {.name = NULL},
};

static int read_line(char *buf, size_t cap) {
  size_t n = 0;
  for (;;) {
    int c = bmk_cons_getc(BMK_FOREVER);
    if (c == '\r' || c == '\n') {
      if (!n) continue;
      buf[n] = 0;
      return (int)n;
    }
    if (c >= 32 && c < 127 && n + 1 < cap) buf[n++] = (char)c;
  }
}

void agent_rump_main(void) {
  static struct agent_env env;
  static char line[1024];
  agent_lwip_env(&env, now_ns, sleep_ms);
  env.write_line = write_frame;
  agent_add_cmds(&env, rump_cmds, NULL);
  write_frame(&env, "ready backend=rump");
  for (;;) {
    read_line(line, sizeof(line));
    if (!bmk_strcmp(line, "quit")) break;
    agent_execute(&env, line);
  }
  write_frame(&env, "ok op=quit ret=0 errno=0");
  bmk_halt("quit");
}
