/* UDP semantics, and select()/poll() readiness and timeouts. */
#include "fixture.h"

static void udp_echo_sendto_recvfrom(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_udp_echo(f.n, PEER, 7);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  struct efisock_sockaddr_in to = fx_sin(PEER, 7), from;
  assert_int_equal(efisock_sendto(f.net, s, "ping", 4, 0, SA(&to), sizeof(to)), 4);
  char b[16];
  efisock_socklen_t fl = sizeof(from);
  assert_int_equal(efisock_recvfrom(f.net, s, b, sizeof(b), 0, SA(&from), &fl), 4);
  assert_memory_equal(b, "ping", 4);
  assert_int_equal(fl, sizeof(from));
  assert_int_equal(efisock_ntohl(from.sin_addr.s_addr), PEER);
  assert_int_equal(efisock_ntohs(from.sin_port), 7);
  struct efisock_sockaddr_in me;
  efisock_socklen_t ml = sizeof(me);
  efisock_getsockname(f.net, s, SA(&me), &ml);
  assert_true(efisock_ntohs(me.sin_port) != 0); /* auto-bound on first send */
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void udp_truncation_and_msg_trunc(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_udp_echo(f.n, PEER, 7);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  struct efisock_sockaddr_in to = fx_sin(PEER, 7);
  uint8_t big[1000];
  fill_pattern(big, sizeof(big), 1);
  efisock_sendto(f.net, s, big, sizeof(big), 0, SA(&to), sizeof(to));
  efisock_sendto(f.net, s, big, sizeof(big), 0, SA(&to), sizeof(to));
  uint8_t b[100];
  /* the rest of a datagram is discarded, as on Linux */
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), 0), 100);
  assert_memory_equal(b, big, 100);
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), EFISOCK_MSG_TRUNC), 1000);
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), EFISOCK_MSG_DONTWAIT), -1);
  assert_errno(&f, EFISOCK_EAGAIN);
  uint8_t huge[65508];
  assert_int_equal(efisock_sendto(f.net, s, huge, sizeof(huge), 0, SA(&to), sizeof(to)), -1);
  assert_errno(&f, EFISOCK_EMSGSIZE);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void udp_connected_filters_and_refused(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_udp_echo(f.n, PEER, 7);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  struct efisock_sockaddr_in bind_to = fx_sin(0, 5000);
  assert_int_equal(efisock_bind(f.net, s, SA(&bind_to), sizeof(bind_to)), 0);
  struct efisock_sockaddr_in peer = fx_sin(PEER, 7);
  assert_int_equal(efisock_connect(f.net, s, SA(&peer), sizeof(peer)), 0);
  /* someone else's datagram is not delivered to a connected socket */
  fnet_udp_send(f.n, FNET_IP(10, 0, 2, 99), 7, GUEST, 5000, "spoof", 5);
  assert_int_equal(efisock_send(f.net, s, "real", 4, 0), 4);
  char b[8];
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), 0), 4);
  assert_memory_equal(b, "real", 4);
  assert_int_equal(efisock_send(f.net, s, "x", 1, 0), 1);
  assert_int_equal(efisock_send(f.net, s, NULL, 0, 0), 0); /* empty datagram */
  efisock_close(f.net, s);
  /* a closed port on a live host: ICMP port unreachable, ECONNREFUSED */
  s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  struct efisock_sockaddr_in closed = fx_sin(PEER, 9);
  assert_int_equal(efisock_connect(f.net, s, SA(&closed), sizeof(closed)), 0);
  assert_int_equal(efisock_send(f.net, s, "x", 1, 0), 1);
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), 0), -1);
  assert_errno(&f, EFISOCK_ECONNREFUSED);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void udp_unconnected_send_needs_address(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  assert_int_equal(efisock_send(f.net, s, "x", 1, 0), -1);
  assert_errno(&f, EFISOCK_EDESTADDRREQ);
  assert_int_equal(efisock_listen(f.net, s, 1), -1);
  assert_errno(&f, EFISOCK_EOPNOTSUPP);
  int u2 = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  struct efisock_sockaddr_in a = fx_sin(0, 6000);
  assert_int_equal(efisock_bind(f.net, s, SA(&a), sizeof(a)), 0);
  assert_int_equal(efisock_bind(f.net, u2, SA(&a), sizeof(a)), -1);
  assert_errno(&f, EFISOCK_EADDRINUSE);
  efisock_close(f.net, u2);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void udp_receive_queue_overflow_drops(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  struct efisock_sockaddr_in a = fx_sin(0, 7000);
  efisock_bind(f.net, s, SA(&a), sizeof(a));
  int small = 1200; /* doubled to 2400 as on Linux: two 1000-byte datagrams fit */
  efisock_setsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_RCVBUF, &small, sizeof(small));
  int got = 0;
  efisock_socklen_t l = sizeof(got);
  efisock_getsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_RCVBUF, &got, &l);
  assert_int_equal(got, 2400);
  uint8_t d[1000] = {0};
  for (int i = 0; i < 5; i++) fnet_udp_send(f.n, PEER, 1234, GUEST, 7000, d, sizeof(d));
  fakefw_advance(f.fw, 100000000);
  efinet_progress(f.net);
  struct efinet_stats es;
  efinet_get_stats(f.net, s, &es);
  assert_int_equal(es.udp_dropped, 3);
  uint8_t b[1000];
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), EFISOCK_MSG_DONTWAIT), 1000);
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), EFISOCK_MSG_DONTWAIT), 1000);
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), EFISOCK_MSG_DONTWAIT), -1);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void select_read_write_listen_and_timeout(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_discard(f.n, PEER, 9);
  int c = fx_connect(&f, 9);
  int ls = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  struct efisock_sockaddr_in a = fx_sin(0, 9000);
  efisock_bind(f.net, ls, SA(&a), sizeof(a));
  efisock_listen(f.net, ls, 4);
  efisock_fd_set r, w;
  EFISOCK_FD_ZERO(&r);
  EFISOCK_FD_ZERO(&w);
  EFISOCK_FD_SET(c, &r);
  EFISOCK_FD_SET(ls, &r);
  EFISOCK_FD_SET(c, &w);
  struct efisock_timeval tv = {1, 0};
  /* writable at once; nothing readable */
  assert_int_equal(efisock_select(f.net, ls + 1, &r, &w, NULL, &tv), 1);
  assert_true(EFISOCK_FD_ISSET(c, &w));
  assert_false(EFISOCK_FD_ISSET(c, &r));
  /* readable: timeout with nothing, measured on the virtual clock */
  EFISOCK_FD_ZERO(&r);
  EFISOCK_FD_SET(c, &r);
  EFISOCK_FD_SET(ls, &r);
  tv.tv_sec = 0;
  tv.tv_usec = 300000;
  uint64_t t0 = fakefw_now_ns(f.fw);
  assert_int_equal(efisock_select(f.net, ls + 1, &r, NULL, NULL, &tv), 0);
  uint64_t dt = fakefw_now_ns(f.fw) - t0;
  assert_true(dt >= 300000000ull && dt < 320000000ull);
  assert_false(EFISOCK_FD_ISSET(c, &r));
  /* data and a connection arrive */
  fnet_conn_send(fnet_last_conn(f.n), "data", 4);
  fnet_tcp_connect(f.n, PEER, GUEST, 9000, NULL, NULL);
  EFISOCK_FD_ZERO(&r);
  EFISOCK_FD_SET(ls, &r);
  tv.tv_sec = 2;
  tv.tv_usec = 0;
  assert_int_equal(efisock_select(f.net, ls + 1, &r, NULL, NULL, &tv), 1); /* the connection */
  EFISOCK_FD_ZERO(&r);
  EFISOCK_FD_SET(c, &r);
  EFISOCK_FD_SET(ls, &r);
  int ready = efisock_select(f.net, ls + 1, &r, NULL, NULL, &tv);
  assert_int_equal(ready, 2);
  assert_true(EFISOCK_FD_ISSET(c, &r) && EFISOCK_FD_ISSET(ls, &r));
  /* bad descriptor */
  EFISOCK_FD_ZERO(&r);
  EFISOCK_FD_SET(50, &r);
  assert_int_equal(efisock_select(f.net, 51, &r, NULL, NULL, &tv), -1);
  assert_errno(&f, EFISOCK_EBADF);
  efisock_close(f.net, c);
  efisock_close(f.net, ls);
  fx_teardown(&f);
}

