/* The hub: guest ports over socketpairs, a fake far-side handler, the
 * learning switch, rules on the way to a guest, and the capture hook. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include "hub.h"

static struct hub h;
static int peer[HUB_MAX_GUESTS]; /* the guest's end of each port */
static unsigned captured, up_seen, up_polled;
static bool up_takes_52_55;

static void cap(void *ctx, const uint8_t *f, size_t len) {
  (void)ctx, (void)f, (void)len;
  captured++;
}

static enum hub_verdict up_input(void *ctx, int from, const uint8_t *f, size_t len) {
  (void)ctx, (void)from, (void)len;
  up_seen++;
  return up_takes_52_55 && f[0] == 0x52 && f[1] == 0x55 ? HUB_TAKEN : HUB_PASS;
}

static int up_poll_fill(void *ctx, struct pollfd *pfd) {
  *pfd = (struct pollfd){*(int *)ctx, POLLIN, 0};
  return 1;
}

static void up_poll_done(void *ctx, const struct pollfd *pfd, uint64_t now) {
  (void)ctx, (void)now;
  if (pfd->revents & POLLIN) up_polled++;
}

static const struct hub_uplink_ops up_ops = {
    .name = "test",
    .input = up_input,
    .poll_fill = up_poll_fill,
    .poll_done = up_poll_done,
};
static int up_fd[2];

static int setup(void **st) {
  (void)st;
  hub_init(&h, 1);
  h.capture = cap;
  captured = up_seen = up_polled = 0;
  up_takes_52_55 = false;
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, up_fd), 0);
  assert_int_equal(hub_add_uplink(&h, &up_ops, &up_fd[0]), 0);
  for (int i = 0; i < 3; i++) {
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(hub_attach(&h, sv[0]), i);
    peer[i] = sv[1];
  }
  return 0;
}

static int teardown(void **st) {
  (void)st;
  for (int i = 0; i < HUB_MAX_GUESTS; i++)
    if (h.port[i].fd >= 0) close(h.port[i].fd);
  for (int i = 0; i < 3; i++) close(peer[i]);
  close(up_fd[0]), close(up_fd[1]);
  hub_destroy(&h);
  return 0;
}

static size_t frame(uint8_t *f, const char *dst, const char *src) {
  memset(f, 0, 60);
  for (int i = 0; i < 6; i++) {
    unsigned b;
    sscanf(dst + 3 * i, "%2x", &b), f[i] = (uint8_t)b;
    sscanf(src + 3 * i, "%2x", &b), f[6 + i] = (uint8_t)b;
  }
  f[12] = 0x08, f[13] = 0x00;
  f[14] = 0x45, f[16] = 0, f[17] = 46, f[23] = 17; /* IPv4, UDP */
  return 60;
}

/* The guest on port i sends f; one round of the loop runs. */
static void guest_sends(int i, const uint8_t *f, size_t len) {
  uint8_t b[4 + 60] = {0, 0, 0, (uint8_t)len};
  memcpy(b + 4, f, len);
  assert_int_equal(write(peer[i], b, 4 + len), (ssize_t)(4 + len));
  struct pollfd pfd[HUB_POLL_MAX];
  int n = hub_poll_fill(&h, pfd);
  assert_int_equal(n, HUB_MAX_GUESTS + 1);
  assert_true(poll(pfd, (nfds_t)n, 100) > 0);
  uint64_t now = hub_now_ns();
  hub_poll_done(&h, pfd, now);
  hub_run_due(&h, now + 1000000000ull);
}

/* The guests on ports i and j send a and b, both read in one round: the
 * hub forwards them interleaved, as a busy LAN does. */
static void guests_send_together(int i, const uint8_t *a, int j, const uint8_t *b, size_t len) {
  uint8_t w[4 + 60] = {0, 0, 0, (uint8_t)len};
  memcpy(w + 4, a, len);
  assert_int_equal(write(peer[i], w, 4 + len), (ssize_t)(4 + len));
  memcpy(w + 4, b, len);
  assert_int_equal(write(peer[j], w, 4 + len), (ssize_t)(4 + len));
  struct pollfd pfd[HUB_POLL_MAX];
  int n = hub_poll_fill(&h, pfd);
  assert_true(poll(pfd, (nfds_t)n, 100) > 0);
  uint64_t now = hub_now_ns();
  hub_poll_done(&h, pfd, now);
  for (int k = 0; k < 3; k++) hub_run_due(&h, now + 1000000000ull);
}

