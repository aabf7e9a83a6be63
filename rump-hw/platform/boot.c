/* From multiboot to the application: console, memory from the multiboot map,
 * entropy, interrupts, clock, scheduler; then bmk_main() runs as the first
 * thread on the boot stack. */
#include <stdarg.h>
#include "bmk/kernel.h"
#include "bmk/x86.h"

struct multiboot_info {
  uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
  uint32_t syms[4], mmap_length, mmap_addr;
};

extern char _image_start[], _end[];
int bmk_main(void); /* the application (app/) */

static uint64_t boot_tsc;
uint64_t bmk_boot_tsc(void) { return boot_tsc; }

static void *plat_alloc(size_t len, size_t align) { return bmk_memalloc(len, align); }
static void plat_free(void *p, size_t len) { bmk_memfree(p, len); }

static const struct bmk_platform hw = {
    bmk_clock_mono_ns, bmk_clock_idle, bmk_intr_poll, plat_alloc, plat_free,
};

_Noreturn void bmk_halt(const char *why) {
  cli();
  bmk_printf("\nfwnet-rump: halt: %s\n", why);
  outw(0x604, 0x2000);  /* QEMU's ACPI PM1a control: power off (pc and q35) */
  outw(0xb004, 0x2000); /* older QEMU */
  for (;;) __asm__ volatile("hlt");
}

_Noreturn void bmk_panic(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  bmk_vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  bmk_printf("\nfwnet-rump: panic: %s\n", buf);
  bmk_halt("panic");
}

void bmk_boot(uint32_t magic, uint32_t info_addr);
void bmk_boot(uint32_t magic, uint32_t info_addr) {
  boot_tsc = rdtsc();
  bmk_cons_init();
  bmk_printf("\nfwnet-rump: booting\n");
  if (magic != 0x2BADB002) bmk_panic("not started by a multiboot loader (magic %#x)", magic);
  const struct multiboot_info *mbi = (const void *)(uintptr_t)info_addr;
  if (!(mbi->flags & 1)) bmk_panic("multiboot: no memory size");
  bmk_cmdline_init((mbi->flags & 4) ? (const char *)(uintptr_t)mbi->cmdline : "");
  /* Free memory: from the image's end to the top of the first region above
   * 1 MiB (identity mapped up to 4 GiB). The command line and the info are
   * copied or read before anything is allocated. */
  uintptr_t top = 0x100000 + (uintptr_t)mbi->mem_upper * 1024;
  if (top > 0xC0000000u) top = 0xC0000000u;
  bmk_mem_init((uintptr_t)_end, top);
  bmk_random_init();
  bmk_intr_init();
  bmk_clock_init();
  bmk_sched_init(&hw);
  bmk_intr_start_thread();
  sti();
  bmk_cons_start_input();
  struct bmk_mem_stats ms;
  bmk_mem_stats(&ms);
  bmk_printf("fwnet-rump: %lu KiB image, %lu KiB free, TSC %lu MHz, random %s\n",
             (unsigned long)((uintptr_t)_end - (uintptr_t)_image_start) / 1024,
             (unsigned long)ms.pages_total * 4, (unsigned long)(bmk_tsc_hz() / 1000000),
             bmk_random_source());
  int rc = bmk_main();
  bmk_printf("fwnet-rump: main returned %d\n", rc);
  bmk_halt("main returned");
}
