/* TCP socket semantics over the fake firmware: connect, data, EOF, reset,
 * half-close, partial reads, non-blocking modes, accept and backlog. */
#include "fixture.h"
#include "fwbase/pattern.h"

static void connect_ok_and_echo(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_echo(f.n, PEER, 7);
  int s = fx_connect(&f, 7);
  assert_int_equal(efisock_send(f.net, s, "hello", 5, 0), 5);
  char buf[16] = {0};
  assert_int_equal(efisock_recv(f.net, s, buf, sizeof(buf), 0), 5);
  assert_memory_equal(buf, "hello", 5);
  struct efisock_sockaddr_in me, peer;
  efisock_socklen_t l = sizeof(me);
  assert_int_equal(efisock_getsockname(f.net, s, SA(&me), &l), 0);
  assert_int_equal(efisock_ntohl(me.sin_addr.s_addr), GUEST);
  assert_true(efisock_ntohs(me.sin_port) != 0);
  l = sizeof(peer);
  assert_int_equal(efisock_getpeername(f.net, s, SA(&peer), &l), 0);
  assert_int_equal(efisock_ntohs(peer.sin_port), 7);
  assert_int_equal(efisock_close(f.net, s), 0);
  fx_teardown(&f);
}

/* The per-Poll loops visit descriptor slots up to the highest in use: a
 * socket alone in a high slot (the ones below closed), and a socket in a
 * slot freed when the highest closed, must still be Polled and served. */
static void echo_polled(struct fx *f, int s) {
  struct efinet_stats s0, s1;
  efinet_get_stats(f->net, s, &s0);
  char buf[8] = {0};
  assert_int_equal(efisock_send(f->net, s, "hey", 3, 0), 3);
  assert_int_equal(efisock_recv(f->net, s, buf, sizeof(buf), 0), 3);
  assert_memory_equal(buf, "hey", 3);
  efinet_get_stats(f->net, s, &s1);
  assert_true(s1.polls > s0.polls); /* the only socket: Polls go to its protocol */
}

static void sockets_around_closed_slots_keep_working(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_echo(f.n, PEER, 7);
  int a = fx_connect(&f, 7), b = fx_connect(&f, 7), c = fx_connect(&f, 7);
  assert_true(a < b && b < c);
  assert_int_equal(efisock_close(f.net, a), 0);
  assert_int_equal(efisock_close(f.net, b), 0);
  echo_polled(&f, c);
  assert_int_equal(efisock_close(f.net, c), 0);
  int d = fx_connect(&f, 7); /* the lowest free slot again */
  assert_int_equal(d, a);
  echo_polled(&f, d);
  assert_int_equal(efisock_close(f.net, d), 0);
  fx_teardown(&f);
}

