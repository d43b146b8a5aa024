/*
 * Network stack entry points and the Ethernet netif glue between NIC drivers and lwIP.
 * lwIP runs with NO_SYS: everything happens on the caller's thread. The core calls net_init()
 * once, feeds received frames to net_if_input_lent() (zero copy) or net_if_input() (copied)
 * and calls net_poll() regularly for timers. A driver registers a struct net_if with a
 * transmit op and a release op for lent buffers; lwIP's output reaches the driver as one
 * contiguous frame per call. Drivers know nothing of lwIP beyond this header.
 */
#ifndef NET_NET_H
#define NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwip/netif.h"

#define NET_ETH_HLEN       14
#define NET_ETH_MIN_FRAME  60      // without FCS; shorter frames are zero-padded on transmit
#define NET_ETH_MAX_FRAME  1522    // 1518 plus an 802.1Q tag

/*
 * Transmit one frame of len bytes (no FCS). The frame buffer is only valid during the call:
 * copy it or finish with it before returning. Must not call back into net_*.
 * Returns 0 or a negative -E* code (counted as tx_errors, reported to lwIP as ERR_IF).
 */
typedef int (*net_tx_fn)(void *drv, const void *frame, size_t len);

/* Gives back a buffer lent with net_if_input_lent once lwIP is done with its frame. */
typedef void (*net_rx_release_fn)(void *drv, void *buf);

struct net_nic_ops {
    net_tx_fn tx;
    net_rx_release_fn rx_release;   // NULL: frames are always copied
};

// Frames lwIP may hold in lent buffers at once (all interfaces); beyond that they are copied.
#define NET_RX_LENT_MAX 1024

struct net_if {
    struct netif netif;
    const struct net_nic_ops *ops;
    void *drv;
    uint8_t mac[6];
    uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors, tx_errors, rx_drops;
    char name[8];
};

void net_init(void);    // idempotent
void net_poll(void);    // runs due lwIP timers

/*
 * Registers nif (caller-owned, must stay alive) as an lwIP netif named by the first two
 * characters of name, administratively up, link down, no address. The first interface added
 * becomes lwIP's default route. Returns 0 or -EINVAL.
 */
int net_if_add(struct net_if *nif, const char *name, const uint8_t mac[6],
               const struct net_nic_ops *ops, void *drv);

// Addresses in network byte order; mask must be contiguous. Returns 0 or -EINVAL.
int net_if_set_ipv4(struct net_if *nif, uint32_t addr_be, uint32_t mask_be, uint32_t gw_be);

// Hands a received frame (no FCS) to lwIP; the frame is copied before return.
void net_if_input(struct net_if *nif, const void *frame, size_t len);

/*
 * Hands a received frame (no FCS) to lwIP in the caller's buffer buf, without a copy: the
 * frame becomes the payload of a custom pbuf. Returns true when lwIP took the buffer: then
 * ops->rx_release(drv, buf) runs exactly once when lwIP frees the pbuf, which may be before
 * this returns. Returns false when the buffer stays the caller's: a bad frame (rx_errors), or
 * no wrapper left or no release op (the frame was copied as by net_if_input, or dropped).
 */
bool net_if_input_lent(struct net_if *nif, void *frame, size_t len, void *buf);

// Frames lwIP holds in lent buffers now.
unsigned net_rx_lent(void);

void net_if_set_link(struct net_if *nif, bool up);

#endif