/* Frames waiting at the guest's end of port i. */
static int received(int i) {
  uint8_t b[4096];
  ssize_t n = recv(peer[i], b, sizeof(b), MSG_DONTWAIT);
  int frames = 0;
  for (ssize_t o = 0; o + 4 <= n; frames++) o += 4 + (b[o] << 24 | b[o + 1] << 16 | b[o + 2] << 8 | b[o + 3]);
  return frames;
}

/* Two guests' broadcasts crossing the hub at once: each is one frame on
 * the wire, written once, though the other's copy was captured between its
 * sending and its delivery (udp-broadcast's capture showed guest 1's
 * datagram twice, guest 2's MLD report between the copies). */
static void capture_once_with_interleaved_frames(void **st) {
  (void)st;
  h.capture_once = true;
  uint8_t a[60], b[60];
  size_t n = frame(a, "ff:ff:ff:ff:ff:ff", "52:54:00:00:00:01");
  frame(b, "33:33:ff:12:34:57", "52:54:00:00:00:02");
  guests_send_together(0, a, 1, b, n);
  assert_int_equal(received(2), 2);
  assert_int_equal(captured, 2);
}

/* The duplicate an impairment makes is a second frame on the guest's link:
 * written, though its original was captured when it was sent. */
static void capture_once_writes_an_impairment_duplicate(void **st) {
  (void)st;
  h.capture_once = true;
  struct impair_params p = {.duplicate = 1.0};
  impair_set(&h.port[1].to_guest, &p);
  uint8_t f[60];
  size_t n = frame(f, "ff:ff:ff:ff:ff:ff", "52:54:00:00:00:01");
  guest_sends(0, f, n);
  assert_int_equal(received(1), 2);
  assert_int_equal(received(2), 1);
  assert_int_equal(captured, 2);
}

static void broadcast_floods(void **st) {
  (void)st;
  uint8_t f[60];
  size_t n = frame(f, "ff:ff:ff:ff:ff:ff", "52:54:00:00:00:01");
  guest_sends(0, f, n);
  assert_int_equal(up_seen, 1);
  assert_int_equal(received(0), 0);
  assert_int_equal(received(1), 1);
  assert_int_equal(received(2), 1);
  assert_int_equal(captured, 3); /* off port 0's link, onto ports 1 and 2 */
}

/* --uplink-tap's capture: a broadcast as sent and as delivered to two
 * guests is one frame on the wire, written once; a second send is new. */
static void capture_once_writes_a_flood_once(void **st) {
  (void)st;
  h.capture_once = true;
  uint8_t f[60];
  size_t n = frame(f, "ff:ff:ff:ff:ff:ff", "52:54:00:00:00:01");
  guest_sends(0, f, n);
  assert_int_equal(received(1), 1);
  assert_int_equal(received(2), 1);
  assert_int_equal(captured, 1);
  guest_sends(0, f, n); /* the same bytes again: another frame */
  assert_int_equal(captured, 2);
}

/* `inject` from the far side: to the guests, never to a handler. */
static void injected_from_uplink_skips_handlers(void **st) {
  (void)st;
  uint8_t f[60];
  size_t n = frame(f, "ff:ff:ff:ff:ff:ff", "52:55:0a:00:02:02");
  assert_int_equal(hub_inject(&h, -1, f, n), 0);
  hub_run_due(&h, hub_now_ns() + 1000000000ull);
  assert_int_equal(up_seen, 0);
  assert_int_equal(received(0), 1);
  assert_int_equal(received(1), 1);
  assert_int_equal(hub_inject(&h, -1, f, 10), -EINVAL);
  assert_int_equal(hub_inject(&h, HUB_MAX_GUESTS, f, n), -EINVAL);
}

static void learned_unicast_goes_to_one_port(void **st) {
  (void)st;
  uint8_t f[60];
  size_t n = frame(f, "ff:ff:ff:ff:ff:ff", "52:54:00:00:00:02");
  guest_sends(1, f, n); /* port 1 is 52:54:00:00:00:02 from now on */
  received(0), received(2);
  n = frame(f, "52:54:00:00:00:02", "52:54:00:00:00:01");
  guest_sends(0, f, n);
  assert_int_equal(received(1), 1);
  assert_int_equal(received(2), 0);
  n = frame(f, "52:54:00:00:00:99", "52:54:00:00:00:01"); /* unknown: floods */
  guest_sends(0, f, n);
  assert_int_equal(received(1), 1);
  assert_int_equal(received(2), 1);
}

