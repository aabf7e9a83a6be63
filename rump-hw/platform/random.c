/* Randomness for TCP initial sequence numbers, ports and DNS ids. RDSEED or
 * RDRAND when the CPU has them (QEMU's TCG offers both with -cpu max, drawn
 * from the host's getrandom). Without them: a pool stirred with the TSC at
 * every interrupt and at boot (RTC, calibration jitter), whitened by
 * SipHash-2-4 over a counter. That fallback is unpredictable only as far as
 * interrupt timing is; hello reports which source is in use. */
#include "bmk/kernel.h"
#include "bmk/x86.h"

static int have_rdseed, have_rdrand;
static uint64_t pool[4], counter;

static int rdseed64(uint64_t *v) {
  unsigned char ok;
  __asm__ volatile("rdseed %0; setc %1" : "=r"(*v), "=qm"(ok));
  return ok;
}
static int rdrand64(uint64_t *v) {
  unsigned char ok;
  __asm__ volatile("rdrand %0; setc %1" : "=r"(*v), "=qm"(ok));
  return ok;
}

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
  do {                                                                                             \
    v0 += v1, v1 = ROTL(v1, 13), v1 ^= v0, v0 = ROTL(v0, 32);                                      \
    v2 += v3, v3 = ROTL(v3, 16), v3 ^= v2;                                                         \
    v0 += v3, v3 = ROTL(v3, 21), v3 ^= v0;                                                         \
    v2 += v1, v1 = ROTL(v1, 17), v1 ^= v2, v2 = ROTL(v2, 32);                                      \
  } while (0)

uint64_t bmk_siphash(uint64_t k0, uint64_t k1, uint64_t m) {
  uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
  uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
  v3 ^= m;
  SIPROUND;
  SIPROUND;
  v0 ^= m;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

void bmk_random_stir(uint64_t ev) {
  pool[counter++ & 3] ^= bmk_siphash(pool[0] ^ pool[2], pool[1] ^ pool[3], ev);
}

void bmk_random_init(void) {
  uint32_t r[4];
  cpuid(0, 0, r);
  uint32_t max = r[0];
  cpuid(1, 0, r);
  have_rdrand = (r[2] >> 30) & 1;
  if (max >= 7) {
    cpuid(7, 0, r);
    have_rdseed = (r[1] >> 18) & 1;
  }
  for (int i = 0; i < 16; i++) bmk_random_stir(rdtsc() * 0x9e3779b97f4a7c15ull + (uint64_t)i);
}

const char *bmk_random_source(void) {
  return have_rdseed ? "rdseed" : have_rdrand ? "rdrand" : "tsc-pool";
}

static uint64_t hw64(int *ok) {
  uint64_t v = 0;
  *ok = 0;
  for (int tries = 0; tries < 10 && !*ok; tries++) {
    if (have_rdseed && rdseed64(&v)) *ok = 1;
    else if (have_rdrand && rdrand64(&v)) *ok = 1;
  }
  return v;
}

size_t bmk_random_fill(void *buf, size_t len) {
  size_t hw = 0;
  unsigned char *p = buf;
  while (len) {
    int ok;
    uint64_t v = hw64(&ok);
    bmk_random_stir(rdtsc());
    v ^= bmk_siphash(pool[0] ^ pool[1], pool[2] ^ pool[3], counter++);
    size_t n = len < 8 ? len : 8;
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
    if (ok) hw += n;
    p += n;
    len -= n;
  }
  return hw;
}