static void connect_refused(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_host(f.n, PEER, FNET_HOST_UP); /* host up, nothing listening: RST */
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  struct efisock_sockaddr_in a = fx_sin(PEER, 9999);
  assert_int_equal(efisock_connect(f.net, s, SA(&a), sizeof(a)), -1);
  assert_errno(&f, EFISOCK_ECONNREFUSED);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void connect_unreachable(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  struct efisock_sockaddr_in a = fx_sin(FNET_IP(192, 0, 2, 1), 80); /* off-link, unknown */
  assert_int_equal(efisock_connect(f.net, s, SA(&a), sizeof(a)), -1);
  assert_errno(&f, EFISOCK_ENETUNREACH);
  fnet_host(f.n, FNET_IP(192, 0, 2, 2), FNET_HOST_UNREACH_HOST);
  a = fx_sin(FNET_IP(192, 0, 2, 2), 80);
  assert_int_equal(efisock_connect(f.net, s, SA(&a), sizeof(a)), -1);
  assert_errno(&f, EFISOCK_EHOSTUNREACH);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void connect_timeout_blackhole(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_host(f.n, PEER, FNET_HOST_BLACKHOLE);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  struct efisock_sockaddr_in a = fx_sin(PEER, 80);
  uint64_t t0 = fakefw_now_ns(f.fw);
  assert_int_equal(efisock_connect(f.net, s, SA(&a), sizeof(a)), -1);
  assert_errno(&f, EFISOCK_ETIMEDOUT);
  /* the firmware's connection timeout (75 s), not earlier */
  assert_true(fakefw_now_ns(f.fw) - t0 >= 75ull * 1000000000ull);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void connect_nonblocking_select_so_error(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_echo(f.n, PEER, 7);
  fnet_host(f.n, FNET_IP(10, 0, 2, 101), FNET_HOST_UP);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM | EFISOCK_SOCK_NONBLOCK, 0);
  struct efisock_sockaddr_in a = fx_sin(PEER, 7);
  assert_int_equal(efisock_connect(f.net, s, SA(&a), sizeof(a)), -1);
  assert_errno(&f, EFISOCK_EINPROGRESS);
  assert_int_equal(efisock_connect(f.net, s, SA(&a), sizeof(a)), -1);
  assert_errno(&f, EFISOCK_EALREADY);
  efisock_fd_set w;
  EFISOCK_FD_ZERO(&w);
  EFISOCK_FD_SET(s, &w);
  struct efisock_timeval tv = {2, 0};
  assert_int_equal(efisock_select(f.net, s + 1, NULL, &w, NULL, &tv), 1);
  assert_true(EFISOCK_FD_ISSET(s, &w));
  int err = -1;
  efisock_socklen_t l = sizeof(err);
  assert_int_equal(efisock_getsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_ERROR, &err, &l), 0);
  assert_int_equal(err, 0);
  /* as on Linux: the next connect() reports the success once, then EISCONN */
  assert_int_equal(efisock_connect(f.net, s, SA(&a), sizeof(a)), 0);
  assert_int_equal(efisock_connect(f.net, s, SA(&a), sizeof(a)), -1);
  assert_errno(&f, EFISOCK_EISCONN);
  efisock_close(f.net, s);

  /* refused, seen through poll and SO_ERROR */
  s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM | EFISOCK_SOCK_NONBLOCK, 0);
  a = fx_sin(FNET_IP(10, 0, 2, 101), 1);
  assert_int_equal(efisock_connect(f.net, s, SA(&a), sizeof(a)), -1);
  assert_errno(&f, EFISOCK_EINPROGRESS);
  struct efisock_pollfd p = {s, EFISOCK_POLLOUT, 0};
  assert_int_equal(efisock_poll(f.net, &p, 1, 2000), 1);
  assert_true(p.revents & EFISOCK_POLLOUT);
  assert_true(p.revents & EFISOCK_POLLERR);
  assert_true(p.revents & EFISOCK_POLLHUP);
  l = sizeof(err);
  assert_int_equal(efisock_getsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_ERROR, &err, &l), 0);
  assert_string_equal(efisock_errname(err), "ECONNREFUSED");
  l = sizeof(err);
  efisock_getsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_ERROR, &err, &l);
  assert_int_equal(err, 0); /* SO_ERROR clears */
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void large_echo_1mb(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_echo(f.n, PEER, 7);
  int s = fx_connect(&f, 7);
  size_t n = 1 << 20;
  uint8_t *out = malloc(n), *in = malloc(n);
  fill_pattern(out, n, 3);
  size_t sent = 0, got = 0;
  /* interleave so neither direction's window stalls the other */
  while (got < n) {
    if (sent < n) {
      size_t chunk = n - sent < 65536 ? n - sent : 65536;
      efisock_ssize_t r = efisock_send(f.net, s, out + sent, chunk, EFISOCK_MSG_DONTWAIT);
      if (r > 0) sent += (size_t)r;
    }
    efisock_ssize_t r = efisock_recv(f.net, s, in + got, n - got, sent < n ? EFISOCK_MSG_DONTWAIT : 0);
    if (r > 0) got += (size_t)r;
    else assert_true(r < 0 && ERRNO(&f) == EFISOCK_EAGAIN);
  }
  assert_memory_equal(in, out, n);
  free(out);
  free(in);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void recv_after_fin_returns_0(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_source(f.n, PEER, 19, 3000, true);
  int s = fx_connect(&f, 19);
  uint8_t buf[4096], want[3000];
  fill_pattern(want, 0, 0);
  fwb_pattern_fill(want, sizeof(want), 0);
  size_t got = 0;
  efisock_ssize_t r;
  while ((r = efisock_recv(f.net, s, buf + got, sizeof(buf) - got, 0)) > 0) got += (size_t)r;
  assert_int_equal(r, 0);
  assert_int_equal(got, 3000);
  assert_memory_equal(buf, want, 3000);
  assert_int_equal(efisock_recv(f.net, s, buf, 10, 0), 0); /* again: still EOF */
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void partial_reads_and_peek(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_source(f.n, PEER, 19, 1000, false);
  int s = fx_connect(&f, 19);
  char a[10], b[10];
  assert_int_equal(efisock_recv(f.net, s, a, 10, EFISOCK_MSG_PEEK), 10);
  assert_int_equal(efisock_recv(f.net, s, b, 10, EFISOCK_MSG_PEEK), 10);
  assert_memory_equal(a, b, 10);
  assert_int_equal(efisock_recv(f.net, s, b, 3, 0), 3);
  assert_memory_equal(a, b, 3);
  assert_int_equal(efisock_recv(f.net, s, b, 7, 0), 7);
  assert_memory_equal(a + 3, b, 7);
  uint8_t rest[2000];
  assert_int_equal(efisock_recv(f.net, s, rest, 990, EFISOCK_MSG_WAITALL), 990);
  assert_int_equal(fwb_pattern_check(rest, 990, 10), 990);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void peer_reset_gives_econnreset(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_reset_after(f.n, PEER, 80, 4);
  int s = fx_connect(&f, 80);
  assert_int_equal(efisock_send(f.net, s, "boom", 4, 0), 4);
  char b[8];
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), 0), -1);
  assert_errno(&f, EFISOCK_ECONNRESET);
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), 0), 0); /* then EOF, as on Linux */
  assert_int_equal(efisock_send(f.net, s, "x", 1, 0), -1);
  assert_errno(&f, EFISOCK_EPIPE);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void send_after_peer_close(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_source(f.n, PEER, 19, 0, true); /* closes at once */
  int s = fx_connect(&f, 19);
  char b[4];
  assert_int_equal(efisock_recv(f.net, s, b, 4, 0), 0);
  /* half-closed by the peer: sending is still allowed (CLOSE_WAIT) */
  assert_int_equal(efisock_send(f.net, s, "late", 4, 0), 4);
  struct efinet_stats stt;
  int ticks = 0;
  do { /* let time pass: the firmware's tick moves the frames */
    fakefw_advance(f.fw, 10000000);
    efinet_progress(f.net);
    efinet_get_stats(f.net, s, &stt);
  } while (stt.tx_completed < stt.tx_posted && ++ticks < 100);
  assert_int_equal(stt.tx_completed, stt.tx_posted);
  size_t len;
  const uint8_t *rx = fnet_conn_received(fnet_last_conn(f.n), &len);
  assert_int_equal(len, 4);
  assert_memory_equal(rx, "late", 4);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void half_close_shutdown_wr(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_echo(f.n, PEER, 7);
  int s = fx_connect(&f, 7);
  assert_int_equal(efisock_send(f.net, s, "abc", 3, 0), 3);
  assert_int_equal(efisock_shutdown(f.net, s, EFISOCK_SHUT_WR), 0);
  assert_int_equal(efisock_send(f.net, s, "d", 1, 0), -1);
  assert_errno(&f, EFISOCK_EPIPE);
  char b[8];
  /* the echo of what was sent before the FIN still arrives, then EOF */
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), EFISOCK_MSG_WAITALL), 3);
  assert_memory_equal(b, "abc", 3);
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), 0), 0);
  assert_true(fnet_conn_got_fin(fnet_last_conn(f.n)));
  efisock_close(f.net, s);
  fx_teardown(&f);
}

