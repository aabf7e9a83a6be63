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
  uint64_t (*clock)(void *);
  void *clock_ctx;
};

struct raw_result {
  uint64_t bytes, us, polls, completions;
  uint32_t crc;
};

int raw_transfer(EFI_SYSTEM_TABLE *st, const struct raw_args *a, struct raw_result *r);
#endif
