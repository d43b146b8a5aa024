/*
 * virtio-blk (virtio 1.2, 5.2) over the PCI transport (hv/dev/vvirtio.h): one request queue
 * of 256 entries; requests IN, OUT, FLUSH and GET_ID; features SEG_MAX, SIZE_MAX, BLK_SIZE
 * (512) and FLUSH. The disk is either
 *  - a RAM image the VM layer holds (a file from the boot volume, copied at VM creation:
 *    writes live as long as the VM, across guest reboots, and are gone when it is destroyed);
 *    its requests complete before the notifying write returns; or
 *  - a backend (network storage): requests go to it as they are taken (at most
 *    VBLK_INFLIGHT at once; the rest wait in the ring) and complete later, on any CPU, with
 *    vvirtio_blk_complete; the backend moves the data with vvirtio_blk_io_read/_write, straight
 *    between the guest's buffers and its own (no copy of the request in the device). A
 *    migration waits until none is in flight (vvirtio_blk_busy) before it saves the device.
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

#define VBLK_INFLIGHT       16          /* backend requests in flight at once */

/* A request for a backend: data moves through vvirtio_blk_io_* with its id. */
enum vblk_op { VBLK_READ, VBLK_WRITE, VBLK_FLUSH };
struct vblk_io {
    unsigned id;
    enum vblk_op op;
    uint64_t sector;
    uint32_t len;                       /* bytes (whole sectors); 0 for a flush */
};
struct vblk_backend {
    /* Takes io (called with the set locked, on the kicking vCPU's CPU): 0, or an error (the
     * request fails with IOERR at once). */
    int (*submit)(void *ctx, const struct vblk_io *io);
    void *ctx;
    bool flush;                         /* it can flush (else FLUSH is not offered) */
};

struct vvirtio_blk_cfg {
    uint8_t *data;                      /* a RAM disk: sectors * 512 bytes of host memory... */
    const struct vblk_backend *backend; /* ...or requests go to a backend */
    uint64_t sectors;
    char id[VBLK_ID_LEN + 1];           /* GET_ID's answer (the serial Linux shows) */
    char where[64];                     /* for `vm devices`: "disk.img", "nbd://..." */
};

/* For a backend, the set locked: copy bytes [off, off+n) of request id's data from the guest
 * (a write's) or into the guest (a read's). Bytes copied, or -EINVAL (no such request, out of
 * its range, or the guest's buffers are gone: the queue broke). */
long vvirtio_blk_io_read(struct device *d, unsigned id, uint64_t off, void *dst, uint64_t n);
long vvirtio_blk_io_write(struct device *d, unsigned id, uint64_t off, const void *src,
                          uint64_t n);
/* Request id is done: 0 or a negative error (the guest sees IOERR). The set locked. */
void vvirtio_blk_complete(struct device *d, unsigned id, int status);
/*
 * Write logging of a RAM disk, for a migration that copies it (storage=copy): from now on
 * every write sets, after its bytes landed, the bit of each VBLK_LOG_BLOCK-byte block it
 * touched in log (atomically: the reader takes words with an atomic exchange). log has a bit
 * per block of the disk (its size rounded up to a block), in whole words; NULL stops logging.
 * The set locked (no request is being served meanwhile, so after the call none uses the old
 * log). -EINVAL for a disk at a backend (its storage is shared: nothing to copy).
 */
#define VBLK_LOG_BLOCK      4096u
int vvirtio_blk_log(struct device *d, uint64_t *log);
/* Requests in flight at the backend. */
bool vvirtio_blk_busy(const struct device *d);

extern const struct dev_type vvirtio_blk_type;

/* What the device did, for `vm devices` and tests. */
struct vvirtio_blk_stats {
    uint64_t reads, writes, flushes, errors, bytes_read, bytes_written;
};
void vvirtio_blk_stats(const struct device *d, struct vvirtio_blk_stats *out);

#endif
