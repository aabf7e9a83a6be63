/* rumpuser(3) semantics on the cooperative scheduler, on the host with a
 * virtual clock (host_machine.c): threads, sleeping, mutexes, rwlocks,
 * condition variables, parameters, memory, randomness, curlwp and the
 * rump-kernel scheduling hooks. The same sched.c and rumpuser.c are linked
 * into the bare-metal image. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "bmk/rumpuser.h"
#include "bmk/sched.h"
#include "host_machine.h"

#define MS 1000000ull

static void *spawn(void *(*f)(void *), void *arg) {
  void *cookie = NULL;
  assert_int_equal(rumpuser_thread_create(f, arg, "t", 1, 0, -1, &cookie), 0);
  return cookie;
}

static void sleep_ms(long ms) { rumpuser_clock_sleep(RUMPUSER_CLOCK_RELWALL, ms / 1000, (ms % 1000) * 1000000); }

/* ---- threads and time ---- */

static int order[16], norder;
static void *record(void *arg) {
  order[norder++] = (int)(intptr_t)arg;
  return arg;
}

static void test_threads_run_in_creation_order_and_join(void **s) {
  (void)s;
  norder = 0;
  void *c[3];
  for (int i = 0; i < 3; i++) c[i] = spawn(record, (void *)(intptr_t)(i + 1));
  for (int i = 0; i < 3; i++) assert_int_equal(rumpuser_thread_join(c[i]), 0);
  assert_int_equal(norder, 3);
  assert_int_equal(order[0], 1);
  assert_int_equal(order[1], 2);
  assert_int_equal(order[2], 3);
}

static uint64_t woke_at[4];
static void *sleeper(void *arg) {
  int i = (int)(intptr_t)arg;
  sleep_ms(30 - 10 * i); /* 0: 30 ms, 1: 20 ms, 2: 10 ms */
  woke_at[i] = host_now;
  order[norder++] = i;
  return NULL;
}

static void test_sleep_wakes_at_deadline_in_deadline_order(void **s) {
  (void)s;
  norder = 0;
  uint64_t t0 = host_now;
  void *c[3];
  for (int i = 0; i < 3; i++) c[i] = spawn(sleeper, (void *)(intptr_t)i);
  for (int i = 0; i < 3; i++) rumpuser_thread_join(c[i]);
  assert_int_equal(order[0], 2);
  assert_int_equal(order[1], 1);
  assert_int_equal(order[2], 0);
  assert_int_equal(woke_at[2] - t0, 10 * MS);
  assert_int_equal(woke_at[1] - t0, 20 * MS);
  assert_int_equal(woke_at[0] - t0, 30 * MS);
  int64_t sec;
  long nsec;
  assert_int_equal(rumpuser_clock_gettime(RUMPUSER_CLOCK_ABSMONO, &sec, &nsec), 0);
  assert_int_equal((uint64_t)sec * 1000000000ull + (uint64_t)nsec, host_now);
  assert_int_equal(rumpuser_clock_gettime(RUMPUSER_CLOCK_RELWALL, &sec, &nsec), 0);
  assert_true(sec >= 1700000000);
  assert_int_equal(rumpuser_clock_gettime(7, &sec, &nsec), 22);
  /* ABSMONO sleep to a time already past returns at once */
  uint64_t before = host_now;
  rumpuser_clock_sleep(RUMPUSER_CLOCK_ABSMONO, 0, 1);
  assert_int_equal(host_now, before);
}

/* ---- mutexes ---- */

static struct rumpuser_mtx *mtx;
static int inside, max_inside, counter;
static void *locker(void *arg) {
  for (int k = 0; k < 5; k++) {
    rumpuser_mutex_enter(mtx);
    inside++;
    if (inside > max_inside) max_inside = inside;
    sleep_ms(1); /* block while holding it: others must wait */
    counter++;
    order[norder < 16 ? norder++ : 15] = (int)(intptr_t)arg;
    inside--;
    rumpuser_mutex_exit(mtx);
  }
  return NULL;
}

static void test_mutex_excludes_and_hands_off_in_order(void **s) {
  (void)s;
  rumpuser_mutex_init(&mtx, RUMPUSER_MTX_KMUTEX);
  inside = max_inside = counter = norder = 0;
  void *c[3];
  for (int i = 0; i < 3; i++) c[i] = spawn(locker, (void *)(intptr_t)i);
  for (int i = 0; i < 3; i++) rumpuser_thread_join(c[i]);
  assert_int_equal(max_inside, 1);
  assert_int_equal(counter, 15);
  /* hand-off: the lock goes to the longest waiter, so holders alternate */
  for (int i = 0; i < 9; i++) assert_int_equal(order[i], i % 3);
  rumpuser_mutex_destroy(mtx);
}

