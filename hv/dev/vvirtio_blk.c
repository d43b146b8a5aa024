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

/* A request at the backend: its chain (the guest's buffers) until it completes. */
struct inflight {
    bool used;
    bool orphan;                        /* its queue was reset: it completes into nothing */
    uint8_t type;
    uint32_t len;                       /* data bytes */
    struct virtq_chain chain;
};

struct vblk {
    struct vvirtio v;                   /* first */
    uint8_t *data;
    const struct vblk_backend *backend; /* &backend_copy, or NULL: a RAM disk */
    struct vblk_backend backend_copy;
    uint64_t sectors;
    char id[VBLK_ID_LEN];
    char where[64];
    struct vvirtio_blk_stats stats;
    struct virtq_chain chain;           /* the request being served (too big for a stack) */
    unsigned ninflight;
    struct inflight inflight[VBLK_INFLIGHT];
    uint64_t *log;                      /* vvirtio_blk_log: written blocks' bits, or NULL */
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

/* Sets the bits of the VBLK_LOG_BLOCK blocks [off, off + len) touches; atomically, since the
 * migration takes them on another CPU (after the data: a block whose bit it took and cleared
 * before this write is sent again). */
static void log_blocks(uint64_t *log, uint64_t off, uint64_t len)
{
    for (uint64_t blk = off / VBLK_LOG_BLOCK; blk <= (off + len - 1) / VBLK_LOG_BLOCK; blk++)
        __atomic_fetch_or(&log[blk / 64], 1ull << (blk % 64), __ATOMIC_RELEASE);
}

/* Hands a read, write or flush to the backend: 1 (in flight: completes later), 0 (refused
 * by the backend: *status says IOERR), never anything else. */
static int to_backend(struct vblk *b, const struct virtq_chain *c, uint32_t type,
                      uint64_t sector, uint64_t len, uint8_t *status)
{
    unsigned id = 0;
    while (b->inflight[id].used)        /* notify() only pops with a free slot */
        id++;
    struct inflight *f = &b->inflight[id];
    f->used = true;
    f->orphan = false;
    f->type = (uint8_t)type;
    f->len = (uint32_t)len;
    f->chain = *c;
    b->ninflight++;
    struct vblk_io io = { .id = id, .op = type == T_IN ? VBLK_READ : type == T_OUT ? VBLK_WRITE
                                                                                   : VBLK_FLUSH,
                          .sector = sector, .len = (uint32_t)len };
    if (b->backend->submit(b->backend->ctx, &io) == 0)
        return 1;
    f->used = false;
    b->ninflight--;
    *status = S_IOERR;
    return 0;
}

/* Serves one chain: 0 with the status to return and the bytes written into the driver's
 * buffers, 1 when a backend took it (it completes later), -EINVAL when the chain breaks the
 * request format (no header, no status byte). */
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
            len / VBLK_SECTOR > b->sectors - sector || len > UINT32_MAX) {
            status = S_IOERR;
            break;
        }
        if (b->backend) {
            if (to_backend(b, c, type, sector, len, &status))
                return 1;
            break;
        }
        if (type == T_IN) {
            n = virtq_write(q, m, c, 0, b->data + sector * VBLK_SECTOR, len);
            b->stats.reads++;
            b->stats.bytes_read += len;
            *written = (uint32_t)len;
        } else {
            n = virtq_read(q, m, c, sizeof(hdr), b->data + sector * VBLK_SECTOR, len);
            if (b->log && len)          /* after the bytes landed (even some of them) */
                log_blocks(b->log, sector * VBLK_SECTOR, len);
            b->stats.writes++;
            b->stats.bytes_written += len;
        }
        break;
    case T_FLUSH:
        if (b->backend && !b->backend->flush) {
            status = S_UNSUPP;          /* not offered (5.2.6.2) */
            break;
        }
        if (b->backend) {
            if (to_backend(b, c, type, 0, 0, &status))
                return 1;
            break;
        }
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
        /* With a backend, a chain is taken only when a slot is free for it; the rest wait in
         * the ring until a completion frees one (and serves them). */
        if (b->backend && b->ninflight == VBLK_INFLIGHT)
            return;
        int rc = virtq_pop(q, &v->mem, &b->chain);
        if (rc == 0) {
            virtq_set_avail_event(q, &v->mem);
            if ((rc = virtq_pop(q, &v->mem, &b->chain)) == 0)
                break;
        }
        uint32_t written;
        int served = rc < 0 ? -EINVAL : serve(b, q, &b->chain, &written);
        if (served == 1)
            continue;                   /* at the backend */
        if (served || virtq_push(q, &v->mem, b->chain.head, written)) {
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

/* A request whose guest buffers are still the guest's to receive into. */
static struct inflight *inflight_of(struct vblk *b, unsigned id)
{
    return id < VBLK_INFLIGHT && b->inflight[id].used && !b->inflight[id].orphan
               ? &b->inflight[id] : NULL;
}

long vvirtio_blk_io_read(struct device *d, unsigned id, uint64_t off, void *dst, uint64_t n)
{
    struct vblk *b = d->state;
    struct inflight *f = inflight_of(b, id);
    if (!f || f->type != T_OUT || off > f->len || n > f->len - off)
        return -EINVAL;
    return virtq_read(&b->v.q[0], &b->v.mem, &f->chain, 16 + off, dst, n);
}

long vvirtio_blk_io_write(struct device *d, unsigned id, uint64_t off, const void *src,
                          uint64_t n)
{
    struct vblk *b = d->state;
    struct inflight *f = inflight_of(b, id);
    if (!f || f->type != T_IN || off > f->len || n > f->len - off)
        return -EINVAL;
    return virtq_write(&b->v.q[0], &b->v.mem, &f->chain, off, src, n);
}

void vvirtio_blk_complete(struct device *d, unsigned id, int status)
{
    struct vblk *b = d->state;
    struct vvirtio *v = &b->v;
    struct virtq *q = &v->q[0];
    if (id >= VBLK_INFLIGHT || !b->inflight[id].used)
        return;
    struct inflight *f = &b->inflight[id];
    if (f->orphan) {
        f->used = false;
        b->ninflight--;
        if (vvirtio_queue_live(v, 0))
            notify(v, 0);               /* the new queue's chains that waited for a slot */
        return;
    }
    uint8_t st = status ? S_IOERR : S_OK;
    uint32_t written = 1 + (f->type == T_IN && !status ? f->len : 0);
    if (status)
        b->stats.errors++;
    else if (f->type == T_IN)
        b->stats.reads++, b->stats.bytes_read += f->len;
    else if (f->type == T_OUT)
        b->stats.writes++, b->stats.bytes_written += f->len;
    else
        b->stats.flushes++;
    f->used = false;
    b->ninflight--;
    /* A queue reset or broken meanwhile: the guest's buffers are no longer ours to touch. */
    if (!vvirtio_queue_live(v, 0))
        return;
    if (virtq_write(q, &v->mem, &f->chain, f->chain.in_bytes - 1, &st, 1) != 1 ||
        virtq_push(q, &v->mem, f->chain.head, written)) {
        vvirtio_needs_reset(v);
        return;
    }
    vvirtio_used(v, 0);
    notify(v, 0);                       /* chains that waited for a free slot */
}

int vvirtio_blk_log(struct device *d, uint64_t *log)
{
    struct vblk *b = d->state;
    if (b->backend)
        return -EINVAL;
    b->log = log;
    return 0;
}

bool vvirtio_blk_busy(const struct device *d)
{
    return ((const struct vblk *)d->state)->ninflight != 0;
}

/* A driver reset: requests still at the backend complete into nothing (their chains are the
 * old queue's); the slots stay taken until they do. */
static void dev_reset(struct vvirtio *v)
{
    struct vblk *b = of(v);
    for (unsigned i = 0; i < VBLK_INFLIGHT; i++)
        b->inflight[i].orphan = b->inflight[i].used;
}

static const struct vvirtio_ops ops = {
    .notify = notify,
    .config = config,
    .reset = dev_reset,
};

static int vblk_create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    const struct vvirtio_blk_cfg *c = cfg;
    struct vblk *b = d->state;
    if (!c || !!c->data == !!c->backend || !c->sectors ||
        (c->backend && !c->backend->submit)) {
        snprintf(err, errlen, "virtio-blk: no disk");
        return -EINVAL;
    }
    b->data = c->data;
    if (c->backend) {
        b->backend_copy = *c->backend;
        b->backend = &b->backend_copy;
    }
    b->sectors = c->sectors;
    snprintf(b->where, sizeof(b->where), "%s", c->where);
    memset(b->id, 0, sizeof(b->id));
    memcpy(b->id, c->id, strnlen(c->id, VBLK_ID_LEN));
    bool flush = !b->backend || b->backend->flush;
    return vvirtio_init(&b->v, d, &ops, VIRTIO_ID_BLOCK, 0x018000, 1ull << BLK_F_SIZE_MAX |
                        1ull << BLK_F_SEG_MAX | 1ull << BLK_F_BLK_SIZE |
                        (flush ? 1ull << BLK_F_FLUSH : 0), 1, VBLK_QUEUE_SIZE, CONFIG_SIZE, err,
                        errlen);
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
        snprintf(buf + k, n - (size_t)k, "; %s sectors %llu reads %llu writes %llu flushes %llu "
                 "errors %llu", b->where[0] ? b->where : "disk", (unsigned long long)b->sectors,
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
    .busy = vvirtio_blk_busy,
    .show = vblk_show,
};
