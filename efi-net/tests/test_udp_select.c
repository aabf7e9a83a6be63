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

/* connect() reconfigures the UDP4 child (Configure(NULL), then the remote):
 * a datagram the firmware already delivered into the posted Receive stays
 * readable and its buffer is recycled, as Linux keeps its receive queue. */
static void udp_connect_keeps_delivered_datagram(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  struct efisock_sockaddr_in a = fx_sin(0, 5000);
  assert_int_equal(efisock_bind(f.net, s, SA(&a), sizeof(a)), 0);
  fnet_udp_send(f.n, PEER, 7, GUEST, 5000, "hello", 5);
  fakefw_advance(f.fw, 50000000); /* the firmware's tick delivers it into the Receive */
  struct efisock_sockaddr_in peer = fx_sin(PEER, 7);
  assert_int_equal(efisock_connect(f.net, s, SA(&peer), sizeof(peer)), 0);
  char b[16];
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), EFISOCK_MSG_DONTWAIT), 5);
  assert_memory_equal(b, "hello", 5);
  struct fakefw_leaks l;
  fakefw_leaks(f.fw, &l);
  assert_int_equal(l.rx_buffers, 0); /* recycled, not held across Configure */
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void udp_options_fionread(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  struct efisock_sockaddr_in a = fx_sin(0, 5001);
  assert_int_equal(efisock_bind(f.net, s, SA(&a), sizeof(a)), 0);
  int n = -1, v = 1;
  efisock_socklen_t l = sizeof(n);
  assert_int_equal(efisock_ioctl(f.net, s, EFISOCK_FIONREAD, &n), 0);
  assert_int_equal(n, 0);
  fnet_udp_send(f.n, PEER, 7, GUEST, 5001, "hello", 5);
  fnet_udp_send(f.n, PEER, 7, GUEST, 5001, "goodbye", 7);
  fakefw_advance(f.fw, 50000000);
  assert_int_equal(efisock_ioctl(f.net, s, EFISOCK_FIONREAD, &n), 0);
  assert_int_equal(n, 5); /* the next datagram, as Linux */
  /* SO_KEEPALIVE on UDP: kept, no effect, as Linux */
  assert_int_equal(efisock_setsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_KEEPALIVE, &v, sizeof(v)), 0);
  assert_int_equal(efisock_getsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_KEEPALIVE, &n, &l), 0);
  assert_int_equal(n, 1);
  v = 4096;
  assert_int_equal(efisock_setsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_SNDBUF, &v, sizeof(v)), 0);
  assert_int_equal(efisock_getsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_SNDBUF, &n, &l), 0);
  assert_int_equal(n, 8192);
  struct efisock_sockaddr_in to = fx_sin(PEER, 7);
  uint8_t big[10000] = {0}; /* one datagram may pass the limit, as on Linux */
  assert_int_equal(efisock_sendto(f.net, s, big, sizeof(big), 0, SA(&to), sizeof(to)), 10000);
  v = 1;
  assert_int_equal(efisock_setsockopt(f.net, s, EFISOCK_IPPROTO_TCP, EFISOCK_TCP_NODELAY, &v, sizeof(v)), -1);
  assert_errno(&f, EFISOCK_EOPNOTSUPP);
  assert_int_equal(efisock_setsockopt(f.net, s, EFISOCK_SOL_SOCKET, 99, &v, sizeof(v)), -1);
  assert_errno(&f, EFISOCK_ENOPROTOOPT);
  struct efisock_linger lg = {1, 3}, lgot = {0, 0};
  efisock_socklen_t ll = sizeof(lgot);
  assert_int_equal(efisock_setsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_LINGER, &lg, sizeof(lg)), 0);
  assert_int_equal(efisock_getsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_LINGER, &lgot, &ll), 0);
  assert_int_equal(lgot.l_linger, 3);
  uint64_t t0 = fakefw_now_ns(f.fw);
  efisock_close(f.net, s); /* a datagram socket never lingers */
  assert_true(fakefw_now_ns(f.fw) - t0 < 10000000ull);
  /* SO_BROADCAST on a stream socket: kept, no effect, as Linux */
  int t = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  assert_int_equal(efisock_setsockopt(f.net, t, EFISOCK_SOL_SOCKET, EFISOCK_SO_BROADCAST, &v, sizeof(v)), 0);
  assert_int_equal(efisock_getsockopt(f.net, t, EFISOCK_SOL_SOCKET, EFISOCK_SO_BROADCAST, &n, &l), 0);
  assert_int_equal(n, 1);
  efisock_close(f.net, t);
  fx_teardown(&f);
}

