/* Commands shared by the efi-net backends (fakes and EFI): open the stack
 * with a quirk profile and options, configure the address, report facts.
 * Freestanding. */
#include "efinet_cmds.h"

#include "fwbase/rt.h"

void efc_close(struct efc *c) {
  if (c->net) efinet_close(c->net);
  c->net = 0;
  agent_efinet_set(c->env, 0);
  if (c->q) fwq_close(c->q);
  c->q = 0;
}

/* efi-net's clock for the adaptive spin: the agent's own (TSC on EFI,
 * virtual time on the fakes). */
static uint64_t efc_clock(void *ctx) {
  struct efc *c = ctx;
  return c->env->ops->now_ns(c->env->net);
}

static void cmd_open(void *ctx, const char *args, char *out, size_t cap) {
  struct efc *c = ctx;
  efc_close(c);
  struct efinet_config cfg;
  for (unsigned i = 0; i < sizeof(cfg); i++) ((char *)&cfg)[i] = 0;
  cfg.st = c->st;
  cfg.image = c->image;
  char v[256];
  if (agent_arg(args, "policy", v, sizeof(v)))
    cfg.poll_policy = !strcmp(v, "always") ? EFINET_POLL_ALWAYS : !strcmp(v, "never") ? EFINET_POLL_NEVER : EFINET_POLL_ADAPTIVE;
  cfg.rx_tokens = (unsigned)agent_arg_int(args, "rx_tokens", 0);
  cfg.tx_tokens = (unsigned)agent_arg_int(args, "tx_tokens", 0);
  cfg.rx_keep_posted = (int)agent_arg_int(args, "rx_keep_posted", 0);
  cfg.close_timeout_ms = (unsigned)agent_arg_int(args, "close_timeout_ms", 0);
  cfg.poll_spin_us = (unsigned)agent_arg_int(args, "spin_us", 0); /* 0: the library's default */
  if (!agent_arg_int(args, "spin_polls", 0)) { /* spin_polls=1: the clockless Poll count */
    cfg.clock_ns = efc_clock;
    cfg.clock_ctx = c;
  }
  cfg.use_builtin_resolver = (int)agent_arg_int(args, "builtin_resolver", 0);
  cfg.dns_timeout_ms = (unsigned)agent_arg_int(args, "dns_timeout_ms", 0); /* per try; 0: the library's default */
  cfg.dns_retries = (unsigned)agent_arg_int(args, "dns_tries", 0);         /* tries per server; 0: default */
  if (agent_arg(args, "dns_policy", v, sizeof(v))) { /* which resolver answers (efisock/socket.h) */
    if (!strcmp(v, "builtin-first")) cfg.dns_policy = EFINET_DNS_BUILTIN_FIRST;
    else if (!strcmp(v, "dns4-first")) cfg.dns_policy = EFINET_DNS_DNS4_FIRST;
    else if (!strcmp(v, "dns4-only")) cfg.dns_policy = EFINET_DNS_DNS4_ONLY;
    else if (!strcmp(v, "builtin-only")) cfg.dns_policy = EFINET_DNS_BUILTIN_ONLY;
    else {
      agent_kv(out, cap, "ret", "-1");
      agent_kv(out, cap, "errno", "EINVAL");
      agent_kv(out, cap, "msg", "dns_policy=builtin-first|dns4-first|dns4-only|builtin-only");
      return;
    }
  }
  agent_plant_rx_work = (unsigned)agent_arg_int(args, "plant_rx_work", 0); /* test only: planted regressions */
  cfg.plant_poll_repeat = (unsigned)agent_arg_int(args, "plant_poll_repeat", 0); /* each Poll N times */
  if (agent_arg(args, "quirks", v, sizeof(v)) && v[0] && strcmp(v, "-")) {
    struct fwq_set set;
    char err[160];
    if (fwq_parse(v, &set, err, sizeof(err))) {
      agent_kv(out, cap, "ret", "-1");
      agent_kv(out, cap, "errno", "EINVAL");
      for (char *p = err; *p; p++)
        if (*p == ' ') *p = '_';
      agent_kv(out, cap, "msg", err);
      return;
    }
    if (fwq_open(&c->q, c->st, c->image, &set, 0)) {
      agent_kv(out, cap, "ret", "-1");
      agent_kv(out, cap, "errno", "ENOMEM");
      return;
    }
    cfg.source = fwq_source(c->q);
  }
  int e = efinet_open(&c->net, &cfg);
  agent_kv_int(out, cap, "ret", e ? -1 : 0);
  agent_kv(out, cap, "errno", e ? efisock_errname(e) : "0");
  if (!e) agent_efinet_set(c->env, c->net);
}