static void handler_takes_its_frames(void **st) {
  (void)st;
  up_takes_52_55 = true;
  uint8_t f[60];
  size_t n = frame(f, "52:55:0a:00:02:02", "52:54:00:00:00:01");
  guest_sends(0, f, n);
  assert_int_equal(up_seen, 1);
  assert_int_equal(received(1) + received(2), 0);
  assert_int_equal(captured, 1);
}

static void far_side_reaches_every_guest_through_rules(void **st) {
  (void)st;
  uint8_t f[60];
  size_t n = frame(f, "ff:ff:ff:ff:ff:ff", "52:55:0a:00:02:02");
  hub_from_uplink(&h, f, n);
  hub_run_due(&h, hub_now_ns() + 1000000000ull);
  for (int i = 0; i < 3; i++) assert_int_equal(received(i), 1);
  assert_int_equal(up_seen, 0); /* not offered back to the far side */
  char err[80];
  assert_int_equal(rules_add(&h.rules, "drop dir=to-guest nth=2", err, sizeof(err)), 0);
  hub_from_uplink(&h, f, n);
  hub_run_due(&h, hub_now_ns() + 1000000000ull);
  assert_int_equal(received(0) + received(1) + received(2), 2);
  assert_int_equal(h.port[1].to_guest.c.dropped, 1); /* the 2nd match: port 1's copy */
  hub_counters_reset(&h);
  assert_int_equal(h.port[1].to_guest.c.dropped, 0);
}

static void handler_poll_hooks(void **st) {
  (void)st;
  assert_int_equal(write(up_fd[1], "x", 1), 1);
  struct pollfd pfd[HUB_POLL_MAX];
  int n = hub_poll_fill(&h, pfd);
  assert_int_equal(n, HUB_MAX_GUESTS + 1);
  assert_int_equal(pfd[HUB_MAX_GUESTS].fd, up_fd[0]);
  assert_true(poll(pfd, (nfds_t)n, 100) > 0);
  hub_poll_done(&h, pfd, hub_now_ns());
  assert_int_equal(up_polled, 1);
}

static void ports_run_out(void **st) {
  (void)st;
  int extra[HUB_MAX_GUESTS];
  for (int i = 3; i < HUB_MAX_GUESTS; i++) {
    extra[i] = dup(peer[0]);
    assert_int_equal(hub_attach(&h, extra[i]), i);
  }
  int fd = dup(peer[0]);
  assert_int_equal(hub_attach(&h, fd), -ENOSPC);
  close(fd);
}

/* Regression (fuzz/ fuzz_netsim_frame): a guest's frame shorter than an
 * Ethernet header (here: length 0) went on to the handlers and the switch,
 * which read its destination MAC past the end (ASan: heap-buffer-overflow in
 * deliver). It is dropped at the port now. */
static void runt_frames_dropped(void **st) {
  (void)st;
  uint8_t f[60] = {0};
  guest_sends(0, f, 0);
  memset(f, 0xff, 13);
  guest_sends(0, f, 13);
  assert_int_equal(up_seen, 0);
  assert_int_equal(captured, 0);
  assert_int_equal(received(1) + received(2), 0);
  assert_int_equal((int)h.port[0].from_guest.c.dropped, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(runt_frames_dropped, setup, teardown),
      cmocka_unit_test_setup_teardown(broadcast_floods, setup, teardown),
      cmocka_unit_test_setup_teardown(capture_once_writes_a_flood_once, setup, teardown),
      cmocka_unit_test_setup_teardown(capture_once_with_interleaved_frames, setup, teardown),
      cmocka_unit_test_setup_teardown(capture_once_writes_an_impairment_duplicate, setup, teardown),
      cmocka_unit_test_setup_teardown(injected_from_uplink_skips_handlers, setup, teardown),
      cmocka_unit_test_setup_teardown(learned_unicast_goes_to_one_port, setup, teardown),
      cmocka_unit_test_setup_teardown(handler_takes_its_frames, setup, teardown),
      cmocka_unit_test_setup_teardown(far_side_reaches_every_guest_through_rules, setup, teardown),
      cmocka_unit_test_setup_teardown(handler_poll_hooks, setup, teardown),
      cmocka_unit_test_setup_teardown(ports_run_out, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
