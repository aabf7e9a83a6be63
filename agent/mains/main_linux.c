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

static int extra(struct agent_env *env, const char *op, const char *args, char *out, size_t cap) {
  (void)env, (void)args;
  if (!strcmp(op, "hello")) {
    struct utsname u;
    uname(&u);
    agent_kv(out, cap, "backend", "linux");
    agent_kv(out, cap, "vendor", "Linux");
    agent_kv(out, cap, "rev", u.release);
    agent_kv(out, cap, "protocols", "bsd-sockets");
    return 0;
  }
  if (!strcmp(op, "open") || !strcmp(op, "net")) {
    agent_kv(out, cap, "ret", "0");
    agent_kv(out, cap, "errno", "0");
    if (!strcmp(op, "net")) agent_kv(out, cap, "addr", "127.0.0.1");
    return 0;
  }
  return -1;
}

int main(void) {
  struct agent_env env = {0};
  agent_linux_env(&env);
  env.write_line = write_line;
  env.extra = extra;
  char line[4096];
  while (fgets(line, sizeof(line), stdin)) {
    line[strcspn(line, "\r\n")] = 0;
    if (agent_execute(&env, line)) break;
  }
  return 0;
}
