/* virtio-net, legacy (transitional) PCI interface: registers in I/O BAR 0,
 * split virtqueues at a page frame number. Only VIRTIO_NET_F_MAC is
 * negotiated, so each buffer starts with the 10-byte virtio_net_hdr (no
 * checksum offload, no merged buffers). Receive buffers are posted once and
 * recycled after the upcall; transmit slots are reclaimed from the used ring
 * when the stack asks for one. */
#include "bmk/kernel.h"
#include "bmk/x86.h"
#include "bmk/nic.h"

#define VIRTIO_PCI_HOST_FEATURES 0x00
#define VIRTIO_PCI_GUEST_FEATURES 0x04
#define VIRTIO_PCI_QUEUE_PFN 0x08
#define VIRTIO_PCI_QUEUE_NUM 0x0c
#define VIRTIO_PCI_QUEUE_SEL 0x0e
#define VIRTIO_PCI_QUEUE_NOTIFY 0x10
#define VIRTIO_PCI_STATUS 0x12
#define VIRTIO_PCI_ISR 0x13
#define VIRTIO_PCI_CONFIG 0x14 /* MAC, without MSI-X */
#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FAILED 128
#define F_MAC (1u << 5)
#define HDR 10
#define BUFSZ 2048
#define VRING_F_NEXT 1
#define VRING_F_WRITE 2

struct vring_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags, next;
};
struct vring_avail {
  uint16_t flags, idx, ring[];
};
struct vring_used_elem {
  uint32_t id, len;
};
struct vring_used {
  uint16_t flags, idx;
  struct vring_used_elem ring[];
};

struct vq {
  uint16_t num, last_used, free_count;
  struct vring_desc *desc;
  struct vring_avail *avail;
  volatile struct vring_used *used;
  uint8_t *bufs; /* num * BUFSZ */
  uint16_t *free_stack;
};

struct vnet {
  struct nic nic;
  uint16_t io;
  struct vq rx, tx;
  struct bmk_waitq tx_wait;
  uint16_t tx_slot;
};

static int vq_setup(struct vnet *v, int idx, struct vq *q) {
  outw(v->io + VIRTIO_PCI_QUEUE_SEL, (uint16_t)idx);
  uint16_t num = inw(v->io + VIRTIO_PCI_QUEUE_NUM);
  if (!num) return -1;
  size_t avail_end = 16u * num + 6 + 2u * num;
  size_t used_off = (avail_end + 4095) & ~(size_t)4095;
  size_t bytes = used_off + 6 + 8u * num;
  size_t pages = (bytes + 4095) / 4096;
  uint8_t *mem = bmk_pgalloc(pages);
  uint8_t *bufs = bmk_pgalloc((size_t)num * BUFSZ / 4096);
  uint16_t *stack = bmk_malloc(num * sizeof(uint16_t));
  if (!mem || !bufs || !stack) return -1;
  for (size_t i = 0; i < pages * 4096; i++) mem[i] = 0;
  q->num = num;
  q->desc = (struct vring_desc *)mem;
  q->avail = (struct vring_avail *)(mem + 16u * num);
  q->used = (volatile struct vring_used *)(mem + used_off);
  q->bufs = bufs;
  q->free_stack = stack;
  q->last_used = 0;
  q->free_count = num;
  for (uint16_t i = 0; i < num; i++) {
    q->desc[i].addr = (uint64_t)(uintptr_t)(bufs + (size_t)i * BUFSZ);
    q->desc[i].len = BUFSZ;
    stack[i] = (uint16_t)(num - 1 - i);
  }
  outl(v->io + VIRTIO_PCI_QUEUE_PFN, (uint32_t)((uintptr_t)mem >> 12));
  return 0;
}

static void rx_post(struct vq *q, uint16_t id) {
  q->desc[id].len = BUFSZ;
  q->desc[id].flags = VRING_F_WRITE;
  q->avail->ring[q->avail->idx % q->num] = id;
  mb();
  q->avail->idx++;
}

static int vnet_intr(void *arg) {
  struct vnet *v = arg;
  uint8_t isr = inb(v->io + VIRTIO_PCI_ISR); /* reading acknowledges */
  if (!isr) return 0;
  v->nic.stats.irqs++;
  struct vq *q = &v->rx;
  int posted = 0;
  for (;;) {
    mb();
    if (q->last_used == q->used->idx) break;
    struct vring_used_elem e = q->used->ring[q->last_used % q->num];
    q->last_used++;
    uint8_t *buf = q->bufs + (size_t)e.id * BUFSZ;
    if (e.len > HDR && v->nic.input) {
      v->nic.stats.rx_frames++;
      v->nic.stats.rx_bytes += e.len - HDR;
      v->nic.input(&v->nic, buf + HDR, e.len - HDR);
    }
    rx_post(q, (uint16_t)e.id);
    posted = 1;
  }
  if (posted) {
    mb();
    outw(v->io + VIRTIO_PCI_QUEUE_NOTIFY, 0);
  }
  if (!bmk_waitq_empty(&v->tx_wait)) bmk_waitq_wake_all(&v->tx_wait);
  return 1;
}