/* EDK2's Close() is a full close (QUIRKS.md close-is-full-close): the echo
 * is already on its way when shutdown(SHUT_WR) is called, and must not
 * arrive after the FIN's Close(), or the connection is reset. */
static void half_close_reply_in_flight_full_close(void **st) {
  (void)st;
  struct fx f;
  struct fakefw_opts o = {.close_is_full_close = true};
  fx_setup_with(&f, &o, NULL, EFINET_IP_STATIC);
  fnet_peer_echo(f.n, PEER, 7);
  int s = fx_connect(&f, 7);
  assert_int_equal(efisock_send(f.net, s, "abc", 3, 0), 3);
  assert_int_equal(efisock_shutdown(f.net, s, EFISOCK_SHUT_WR), 0);
  char b[8];
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), EFISOCK_MSG_WAITALL), 3);
  assert_memory_equal(b, "abc", 3);
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), 0), 0);
  assert_false(fnet_conn_got_reset(fnet_last_conn(f.n)));
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void nonblocking_recv_eagain(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_discard(f.n, PEER, 9);
  int s = fx_connect(&f, 9);
  char b[4];
  assert_int_equal(efisock_recv(f.net, s, b, 4, EFISOCK_MSG_DONTWAIT), -1);
  assert_errno(&f, EFISOCK_EAGAIN);
  assert_int_equal(efisock_fcntl(f.net, s, EFISOCK_F_SETFL, EFISOCK_O_NONBLOCK), 0);
  assert_true(efisock_fcntl(f.net, s, EFISOCK_F_GETFL, 0) & EFISOCK_O_NONBLOCK);
  assert_int_equal(efisock_recv(f.net, s, b, 4, 0), -1);
  assert_errno(&f, EFISOCK_EAGAIN);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void recv_timeout_so_rcvtimeo(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_discard(f.n, PEER, 9);
  int s = fx_connect(&f, 9);
  struct efisock_timeval tv = {0, 250000};
  assert_int_equal(efisock_setsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_RCVTIMEO, &tv, sizeof(tv)), 0);
  uint64_t t0 = fakefw_now_ns(f.fw);
  char b[4];
  assert_int_equal(efisock_recv(f.net, s, b, 4, 0), -1);
  assert_errno(&f, EFISOCK_EAGAIN);
  uint64_t dt = fakefw_now_ns(f.fw) - t0;
  assert_true(dt >= 250000000ull && dt < 300000000ull);
  struct efisock_timeval got;
  efisock_socklen_t l = sizeof(got);
  efisock_getsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_RCVTIMEO, &got, &l);
  assert_int_equal(got.tv_usec, 250000);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void nonblocking_send_fills_then_eagain(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_discard(f.n, PEER, 9);
  int s = fx_connect(&f, 9);
  fnet_conn_set_reading(fnet_last_conn(f.n), false); /* the peer stops reading */
  static uint8_t big[1 << 20];
  efisock_ssize_t total = 0, r;
  while ((r = efisock_send(f.net, s, big, sizeof(big), EFISOCK_MSG_DONTWAIT)) > 0) total += r;
  assert_int_equal(r, -1);
  assert_errno(&f, EFISOCK_EAGAIN);
  int sndbuf = 0;
  efisock_socklen_t l = sizeof(sndbuf);
  efisock_getsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_SNDBUF, &sndbuf, &l);
  assert_int_equal(total, sndbuf); /* exactly the send buffer was taken */
  struct efisock_pollfd p = {s, EFISOCK_POLLOUT, 0};
  assert_int_equal(efisock_poll(f.net, &p, 1, 0), 0);
  fnet_conn_set_reading(fnet_last_conn(f.n), true);
  assert_int_equal(efisock_poll(f.net, &p, 1, 1000), 1);
  assert_true(p.revents & EFISOCK_POLLOUT);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void accept_and_backlog(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  int ls = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  struct efisock_sockaddr_in a = fx_sin(0, 8080);
  assert_int_equal(efisock_bind(f.net, ls, SA(&a), sizeof(a)), 0);
  assert_int_equal(efisock_listen(f.net, ls, 2), 0);
  int v = 0;
  efisock_socklen_t l = sizeof(v);
  efisock_getsockopt(f.net, ls, EFISOCK_SOL_SOCKET, EFISOCK_SO_ACCEPTCONN, &v, &l);
  assert_int_equal(v, 1);
  struct fconn *c1 = fnet_tcp_connect(f.n, PEER, GUEST, 8080, NULL, NULL);
  struct fconn *c2 = fnet_tcp_connect(f.n, PEER, GUEST, 8080, NULL, NULL);
  struct fconn *c3 = fnet_tcp_connect(f.n, PEER, GUEST, 8080, NULL, NULL);
  struct fconn *c4 = fnet_tcp_connect(f.n, PEER, GUEST, 8080, NULL, NULL);
  struct efisock_pollfd p = {ls, EFISOCK_POLLIN, 0};
  assert_int_equal(efisock_poll(f.net, &p, 1, 1000), 1);
  /* let every SYN arrive before accepting anything */
  fakefw_advance(f.fw, 200000000);
  efinet_progress(f.net);
  struct efisock_sockaddr_in from;
  l = sizeof(from);
  int a1 = efisock_accept(f.net, ls, SA(&from), &l);
  assert_true(a1 >= 0);
  assert_int_equal(efisock_ntohl(from.sin_addr.s_addr), PEER);
  int a2 = efisock_accept(f.net, ls, NULL, NULL);
  assert_true(a2 >= 0);
  /* backlog 2: efi-net held two, the firmware's own backlog (2) the rest */
  assert_true(fnet_conn_established(c1) && fnet_conn_established(c2));
  unsigned est = fnet_conn_established(c3) + fnet_conn_established(c4);
  assert_true(est >= 1);
  fnet_conn_send(c2, "two", 3);
  char b[4];
  assert_int_equal(efisock_recv(f.net, a2, b, 3, EFISOCK_MSG_WAITALL), 3);
  assert_memory_equal(b, "two", 3);
  assert_int_equal(efisock_send(f.net, a1, "one", 3, 0), 3);
  efisock_close(f.net, a1);
  efisock_close(f.net, a2);
  assert_int_equal(efisock_accept(f.net, ls, NULL, NULL) >= 0, 1);
  efisock_close(f.net, ls); /* closes the not-yet-accepted ones too */
  fx_teardown(&f);
}

