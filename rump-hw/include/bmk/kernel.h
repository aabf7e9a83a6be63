/* The bare-metal platform's internal interfaces, one section per file. */
#ifndef BMK_KERNEL_H
#define BMK_KERNEL_H
#include <stddef.h>
#include <stdint.h>
#include "bmk/machine.h"
#include "bmk/printf.h"
#include "bmk/sched.h"

/* cons.c: COM1, 115200 8N1. Output polled; input by IRQ 4 into a ring. */
void bmk_cons_init(void);
void bmk_cons_start_input(void); /* once interrupts work */
void bmk_cons_write(const char *s, size_t n);
int bmk_cons_getc(uint64_t deadline_ns); /* -1 on timeout */
void bmk_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* intr.c: IDT, 8259 PIC; handlers run in the interrupt thread. */
void bmk_intr_init(void);
void bmk_intr_start_thread(void);
/* Returns 1 when the interrupt was the device's (shared lines). */
int bmk_intr_establish(int irq, int (*handler)(void *), void *arg);
void bmk_intr_poll(void); /* scheduler hook: wake the interrupt thread */
extern volatile uint64_t bmk_intr_count[16];

/* clock.c: TSC against the PIT; one-shot PIT wakes hlt. */
void bmk_clock_init(void);
void bmk_clock_idle(uint64_t deadline_ns);
uint64_t bmk_tsc_hz(void);

/* mem.c: pages (first fit over a bitmap) and size-classed malloc. */
void bmk_mem_init(uintptr_t start, uintptr_t end);
void *bmk_pgalloc(size_t npages);
void bmk_pgfree(void *p, size_t npages);
void *bmk_malloc(size_t len);
void bmk_free(void *p);
struct bmk_mem_stats {
  size_t pages_total, pages_used, pages_peak;
};
void bmk_mem_stats(struct bmk_mem_stats *out);

/* pci.c: configuration mechanism #1, bus 0 and what bridges lead to. */
struct bmk_pci_dev {
  uint8_t bus, dev, fn, irq;
  uint16_t vendor, device;
  uint32_t bar[6];
};
uint32_t bmk_pci_read(const struct bmk_pci_dev *d, int off);
void bmk_pci_write(const struct bmk_pci_dev *d, int off, uint32_t v);
/* Calls probe for every function; returns the number found. */
int bmk_pci_scan(void (*probe)(struct bmk_pci_dev *d, void *arg), void *arg);
void bmk_pci_enable(const struct bmk_pci_dev *d); /* I/O, memory, bus master */

/* random.c */
void bmk_random_init(void);
void bmk_random_stir(uint64_t event); /* mixes event timing into the pool */
const char *bmk_random_source(void);
uint64_t bmk_siphash(uint64_t k0, uint64_t k1, uint64_t m); /* SipHash-2-4 of one word */

/* cmdline.c: "key=value key2=value2 flag" */
void bmk_cmdline_init(const char *s);
const char *bmk_cmdline_raw(void);

_Noreturn void bmk_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t bmk_boot_tsc(void);

#endif