static void cmd_net(void *ctx, const char *args, char *out, size_t cap) {
  struct efc *c = ctx;
  if (!c->net) {
    agent_kv(out, cap, "ret", "-1");
    agent_kv(out, cap, "errno", "ENETDOWN");
    agent_kv(out, cap, "msg", "open_first");
    return;
  }
  struct efinet_ipconfig ic;
  for (unsigned i = 0; i < sizeof(ic); i++) ((char *)&ic)[i] = 0;
  char v[32];
  agent_arg(args, "mode", v, sizeof(v));
  ic.method = !strcmp(v, "static") ? EFINET_IP_STATIC : !strcmp(v, "dhcp") ? EFINET_IP_DHCP : EFINET_IP_KEEP;
  if (agent_arg(args, "addr", v, sizeof(v))) agent_parse_ip(v, &ic.addr.s_addr);
  if (agent_arg(args, "mask", v, sizeof(v))) agent_parse_ip(v, &ic.mask.s_addr);
  if (agent_arg(args, "gw", v, sizeof(v))) agent_parse_ip(v, &ic.gateway.s_addr);
  if (agent_arg(args, "dns", v, sizeof(v)) && agent_parse_ip(v, &ic.dns[0].s_addr) == 0) ic.ndns = 1;
  ic.timeout_ms = (unsigned)agent_arg_int(args, "timeout_ms", 0);
  int rc = efinet_ip_configure(c->net, &ic);
  int err = rc ? efisock_errno(c->net) : 0; /* before ip_info sets its own */
  struct efinet_ipinfo info;
  efinet_ip_info(c->net, &info);
  agent_kv_int(out, cap, "ret", rc);
  agent_kv(out, cap, "errno", err ? efisock_errname(err) : "0");
  agent_kv_ip(out, cap, "addr", info.addr.s_addr);
  agent_kv_ip(out, cap, "gw", info.gateway.s_addr);
  agent_kv_ip(out, cap, "dns", info.ndns ? info.dns[0].s_addr : 0);
  static const char *src[] = {"none", "ip4config2", "ip4config", "explicit"};
  agent_kv(out, cap, "source", src[info.source]);
}

void efc_protocols(struct efc *c, char *out, size_t cap) {
  char b[96] = "";
  struct efinet_ipinfo info;
  if (!c->net) return;
  efinet_ip_info(c->net, &info);
  const char *names[5] = {"tcp4", "udp4", "ip4config2", "ip4config", "dns4"};
  int have[5] = {info.has_tcp4, info.has_udp4, info.has_ip4config2, info.has_ip4config, info.has_dns4};
  for (int i = 0; i < 5; i++) {
    if (!have[i]) continue;
    size_t n = strlen(b);
    if (n) b[n++] = ',';
    for (const char *p = names[i]; *p; p++) b[n++] = *p;
    b[n] = 0;
  }
  agent_kv(out, cap, "protocols", b[0] ? b : "-");
}

/* quirkstats: how often each quirk of the open profile acted (efi-quirks'
 * fwq_stats), keyed by the quirk's name with '_' for '-'; quirks without a
 * counter of their own are judged from what efi-net saw (legacy-ip4config:
 * IP4_CONFIG without IP4_CONFIG2; no-dns4: no DNS4 service binding). */
static void cmd_quirkstats(void *ctx, const char *args, char *out, size_t cap) {
  struct efc *c = ctx;
  (void)args;
  agent_kv(out, cap, "ret", "0");
  agent_kv(out, cap, "errno", "0");
  if (!c->q) {
    agent_kv(out, cap, "profile", "-");
    return;
  }
  struct fwq_stats st;
  fwq_get_stats(c->q, &st);
  struct efinet_ipinfo info;
  for (unsigned i = 0; i < sizeof(info); i++) ((char *)&info)[i] = 0;
  if (c->net) efinet_ip_info(c->net, &info);
  agent_kv(out, cap, "profile", "set");
  /* only the quirks that acted (short replies: a long line over a busy serial is likelier to be mangled) */
  struct { const char *k; unsigned v; } kv[] = {
      {"no_dns4", st.hidden_lookups + (c->net && !info.has_dns4 ? 1u : 0u)},
      {"legacy_ip4config", c->net && info.has_ip4config && !info.has_ip4config2 ? 1u : 0u},
      {"default_address_already_started", st.already_started},
      {"routes_not_applied", st.routes_refused + st.routes_engaged},
      {"events_delayed", st.delayed},
      {"completions_reordered", st.reordered},
      {"no_mapping", st.no_mapping},
      {"cancel_unsupported", st.cancels_refused},
      {"poll_not_ready", st.polls_not_ready},
      {"close_never_completes", st.closes_swallowed},
      {"receive_short", st.receives_shortened},
      {"dhcp_never_answers", st.dhcp_hidden},
      {"receive_empty_first", st.receives_emptied}, /* one counter for both first-Receive quirks */
      {"receive_aborted_first", st.receives_emptied},
  };
  for (unsigned i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
    if (kv[i].v) agent_kv_int(out, cap, kv[i].k, (long long)kv[i].v);
}

const struct agent_cmd efc_cmds[] = {
    {.name = "open", .run = cmd_open, .help = "quirks= policy= rx_tokens= tx_tokens= rx_keep_posted= close_timeout_ms= spin_us= spin_polls= builtin_resolver= dns_policy= dns_timeout_ms= dns_tries= plant_rx_work= plant_poll_repeat="},
    {.name = "net", .run = cmd_net, .help = "mode=static|dhcp|keep addr= mask= gw= dns= timeout_ms="},
    {.name = "quirkstats", .run = cmd_quirkstats, .help = "(how often each quirk of the open profile acted)"},
    {.name = NULL},
};
