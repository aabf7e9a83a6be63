/* Every quirk in the catalogue, twice: that it really changes what the
 * firmware does (raw protocol calls through the wrapper), and that efi-net's
 * workaround makes sockets behave anyway. Each test also checks that the
 * quirk acted (its counter moved), so none passes vacuously. */
#include "fixture.h"
#include "fwbase/pattern.h"


static struct fwq_stats qstats(struct fx *f) {
  struct fwq_stats s;
  fwq_get_stats(f->q, &s);
  return s;
}

static void echo_roundtrip(struct fx *f, uint32_t ip, size_t n) {
  fnet_peer_echo(f->n, ip, 7);
  int s = efisock_socket(f->net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  struct efisock_sockaddr_in a = fx_sin(ip, 7);
  if (efisock_connect(f->net, s, SA(&a), sizeof(a)))
    fail_msg("connect: %s", efisock_errname(ERRNO(f)));
  uint8_t *out = malloc(n), *in = malloc(n);
  fill_pattern(out, n, 11);
  assert_int_equal(efisock_send(f->net, s, out, n, 0), (efisock_ssize_t)n);
  assert_int_equal(efisock_recv(f->net, s, in, n, EFISOCK_MSG_WAITALL), (efisock_ssize_t)n);
  assert_memory_equal(in, out, n);
  free(out);
  free(in);
  assert_int_equal(efisock_close(f->net, s), 0);
}

/* ---- profile syntax ---- */

static void profile_parse_and_format(void **st) {
  (void)st;
  struct fwq_set s;
  char err[128], txt[256];
  assert_int_equal(fwq_parse("no-dns4, events-delayed=50ms,no-mapping=3", &s, err, sizeof(err)), 0);
  assert_true(s.flags & FWQ_NO_DNS4);
  assert_int_equal(s.delay_ms, 50);
  assert_int_equal(s.no_mapping_n, 3);
  fwq_format(&s, txt, sizeof(txt));
  assert_string_equal(txt, "no-dns4,events-delayed=50ms,no-mapping=3");
  assert_int_equal(fwq_parse("events-delayed=2s", &s, err, sizeof(err)), 0);
  assert_int_equal(s.delay_ms, 2000);
  assert_int_equal(fwq_parse("bits-era", &s, err, sizeof(err)), 0);
  assert_true(s.flags & FWQ_LEGACY_IP4CONFIG);
  assert_true(s.flags & FWQ_ROUTES_NOT_APPLIED);
  assert_true(s.flags & FWQ_CANCEL_UNSUPPORTED);
  assert_int_equal(fwq_parse("no-dns4,frobnicate", &s, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "'frobnicate'"));
  assert_int_equal(fwq_parse("events-delayed", &s, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "needs a value"));
  assert_int_equal(fwq_parse("events-delayed=5h", &s, err, sizeof(err)), -1);
  assert_int_equal(fwq_parse("no-dns4=1", &s, err, sizeof(err)), -1);
  assert_int_equal(fwq_parse("receive-short=0", &s, err, sizeof(err)), -1);
  assert_int_equal(fwq_parse("", &s, err, sizeof(err)), 0);
  assert_int_equal(s.flags, 0);
  unsigned n;
  const struct fwq_info *cat = fwq_catalogue(&n);
  assert_true(n >= 12);
  for (unsigned i = 0; i < n; i++) {
    assert_true(strlen(cat[i].what) > 10);
    /* every catalogued name parses */
    char one[128];
    snprintf(one, sizeof(one), "%s%s", cat[i].name,
             !strcmp(cat[i].arg, "ms") ? "=10ms" : !strcmp(cat[i].arg, "N") ? "=2" : "");
    assert_int_equal(fwq_parse(one, &s, err, sizeof(err)), 0);
  }
}

/* ---- raw firmware behaviour under a quirk ---- */

struct raw {
  EFI_BOOT_SERVICES *bs;
  const struct efinet_fwsource *src;
  EFI_SERVICE_BINDING_PROTOCOL *sb;
  EFI_HANDLE child;
  EFI_TCP4_PROTOCOL *tcp;
};

static void raw_open(struct fx *f, struct raw *r) {
  r->bs = fakefw_st(f->fw)->BootServices;
  r->src = fwq_source(f->q);
  EFI_HANDLE nic = fakefw_nic_handle(f->fw, 0);
  assert_int_equal(r->src->get(r->src->self, nic, &efi_tcp4_sb_guid, (void **)&r->sb), EFI_SUCCESS);
  assert_int_equal(r->sb->CreateChild(r->sb, &r->child), EFI_SUCCESS);
  assert_int_equal(r->src->get(r->src->self, r->child, &efi_tcp4_guid, (void **)&r->tcp), EFI_SUCCESS);
}

static void raw_close(struct raw *r) {
  r->tcp->Configure(r->tcp, NULL);
  assert_int_equal(r->sb->DestroyChild(r->sb, r->child), EFI_SUCCESS);
}

static EFI_TCP4_CONFIG_DATA raw_cfg(uint32_t remote, uint16_t port) {
  EFI_TCP4_CONFIG_DATA cd;
  memset(&cd, 0, sizeof(cd));
  cd.TimeToLive = 64;
  cd.AccessPoint.UseDefaultAddress = TRUE;
  EFI_IPv4_ADDRESS ra = {{(UINT8)(remote >> 24), (UINT8)(remote >> 16), (UINT8)(remote >> 8), (UINT8)remote}};
  cd.AccessPoint.RemoteAddress = ra;
  cd.AccessPoint.RemotePort = port;
  cd.AccessPoint.ActiveFlag = TRUE;
  return cd;
}

static void bites_default_address_and_no_mapping(void **st) {
  (void)st;
  struct fx f;
  fx_setup_q(&f, NULL, NULL, EFINET_IP_STATIC, "default-address-already-started,no-mapping=2");
  struct raw r;
  raw_open(&f, &r);
  EFI_TCP4_CONFIG_DATA cd = raw_cfg(PEER, 7);
  assert_int_equal(r.tcp->Configure(r.tcp, &cd), EFI_NO_MAPPING);
  assert_int_equal(r.tcp->Configure(r.tcp, &cd), EFI_NO_MAPPING);
  assert_int_equal(r.tcp->Configure(r.tcp, &cd), EFI_ALREADY_STARTED);
  cd.AccessPoint.UseDefaultAddress = FALSE;
  EFI_IPv4_ADDRESS me = {{10, 0, 2, 15}}, mask = {{255, 255, 255, 0}};
  cd.AccessPoint.StationAddress = me;
  cd.AccessPoint.SubnetMask = mask;
  assert_int_equal(r.tcp->Configure(r.tcp, &cd), EFI_SUCCESS);
  raw_close(&r);
  fx_teardown(&f);
}

static void bites_routes_not_applied(void **st) {
  (void)st;
  struct fx f;
  fx_setup_q(&f, NULL, NULL, EFINET_IP_STATIC, "routes-not-applied");
  uint32_t far = FNET_IP(192, 0, 2, 50);
  fnet_peer_echo(f.n, far, 7);
  struct raw r;
  raw_open(&f, &r);
  EFI_TCP4_CONFIG_DATA cd = raw_cfg(far, 7);
  assert_int_equal(r.tcp->Configure(r.tcp, &cd), EFI_SUCCESS);
  EFI_TCP4_CONNECTION_TOKEN tok;
  memset(&tok, 0, sizeof(tok));
  r.bs->CreateEvent(0, 0, NULL, NULL, &tok.CompletionToken.Event);
  assert_int_equal(r.tcp->Connect(r.tcp, &tok), EFI_SUCCESS);
  assert_int_equal(r.bs->CheckEvent(tok.CompletionToken.Event), EFI_SUCCESS);
  assert_int_equal(tok.CompletionToken.Status, EFI_NETWORK_UNREACHABLE);
  assert_int_equal(qstats(&f).routes_refused, 1);
  r.bs->CloseEvent(tok.CompletionToken.Event);
  raw_close(&r);
  fx_teardown(&f);
}

/* ---- efi-net copes ---- */

static void handled_default_address_already_started(void **st) {
  (void)st;
  struct fx f;
  fx_setup_q(&f, NULL, NULL, EFINET_IP_DHCP, "default-address-already-started");
  echo_roundtrip(&f, PEER, 1000);
  assert_true(qstats(&f).already_started >= 1);
  fx_teardown(&f);
}

static void handled_routes_not_applied(void **st) {
  (void)st;
  struct fx f;
  fx_setup_q(&f, NULL, NULL, EFINET_IP_DHCP, "routes-not-applied");
  echo_roundtrip(&f, FNET_IP(192, 0, 2, 50), 100); /* beyond the gateway */
  struct fakefw_counters c;
  fakefw_counters(f.fw, &c);
  assert_true(c.routes_added >= 1); /* efi-net added the default route itself */
  assert_int_equal(qstats(&f).routes_refused, 0);
  assert_true(qstats(&f).routes_engaged >= 1); /* the quirk was in play: an off-subnet connect */
  fx_teardown(&f);
}

static void handled_no_mapping(void **st) {
  (void)st;
  struct fx f;
  fx_setup_q(&f, NULL, NULL, EFINET_IP_STATIC, "no-mapping=5");
  echo_roundtrip(&f, PEER, 10);
  assert_int_equal(qstats(&f).no_mapping, 5);
  fx_teardown(&f);
}

static void handled_events_delayed(void **st) {
  (void)st;
  struct fx f;
  fx_setup_q(&f, NULL, NULL, EFINET_IP_STATIC, "events-delayed=50ms");
  uint64_t t0 = fakefw_now_ns(f.fw);
  echo_roundtrip(&f, PEER, 20000);
  /* connect + transmit + receive completions each waited 50 ms at least */
  assert_true(fakefw_now_ns(f.fw) - t0 >= 150ull * 1000000ull);
  assert_true(qstats(&f).delayed >= 3);
  fx_teardown(&f);
}

static void handled_completions_reordered(void **st) {
  (void)st;
  struct efinet_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.rx_tokens = 8;
  cfg.rx_keep_posted = 1; /* several tokens outstanding: completions can come out of order */
  struct fx f;
  fx_setup_q(&f, NULL, &cfg, EFINET_IP_STATIC, "completions-reordered");
  size_t n = 300000;
  fnet_peer_source(f.n, PEER, 19, n, true);
  int s = fx_connect(&f, 19);
  uint8_t *buf = malloc(n + 1);
  size_t got = 0;
  efisock_ssize_t r;
  while ((r = efisock_recv(f.net, s, buf + got, n + 1 - got, 0)) > 0) got += (size_t)r;
  assert_int_equal(r, 0);
  assert_int_equal(got, n);
  size_t bad = fwb_pattern_check(buf, n, 0);
  if (bad != n) fail_msg("byte %zu out of order", bad);
  free(buf);
  assert_true(qstats(&f).reordered >= 10);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void handled_receive_short(void **st) {
  (void)st;
  struct fx f;
  fx_setup_q(&f, NULL, NULL, EFINET_IP_STATIC, "receive-short=100");
  fnet_peer_source(f.n, PEER, 19, 10000, true);
  int s = fx_connect(&f, 19);
  uint8_t buf[10001];
  size_t got = 0;
  efisock_ssize_t r;
  while ((r = efisock_recv(f.net, s, buf + got, sizeof(buf) - got, 0)) > 0) got += (size_t)r;
  assert_int_equal(got, 10000);
  assert_int_equal(fwb_pattern_check(buf, got, 0), got);
  struct efinet_stats es;
  efinet_get_stats(f.net, -1, &es);
  assert_true(es.rx_completed >= 100);
  assert_true(qstats(&f).receives_shortened > 0);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

/* receive-empty-first / receive-aborted-first: a Receive that completes
 * without data at the head of the ring must not stall or end the stream:
 * all 3000 bytes, then end of stream, in both posting modes. */
static void empty_first_stream(const char *quirk, int keep_posted) {
  struct efinet_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.rx_keep_posted = keep_posted;
  struct fx f;
  fx_setup_q(&f, NULL, &cfg, EFINET_IP_STATIC, quirk);
  fnet_peer_source(f.n, PEER, 19, 3000, true);
  int s = fx_connect(&f, 19);
  struct efisock_timeval tv = {1, 0};
  assert_int_equal(efisock_setsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_RCVTIMEO, &tv,
                                      sizeof(tv)), 0);
  uint8_t buf[4000];
  size_t got = 0;
  efisock_ssize_t r;
  while ((r = efisock_recv(f.net, s, buf + got, sizeof(buf) - got, 0)) > 0) got += (size_t)r;
  if (r < 0) fail_msg("%s keep_posted=%d: recv after %zu bytes: %s", quirk, keep_posted, got,
                      efisock_errname(ERRNO(&f)));
  assert_int_equal(got, 3000);
  assert_int_equal(fwb_pattern_check(buf, got, 0), got);
  assert_true(qstats(&f).receives_emptied > 0);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void handled_receive_empty_first(void **st) {
  (void)st;
  empty_first_stream("receive-empty-first", 0);
  empty_first_stream("receive-empty-first", 1);
}

static void handled_receive_aborted_first(void **st) {
  (void)st;
  empty_first_stream("receive-aborted-first", 0);
  empty_first_stream("receive-aborted-first", 1);
}

static void handled_poll_not_ready(void **st) {
  (void)st;
  struct fx f;
  fx_setup_q(&f, NULL, NULL, EFINET_IP_STATIC, "poll-not-ready");
  echo_roundtrip(&f, PEER, 50000);
  assert_true(qstats(&f).polls_not_ready > 0);
  fx_teardown(&f);
}

static void handled_close_never_completes(void **st) {
  (void)st;
  struct efinet_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.close_timeout_ms = 500;
  struct fx f;
  fx_setup_q(&f, NULL, &cfg, EFINET_IP_STATIC, "close-never-completes");
  fnet_peer_echo(f.n, PEER, 7);
  int s = fx_connect(&f, 7);
  assert_int_equal(efisock_close(f.net, s), 0); /* returns at once; lingers */
  uint64_t t0 = fakefw_now_ns(f.fw);
  /* the program keeps using the stack; the zombie is aborted at its deadline */
  int u = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  char b[4];
  struct efisock_timeval tv = {1, 0};
  efisock_setsockopt(f.net, u, EFISOCK_SOL_SOCKET, EFISOCK_SO_RCVTIMEO, &tv, sizeof(tv));
  assert_int_equal(efisock_recv(f.net, u, b, sizeof(b), 0), -1);
  assert_true(fakefw_now_ns(f.fw) - t0 >= 500000000ull);
  struct fakefw_leaks l;
  fakefw_leaks(f.fw, &l);
  assert_int_equal(l.children, 1); /* only the UDP socket's: the TCP child is gone */
  assert_int_equal(qstats(&f).closes_swallowed, 1);
  efisock_close(f.net, u);
  fx_teardown(&f);
}

static void handled_cancel_unsupported_recv_timeout(void **st) {
  (void)st;
  struct fx f;
  fx_setup_q(&f, NULL, NULL, EFINET_IP_STATIC, "cancel-unsupported");
  fnet_peer_discard(f.n, PEER, 9);
  int s = fx_connect(&f, 9);
  struct efisock_timeval tv = {0, 100000};
  efisock_setsockopt(f.net, s, EFISOCK_SOL_SOCKET, EFISOCK_SO_RCVTIMEO, &tv, sizeof(tv));
  char b[8];
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), 0), -1);
  assert_errno(&f, EFISOCK_EAGAIN);
  /* the Receive stayed posted; data arriving later is not lost */
  fnet_conn_send(fnet_last_conn(f.n), "late", 4);
  assert_int_equal(efisock_recv(f.net, s, b, sizeof(b), 0), 4);
  assert_memory_equal(b, "late", 4);
  efisock_close(f.net, s);
  fx_teardown(&f);
}

