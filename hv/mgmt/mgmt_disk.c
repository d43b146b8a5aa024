/*
 * Guest disks on NBD storage: the hooks hv/vm calls (struct vm_disk_hooks) over net/nbd.h.
 * A virtio-blk's request becomes an NBD request whose cookie is the device's request id; the
 * NBD client, on the control CPU, pulls a write's data from the guest's buffers and pushes a
 * read's into them through the device (under the VM's device lock), and completes the request
 * there. FLUSH is NBD_CMD_FLUSH (Linux sends it for its flushes and to emulate FUA, since the
 * device offers a volatile cache), so what the guest was told is on the disk is on the
 * server's. A read-only export is refused for now (the guest would see every write fail).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/log.h"
#include "hv/dev/vvirtio_blk.h"
#include "hv/mgmt/mgmt_disk.h"
#include "hv/mgmt/mgmt_internal.h"
#include "net/nbd.h"

struct ndisk {
    bool used;
    struct nbd_client *c;
    struct vm *vm;
    struct device *dev;                 /* NULL until the device exists */
};
static struct ndisk disks[NBD_CLIENTS];

/* The device's data path, from the NBD client on the control CPU. */
static int tx_data(void *ctx, uint64_t cookie, uint32_t off, void *dst, uint32_t n)
{
    struct ndisk *d = ctx;
    if (!d->dev)
        return -EIO;
    spin_lock(&d->vm->devs.lock);
    long r = vvirtio_blk_io_read(d->dev, (unsigned)cookie, off, dst, n);
    spin_unlock(&d->vm->devs.lock);
    if (r != (long)n)
        log_warn("disk", "vm %s: write request %llu: guest data at %u+%u unreadable (%ld)",
                 d->vm->name, (unsigned long long)cookie, off, n, r);
    return r == (long)n ? 0 : -EIO;
}

static int rx_data(void *ctx, uint64_t cookie, uint32_t off, const void *src, uint32_t n)
{
    struct ndisk *d = ctx;
    if (!d->dev)
        return -EIO;
    spin_lock(&d->vm->devs.lock);
    long r = vvirtio_blk_io_write(d->dev, (unsigned)cookie, off, src, n);
    spin_unlock(&d->vm->devs.lock);
    if (r != (long)n)
        log_warn("disk", "vm %s: read request %llu: guest buffer at %u+%u unwritable (%ld)",
                 d->vm->name, (unsigned long long)cookie, off, n, r);
    return r == (long)n ? 0 : -EIO;
}

static void done(void *ctx, uint64_t cookie, int status)
{
    struct ndisk *d = ctx;
    if (!d->dev)
        return;
    spin_lock(&d->vm->devs.lock);
    vvirtio_blk_complete(d->dev, (unsigned)cookie, status);
    spin_unlock(&d->vm->devs.lock);
}

static const struct nbd_client_ops ops = { .tx_data = tx_data, .rx_data = rx_data, .done = done };

/* From the kicking vCPU, the device lock held: only queues (nbd_submit never blocks). */
static int submit(void *ctx, const struct vblk_io *io)
{
    struct ndisk *d = ctx;
    enum nbd_cmd cmd = io->op == VBLK_READ ? NBD_CMD_READ
                     : io->op == VBLK_WRITE ? NBD_CMD_WRITE : NBD_CMD_FLUSH;
    return nbd_submit(d->c, cmd, io->sector * VBLK_SECTOR, io->len, false, io->id);
}

static int disk_open(const char *uri, void **handle, uint64_t *sectors, char *err,
                     size_t errlen)
{
    struct ndisk *d = NULL;
    for (unsigned i = 0; i < NBD_CLIENTS && !d; i++)
        if (!disks[i].used)
            d = &disks[i];
    if (!d) {
        snprintf(err, errlen, "at most %d network disks", NBD_CLIENTS);
        return -ENOSPC;
    }
    memset(d, 0, sizeof(*d));
    int rc = nbd_open(uri, &ops, d, &d->c, err, errlen);
    if (rc)
        return rc;
    const struct nbd_export *e = nbd_export_of(d->c);
    if (e->flags & NBD_FLAG_READ_ONLY) {
        nbd_close(d->c);
        snprintf(err, errlen, "%s is read-only (not supported yet)", uri);
        return -EROFS;
    }
    d->used = true;
    *sectors = e->size / VBLK_SECTOR;
    *handle = d;
    return 0;
}

static void disk_bind(void *handle, struct vm *vm, struct device *dev, struct vblk_backend *be)
{
    struct ndisk *d = handle;
    d->vm = vm;
    d->dev = dev;
    be->submit = submit;
    be->ctx = d;
    be->flush = nbd_export_of(d->c)->flags & NBD_FLAG_SEND_FLUSH;
}

static void disk_close(void *handle)
{
    struct ndisk *d = handle;
    d->dev = NULL;
    nbd_close(d->c);
    d->used = false;
}

static int disk_describe(void *handle, char *buf, size_t n)
{
    return nbd_describe(((struct ndisk *)handle)->c, buf, n);
}

const struct vm_disk_hooks mgmt_disk_hooks = {
    .open = disk_open,
    .bind = disk_bind,
    .close = disk_close,
    .describe = disk_describe,
};
