/* The process's state, one explicit context handed to every part. */
#ifndef NETSIM_NETSIM_H
#define NETSIM_NETSIM_H

#include <stdbool.h>

#include "control.h"
#include "dns.h"
#include "gateway.h"
#include "hub.h"

struct netsim {
  struct hub hub;
  struct dns dns;
  struct gateway_counters gw; /* the gateway itself is libslirp's, in gateway.c */
  struct control control;
  uint64_t seed;
  bool stop;
  /* --uplink-tap: the tap's counters (NULL on the slirp path) */
  uint64_t *tap_in, *tap_out;
  /* control `capture PATH [append=1]`: close the pcap, continue in PATH
   * (set by main.c, which owns libpcap; NULL: no capture). 0, or -errno
   * with the reason in err. */
  int (*recapture)(struct netsim *ns, const char *path, bool append, char *err, size_t errlen);
  void *capture;
  int (*flush)(struct netsim *ns); /* control `flush`: the pcap to its file now */
};

#endif