static void test_mutex_tryenter_and_owner(void **s) {
  (void)s;
  struct lwp *me = (struct lwp *)0x1234, *o = NULL;
  rumpuser_curlwpop(RUMPUSER_LWP_SET, me);
  rumpuser_mutex_init(&mtx, RUMPUSER_MTX_SPIN);
  assert_int_equal(rumpuser_mutex_tryenter(mtx), 0);
  rumpuser_mutex_owner(mtx, &o);
  assert_ptr_equal(o, me);
  rumpuser_mutex_exit(mtx);
  rumpuser_mutex_owner(mtx, &o);
  assert_null(o);
  rumpuser_mutex_destroy(mtx);
  rumpuser_curlwpop(RUMPUSER_LWP_CLEAR, NULL);
  assert_null(rumpuser_curlwp());
}

static void *try_ret;
static void *try_other2(void *arg) {
  (void)arg;
  try_ret = (void *)(intptr_t)rumpuser_mutex_tryenter(mtx);
  return NULL;
}

static void test_mutex_tryenter_busy_from_other_thread(void **s) {
  (void)s;
  rumpuser_mutex_init(&mtx, RUMPUSER_MTX_KMUTEX);
  rumpuser_mutex_enter(mtx);
  rumpuser_thread_join(spawn(try_other2, NULL));
  assert_int_equal((int)(intptr_t)try_ret, 16 /* EBUSY */);
  rumpuser_mutex_exit(mtx);
  rumpuser_mutex_destroy(mtx);
}

static void test_mutex_recursive_enter_halts(void **s) {
  (void)s;
  rumpuser_mutex_init(&mtx, RUMPUSER_MTX_KMUTEX);
  rumpuser_mutex_enter(mtx);
  expect_assert_failure(rumpuser_mutex_enter(mtx));
  rumpuser_mutex_exit(mtx);
  expect_assert_failure(rumpuser_mutex_exit(mtx)); /* not the owner any more */
  rumpuser_mutex_destroy(mtx);
}

/* ---- condition variables ---- */

static struct rumpuser_cv *cv;
static int ready, woken;
static void *waiter(void *arg) {
  (void)arg;
  rumpuser_mutex_enter(mtx);
  while (!ready) rumpuser_cv_wait(cv, mtx);
  woken++;
  rumpuser_mutex_exit(mtx);
  return NULL;
}

static void test_cv_signal_wakes_one_broadcast_all(void **s) {
  (void)s;
  rumpuser_mutex_init(&mtx, RUMPUSER_MTX_KMUTEX);
  rumpuser_cv_init(&cv);
  ready = woken = 0;
  void *c[3];
  for (int i = 0; i < 3; i++) c[i] = spawn(waiter, NULL);
  sleep_ms(1); /* let them block */
  int w = 0;
  rumpuser_cv_has_waiters(cv, &w);
  assert_true(w);
  rumpuser_mutex_enter(mtx);
  ready = 1;
  rumpuser_cv_signal(cv);
  rumpuser_mutex_exit(mtx);
  sleep_ms(1);
  assert_int_equal(woken, 1);
  rumpuser_mutex_enter(mtx);
  rumpuser_cv_broadcast(cv);
  rumpuser_mutex_exit(mtx);
  for (int i = 0; i < 3; i++) rumpuser_thread_join(c[i]);
  assert_int_equal(woken, 3);
  rumpuser_cv_has_waiters(cv, &w);
  assert_false(w);
  rumpuser_cv_destroy(cv);
  rumpuser_mutex_destroy(mtx);
}

static void *signal_later(void *arg) {
  (void)arg;
  sleep_ms(5);
  rumpuser_mutex_enter(mtx);
  ready = 1;
  rumpuser_cv_signal(cv);
  rumpuser_mutex_exit(mtx);
  return NULL;
}

static void test_cv_timedwait_times_out_exactly_and_can_be_signalled(void **s) {
  (void)s;
  rumpuser_mutex_init(&mtx, RUMPUSER_MTX_KMUTEX);
  rumpuser_cv_init(&cv);
  rumpuser_mutex_enter(mtx);
  uint64_t t0 = host_now;
  assert_int_equal(rumpuser_cv_timedwait(cv, mtx, 0, 50 * MS), 110 /* ETIMEDOUT */);
  assert_int_equal(host_now - t0, 50 * MS);
  assert_int_equal(rumpuser_mutex_tryenter(mtx), 16); /* holds the mutex again after a timeout */
  ready = 0;
  void *c = spawn(signal_later, NULL);
  t0 = host_now;
  assert_int_equal(rumpuser_cv_timedwait(cv, mtx, 1, 0), 0);
  assert_int_equal(host_now - t0, 5 * MS);
  assert_true(ready);
  rumpuser_mutex_exit(mtx);
  rumpuser_thread_join(c);
  int w;
  rumpuser_cv_has_waiters(cv, &w);
  assert_false(w); /* the timed-out waiter left the queue */
  rumpuser_cv_destroy(cv);
  rumpuser_mutex_destroy(mtx);
}

