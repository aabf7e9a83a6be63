/* A small vsnprintf (see bmk/printf.h): enough for lwIP's diagnostics, the
 * hypercalls' dprintf and our own messages. Always NUL-terminates. */
#include <stdint.h>
#include "bmk/printf.h"

struct out {
  char *buf;
  size_t cap, n;
};

static void put(struct out *o, char c) {
  if (o->n + 1 < o->cap) o->buf[o->n] = c;
  o->n++;
}

static void num(struct out *o, uint64_t v, unsigned base, int neg, int width, char pad, int left, int upper) {
  char tmp[24];
  const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  int n = 0;
  do {
    tmp[n++] = dig[v % base];
    v /= base;
  } while (v);
  int len = n + neg;
  if (neg && pad == '0') put(o, '-');
  if (!left)
    for (; width > len; width--) put(o, pad);
  if (neg && pad != '0') put(o, '-');
  while (n) put(o, tmp[--n]);
  if (left)
    for (; width > len; width--) put(o, ' ');
}

int bmk_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap) {
  struct out o = {buf, cap, 0};
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      put(&o, *fmt);
      continue;
    }
    fmt++;
    int left = 0, width = 0, prec = -1, lng = 0;
    char pad = ' ';
    for (;; fmt++) {
      if (*fmt == '-') left = 1;
      else if (*fmt == '0') pad = '0';
      else break;
    }
    if (*fmt == '*') {
      width = va_arg(ap, int);
      fmt++;
    }
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    if (*fmt == '.') {
      fmt++;
      prec = 0;
      if (*fmt == '*') {
        prec = va_arg(ap, int);
        fmt++;
      }
      while (*fmt >= '0' && *fmt <= '9') prec = prec * 10 + (*fmt++ - '0');
    }
    for (;; fmt++) {
      if (*fmt == 'l' || *fmt == 'z' || *fmt == 'j' || *fmt == 't') lng++;
      else if (*fmt == 'h') continue;
      else break;
    }
    switch (*fmt) {
    case 'd':
    case 'i': {
      int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
      num(&o, v < 0 ? (uint64_t)-v : (uint64_t)v, 10, v < 0, width, pad, left, 0);
      break;
    }
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
      uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
      num(&o, v, *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16, 0, width, pad, left, *fmt == 'X');
      break;
    }
    case 'p':
      put(&o, '0'), put(&o, 'x');
      num(&o, (uintptr_t)va_arg(ap, void *), 16, 0, width, pad, left, 0);
      break;
    case 'c': put(&o, (char)va_arg(ap, int)); break;
    case 's': {
      const char *s = va_arg(ap, const char *);
      if (!s) s = "(null)";
      int len = 0;
      while (s[len] && (prec < 0 || len < prec)) len++;
      if (!left)
        for (; width > len; width--) put(&o, ' ');
      for (int i = 0; i < len; i++) put(&o, s[i]);
      if (left)
        for (; width > len; width--) put(&o, ' ');
      break;
    }
    case '%': put(&o, '%'); break;
    case 0: fmt--; break;
    default: put(&o, '%'), put(&o, *fmt);
    }
  }
  if (cap) buf[o.n < cap ? o.n : cap - 1] = 0;
  return (int)o.n;
}

int bmk_snprintf(char *buf, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = bmk_vsnprintf(buf, cap, fmt, ap);
  va_end(ap);
  return n;
}

int bmk_strcmp(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return (unsigned char)*a - (unsigned char)*b;
}
