/* Byte order and address text conversion (IPv4 only, as the stack is). */
#include "fwbase/inet.h"
#include "fwbase/rt.h"

uint16_t efisock_htons(uint16_t v) { return (uint16_t)((v >> 8) | (v << 8)); }
uint16_t efisock_ntohs(uint16_t v) { return efisock_htons(v); }
uint32_t efisock_htonl(uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}
uint32_t efisock_ntohl(uint32_t v) { return efisock_htonl(v); }

/* Strict dotted quad, as inet_pton(AF_INET): four decimal parts, no leading
 * zeros beyond a single 0, each <= 255. Returns 1, 0 (not an address) or -1. */
int efisock_inet_pton(int af, const char *src, void *dst) {
  if (af != EFISOCK_AF_INET) return -1;
  uint8_t out[4];
  int part = 0;
  const char *p = src;
  while (part < 4) {
    if (*p < '0' || *p > '9') return 0;
    unsigned v = 0, digits = 0;
    const char *start = p;
    while (*p >= '0' && *p <= '9') {
      v = v * 10 + (unsigned)(*p - '0');
      if (++digits > 3 || v > 255) return 0;
      p++;
    }
    if (digits > 1 && *start == '0') return 0;
    out[part++] = (uint8_t)v;
    if (part < 4) {
      if (*p != '.') return 0;
      p++;
    }
  }
  if (*p) return 0;
  memcpy(dst, out, 4);
  return 1;
}

const char *efisock_inet_ntop(int af, const void *src, char *dst, efisock_socklen_t size) {
  if (af != EFISOCK_AF_INET || !src || !dst) return NULL;
  const uint8_t *a = src;
  char tmp[16];
  unsigned n = 0;
  for (int i = 0; i < 4; i++) {
    unsigned v = a[i];
    if (v >= 100) tmp[n++] = (char)('0' + v / 100);
    if (v >= 10) tmp[n++] = (char)('0' + (v / 10) % 10);
    tmp[n++] = (char)('0' + v % 10);
    if (i < 3) tmp[n++] = '.';
  }
  tmp[n++] = 0;
  if (n > size) return NULL;
  memcpy(dst, tmp, n);
  return dst;
}