/* ---- rwlocks ---- */

static struct rumpuser_rw *rw;
static int readers_in, max_readers, writer_in, writer_saw_readers;
static void *reader(void *arg) {
  (void)arg;
  rumpuser_rw_enter(RUMPUSER_RW_READER, rw);
  readers_in++;
  if (readers_in > max_readers) max_readers = readers_in;
  assert_false(writer_in);
  sleep_ms(2);
  readers_in--;
  rumpuser_rw_exit(rw);
  return NULL;
}
static void *writer(void *arg) {
  (void)arg;
  rumpuser_rw_enter(RUMPUSER_RW_WRITER, rw);
  writer_in = 1;
  writer_saw_readers = readers_in;
  int held;
  rumpuser_rw_held(RUMPUSER_RW_WRITER, rw, &held);
  assert_true(held);
  sleep_ms(2);
  writer_in = 0;
  order[norder++] = 100;
  rumpuser_rw_exit(rw);
  return NULL;
}
static void *late_reader(void *arg) {
  (void)arg;
  sleep_ms(1); /* arrives while the writer waits for the first readers */
  rumpuser_rw_enter(RUMPUSER_RW_READER, rw);
  order[norder++] = 200;
  rumpuser_rw_exit(rw);
  return NULL;
}

static void test_rwlock_readers_share_writer_excludes_and_goes_first(void **s) {
  (void)s;
  rumpuser_rw_init(&rw);
  readers_in = max_readers = writer_in = norder = 0;
  void *c[5];
  c[0] = spawn(reader, NULL);
  c[1] = spawn(reader, NULL);
  c[2] = spawn(writer, NULL);
  c[3] = spawn(late_reader, NULL);
  c[4] = spawn(reader, NULL); /* created after the writer queued: waits behind it */
  for (int i = 0; i < 5; i++) rumpuser_thread_join(c[i]);
  assert_int_equal(max_readers, 2);
  assert_int_equal(writer_saw_readers, 0);
  assert_int_equal(order[0], 100); /* writer before the late reader */
  assert_int_equal(order[1], 200);
  /* upgrade and downgrade */
  rumpuser_rw_enter(RUMPUSER_RW_READER, rw);
  assert_int_equal(rumpuser_rw_tryupgrade(rw), 0);
  int held;
  rumpuser_rw_held(RUMPUSER_RW_WRITER, rw, &held);
  assert_true(held);
  assert_int_equal(rumpuser_rw_tryenter(RUMPUSER_RW_READER, rw), 16);
  rumpuser_rw_downgrade(rw);
  assert_int_equal(rumpuser_rw_tryenter(RUMPUSER_RW_READER, rw), 0);
  assert_int_equal(rumpuser_rw_tryupgrade(rw), 16); /* two readers: no upgrade */
  rumpuser_rw_exit(rw);
  rumpuser_rw_exit(rw);
  rumpuser_rw_held(RUMPUSER_RW_READER, rw, &held);
  assert_false(held);
  rumpuser_rw_destroy(rw);
}

/* ---- parameters, memory, randomness, console ---- */

