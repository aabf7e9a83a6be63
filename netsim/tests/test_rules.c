/* Targeted rules: parsing, and matching on built frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "rules.h"

static size_t frame(uint8_t *f, int proto, int sport, int dport, uint8_t flags) {
  memset(f, 0, 80);
  f[12] = 0x08, f[13] = 0x00;
  uint8_t *ip = f + 14;
  ip[0] = 0x45;
  ip[9] = (uint8_t)proto;
  uint8_t *l4 = ip + 20;
  l4[0] = (uint8_t)(sport >> 8), l4[1] = (uint8_t)sport;
  l4[2] = (uint8_t)(dport >> 8), l4[3] = (uint8_t)dport;
  l4[13] = flags;
  return 14 + 20 + 20;
}

static void second_synack_to_guest(void **st) {
  (void)st;
  struct rules rs = {0};
  char err[80];
  assert_int_equal(rules_add(&rs, "drop dir=to-guest proto=tcp flags=SYN+ACK nth=2", err, sizeof(err)), 0);
  uint8_t f[80];
  uint64_t d;
  size_t n = frame(f, 6, 80, 1234, 0x12);
  assert_int_equal(rules_match(&rs, DIR_TO_GUEST, f, n, &d), RULE_NONE);   /* 1st */
  assert_int_equal(rules_match(&rs, DIR_FROM_GUEST, f, n, &d), RULE_NONE); /* wrong way */
  n = frame(f, 6, 80, 1234, 0x10);                                         /* a plain ACK */
  assert_int_equal(rules_match(&rs, DIR_TO_GUEST, f, n, &d), RULE_NONE);
  n = frame(f, 6, 80, 1234, 0x12);
  assert_int_equal(rules_match(&rs, DIR_TO_GUEST, f, n, &d), RULE_DROP);   /* 2nd */
  assert_int_equal(rules_match(&rs, DIR_TO_GUEST, f, n, &d), RULE_NONE);   /* 3rd */
}

static void dns_and_dhcp(void **st) {
  (void)st;
  struct rules rs = {0};
  char err[80];
  assert_int_equal(rules_add(&rs, "delay proto=udp sport=67 delay=5s", err, sizeof(err)), 0);
  assert_int_equal(rules_add(&rs, "drop proto=udp port=53", err, sizeof(err)), 0);
  uint8_t f[80];
  uint64_t d = 0;
  size_t n = frame(f, 17, 67, 68, 0);
  assert_int_equal(rules_match(&rs, DIR_TO_GUEST, f, n, &d), RULE_DELAY);
  assert_int_equal(d, 5000000000ull);
  for (int i = 0; i < 5; i++) {
    n = frame(f, 17, 40000 + i, 53, 0);
    assert_int_equal(rules_match(&rs, DIR_FROM_GUEST, f, n, &d), RULE_DROP);
    n = frame(f, 17, 53, 40000 + i, 0);
    assert_int_equal(rules_match(&rs, DIR_TO_GUEST, f, n, &d), RULE_DROP);
  }
  n = frame(f, 6, 53, 1, 0x02); /* TCP to 53: not udp */
  assert_int_equal(rules_match(&rs, DIR_TO_GUEST, f, n, &d), RULE_NONE);
  memset(f, 0, 60);
  f[12] = 0x08, f[13] = 0x06; /* ARP */
  assert_int_equal(rules_match(&rs, DIR_TO_GUEST, f, 60, &d), RULE_NONE);
  assert_int_equal(rules_match(&rs, DIR_TO_GUEST, f, 10, &d), RULE_NONE); /* runt */
}

static void counts(void **st) {
  (void)st;
  struct rules rs = {0};
  char err[80];
  assert_int_equal(rules_add(&rs, "dup dir=from-guest proto=tcp count=3", err, sizeof(err)), 0);
  uint8_t f[80];
  uint64_t d;
  size_t n = frame(f, 6, 1, 2, 0x18);
  int dups = 0;
  for (int i = 0; i < 10; i++) dups += rules_match(&rs, DIR_FROM_GUEST, f, n, &d) == RULE_DUP;
  assert_int_equal(dups, 3);
}

static void syntax_errors(void **st) {
  (void)st;
  struct rule r;
  char err[80];
  assert_int_equal(rule_parse("explode proto=tcp", &r, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "unknown rule action 'explode'"));
  assert_int_equal(rule_parse("drop proto=sctp", &r, err, sizeof(err)), -1);
  assert_int_equal(rule_parse("drop flags=SYN+URG", &r, err, sizeof(err)), -1);
  assert_int_equal(rule_parse("delay proto=udp", &r, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "needs delay="));
  assert_int_equal(rule_parse("drop color=red", &r, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "bad rule word 'color=red'"));
  assert_int_equal(rule_parse("drop port=70000", &r, err, sizeof(err)), -1);
  assert_int_equal(rule_parse("", &r, err, sizeof(err)), -1);
}

/* Regression (fuzz/ fuzz_netsim_rules): a delay beyond uint64_t nanoseconds
 * (or NaN) was cast from double out of range (UB); it is a syntax error now. */
static void huge_delays_rejected(void **st) {
  (void)st;
  struct rule r;
  char err[80];
  assert_int_equal(rule_parse("delay proto=icmp delay=2566666666666666666666666666666660ms", &r, err, sizeof(err)), -1);
  assert_int_equal(rule_parse("delay delay=1e300s", &r, err, sizeof(err)), -1);
  assert_int_equal(rule_parse("delay delay=nan", &r, err, sizeof(err)), -1);
  assert_int_equal(rule_parse("delay delay=inf", &r, err, sizeof(err)), -1);
  assert_int_equal(rule_parse("delay delay=1000000000s", &r, err, sizeof(err)), 0);
  assert_true(r.delay_ns == 1000000000ull * 1000000000ull);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(second_synack_to_guest), cmocka_unit_test(dns_and_dhcp),
      cmocka_unit_test(counts), cmocka_unit_test(syntax_errors), cmocka_unit_test(huge_delays_rejected),
  };
  return cmocka_run_group_tests_name("rules", tests, NULL, NULL);
}
