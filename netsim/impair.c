/* Link impairments (impair.h). Order of effects for one frame: link down,
 * MTU, loss (independent, then Gilbert-Elliott), rate limiter queue, delay
 * and jitter, corruption, duplication, then reordering at the output. */
#define _POSIX_C_SOURCE 200809L
#include "impair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xoshiro256** seeded through splitmix64 */
static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t next64(struct impair *im) {
  uint64_t *s = im->rng;
  uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return r;
}
double impair_uniform(struct impair *im) { return (double)(next64(im) >> 11) * 0x1.0p-53; }

void impair_init(struct impair *im, uint64_t seed) {
  memset(im, 0, sizeof(*im));
  for (int i = 0; i < 4; i++) im->rng[i] = splitmix(&seed);
}

void impair_set(struct impair *im, const struct impair_params *p) { im->p = *p; }

static bool before(const struct impair_frame *a, const struct impair_frame *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void insert(struct impair *im, struct impair_frame *f) {
  f->next = NULL;
  if (!im->q) {
    im->q = im->tail = f;
    return;
  }
  if (before(im->tail, f)) { /* the usual case: in order */
    im->tail->next = f;
    im->tail = f;
    return;
  }
  struct impair_frame **pp = &im->q;
  while (*pp && before(*pp, f)) pp = &(*pp)->next;
  f->next = *pp;
  *pp = f;
}

static struct impair_frame *copy_frame(const uint8_t *d, size_t len) {
  struct impair_frame *f = malloc(sizeof(*f) + len);
  f->next = NULL;
  f->len = len;
  memcpy(f->data, d, len);
  return f;
}

static bool lost(struct impair *im) {
  const struct impair_params *p = &im->p;
  if (p->loss > 0 && impair_uniform(im) < p->loss) return true;
  if (p->ge_p > 0 || p->ge_r > 0) {
    /* move between states first, then lose with the state's probability */
    if (im->ge_bad) {
      if (impair_uniform(im) < p->ge_r) im->ge_bad = false;
    } else if (impair_uniform(im) < p->ge_p) {
      im->ge_bad = true;
    }
    double pl = im->ge_bad ? p->ge_loss_bad : p->ge_loss_good;
    if (pl > 0 && impair_uniform(im) < pl) return true;
  }
  return false;
}

void impair_push(struct impair *im, uint64_t now, const uint8_t *frame, size_t len) {
  impair_push_tagged(im, now, frame, len, 0);
}

void impair_push_tagged(struct impair *im, uint64_t now, const uint8_t *frame, size_t len, uint64_t tag) {
  const struct impair_params *p = &im->p;
  struct impair_counters *c = &im->c;
  c->frames_in++;
  c->bytes_in += len;
  if (p->down) {
    c->dropped++, c->dropped_down++;
    return;
  }
  if (p->mtu && len > p->mtu + 14) {
    c->dropped++, c->dropped_mtu++;
    return;
  }
  if (lost(im)) {
    c->dropped++, c->dropped_loss++;
    return;
  }
  uint64_t start = now;
  if (p->rate_bps) {
    size_t cap = p->queue_bytes ? p->queue_bytes : 65536;
    /* bytes still waiting for the wire at `now` */
    uint64_t backlog_ns = im->link_free_at > now ? im->link_free_at - now : 0;
    double backlog_bytes = (double)backlog_ns * (double)p->rate_bps / 8e9;
    if (backlog_bytes + (double)len > (double)cap) {
      c->dropped++, c->dropped_queue++;
      return;
    }
    uint64_t tx_ns = (uint64_t)((double)len * 8e9 / (double)p->rate_bps);
    start = (im->link_free_at > now ? im->link_free_at : now) + tx_ns;
    im->link_free_at = start;
  }
  uint64_t delay = p->delay_ns;
  if (p->jitter_ns) {
    double j = (impair_uniform(im) * 2.0 - 1.0) * (double)p->jitter_ns;
    delay = (double)delay + j < 0 ? 0 : (uint64_t)((double)delay + j);
  }
  if (delay || start != now) c->delayed++;
  struct impair_frame *f = copy_frame(frame, len);
  f->due = start + delay;
  f->seq = im->seq++;
  f->tag = tag;
  if (p->corrupt > 0 && len && impair_uniform(im) < p->corrupt) {
    size_t at = (size_t)(impair_uniform(im) * (double)len);
    f->data[at] ^= (uint8_t)(1u << (next64(im) & 7));
    f->tag = 0;
    c->corrupted++;
  }
  if (p->duplicate > 0 && impair_uniform(im) < p->duplicate) {
    struct impair_frame *d = copy_frame(f->data, len);
    d->due = f->due;
    d->seq = im->seq++;
    d->tag = 0;
    insert(im, d);
    c->duplicated++;
  }
  if (p->reorder > 0 && !im->held && impair_uniform(im) < p->reorder) {
    im->held = f; /* goes out right after the next frame */
    c->reordered++;
    return;
  }
  insert(im, f);
  if (im->held) {
    struct impair_frame *h = im->held;
    im->held = NULL;
    h->due = f->due;
    h->seq = im->seq++; /* after f */
    insert(im, h);
  }
}

uint64_t impair_next_due(const struct impair *im) { return im->q ? im->q->due : UINT64_MAX; }

struct impair_frame *impair_pop(struct impair *im, uint64_t now) {
  struct impair_frame *f = im->q;
  if (!f || f->due > now) return NULL;
  im->q = f->next;
  if (!im->q) im->tail = NULL;
  im->c.frames_out++;
  im->c.bytes_out += f->len;
  return f;
}

void impair_free(struct impair_frame *f) { free(f); }

void impair_destroy(struct impair *im) {
  while (im->q) {
    struct impair_frame *f = im->q;
    im->q = f->next;
    free(f);
  }
  im->tail = NULL;
  free(im->held);
  im->held = NULL;
}

/* ---- text ---- */

static int parse_duration(const char *v, uint64_t *ns) {
  char *end;
  double x = strtod(v, &end);
  if (end == v || x < 0) return -1;
  if (!strcmp(end, "ns")) *ns = (uint64_t)x;
  else if (!strcmp(end, "us")) *ns = (uint64_t)(x * 1e3);
  else if (!strcmp(end, "ms") || !*end) *ns = (uint64_t)(x * 1e6);
  else if (!strcmp(end, "s")) *ns = (uint64_t)(x * 1e9);
  else return -1;
  return 0;
}

static int parse_prob(const char *v, double *p) {
  char *end;
  double x = strtod(v, &end);
  if (end == v || x < 0) return -1;
  if (*end == '%') x /= 100.0, end++;
  if (*end || x > 1) return -1;
  *p = x;
  return 0;
}

static int parse_size(const char *v, uint64_t *out, int bits) {
  char *end;
  double x = strtod(v, &end);
  if (end == v || x < 0) return -1;
  double mul = 1;
  if (*end == 'k' || *end == 'K') mul = 1e3, end++;
  else if (*end == 'm' || *end == 'M') mul = 1e6, end++;
  else if (*end == 'g' || *end == 'G') mul = 1e9, end++;
  if (bits && !strcmp(end, "bit")) end += 3;
  else if (bits && !strcmp(end, "byte")) mul *= 8, end += 4;
  if (*end) return -1;
  if (!bits && mul == 1e3) mul = 1024;
  if (!bits && mul == 1e6) mul = 1048576;
  *out = (uint64_t)(x * mul);
  return 0;
}

int impair_parse(const char *text, struct impair_params *p, char *err, size_t errlen) {
  char buf[1024];
  snprintf(buf, sizeof(buf), "%s", text);
  for (char *save = NULL, *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
    char *v = strchr(w, '=');
    int bad = !v;
    if (v) {
      *v++ = 0;
      uint64_t u;
      if (!strcmp(w, "delay")) bad = parse_duration(v, &p->delay_ns);
      else if (!strcmp(w, "jitter")) bad = parse_duration(v, &p->jitter_ns);
      else if (!strcmp(w, "loss")) bad = parse_prob(v, &p->loss);
      else if (!strcmp(w, "dup")) bad = parse_prob(v, &p->duplicate);
      else if (!strcmp(w, "reorder")) bad = parse_prob(v, &p->reorder);
      else if (!strcmp(w, "corrupt")) bad = parse_prob(v, &p->corrupt);
      else if (!strcmp(w, "rate")) bad = parse_size(v, &p->rate_bps, 1);
      else if (!strcmp(w, "queue")) bad = parse_size(v, &u, 0), p->queue_bytes = (size_t)u;
      else if (!strcmp(w, "mtu")) bad = parse_size(v, &u, 0), p->mtu = (size_t)u;
      else if (!strcmp(w, "down")) p->down = !strcmp(v, "1") || !strcmp(v, "yes"), bad = 0;
      else if (!strcmp(w, "ge")) {
        double a[4] = {0, 0, 1, 0};
        bad = sscanf(v, "%lf,%lf,%lf,%lf", &a[0], &a[1], &a[2], &a[3]) < 2;
        for (int i = 0; i < 4; i++) bad |= a[i] < 0 || a[i] > 1;
        p->ge_p = a[0], p->ge_r = a[1], p->ge_loss_bad = a[2], p->ge_loss_good = a[3];
      } else {
        bad = 1;
      }
      if (bad) v[-1] = '=';
    }
    if (bad) {
      if (err) snprintf(err, errlen, "bad impairment '%s'", w);
      return -1;
    }
  }
  return 0;
}
