/* The control protocol: the command table's parsing and replies, and the
 * state each command changes. No sockets: control_exec() on a bare context. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "netsim.h"

static struct netsim ns;
static char out[CONTROL_REPLY_MAX];

static const char *exec(const char *line) {
  char buf[CONTROL_LINE_MAX];
  snprintf(buf, sizeof(buf), "%s", line);
  control_exec(&ns, buf, out, sizeof(out));
  return out;
}

static int setup(void **st) {
  (void)st;
  memset(&ns, 0, sizeof(ns));
  hub_init(&ns.hub, 7);
  dns_init(&ns.dns, &ns.hub);
  control_init(&ns.control, -1);
  return 0;
}

static int teardown(void **st) {
  (void)st;
  dns_destroy(&ns.dns);
  hub_destroy(&ns.hub);
  return 0;
}

static void table_is_complete(void **st) {
  (void)st;
  const char *want[] = {"impair", "rule", "dns", "counters", "capture", "inject", "flush", "stop"};
  size_t n = 0;
  for (const struct control_command *c = control_commands; c->name; c++, n++) {
    assert_non_null(c->run);
    assert_true(n < 8);
    assert_string_equal(c->name, want[n]);
  }
  assert_int_equal(n, 8);
}

static void unknown_commands(void **st) {
  (void)st;
  assert_string_equal(exec("teleport"), "err unknown command 'teleport' (impair, rule, counters, stop)");
  assert_string_equal(exec(""), "err unknown command '' (impair, rule, counters, stop)");
  /* a name alone where arguments are needed, or arguments where none are taken */
  assert_string_equal(exec("impair"), "err unknown command 'impair' (impair, rule, counters, stop)");
  assert_string_equal(exec("rule"), "err unknown command 'rule' (impair, rule, counters, stop)");
  assert_string_equal(exec("dns"), "err unknown command 'dns' (impair, rule, counters, stop)");
  assert_string_equal(exec("stop now"), "err unknown command 'stop now' (impair, rule, counters, stop)");
  assert_string_equal(exec("counters reset=2"),
                      "err unknown command 'counters reset=2' (impair, rule, counters, stop)");
  /* a prefix of a name is not the name */
  assert_string_equal(exec("impairs link=0"), "err unknown command 'impairs link=0' (impair, rule, counters, stop)");
  assert_false(ns.stop);
  /* long lines are quoted cut */
  char longline[200];
  memset(longline, 'x', sizeof(longline) - 1);
  longline[sizeof(longline) - 1] = 0;
  exec(longline);
  assert_int_equal(strlen(out), strlen("err unknown command '' (impair, rule, counters, stop)") + 60);
}

static void impair_directions(void **st) {
  (void)st;
  assert_string_equal(exec("impair link=0 dir=to-guest delay=20ms loss=1%"), "ok");
  assert_int_equal(ns.hub.port[0].to_guest.p.delay_ns, 20000000);
  assert_int_equal(ns.hub.port[0].from_guest.p.delay_ns, 0);
  assert_string_equal(exec("impair link=3 delay=5ms"), "ok"); /* both */
  assert_int_equal(ns.hub.port[3].to_guest.p.delay_ns, 5000000);
  assert_int_equal(ns.hub.port[3].from_guest.p.delay_ns, 5000000);
  assert_string_equal(exec("impair dir=from-guest link=3 down=1"), "ok");
  assert_true(ns.hub.port[3].from_guest.p.down);
  assert_false(ns.hub.port[3].to_guest.p.down);
  assert_string_equal(exec("impair link=3"), "ok"); /* empty: a clean link */
  assert_int_equal(ns.hub.port[3].to_guest.p.delay_ns, 0);
  assert_false(ns.hub.port[3].from_guest.p.down);
  assert_string_equal(exec("impair link=0 loss=2"), "err bad impairment 'loss=2'");
  assert_string_equal(exec("impair link=8 loss=1%"), "err link out of range");
  assert_string_equal(exec("impair link=-1"), "err link out of range");
}

static void rules_add_and_clear(void **st) {
  (void)st;
  assert_string_equal(exec("rule drop proto=udp port=53"), "ok");
  assert_string_equal(exec("rule delay proto=udp sport=67 delay=5s"), "ok");
  assert_int_equal(ns.hub.rules.n, 2);
  assert_int_equal(strncmp(exec("rule explode"), "err unknown rule action 'explode'", 33), 0);
  assert_int_equal(ns.hub.rules.n, 2);
  assert_string_equal(exec("rule clear"), "ok");
  assert_int_equal(ns.hub.rules.n, 0);
}

static void dns_zone_commands(void **st) {
  (void)st;
  uint32_t a[4];
  assert_string_equal(exec("dns add peer.test 10.0.2.100"), "ok");
  assert_string_equal(exec("dns cname www.test peer.test"), "ok");
  assert_int_equal(dnszone_resolve(&ns.dns.zone, "www.test", a, 4), 1);
  assert_int_equal(a[0], 0x0a000264);
  assert_string_equal(exec("dns fault servfail 2"), "ok");
  assert_int_equal(ns.dns.zone.fault, DNSZ_SERVFAIL);
  assert_int_equal(ns.dns.zone.fault_left, 2);
  assert_string_equal(exec("dns delay 250"), "ok");
  assert_int_equal(ns.dns.zone.delay_ns, 250000000ull);
  assert_int_equal(strncmp(exec("dns add peer.test 10.0.2"), "err dns: add NAME A.B.C.D |", 27), 0);
  assert_int_equal(strncmp(exec("dns fault explode"), "err dns: ", 9), 0);
  assert_string_equal(exec("dns clear"), "ok");
  assert_int_equal(dnszone_resolve(&ns.dns.zone, "www.test", a, 4), -1);
}

