/* 64-bit division for the ia32 EFI flavour (fwbase_efi32): gcc calls these
 * libgcc helpers for uint64_t / and % on i386, and no 32-bit libgcc is
 * linked into the freestanding app. Shift-and-subtract, with the 32-bit
 * divide instruction when both operands fit (the common case: timestamps
 * divided by small constants go through the long path only when large).
 * Nothing here may use 64-bit / or % itself. */
#include <stdint.h>

#if defined(__i386__)
uint64_t __udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem);
uint64_t __udivdi3(uint64_t n, uint64_t d);
uint64_t __umoddi3(uint64_t n, uint64_t d);
int64_t __divdi3(int64_t n, int64_t d);
int64_t __moddi3(int64_t n, int64_t d);
int64_t __divmoddi4(int64_t n, int64_t d, int64_t *rem);

uint64_t __udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem) {
  uint64_t q = 0;
  if (d == 0) { /* as the hardware would: trap */
    volatile uint32_t z = 0;
    return (uint32_t)n / z;
  }
  if ((n >> 32) == 0 && (d >> 32) == 0) {
    uint32_t n32 = (uint32_t)n, d32 = (uint32_t)d;
    if (rem) *rem = n32 % d32;
    return n32 / d32;
  }
  if (d > n) {
    if (rem) *rem = n;
    return 0;
  }
  int shift = __builtin_clzll(d) - __builtin_clzll(n);
  d <<= shift;
  for (; shift >= 0; shift--, d >>= 1) {
    q <<= 1;
    if (n >= d) {
      n -= d;
      q |= 1;
    }
  }
  if (rem) *rem = n;
  return q;
}

uint64_t __udivdi3(uint64_t n, uint64_t d) { return __udivmoddi4(n, d, 0); }

uint64_t __umoddi3(uint64_t n, uint64_t d) {
  uint64_t r;
  __udivmoddi4(n, d, &r);
  return r;
}

int64_t __divmoddi4(int64_t n, int64_t d, int64_t *rem) {
  int neg_q = (n < 0) != (d < 0), neg_r = n < 0;
  uint64_t un = n < 0 ? 0 - (uint64_t)n : (uint64_t)n, ud = d < 0 ? 0 - (uint64_t)d : (uint64_t)d, ur;
  uint64_t uq = __udivmoddi4(un, ud, &ur);
  if (rem) *rem = neg_r ? -(int64_t)ur : (int64_t)ur;
  return neg_q ? -(int64_t)uq : (int64_t)uq;
}

int64_t __divdi3(int64_t n, int64_t d) { return __divmoddi4(n, d, 0); }

int64_t __moddi3(int64_t n, int64_t d) {
  int64_t r;
  __divmoddi4(n, d, &r);
  return r;
}
#endif
