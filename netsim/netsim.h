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
};

#endif
