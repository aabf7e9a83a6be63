/* The LAN's switch and its guest ports. */
#define _POSIX_C_SOURCE 200809L
#include "hub.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t hub_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* id: the frame's (hub.capture_once), 0 for one no other port has seen. */
static void capture(struct hub *h, uint64_t id, const uint8_t *f, size_t len) {
  if (!h->capture) return;
  if (h->capture_once && id) {
    uint64_t *slot = &h->cap_ids[id % HUB_CAP_IDS];
    if (*slot == id) return;
    *slot = id;
  }
  h->capture(h->capture_ctx, f, len);
}

void hub_init(struct hub *h, uint64_t seed) {
  memset(h, 0, sizeof(*h));
  for (int i = 0; i < HUB_MAX_GUESTS; i++) {
    h->port[i].fd = -1;
    impair_init(&h->port[i].to_guest, seed * 2 * HUB_MAX_GUESTS + 2 * (uint64_t)i);
    impair_init(&h->port[i].from_guest, seed * 2 * HUB_MAX_GUESTS + 2 * (uint64_t)i + 1);
  }
}

void hub_destroy(struct hub *h) {
  for (int i = 0; i < HUB_MAX_GUESTS; i++) {
    impair_destroy(&h->port[i].to_guest);
    impair_destroy(&h->port[i].from_guest);
    free(h->port[i].obuf);
    h->port[i].obuf = NULL;
  }
}

int hub_add_uplink(struct hub *h, const struct hub_uplink_ops *ops, void *ctx) {
  if (h->nup >= HUB_MAX_UPLINKS) return -ENOSPC;
  h->up[h->nup++] = (struct hub_uplink){.ops = ops, .ctx = ctx};
  return 0;
}

int hub_attach(struct hub *h, int fd) {
  int slot = -1;
  for (int i = 0; i < HUB_MAX_GUESTS && slot < 0; i++)
    if (h->port[i].fd < 0) slot = i;
  if (slot < 0) return -ENOSPC;
  if (!h->port[slot].obuf && !(h->port[slot].obuf = malloc(HUB_EGRESS_MAX))) return -ENOMEM;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  struct hub_port *g = &h->port[slot];
  g->fd = fd, g->rlen = 0, g->olen = 0, g->mac_known = false;
  return slot;
}

static void drop_port(struct hub_port *g) {
  close(g->fd);
  g->fd = -1;
  g->olen = 0;
  g->mac_known = false;
}

/* Write what the guest's socket takes now; never block (a slow guest must
 * not stall the LAN). */
static void flush_port(struct hub_port *g) {
  while (g->olen && g->fd >= 0) {
    ssize_t n = write(g->fd, g->obuf, g->olen);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) drop_port(g);
      return;
    }
    memmove(g->obuf, g->obuf + n, g->olen - (size_t)n);
    g->olen -= (size_t)n;
  }
}

static void send_to_port(struct hub *h, struct hub_port *g, const uint8_t *f, size_t len, uint64_t id) {
  if (g->olen + 4 + len > HUB_EGRESS_MAX) { /* the port's queue is full: dropped, as a switch does */
    g->egress_drops++;
    g->to_guest.c.dropped++;
    return;
  }
  capture(h, id, f, len); /* what the guest really gets, after its link's impairments */
  uint8_t *o = g->obuf + g->olen;
  o[0] = (uint8_t)(len >> 24), o[1] = (uint8_t)(len >> 16), o[2] = (uint8_t)(len >> 8), o[3] = (uint8_t)len;
  memcpy(o + 4, f, len);
  g->olen += 4 + len;
  flush_port(g);
}

/* A frame on the wire reaching everything except where it came from
 * (from < 0: the far side). */
static void deliver(struct hub *h, int from, const uint8_t *f, size_t len) {
  uint64_t id = ++h->frame_id;
  if (from >= 0) {
    capture(h, id, f, len); /* what left the guest's link */
    for (int i = 0; i < h->nup; i++)
      if (h->up[i].ops->input(h->up[i].ctx, from, f, len) == HUB_TAKEN) return;
  }
  uint64_t now = hub_now_ns();
  /* A learning switch: unicast to the port that owns the address; unknown
   * addresses and groups flood. */
  int only = -1;
  if (!(f[0] & 1))
    for (int i = 0; i < HUB_MAX_GUESTS; i++)
      if (h->port[i].fd >= 0 && h->port[i].mac_known && !memcmp(h->port[i].mac, f, 6)) only = i;
  for (int i = 0; i < HUB_MAX_GUESTS; i++) {
    struct hub_port *g = &h->port[i];
    if (g->fd < 0 || i == from || (only >= 0 && i != only)) continue;
    uint64_t d = 0;
    enum rule_action a = rules_match(&h->rules, DIR_TO_GUEST, f, len, &d);
    if (a == RULE_DROP) {
      g->to_guest.c.frames_in++, g->to_guest.c.dropped++;
      continue;
    }
    impair_push_tagged(&g->to_guest, now + (a == RULE_DELAY ? d : 0), f, len, id);
    if (a == RULE_DUP) impair_push(&g->to_guest, now, f, len); /* a second frame */
  }
}

void hub_from_uplink(struct hub *h, const uint8_t *f, size_t len) { deliver(h, -1, f, len); }