static void counters_and_reset(void **st) {
  (void)st;
  assert_string_equal(exec("counters"), "ok slirp_in=0 slirp_out=0 dns_queries=0 dns_answered=0");
  ns.gw.frames_in = 3, ns.gw.frames_out = 4, ns.dns.zone.queries = 5, ns.dns.answered = 6;
  ns.hub.port[1].to_guest.c.frames_in = 9, ns.hub.port[1].from_guest.c.dropped = 2;
  assert_string_equal(exec("counters reset=1"),
                      "ok slirp_in=3 slirp_out=4 dns_queries=5 dns_answered=6"
                      " g1.to=frames:9,bytes:0,out:0,dropped:0,delayed:0,dup:0,reordered:0,corrupted:0"
                      " g1.from=frames:0,bytes:0,out:0,dropped:2,delayed:0,dup:0,reordered:0,corrupted:0");
  assert_string_equal(exec("counters"), "ok slirp_in=0 slirp_out=0 dns_queries=0 dns_answered=0");
}

/* `dns answer HEX`: the zone's answer, as over TCP, in hex. */
static void dns_answer_command(void **st) {
  (void)st;
  assert_string_equal(exec("dns add peer.test 10.0.2.100"), "ok");
  /* id 0x1234, RD, one question: peer.test A IN */
  const char *q = "123401000001000000000000047065657204746573740000010001";
  char line[256];
  snprintf(line, sizeof(line), "dns answer %s", q);
  const char *r = exec(line);
  assert_int_equal(strncmp(r, "ok 1234", 7), 0);
  assert_non_null(strstr(r, "0a000264")); /* the A record's address */
  assert_int_equal(ns.dns.answered, 1);
  assert_int_equal(strncmp(exec("dns answer 12z4"), "err dns answer", 14), 0);
  assert_int_equal(strncmp(exec("dns answer 123"), "err dns answer", 14), 0);
  assert_string_equal(exec("dns fault drop 1"), "ok");
  assert_string_equal(exec(line), "ok"); /* dropped: no answer */
}

/* `inject`: a frame from the far side reaches a guest's to-guest queue only. */
static void inject_command(void **st) {
  (void)st;
  ns.hub.port[0].fd = 99; /* a port in use (never written: the frame waits in its queue) */
  const char *frame = "ffffffffffff525400123456080600010800060400010000000000000a000202000000000000";
  char line[256];
  snprintf(line, sizeof(line), "inject uplink %s", frame);
  assert_string_equal(exec(line), "ok 38");
  assert_int_equal(ns.hub.port[0].to_guest.c.frames_in, 1);
  snprintf(line, sizeof(line), "inject %s", frame);
  assert_string_equal(exec(line), "ok 38");
  assert_int_equal(ns.hub.port[0].to_guest.c.frames_in, 2);
  snprintf(line, sizeof(line), "inject link=1 %s", frame);
  assert_string_equal(exec(line), "ok 38");
  assert_int_equal(ns.hub.port[1].from_guest.c.frames_in, 1);
  assert_int_equal(strncmp(exec("inject uplink 0011"), "err inject", 10), 0); /* shorter than a header */
  assert_int_equal(strncmp(exec("inject link=9 ffffffffffffffffffffffffffff"), "err inject", 10), 0);
  assert_int_equal(strncmp(exec("inject uplink xyz"), "err inject", 10), 0);
  ns.hub.port[0].fd = -1;
}

static void capture_command(void **st) {
  (void)st;
  assert_string_equal(exec("capture /tmp/x.pcap"), "err no capture (started without --pcap)");
  assert_string_equal(exec("capture /tmp/x.pcap bogus=2"), "err capture PATH [append=1]");
  assert_string_equal(exec("flush"), "ok"); /* no capture: nothing to do */
}

static void stop(void **st) {
  (void)st;
  assert_string_equal(exec("stop"), "ok");
  assert_true(ns.stop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(table_is_complete, setup, teardown),
      cmocka_unit_test_setup_teardown(unknown_commands, setup, teardown),
      cmocka_unit_test_setup_teardown(impair_directions, setup, teardown),
      cmocka_unit_test_setup_teardown(rules_add_and_clear, setup, teardown),
      cmocka_unit_test_setup_teardown(dns_zone_commands, setup, teardown),
      cmocka_unit_test_setup_teardown(counters_and_reset, setup, teardown),
      cmocka_unit_test_setup_teardown(dns_answer_command, setup, teardown),
      cmocka_unit_test_setup_teardown(inject_command, setup, teardown),
      cmocka_unit_test_setup_teardown(capture_command, setup, teardown),
      cmocka_unit_test_setup_teardown(stop, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