static void accept_nonblocking_and_errors(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  int ls = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM | EFISOCK_SOCK_NONBLOCK, 0);
  assert_int_equal(efisock_accept(f.net, ls, NULL, NULL), -1);
  assert_errno(&f, EFISOCK_EINVAL); /* not listening */
  struct efisock_sockaddr_in a = fx_sin(0, 8081);
  efisock_bind(f.net, ls, SA(&a), sizeof(a));
  efisock_listen(f.net, ls, 4);
  assert_int_equal(efisock_accept(f.net, ls, NULL, NULL), -1);
  assert_errno(&f, EFISOCK_EAGAIN);
  int s2 = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  assert_int_equal(efisock_bind(f.net, s2, SA(&a), sizeof(a)), -1);
  assert_errno(&f, EFISOCK_EADDRINUSE);
  efisock_close(f.net, s2);
  efisock_close(f.net, ls);
  fx_teardown(&f);
}

static void bad_descriptors_and_args(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  char b[4];
  assert_int_equal(efisock_recv(f.net, 42, b, 4, 0), -1);
  assert_errno(&f, EFISOCK_EBADF);
  assert_int_equal(efisock_close(f.net, 3), -1);
  assert_errno(&f, EFISOCK_EBADF);
  assert_int_equal(efisock_socket(f.net, 10 /* AF_INET6 */, EFISOCK_SOCK_STREAM, 0), -1);
  assert_errno(&f, EFISOCK_EAFNOSUPPORT);
  assert_int_equal(efisock_socket(f.net, EFISOCK_AF_INET, 5, 0), -1);
  assert_errno(&f, EFISOCK_ESOCKTNOSUPPORT);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  assert_int_equal(s, EFISOCK_FD_BASE);
  assert_int_equal(efisock_send(f.net, s, "x", 1, 0), -1);
  assert_errno(&f, EFISOCK_EPIPE); /* Linux: never connected */
  assert_int_equal(efisock_recv(f.net, s, b, 1, 0), -1);
  assert_errno(&f, EFISOCK_ENOTCONN);
  assert_int_equal(efisock_shutdown(f.net, s, EFISOCK_SHUT_WR), -1);
  assert_errno(&f, EFISOCK_ENOTCONN);
  struct efisock_sockaddr_in p;
  efisock_socklen_t l = sizeof(p);
  assert_int_equal(efisock_getpeername(f.net, s, SA(&p), &l), -1);
  assert_errno(&f, EFISOCK_ENOTCONN);
  int v = 1;
  assert_int_equal(efisock_setsockopt(f.net, s, EFISOCK_SOL_SOCKET, 999, &v, sizeof(v)), -1);
  assert_errno(&f, EFISOCK_ENOPROTOOPT);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void many_sockets_emfile(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  int fds[EFISOCK_MAX_SOCKETS];
  for (int i = 0; i < EFISOCK_MAX_SOCKETS; i++) {
    fds[i] = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
    assert_true(fds[i] >= 0);
  }
  assert_int_equal(efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0), -1);
  assert_errno(&f, EFISOCK_EMFILE);
  for (int i = 0; i < EFISOCK_MAX_SOCKETS; i++) efisock_close(f.net, fds[i]);
  fx_teardown(&f);
}

