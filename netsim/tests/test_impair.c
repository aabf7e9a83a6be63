/* The impairment models with fixed seeds: statistics as specified,
 * determinism, and the text syntax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "impair.h"

#define MS 1000000ull

static unsigned run(struct impair *im, unsigned n, size_t len, uint64_t spacing, unsigned *out_order) {
  uint8_t f[1600];
  unsigned got = 0;
  for (unsigned i = 0; i < n; i++) {
    memset(f, 0, sizeof(f));
    memcpy(f, &i, sizeof(i));
    impair_push(im, (uint64_t)i * spacing, f, len);
  }
  struct impair_frame *x;
  while ((x = impair_pop(im, UINT64_MAX))) {
    if (out_order) memcpy(&out_order[got], x->data, sizeof(unsigned));
    got++;
    impair_free(x);
  }
  return got;
}

static void random_loss_rate(void **st) {
  (void)st;
  struct impair im;
  impair_init(&im, 42);
  struct impair_params p = {0};
  p.loss = 0.05;
  impair_set(&im, &p);
  unsigned got = run(&im, 100000, 100, 0, NULL);
  double lost = 1.0 - got / 100000.0;
  printf("# loss 5%%: %.4f\n", lost);
  assert_true(lost > 0.047 && lost < 0.053);
  assert_int_equal(im.c.dropped_loss, 100000 - got);
  impair_destroy(&im);
}

static void gilbert_elliott_bursts(void **st) {
  (void)st;
  struct impair im;
  impair_init(&im, 7);
  struct impair_params p = {0};
  p.ge_p = 0.01, p.ge_r = 0.3, p.ge_loss_bad = 1.0, p.ge_loss_good = 0.0;
  impair_set(&im, &p);
  unsigned n = 200000, *order = calloc(n, sizeof(unsigned));
  unsigned got = run(&im, n, 100, 0, order);
  /* stationary bad share p/(p+r) = 0.0323; bursts ~ 1/r = 3.3 frames */
  double lost = 1.0 - (double)got / n;
  unsigned bursts = 0;
  for (unsigned i = 1; i < got; i++)
    if (order[i] != order[i - 1] + 1) bursts++;
  double mean_burst = (double)(n - got) / bursts;
  printf("# GE: loss %.4f, mean burst %.2f\n", lost, mean_burst);
  assert_true(lost > 0.029 && lost < 0.036);
  assert_true(mean_burst > 3.0 && mean_burst < 3.7);
  free(order);
  impair_destroy(&im);
}

static void delay_and_jitter(void **st) {
  (void)st;
  struct impair im;
  impair_init(&im, 1);
  struct impair_params p = {0};
  p.delay_ns = 50 * MS, p.jitter_ns = 5 * MS;
  impair_set(&im, &p);
  uint8_t f[64] = {0};
  for (int i = 0; i < 10000; i++) impair_push(&im, 0, f, sizeof(f));
  assert_null(impair_pop(&im, 44 * MS));
  double sum = 0;
  unsigned n = 0;
  struct impair_frame *x;
  uint64_t lo = UINT64_MAX, hi = 0;
  while ((x = impair_pop(&im, UINT64_MAX))) {
    sum += (double)x->due, n++;
    if (x->due < lo) lo = x->due;
    if (x->due > hi) hi = x->due;
    impair_free(x);
  }
  assert_int_equal(n, 10000);
  assert_true(lo >= 45 * MS && hi <= 55 * MS);
  assert_true(sum / n > 49.8 * MS && sum / n < 50.2 * MS);
  impair_destroy(&im);
}

static void duplicate_reorder_corrupt(void **st) {
  (void)st;
  struct impair im;
  impair_init(&im, 3);
  struct impair_params p = {0};
  p.duplicate = 0.01, p.reorder = 0.05, p.corrupt = 0.02;
  impair_set(&im, &p);
  unsigned n = 100000, *order = calloc(2 * n, sizeof(unsigned));
  unsigned got = run(&im, n, 200, 1000, order);
  assert_int_equal(got, n + im.c.duplicated);
  assert_true(im.c.duplicated > 900 && im.c.duplicated < 1100);
  assert_true(im.c.reordered > 4500 && im.c.reordered < 5500);
  unsigned inversions = 0;
  for (unsigned i = 1; i < got; i++)
    if (order[i] < order[i - 1]) inversions++;
  assert_true(inversions >= im.c.reordered * 9 / 10); /* each held frame lands after its successor */
  assert_true(im.c.corrupted > 1800 && im.c.corrupted < 2200);
  free(order);
  impair_destroy(&im);
}

