/* A network interface card as the stack sees it: a MAC, a transmit path in
 * two steps (reserve a slot's buffer, commit its length: one copy from the
 * stack's buffers into the ring) and a receive upcall, called from the
 * interrupt thread for each frame. */
#ifndef FWNET_NIC_H
#define FWNET_NIC_H
#include <stddef.h>
#include <stdint.h>

struct nic;

struct nic_ops {
  void (*start)(struct nic *n); /* after input is set: post buffers, enable interrupts */
  /* A buffer for one frame of up to len bytes; waits (yielding) while the
   * ring is full. NULL if the device is gone. */
  void *(*tx_reserve)(struct nic *n, size_t len);
  void (*tx_commit)(struct nic *n, size_t len);
};

struct nic_stats {
  uint64_t rx_frames, tx_frames, rx_bytes, tx_bytes, irqs, tx_ring_full, rx_no_buffer;
};

struct nic {
  const char *driver;
  uint8_t mac[6];
  uint8_t irq;
  const struct nic_ops *ops;
  void *priv;
  /* set by the stack's glue before the device is started */
  void (*input)(struct nic *n, const void *frame, size_t len);
  void *upper;
  struct nic_stats stats;
};

struct bmk_pci_dev;
/* Each driver: claim the PCI function if it is ours; 0 and *out on success. */
int virtio_net_attach(struct bmk_pci_dev *d, struct nic **out);
int e1000_attach(struct bmk_pci_dev *d, struct nic **out);

#endif
