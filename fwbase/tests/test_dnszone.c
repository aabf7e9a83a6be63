/* The scripted DNS server: its answers decoded by efi-net's own parser (the
 * two were written independently), for every fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "fwbase/dnszone.h"
#include "fwbase/dnswire.h"

static struct dnszone z;

static int setup(void **st) {
  (void)st;
  memset(&z, 0, sizeof(z));
  dnszone_add_a(&z, "peer.test", 0x0a000264);
  dnszone_add_a(&z, "multi.test", 0x0a000201);
  dnszone_add_a(&z, "multi.test", 0x0a000202);
  dnszone_add_cname(&z, "www.test", "alias.test");
  dnszone_add_cname(&z, "alias.test", "peer.test");
  return 0;
}
static int teardown(void **st) {
  (void)st;
  dnszone_clear(&z);
  return 0;
}

static int ask(const char *name, uint16_t id, bool tcp, struct fwb_dns_result *r, bool *wrong, size_t *len) {
  uint8_t q[300], a[1500];
  int ql = fwb_dns_build_query(q, sizeof(q), id, name);
  *wrong = false;
  *len = dnszone_answer(&z, q, (size_t)ql, a, sizeof(a), tcp, wrong);
  if (!*len) return 1000;
  return fwb_dns_parse(a, *len, id, name, r);
}

static void answers(void **st) {
  (void)st;
  struct fwb_dns_result r;
  bool wrong;
  size_t len;
  assert_int_equal(ask("peer.test", 1, false, &r, &wrong, &len), 0);
  assert_int_equal(r.naddr, 1);
  assert_int_equal(r.addrs[0], __builtin_bswap32(0x0a000264));
  assert_int_equal(ask("WWW.test.", 2, false, &r, &wrong, &len), 0); /* case and trailing dot */
  assert_string_equal(r.canon, "peer.test");
  assert_int_equal(r.naddr, 1);
  assert_int_equal(ask("multi.test", 3, false, &r, &wrong, &len), 0);
  assert_int_equal(r.naddr, 2);
  assert_int_equal(r.addrs[0], __builtin_bswap32(0x0a000201)); /* in the order added */
  assert_int_equal(ask("none.test", 4, false, &r, &wrong, &len), 0);
  assert_int_equal(r.rcode, 3);
  assert_int_equal(z.queries, 4);
  uint32_t addrs[8];
  assert_int_equal(dnszone_resolve(&z, "www.test", addrs, 8), 1);
  assert_int_equal(dnszone_resolve(&z, "none.test", addrs, 8), -1);
}

static void faults(void **st) {
  (void)st;
  struct fwb_dns_result r;
  bool wrong;
  size_t len;
  dnszone_set_fault(&z, DNSZ_SERVFAIL, 1);
  assert_int_equal(ask("peer.test", 5, false, &r, &wrong, &len), 0);
  assert_int_equal(r.rcode, 2);
  assert_int_equal(ask("peer.test", 6, false, &r, &wrong, &len), 0); /* count 1: back to normal */
  assert_int_equal(r.naddr, 1);
  dnszone_set_fault(&z, DNSZ_DROP, 0);
  assert_int_equal(ask("peer.test", 7, false, &r, &wrong, &len), 1000);
  assert_int_equal(ask("peer.test", 8, false, &r, &wrong, &len), 1000); /* 0: every query */
  dnszone_set_fault(&z, DNSZ_TRUNCATE, 1);
  assert_int_equal(ask("peer.test", 9, false, &r, &wrong, &len), 0);
  assert_true(r.tc);
  dnszone_set_fault(&z, DNSZ_TRUNCATE, 1);
  assert_int_equal(ask("peer.test", 10, true, &r, &wrong, &len), 0); /* over TCP: the full answer */
  assert_false(r.tc);
  assert_int_equal(r.naddr, 1);
  dnszone_set_fault(&z, DNSZ_WRONG_ID, 1);
  assert_int_equal(ask("peer.test", 11, false, &r, &wrong, &len), FWB_DNS_E_ID);
  dnszone_set_fault(&z, DNSZ_WRONG_SOURCE, 1);
  assert_int_equal(ask("peer.test", 12, false, &r, &wrong, &len), 0);
  assert_true(wrong);
  dnszone_set_fault(&z, DNSZ_MALFORMED, 1);
  assert_int_equal(ask("peer.test", 13, false, &r, &wrong, &len), FWB_DNS_E_MALFORMED);
  dnszone_set_fault(&z, DNSZ_POINTER_LOOP, 1);
  assert_int_equal(ask("peer.test", 14, false, &r, &wrong, &len), FWB_DNS_E_MALFORMED);
  dnszone_set_fault(&z, DNSZ_NXDOMAIN, 1);
  assert_int_equal(ask("peer.test", 15, false, &r, &wrong, &len), 0);
  assert_int_equal(r.rcode, 3);
  enum dnszone_fault f;
  assert_int_equal(dnszone_parse_fault("wrong-source", &f), 0);
  assert_int_equal(f, DNSZ_WRONG_SOURCE);
  assert_int_equal(dnszone_parse_fault("lightning", &f), -1);
}

static void hostile_queries(void **st) {
  (void)st;
  uint8_t a[1500], q[64];
  bool wrong;
  memset(q, 0x3f, sizeof(q)); /* labels running off the end */
  for (size_t n = 0; n < sizeof(q); n++) assert_int_equal(dnszone_answer(&z, q, n, a, sizeof(a), false, &wrong), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(answers, setup, teardown),
      cmocka_unit_test_setup_teardown(faults, setup, teardown),
      cmocka_unit_test_setup_teardown(hostile_queries, setup, teardown),
  };
  return cmocka_run_group_tests_name("dnszone", tests, NULL, NULL);
}
