/* Intel 82540EM (QEMU's "e1000"): legacy descriptors in two rings, registers
 * in memory BAR 0. The MAC is in receive address 0 (QEMU loads it from the
 * EEPROM image at reset). Interrupts: receive timer, link change, transmit
 * descriptor written back; reading ICR acknowledges them. */
#include "bmk/kernel.h"
#include "bmk/x86.h"
#include "bmk/nic.h"

#define CTRL 0x0000
#define STATUS 0x0008
#define ICR 0x00c0
#define IMS 0x00d0
#define IMC 0x00d8
#define RCTL 0x0100
#define TCTL 0x0400
#define TIPG 0x0410
#define RDBAL 0x2800
#define RDBAH 0x2804
#define RDLEN 0x2808
#define RDH 0x2810
#define RDT 0x2818
#define TDBAL 0x3800
#define TDBAH 0x3804
#define TDLEN 0x3808
#define TDH 0x3810
#define TDT 0x3818
#define MTA 0x5200
#define RAL0 0x5400
#define RAH0 0x5404

#define CTRL_SLU (1u << 6)
#define CTRL_ASDE (1u << 5)
#define CTRL_RST (1u << 26)
#define RCTL_EN (1u << 1)
#define RCTL_BAM (1u << 15)
#define RCTL_SECRC (1u << 26) /* BSIZE 00: 2048 bytes */
#define TCTL_EN (1u << 1)
#define TCTL_PSP (1u << 3)
#define ICR_TXDW (1u << 0)
#define ICR_LSC (1u << 2)
#define ICR_RXDMT0 (1u << 4)
#define ICR_RXO (1u << 6)
#define ICR_RXT0 (1u << 7)
#define NDESC 256
#define BUFSZ 2048

struct rx_desc {
  uint64_t addr;
  uint16_t len, csum;
  uint8_t status, errors;
  uint16_t special;
};
struct tx_desc {
  uint64_t addr;
  uint16_t len;
  uint8_t cso, cmd, status, css;
  uint16_t special;
};
#define DD 0x01
#define TX_EOP 0x01
#define TX_IFCS 0x02
#define TX_RS 0x08

struct e1k {
  struct nic nic;
  volatile uint8_t *regs;
  volatile struct rx_desc *rx;
  volatile struct tx_desc *tx;
  uint8_t *rxbuf, *txbuf;
  unsigned rx_next, tx_next, tx_clean;
  struct bmk_waitq tx_wait;
};

static uint32_t rd(struct e1k *e, uint32_t r) { return *(volatile uint32_t *)(e->regs + r); }
static void wr(struct e1k *e, uint32_t r, uint32_t v) { *(volatile uint32_t *)(e->regs + r) = v; }

static void tx_clean(struct e1k *e) {
  while (e->tx_clean != e->tx_next && (e->tx[e->tx_clean].status & DD)) e->tx_clean = (e->tx_clean + 1) % NDESC;
}

static int e1k_intr(void *arg) {
  struct e1k *e = arg;
  uint32_t icr = rd(e, ICR);
  if (!icr) return 0;
  e->nic.stats.irqs++;
  for (;;) {
    volatile struct rx_desc *d = &e->rx[e->rx_next];
    if (!(d->status & DD)) break;
    if ((d->status & 0x02 /* EOP */) && !d->errors && e->nic.input) {
      e->nic.stats.rx_frames++;
      e->nic.stats.rx_bytes += d->len;
      e->nic.input(&e->nic, e->rxbuf + (size_t)e->rx_next * BUFSZ, d->len);
    }
    d->status = 0;
    wr(e, RDT, e->rx_next); /* hand this one back: RDT trails the cleaned descriptor */
    e->rx_next = (e->rx_next + 1) % NDESC;
  }
  if (icr & ICR_RXO) e->nic.stats.rx_no_buffer++;
  if (!bmk_waitq_empty(&e->tx_wait)) bmk_waitq_wake_all(&e->tx_wait);
  return 1;
}

static void *e1k_tx_reserve(struct nic *n, size_t len) {
  struct e1k *e = n->priv;
  if (len > BUFSZ) return NULL;
  tx_clean(e);
  while ((e->tx_next + 1) % NDESC == e->tx_clean) {
    n->stats.tx_ring_full++;
    bmk_waitq_sleep(&e->tx_wait, bmk_clock_mono_ns() + 1000000);
    tx_clean(e);
  }
  return e->txbuf + (size_t)e->tx_next * BUFSZ;
}