int hub_inject(struct hub *h, int from, const uint8_t *f, size_t len) {
  if (len < 14 || len > 65535 || from >= HUB_MAX_GUESTS) return -EINVAL;
  if (from < 0) {
    deliver(h, -1, f, len);
    return 0;
  }
  struct hub_port *g = &h->port[from];
  uint64_t d = 0, now = hub_now_ns();
  enum rule_action a = rules_match(&h->rules, DIR_FROM_GUEST, f, len, &d);
  if (a == RULE_DROP) {
    g->from_guest.c.frames_in++, g->from_guest.c.dropped++;
    return 0;
  }
  impair_push(&g->from_guest, now + (a == RULE_DELAY ? d : 0), f, len);
  if (a == RULE_DUP) impair_push(&g->from_guest, now, f, len);
  return 0;
}

void hub_to_port(struct hub *h, int i, uint64_t due, const uint8_t *f, size_t len) {
  if (i >= 0 && i < HUB_MAX_GUESTS) impair_push(&h->port[i].to_guest, due, f, len);
}

int hub_poll_fill(struct hub *h, struct pollfd *pfd) {
  int n = 0;
  for (int i = 0; i < HUB_MAX_GUESTS; i++)
    pfd[n++] = (struct pollfd){h->port[i].fd, (short)(POLLIN | (h->port[i].olen ? POLLOUT : 0)), 0};
  for (int i = 0; i < h->nup; i++) {
    h->up_pfd[i] = -1;
    if (h->up[i].ops->poll_fill && h->up[i].ops->poll_fill(h->up[i].ctx, &pfd[n]) > 0) h->up_pfd[i] = n++;
  }
  return n;
}

/* Whole frames in the port's read buffer go through the from-guest rules,
 * then the link's impairments. */
static void port_frames(struct hub *h, struct hub_port *g, uint64_t now) {
  for (;;) {
    if (g->rlen < 4) break;
    size_t flen = (size_t)g->rbuf[0] << 24 | (size_t)g->rbuf[1] << 16 | (size_t)g->rbuf[2] << 8 | g->rbuf[3];
    if (flen > sizeof(g->rbuf) - 4) {
      drop_port(g);
      break;
    }
    if (g->rlen < 4 + flen) break;
    if (flen >= 14 && !(g->rbuf[4 + 6] & 1)) {
      memcpy(g->mac, g->rbuf + 4 + 6, 6);
      g->mac_known = true;
    }
    uint64_t d = 0;
    enum rule_action a = rules_match(&h->rules, DIR_FROM_GUEST, g->rbuf + 4, flen, &d);
    if (flen < 14 || a == RULE_DROP) { /* shorter than an Ethernet header: dropped (fuzz/ found it read) */
      g->from_guest.c.frames_in++, g->from_guest.c.dropped++;
    } else {
      impair_push(&g->from_guest, now + (a == RULE_DELAY ? d : 0), g->rbuf + 4, flen);
      if (a == RULE_DUP) impair_push(&g->from_guest, now, g->rbuf + 4, flen);
    }
    memmove(g->rbuf, g->rbuf + 4 + flen, g->rlen - 4 - flen);
    g->rlen -= 4 + flen;
  }
}

void hub_poll_done(struct hub *h, const struct pollfd *pfd, uint64_t now) {
  for (int i = 0; i < HUB_MAX_GUESTS; i++) {
    struct hub_port *g = &h->port[i];
    if (g->fd >= 0 && (pfd[i].revents & POLLOUT)) flush_port(g);
    if (g->fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP))) continue;
    ssize_t n = read(g->fd, g->rbuf + g->rlen, sizeof(g->rbuf) - g->rlen);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    if (n <= 0) {
      drop_port(g);
      continue;
    }
    g->rlen += (size_t)n;
    port_frames(h, g, now);
  }
  for (int i = 0; i < h->nup; i++)
    if (h->up_pfd[i] >= 0 && h->up[i].ops->poll_done) h->up[i].ops->poll_done(h->up[i].ctx, &pfd[h->up_pfd[i]], now);
}

uint64_t hub_next_due(const struct hub *h) {
  uint64_t next = UINT64_MAX;
  for (int i = 0; i < HUB_MAX_GUESTS; i++) {
    uint64_t a = impair_next_due(&h->port[i].to_guest), b = impair_next_due(&h->port[i].from_guest);
    if (a < next) next = a;
    if (b < next) next = b;
  }
  return next;
}

void hub_run_due(struct hub *h, uint64_t now) {
  for (int i = 0; i < HUB_MAX_GUESTS; i++) {
    struct impair_frame *f;
    while ((f = impair_pop(&h->port[i].from_guest, now))) {
      deliver(h, i, f->data, f->len);
      impair_free(f);
    }
    while ((f = impair_pop(&h->port[i].to_guest, now))) {
      if (h->port[i].fd >= 0) send_to_port(h, &h->port[i], f->data, f->len, f->tag);
      impair_free(f);
    }
  }
}

void hub_counters_reset(struct hub *h) {
  for (int i = 0; i < HUB_MAX_GUESTS; i++) {
    memset(&h->port[i].to_guest.c, 0, sizeof(h->port[i].to_guest.c));
    memset(&h->port[i].from_guest.c, 0, sizeof(h->port[i].from_guest.c));
  }
}