static void handled_cancel_unsupported_dns4_timeout(void **st) {
  (void)st;
  struct efinet_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.dns_retries = 1;
  struct fx f;
  fx_setup_q(&f, NULL, &cfg, EFINET_IP_STATIC, "cancel-unsupported");
  fnet_dns_server(f.n, DNS);
  fnet_dns_add_a(f.n, "slow.test", PEER);
  fnet_dns_fault(f.n, FNET_DNS_DROP, 0);
  struct efisock_addrinfo *res = NULL;
  assert_int_equal(efisock_getaddrinfo(f.net, "slow.test", NULL, NULL, &res), EFISOCK_EAI_AGAIN);
  assert_null(res);
  fx_teardown(&f); /* the orphaned DNS4 token is released, not leaked */
}

static void handled_no_dns4(void **st) {
  (void)st;
  struct fx f;
  fx_setup_q(&f, NULL, NULL, EFINET_IP_STATIC, "no-dns4");
  fnet_dns_server(f.n, DNS);
  fnet_dns_add_a(f.n, "peer.test", PEER);
  struct efinet_ipinfo info;
  efinet_ip_info(f.net, &info);
  assert_int_equal(info.has_dns4, 0);
  struct efisock_addrinfo *res = NULL;
  assert_int_equal(efisock_getaddrinfo(f.net, "peer.test", "7", NULL, &res), 0);
  assert_int_equal(efisock_ntohl(((struct efisock_sockaddr_in *)res->ai_addr)->sin_addr.s_addr), PEER);
  efisock_freeaddrinfo(f.net, res);
  struct fakefw_counters c;
  fakefw_counters(f.fw, &c);
  assert_int_equal(c.dns4_queries, 0);
  assert_true(c.dns_server_queries >= 1);
  assert_true(qstats(&f).hidden_lookups >= 1);
  fx_teardown(&f);
}