static void test_getparam(void **s) {
  (void)s;
  char buf[32];
  host_cmdline[0][0] = "RUMP_VERBOSE";
  host_cmdline[0][1] = "1";
  assert_int_equal(rumpuser_getparam("RUMP_VERBOSE", buf, sizeof(buf)), 0);
  assert_string_equal(buf, "1");
  assert_int_equal(rumpuser_getparam(RUMPUSER_PARAM_NCPU, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "1");
  assert_int_equal(rumpuser_getparam(RUMPUSER_PARAM_HOSTNAME, buf, 4), 7 /* E2BIG */);
  assert_int_equal(rumpuser_getparam("NOPE", buf, sizeof(buf)), 2 /* ENOENT */);
  host_cmdline[0][0] = NULL;
}

static void test_malloc_alignment_and_errors(void **s) {
  (void)s;
  for (int a = 8; a <= 4096; a *= 2) {
    void *p = NULL;
    assert_int_equal(rumpuser_malloc(100, a, &p), 0);
    assert_int_equal((uintptr_t)p % (uintptr_t)a, 0);
    memset(p, 0xa5, 100);
    rumpuser_free(p, 100);
  }
  void *p;
  assert_int_equal(rumpuser_malloc(10, 24, &p), 22 /* EINVAL */);
}

static void test_getrandom_fills_and_varies(void **s) {
  (void)s;
  unsigned char a[32], b[32];
  size_t n = 0;
  memset(a, 0, sizeof(a));
  memset(b, 0, sizeof(b));
  assert_int_equal(rumpuser_getrandom(a, sizeof(a), 0, &n), 0);
  assert_int_equal(n, sizeof(a));
  assert_int_equal(rumpuser_getrandom(b, sizeof(b), RUMPUSER_RANDOM_HARD, &n), 0);
  assert_memory_not_equal(a, b, sizeof(a));
}

static void test_dprintf_formats(void **s) {
  (void)s;
  host_console_len = 0;
  rumpuser_dprintf("%s=%d %05u %x %-3s| %p %lld %c", "k", -42, 7u, 0xbeefu, "ab", (void *)0x10,
                   (long long)-9000000000, 'z');
  assert_string_equal(host_console, "k=-42 00007 beef ab | 0x10 -9000000000 z");
  rumpuser_putchar('!');
  assert_int_equal(host_console[host_console_len - 1], '!');
}

/* ---- curlwp is per thread; the rump kernel's CPU is released around blocking ---- */

static void *lwp_thread(void *arg) {
  rumpuser_curlwpop(RUMPUSER_LWP_SET, arg);
  sleep_ms(1);
  return rumpuser_curlwp();
}

static void test_curlwp_per_thread(void **s) {
  (void)s;
  rumpuser_curlwpop(RUMPUSER_LWP_SET, (struct lwp *)0x1);
  void *c1 = spawn(lwp_thread, (void *)0x2), *c2 = spawn(lwp_thread, (void *)0x3);
  rumpuser_thread_join(c1);
  rumpuser_thread_join(c2);
  assert_ptr_equal(rumpuser_curlwp(), (struct lwp *)0x1);
  rumpuser_curlwpop(RUMPUSER_LWP_CLEAR, NULL);
}

static int unscheds, scheds;
static void h_unsched(int n, int *nlocks, void *interlock) {
  (void)n, (void)interlock;
  unscheds++;
  *nlocks = 3;
}
static void h_sched(int nlocks, void *interlock) {
  (void)interlock;
  assert_int_equal(nlocks, 3);
  scheds++;
}

static void test_hyperup_hooks_wrap_blocking_calls(void **s) {
  (void)s;
  struct rumpuser_hyperup h;
  memset(&h, 0, sizeof(h));
  h.hyp_backend_unschedule = h_unsched;
  h.hyp_backend_schedule = h_sched;
  assert_int_equal(rumpuser_init(16, &h), 1); /* wrong version refused */
  assert_int_equal(rumpuser_init(RUMPUSER_VERSION, &h), 0);
  unscheds = scheds = 0;
  sleep_ms(1);
  assert_int_equal(unscheds, 1);
  assert_int_equal(scheds, 1);
  rumpuser_mutex_init(&mtx, RUMPUSER_MTX_KMUTEX);
  rumpuser_mutex_enter(mtx); /* uncontended: no release */
  rumpuser_mutex_exit(mtx);
  assert_int_equal(unscheds, 1);
  rumpuser_mutex_destroy(mtx);
  rumpuser_init(RUMPUSER_VERSION, NULL);
}

static void test_no_deadlock_and_stacks_reclaimed(void **s) {
  (void)s;
  struct bmk_sched_stats st;
  bmk_sched_stats(&st);
  assert_int_equal(host_deadlocks, 0);
  assert_int_equal(st.threads_live, 1); /* only the main thread is left */
  assert_true(st.threads_created > 20);
}

int main(void) {
  bmk_sched_init(&host_platform);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_threads_run_in_creation_order_and_join),
      cmocka_unit_test(test_sleep_wakes_at_deadline_in_deadline_order),
      cmocka_unit_test(test_mutex_excludes_and_hands_off_in_order),
      cmocka_unit_test(test_mutex_tryenter_and_owner),
      cmocka_unit_test(test_mutex_tryenter_busy_from_other_thread),
      cmocka_unit_test(test_mutex_recursive_enter_halts),
      cmocka_unit_test(test_cv_signal_wakes_one_broadcast_all),
      cmocka_unit_test(test_cv_timedwait_times_out_exactly_and_can_be_signalled),
      cmocka_unit_test(test_rwlock_readers_share_writer_excludes_and_goes_first),
      cmocka_unit_test(test_getparam),
      cmocka_unit_test(test_malloc_alignment_and_errors),
      cmocka_unit_test(test_getrandom_fills_and_varies),
      cmocka_unit_test(test_dprintf_formats),
      cmocka_unit_test(test_curlwp_per_thread),
      cmocka_unit_test(test_hyperup_hooks_wrap_blocking_calls),
      cmocka_unit_test(test_no_deadlock_and_stacks_reclaimed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
