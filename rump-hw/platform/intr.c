/* Interrupts: a 256-entry IDT (exceptions panic; IRQs 0-15 from the remapped
 * 8259 pair at vectors 32-47). The trap handler only masks the line, sends
 * EOI and marks it pending; the interrupt thread runs the drivers' handlers
 * in thread context and unmasks the line after them (level-triggered PCI
 * lines stay quiet until the device was serviced). */
#include "bmk/kernel.h"
#include "bmk/x86.h"

struct trapframe {
  uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
  uint64_t vec, err, rip, cs, rflags, rsp, ss;
};

struct idt_entry {
  uint16_t off0, sel;
  uint8_t ist, type;
  uint16_t off1;
  uint32_t off2, zero;
} __attribute__((packed));

extern const uint64_t bmk_vectors[48];
static struct idt_entry idt[256];
static volatile uint16_t pending;
static uint16_t imr = 0xffff & ~(1u << 2 | 1u << 0); /* cascade and the timer open */
volatile uint64_t bmk_intr_count[16];
static struct bmk_thread *intr_thread;

#define MAX_HANDLERS 8
static struct {
  int irq;
  int (*fn)(void *);
  void *arg;
} handlers[MAX_HANDLERS];
static int nhandlers;

static void pic_write_imr(void) {
  outb(0x21, (uint8_t)imr);
  outb(0xa1, (uint8_t)(imr >> 8));
}

static void pic_init(void) {
  outb(0x20, 0x11), outb(0xa0, 0x11); /* ICW1: init, ICW4 follows */
  outb(0x21, 32), outb(0xa1, 40);     /* vector offsets */
  outb(0x21, 4), outb(0xa1, 2);       /* cascade on IRQ 2 */
  outb(0x21, 1), outb(0xa1, 1);       /* 8086 mode */
  pic_write_imr();
}

static void set_gate(int v, uint64_t fn) {
  idt[v].off0 = (uint16_t)fn;
  idt[v].sel = 0x08;
  idt[v].ist = 0;
  idt[v].type = 0x8e; /* present, interrupt gate: IF cleared on entry */
  idt[v].off1 = (uint16_t)(fn >> 16);
  idt[v].off2 = (uint32_t)(fn >> 32);
  idt[v].zero = 0;
}

void bmk_intr_init(void) {
  for (int v = 0; v < 48; v++) set_gate(v, bmk_vectors[v]);
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) p = {sizeof(idt) - 1, (uint64_t)idt};
  __asm__ volatile("lidt %0" ::"m"(p));
  pic_init();
}

static const char *const exc_names[] = {
    "divide error", "debug", "NMI", "breakpoint", "overflow", "bound", "invalid opcode",
    "no FPU", "double fault", "coproc", "invalid TSS", "segment not present", "stack fault",
    "general protection", "page fault"};

void bmk_trap(struct trapframe *f);
void bmk_trap(struct trapframe *f) {
  if (f->vec < 32) {
    uint64_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    bmk_panic("trap %lu (%s) err=%#lx rip=%#lx rsp=%#lx cr2=%#lx thread=%s", f->vec,
              f->vec < 15 ? exc_names[f->vec] : "reserved", f->err, f->rip, f->rsp, cr2,
              bmk_thread_name(bmk_current()));
  }
  int irq = (int)f->vec - 32;
  if (irq == 7 || irq == 15) { /* spurious unless the PIC's ISR says so */
    uint16_t port = irq == 7 ? 0x20 : 0xa0;
    outb(port, 0x0b);
    if (!(inb(port) & 0x80)) {
      if (irq == 15) outb(0x20, 0x20);
      return;
    }
  }
  bmk_intr_count[irq]++;
  bmk_random_stir(rdtsc() ^ (uint64_t)irq << 56);
  if (irq != 0) { /* the timer only wakes hlt; the scheduler reads the clock */
    imr |= (uint16_t)(1u << irq);
    pic_write_imr();
    pending |= (uint16_t)(1u << irq);
  }
  if (irq >= 8) outb(0xa0, 0x20);
  outb(0x20, 0x20);
}

int bmk_intr_establish(int irq, int (*fn)(void *), void *arg) {
  if (irq <= 0 || irq > 15 || nhandlers == MAX_HANDLERS) return -1;
  handlers[nhandlers].irq = irq;
  handlers[nhandlers].fn = fn;
  handlers[nhandlers].arg = arg;
  nhandlers++;
  uint64_t fl = irq_save();
  imr &= (uint16_t)~(1u << irq);
  pic_write_imr();
  irq_restore(fl);
  return 0;
}

void bmk_intr_poll(void) {
  if (pending && intr_thread) bmk_sched_wake(intr_thread);
}

static void *intr_main(void *arg) {
  (void)arg;
  for (;;) {
    uint64_t fl = irq_save();
    uint16_t p = pending;
    pending = 0;
    irq_restore(fl);
    if (!p) {
      bmk_sched_block_until(BMK_FOREVER);
      continue;
    }
    for (int irq = 1; irq < 16; irq++) {
      if (!(p & (1u << irq))) continue;
      for (int i = 0; i < nhandlers; i++)
        if (handlers[i].irq == irq) handlers[i].fn(handlers[i].arg);
      fl = irq_save();
      imr &= (uint16_t)~(1u << irq);
      pic_write_imr();
      irq_restore(fl);
    }
  }
  return NULL;
}

void bmk_intr_start_thread(void) {
  intr_thread = bmk_thread_create("intr", intr_main, NULL, 0, 32768);
  if (!intr_thread) bmk_panic("no memory for the interrupt thread");
}
