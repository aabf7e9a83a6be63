/* Link impairments, one direction of one link: delay with jitter, random
 * loss, Gilbert-Elliott burst loss, duplication, reordering, corruption, a
 * rate limit with a queue, an MTU, and link down. Pure logic on a caller's
 * clock (nanoseconds): frames go in with impair_push() and come out of
 * impair_pop() when due. Every random choice comes from the link's own seeded
 * generator, so the same seed and the same traffic give the same result. */
#ifndef NETSIM_IMPAIR_H
#define NETSIM_IMPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct impair_params {
  uint64_t delay_ns, jitter_ns; /* each frame: delay + uniform(-jitter, +jitter) */
  double loss;                  /* independent loss probability */
  double ge_p, ge_r;            /* Gilbert-Elliott: P(good->bad), P(bad->good) */
  double ge_loss_bad, ge_loss_good; /* loss probability in each state */
  double duplicate;             /* probability a frame is sent twice */
  double reorder;               /* probability a frame is held back behind the next */
  double corrupt;               /* probability one byte is flipped */
  uint64_t rate_bps;            /* 0: unlimited */
  size_t queue_bytes;           /* rate limiter queue (tail drop); 0: 64 KiB */
  size_t mtu;                   /* frames longer (Ethernet payload) are dropped; 0: none */
  bool down;                    /* link down: everything dropped */
};

struct impair_counters {
  uint64_t frames_in, bytes_in, frames_out, bytes_out;
  uint64_t dropped, dropped_loss, dropped_queue, dropped_mtu, dropped_down;
  uint64_t delayed, duplicated, reordered, corrupted;
};

struct impair_frame {
  struct impair_frame *next;
  uint64_t due;
  uint64_t seq; /* arrival order, to keep order among equal due times */
  uint64_t tag; /* the caller's, from impair_push_tagged; 0 on a frame the link made (duplicate, corrupted) */
  size_t len;
  uint8_t data[];
};

struct impair {
  struct impair_params p;
  struct impair_counters c;
  uint64_t rng[4];
  bool ge_bad;
  uint64_t link_free_at; /* rate limiter: when the wire is free again */
  size_t queued_bytes;
  struct impair_frame *held; /* reordering: waits for the next frame */
  struct impair_frame *q, *tail; /* due-time ordered; tail for O(1) appends */
  uint64_t seq;
};

void impair_init(struct impair *im, uint64_t seed);
void impair_set(struct impair *im, const struct impair_params *p);
/* Offer a frame at time now; it is copied. */
void impair_push(struct impair *im, uint64_t now, const uint8_t *frame, size_t len);
/* The same, the frame labelled with tag (impair_frame.tag), which a
 * duplicate or a corrupted copy does not inherit: they are new frames. */
void impair_push_tagged(struct impair *im, uint64_t now, const uint8_t *frame, size_t len, uint64_t tag);
/* The next frame due at or before now (caller frees with impair_free), or NULL. */
struct impair_frame *impair_pop(struct impair *im, uint64_t now);
/* When the next frame is due (UINT64_MAX: none). */
uint64_t impair_next_due(const struct impair *im);
void impair_free(struct impair_frame *f);
void impair_destroy(struct impair *im);
double impair_uniform(struct impair *im); /* [0,1), the link's generator */

/* "delay=50ms jitter=5ms loss=0.05 ge=0.01,0.3,0.9,0 dup=0.01 reorder=0.02
 * corrupt=0.001 rate=10mbit queue=64k mtu=1400 down=0". Returns 0, or -1 with
 * the offending word in err. */
int impair_parse(const char *text, struct impair_params *p, char *err, size_t errlen);

#endif
