/* DNS on the LAN's DNS address (10.0.2.3:53), answered from the scripted
 * zone (fwbase/dnszone.h): UDP queries are taken off the LAN as a hub
 * handler; TCP (a resolver's retry after TC, RFC 7766) arrives as the byte
 * stream of one connection that the gateway hands over. */
#ifndef NETSIM_DNS_H
#define NETSIM_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fwbase/dnszone.h"
#include "hub.h"

struct dns {
  struct dnszone zone;
  uint64_t answered;
  struct hub *hub; /* where UDP answers go, through the querier's link */
  /* TCP: 2-byte length, message (RFC 1035 4.2.2). Replies wait in tcpout
   * until the gateway can pass them on. */
  uint8_t tcpin[4096], tcpout[4096];
  size_t tcpin_len, tcpout_len, tcpout_off;
};

extern const struct hub_uplink_ops dns_uplink_ops; /* ctx: struct dns */

void dns_init(struct dns *d, struct hub *hub);
void dns_destroy(struct dns *d);
/* Bytes the guest sent on its TCP connection (a libslirp SlirpWriteCb;
 * opaque: struct dns). */
ssize_t dns_tcp_write(const void *buf, size_t len, void *opaque);
/* Reply bytes waiting for the guest's TCP connection (0: none). */
size_t dns_tcp_pending(const struct dns *d, const uint8_t **p);
void dns_tcp_consumed(struct dns *d, size_t n);

#endif
