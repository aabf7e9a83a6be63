/* Test fixture: a fake firmware, an efi-net stack on it, and helpers.
 * Every test ends in fx_teardown(), which closes the stack and asserts that
 * the fake firmware reports no leaked event, pool block, child, token or
 * receive buffer, and no protocol violation. */
#ifndef FWNET_TEST_FIXTURE_H
#define FWNET_TEST_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "efisock/socket.h"
#include "fakefw/fakefw.h"
#include "efiquirks/quirks.h"

struct fx {
  struct fakefw *fw;
  struct fnet *n;
  efinet_t *net;
  struct fwq *q; /* quirk layer, when a profile was given */
};

#define GUEST FNET_IP(10, 0, 2, 15)
#define GW FNET_IP(10, 0, 2, 2)
#define DNS FNET_IP(10, 0, 2, 3)
#define PEER FNET_IP(10, 0, 2, 100)

static inline struct efisock_sockaddr_in fx_sin(uint32_t ip, uint16_t port) {
  struct efisock_sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = EFISOCK_AF_INET;
  a.sin_port = efisock_htons(port);
  a.sin_addr.s_addr = efisock_htonl(ip);
  return a;
}
#define SA(p) ((struct efisock_sockaddr *)(p))

/* Firmware with opts, stack with cfg (may be NULL), address per method. */
static inline void fx_setup_q(struct fx *f, const struct fakefw_opts *o,
                              const struct efinet_config *c, enum efinet_ipmethod m,
                              const char *quirks) {
  memset(f, 0, sizeof(*f));
  f->fw = fakefw_create(o);
  f->n = fakefw_net(f->fw);
  struct efinet_config cfg;
  if (c)
    cfg = *c;
  else
    memset(&cfg, 0, sizeof(cfg));
  cfg.st = fakefw_st(f->fw);
  cfg.image = fakefw_image(f->fw);
  if (quirks) {
    struct fwq_set set;
    char err[128];
    if (fwq_parse(quirks, &set, err, sizeof(err))) fail_msg("quirks: %s", err);
    assert_int_equal(fwq_open(&f->q, cfg.st, cfg.image, &set, NULL), 0);
    cfg.source = fwq_source(f->q);
  }
  assert_int_equal(efinet_open(&f->net, &cfg), 0);
  if (m == EFINET_IP_STATIC) {
    struct efinet_ipconfig ic;
    memset(&ic, 0, sizeof(ic));
    ic.method = EFINET_IP_STATIC;
    ic.addr.s_addr = efisock_htonl(GUEST);
    ic.mask.s_addr = efisock_htonl(FNET_IP(255, 255, 255, 0));
    ic.gateway.s_addr = efisock_htonl(GW);
    ic.dns[0].s_addr = efisock_htonl(DNS);
    ic.ndns = 1;
    assert_int_equal(efinet_ip_configure(f->net, &ic), 0);
  } else if (m == EFINET_IP_DHCP) {
    struct efinet_ipconfig ic;
    memset(&ic, 0, sizeof(ic));
    ic.method = EFINET_IP_DHCP;
    assert_int_equal(efinet_ip_configure(f->net, &ic), 0);
  }
}

static inline void fx_setup_with(struct fx *f, const struct fakefw_opts *o,
                                 const struct efinet_config *c, enum efinet_ipmethod m) {
  fx_setup_q(f, o, c, m, NULL);
}

static inline void fx_setup(struct fx *f) { fx_setup_with(f, NULL, NULL, EFINET_IP_STATIC); }

static inline void fx_assert_leak_free(struct fx *f) {
  char why[512];
  bool ok = fakefw_leak_free(f->fw, why, sizeof(why));
  if (!ok) fail_msg("leaks after efinet_close: %s", why);
}

static inline void fx_teardown(struct fx *f) {
  efinet_close(f->net);
  f->net = NULL;
  fwq_close(f->q);
  f->q = NULL;
  fx_assert_leak_free(f);
  fakefw_destroy(f->fw);
}

/* A connected TCP socket to PEER:port (the peer must listen). */
static inline int fx_connect(struct fx *f, uint16_t port) {
  int s = efisock_socket(f->net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  assert_true(s >= 0);
  struct efisock_sockaddr_in a = fx_sin(PEER, port);
  int rc = efisock_connect(f->net, s, SA(&a), sizeof(a));
  if (rc != 0) fail_msg("connect: %s", efisock_errname(efisock_errno(f->net)));
  return s;
}

#define ERRNO(f) efisock_errno((f)->net)
#define assert_errno(f, e) assert_string_equal(efisock_errname(ERRNO(f)), efisock_errname(e))

static inline void fill_pattern(uint8_t *b, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(i * 31 + seed + i / 251);
}

#endif
