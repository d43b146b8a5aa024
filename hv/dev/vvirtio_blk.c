/* virtio-blk on a RAM image; see hv/dev/vvirtio_blk.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"
#include "hv/dev/vvirtio.h"
#include "hv/dev/vvirtio_blk.h"

#define VIRTIO_ID_BLOCK       2
#define BLK_F_SIZE_MAX        1
#define BLK_F_SEG_MAX         2
#define BLK_F_BLK_SIZE        6
#define BLK_F_FLUSH           9
#define CONFIG_SIZE           60u       /* through write_zeroes_may_unmap and its padding */

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };

#define REC_SIZE (VVIRTIO_REC_SIZE(1) + 8)

struct vblk {
    struct vvirtio v;                   /* first */
    uint8_t *data;
    uint64_t sectors;
    char id[VBLK_ID_LEN];
    struct vvirtio_blk_stats stats;
    struct virtq_chain chain;           /* the request being served (too big for a stack) */
};

static struct vblk *of(struct vvirtio *v) { return (struct vblk *)v; }

static void wr(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int config(struct vvirtio *v, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    uint8_t c[CONFIG_SIZE] = { 0 };
    if (write)
        return 0;                       /* writeback (CONFIG_WCE) is not offered: read-only */
    wr(c + 0, of(v)->sectors, 8);       /* capacity */
    wr(c + 8, VBLK_SIZE_MAX, 4);
    wr(c + 12, VBLK_SEG_MAX, 4);
    wr(c + 20, VBLK_SECTOR, 4);         /* blk_size */
    wr(c + 34, 1, 2);                   /* num_queues */
    uint64_t r = 0;
    for (unsigned i = 0; i < size; i++)
        r |= (uint64_t)c[off + i] << (8 * i);
    *val = r;
    return 0;
}

/* Serves one chain: the status to return and the bytes written into the driver's buffers;
 * -EINVAL when the chain breaks the request format (no header, no status byte). */
static int serve(struct vblk *b, struct virtq *q, const struct virtq_chain *c, uint32_t *written)
{
    uint8_t hdr[16];
    const struct virtq_mem *m = &b->v.mem;
    if (c->out_bytes < sizeof(hdr) || c->in_bytes < 1 ||
        virtq_read(q, m, c, 0, hdr, sizeof(hdr)) != (long)sizeof(hdr))
        return -EINVAL;
    uint32_t type = hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (uint32_t)hdr[3] << 24;
    uint64_t sector = 0;
    for (unsigned i = 0; i < 8; i++)
        sector |= (uint64_t)hdr[8 + i] << (8 * i);
    uint64_t status_at = c->in_bytes - 1, len;
    uint8_t status = S_OK;
    long n = 0;
    *written = 0;
    switch (type) {
    case T_IN:
    case T_OUT:
        len = type == T_IN ? status_at : c->out_bytes - sizeof(hdr);
        if ((type == T_OUT && status_at) || len % VBLK_SECTOR || sector > b->sectors ||
            len / VBLK_SECTOR > b->sectors - sector) {
            status = S_IOERR;
            break;
        }
        if (type == T_IN) {
            n = virtq_write(q, m, c, 0, b->data + sector * VBLK_SECTOR, len);
            b->stats.reads++;
            b->stats.bytes_read += len;
            *written = (uint32_t)len;
        } else {
            n = virtq_read(q, m, c, sizeof(hdr), b->data + sector * VBLK_SECTOR, len);
            b->stats.writes++;
            b->stats.bytes_written += len;
        }
        break;
    case T_FLUSH:
        b->stats.flushes++;             /* RAM: every write is already where it goes */
        break;
    case T_GET_ID:
        if (status_at < VBLK_ID_LEN) {
            status = S_IOERR;
            break;
        }
        n = virtq_write(q, m, c, 0, b->id, VBLK_ID_LEN);
        *written = VBLK_ID_LEN;
        break;
    default:
        status = S_UNSUPP;
        break;
    }
    if (n < 0)
        return -EINVAL;
    if (status != S_OK)
        b->stats.errors++;
    if (virtq_write(q, m, c, status_at, &status, 1) != 1)
        return -EINVAL;
    *written += 1;
    return 0;
}

/* The kick: serves what is available, at most two rings' worth per kick (a driver adding as
 * fast as we serve cannot hold the vCPU here forever; avail_event asks for the next kick). */
static void notify(struct vvirtio *v, unsigned qi)
{
    struct vblk *b = of(v);
    struct virtq *q = &v->q[qi];
    for (unsigned budget = 2u * q->size; budget; budget--) {
        int rc = virtq_pop(q, &v->mem, &b->chain);
        if (rc == 0) {
            virtq_set_avail_event(q, &v->mem);
            if ((rc = virtq_pop(q, &v->mem, &b->chain)) == 0)
                break;
        }
        uint32_t written;
        if (rc < 0 || serve(b, q, &b->chain, &written) || virtq_push(q, &v->mem, b->chain.head,
                                                                     written)) {
            if (!q->broken) {           /* the request's format, not the ring, was bad */
                q->broken = true;
                q->error = VIRTQ_ERR_REQUEST;
            }
            vvirtio_needs_reset(v);
            break;
        }
        vvirtio_used(v, qi);
    }
    virtq_set_avail_event(q, &v->mem);
}

static const struct vvirtio_ops ops = {
    .notify = notify,
    .config = config,
};

static int vblk_create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    const struct vvirtio_blk_cfg *c = cfg;
    struct vblk *b = d->state;
    if (!c || !c->data || !c->sectors) {
        snprintf(err, errlen, "virtio-blk: no disk");
        return -EINVAL;
    }
    b->data = c->data;
    b->sectors = c->sectors;
    memset(b->id, 0, sizeof(b->id));
    memcpy(b->id, c->id, strnlen(c->id, VBLK_ID_LEN));
    return vvirtio_init(&b->v, d, &ops, VIRTIO_ID_BLOCK, 0x018000, 1ull << BLK_F_SIZE_MAX |
                        1ull << BLK_F_SEG_MAX | 1ull << BLK_F_BLK_SIZE | 1ull << BLK_F_FLUSH,
                        1, VBLK_QUEUE_SIZE, CONFIG_SIZE, err, errlen);
}

