/*
 * virtio-net (virtio 1.2, 5.1) over the PCI transport (hv/dev/vvirtio.h): a receive queue, a
 * transmit queue and a control queue of 256 entries each; features MAC, STATUS, CTRL_VQ and
 * GUEST_ANNOUNCE; no checksum or segmentation offloads yet (every frame is whole and
 * checksummed by the guest), no mergeable receive buffers (Linux then posts buffers that hold
 * a whole frame).
 *
 * Frames out: a transmit chain's bytes past the 12-byte virtio_net_hdr go to the platform
 * (dev_net_tx: the VM's port on its virtual switch), copied before the chain is returned.
 * Frames in: the VM layer calls vvirtio_net_rx with the set locked; a frame for which the
 * driver has posted no buffer is dropped and counted, as a NIC whose ring is empty drops it.
 * After a migration, vvirtio_net_announce asks the guest to announce itself (the STATUS
 * ANNOUNCE bit and a configuration interrupt: Linux sends gratuitous ARPs and acknowledges on
 * the control queue).
 *
 * Bad chains (a transmit chain without a whole header, a frame shorter than an Ethernet header
 * or longer than VNET_FRAME_MAX, a receive chain whose buffers are device-readable, a control
 * chain without its class/command or ack byte) set DEVICE_NEEDS_RESET.
 *
 * Record version 1: the transport's (three queues), the MAC (must be the device's: the target
 * created it from the migration's HELLO), the status word.
 */
#ifndef HV_DEV_VVIRTIO_NET_H
#define HV_DEV_VVIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>

#include "hv/dev/device.h"

#define VNET_QUEUE_SIZE     256u
#define VNET_FRAME_MAX      1522u       /* 1518 and an 802.1Q tag, no FCS */
#define VNET_FRAME_MIN      14u
#define VNET_HDR_LEN        12u         /* struct virtio_net_hdr with num_buffers (VERSION_1) */

struct vvirtio_net_cfg {
    uint8_t mac[6];
};

struct vvirtio_net_stats {
    uint64_t rx_frames, rx_bytes, rx_drops, tx_frames, tx_bytes, tx_drops, announces;
};

extern const struct dev_type vvirtio_net_type;

/* A frame for the guest (set locked): 0, or -EAGAIN (dropped: no buffer posted, or the driver
 * is not running), -EINVAL (runt or oversized). */
int vvirtio_net_rx(struct device *d, const void *frame, size_t len);
/* Asks the guest to announce itself (after it moved); false if its driver cannot. */
bool vvirtio_net_announce(struct device *d);
void vvirtio_net_stats(const struct device *d, struct vvirtio_net_stats *out);
void vvirtio_net_mac(const struct device *d, uint8_t mac[6]);

#endif
