/* The data pattern and CRC-32 (fwbase/pattern.h). */
#include <stdbool.h>
#include "fwbase/pattern.h"
#include "fwbase/rt.h"

/* One period, computed once then copied: a per-byte loop per chunk costs
 * real time under emulation. */
static uint8_t period[FWB_PATTERN_PERIOD];
static bool period_ready;

void fwb_pattern_fill(uint8_t *b, size_t n, uint64_t off) {
  if (!period_ready) {
    for (uint32_t k = 0; k < FWB_PATTERN_PERIOD; k++) period[k] = fwb_pattern_byte(k);
    period_ready = true;
  }
  while (n) {
    size_t at = (size_t)(off % FWB_PATTERN_PERIOD), run = FWB_PATTERN_PERIOD - at;
    if (run > n) run = n;
    memcpy(b, period + at, run);
    b += run, off += run, n -= run;
  }
}

size_t fwb_pattern_check(const uint8_t *b, size_t n, uint64_t off) {
  for (size_t k = 0; k < n; k++)
    if (b[k] != fwb_pattern_byte(off + k)) return k;
  return n;
}

/* Sliced by 4: bulk transfers check every byte, and a bit-at-a-time loop
 * costs the guest more than the socket layer it measures. Tables built on
 * first use. */
static uint32_t crc_tab[4][256];
static bool crc_ready;

static void crc32_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    crc_tab[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 4; t++) crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 255];
  crc_ready = true;
}

uint32_t fwb_crc32(uint32_t crc, const uint8_t *d, size_t n) {
  if (!crc_ready) crc32_init();
  crc = ~crc;
  for (; n >= 4; n -= 4, d += 4) {
    crc ^= (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
    crc = crc_tab[3][crc & 255] ^ crc_tab[2][(crc >> 8) & 255] ^ crc_tab[1][(crc >> 16) & 255] ^ crc_tab[0][crc >> 24];
  }
  while (n--) crc = (crc >> 8) ^ crc_tab[0][(crc ^ *d++) & 255];
  return ~crc;
}
