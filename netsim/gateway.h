/* The LAN's gateway: libslirp (DHCP, ARP, NAT to host peers) as a hub
 * handler, its callbacks (SlirpCb), its timers and poll fds, forwards, and
 * the TCP stream of DNS on 10.0.2.3:53 (a guestfwd answered by dns.c).
 * Safety: restricted (guests reach only guestfwd targets, relayed to
 * 127.0.0.1 by the loopback-only relay), slirp's DNS proxy off, host
 * forwards on 127.0.0.1 only. */
#ifndef NETSIM_GATEWAY_H
#define NETSIM_GATEWAY_H

#include <poll.h>
#include <stdint.h>

#include "dns.h"
#include "hub.h"

#define GATEWAY_MAX_GUESTFWD 64
#define GATEWAY_MAX_HOSTFWD 16

struct gateway_fwd {
  int guest_port, host_port;
};

struct gateway_config {
  const char *relay; /* the loopback relay script, for guestfwd */
  struct gateway_fwd guestfwd[GATEWAY_MAX_GUESTFWD]; /* 10.0.2.100:guest -> 127.0.0.1:host */
  struct gateway_fwd hostfwd[GATEWAY_MAX_HOSTFWD];   /* 127.0.0.1:host -> 10.0.2.15:guest */
  int nguestfwd, nhostfwd;
};

struct gateway_counters {
  uint64_t frames_in, frames_out; /* into slirp, out of slirp */
};

struct gateway;

extern const struct hub_uplink_ops gateway_uplink_ops; /* ctx: struct gateway */

/* 0, or a negative errno after saying why on stderr. */
int gateway_open(struct gateway **out, const struct gateway_config *cfg, struct hub *hub, struct dns *dns,
                 struct gateway_counters *counters);
void gateway_close(struct gateway *gw);

/* slirp's poll entries, at most cap; slirp may lower *timeout_ms. Returns
 * the entries used. */
int gateway_poll_fill(struct gateway *gw, struct pollfd *pfd, int cap, uint32_t *timeout_ms);
/* Lower *timeout_ms to the next armed slirp timer (now_ms: the LAN's clock in ms). */
void gateway_timeout(const struct gateway *gw, int64_t now_ms, uint32_t *timeout_ms);
/* After poll(): slirp reads its fds (the ones gateway_poll_fill gave). */
void gateway_poll_done(struct gateway *gw, int select_error);
void gateway_timers_run(struct gateway *gw, int64_t now_ms);
/* Pass waiting DNS-over-TCP replies into the guest's connection. */
void gateway_stream_flush(struct gateway *gw);

#endif
