/* COM1 console. Output is polled (the UART is emulated: it never really
 * waits); input arrives by IRQ 4 into a ring that a reader thread sleeps on,
 * since the agent's command channel is this port. */
#include <stdarg.h>
#include "bmk/kernel.h"
#include "bmk/x86.h"

#define COM1 0x3f8
#define RING 4096

static char ring[RING];
static volatile unsigned r_head, r_tail; /* written: handler; read: getc */
static struct bmk_waitq readers;
static uint64_t dropped;

void bmk_cons_init(void) {
  outb(COM1 + 1, 0x00); /* no interrupts yet */
  outb(COM1 + 3, 0x80); /* DLAB */
  outb(COM1 + 0, 0x01); /* 115200 */
  outb(COM1 + 1, 0x00);
  outb(COM1 + 3, 0x03); /* 8N1 */
  outb(COM1 + 2, 0xc7); /* FIFO on, cleared, 14-byte threshold */
  outb(COM1 + 4, 0x0b); /* DTR, RTS, OUT2 (routes the IRQ) */
}

void bmk_cons_putc(int c) {
  if (c == '\n') bmk_cons_putc('\r');
  while (!(inb(COM1 + 5) & 0x20)) {
  }
  outb(COM1, (uint8_t)c);
}

void bmk_cons_write(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) bmk_cons_putc(s[i]);
}

static int cons_intr(void *arg) {
  (void)arg;
  int got = 0;
  while (inb(COM1 + 5) & 0x01) {
    char c = (char)inb(COM1);
    got = 1;
    if (r_head - r_tail < RING)
      ring[r_head++ % RING] = c;
    else
      dropped++;
  }
  if (got) bmk_waitq_wake_all(&readers);
  return got;
}

void bmk_cons_start_input(void) {
  bmk_intr_establish(4, cons_intr, NULL);
  outb(COM1 + 1, 0x01); /* received-data interrupt */
  cons_intr(NULL);      /* anything that arrived before */
}

int bmk_cons_getc(uint64_t deadline) {
  while (r_head == r_tail) {
    if (bmk_waitq_sleep(&readers, deadline)) return -1;
  }
  return (unsigned char)ring[r_tail++ % RING];
}

void bmk_printf(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = bmk_vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  bmk_cons_write(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}
