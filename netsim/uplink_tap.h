/* The far side as a tap device: an existing tap interface (made by the
 * harness inside its own network namespace) becomes a hub port, so the
 * guests' peers are the namespace's real Linux stack. Guests' frames (after
 * their from-guest rules and impairments, and after the DNS interception)
 * are written to the tap; what the tap gives goes onto the LAN towards the
 * guests (their to-guest rules and impairments). Frames injected "from the
 * uplink" (control `inject uplink`) never reach the tap. */
#ifndef NETSIM_UPLINK_TAP_H
#define NETSIM_UPLINK_TAP_H

#include <stdint.h>

#include "hub.h"

struct uplink_tap {
  int fd;
  struct hub *hub;
  uint64_t frames_in, frames_out; /* into the tap (from guests), out of it (to guests) */
  uint64_t write_errors;
  /* The namespace's addresses seen on frames out of the tap: a guest's
   * unicast frame to one of them is for the far side only (not flooded to
   * the other guests, so each frame is captured once). */
  uint8_t far_mac[4][6];
  int nfar;
};

extern const struct hub_uplink_ops uplink_tap_ops; /* ctx: struct uplink_tap */

/* Attach to the existing tap ifname (IFF_TAP|IFF_NO_PI, non-blocking).
 * 0, or a negative errno after saying why on stderr. */
int uplink_tap_open(struct uplink_tap *t, const char *ifname, struct hub *hub);
void uplink_tap_close(struct uplink_tap *t);

#endif