static void handled_legacy_ip4config(void **st) {
  (void)st;
  struct fx f;
  fx_setup_q(&f, NULL, NULL, EFINET_IP_KEEP, "legacy-ip4config");
  struct efinet_ipconfig ic;
  memset(&ic, 0, sizeof(ic));
  ic.method = EFINET_IP_DHCP;
  assert_int_equal(efinet_ip_configure(f.net, &ic), 0);
  struct efinet_ipinfo info;
  assert_int_equal(efinet_ip_info(f.net, &info), 0);
  assert_int_equal(info.has_ip4config2, 0);
  assert_int_equal(info.has_ip4config, 1);
  assert_int_equal(info.source, EFINET_SRC_IP4CONFIG);
  assert_int_equal(efisock_ntohl(info.addr.s_addr), GUEST);
  assert_int_equal(efisock_ntohl(info.gateway.s_addr), GW);
  echo_roundtrip(&f, PEER, 100);
  fx_teardown(&f);
}

/* The shim's Stop() loses the configuration as Ip4ConfigDxe does: the
 * address efi-net got by DHCP must still be there afterwards, with no
 * second DHCP round. */
static void handled_legacy_ip4config_keeps_data(void **st) {
  (void)st;
  struct fx f;
  fx_setup_q(&f, NULL, NULL, EFINET_IP_KEEP, "legacy-ip4config");
  struct efinet_ipconfig ic;
  memset(&ic, 0, sizeof(ic));
  ic.method = EFINET_IP_DHCP;
  assert_int_equal(efinet_ip_configure(f.net, &ic), 0);
  struct fakefw_counters k0, k1;
  fakefw_counters(f.fw, &k0);
  struct efinet_ipinfo info;
  assert_int_equal(efinet_ip_info(f.net, &info), 0);
  assert_int_equal(efisock_ntohl(info.addr.s_addr), GUEST);
  ic.method = EFINET_IP_KEEP;
  assert_int_equal(efinet_ip_configure(f.net, &ic), 0);
  echo_roundtrip(&f, PEER, 100);
  fakefw_counters(f.fw, &k1);
  assert_int_equal(k1.dhcp_runs, k0.dhcp_runs);
  fx_teardown(&f);
}

