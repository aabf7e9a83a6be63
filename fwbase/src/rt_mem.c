/* The freestanding runtime (fwbase/rt.h): built only for the EFI and
 * bare-metal flavours, where no libc exists. */
#include <stddef.h>
#include <stdint.h>
#include "fwbase/rt.h"

/* Word at a time when both pointers allow it: bulk copies are the data
 * path, and emulators make byte loops very slow. */
void *memcpy(void *d, const void *s, size_t n) {
  unsigned char *dp = d;
  const unsigned char *sp = s;
  if ((((uintptr_t)dp ^ (uintptr_t)sp) & 7) == 0) {
    while (n && ((uintptr_t)dp & 7)) *dp++ = *sp++, n--;
    uint64_t *dw = (uint64_t *)dp;
    const uint64_t *sw = (const uint64_t *)sp;
    for (; n >= 32; n -= 32, dw += 4, sw += 4) {
      dw[0] = sw[0];
      dw[1] = sw[1];
      dw[2] = sw[2];
      dw[3] = sw[3];
    }
    for (; n >= 8; n -= 8) *dw++ = *sw++;
    dp = (unsigned char *)dw;
    sp = (const unsigned char *)sw;
  }
  while (n--) *dp++ = *sp++;
  return d;
}

void *memmove(void *d, const void *s, size_t n) {
  unsigned char *dp = d;
  const unsigned char *sp = s;
  if (dp < sp) {
    while (n--) *dp++ = *sp++;
  } else {
    while (n--) dp[n] = sp[n];
  }
  return d;
}

void *memset(void *d, int c, size_t n) {
  unsigned char *dp = d;
  while (n && ((uintptr_t)dp & 7)) *dp++ = (unsigned char)c, n--;
  uint64_t w = 0x0101010101010101ull * (unsigned char)c;
  uint64_t *dw = (uint64_t *)dp;
  for (; n >= 8; n -= 8) *dw++ = w;
  dp = (unsigned char *)dw;
  while (n--) *dp++ = (unsigned char)c;
  return d;
}

int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *x = a, *y = b;
  for (; n; n--, x++, y++)
    if (*x != *y) return *x - *y;
  return 0;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}