static void rate_limit_and_queue(void **st) {
  (void)st;
  struct impair im;
  impair_init(&im, 1);
  struct impair_params p = {0};
  p.rate_bps = 8000000; /* 1 byte per us: 1000-byte frames take 1 ms */
  p.queue_bytes = 10000;
  impair_set(&im, &p);
  uint8_t f[1000] = {0};
  for (int i = 0; i < 100; i++) impair_push(&im, 0, f, sizeof(f));
  assert_int_equal(im.c.dropped_queue, 90); /* tail drop past 10 frames of queue */
  uint64_t prev = 0;
  unsigned n = 0;
  struct impair_frame *x;
  while ((x = impair_pop(&im, UINT64_MAX))) {
    assert_true(x->due - prev == 1 * MS);
    prev = x->due;
    n++;
    impair_free(x);
  }
  assert_int_equal(n, 10);
  impair_destroy(&im);
}

static void mtu_and_down(void **st) {
  (void)st;
  struct impair im;
  impair_init(&im, 1);
  struct impair_params p = {0};
  p.mtu = 1000;
  impair_set(&im, &p);
  uint8_t f[1600] = {0};
  impair_push(&im, 0, f, 1014);
  impair_push(&im, 0, f, 1015);
  assert_int_equal(im.c.dropped_mtu, 1);
  p.down = true;
  impair_set(&im, &p);
  impair_push(&im, 0, f, 60);
  assert_int_equal(im.c.dropped_down, 1);
  assert_int_equal(run(&im, 0, 0, 0, NULL), 1);
  impair_destroy(&im);
}

static void seeded_and_reproducible(void **st) {
  (void)st;
  struct impair_params p = {0};
  p.loss = 0.1, p.reorder = 0.1, p.duplicate = 0.05, p.jitter_ns = 3 * MS, p.delay_ns = 5 * MS;
  unsigned a[3000], b[3000], c[3000];
  struct impair x, y, z;
  impair_init(&x, 99), impair_init(&y, 99), impair_init(&z, 100);
  impair_set(&x, &p), impair_set(&y, &p), impair_set(&z, &p);
  unsigned na = run(&x, 2000, 80, 100000, a), nb = run(&y, 2000, 80, 100000, b), nc = run(&z, 2000, 80, 100000, c);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na * sizeof(unsigned));
  assert_true(na != nc || memcmp(a, c, na * sizeof(unsigned)) != 0);
  impair_destroy(&x), impair_destroy(&y), impair_destroy(&z);
}

static void text_syntax(void **st) {
  (void)st;
  struct impair_params p = {0};
  char err[64];
  assert_int_equal(impair_parse("delay=50ms jitter=500us loss=5% ge=0.01,0.3 dup=0.001 reorder=0.02 "
                                "corrupt=0 rate=10mbit queue=64k mtu=1400", &p, err, sizeof(err)), 0);
  assert_true(p.delay_ns == 50 * MS && p.jitter_ns == 500000);
  assert_true(p.loss > 0.0499 && p.loss < 0.0501);
  assert_true(p.ge_p == 0.01 && p.ge_r == 0.3 && p.ge_loss_bad == 1.0);
  assert_true(p.rate_bps == 10000000 && p.queue_bytes == 65536 && p.mtu == 1400);
  assert_int_equal(impair_parse("loss=1.5", &p, err, sizeof(err)), -1);
  assert_string_equal(err, "bad impairment 'loss=1.5'");
  assert_int_equal(impair_parse("delay=fast", &p, err, sizeof(err)), -1);
  assert_int_equal(impair_parse("wobble=1", &p, err, sizeof(err)), -1);
  assert_int_equal(impair_parse("down=1", &p, err, sizeof(err)), 0);
  assert_true(p.down);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(random_loss_rate),  cmocka_unit_test(gilbert_elliott_bursts),
      cmocka_unit_test(delay_and_jitter),  cmocka_unit_test(duplicate_reorder_corrupt),
      cmocka_unit_test(rate_limit_and_queue), cmocka_unit_test(mtu_and_down),
      cmocka_unit_test(seeded_and_reproducible), cmocka_unit_test(text_syntax),
  };
  return cmocka_run_group_tests_name("impair", tests, NULL, NULL);
}
