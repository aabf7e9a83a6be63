/* Names: getaddrinfo and friends through the firmware's DNS4 and through
 * efi-net's built-in resolver (every server fault), the wire parser on
 * hostile input, and address text conversion. */
#include "fixture.h"
#include "fwbase/dnswire.h"

struct dns_case {
  bool builtin; /* use the built-in resolver instead of DNS4 */
};

static void setup_dns(struct fx *f, bool builtin) {
  struct efinet_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.use_builtin_resolver = builtin;
  cfg.dns_policy = builtin ? EFINET_DNS_BUILTIN_ONLY : EFINET_DNS_DNS4_ONLY; /* the path under test */
  cfg.dns_timeout_ms = 1000;
  cfg.dns_retries = 2;
  fx_setup_with(f, NULL, &cfg, EFINET_IP_STATIC);
  fnet_dns_server(f->n, DNS);
  fnet_dns_add_a(f->n, "peer.test", PEER);
  fnet_dns_add_a(f->n, "multi.test", FNET_IP(10, 0, 2, 101));
  fnet_dns_add_a(f->n, "multi.test", FNET_IP(10, 0, 2, 102));
  fnet_dns_add_cname(f->n, "www.test", "alias.test");
  fnet_dns_add_cname(f->n, "alias.test", "peer.test");
}

static int lookup(struct fx *f, const char *name, uint32_t *first, unsigned *count) {
  struct efisock_addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_socktype = EFISOCK_SOCK_STREAM;
  int e = efisock_getaddrinfo(f->net, name, "80", &hints, &res);
  *count = 0;
  for (struct efisock_addrinfo *ai = res; ai; ai = ai->ai_next) {
    if (!*count) *first = efisock_ntohl(((struct efisock_sockaddr_in *)ai->ai_addr)->sin_addr.s_addr);
    (*count)++;
  }
  efisock_freeaddrinfo(f->net, res);
  return e;
}