static void e1k_tx_commit(struct nic *n, size_t len) {
  struct e1k *e = n->priv;
  volatile struct tx_desc *d = &e->tx[e->tx_next];
  d->addr = (uint64_t)(uintptr_t)(e->txbuf + (size_t)e->tx_next * BUFSZ);
  d->len = (uint16_t)(len < 60 ? 60 : len); /* the buffer's tail is zeroed below */
  if (len < 60)
    for (size_t i = len; i < 60; i++) (e->txbuf + (size_t)e->tx_next * BUFSZ)[i] = 0;
  d->cmd = TX_EOP | TX_IFCS | TX_RS;
  d->status = 0;
  e->tx_next = (e->tx_next + 1) % NDESC;
  mb();
  wr(e, TDT, e->tx_next);
  n->stats.tx_frames++;
  n->stats.tx_bytes += len;
}

static void e1k_start(struct nic *n) {
  struct e1k *e = n->priv;
  bmk_intr_establish(n->irq, e1k_intr, e);
  wr(e, IMS, ICR_RXT0 | ICR_RXO | ICR_RXDMT0 | ICR_LSC | ICR_TXDW);
  wr(e, RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC);
  wr(e, TCTL, TCTL_EN | TCTL_PSP | (15u << 4) | (64u << 12));
}

static const struct nic_ops e1k_ops = {e1k_start, e1k_tx_reserve, e1k_tx_commit};

int e1000_attach(struct bmk_pci_dev *d, struct nic **out) {
  if (d->vendor != 0x8086 || (d->device != 0x100e && d->device != 0x100f)) return -1;
  if (d->bar[0] & 1) return -1;
  struct e1k *e = bmk_malloc(sizeof(*e));
  if (!e) return -1;
  for (size_t i = 0; i < sizeof(*e); i++) ((char *)e)[i] = 0;
  e->regs = (volatile uint8_t *)(uintptr_t)(d->bar[0] & ~0xfu);
  bmk_pci_enable(d);
  wr(e, IMC, ~0u);
  wr(e, CTRL, rd(e, CTRL) | CTRL_RST);
  for (int i = 0; i < 100000 && (rd(e, CTRL) & CTRL_RST); i++) {
  }
  wr(e, IMC, ~0u);
  wr(e, CTRL, (rd(e, CTRL) | CTRL_SLU | CTRL_ASDE) & ~(1u << 3 /* LRST */));
  uint32_t ral = rd(e, RAL0), rah = rd(e, RAH0);
  for (int i = 0; i < 4; i++) e->nic.mac[i] = (uint8_t)(ral >> (8 * i));
  e->nic.mac[4] = (uint8_t)rah, e->nic.mac[5] = (uint8_t)(rah >> 8);
  wr(e, RAH0, rah | (1u << 31)); /* address valid */
  for (int i = 0; i < 128; i++) wr(e, MTA + 4 * i, 0);
  e->rx = bmk_pgalloc(NDESC * sizeof(struct rx_desc) / 4096);
  e->tx = bmk_pgalloc(NDESC * sizeof(struct tx_desc) / 4096);
  e->rxbuf = bmk_pgalloc(NDESC * BUFSZ / 4096);
  e->txbuf = bmk_pgalloc(NDESC * BUFSZ / 4096);
  if (!e->rx || !e->tx || !e->rxbuf || !e->txbuf) return -1;
  for (int i = 0; i < NDESC; i++) {
    e->rx[i].addr = (uint64_t)(uintptr_t)(e->rxbuf + (size_t)i * BUFSZ);
    e->rx[i].status = 0;
    e->tx[i].addr = 0;
    e->tx[i].status = DD;
    e->tx[i].cmd = 0;
  }
  wr(e, RDBAL, (uint32_t)(uintptr_t)e->rx);
  wr(e, RDBAH, 0);
  wr(e, RDLEN, NDESC * sizeof(struct rx_desc));
  wr(e, RDH, 0);
  wr(e, RDT, NDESC - 1);
  wr(e, TDBAL, (uint32_t)(uintptr_t)e->tx);
  wr(e, TDBAH, 0);
  wr(e, TDLEN, NDESC * sizeof(struct tx_desc));
  wr(e, TDH, 0);
  wr(e, TDT, 0);
  wr(e, TIPG, 10 | (8u << 10) | (6u << 20));
  e->nic.driver = "e1000";
  e->nic.irq = d->irq;
  e->nic.ops = &e1k_ops;
  e->nic.priv = e;
  *out = &e->nic;
  return 0;
}