static void handled_dhcp_never_answers(void **st) {
  (void)st;
  struct fx f;
  fx_setup_q(&f, NULL, NULL, EFINET_IP_KEEP, "dhcp-never-answers");
  struct efinet_ipconfig ic;
  memset(&ic, 0, sizeof(ic));
  ic.method = EFINET_IP_DHCP;
  ic.timeout_ms = 2000;
  uint64_t t0 = fakefw_now_ns(f.fw);
  assert_int_equal(efinet_ip_configure(f.net, &ic), -1);
  assert_errno(&f, EFISOCK_ETIMEDOUT);
  uint64_t dt = fakefw_now_ns(f.fw) - t0;
  assert_true(dt >= 2000000000ull && dt < 2100000000ull); /* the deadline, not for ever */
  assert_true(qstats(&f).dhcp_hidden > 0);
  /* a socket needing the default address gives up at its deadline too */
  int s = efisock_socket(f.net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  fnet_peer_echo(f.n, PEER, 7);
  struct efisock_sockaddr_in a = fx_sin(PEER, 7);
  assert_int_equal(efisock_connect(f.net, s, SA(&a), sizeof(a)), -1);
  assert_errno(&f, EFISOCK_ENETDOWN);
  efisock_close(f.net, s);
  /* static still works on the same firmware */
  ic.method = EFINET_IP_STATIC;
  ic.addr.s_addr = efisock_htonl(GUEST);
  ic.mask.s_addr = efisock_htonl(FNET_IP(255, 255, 255, 0));
  ic.gateway.s_addr = efisock_htonl(GW);
  assert_int_equal(efinet_ip_configure(f.net, &ic), 0);
  echo_roundtrip(&f, PEER, 100);
  fx_teardown(&f);
}

static void handled_bits_era_profile(void **st) {
  (void)st;
  struct fx f;
  fx_setup_q(&f, NULL, NULL, EFINET_IP_KEEP, "bits-era");
  struct efinet_ipconfig ic;
  memset(&ic, 0, sizeof(ic));
  ic.method = EFINET_IP_DHCP;
  assert_int_equal(efinet_ip_configure(f.net, &ic), 0);
  echo_roundtrip(&f, FNET_IP(192, 0, 2, 50), 5000);
  echo_roundtrip(&f, PEER, 5000);
  struct fwq_stats q = qstats(&f);
  assert_true(q.already_started >= 1);
  fx_teardown(&f);
}

static void handled_hostile_profile(void **st) {
  (void)st;
  struct fx f;
  fx_setup_q(&f, NULL, NULL, EFINET_IP_STATIC, "hostile,events-delayed=5ms");
  echo_roundtrip(&f, PEER, 65536);
  fx_teardown(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(profile_parse_and_format),
      cmocka_unit_test(bites_default_address_and_no_mapping),
      cmocka_unit_test(bites_routes_not_applied),
      cmocka_unit_test(handled_default_address_already_started),
      cmocka_unit_test(handled_routes_not_applied),
      cmocka_unit_test(handled_no_mapping),
      cmocka_unit_test(handled_events_delayed),
      cmocka_unit_test(handled_completions_reordered),
      cmocka_unit_test(handled_receive_short),
      cmocka_unit_test(handled_receive_empty_first),
      cmocka_unit_test(handled_receive_aborted_first),
      cmocka_unit_test(handled_poll_not_ready),
      cmocka_unit_test(handled_close_never_completes),
      cmocka_unit_test(handled_cancel_unsupported_recv_timeout),
      cmocka_unit_test(handled_cancel_unsupported_dns4_timeout),
      cmocka_unit_test(handled_no_dns4),
      cmocka_unit_test(handled_legacy_ip4config),
      cmocka_unit_test(handled_legacy_ip4config_keeps_data),
      cmocka_unit_test(handled_dhcp_never_answers),
      cmocka_unit_test(handled_bits_era_profile),
      cmocka_unit_test(handled_hostile_profile),
  };
  return cmocka_run_group_tests_name("quirks", tests, NULL, NULL);
}
