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

static int s_poll(struct agent_net *n, struct efisock_pollfd *p, unsigned np, int ms) {
  (void)n, (void)ms;
  for (unsigned i = 0; i < np; i++) p[i].revents = 0;
  return 0;
}

static int s_select(struct agent_net *n, int nfds, efisock_fd_set *r, efisock_fd_set *w, efisock_fd_set *e,
                    int ms) {
  (void)n, (void)r, (void)w, (void)e, (void)ms;
  return nfds > 0; /* everything asked for is ready */
}
static intptr_t s_sendto(struct agent_net *n, int fd, const void *b, size_t len, int fl,
                         const struct efisock_sockaddr_in *to) {
  (void)n, (void)fd, (void)b, (void)fl, (void)to;
  return (intptr_t)(len > 4096 ? 4096 : len);
}
static intptr_t s_recvfrom(struct agent_net *n, int fd, void *b, size_t len, int fl,
                           struct efisock_sockaddr_in *from) {
  (void)n, (void)fd, (void)fl, (void)from;
  size_t k = len > 4096 ? 4096 : len;
  memset(b, 0, k);
  return (intptr_t)k;
}

static const struct agent_netops stub_ops = {.backend = "stub", .socket = s_socket, .resolve = s_resolve,
                                             .last_errno = s_errno, .now_ns = s_now, .poll = s_poll,
                                             .select = s_select, .sendto = s_sendto, .recvfrom = s_recvfrom};

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

/* Regression (fuzz/ fuzz_agent_cmd): a number too long for a long
 * overflowed (UB) in agent_arg_int; it saturates now. */
static void long_numbers_saturate(void **state) {
  (void)state;
  assert_int_equal(agent_arg_int("bytes=11111111111111111111111111111100000 crc=1", "bytes", 0), __LONG_MAX__);
  assert_int_equal(agent_arg_int("n=-99999999999999999999", "n", 0), -__LONG_MAX__);
  assert_int_equal(agent_arg_int("n=9223372036854775807", "n", 0), __LONG_MAX__);
  assert_int_equal(agent_arg_int("n=922337203685477580", "n", 0), 922337203685477580L);
  efisock_fd_set s; /* fd lists: an fd past FD_SETSIZE is left out, however long */
  assert_int_equal(agent_parse_fdlist("read=3,41111111111111,5", "read", &s), 5);
  assert_true(EFISOCK_FD_ISSET(3, &s) && EFISOCK_FD_ISSET(5, &s));
  /* poll's fds= likewise (cmd_sock.c): no overflow parsing, and an fd of 9
   * digits is formatted into the reply without overrunning its buffer */
  agent_execute(&env, "poll fds=3:in,41111111111111111:out,123456789:in timeout_ms=0");
  assert_int_equal(nreplies, 1);
  assert_non_null(strstr(replies[0], ",123456789:"));
}

/* Regression (fuzz/ fuzz_agent_cmd): bulksend/bulkrecv over fds= with a
 * negative bytes= turned the rest to move into a huge size_t: a memcpy of
 * exabytes into the I/O buffer. Nothing to move now: ret=0 at once. */
static void bulk_negative_bytes(void **state) {
  (void)state;
  agent_execute(&env, "bulksend fds=3,4 bytes=-1");
  agent_execute(&env, "bulkrecv fds=3 bytes=-5");
  agent_execute(&env, "bulksend fds=3 bytes=0");
  assert_int_equal(nreplies, 3);
  for (int i = 0; i < 3; i++) assert_non_null(strstr(replies[i], " ret=0 "));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(long_numbers_saturate, setup),
      cmocka_unit_test_setup(bulk_negative_bytes, setup),
      cmocka_unit_test_setup(unknown_and_empty, setup),
      cmocka_unit_test_setup(core_replies, setup),
      cmocka_unit_test_setup(backend_tables, setup),
      cmocka_unit_test_setup(core_names_unique, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
