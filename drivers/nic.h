/*
 * Network interface cards as the rest of ferry sees them. A NIC driver
 * (e1000, virtio-net) claims a PCI function, sets up polled descriptor
 * rings and registers a struct nic. net/ attaches each one to lwIP; drivers
 * know nothing of lwIP. All calls come from the control plane (BSP).
 *
 * Receive buffers and who owns them. Each NIC has a fixed set of DMA buffers
 * (struct nic_rxpool, three per RX descriptor): every descriptor always holds
 * one, the others wait as spares. rx_poll hands each good frame up in its own
 * buffer (struct nic_rxbuf) through nic_rx_fn:
 *  - lend: the driver has taken a spare for the descriptor first. The consumer
 *    may keep the buffer by returning true; it owns it until it calls
 *    nic_rxbuf_release() exactly once, which may happen before deliver returns.
 *    Returning false leaves the buffer with the driver (never release it then).
 *  - no lend (no spare left: the consumer holds them all): the frame is only
 *    valid during the call; copy or drop it and return false.
 * A descriptor is thus never without a buffer, and buffers in the ring, in the
 * spare pool and lent out always add up to the pool's total. Bad frames are
 * never handed up; their buffer stays in its descriptor.
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
struct nic_rxpool;

enum nic_rxbuf_state { NIC_RXBUF_SPARE, NIC_RXBUF_RING, NIC_RXBUF_LENT };

/* One receive buffer. frame and len are set when it is handed up; the rest is the pool's. */
struct nic_rxbuf {
    uint8_t *frame;                 /* the received frame, no FCS */
    uint16_t len;
    uint8_t state;                  /* enum nic_rxbuf_state */
    struct nic_rxpool *pool;
    uint8_t *va;                    /* the whole buffer */
    uint64_t pa;
};

/* A NIC's receive buffers: one DMA allocation, buffers first, then the bookkeeping. */
struct nic_rxpool {
    struct nic_rxbuf *bufs;
    struct nic_rxbuf **spare;       /* stack of nspare spares */
    unsigned nbufs, nspare, nlent, buf_size;
    uint64_t phys, pages;
    uint64_t lent, short_spare;     /* frames lent; frames handed up with no spare to lend */
    bool bad_release_logged;
};

/* Called by rx_poll for each good frame (see the ownership rule above); true: kept. */
typedef bool (*nic_rx_fn)(void *ctx, struct nic_rxbuf *b, bool lend);

/* Gives a lent buffer back to its pool (from any code on the BSP, at any time). */
void nic_rxbuf_release(struct nic_rxbuf *b);

/* For drivers (drivers/nic_rxpool.c). nbufs buffers of buf_size bytes: 0, -EINVAL, -ENOMEM. */
int nic_rxpool_init(struct nic_rxpool *p, unsigned nbufs, unsigned buf_size);
/* Frees the memory; only once the device no longer uses it and nothing is lent (-EBUSY). */
int nic_rxpool_destroy(struct nic_rxpool *p);
/* A spare for a descriptor at setup (state RING), or NULL when none is left. */
struct nic_rxbuf *nic_rxpool_take(struct nic_rxpool *p);
/*
 * Hands the len-byte frame at offset off of ring buffer b to deliver, lending b when a spare
 * can replace it. Returns the buffer the descriptor holds now: b, or the spare when the
 * consumer kept b (the driver then points the descriptor at the new buffer's pa).
 */
struct nic_rxbuf *nic_rx_hand_up(struct nic_rxpool *p, struct nic_rxbuf *b, unsigned off,
                                 unsigned len, nic_rx_fn deliver, void *ctx);

struct nic_ops {
    /* Queues one frame (copied before return). 0, or -EAGAIN when the ring is full. */
    int (*tx)(struct nic *n, const void *frame, size_t len);
    /* Hands up to budget received frames to deliver; returns how many. */
    int (*rx_poll)(struct nic *n, nic_rx_fn deliver, void *ctx, int budget);
    bool (*link_up)(struct nic *n);
    /* Receive every frame on the wire (a switch's uplink, net/vswitch.c), or only the NIC's
     * own address, broadcast and its multicast filter again. 0 or a negative -E*. */
    int (*set_promisc)(struct nic *n, bool on);
    /* Tells the device of frames tx queued without telling it yet (optional: a driver that
     * batches its doorbell). The network stack calls it once per pass of its poll. */
    void (*flush)(struct nic *n);
};

struct nic {
    char name[8];                   /* "eth0", "eth1", ... in registration order */
    const char *driver;             /* "e1000", "virtio-net" */
    uint8_t mac[6];
    const struct nic_ops *ops;
    void *priv;
    const struct pci_dev *pci;
    struct nic_rxpool rxpool;
    /* Driver-level counters (lwIP keeps its own). */
    uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors, tx_errors, rx_drops;
    /* Register writes that tell the device of new buffers (virtio notifies, e1000 tail
     * writes): each is a trap in an emulator, an uncached write on hardware. */
    uint64_t doorbells;
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
