/* The LAN: a learning switch with one port per guest and, behind it, the far
 * side (handlers a guest's frames are offered to, in order: the DNS
 * interception, the gateway). Guest ports speak QEMU's -netdev stream
 * framing (a 4-byte big-endian length, then the frame); each has its own
 * rules-then-impairments path in both directions. A new kind of far-side
 * port (a tap device, say) is one file: a struct hub_uplink_ops whose input
 * takes the LAN's frames, whose poll hooks read its fd and hand what it
 * reads to hub_from_uplink(). */
#ifndef NETSIM_HUB_H
#define NETSIM_HUB_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "impair.h"
#include "rules.h"

#define HUB_MAX_GUESTS 8
#define HUB_MAX_UPLINKS 4
#define HUB_POLL_MAX (HUB_MAX_GUESTS + HUB_MAX_UPLINKS)
#define HUB_EGRESS_MAX (1u << 20) /* per guest port: beyond this, frames are dropped */
#define HUB_CAP_IDS 4096 /* capture_once remembers this many frames back */

/* The LAN's clock: CLOCK_MONOTONIC in nanoseconds. */
uint64_t hub_now_ns(void);

struct hub_port {
  int fd; /* -1: free */
  uint8_t rbuf[70000];
  size_t rlen;
  uint8_t *obuf; /* frames (length-prefixed) waiting for the guest to read */
  size_t olen;
  uint8_t mac[6];
  bool mac_known;
  uint64_t egress_drops;
  struct impair to_guest, from_guest;
};

enum hub_verdict {
  HUB_PASS,  /* the frame goes on to the next handler and the other guests */
  HUB_TAKEN, /* the frame was for this handler only */
};

struct hub_uplink_ops {
  const char *name;
  /* A frame from guest port `from`, as it left that guest's link. */
  enum hub_verdict (*input)(void *ctx, int from, const uint8_t *f, size_t len);
  /* Optional, for a handler with an fd of its own: at most one poll entry
   * (returns 0 or 1), then its revents after poll(). */
  int (*poll_fill)(void *ctx, struct pollfd *pfd);
  void (*poll_done)(void *ctx, const struct pollfd *pfd, uint64_t now);
};

struct hub_uplink {
  const struct hub_uplink_ops *ops;
  void *ctx;
};

struct hub {
  struct hub_port port[HUB_MAX_GUESTS];
  struct rules rules;
  struct hub_uplink up[HUB_MAX_UPLINKS];
  int nup;
  int up_pfd[HUB_MAX_UPLINKS]; /* each handler's poll entry this round, -1: none */
  /* Every frame that crosses: as it left a guest's link, and as delivered. */
  void (*capture)(void *ctx, const uint8_t *f, size_t len);
  void *capture_ctx;
  /* Capture each frame on the wire once (--uplink-tap): a frame that
   * reaches several ports (flooded, or a guest's broadcast as sent and as
   * delivered) is one frame. Each frame entering the switch gets an id its
   * copies carry through the links' queues; an id already written is not
   * written again, whatever crossed in between. A copy a link makes (an
   * impairment's duplicate or corruption) has no id: a new frame. */
  bool capture_once;
  uint64_t frame_id;             /* the last id given */
  uint64_t cap_ids[HUB_CAP_IDS]; /* [id % HUB_CAP_IDS] == id: written */
};

/* Each link direction's generator is seeded from seed and its place. */
void hub_init(struct hub *h, uint64_t seed);
void hub_destroy(struct hub *h);
/* Handlers see guests' frames in the order they were added; -ENOSPC when full. */
int hub_add_uplink(struct hub *h, const struct hub_uplink_ops *ops, void *ctx);
/* A connected guest socket becomes a port (made non-blocking); -ENOSPC when
 * every port is taken (the caller closes fd). Returns the port number. */
int hub_attach(struct hub *h, int fd);

/* A frame from the far side, onto the LAN towards the guests. */
void hub_from_uplink(struct hub *h, const uint8_t *f, size_t len);
/* A crafted frame onto the LAN (control `inject`): from < 0, as if the far
 * side sent it (to the guests through their to-guest links, never to a
 * handler, so never onto a tap); from = guest port i, as if that guest sent
 * it (its from-guest rules and impairments, then the hub). -EINVAL for a
 * frame shorter than an Ethernet header or a port out of range. */
int hub_inject(struct hub *h, int from, const uint8_t *f, size_t len);
/* A frame for guest port i, through its to-guest link, due at `due`. */
void hub_to_port(struct hub *h, int i, uint64_t due, const uint8_t *f, size_t len);

/* Poll entries for the guest ports (HUB_MAX_GUESTS of them, in port order),
 * then the handlers' own; at most HUB_POLL_MAX. Returns the entries used. */
int hub_poll_fill(struct hub *h, struct pollfd *pfd);
/* Read and write the ports after poll(); now stamps arriving frames. */
void hub_poll_done(struct hub *h, const struct pollfd *pfd, uint64_t now);
/* When the next queued frame is due (UINT64_MAX: none). */
uint64_t hub_next_due(const struct hub *h);
/* Frames whose time has come cross the LAN. */
void hub_run_due(struct hub *h, uint64_t now);
/* Zero every link's counters. */
void hub_counters_reset(struct hub *h);

#endif
