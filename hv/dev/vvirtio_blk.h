/*
 * virtio-blk (virtio 1.2, 5.2) over the PCI transport (hv/dev/vvirtio.h): one request queue
 * of 256 entries; requests IN, OUT, FLUSH and GET_ID; features SEG_MAX, SIZE_MAX, BLK_SIZE
 * (512) and FLUSH. The disk is a RAM image the VM layer holds (a file from the boot volume,
 * copied at VM creation: writes live as long as the VM, across guest reboots, and are gone
 * when it is destroyed). Requests complete before the notifying write returns, so none is
 * ever in flight when the device is saved.
 *
 * Bad requests: a chain without a status byte or a header breaks the driver's contract
 * (DEVICE_NEEDS_RESET); a sector range past the disk, or a length that is not whole sectors,
 * is an I/O error to that request only; an unknown type is UNSUPP.
 *
 * Record version 1: the transport's (PCI function, features, status, the queue) and the
 * disk's size in sectors, which must match.
 */
#ifndef HV_DEV_VVIRTIO_BLK_H
#define HV_DEV_VVIRTIO_BLK_H

#include <stdint.h>

#include "hv/dev/device.h"

#define VBLK_SECTOR         512u
#define VBLK_QUEUE_SIZE     256u
#define VBLK_SEG_MAX        126u        /* data buffers per request, besides header and status */
#define VBLK_SIZE_MAX       65536u      /* bytes per data buffer */
#define VBLK_ID_LEN         20u

struct vvirtio_blk_cfg {
    uint8_t *data;                      /* the disk: sectors * 512 bytes of host memory */
    uint64_t sectors;
    char id[VBLK_ID_LEN + 1];           /* GET_ID's answer (the serial Linux shows) */
};

extern const struct dev_type vvirtio_blk_type;

/* What the device did, for `vm devices` and tests. */
struct vvirtio_blk_stats {
    uint64_t reads, writes, flushes, errors, bytes_read, bytes_written;
};
void vvirtio_blk_stats(const struct device *d, struct vvirtio_blk_stats *out);

#endif
