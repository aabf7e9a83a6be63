/* libslirp glue: the gateway's configuration, SlirpCb callbacks and loop. */
#define _POSIX_C_SOURCE 200809L
#include "gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GATEWAY_MAX_TIMERS 16

struct timer {
  int used;
  SlirpTimerId id;
  void *cb_opaque;
  int64_t expire_ms; /* -1: not armed */
};

struct gateway {
  Slirp *slirp;
  struct hub *hub;
  struct dns *dns;
  struct gateway_counters *c;
  struct timer timers[GATEWAY_MAX_TIMERS];
  struct pollfd *pfd; /* the poll entries of the current round */
  int npfd, cap;
};

/* slirp gets broadcasts and frames for its own MACs (52:55:...), not a
 * guest's unicast to another guest, which it would answer itself. */
static enum hub_verdict gateway_input(void *ctx, int from, const uint8_t *f, size_t len) {
  struct gateway *gw = ctx;
  (void)from;
  bool group = f[0] & 1, to_slirp = f[0] == 0x52 && f[1] == 0x55;
  if (group || to_slirp) {
    gw->c->frames_in++;
    slirp_input(gw->slirp, f, (int)len);
  }
  return to_slirp ? HUB_TAKEN : HUB_PASS;
}

const struct hub_uplink_ops gateway_uplink_ops = {
    .name = "slirp",
    .input = gateway_input,
};

/* ---- SlirpCb ---- */

static ssize_t send_packet(const void *buf, size_t len, void *opaque) {
  struct gateway *gw = opaque;
  gw->c->frames_out++;
  hub_from_uplink(gw->hub, buf, len);
  return (ssize_t)len;
}

static void guest_error(const char *msg, void *opaque) {
  (void)opaque;
  fprintf(stderr, "netsim: guest error: %s\n", msg);
}

static int64_t clock_get_ns(void *opaque) {
  (void)opaque;
  return (int64_t)hub_now_ns();
}

static void *timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque) {
  struct gateway *gw = opaque;
  for (int i = 0; i < GATEWAY_MAX_TIMERS; i++) {
    if (!gw->timers[i].used) {
      gw->timers[i] = (struct timer){.used = 1, .id = id, .cb_opaque = cb_opaque, .expire_ms = -1};
      return &gw->timers[i];
    }
  }
  fprintf(stderr, "netsim: out of timers\n");
  exit(4);
}

static void timer_free(void *t, void *opaque) {
  (void)opaque;
  ((struct timer *)t)->used = 0;
}

static void timer_mod(void *t, int64_t expire_ms, void *opaque) {
  (void)opaque;
  ((struct timer *)t)->expire_ms = expire_ms;
}

static void reg_fd(int fd, void *o) { (void)fd, (void)o; }
static void notify(void *o) { (void)o; }

static const SlirpCb callbacks = {
    .send_packet = send_packet,
    .guest_error = guest_error,
    .clock_get_ns = clock_get_ns,
    .timer_free = timer_free,
    .timer_mod = timer_mod,
    .register_poll_fd = reg_fd,
    .unregister_poll_fd = reg_fd,
    .notify = notify,
    .timer_new_opaque = timer_new_opaque,
};

/* ---- poll (SlirpAddPollCb, SlirpGetREventsCb) ---- */

static int add_poll(int fd, int events, void *opaque) {
  struct gateway *gw = opaque;
  if (gw->npfd >= gw->cap) return -1;
  short ev = 0;
  if (events & SLIRP_POLL_IN) ev |= POLLIN;
  if (events & SLIRP_POLL_OUT) ev |= POLLOUT;
  if (events & SLIRP_POLL_PRI) ev |= POLLPRI;
  gw->pfd[gw->npfd] = (struct pollfd){fd, ev, 0};
  return gw->npfd++;
}

static int get_revents(int idx, void *opaque) {
  struct gateway *gw = opaque;
  short r = gw->pfd[idx].revents;
  int out = 0;
  if (r & POLLIN) out |= SLIRP_POLL_IN;
  if (r & POLLOUT) out |= SLIRP_POLL_OUT;
  if (r & POLLPRI) out |= SLIRP_POLL_PRI;
  if (r & POLLERR) out |= SLIRP_POLL_ERR;
  if (r & POLLHUP) out |= SLIRP_POLL_HUP;
  return out;
}

int gateway_poll_fill(struct gateway *gw, struct pollfd *pfd, int cap, uint32_t *timeout_ms) {
  gw->pfd = pfd, gw->npfd = 0, gw->cap = cap;
  slirp_pollfds_fill(gw->slirp, timeout_ms, add_poll, gw);
  return gw->npfd;
}

void gateway_timeout(const struct gateway *gw, int64_t now_ms, uint32_t *timeout_ms) {
  for (int i = 0; i < GATEWAY_MAX_TIMERS; i++)
    if (gw->timers[i].used && gw->timers[i].expire_ms >= 0) {
      int64_t left = gw->timers[i].expire_ms - now_ms;
      if (left < (int64_t)*timeout_ms) *timeout_ms = left < 0 ? 0 : (uint32_t)left;
    }
}

