/* The tap uplink: a hub handler with an fd of its own. */
#define _DEFAULT_SOURCE
#include "uplink_tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int uplink_tap_open(struct uplink_tap *t, const char *ifname, struct hub *hub) {
  memset(t, 0, sizeof(*t));
  t->fd = -1;
  t->hub = hub;
  if (strlen(ifname) >= IFNAMSIZ) {
    fprintf(stderr, "netsim: tap name too long: %s\n", ifname);
    return -EINVAL;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    fprintf(stderr, "netsim: /dev/net/tun: %s\n", strerror(e));
    return -e;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    fprintf(stderr, "netsim: attach to tap %s: %s\n", ifname, strerror(e));
    close(fd);
    return -e;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  t->fd = fd;
  return 0;
}

void uplink_tap_close(struct uplink_tap *t) {
  if (t->fd >= 0) close(t->fd);
  t->fd = -1;
}

/* A guest's frame onto the tap; it also goes on to the other guests. */
static enum hub_verdict tap_input(void *ctx, int from, const uint8_t *f, size_t len) {
  struct uplink_tap *t = ctx;
  (void)from;
  if (t->fd < 0) return HUB_PASS;
  if (write(t->fd, f, len) == (ssize_t)len) t->frames_in++;
  else t->write_errors++; /* the tap's queue is full or it is down: dropped, as on a wire */
  for (int i = 0; i < t->nfar; i++)
    if (!memcmp(f, t->far_mac[i], 6)) return HUB_TAKEN; /* unicast to the far side */
  return HUB_PASS;
}

static int tap_poll_fill(void *ctx, struct pollfd *pfd) {
  struct uplink_tap *t = ctx;
  if (t->fd < 0) return 0;
  *pfd = (struct pollfd){t->fd, POLLIN, 0};
  return 1;
}

static void tap_poll_done(void *ctx, const struct pollfd *pfd, uint64_t now) {
  struct uplink_tap *t = ctx;
  (void)now;
  if (!(pfd->revents & POLLIN)) return;
  static uint8_t buf[65536 + 64];
  for (int i = 0; i < 64; i++) { /* a bounded batch: guests' ports get their turn */
    ssize_t n = read(t->fd, buf, sizeof(buf));
    if (n <= 0) return;
    if (n < 14) continue;
    t->frames_out++;
    bool known = (buf[6] & 1) != 0; /* a group source address is no station's */
    for (int k = 0; k < t->nfar && !known; k++) known = !memcmp(buf + 6, t->far_mac[k], 6);
    if (!known && t->nfar < 4) memcpy(t->far_mac[t->nfar++], buf + 6, 6);
    hub_from_uplink(t->hub, buf, (size_t)n);
  }
}

const struct hub_uplink_ops uplink_tap_ops = {
    .name = "tap",
    .input = tap_input,
    .poll_fill = tap_poll_fill,
    .poll_done = tap_poll_done,
};
