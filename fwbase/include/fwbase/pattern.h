/* The data every fwnet peer sends and checks, and the digest that checks it.
 *
 * Pattern: byte i of a stream is (i*7 + i/256) & 255, so a byte's value says
 * where it belongs (a reordered, lost or duplicated chunk shows); it repeats
 * every FWB_PATTERN_PERIOD bytes. The harness's peers (harness/fwnet/peers.py)
 * produce the same bytes. CRC-32 is zlib's (IEEE 802.3, reflected). */
#ifndef FWBASE_PATTERN_H
#define FWBASE_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#define FWB_PATTERN_PERIOD 65536u

static inline uint8_t fwb_pattern_byte(uint64_t i) { return (uint8_t)(i * 7 + i / 256); }
/* b[k] = fwb_pattern_byte(off + k) for k < n, copied from one period. */
void fwb_pattern_fill(uint8_t *b, size_t n, uint64_t off);
/* Index of the first byte of b[0..n) that is not the pattern from off, or n. */
size_t fwb_pattern_check(const uint8_t *b, size_t n, uint64_t off);

/* Running CRC-32: start with 0, feed chunks in order. */
uint32_t fwb_crc32(uint32_t crc, const uint8_t *d, size_t n);

#endif