static void vblk_destroy(struct device *d)
{
    vvirtio_destroy(&((struct vblk *)d->state)->v);
}

static void vblk_reset(struct device *d)
{
    vvirtio_reset(&((struct vblk *)d->state)->v);
    pcifn_reset(&((struct vblk *)d->state)->v.fn);
}

static void vblk_save(const struct device *d, uint8_t *rec)
{
    const struct vblk *b = d->state;
    vvirtio_save(&b->v, &rec);
    devrec_put64(&rec, b->sectors);
}

static int vblk_check(const struct device *d, const uint8_t *rec, char *why, size_t n)
{
    const struct vblk *b = d->state;
    int rc = vvirtio_check(&b->v, rec, why, n);
    if (rc)
        return rc;
    rec += VVIRTIO_REC_SIZE(1);
    uint64_t sectors = devrec_get64(&rec);
    if (sectors != b->sectors) {
        snprintf(why, n, "virtio-blk: a disk of %llu sectors, here %llu",
                 (unsigned long long)sectors, (unsigned long long)b->sectors);
        return -EINVAL;
    }
    return 0;
}

static void vblk_load(struct device *d, const uint8_t *rec)
{
    vvirtio_load(&((struct vblk *)d->state)->v, &rec);
}

void vvirtio_blk_stats(const struct device *d, struct vvirtio_blk_stats *out)
{
    *out = ((const struct vblk *)d->state)->stats;
}

static void vblk_show(const struct device *d, char *buf, size_t n)
{
    const struct vblk *b = d->state;
    int k = vvirtio_show(&b->v, buf, n);
    if (k >= 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, "; sectors %llu reads %llu writes %llu flushes %llu "
                 "errors %llu", (unsigned long long)b->sectors,
                 (unsigned long long)b->stats.reads, (unsigned long long)b->stats.writes,
                 (unsigned long long)b->stats.flushes, (unsigned long long)b->stats.errors);
}

const struct dev_type vvirtio_blk_type = {
    .name = "virtio-blk",
    .id = DEV_ID_VIRTIO_BLK,
    .version = 1,
    .record_size = REC_SIZE,
    .state_size = sizeof(struct vblk),
    .create = vblk_create,
    .reset = vblk_reset,
    .save = vblk_save,
    .check = vblk_check,
    .load = vblk_load,
    .destroy = vblk_destroy,
    .show = vblk_show,
};
