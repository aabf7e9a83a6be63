/* The kernel command line: space-separated key=value words (a bare word is
 * key=""). Kept as a copy; lookups return pointers into it. */
#include "bmk/kernel.h"

#define MAXW 48
static char copy[1024], raw[1024];
static const char *keys[MAXW], *vals[MAXW];
static int nw;

void bmk_cmdline_init(const char *s) {
  size_t n = 0;
  for (; s && s[n] && n < sizeof(copy) - 1; n++) copy[n] = raw[n] = s[n];
  copy[n] = raw[n] = 0;
  char *p = copy;
  while (*p && nw < MAXW) {
    while (*p == ' ') *p++ = 0;
    if (!*p) break;
    keys[nw] = p;
    vals[nw] = "";
    while (*p && *p != ' ' && *p != '=') p++;
    if (*p == '=') {
      *p++ = 0;
      vals[nw] = p;
      while (*p && *p != ' ') p++;
    }
    nw++;
  }
}

const char *bmk_cmdline_get(const char *key) {
  for (int i = 0; i < nw; i++)
    if (!bmk_strcmp(keys[i], key)) return vals[i];
  return NULL;
}

const char *bmk_cmdline_raw(void) { return raw; }