static void resolve_ok(void **st) {
  struct dns_case *dc = *st;
  struct fx f;
  setup_dns(&f, dc->builtin);
  uint32_t a;
  unsigned n;
  assert_int_equal(lookup(&f, "peer.test", &a, &n), 0);
  assert_int_equal(a, PEER);
  assert_int_equal(n, 1);
  assert_int_equal(lookup(&f, "www.test", &a, &n), 0); /* CNAME chain of two */
  assert_int_equal(a, PEER);
  assert_int_equal(lookup(&f, "multi.test", &a, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(a, FNET_IP(10, 0, 2, 101));
  assert_int_equal(lookup(&f, "nothere.test", &a, &n), EFISOCK_EAI_NONAME);
  struct efisock_hostent *h = efisock_gethostbyname(f.net, "www.test");
  assert_non_null(h);
  assert_int_equal(h->h_length, 4);
  assert_non_null(h->h_addr_list[0]);
  assert_null(h->h_addr_list[1]);
  if (dc->builtin) assert_string_equal(h->h_name, "peer.test"); /* canonical name */
  assert_null(efisock_gethostbyname(f.net, "nothere.test"));
  assert_int_equal(efisock_h_errno(f.net), EFISOCK_HOST_NOT_FOUND);
  struct fakefw_counters c;
  fakefw_counters(f.fw, &c);
  if (dc->builtin) assert_int_equal(c.dns4_queries, 0);
  else assert_true(c.dns4_queries >= 4);
  fx_teardown(&f);
}

static void fault(void **st, enum fnet_dns_fault flt, unsigned count, int want, bool want_addr) {
  struct dns_case *dc = *st;
  struct fx f;
  setup_dns(&f, dc->builtin);
  fnet_dns_fault(f.n, flt, count);
  uint32_t a = 0;
  unsigned n;
  int e = lookup(&f, "peer.test", &a, &n);
  if (e != want) fail_msg("fault %d: got %s, want %s", flt, efisock_gai_strerror(e), efisock_gai_strerror(want));
  if (want_addr) assert_int_equal(a, PEER);
  fx_teardown(&f);
}

static void fault_nxdomain(void **st) { fault(st, FNET_DNS_NXDOMAIN, 0, EFISOCK_EAI_NONAME, false); }
static void fault_servfail(void **st) {
  struct dns_case *dc = *st;
  fault(st, FNET_DNS_SERVFAIL, 0, dc->builtin ? EFISOCK_EAI_AGAIN : EFISOCK_EAI_FAIL, false);
}
static void fault_servfail_once_then_ok(void **st) {
  struct dns_case *dc = *st;
  /* the built-in resolver retries; DNS4 (like DnsDxe) reports the failure */
  fault(st, FNET_DNS_SERVFAIL, 1, dc->builtin ? 0 : EFISOCK_EAI_FAIL, dc->builtin);
}
static void fault_drop_timeout(void **st) { fault(st, FNET_DNS_DROP, 0, EFISOCK_EAI_AGAIN, false); }
static void fault_drop_once_retry(void **st) { fault(st, FNET_DNS_DROP, 1, 0, true); }
/* the bogus answer is ignored, the retry succeeds; for ever: no answer */
static void fault_wrong_id(void **st) { fault(st, FNET_DNS_WRONG_ID, 1, 0, true); }
static void fault_wrong_id_always(void **st) { fault(st, FNET_DNS_WRONG_ID, 0, EFISOCK_EAI_AGAIN, false); }
static void fault_wrong_source(void **st) { fault(st, FNET_DNS_WRONG_SOURCE, 1, 0, true); }
static void fault_malformed(void **st) {
  struct dns_case *dc = *st;
  fault(st, FNET_DNS_MALFORMED, 1, dc->builtin ? 0 : EFISOCK_EAI_FAIL, dc->builtin);
}
static void fault_pointer_loop(void **st) {
  struct dns_case *dc = *st;
  fault(st, FNET_DNS_POINTER_LOOP, 1, dc->builtin ? 0 : EFISOCK_EAI_FAIL, dc->builtin);
}
static void fault_truncated_tcp_fallback(void **st) {
  struct dns_case *dc = *st;
  fault(st, FNET_DNS_TRUNCATE, 0, dc->builtin ? 0 : EFISOCK_EAI_FAIL, dc->builtin);
}

static void slow_answer_within_timeout(void **st) {
  struct dns_case *dc = *st;
  struct fx f;
  setup_dns(&f, dc->builtin);
  fnet_dns_delay(f.n, 400000000); /* 400 ms, under the 1 s per-try timeout */
  uint32_t a;
  unsigned n;
  uint64_t t0 = fakefw_now_ns(f.fw);
  assert_int_equal(lookup(&f, "peer.test", &a, &n), 0);
  assert_true(fakefw_now_ns(f.fw) - t0 >= 400000000ull);
  fx_teardown(&f);
}

/* OVMF edk2-stable202211's DnsDxe (the fake's FAKEFW_DNS4_EDK2_202211):
 * NXDOMAIN retried until EFI_TIMEOUT, a two-step CNAME chain not followed,
 * no TCP after truncation. Linux's answers under the default policy. */
static void setup_edk2_202211(struct fx *f, const struct efinet_config *base) {
  struct fakefw_opts o;
  memset(&o, 0, sizeof(o));
  o.dns4_model = FAKEFW_DNS4_EDK2_202211;
  struct efinet_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  if (base) cfg = *base;
  cfg.dns_timeout_ms = 1000;
  cfg.dns_retries = 2;
  fx_setup_with(f, &o, &cfg, EFINET_IP_STATIC);
  fnet_dns_server(f->n, DNS);
  fnet_dns_add_a(f->n, "peer.test", PEER);
  fnet_dns_add_cname(f->n, "www.test", "alias.test");
  fnet_dns_add_cname(f->n, "alias.test", "peer.test");
}

static void edk2_202211_linux_answers(const struct efinet_config *base) {
  struct fx f;
  uint32_t a = 0;
  unsigned n;
  setup_edk2_202211(&f, base);
  assert_int_equal(lookup(&f, "nothere.test", &a, &n), EFISOCK_EAI_NONAME);
  assert_int_equal(lookup(&f, "www.test", &a, &n), 0);
  assert_int_equal(a, PEER);
  fnet_dns_fault(f.n, FNET_DNS_TRUNCATE, 0);
  a = 0;
  assert_int_equal(lookup(&f, "peer.test", &a, &n), 0);
  assert_int_equal(a, PEER);
  fx_teardown(&f);
}

static void edk2_202211_default_policy(void **st) {
  (void)st;
  edk2_202211_linux_answers(NULL);
  struct fx f;
  setup_edk2_202211(&f, NULL);
  uint32_t a;
  unsigned n;
  assert_int_equal(lookup(&f, "peer.test", &a, &n), 0);
  struct fakefw_counters c;
  fakefw_counters(f.fw, &c);
  assert_int_equal(c.dns4_queries, 0); /* built-in first: DnsDxe not asked */
  fx_teardown(&f);
}

static void edk2_202211_dns4_first_falls_back(void **st) {
  (void)st;
  struct efinet_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.dns_policy = EFINET_DNS_DNS4_FIRST;
  edk2_202211_linux_answers(&cfg);
}

/* DNS4 only: what DnsDxe 202211 answers, as efi-net did before the policy. */
static void edk2_202211_dns4_only(void **st) {
  (void)st;
  struct efinet_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.dns_policy = EFINET_DNS_DNS4_ONLY;
  struct fx f;
  uint32_t a = 0;
  unsigned n;
  setup_edk2_202211(&f, &cfg);
  uint64_t t0 = fakefw_now_ns(f.fw);
  assert_int_equal(lookup(&f, "nothere.test", &a, &n), EFISOCK_EAI_AGAIN); /* EFI_TIMEOUT */
  assert_true(fakefw_now_ns(f.fw) - t0 >= 4000000000ull); /* 2 tries x 2 s */
  assert_int_equal(lookup(&f, "www.test", &a, &n), EFISOCK_EAI_NONAME);
  assert_int_equal(lookup(&f, "peer.test", &a, &n), 0); /* one step is fine */
  fnet_dns_fault(f.n, FNET_DNS_TRUNCATE, 0);
  assert_int_equal(lookup(&f, "peer.test", &a, &n), EFISOCK_EAI_FAIL);
  fx_teardown(&f);
  /* and no DNS4 at all: nothing to ask */
  struct fakefw_opts o;
  memset(&o, 0, sizeof(o));
  o.no_dns4 = true;
  fx_setup_with(&f, &o, &cfg, EFINET_IP_STATIC);
  fnet_dns_server(f.n, DNS);
  fnet_dns_add_a(f.n, "peer.test", PEER);
  assert_int_equal(lookup(&f, "peer.test", &a, &n), EFISOCK_EAI_FAIL);
  fx_teardown(&f);
}

/* A lookup nobody answers, dns_retries = 2 with 1 s tries: how long it
 * took, in ms of virtual time. */
static uint64_t unanswered_lookup_ms(bool builtin, unsigned *queries) {
  struct fx f;
  setup_dns(&f, builtin);
  fnet_dns_fault(f.n, FNET_DNS_DROP, 0);
  uint32_t a;
  unsigned n;
  uint64_t t0 = fakefw_now_ns(f.fw);
  assert_int_equal(lookup(&f, "peer.test", &a, &n), EFISOCK_EAI_AGAIN);
  uint64_t ms = (fakefw_now_ns(f.fw) - t0) / 1000000;
  *queries = fnet_dns_queries(f.n);
  fx_teardown(&f);
  return ms;
}

static void builtin_retries_and_timing(void **st) {
  (void)st;
  unsigned q;
  uint64_t ms = unanswered_lookup_ms(true, &q);
  assert_int_equal(q, 2); /* two tries, one server */
  assert_true(ms >= 2000 && ms < 2200);
}

/* dns_retries is tries per server on both paths: DNS4's RetryCount counts
 * the queries after the first (DnsDxe: MaxRetry). */
static void dns4_tries_and_timing(void **st) {
  (void)st;
  unsigned q;
  uint64_t ms = unanswered_lookup_ms(false, &q);
  /* two tries of DnsDxe's 2 s floor, not three */
  if (ms < 4000 || ms >= 4200) fail_msg("DNS4 gave up after %llu ms, want 4000", (unsigned long long)ms);
}

static void no_dns_server_configured(void **st) {
  (void)st;
  struct efinet_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.use_builtin_resolver = 1;
  struct fx f;
  fx_setup_with(&f, NULL, &cfg, EFINET_IP_KEEP);
  struct efinet_ipconfig ic;
  memset(&ic, 0, sizeof(ic));
  ic.method = EFINET_IP_STATIC; /* no DNS server given */
  ic.addr.s_addr = efisock_htonl(GUEST);
  ic.mask.s_addr = efisock_htonl(FNET_IP(255, 255, 255, 0));
  assert_int_equal(efinet_ip_configure(f.net, &ic), 0);
  uint32_t a;
  unsigned n;
  assert_int_equal(lookup(&f, "peer.test", &a, &n), EFISOCK_EAI_AGAIN);
  fx_teardown(&f);
}

static void getaddrinfo_literals_and_flags(void **st) {
  (void)st;
  struct fx f;
  fx_setup(&f);
  struct efisock_addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  assert_int_equal(efisock_getaddrinfo(f.net, "10.0.2.7", "http", NULL, &res), 0);
  /* unspecified type: stream, datagram, raw, as glibc answers */
  assert_int_equal(res->ai_socktype, EFISOCK_SOCK_STREAM);
  assert_int_equal(res->ai_protocol, EFISOCK_IPPROTO_TCP);
  assert_int_equal(res->ai_next->ai_socktype, EFISOCK_SOCK_DGRAM);
  assert_int_equal(res->ai_next->ai_next->ai_socktype, 3);
  assert_null(res->ai_next->ai_next->ai_next);
  struct efisock_sockaddr_in *sin = (struct efisock_sockaddr_in *)res->ai_addr;
  assert_int_equal(efisock_ntohs(sin->sin_port), 80);
  assert_int_equal(efisock_ntohl(sin->sin_addr.s_addr), FNET_IP(10, 0, 2, 7));
  efisock_freeaddrinfo(f.net, res);
  hints.ai_socktype = EFISOCK_SOCK_DGRAM;
  assert_int_equal(efisock_getaddrinfo(f.net, "localhost", "53", &hints, &res), 0);
  assert_int_equal(efisock_ntohl(((struct efisock_sockaddr_in *)res->ai_addr)->sin_addr.s_addr), 0x7f000001);
  assert_null(res->ai_next);
  efisock_freeaddrinfo(f.net, res);
  hints.ai_flags = EFISOCK_AI_PASSIVE;
  assert_int_equal(efisock_getaddrinfo(f.net, NULL, "8080", &hints, &res), 0);
  assert_int_equal(((struct efisock_sockaddr_in *)res->ai_addr)->sin_addr.s_addr, 0);
  efisock_freeaddrinfo(f.net, res);
  hints.ai_flags = EFISOCK_AI_NUMERICHOST;
  assert_int_equal(efisock_getaddrinfo(f.net, "peer.test", NULL, &hints, &res), EFISOCK_EAI_NONAME);
  hints.ai_flags = EFISOCK_AI_NUMERICSERV;
  assert_int_equal(efisock_getaddrinfo(f.net, "1.2.3.4", "http", &hints, &res), EFISOCK_EAI_NONAME);
  hints.ai_flags = 0x8000;
  assert_int_equal(efisock_getaddrinfo(f.net, "1.2.3.4", NULL, &hints, &res), EFISOCK_EAI_BADFLAGS);
  hints.ai_flags = 0;
  hints.ai_family = 10;
  assert_int_equal(efisock_getaddrinfo(f.net, "1.2.3.4", NULL, &hints, &res), EFISOCK_EAI_FAMILY);
  hints.ai_family = 0;
  assert_int_equal(efisock_getaddrinfo(f.net, "1.2.3.4", "nosuchservice", &hints, &res), EFISOCK_EAI_SERVICE);
  assert_int_equal(efisock_getaddrinfo(f.net, "1.2.3.4", "70000", &hints, &res), EFISOCK_EAI_SERVICE);
  assert_int_equal(efisock_getaddrinfo(f.net, NULL, NULL, &hints, &res), EFISOCK_EAI_NONAME);
  assert_string_equal(efisock_gai_strerror(EFISOCK_EAI_NONAME), "Name or service not known");
  char host[32], serv[8];
  struct efisock_sockaddr_in sa = fx_sin(FNET_IP(192, 168, 1, 200), 443);
  assert_int_equal(efisock_getnameinfo(f.net, SA(&sa), sizeof(sa), host, sizeof(host), serv, sizeof(serv),
                                       EFISOCK_NI_NUMERICHOST | EFISOCK_NI_NUMERICSERV), 0);
  assert_string_equal(host, "192.168.1.200");
  assert_string_equal(serv, "443");
  assert_int_equal(efisock_getnameinfo(f.net, SA(&sa), sizeof(sa), host, 5, NULL, 0, 0), EFISOCK_EAI_OVERFLOW);
  assert_int_equal(efisock_getnameinfo(f.net, SA(&sa), sizeof(sa), host, sizeof(host), NULL, 0,
                                       EFISOCK_NI_NAMEREQD), EFISOCK_EAI_NONAME);
  fx_teardown(&f);
}

static void inet_text(void **st) {
  (void)st;
  uint8_t a[4];
  assert_int_equal(efisock_inet_pton(EFISOCK_AF_INET, "10.0.2.15", a), 1);
  assert_int_equal(a[0], 10);
  assert_int_equal(a[3], 15);
  const char *bad[] = {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..2.3", "1.2.3.4 ", "a.b.c.d", "1.2.3.-4"};
  for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(efisock_inet_pton(EFISOCK_AF_INET, bad[i], a), 0);
  assert_int_equal(efisock_inet_pton(10, "::1", a), -1);
  char out[16];
  uint8_t v[4] = {255, 0, 10, 100};
  assert_string_equal(efisock_inet_ntop(EFISOCK_AF_INET, v, out, sizeof(out)), "255.0.10.100");
  assert_null(efisock_inet_ntop(EFISOCK_AF_INET, v, out, 5));
  assert_int_equal(efisock_htons(0x1234), 0x3412);
  assert_int_equal(efisock_htonl(0x01020304), 0x04030201);
}

/* ---- the parser on hostile input ---- */

static size_t reply(uint8_t *m, uint16_t id, const char *extra, size_t extra_len, uint16_t an) {
  uint8_t q[300];
  int ql = fwb_dns_build_query(q, sizeof(q), id, "a.test");
  memcpy(m, q, (size_t)ql);
  m[2] = 0x81;
  m[3] = 0x80;
  m[7] = (uint8_t)an;
  memcpy(m + ql, extra, extra_len);
  return (size_t)ql + extra_len;
}

static void parser_hostile_input(void **st) {
  (void)st;
  uint8_t m[600];
  struct fwb_dns_result r;
  /* a good answer: pointer to the question name, A 1.2.3.4 */
  const char good[] = "\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x01\x02\x03\x04";
  size_t n = reply(m, 0x1234, good, sizeof(good) - 1, 1);
  assert_int_equal(fwb_dns_parse(m, n, 0x1234, "a.test", &r), 0);
  assert_int_equal(r.naddr, 1);
  assert_int_equal(fwb_dns_parse(m, n, 0x1235, "a.test", &r), FWB_DNS_E_ID);
  assert_int_equal(fwb_dns_parse(m, n, 0x1234, "b.test", &r), FWB_DNS_E_QUESTION);
  assert_int_equal(fwb_dns_parse(m, n, 0x1234, "A.TEST.", &r), 0); /* case, trailing dot */
  /* every truncation of a valid message is rejected, never overread */
  for (size_t cut = 0; cut < n; cut++) assert_true(fwb_dns_parse(m, cut, 0x1234, "a.test", &r) < 0 || cut >= n - 16);
  /* ancount says 2, only 1 present */
  n = reply(m, 7, good, sizeof(good) - 1, 2);
  assert_int_equal(fwb_dns_parse(m, n, 7, "a.test", &r), FWB_DNS_E_MALFORMED);
  /* rdlength beyond the message */
  const char longrd[] = "\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x01\x00\x01\x02\x03\x04";
  n = reply(m, 7, longrd, sizeof(longrd) - 1, 1);
  assert_int_equal(fwb_dns_parse(m, n, 7, "a.test", &r), FWB_DNS_E_MALFORMED);
  /* A record with rdlength 5 */
  const char badlen[] = "\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x05\x01\x02\x03\x04\x05";
  n = reply(m, 7, badlen, sizeof(badlen) - 1, 1);
  assert_int_equal(fwb_dns_parse(m, n, 7, "a.test", &r), FWB_DNS_E_MALFORMED);
  /* compression pointer to itself, and one past the end */
  uint8_t loop[32];
  n = reply(m, 7, "", 0, 1);
  loop[0] = 0xc0;
  loop[1] = (uint8_t)n;
  memcpy(loop + 2, "\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x01\x02\x03\x04", 14);
  memcpy(m + n, loop, 16);
  assert_int_equal(fwb_dns_parse(m, n + 16, 7, "a.test", &r), FWB_DNS_E_MALFORMED);
  m[n] = 0xc1;
  m[n + 1] = 0xff;
  assert_int_equal(fwb_dns_parse(m, n + 16, 7, "a.test", &r), FWB_DNS_E_MALFORMED);
  /* a query, not a response */
  n = reply(m, 7, good, sizeof(good) - 1, 1);
  m[2] = 0x01;
  assert_int_equal(fwb_dns_parse(m, n, 7, "a.test", &r), FWB_DNS_E_MALFORMED);
  /* CNAME loop a -> b -> a: bounded, no address */
  const char cl[] =
      "\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x08\x01\x62\x04\x74\x65\x73\x74\x00"
      "\x01\x62\x04\x74\x65\x73\x74\x00\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x02\xc0\x0c";
  n = reply(m, 9, cl, sizeof(cl) - 1, 2);
  assert_int_equal(fwb_dns_parse(m, n, 9, "a.test", &r), 0);
  assert_int_equal(r.naddr, 0);
  /* names over 255 octets and labels over 63 are refused when building */
  char longname[300];
  memset(longname, 'a', sizeof(longname));
  longname[299] = 0;
  assert_int_equal(fwb_dns_build_query(m, sizeof(m), 1, longname), -1);
  assert_int_equal(fwb_dns_build_query(m, sizeof(m), 1, "a..b"), -1);
  /* random garbage never crashes or overreads (ASan watches) */
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 20000; i++) {
    size_t len = 12 + (x % 200);
    uint8_t *g = malloc(len);
    for (size_t k = 0; k < len; k++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      g[k] = (uint8_t)x;
    }
    if (i % 2) memcpy(g, m, len < n ? len : n); /* half start like a real answer */
    fwb_dns_parse(g, len, (uint16_t)(g[0] << 8 | g[1]), "a.test", &r);
    assert_true(r.naddr <= FWB_DNS_MAX_ADDRS);
    free(g);
  }
}

static struct dns_case via_dns4 = {false}, via_builtin = {true};

#define BOTH(t) cmocka_unit_test_prestate(t, &via_dns4), cmocka_unit_test_prestate(t, &via_builtin)

int main(void) {
  const struct CMUnitTest tests[] = {
      BOTH(resolve_ok),
      BOTH(fault_nxdomain),
      BOTH(fault_servfail),
      BOTH(fault_servfail_once_then_ok),
      BOTH(fault_drop_timeout),
      BOTH(fault_drop_once_retry),
      BOTH(fault_wrong_id),
      BOTH(fault_wrong_id_always),
      BOTH(fault_wrong_source),
      BOTH(fault_malformed),
      BOTH(fault_pointer_loop),
      BOTH(fault_truncated_tcp_fallback),
      BOTH(slow_answer_within_timeout),
      cmocka_unit_test(edk2_202211_default_policy),
      cmocka_unit_test(edk2_202211_dns4_first_falls_back),
      cmocka_unit_test(edk2_202211_dns4_only),
      cmocka_unit_test(builtin_retries_and_timing),
      cmocka_unit_test(dns4_tries_and_timing),
      cmocka_unit_test(no_dns_server_configured),
      cmocka_unit_test(getaddrinfo_literals_and_flags),
      cmocka_unit_test(inet_text),
      cmocka_unit_test(parser_hostile_input),
  };
  return cmocka_run_group_tests_name("dns", tests, NULL, NULL);
}
