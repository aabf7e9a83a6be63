/* PCI configuration mechanism #1 (ports 0xCF8/0xCFC). The firmware (SeaBIOS
 * runs before a -kernel image) has assigned BARs and written each device's
 * legacy interrupt line, which is what the 8259 sees. */
#include "bmk/kernel.h"
#include "bmk/x86.h"

static uint32_t cfg_addr(int bus, int dev, int fn, int off) {
  return 0x80000000u | (uint32_t)bus << 16 | (uint32_t)dev << 11 | (uint32_t)fn << 8 | (uint32_t)(off & 0xfc);
}

static uint32_t cfg_read(int bus, int dev, int fn, int off) {
  outl(0xcf8, cfg_addr(bus, dev, fn, off));
  return inl(0xcfc);
}

uint32_t bmk_pci_read(const struct bmk_pci_dev *d, int off) { return cfg_read(d->bus, d->dev, d->fn, off); }

void bmk_pci_write(const struct bmk_pci_dev *d, int off, uint32_t v) {
  outl(0xcf8, cfg_addr(d->bus, d->dev, d->fn, off));
  outl(0xcfc, v);
}

void bmk_pci_enable(const struct bmk_pci_dev *d) {
  uint32_t cmd = bmk_pci_read(d, 0x04);
  bmk_pci_write(d, 0x04, (cmd & 0xffff) | 0x7); /* I/O, memory, bus master */
}

static int scan_bus(int bus, void (*probe)(struct bmk_pci_dev *, void *), void *arg, int depth) {
  int found = 0;
  for (int dev = 0; dev < 32; dev++) {
    int nfn = 1;
    for (int fn = 0; fn < nfn; fn++) {
      uint32_t id = cfg_read(bus, dev, fn, 0);
      if ((id & 0xffff) == 0xffff) continue;
      uint32_t hdr = cfg_read(bus, dev, fn, 0x0c) >> 16 & 0xff;
      if (fn == 0 && (hdr & 0x80)) nfn = 8;
      if ((hdr & 0x7f) == 1 && depth < 4) { /* PCI-PCI bridge: follow it */
        int sec = cfg_read(bus, dev, fn, 0x18) >> 8 & 0xff;
        if (sec > bus) found += scan_bus(sec, probe, arg, depth + 1);
        continue;
      }
      struct bmk_pci_dev d = {(uint8_t)bus, (uint8_t)dev, (uint8_t)fn, 0, (uint16_t)id,
                              (uint16_t)(id >> 16), {0}};
      d.irq = (uint8_t)cfg_read(bus, dev, fn, 0x3c);
      for (int b = 0; b < 6; b++) d.bar[b] = cfg_read(bus, dev, fn, 0x10 + 4 * b);
      found++;
      probe(&d, arg);
    }
  }
  return found;
}

int bmk_pci_scan(void (*probe)(struct bmk_pci_dev *d, void *arg), void *arg) {
  return scan_bus(0, probe, arg, 0);
}
