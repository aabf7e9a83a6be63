/* agent_execute (agent/netops.h): the agent's command lines, as the harness
 * (or anything on the serial line) sends them, over a stub socket API that
 * grants a budget of calls per input and then fails everything (so bulk
 * commands end). Each line of the input is one command. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent/netops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct agent_net {
  uint64_t now;
  int err;
  unsigned budget;
};

static int spend(struct agent_net *n) {
  if (!n->budget) {
    n->err = EFISOCK_ECONNRESET;
    return 0;
  }
  n->budget--;
  return 1;
}
static int s_socket(struct agent_net *n, int t, int nb) { return (void)t, (void)nb, spend(n) ? 3 + (int)(n->budget % 8) : -1; }
static int s_bind(struct agent_net *n, int fd, const struct efisock_sockaddr_in *a) { return (void)fd, (void)a, spend(n) ? 0 : -1; }
static int s_listen(struct agent_net *n, int fd, int b) { return (void)fd, (void)b, spend(n) ? 0 : -1; }
static int s_accept(struct agent_net *n, int fd, struct efisock_sockaddr_in *p) {
  (void)fd;
  if (p) memset(p, 0, sizeof(*p));
  return spend(n) ? 9 : -1;
}
static int s_connect(struct agent_net *n, int fd, const struct efisock_sockaddr_in *a) { return (void)fd, (void)a, spend(n) ? 0 : -1; }
static intptr_t s_sendto(struct agent_net *n, int fd, const void *b, size_t len, int fl,
                         const struct efisock_sockaddr_in *to) {
  (void)fd, (void)b, (void)fl, (void)to;
  return spend(n) ? (intptr_t)(len > 1000 ? 1000 : len) : -1;
}
static intptr_t s_recvfrom(struct agent_net *n, int fd, void *b, size_t len, int fl,
                           struct efisock_sockaddr_in *from) {
  (void)fd, (void)fl;
  if (from) memset(from, 0, sizeof(*from));
  if (!spend(n)) return -1;
  size_t k = len > 1000 ? 1000 : len;
  memset(b, 'a' + (int)(n->budget % 26), k);
  return (intptr_t)k;
}
static int s_int2(struct agent_net *n, int fd, int x) { return (void)fd, (void)x, spend(n) ? 0 : -1; }
static int s_close(struct agent_net *n, int fd) { return (void)fd, spend(n) ? 0 : -1; }
static int s_name(struct agent_net *n, int fd, struct efisock_sockaddr_in *a) {
  (void)fd;
  memset(a, 0, sizeof(*a));
  a->sin_family = EFISOCK_AF_INET;
  return spend(n) ? 0 : -1;
}
static int s_setsockopt(struct agent_net *n, int fd, int lv, int nm, const void *v, unsigned len) {
  return (void)fd, (void)lv, (void)nm, (void)v, (void)len, spend(n) ? 0 : -1;
}
static int s_getsockopt(struct agent_net *n, int fd, int lv, int nm, void *v, unsigned *len) {
  (void)fd, (void)lv, (void)nm;
  if (*len) memset(v, 0, *len);
  if (*len > sizeof(int)) *len = sizeof(int);
  return spend(n) ? 0 : -1;
}
static int s_select(struct agent_net *n, int nfds, efisock_fd_set *r, efisock_fd_set *w, efisock_fd_set *e,
                    int ms) {
  (void)r, (void)w, (void)ms;
  if (e) EFISOCK_FD_ZERO(e);
  return spend(n) ? (nfds > 0) : -1; /* read and write sets stay as asked: everything ready */
}
static int s_poll(struct agent_net *n, struct efisock_pollfd *p, unsigned np, int ms) {
  (void)ms;
  for (unsigned i = 0; i < np; i++) p[i].revents = p[i].events;
  return spend(n) ? (int)np : -1;
}
static int s_resolve(struct agent_net *n, const char *name, uint32_t *addrs, unsigned max, unsigned *cnt) {
  (void)name;
  *cnt = 0;
  if (!spend(n)) return EFISOCK_EAI_AGAIN;
  for (unsigned i = 0; i < max && i < 3; i++) addrs[(*cnt)++] = 0x0100007f + (i << 24);
  return 0;
}
static int s_errno(struct agent_net *n) { return n->err; }
static uint64_t s_now(struct agent_net *n) { return n->now += 50000000; } /* 50 ms per call */
static void s_sleep(struct agent_net *n, unsigned ms) { n->now += (uint64_t)ms * 1000000u; }
static int s_stats(struct agent_net *n, int fd, struct efinet_stats *s) {
  (void)fd;
  memset(s, 0, sizeof(*s));
  return spend(n) ? 0 : -1;
}

static const struct agent_netops stub_ops = {
    .backend = "fuzz", .socket = s_socket, .bind = s_bind, .listen = s_listen, .accept = s_accept,
    .connect = s_connect, .sendto = s_sendto, .recvfrom = s_recvfrom, .shutdown = s_int2, .close = s_close,
    .sockname = s_name, .peername = s_name, .setsockopt = s_setsockopt, .getsockopt = s_getsockopt,
    .set_nonblock = s_int2, .select = s_select, .poll = s_poll, .resolve = s_resolve,
    .last_errno = s_errno, .now_ns = s_now, .sleep_ms = s_sleep, .stats = s_stats};

static void b_echo(void *ctx, const char *args, char *out, size_t cap) {
  char v[64];
  (void)ctx;
  agent_kv(out, cap, "ret", agent_arg(args, "ret", v, sizeof(v)) ? v : "0");
  agent_kv(out, cap, "errno", "0");
  agent_kv_int(out, cap, "n", agent_arg_int(args, "n", 0));
  uint32_t ip = 0;
  if (agent_arg(args, "addr", v, sizeof(v)) && !agent_parse_ip(v, &ip)) agent_kv_ip(out, cap, "addr", ip);
}
static const struct agent_cmd backend_cmds[] = {{.name = "hello", .run = b_echo}, {.name = "open", .run = b_echo},
                                                {.name = NULL}};

static size_t replied;
static void write_line(struct agent_env *env, const char *line) {
  (void)env;
  replied += strlen(line);
  char framed[4300];
  agent_frame(line, framed, sizeof(framed));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct agent_net net;
  static struct agent_env env;
  memset(&net, 0, sizeof(net));
  memset(&env, 0, sizeof(env));
  net.budget = 200;
  env.ops = &stub_ops;
  env.net = &net;
  env.write_line = write_line;
  agent_add_cmds(&env, backend_cmds, NULL);
  char line[4096];
  size_t i = 0;
  while (i < size) {
    size_t n = 0;
    while (i < size && data[i] != '\n') {
      if (n + 1 < sizeof(line)) line[n++] = (char)data[i];
      i++;
    }
    i++;
    line[n] = 0;
    agent_execute(&env, line);
  }
  return 0;
}
