/* Raw EFI_TCP4 bulk transfers for the benchmarks (rawtcp.c). */
#ifndef FWNET_AGENT_RAWTCP_H
#define FWNET_AGENT_RAWTCP_H
#include "fwnet/uefi_net.h"

struct raw_args {
  EFI_IPv4_ADDRESS addr, gw;
  UINT16 port;
  int tx;          /* 1: send to the peer, 0: receive from it */
  uint64_t bytes;
  unsigned tokens; /* outstanding Receive/Transmit tokens */
  UINT32 size;     /* bytes per token */
  long poll_us;    /* 0: Poll loop; >0: Stall between Polls; <0: never Poll */
  int digest;      /* CRC-32 of what was received (as the efi-net bulk receive computes) */
  UINT32 rcvbuf;   /* TCP receive buffer (ControlOption); 0: the firmware's default */
  uint64_t (*clock)(void *);
  void *clock_ctx;
};

struct raw_result {
  uint64_t bytes, us, polls, completions;
  uint64_t poll_ns; /* time inside Poll() */
  uint64_t call_ns; /* time inside Receive()/Transmit() */
  uint64_t wait_ns; /* time in Stall() between Polls (the sweep) */
  uint64_t early;   /* Receives that completed inside the call: the data was
                       already buffered, no token was waiting for it */
  uint32_t crc;
};

int raw_transfer(EFI_SYSTEM_TABLE *st, const struct raw_args *a, struct raw_result *r);
#endif