static void tx_reclaim(struct vq *q) {
  mb();
  while (q->last_used != q->used->idx) {
    struct vring_used_elem e = q->used->ring[q->last_used % q->num];
    q->last_used++;
    q->free_stack[q->free_count++] = (uint16_t)e.id;
  }
}

static void *vnet_tx_reserve(struct nic *n, size_t len) {
  struct vnet *v = n->priv;
  struct vq *q = &v->tx;
  if (len + HDR > BUFSZ) return NULL;
  tx_reclaim(q);
  while (!q->free_count) {
    n->stats.tx_ring_full++;
    /* the device finishes transmits without an interrupt we wait for: poll */
    bmk_waitq_sleep(&v->tx_wait, bmk_clock_mono_ns() + 1000000);
    tx_reclaim(q);
  }
  v->tx_slot = q->free_stack[--q->free_count];
  uint8_t *buf = q->bufs + (size_t)v->tx_slot * BUFSZ;
  for (int i = 0; i < HDR; i++) buf[i] = 0;
  return buf + HDR;
}

static void vnet_tx_commit(struct nic *n, size_t len) {
  struct vnet *v = n->priv;
  struct vq *q = &v->tx;
  q->desc[v->tx_slot].len = (uint32_t)(len + HDR);
  q->desc[v->tx_slot].flags = 0;
  q->avail->ring[q->avail->idx % q->num] = v->tx_slot;
  mb();
  q->avail->idx++;
  mb();
  outw(v->io + VIRTIO_PCI_QUEUE_NOTIFY, 1);
  n->stats.tx_frames++;
  n->stats.tx_bytes += len;
}

static void vnet_start(struct nic *n);
static const struct nic_ops vnet_ops = {vnet_start, vnet_tx_reserve, vnet_tx_commit};

int virtio_net_attach(struct bmk_pci_dev *d, struct nic **out) {
  if (d->vendor != 0x1af4 || d->device != 0x1000) return -1;
  if (!(d->bar[0] & 1)) {
    bmk_printf("virtio-net %02x:%02x: no legacy I/O BAR (a modern-only device)\n", d->bus, d->dev);
    return -1;
  }
  struct vnet *v = bmk_malloc(sizeof(*v));
  if (!v) return -1;
  for (size_t i = 0; i < sizeof(*v); i++) ((char *)v)[i] = 0;
  v->io = (uint16_t)(d->bar[0] & ~3u);
  bmk_pci_enable(d);
  outb(v->io + VIRTIO_PCI_STATUS, 0); /* reset */
  outb(v->io + VIRTIO_PCI_STATUS, S_ACK);
  outb(v->io + VIRTIO_PCI_STATUS, S_ACK | S_DRIVER);
  uint32_t feat = inl(v->io + VIRTIO_PCI_HOST_FEATURES);
  outl(v->io + VIRTIO_PCI_GUEST_FEATURES, feat & F_MAC);
  if (vq_setup(v, 0, &v->rx) || vq_setup(v, 1, &v->tx)) {
    outb(v->io + VIRTIO_PCI_STATUS, S_FAILED);
    bmk_printf("virtio-net: queue setup failed\n");
    return -1;
  }
  for (int i = 0; i < 6; i++) v->nic.mac[i] = inb((uint16_t)(v->io + VIRTIO_PCI_CONFIG + i));
  v->nic.driver = "virtio-net";
  v->nic.irq = d->irq;
  v->nic.ops = &vnet_ops;
  v->nic.priv = v;
  *out = &v->nic;
  return 0;
}

/* Start receiving once the stack has set nic->input. */
static void vnet_start(struct nic *n) {
  struct vnet *v = n->priv;
  bmk_intr_establish(n->irq, vnet_intr, v);
  while (v->rx.free_count) rx_post(&v->rx, v->rx.free_stack[--v->rx.free_count]);
  outb(v->io + VIRTIO_PCI_STATUS, S_ACK | S_DRIVER | S_DRIVER_OK);
  mb();
  outw(v->io + VIRTIO_PCI_QUEUE_NOTIFY, 0);
}
