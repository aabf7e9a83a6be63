/* fwnet-agent-linux: the reference backend, commands on stdin, replies on
 * stdout. Peers are the harness's (on loopback); address commands are no-ops. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include "agent/netops.h"
#include "agent/ops.h"

static void write_line(struct agent_env *env, const char *line) {
  (void)env;
  fputs(line, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

static void cmd_hello(void *ctx, const char *args, char *out, size_t cap) {
  (void)ctx, (void)args;
  struct utsname u;
  uname(&u);
  agent_kv(out, cap, "backend", "linux");
  agent_kv(out, cap, "vendor", "Linux");
  agent_kv(out, cap, "rev", u.release);
  agent_kv(out, cap, "protocols", "bsd-sockets");
}

static void cmd_open(void *ctx, const char *args, char *out, size_t cap) {
  (void)ctx, (void)args;
  agent_kv(out, cap, "ret", "0");
  agent_kv(out, cap, "errno", "0");
}

static void cmd_net(void *ctx, const char *args, char *out, size_t cap) {
  cmd_open(ctx, args, out, cap);
  agent_kv(out, cap, "addr", "127.0.0.1");
}

static const struct agent_cmd linux_cmds[] = {
    {.name = "hello", .run = cmd_hello, .help = ""},
    {.name = "open", .run = cmd_open, .help = "(accepted, ignored)"},
    {.name = "net", .run = cmd_net, .help = "(accepted, ignored: loopback)"},
    {.name = NULL},
};

int main(void) {
  struct agent_env env = {0};
  agent_linux_env(&env);
  env.write_line = write_line;
  agent_add_cmds(&env, linux_cmds, NULL);
  char line[4096];
  while (fgets(line, sizeof(line), stdin)) {
    line[strcspn(line, "\r\n")] = 0;
    if (agent_execute(&env, line)) break;
  }
  return 0;
}
