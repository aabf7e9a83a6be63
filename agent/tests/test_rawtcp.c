/* The benchmarks' raw EFI_TCP4 driver over the fake firmware: every byte
 * arrives and is digested in stream order, and with several tokens each
 * frame lands in a token already waiting in the firmware (no Receive
 * completes inside the call: that path costs OVMF about ten times more and
 * made the reference slower than it is). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fakefw/fakefw.h"
#include "agent/netops.h"
#include "rawtcp.h"
#include "fwbase/pattern.h"

#define PEER FNET_IP(10, 0, 2, 100)

static struct fakefw *fw;

static uint64_t vclock(void *ctx) {
  (void)ctx;
  return fakefw_now_ns(fw);
}

static uint32_t pattern_crc(size_t n) {
  uint8_t *p = malloc(n);
  fwb_pattern_fill(p, n, 0); /* the fake source's bytes */
  uint32_t c = fwb_crc32(0, p, n);
  free(p);
  return c;
}

static struct raw_result run(unsigned tokens, uint32_t size, size_t bytes, int *rc) {
  fw = fakefw_create(NULL);
  struct fnet *n = fakefw_net(fw);
  fnet_peer_source(n, PEER, 19, bytes, true);
  struct raw_args a;
  memset(&a, 0, sizeof(a));
  a.addr.Addr[0] = 10, a.addr.Addr[1] = 0, a.addr.Addr[2] = 2, a.addr.Addr[3] = 100;
  a.gw.Addr[0] = 10, a.gw.Addr[1] = 0, a.gw.Addr[2] = 2, a.gw.Addr[3] = 2;
  a.port = 19;
  a.bytes = bytes;
  a.tokens = tokens;
  a.size = size;
  a.digest = 1;
  a.clock = vclock;
  struct raw_result r;
  *rc = raw_transfer(fakefw_st(fw), &a, &r);
  char why[256];
  assert_true(fakefw_leak_free(fw, why, sizeof(why)));
  fakefw_destroy(fw);
  return r;
}

static void several_tokens_wait_in_the_firmware(void **st) {
  (void)st;
  int rc;
  size_t n = 32 * 1048576 + 1000; /* long enough for 10 ms ticks to deliver frames between Polls */
  struct raw_result r = run(4, 16384, n, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(r.bytes, n);
  assert_int_equal(r.crc, pattern_crc(n));
  assert_true(r.completions > 0 && r.polls > 0);
  assert_int_equal(r.early, 0);
}

static void one_token_gets_everything_in_order(void **st) {
  (void)st;
  int rc;
  size_t n = 100000;
  struct raw_result r = run(1, 65536, n, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(r.bytes, n);
  assert_int_equal(r.crc, pattern_crc(n));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(several_tokens_wait_in_the_firmware),
      cmocka_unit_test(one_token_gets_everything_in_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
