/* Firmware quirk injection by protocol wrapping.
 *
 * A quirk set wraps the protocol interfaces a program obtains (service
 * bindings, TCP4/UDP4/DNS4 children, IP4_CONFIG2) and changes their
 * behaviour the way some firmware does. It is a struct efinet_fwsource, so
 * it sits between efi-net and any firmware: the fakes on the host, or real
 * OVMF protocols inside QEMU (this code is freestanding and is linked into
 * the EFI application too). Catalogue: efi-quirks/QUIRKS.md.
 *
 * Profile syntax: comma-separated names, some with a value, and named
 * profiles that expand to several:  "no-dns4,events-delayed=50ms".
 */
#ifndef FWNET_QUIRKS_H
#define FWNET_QUIRKS_H

#include "efisock/socket.h"

enum fwq_flag {
  FWQ_NO_DNS4 = 1u << 0,
  FWQ_LEGACY_IP4CONFIG = 1u << 1,
  FWQ_DEFAULT_ADDR_ALREADY_STARTED = 1u << 2,
  FWQ_ROUTES_NOT_APPLIED = 1u << 3,
  FWQ_EVENTS_DELAYED = 1u << 4,
  FWQ_COMPLETIONS_REORDERED = 1u << 5,
  FWQ_NO_MAPPING = 1u << 6,
  FWQ_CANCEL_UNSUPPORTED = 1u << 7,
  FWQ_POLL_NOT_READY = 1u << 8,
  FWQ_CLOSE_NEVER_COMPLETES = 1u << 9,
  FWQ_RECEIVE_SHORT = 1u << 10,
  FWQ_DHCP_NEVER_ANSWERS = 1u << 11,
  FWQ_RECEIVE_EMPTY_FIRST = 1u << 12,   /* first TCP4 Receive: EFI_SUCCESS, 0 bytes */
  FWQ_RECEIVE_ABORTED_FIRST = 1u << 13, /* first TCP4 Receive: EFI_ABORTED */
};

struct fwq_set {
  uint32_t flags;
  unsigned delay_ms;      /* events-delayed */
  unsigned no_mapping_n;  /* no-mapping */
  unsigned receive_short; /* receive-short */
};

/* Parse a profile. Returns 0, or -1 with a message naming the bad part. */
int fwq_parse(const char *profile, struct fwq_set *out, char *err, unsigned errlen);
/* The canonical text of a set ("no-dns4,events-delayed=50ms"). */
void fwq_format(const struct fwq_set *s, char *out, unsigned len);

/* One line per quirk and profile, for `fwnet list` and docs. */
struct fwq_info {
  const char *name, *arg, *what;
};
const struct fwq_info *fwq_catalogue(unsigned *n);

struct fwq;
/* Wrap `under` (NULL: the boot services' handle database). */
int fwq_open(struct fwq **out, EFI_SYSTEM_TABLE *st, EFI_HANDLE image, const struct fwq_set *set,
             const struct efinet_fwsource *under);
const struct efinet_fwsource *fwq_source(struct fwq *q);
/* Counters: how often each quirk acted (tests assert they were exercised). */
struct fwq_stats {
  unsigned delayed, reordered, no_mapping, already_started, routes_refused, cancels_refused,
      polls_not_ready, closes_swallowed, receives_shortened, dhcp_hidden, hidden_lookups,
      receives_emptied;
  /* routes-not-applied in play but handled: an off-subnet connect that the
   * program's own default route let through (routes_refused: it did not). */
  unsigned routes_engaged;
};
void fwq_get_stats(struct fwq *q, struct fwq_stats *out);
void fwq_close(struct fwq *q); /* after the program closed its stack */

#endif