static uint64_t fx_clock(void *ctx) { return fakefw_now_ns(((struct fx *)ctx)->fw); }

/* select() writes the time left back, as Linux: the timeout less the wait,
 * and 0 after a timeout. */
static void select_writes_back_remaining(void **st) {
  (void)st;
  struct fx f;
  struct efinet_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.clock_ns = fx_clock;
  cfg.clock_ctx = &f;
  fx_setup_with(&f, NULL, &cfg, EFINET_IP_STATIC);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  struct efisock_sockaddr_in a = fx_sin(0, 5002);
  assert_int_equal(efisock_bind(f.net, s, SA(&a), sizeof(a)), 0);
  efisock_fd_set r;
  EFISOCK_FD_ZERO(&r);
  EFISOCK_FD_SET(s, &r);
  struct efisock_timeval tv = {0, 300000};
  assert_int_equal(efisock_select(f.net, s + 1, &r, NULL, NULL, &tv), 0);
  assert_int_equal(tv.tv_sec, 0);
  assert_int_equal(tv.tv_usec, 0);
  fnet_set_latency(f.n, 200000000); /* the datagram arrives 200 ms from now */
  fnet_udp_send(f.n, PEER, 7, GUEST, 5002, "x", 1);
  EFISOCK_FD_SET(s, &r);
  tv.tv_sec = 1;
  tv.tv_usec = 0;
  uint64_t t0 = fakefw_now_ns(f.fw);
  assert_int_equal(efisock_select(f.net, s + 1, &r, NULL, NULL, &tv), 1);
  uint64_t waited_us = (fakefw_now_ns(f.fw) - t0) / 1000u;
  assert_true(waited_us >= 200000 && waited_us < 300000);
  uint64_t left = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
  assert_true(left <= 1000000u - waited_us && left + 1000u >= 1000000u - waited_us);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

/* No route (off the subnet, no gateway): sendto fails with ENETUNREACH
 * every time, as Linux and as TCP's connect() to the same address. */
static void udp_sendto_no_route_enetunreach(void **st) {
  (void)st;
  struct fx f;
  fx_setup_with(&f, NULL, NULL, EFINET_IP_KEEP);
  struct efinet_ipconfig ic;
  memset(&ic, 0, sizeof(ic));
  ic.method = EFINET_IP_STATIC; /* no gateway */
  ic.addr.s_addr = efisock_htonl(GUEST);
  ic.mask.s_addr = efisock_htonl(FNET_IP(255, 255, 255, 0));
  assert_int_equal(efinet_ip_configure(f.net, &ic), 0);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  struct efisock_sockaddr_in to = fx_sin(FNET_IP(192, 0, 2, 50), 9);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(efisock_sendto(f.net, s, "x", 1, 0, SA(&to), sizeof(to)), -1);
    assert_errno(&f, EFISOCK_ENETUNREACH);
  }
  int e = -1;
  efisock_socklen_t el = sizeof(e);
  assert_int_equal(efisock_getsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_ERROR, &e, &el), 0);
  assert_int_equal(e, 0);
  /* on the subnet it still works */
  fnet_peer_udp_echo(f.n, PEER, 7);
  struct efisock_sockaddr_in echo = fx_sin(PEER, 7);
  assert_int_equal(efisock_sendto(f.net, s, "y", 1, 0, SA(&echo), sizeof(echo)), 1);
  char b[4];
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), 0), 1);
  efisock_close(f.net, s);
  int t = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  assert_int_equal(efisock_connect(f.net, t, SA(&to), sizeof(to)), -1);
  assert_errno(&f, EFISOCK_ENETUNREACH);
  efisock_close(f.net, t);
  fx_teardown(&f);
}

