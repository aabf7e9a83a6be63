/* pcap writing, through libpcap's dump API. */
#define _DEFAULT_SOURCE /* POSIX plus the BSD types pcap.h needs */
#include "capture.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CAPTURE_FLUSH_NS 100000000ull

struct capture {
  pcap_t *pcap;
  pcap_dumper_t *dump;
  uint64_t last_flush;
};

int capture_open(struct capture **out, const char *path, char *err, size_t errlen) {
  return capture_open_mode(out, path, false, err, errlen);
}

int capture_open_mode(struct capture **out, const char *path, bool append, char *err, size_t errlen) {
  struct capture *c = calloc(1, sizeof(*c));
  if (!c) return -ENOMEM;
  c->pcap = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
  if (!c->pcap) {
    snprintf(err, errlen, "cannot open");
    free(c);
    return -EIO;
  }
  c->dump = append ? pcap_dump_open_append(c->pcap, path) : pcap_dump_open(c->pcap, path);
  if (!c->dump) {
    snprintf(err, errlen, "%s", pcap_geterr(c->pcap));
    pcap_close(c->pcap);
    free(c);
    return -EIO;
  }
  *out = c;
  return 0;
}

void capture_frame(void *ctx, const uint8_t *f, size_t len) {
  struct capture *c = ctx;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct pcap_pkthdr h;
  h.ts.tv_sec = ts.tv_sec;
  h.ts.tv_usec = ts.tv_nsec; /* nanosecond precision file: the field holds ns */
  h.caplen = h.len = (bpf_u_int32)len;
  pcap_dump((u_char *)c->dump, &h, f);
}

void capture_tick(struct capture *c, uint64_t now) {
  if (now - c->last_flush > CAPTURE_FLUSH_NS) {
    pcap_dump_flush(c->dump);
    c->last_flush = now;
  }
}

void capture_flush(struct capture *c) { pcap_dump_flush(c->dump); }

void capture_close(struct capture *c) {
  if (!c) return;
  pcap_dump_close(c->dump);
  pcap_close(c->pcap);
  free(c);
}
