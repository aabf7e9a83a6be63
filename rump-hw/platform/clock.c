/* Clock: the TSC, calibrated once against PIT channel 2, gives monotonic
 * time; the CMOS RTC read at boot gives the wall-clock offset. There is no
 * periodic tick: when the scheduler idles, PIT channel 0 is armed one-shot
 * for the next wake-up (at most its 55 ms range) and the CPU halts. */
#include "bmk/kernel.h"
#include "bmk/x86.h"

#define PIT_HZ 1193182u

static uint64_t tsc0, tsc_hz;
static uint64_t mult; /* ns = (tsc delta * mult) >> 32 */
static int64_t wall_offset;

static uint8_t cmos(uint8_t reg) {
  outb(0x70, reg);
  return inb(0x71);
}

static int64_t rtc_read(void) {
  while (cmos(0x0a) & 0x80) {
  } /* update in progress */
  unsigned s = cmos(0), mi = cmos(2), h = cmos(4), d = cmos(7), mo = cmos(8), y = cmos(9);
  if (!(cmos(0x0b) & 0x04)) { /* BCD */
#define BCD(x) ((x) = ((x) & 15) + ((x) >> 4) * 10)
    BCD(s), BCD(mi), BCD(h), BCD(d), BCD(mo), BCD(y);
    h = ((h & 0x0f) + ((h & 0x70) >> 4) * 10) | (h & 0x80);
  }
  y += 2000;
  /* days since 1970-01-01 (civil-from-days, inverted) */
  int yy = (int)y - (mo <= 2);
  int era = yy / 400;
  unsigned yoe = (unsigned)(yy - era * 400);
  unsigned doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = (int64_t)era * 146097 + doe - 719468;
  return days * 86400 + (h & 0x7f) * 3600 + mi * 60 + s;
}

void bmk_clock_init(void) {
  /* channel 2, mode 0, gate on, speaker off; count down 20 ms */
  const unsigned count = PIT_HZ / 50;
  outb(0x61, (inb(0x61) & ~0x02) | 0x01);
  outb(0x43, 0xb0);
  outb(0x42, count & 0xff);
  outb(0x42, count >> 8);
  uint64_t t0 = rdtsc();
  while (!(inb(0x61) & 0x20)) {
  }
  uint64_t dt = rdtsc() - t0;
  tsc_hz = dt * 50;
  if (!tsc_hz) bmk_panic("clock: TSC does not advance");
  mult = ((uint64_t)1000000000u << 32) / tsc_hz;
  tsc0 = bmk_boot_tsc();
  wall_offset = rtc_read();
  wall_offset -= (int64_t)(bmk_clock_mono_ns() / 1000000000u);
}

uint64_t bmk_tsc_hz(void) { return tsc_hz; }

uint64_t bmk_clock_mono_ns(void) {
  uint64_t d = rdtsc() - tsc0;
  /* 128-bit product: no overflow for centuries of uptime */
  return (uint64_t)(((unsigned __int128)d * mult) >> 32);
}

int64_t bmk_clock_wall_offset_s(void) { return wall_offset; }

/* Called with interrupts disabled; returns with them disabled. */
void bmk_clock_idle(uint64_t deadline) {
  if (deadline != BMK_FOREVER) {
    uint64_t now = bmk_clock_mono_ns();
    if (deadline <= now) return;
    uint64_t ns = deadline - now;
    uint64_t ticks = ns * PIT_HZ / 1000000000u + 1;
    if (ticks > 0xffff) ticks = 0xffff;
    outb(0x43, 0x30); /* channel 0, lo/hi, mode 0: one interrupt at terminal count */
    outb(0x40, ticks & 0xff);
    outb(0x40, (uint8_t)(ticks >> 8));
  }
  sti_hlt();
  cli();
}