static void sendmsg_recvmsg_iovecs_and_trunc(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  fnet_peer_udp_echo(f.n, PEER, 7);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  struct efisock_sockaddr_in to = fx_sin(PEER, 7), from;
  struct efisock_iovec out[3] = {{"ab", 2}, {"cd", 2}, {"ef", 2}};
  struct efisock_msghdr m;
  memset(&m, 0, sizeof(m));
  m.msg_name = &to;
  m.msg_namelen = sizeof(to);
  m.msg_iov = out;
  m.msg_iovlen = 3;
  assert_int_equal(efisock_sendmsg(f.net, s, &m, 0), 6);
  assert_int_equal(efisock_sendmsg(f.net, s, &m, 0), 6);
  char b1[4], b2[1];
  struct efisock_iovec in[2] = {{b1, sizeof(b1)}, {b2, sizeof(b2)}};
  memset(&m, 0, sizeof(m));
  memset(&from, 0, sizeof(from));
  m.msg_name = &from;
  m.msg_namelen = sizeof(from);
  m.msg_iov = in;
  m.msg_iovlen = 2;
  assert_int_equal(efisock_recvmsg(f.net, s, &m, 0), 5);
  assert_memory_equal(b1, "abcd", 4);
  assert_memory_equal(b2, "e", 1);
  assert_true(m.msg_flags & EFISOCK_MSG_TRUNC); /* the rest was cut */
  assert_int_equal(m.msg_namelen, sizeof(from));
  assert_int_equal(efisock_ntohl(from.sin_addr.s_addr), PEER);
  assert_int_equal(efisock_ntohs(from.sin_port), 7);
  assert_int_equal(efisock_recvmsg(f.net, s, &m, EFISOCK_MSG_TRUNC), 6); /* the real length */
  char big[16];
  struct efisock_iovec one = {big, sizeof(big)};
  m.msg_iov = &one;
  m.msg_iovlen = 1;
  assert_int_equal(efisock_sendto(f.net, s, "xyz", 3, 0, SA(&to), sizeof(to)), 3);
  assert_int_equal(efisock_recvmsg(f.net, s, &m, 0), 3);
  assert_int_equal(m.msg_flags, 0);
  m.msg_control = big;
  m.msg_controllen = 8;
  assert_int_equal(efisock_sendmsg(f.net, s, &m, 0), -1);
  assert_errno(&f, EFISOCK_EOPNOTSUPP);
  efisock_close(f.net, s);
  /* a stream: the iovecs are one byte stream */
  fnet_peer_echo(f.n, PEER, 7);
  int t = fx_connect(&f, 7);
  memset(&m, 0, sizeof(m));
  m.msg_iov = out;
  m.msg_iovlen = 3;
  assert_int_equal(efisock_sendmsg(f.net, t, &m, 0), 6);
  char c1[3], c2[3];
  struct efisock_iovec tin[2] = {{c1, 3}, {c2, 3}};
  m.msg_iov = tin;
  m.msg_iovlen = 2;
  assert_int_equal(efisock_recvmsg(f.net, t, &m, EFISOCK_MSG_WAITALL), 6);
  assert_memory_equal(c1, "abc", 3);
  assert_memory_equal(c2, "def", 3);
  assert_int_equal(m.msg_flags, 0);
  efisock_close(f.net, t);
  fx_teardown(&f);
}

struct got_dgram {
  unsigned n;
  char last[16];
};
static void count_cb(struct fnet *n, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                     const uint8_t *d, size_t len, void *user) {
  (void)n, (void)src, (void)sport, (void)dst, (void)dport;
  struct got_dgram *g = user;
  g->n++;
  memcpy(g->last, d, len < sizeof(g->last) ? len : sizeof(g->last));
}

