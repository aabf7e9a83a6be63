/* What the hypercall layer (rumpuser/) needs from the machine below it.
 * platform/ implements these on bare metal; tests/host_machine.c on the host
 * (virtual clock, stdout), so the hypercalls' semantics are tested there. */
#ifndef BMK_MACHINE_H
#define BMK_MACHINE_H
#include <stddef.h>
#include <stdint.h>

uint64_t bmk_clock_mono_ns(void);
int64_t bmk_clock_wall_offset_s(void); /* wall clock = this + monotonic */
void bmk_cons_putc(int c);
void *bmk_memalloc(size_t len, size_t align); /* NULL when out of memory */
void bmk_memfree(void *p, size_t len);
const char *bmk_cmdline_get(const char *key); /* NULL when absent */
/* Fill buf with random bytes; returns how many came from a hardware source
 * (RDSEED/RDRAND), the rest from the mixing pool. */
size_t bmk_random_fill(void *buf, size_t len);
_Noreturn void bmk_halt(const char *why);

#endif