/* ---- options: each applies, or fails with an errno (efi-net/README.md) ---- */

static int setopt_int(struct fx *f, int s, int level, int name, int v) {
  return efisock_setsockopt(f->net, s, level, name, &v, sizeof(v));
}
static int getopt_int(struct fx *f, int s, int level, int name) {
  int v = -1;
  efisock_socklen_t l = sizeof(v);
  assert_int_equal(efisock_getsockopt(f->net, s, level, name, &v, &l), 0);
  return v;
}

/* Before connect()/listen() the options go into TCP4's ControlOption. */
static void opt_before_connect_reach_firmware(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_discard(f.n, PEER, 9);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  assert_int_equal(setopt_int(&f, s, EFISOCK_IPPROTO_TCP, EFISOCK_TCP_NODELAY, 1), 0);
  assert_int_equal(setopt_int(&f, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_KEEPALIVE, 1), 0);
  assert_int_equal(setopt_int(&f, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_RCVBUF, 8192), 0);
  assert_int_equal(getopt_int(&f, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_RCVBUF), 16384); /* doubled, as Linux */
  struct efisock_sockaddr_in a = fx_sin(PEER, 9);
  assert_int_equal(efisock_connect(f.net, s, SA(&a), sizeof(a)), 0);
  EFI_TCP4_OPTION o;
  assert_true(fnet_conn_guest_options(fnet_last_conn(f.n), &o));
  assert_false(o.EnableNagle);
  assert_true(o.KeepAliveProbes > 0);
  assert_int_equal(o.ReceiveBufferSize, 16384); /* what was asked, no floor */
  efisock_close(f.net, s);
  /* an accepted socket has its listener's options (TCP4 copies them) */
  int ls = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  assert_int_equal(setopt_int(&f, ls, EFISOCK_IPPROTO_TCP, EFISOCK_TCP_NODELAY, 1), 0);
  struct efisock_sockaddr_in la = fx_sin(0, 8081);
  assert_int_equal(efisock_bind(f.net, ls, SA(&la), sizeof(la)), 0);
  assert_int_equal(efisock_listen(f.net, ls, 2), 0);
  struct fconn *c = fnet_tcp_connect(f.n, PEER, GUEST, 8081, NULL, NULL);
  int as = efisock_accept(f.net, ls, NULL, NULL);
  assert_true(as >= 0);
  assert_int_equal(getopt_int(&f, as, EFISOCK_IPPROTO_TCP, EFISOCK_TCP_NODELAY), 1);
  assert_true(fnet_conn_guest_options(c, &o));
  assert_false(o.EnableNagle);
  efisock_close(f.net, as);
  efisock_close(f.net, ls);
  fx_teardown(&f);
}