void gateway_poll_done(struct gateway *gw, int select_error) {
  slirp_pollfds_poll(gw->slirp, select_error, get_revents, gw);
}

void gateway_timers_run(struct gateway *gw, int64_t now_ms) {
  for (int i = 0; i < GATEWAY_MAX_TIMERS; i++)
    if (gw->timers[i].used && gw->timers[i].expire_ms >= 0 && gw->timers[i].expire_ms <= now_ms) {
      gw->timers[i].expire_ms = -1;
      slirp_handle_timer(gw->slirp, gw->timers[i].id, gw->timers[i].cb_opaque);
    }
}

/* Replies wait in dns.c until here: slirp must not be re-entered from its
 * write callback. */
void gateway_stream_flush(struct gateway *gw) {
  const uint8_t *p;
  size_t n = dns_tcp_pending(gw->dns, &p);
  if (!n) return;
  struct in_addr a;
  inet_pton(AF_INET, "10.0.2.3", &a);
  size_t can = slirp_socket_can_recv(gw->slirp, a, 53);
  if (n > can) n = can;
  if (!n) return;
  slirp_socket_recv(gw->slirp, a, 53, p, (int)n);
  dns_tcp_consumed(gw->dns, n);
}

/* ---- setup ---- */

static int add_forwards(struct gateway *gw, const struct gateway_config *cfg) {
  struct in_addr peer, lo, guest, dnsaddr;
  inet_pton(AF_INET, "10.0.2.100", &peer);
  inet_pton(AF_INET, "127.0.0.1", &lo);
  inet_pton(AF_INET, "10.0.2.15", &guest);
  for (int i = 0; i < cfg->nguestfwd; i++) {
    char cmd[512];
    if (!cfg->relay) {
      fprintf(stderr, "netsim: --guestfwd needs --relay\n");
      return -EINVAL;
    }
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s 127.0.0.1 %d", cfg->relay, cfg->guestfwd[i].host_port);
    if (slirp_add_exec(gw->slirp, cmd, &peer, cfg->guestfwd[i].guest_port) < 0) {
      fprintf(stderr, "netsim: guestfwd %d failed\n", cfg->guestfwd[i].guest_port);
      return -EIO;
    }
  }
  inet_pton(AF_INET, "10.0.2.3", &dnsaddr);
  if (slirp_add_guestfwd(gw->slirp, dns_tcp_write, gw->dns, &dnsaddr, 53) < 0) {
    fprintf(stderr, "netsim: DNS over TCP on 10.0.2.3:53 failed\n");
    return -EIO;
  }
  for (int i = 0; i < cfg->nhostfwd; i++)
    if (slirp_add_hostfwd(gw->slirp, 0, lo, cfg->hostfwd[i].host_port, guest, cfg->hostfwd[i].guest_port) < 0) {
      fprintf(stderr, "netsim: hostfwd 127.0.0.1:%d failed\n", cfg->hostfwd[i].host_port);
      return -EIO;
    }
  return 0;
}

int gateway_open(struct gateway **out, const struct gateway_config *cfg, struct hub *hub, struct dns *dns,
                 struct gateway_counters *counters) {
  struct gateway *gw = calloc(1, sizeof(*gw));
  if (!gw) return -ENOMEM;
  gw->hub = hub, gw->dns = dns, gw->c = counters;
  SlirpConfig sc;
  memset(&sc, 0, sizeof(sc));
  sc.version = 4;
  sc.restricted = 1;
  sc.in_enabled = true;
  inet_pton(AF_INET, "10.0.2.0", &sc.vnetwork);
  inet_pton(AF_INET, "255.255.255.0", &sc.vnetmask);
  inet_pton(AF_INET, "10.0.2.2", &sc.vhost);
  inet_pton(AF_INET, "10.0.2.15", &sc.vdhcp_start);
  /* slirp's own name server address is moved off 10.0.2.3 (its proxy is off
   * and, restricted, it advertises no DNS in DHCP): libslirp refuses a guestfwd
   * on its name server address, and 10.0.2.3:53/tcp is ours. */
  inet_pton(AF_INET, "10.0.2.254", &sc.vnameserver);
  sc.if_mtu = sc.if_mru = 1500;
  sc.disable_host_loopback = true;
  sc.disable_dns = true; /* never the machine's resolver */
  gw->slirp = slirp_new(&sc, &callbacks, gw);
  if (!gw->slirp) {
    fprintf(stderr, "netsim: slirp_new failed\n");
    free(gw);
    return -EIO;
  }
  int rc = add_forwards(gw, cfg);
  if (rc < 0) {
    gateway_close(gw);
    return rc;
  }
  *out = gw;
  return 0;
}

void gateway_close(struct gateway *gw) {
  if (!gw) return;
  slirp_cleanup(gw->slirp);
  free(gw);
}
