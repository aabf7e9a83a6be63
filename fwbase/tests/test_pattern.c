/* fwbase: the data pattern, CRC-32 and IPv4 text, against independent facts
 * (the formula, zlib's check value, Linux's inet_pton rules). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "fwbase/errno.h"
#include "fwbase/inet.h"
#include "fwbase/pattern.h"

static void fill_matches_formula_across_periods(void **st) {
  (void)st;
  static uint8_t b[3 * FWB_PATTERN_PERIOD];
  uint64_t off = FWB_PATTERN_PERIOD - 5;
  fwb_pattern_fill(b, sizeof(b), off);
  for (size_t k = 0; k < sizeof(b); k++)
    assert_int_equal(b[k], (uint8_t)(((off + k) * 7 + (off + k) / 256) & 255));
  assert_int_equal(fwb_pattern_check(b, sizeof(b), off), sizeof(b));
  b[1000] ^= 1;
  assert_int_equal(fwb_pattern_check(b, sizeof(b), off), 1000);
}

static void crc32_is_zlibs_and_runs(void **st) {
  (void)st;
  const uint8_t *s = (const uint8_t *)"123456789";
  assert_int_equal(fwb_crc32(0, s, 9), 0xcbf43926u);
  assert_int_equal(fwb_crc32(fwb_crc32(0, s, 4), s + 4, 5), 0xcbf43926u);
  assert_int_equal(fwb_crc32(0, s, 0), 0);
}

static void inet_text_is_strict(void **st) {
  (void)st;
  uint8_t a[4];
  char t[16];
  assert_int_equal(efisock_inet_pton(EFISOCK_AF_INET, "10.0.2.15", a), 1);
  assert_string_equal(efisock_inet_ntop(EFISOCK_AF_INET, a, t, sizeof(t)), "10.0.2.15");
  assert_int_equal(efisock_inet_pton(EFISOCK_AF_INET, "10.0.02.15", a), 0);
  assert_int_equal(efisock_inet_pton(EFISOCK_AF_INET, "256.0.0.1", a), 0);
  assert_int_equal(efisock_inet_pton(10, "::1", a), -1);
  assert_null(efisock_inet_ntop(EFISOCK_AF_INET, a, t, 8));
  assert_int_equal(efisock_htons(0x1234), 0x3412);
  assert_string_equal(efisock_errname(EFISOCK_ECONNRESET), "ECONNRESET");
  assert_string_equal(efisock_errname(9999), "E?");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fill_matches_formula_across_periods),
      cmocka_unit_test(crc32_is_zlibs_and_runs),
      cmocka_unit_test(inet_text_is_strict),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