/* After Configure() TCP4 takes no option: EFI_TCP4 has no other way to set
 * one, and TcpDxe answers EFI_ACCESS_DENIED to Configure() on a configured
 * instance. So a change fails with EISCONN; setting the value in force is 0. */
static void opt_after_connect_fail_eisconn(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_discard(f.n, PEER, 9);
  int s = fx_connect(&f, 9);
  assert_int_equal(setopt_int(&f, s, EFISOCK_IPPROTO_TCP, EFISOCK_TCP_NODELAY, 1), -1);
  assert_errno(&f, EFISOCK_EISCONN);
  assert_int_equal(getopt_int(&f, s, EFISOCK_IPPROTO_TCP, EFISOCK_TCP_NODELAY), 0);
  assert_int_equal(setopt_int(&f, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_KEEPALIVE, 1), -1);
  assert_errno(&f, EFISOCK_EISCONN);
  assert_int_equal(getopt_int(&f, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_KEEPALIVE), 0);
  int before = getopt_int(&f, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_RCVBUF);
  assert_int_equal(setopt_int(&f, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_RCVBUF, 8192), -1);
  assert_errno(&f, EFISOCK_EISCONN);
  assert_int_equal(getopt_int(&f, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_RCVBUF), before);
  assert_int_equal(setopt_int(&f, s, EFISOCK_IPPROTO_TCP, EFISOCK_TCP_NODELAY, 0), 0);
  assert_int_equal(setopt_int(&f, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_KEEPALIVE, 0), 0);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

/* SO_SNDBUF bounds what send() hands to TCP4 and has not been acknowledged. */
static void opt_sndbuf_limits_send(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_discard(f.n, PEER, 9);
  int s = fx_connect(&f, 9);
  fnet_conn_set_reading(fnet_last_conn(f.n), false);
  assert_int_equal(setopt_int(&f, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_SNDBUF, 8192), 0);
  assert_int_equal(getopt_int(&f, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_SNDBUF), 16384);
  static uint8_t big[1 << 18];
  efisock_ssize_t total = 0, r;
  while ((r = efisock_send(f.net, s, big, sizeof(big), EFISOCK_MSG_DONTWAIT)) > 0) total += r;
  assert_int_equal(r, -1);
  assert_errno(&f, EFISOCK_EAGAIN);
  assert_int_equal(total, 16384);
  struct efisock_pollfd p = {s, EFISOCK_POLLOUT, 0};
  assert_int_equal(efisock_poll(f.net, &p, 1, 0), 0);
  fnet_conn_set_reading(fnet_last_conn(f.n), true);
  assert_int_equal(efisock_poll(f.net, &p, 1, 1000), 1);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

/* SO_LINGER {1, 0}: close() aborts with Close(AbortOnClose): the peer sees
 * a RST, not a FIN. */
static void so_linger_zero_resets(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_discard(f.n, PEER, 9);
  int s = fx_connect(&f, 9);
  struct fconn *c = fnet_last_conn(f.n);
  struct efisock_linger l = {1, 0}, got = {7, 7};
  assert_int_equal(efisock_setsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_LINGER, &l, sizeof(l)), 0);
  efisock_socklen_t gl = sizeof(got);
  assert_int_equal(efisock_getsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_LINGER, &got, &gl), 0);
  assert_int_equal(gl, sizeof(got));
  assert_int_equal(got.l_onoff, 1);
  assert_int_equal(got.l_linger, 0);
  assert_int_equal(efisock_send(f.net, s, "abc", 3, 0), 3);
  assert_int_equal(efisock_close(f.net, s), 0);
  assert_true(fnet_conn_got_reset(c));
  assert_false(fnet_conn_got_fin(c));
  struct fakefw_leaks k;
  fakefw_leaks(f.fw, &k);
  assert_int_equal(k.children, 0); /* gone at once, no lingering zombie */
  fx_teardown(&f);
}