/* Sending to a broadcast address needs SO_BROADCAST (EACCES without, as
 * Linux); receiving one needs a socket bound to INADDR_ANY, as on Linux. */
static void udp_broadcast_needs_so_broadcast(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  struct got_dgram g = {0, {0}};
  fnet_udp_bind(f.n, 0xffffffffu, 6000, count_cb, &g);
  fnet_udp_bind(f.n, FNET_IP(10, 0, 2, 255), 6000, count_cb, &g);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  struct efisock_sockaddr_in all = fx_sin(0xffffffffu, 6000), net = fx_sin(FNET_IP(10, 0, 2, 255), 6000);
  assert_int_equal(efisock_sendto(f.net, s, "b", 1, 0, SA(&all), sizeof(all)), -1);
  assert_errno(&f, EFISOCK_EACCES);
  assert_int_equal(efisock_sendto(f.net, s, "b", 1, 0, SA(&net), sizeof(net)), -1);
  assert_errno(&f, EFISOCK_EACCES);
  int on = 1, v = 0;
  efisock_socklen_t l = sizeof(v);
  assert_int_equal(efisock_setsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_BROADCAST, &on, sizeof(on)), 0);
  assert_int_equal(efisock_getsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_BROADCAST, &v, &l), 0);
  assert_int_equal(v, 1);
  assert_int_equal(efisock_sendto(f.net, s, "b1", 2, 0, SA(&all), sizeof(all)), 2);
  assert_int_equal(efisock_sendto(f.net, s, "b2", 2, 0, SA(&net), sizeof(net)), 2);
  assert_int_equal(g.n, 2);
  efisock_close(f.net, s);
  /* receiving */
  int any = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  int one = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  assert_int_equal(efisock_setsockopt(f.net, one, EFISOCK_SOL_SOCKET, EFISOCK_SO_REUSEADDR, &on, sizeof(on)), 0);
  assert_int_equal(efisock_setsockopt(f.net, any, EFISOCK_SOL_SOCKET, EFISOCK_SO_REUSEADDR, &on, sizeof(on)), 0);
  struct efisock_sockaddr_in a = fx_sin(0, 6001), b = fx_sin(GUEST, 6001);
  assert_int_equal(efisock_bind(f.net, any, SA(&a), sizeof(a)), 0);
  assert_int_equal(efisock_bind(f.net, one, SA(&b), sizeof(b)), 0);
  fnet_udp_send(f.n, PEER, 7, 0xffffffffu, 6001, "hi", 2);
  fakefw_advance(f.fw, 50000000);
  char buf[8];
  assert_int_equal(efisock_recv(f.net, any, buf, sizeof(buf), EFISOCK_MSG_DONTWAIT), 2);
  assert_int_equal(efisock_recv(f.net, one, buf, sizeof(buf), EFISOCK_MSG_DONTWAIT), -1);
  assert_errno(&f, EFISOCK_EAGAIN);
  efisock_close(f.net, one);
  efisock_close(f.net, any);
  fx_teardown(&f);
}

static int mreq(struct fx *f, int s, int name, uint32_t group, uint32_t ifaddr) {
  struct efisock_ip_mreq m;
  m.imr_multiaddr.s_addr = efisock_htonl(group);
  m.imr_interface.s_addr = efisock_htonl(ifaddr);
  return efisock_setsockopt(f->net, s, EFISOCK_IPPROTO_IP, name, &m, sizeof(m));
}

/* IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP through UDP4 Groups(). */
static void udp_multicast_membership(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  const uint32_t G = FNET_IP(239, 1, 2, 3), H = FNET_IP(239, 9, 9, 9);
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  assert_int_equal(mreq(&f, s, EFISOCK_IP_ADD_MEMBERSHIP, G, 0), 0); /* before bind: kept */
  struct efisock_sockaddr_in a = fx_sin(0, 5353);
  assert_int_equal(efisock_bind(f.net, s, SA(&a), sizeof(a)), 0);
  assert_int_equal(mreq(&f, s, EFISOCK_IP_ADD_MEMBERSHIP, G, 0), -1);
  assert_errno(&f, EFISOCK_EADDRINUSE);
  assert_int_equal(mreq(&f, s, EFISOCK_IP_ADD_MEMBERSHIP, FNET_IP(10, 0, 2, 1), 0), -1);
  assert_errno(&f, EFISOCK_EINVAL);
  assert_int_equal(mreq(&f, s, EFISOCK_IP_ADD_MEMBERSHIP, H, FNET_IP(10, 0, 2, 77)), -1);
  assert_errno(&f, EFISOCK_ENODEV);
  fnet_udp_send(f.n, PEER, 7, G, 5353, "g", 1);
  fnet_udp_send(f.n, PEER, 7, H, 5353, "h", 1);
  fakefw_advance(f.fw, 50000000);
  char buf[8];
  assert_int_equal(efisock_recv(f.net, s, buf, sizeof(buf), EFISOCK_MSG_DONTWAIT), 1);
  assert_int_equal(buf[0], 'g');
  assert_int_equal(efisock_recv(f.net, s, buf, sizeof(buf), EFISOCK_MSG_DONTWAIT), -1);
  /* the membership survives connect()'s reconfiguration */
  struct efisock_sockaddr_in unspec;
  memset(&unspec, 0, sizeof(unspec));
  unspec.sin_family = EFISOCK_AF_UNSPEC;
  assert_int_equal(efisock_connect(f.net, s, SA(&unspec), sizeof(unspec)), 0);
  fnet_udp_send(f.n, PEER, 7, G, 5353, "g2", 2);
  fakefw_advance(f.fw, 50000000);
  assert_int_equal(efisock_recv(f.net, s, buf, sizeof(buf), EFISOCK_MSG_DONTWAIT), 2);
  assert_int_equal(mreq(&f, s, EFISOCK_IP_DROP_MEMBERSHIP, G, 0), 0);
  fnet_udp_send(f.n, PEER, 7, G, 5353, "g3", 2);
  fakefw_advance(f.fw, 50000000);
  assert_int_equal(efisock_recv(f.net, s, buf, sizeof(buf), EFISOCK_MSG_DONTWAIT), -1);
  assert_int_equal(mreq(&f, s, EFISOCK_IP_DROP_MEMBERSHIP, G, 0), -1);
  assert_errno(&f, EFISOCK_EADDRNOTAVAIL);
  /* sending to a group needs no membership */
  struct got_dgram g = {0, {0}};
  fnet_udp_bind(f.n, H, 5000, count_cb, &g);
  struct efisock_sockaddr_in to = fx_sin(H, 5000);
  assert_int_equal(efisock_sendto(f.net, s, "m", 1, 0, SA(&to), sizeof(to)), 1);
  assert_int_equal(g.n, 1);
  efisock_close(f.net, s);
  int t = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  assert_int_equal(mreq(&f, t, EFISOCK_IP_ADD_MEMBERSHIP, G, 0), -1);
  assert_errno(&f, EFISOCK_EPROTO); /* as Linux for a TCP socket */
  efisock_close(f.net, t);
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
      cmocka_unit_test(udp_connect_keeps_delivered_datagram),
      cmocka_unit_test(udp_options_fionread),
      cmocka_unit_test(select_writes_back_remaining),
      cmocka_unit_test(udp_sendto_no_route_enetunreach),
      cmocka_unit_test(sendmsg_recvmsg_iovecs_and_trunc),
      cmocka_unit_test(udp_broadcast_needs_so_broadcast),
      cmocka_unit_test(udp_multicast_membership),
      cmocka_unit_test(select_read_write_listen_and_timeout),
      cmocka_unit_test(poll_events_hup_nval),
      cmocka_unit_test(idle_select_does_not_spin),
  };
  return cmocka_run_group_tests_name("udp_select", tests, NULL, NULL);
}