static void poll_events_hup_nval(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_source(f.n, PEER, 19, 10, true);
  int c = fx_connect(&f, 19);
  struct efisock_pollfd p[3] = {{c, EFISOCK_POLLIN, 0}, {99, EFISOCK_POLLIN, 0}, {-1, EFISOCK_POLLIN, 0}};
  /* POLLNVAL counts as ready: poll returns at once, as on Linux */
  assert_int_equal(efisock_poll(f.net, p, 3, 1000), 1);
  assert_int_equal(p[1].revents, EFISOCK_POLLNVAL);
  assert_int_equal(efisock_poll(f.net, p, 1, 1000), 1);
  assert_int_equal(efisock_poll(f.net, p, 3, 1000), 2);
  assert_true(p[0].revents & EFISOCK_POLLIN);
  assert_int_equal(p[1].revents, EFISOCK_POLLNVAL);
  assert_int_equal(p[2].revents, 0);
  char b[32];
  assert_int_equal(efisock_recv(f.net, c, b, sizeof(b), EFISOCK_MSG_WAITALL), 10);
  /* after EOF: readable (returns 0) */
  p[0].revents = 0;
  assert_int_equal(efisock_poll(f.net, p, 1, 0), 1);
  assert_true(p[0].revents & EFISOCK_POLLIN);
  assert_int_equal(efisock_shutdown(f.net, c, EFISOCK_SHUT_WR), 0);
  assert_int_equal(efisock_poll(f.net, p, 1, 0), 1);
  assert_true(p[0].revents & EFISOCK_POLLHUP); /* both directions closed */
  /* unconnected TCP socket: POLLOUT|POLLHUP, as Linux reports */
  int n = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  struct efisock_pollfd q = {n, EFISOCK_POLLIN | EFISOCK_POLLOUT, 0};
  assert_int_equal(efisock_poll(f.net, &q, 1, 0), 1);
  assert_int_equal(q.revents, EFISOCK_POLLOUT | EFISOCK_POLLHUP);
  efisock_close(f.net, n);
  efisock_close(f.net, c);
  fx_teardown(&f);
}

