/* The capture: every frame that crosses the LAN, into a pcap file with
 * nanosecond timestamps (CLOCK_REALTIME), link type Ethernet. */
#ifndef NETSIM_CAPTURE_H
#define NETSIM_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct capture;

/* 0, or -EIO with libpcap's reason in err. */
int capture_open(struct capture **out, const char *path, char *err, size_t errlen);
/* append: continue an existing pcap of ours (libpcap's append mode; a new
 * file when there is none). */
int capture_open_mode(struct capture **out, const char *path, bool append, char *err, size_t errlen);
/* Matches the hub's capture hook; ctx: struct capture. */
void capture_frame(void *ctx, const uint8_t *f, size_t len);
/* Flush to the file now and then, not per call (a syscall each); now: the LAN's clock. */
void capture_tick(struct capture *c, uint64_t now);
void capture_flush(struct capture *c);
void capture_close(struct capture *c);

#endif