/* SO_LINGER {1, N}: close() returns once the graceful close is done. */
static void so_linger_waits_for_close(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_echo(f.n, PEER, 7); /* closes on our FIN */
  int s = fx_connect(&f, 7);
  struct fconn *c = fnet_last_conn(f.n);
  struct efisock_linger l = {1, 5};
  assert_int_equal(efisock_setsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_LINGER, &l, sizeof(l)), 0);
  assert_int_equal(efisock_close(f.net, s), 0);
  assert_true(fnet_conn_got_fin(c));
  assert_false(fnet_conn_got_reset(c));
  struct fakefw_leaks k;
  fakefw_leaks(f.fw, &k);
  assert_int_equal(k.children, 0); /* closed and destroyed before close() returned */
  fx_teardown(&f);
}

static void ioctl_fionread_fionbio(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_source(f.n, PEER, 19, 1000, false);
  int s = fx_connect(&f, 19);
  int n = -1;
  struct efisock_pollfd p = {s, EFISOCK_POLLIN, 0};
  assert_int_equal(efisock_poll(f.net, &p, 1, 1000), 1);
  assert_int_equal(efisock_ioctl(f.net, s, EFISOCK_FIONREAD, &n), 0);
  assert_true(n > 0 && n <= 1000);
  uint8_t buf[1000];
  assert_int_equal(efisock_recv(f.net, s, buf, sizeof(buf), 0), n); /* exactly what it said */
  size_t got = (size_t)n;
  while (got < 1000) {
    efisock_ssize_t r = efisock_recv(f.net, s, buf + got, sizeof(buf) - got, 0);
    assert_true(r > 0);
    got += (size_t)r;
  }
  assert_int_equal(efisock_ioctl(f.net, s, EFISOCK_FIONREAD, &n), 0);
  assert_int_equal(n, 0);
  int on = 1;
  assert_int_equal(efisock_ioctl(f.net, s, EFISOCK_FIONBIO, &on), 0);
  assert_true(efisock_fcntl(f.net, s, EFISOCK_F_GETFL, 0) & EFISOCK_O_NONBLOCK);
  uint64_t t0 = fakefw_now_ns(f.fw);
  assert_int_equal(efisock_recv(f.net, s, buf, sizeof(buf), 0), -1);
  assert_errno(&f, EFISOCK_EAGAIN);
  assert_true(fakefw_now_ns(f.fw) - t0 < 10000000ull); /* did not wait */
  on = 0;
  assert_int_equal(efisock_ioctl(f.net, s, EFISOCK_FIONBIO, &on), 0);
  assert_false(efisock_fcntl(f.net, s, EFISOCK_F_GETFL, 0) & EFISOCK_O_NONBLOCK);
  assert_int_equal(efisock_ioctl(f.net, s, 0x1234, &on), -1);
  assert_errno(&f, EFISOCK_EINVAL);
  assert_int_equal(efisock_ioctl(f.net, 60, EFISOCK_FIONREAD, &n), -1);
  assert_errno(&f, EFISOCK_EBADF);
  efisock_close(f.net, s);
  int ls = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  struct efisock_sockaddr_in la = fx_sin(0, 8082);
  efisock_bind(f.net, ls, SA(&la), sizeof(la));
  efisock_listen(f.net, ls, 1);
  assert_int_equal(efisock_ioctl(f.net, ls, EFISOCK_FIONREAD, &n), -1); /* as Linux */
  assert_errno(&f, EFISOCK_EINVAL);
  efisock_close(f.net, ls);
  fx_teardown(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(connect_ok_and_echo),
      cmocka_unit_test(sockets_around_closed_slots_keep_working),
      cmocka_unit_test(connect_refused),
      cmocka_unit_test(connect_unreachable),
      cmocka_unit_test(connect_timeout_blackhole),
      cmocka_unit_test(connect_nonblocking_select_so_error),
      cmocka_unit_test(large_echo_1mb),
      cmocka_unit_test(recv_after_fin_returns_0),
      cmocka_unit_test(partial_reads_and_peek),
      cmocka_unit_test(peer_reset_gives_econnreset),
      cmocka_unit_test(send_after_peer_close),
      cmocka_unit_test(half_close_shutdown_wr),
      cmocka_unit_test(half_close_reply_in_flight_full_close),
      cmocka_unit_test(nonblocking_recv_eagain),
      cmocka_unit_test(recv_timeout_so_rcvtimeo),
      cmocka_unit_test(nonblocking_send_fills_then_eagain),
      cmocka_unit_test(accept_and_backlog),
      cmocka_unit_test(accept_nonblocking_and_errors),
      cmocka_unit_test(bad_descriptors_and_args),
      cmocka_unit_test(many_sockets_emfile),
      cmocka_unit_test(opt_before_connect_reach_firmware),
      cmocka_unit_test(opt_after_connect_fail_eisconn),
      cmocka_unit_test(opt_sndbuf_limits_send),
      cmocka_unit_test(so_linger_zero_resets),
      cmocka_unit_test(so_linger_waits_for_close),
      cmocka_unit_test(ioctl_fionread_fionbio),
  };
  return cmocka_run_group_tests_name("tcp", tests, NULL, NULL);
}
