/*
 * Network interface cards as the rest of ferry sees them. A NIC driver
 * (e1000, virtio-net) claims a PCI function, sets up polled descriptor
 * rings and registers a struct nic. net/ attaches each one to lwIP; drivers
 * know nothing of lwIP. All calls come from the control plane (BSP).
 */
#ifndef DRIVERS_NIC_H
#define DRIVERS_NIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/pci.h"

#define NIC_MAX 8
#define NIC_MTU_FRAME 1514          /* largest frame without FCS and VLAN tag */

struct nic;

/* Called by rx_poll for each received frame (no FCS); the buffer is valid during the call. */
typedef void (*nic_rx_fn)(void *ctx, const void *frame, size_t len);

struct nic_ops {
    /* Queues one frame (copied before return). 0, or -EAGAIN when the ring is full. */
    int (*tx)(struct nic *n, const void *frame, size_t len);
    /* Hands up to budget received frames to deliver; returns how many. */
    int (*rx_poll)(struct nic *n, nic_rx_fn deliver, void *ctx, int budget);
    bool (*link_up)(struct nic *n);
};

struct nic {
    char name[8];                   /* "eth0", "eth1", ... in registration order */
    const char *driver;             /* "e1000", "virtio-net" */
    uint8_t mac[6];
    const struct nic_ops *ops;
    void *priv;
    const struct pci_dev *pci;
    /* Driver-level counters (lwIP keeps its own). */
    uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors, tx_errors, rx_drops;
};

/* Names the NIC and adds it to the list; -ENOSPC past NIC_MAX. */
int nic_register(struct nic *n);
unsigned nic_count(void);
struct nic *nic_get(unsigned i);

/* Probes every PCI function with every driver (drivers/nic.c holds the table). */
void nic_probe_all(void);

/* Driver probes: 0 if claimed, -ENODEV if not theirs, other -E* if it failed. */
int e1000_probe(struct pci_dev *d);
int virtio_net_probe(struct pci_dev *d);

#endif
