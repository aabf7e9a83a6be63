/* fwnet-agent-fakes: the agent over efi-net on the host's fake firmware.
 * Commands on stdin, replies on stdout. Besides the socket commands it
 * scripts the fake LAN's peers (`peer`, `dns`), and on quit reports the
 * fake firmware's leak accounting. Time is virtual. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "efinet_cmds.h"
#include "fakefw/fakefw.h"
#include "fwbase/pattern.h"

/* The program's state: the fake firmware and the efi-net commands' context. */
struct fakes_agent {
  struct fakefw *fw;
  struct efc efc;
};

static void write_line(struct agent_env *env, const char *line) {
  (void)env;
  fputs(line, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

static uint64_t vclock(void *ctx) {
  struct fakes_agent *a = ctx;
  return fakefw_now_ns(a->fw);
}

/* A peer that accepts and never reads: the sender's window closes. */
static void stall_connect(struct fconn *c, void *user) {
  (void)user;
  fnet_conn_set_reading(c, false);
}
static const struct fpeer_ops stall_ops = {.on_connect = stall_connect};

static uint32_t ip_host(const char *args, const char *key, uint32_t dflt) {
  char v[32];
  uint32_t a;
  if (!agent_arg(args, key, v, sizeof(v)) || agent_parse_ip(v, &a)) return dflt;
  return __builtin_bswap32(a);
}

static void cmd_hello(void *ctx, const char *args, char *out, size_t cap) {
  struct fakes_agent *a = ctx;
  (void)args;
  agent_kv(out, cap, "backend", "fakes");
  agent_kv(out, cap, "vendor", "fwnet_fake_firmware");
  agent_kv(out, cap, "rev", "0x00010000");
  efc_protocols(&a->efc, out, cap);
}

/* kind=echo|discard|source|reset|udpecho|stall|host|blackhole|connect ip= port= bytes= close= */
static void cmd_peer(void *ctx, const char *args, char *out, size_t cap) {
  struct fakes_agent *a = ctx;
  struct fnet *n = fakefw_net(a->fw);
  char kind[16] = "";
  agent_arg(args, "kind", kind, sizeof(kind));
  uint32_t ip = ip_host(args, "ip", FNET_IP(10, 0, 2, 100));
  uint16_t port = (uint16_t)agent_arg_int(args, "port", 0);
  size_t bytes = (size_t)agent_arg_int(args, "bytes", 0);
  if (!strcmp(kind, "echo")) fnet_peer_echo(n, ip, port);
  else if (!strcmp(kind, "discard")) fnet_peer_discard(n, ip, port);
  else if (!strcmp(kind, "source")) fnet_peer_source(n, ip, port, bytes, agent_arg_int(args, "close", 1) != 0);
  else if (!strcmp(kind, "reset")) fnet_peer_reset_after(n, ip, port, bytes);
  else if (!strcmp(kind, "udpecho")) fnet_peer_udp_echo(n, ip, port);
  else if (!strcmp(kind, "stall")) fnet_tcp_listen(n, ip, port, &stall_ops, NULL);
  else if (!strcmp(kind, "host")) fnet_host(n, ip, FNET_HOST_UP);
  else if (!strcmp(kind, "blackhole")) fnet_host(n, ip, FNET_HOST_BLACKHOLE);
  else if (!strcmp(kind, "connect")) {
    /* the peer connects in to the guest's port, sends bytes=, then closes */
    struct fconn *c = fnet_tcp_connect(n, ip, FNET_IP(10, 0, 2, 15), port, NULL, NULL);
    if (bytes) {
      unsigned char *b = malloc(bytes);
      fwb_pattern_fill(b, bytes, 0);
      fnet_conn_send(c, b, bytes);
      free(b);
    }
    if (agent_arg_int(args, "close", 0)) fnet_conn_close(c);
  } else {
    agent_kv(out, cap, "ret", "-1");
    agent_kv(out, cap, "errno", "EINVAL");
    return;
  }
  agent_kv(out, cap, "ret", "0");
  agent_kv_ip(out, cap, "addr", __builtin_bswap32(ip));
  agent_kv_int(out, cap, "port", port);
}

/* name= addr= | name= cname= */
static void cmd_dns(void *ctx, const char *args, char *out, size_t cap) {
  struct fakes_agent *a = ctx;
  struct fnet *n = fakefw_net(a->fw);
  char name[256] = "", target[256] = "";
  agent_arg(args, "name", name, sizeof(name));
  fnet_dns_server(n, FNET_IP(10, 0, 2, 3));
  if (agent_arg(args, "cname", target, sizeof(target))) fnet_dns_add_cname(n, name, target);
  else fnet_dns_add_a(n, name, ip_host(args, "addr", 0));
  agent_kv(out, cap, "ret", "0");
}

static const struct agent_cmd fakes_cmds[] = {
    {.name = "hello", .run = cmd_hello, .help = ""},
    {.name = "peer", .run = cmd_peer, .help = "kind= ip= port= bytes= close="},
    {.name = "dns", .run = cmd_dns, .help = "name= addr= | name= cname="},
    {.name = NULL},
};

/* The commands until quit (main_posix_fakes.c runs the same loop). */
static void fakes_serve(struct agent_env *env) {
  char line[4096];
  while (fgets(line, sizeof(line), stdin)) {
    line[strcspn(line, "\r\n")] = 0;
    if (!strncmp(line, "quit", 4)) break;
    agent_execute(env, line);
  }
}

/* Close the stack, report leaks in the quit reply; the exit status. */
static int fakes_finish(struct fakes_agent *a) {
  efc_close(&a->efc);
  char why[512];
  bool ok = fakefw_leak_free(a->fw, why, sizeof(why));
  for (char *p = why; *p; p++)
    if (*p == ' ') *p = ',';
  printf("ok op=quit ret=%d errno=0 leaks=%s\n", ok ? 0 : -1, ok ? "none" : why);
  fakefw_destroy(a->fw);
  return ok ? 0 : 3;
}

int main(void) {
  struct agent_env env = {0};
  struct fakes_agent a = {0};
  a.fw = fakefw_create(NULL);
  agent_efinet_env(&env, vclock, &a);
  env.write_line = write_line;
  agent_add_cmds(&env, fakes_cmds, &a);
  agent_add_cmds(&env, efc_cmds, &a.efc);
  a.efc.st = fakefw_st(a.fw);
  a.efc.image = fakefw_image(a.fw);
  a.efc.env = &env;
  fakes_serve(&env);
  return fakes_finish(&a);
}
