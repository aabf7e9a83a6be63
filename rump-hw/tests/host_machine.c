/* The machine below the scheduler and hypercalls, for host tests: a virtual
 * clock that jumps to the next wake-up when every thread is blocked (so time
 * is exact and tests never sleep), console into a buffer, the command line
 * from the test, libc memory. Halting is a cmocka assertion, so a test can
 * expect one. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "bmk/machine.h"
#include "bmk/sched.h"
#include "host_machine.h"

uint64_t host_now;
char host_console[4096];
size_t host_console_len;
const char *host_cmdline[16][2];
unsigned host_idles, host_deadlocks;

uint64_t bmk_clock_mono_ns(void) { return host_now; }
int64_t bmk_clock_wall_offset_s(void) { return 1700000000; }

void bmk_cons_putc(int c) {
  if (host_console_len + 1 < sizeof(host_console)) host_console[host_console_len++] = (char)c;
  host_console[host_console_len] = 0;
}

void *bmk_memalloc(size_t len, size_t align) {
  if (align < sizeof(void *)) align = sizeof(void *);
  void *p = NULL;
  return posix_memalign(&p, align, len ? len : 1) ? NULL : p;
}
void bmk_memfree(void *p, size_t len) {
  (void)len;
  free(p);
}

const char *bmk_cmdline_get(const char *key) {
  for (int i = 0; i < 16 && host_cmdline[i][0]; i++)
    if (!strcmp(host_cmdline[i][0], key)) return host_cmdline[i][1];
  return NULL;
}

size_t bmk_random_fill(void *buf, size_t len) {
  int fd = open("/dev/urandom", O_RDONLY);
  size_t got = 0;
  while (fd >= 0 && got < len) {
    ssize_t n = read(fd, (char *)buf + got, len - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  if (fd >= 0) close(fd);
  return got;
}

_Noreturn void bmk_halt(const char *why) {
  mock_assert(0, why, __FILE__, __LINE__);
  abort();
}

static void idle(uint64_t deadline) {
  host_idles++;
  if (deadline == BMK_FOREVER) {
    /* every thread blocked with no timer: on hardware, a hang */
    host_deadlocks++;
    fail_msg("deadlock: all threads blocked and no timer pending");
  }
  if (deadline > host_now) host_now = deadline;
}
static void poll_events(void) {}
static void *alloc(size_t len, size_t align) { return bmk_memalloc(len, align); }

const struct bmk_platform host_platform = {bmk_clock_mono_ns, idle, poll_events, alloc, bmk_memfree};