/* Idle waits halt: a 5 s select with no traffic spends almost all of its
 * time in WaitForEvent, under the adaptive policy and under "never";
 * "always" busy-polls. The figures are virtual time, exact and repeatable. */
static double idle_busy_fraction(enum efinet_poll_policy pol, uint64_t *polls) {
  struct efinet_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.poll_policy = pol;
  struct fx f;
  fx_setup_with(&f, NULL, &cfg, EFINET_IP_STATIC);
  fnet_peer_discard(f.n, PEER, 9);
  int c = fx_connect(&f, 9);
  struct efinet_stats before, after;
  efinet_get_stats(f.net, -1, &before);
  uint64_t b0 = fakefw_busy_ns(f.fw), t0 = fakefw_now_ns(f.fw);
  efisock_fd_set r;
  EFISOCK_FD_ZERO(&r);
  EFISOCK_FD_SET(c, &r);
  struct efisock_timeval tv = {5, 0};
  assert_int_equal(efisock_select(f.net, c + 1, &r, NULL, NULL, &tv), 0);
  uint64_t busy = fakefw_busy_ns(f.fw) - b0, total = fakefw_now_ns(f.fw) - t0;
  efinet_get_stats(f.net, -1, &after);
  *polls = after.polls - before.polls;
  efisock_close(f.net, c);
  fx_teardown(&f);
  return (double)busy / (double)total;
}

static void idle_select_does_not_spin(void **st) {
  (void)st;
  uint64_t pa, pn, pw;
  double adaptive = idle_busy_fraction(EFINET_POLL_ADAPTIVE, &pa);
  double never = idle_busy_fraction(EFINET_POLL_NEVER, &pn);
  double always = idle_busy_fraction(EFINET_POLL_ALWAYS, &pw);
  printf("# idle select(5s): busy fraction adaptive=%.4f (%llu polls) never=%.4f (%llu) "
         "always=%.4f (%llu)\n",
         adaptive, (unsigned long long)pa, never, (unsigned long long)pn, always,
         (unsigned long long)pw);
  assert_true(adaptive < 0.02);
  assert_int_equal(pn, 0);
  assert_true(always > 0.9);
  assert_true(pa * 20 < pw);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(udp_echo_sendto_recvfrom),
      cmocka_unit_test(udp_truncation_and_msg_trunc),
      cmocka_unit_test(udp_connected_filters_and_refused),
      cmocka_unit_test(udp_unconnected_send_needs_address),
      cmocka_unit_test(udp_receive_queue_overflow_drops),
      cmocka_unit_test(select_read_write_listen_and_timeout),
      cmocka_unit_test(poll_events_hup_nval),
      cmocka_unit_test(idle_select_does_not_spin),
  };
  return cmocka_run_group_tests_name("udp_select", tests, NULL, NULL);
}
