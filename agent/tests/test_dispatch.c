/* The dispatcher (core/dispatch.c) over a stub agent_netops: reply lines
 * byte for byte (PROTOCOL.md "Replies"), backend tables, unknown commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "agent/netops.h"
#include "core.h"

struct agent_net {
  uint64_t now;
  int err;
  int socket_ret, resolve_ret;
};

static char replies[8][AGENT_LINE];
static int nreplies;

static void write_line(struct agent_env *env, const char *line) {
  (void)env;
  assert_true(nreplies < 8);
  strncpy(replies[nreplies++], line, AGENT_LINE - 1);
}

static uint64_t s_now(struct agent_net *n) { return n->now += 7000; } /* 7 us per call */
static int s_errno(struct agent_net *n) { return n->err; }
static int s_socket(struct agent_net *n, int type, int nb) {
  (void)type, (void)nb;
  return n->socket_ret;
}
static int s_resolve(struct agent_net *n, const char *name, uint32_t *addrs, unsigned max, unsigned *cnt) {
  (void)name, (void)max;
  addrs[0] = 0x0100007f;
  *cnt = 1;
  return n->resolve_ret;
}

static const struct agent_netops stub_ops = {
    .backend = "stub", .socket = s_socket, .resolve = s_resolve, .last_errno = s_errno, .now_ns = s_now};

static void b_hello(void *ctx, const char *args, char *out, size_t cap) {
  (void)args;
  agent_kv(out, cap, "backend", ctx);
}
static void b_fail(void *ctx, const char *args, char *out, size_t cap) {
  (void)ctx;
  agent_kv(out, cap, "ret", "-1");
  agent_kv(out, cap, "errno", "EINVAL");
  agent_kv_int(out, cap, "n", agent_arg_int(args, "n", 0));
}
static const struct agent_cmd first[] = {
    {.name = "hello", .run = b_hello}, {.name = "fail", .run = b_fail}, {.name = NULL}};
static const struct agent_cmd second[] = {{.name = "hello", .run = b_fail}, {.name = NULL}};

static struct agent_net net;
static struct agent_env env;

static int setup(void **state) {
  (void)state;
  memset(&net, 0, sizeof(net));
  memset(&env, 0, sizeof(env));
  memset(replies, 0, sizeof(replies));
  nreplies = 0;
  env.ops = &stub_ops;
  env.net = &net;
  env.write_line = write_line;
  return 0;
}

static void unknown_and_empty(void **state) {
  (void)state;
  assert_int_equal(agent_execute(&env, ""), 0);
  assert_int_equal(agent_execute(&env, "   "), 0);
  assert_int_equal(nreplies, 0);
  agent_execute(&env, "  frob x=1");
  agent_execute(&env, "hello");
  agent_execute(&env, "averyveryverylongcommandname x=1");
  assert_int_equal(nreplies, 3);
  assert_string_equal(replies[0], "err op=frob ret=-1 errno=ENOSYS msg=unknown-command");
  assert_string_equal(replies[1], "err op=hello ret=-1 errno=ENOSYS msg=unknown-command");
  assert_string_equal(replies[2], "err op=averyveryverylongcomman ret=-1 errno=ENOSYS msg=unknown-command");
}

static void core_replies(void **state) {
  (void)state;
  net.socket_ret = 5;
  agent_execute(&env, "socket type=stream");
  net.socket_ret = -1, net.err = EFISOCK_EMFILE;
  agent_execute(&env, "socket");
  net.resolve_ret = -2;
  agent_execute(&env, "resolve name=x");
  net.resolve_ret = 0;
  agent_execute(&env, "resolve name=x");
  assert_int_equal(agent_execute(&env, "quit"), 1);
  assert_string_equal(replies[0], "ok op=socket ret=5 errno=0 us=7");
  assert_string_equal(replies[1], "err op=socket ret=-1 errno=EMFILE us=7");
  assert_string_equal(replies[2], "ok op=resolve ret=-2 errno=0 us=7 gai=Name or service not known");
  assert_string_equal(replies[3], "ok op=resolve ret=0 errno=0 us=7 addrs=127.0.0.1");
  assert_string_equal(replies[4], "ok op=quit ret=0 errno=0 us=7");
}

static void backend_tables(void **state) {
  (void)state;
  assert_int_equal(agent_add_cmds(&env, first, "stub"), 0);
  assert_int_equal(agent_add_cmds(&env, second, NULL), 0);
  agent_execute(&env, "hello");
  agent_execute(&env, "fail n=3");
  assert_string_equal(replies[0], "ok op=hello backend=stub"); /* the first table wins */
  assert_string_equal(replies[1], "err op=fail ret=-1 errno=EINVAL n=3");
  for (int i = 2; i < AGENT_BACKEND_TABLES; i++) assert_int_equal(agent_add_cmds(&env, second, NULL), 0);
  assert_int_equal(agent_add_cmds(&env, second, NULL), -1);
}

static void core_names_unique(void **state) {
  (void)state;
  const struct core_cmd *tables[] = {agent_sock_cmds, agent_bulk_cmds};
  for (unsigned a = 0; a < 2; a++)
    for (const struct core_cmd *x = tables[a]; x->name; x++) {
      assert_non_null(x->run);
      for (unsigned b = 0; b < 2; b++)
        for (const struct core_cmd *y = tables[b]; y->name; y++)
          if (x != y) assert_string_not_equal(x->name, y->name);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(unknown_and_empty, setup),
      cmocka_unit_test_setup(core_replies, setup),
      cmocka_unit_test_setup(backend_tables, setup),
      cmocka_unit_test_setup(core_names_unique, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
