/* The device side of a split virtqueue; see hv/dev/virtq.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "hv/dev/virtq.h"

/* virtio 1.2, 2.7: the three areas. avail = {flags, idx, ring[size], used_event}, used =
 * {flags, idx, {id, len}[size], avail_event}, all little-endian like this host (x86). */
#define DESC_SIZE        16u
#define RING_OFF         4u             /* ring[] after the flags and idx words */
#define USED_ELEM        8u
#define CHAIN_MAX_BYTES  (1ull << 32)   /* 2.7.5.2: no chain longer than 2^32 bytes */

struct vdesc { uint64_t addr; uint32_t len; uint16_t flags, next; };
_Static_assert(sizeof(struct vdesc) == DESC_SIZE, "a descriptor is 16 bytes");

/* Where pop is in a chain: the table it walks (the queue's, then perhaps one indirect). */
struct walk {
    const uint8_t *table;
    uint32_t entries, seen;             /* the table's size, descriptors taken from it */
    bool indirect;
    bool writable;                      /* a device-writable buffer came already */
};

static uint64_t desc_bytes(unsigned n) { return (uint64_t)DESC_SIZE * n; }
static uint64_t avail_bytes(unsigned n) { return 6 + 2ull * n; }
static uint64_t used_bytes(unsigned n) { return 6 + (uint64_t)USED_ELEM * n; }

/* Size and alignment (2.7, the alignment table and 2.7.1): the atomic accesses below rely on
 * it, so pop and push check it again in case the device skipped virtq_check_config. */
static bool config_ok(const struct virtq *q)
{
    unsigned n = q->size;
    return n && n <= VIRTQ_MAX_SIZE && !(n & (n - 1)) && !(q->desc % 16) && !(q->avail % 2) &&
           !(q->used % 4);
}

static bool range_ok(uint64_t gpa, uint64_t len) { return len && gpa + len > gpa; }

static void *map(const struct virtq_mem *m, uint64_t gpa, uint64_t len, bool write)
{
    return range_ok(gpa, len) ? m->map(m->ctx, gpa, len, write) : NULL;
}

static int fail(struct virtq *q, enum virtq_error e)
{
    q->broken = true;
    q->error = (uint8_t)e;
    return -EINVAL;
}

/* A driver-owned 16-bit field, read once (aligned: no tearing). */
static uint16_t load16(const uint8_t *p)
{
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

/* One descriptor, copied once: every check and use looks at the copy, never again at guest
 * memory the driver may be rewriting. The barrier stops the compiler from reading the guest's
 * copy in place of ours. Indirect tables need no alignment, hence memcpy. */
static struct vdesc fetch_desc(const uint8_t *table, uint32_t i)
{
    struct vdesc d;
    memcpy(&d, table + (uint64_t)i * DESC_SIZE, DESC_SIZE);
    __asm__ __volatile__("" ::: "memory");
    return d;
}

int virtq_check_config(const struct virtq *q, const struct virtq_mem *m)
{
    unsigned n = q->size;
    if (!config_ok(q) || (uint16_t)(q->last_avail - q->used_idx) > n ||
        q->error >= VIRTQ_ERR_COUNT)
        return -EINVAL;
    if (!map(m, q->desc, desc_bytes(n), false) || !map(m, q->avail, avail_bytes(n), false) ||
        !map(m, q->used, used_bytes(n), false))
        return -EINVAL;
    return 0;
}

/* 2.7.5.3: a descriptor with INDIRECT refers to a table of len / 16 descriptors, walked from
 * entry 0; only where negotiated, never from inside a table, never together with NEXT (so it
 * ends the direct chain). Its WRITE flag means nothing (2.7.5.3.2). */
static int enter_indirect(struct virtq *q, const struct virtq_mem *m, struct walk *w,
                          const struct vdesc *d)
{
    if (!q->indirect || w->indirect || (d->flags & VIRTQ_DESC_F_NEXT) || !d->len ||
        d->len % DESC_SIZE)
        return fail(q, VIRTQ_ERR_INDIRECT);
    if (!range_ok(d->addr, d->len))
        return fail(q, VIRTQ_ERR_BUF_LEN);
    const uint8_t *t = map(m, d->addr, d->len, false);
    if (!t)
        return fail(q, VIRTQ_ERR_BUF_MAP);
    *w = (struct walk){ .table = t, .entries = d->len / DESC_SIZE, .indirect = true,
                        .writable = w->writable };
    return 0;
}

/* 2.7.4.2: readable buffers first, then writable ones; 2.7.5.2: at most 2^32 bytes in all.
 * The buffer must be guest RAM now (write=false: checking it dirties nothing). */
static int add_seg(struct virtq *q, const struct virtq_mem *m, struct virtq_chain *c,
                   struct walk *w, const struct vdesc *d)
{
    bool wr = d->flags & VIRTQ_DESC_F_WRITE;
    if (!range_ok(d->addr, d->len))
        return fail(q, VIRTQ_ERR_BUF_LEN);
    if (w->writable && !wr)
        return fail(q, VIRTQ_ERR_ORDER);
    if (c->nseg == VIRTQ_MAX_SEGS || c->out_bytes + c->in_bytes + d->len > CHAIN_MAX_BYTES)
        return fail(q, VIRTQ_ERR_TOO_LONG);
    if (!map(m, d->addr, d->len, false))
        return fail(q, VIRTQ_ERR_BUF_MAP);
    c->seg[c->nseg++] = (struct virtq_seg){ .gpa = d->addr, .len = d->len, .write = wr };
    if (wr)
        c->in_bytes += d->len;
    else
        c->out_bytes += d->len;
    w->writable = wr;
    return 0;
}

/* Follows the chain from head. Bounded: a table of N entries gives at most N descriptors (one
 * more means a cycle), and each descriptor inside an indirect table adds a buffer or fails. */
static int walk_chain(struct virtq *q, const struct virtq_mem *m, const uint8_t *desc,
                      uint16_t head, struct virtq_chain *c)
{
    struct walk w = { .table = desc, .entries = q->size };
    uint32_t i = head;
    c->head = head;
    c->nseg = 0;
    c->out_bytes = c->in_bytes = 0;
    for (;;) {
        if (i >= w.entries)
            return fail(q, VIRTQ_ERR_HEAD);
        if (++w.seen > w.entries)
            return fail(q, VIRTQ_ERR_LOOP);
        struct vdesc d = fetch_desc(w.table, i);
        int rc = d.flags & VIRTQ_DESC_F_INDIRECT ? enter_indirect(q, m, &w, &d)
                                                 : add_seg(q, m, c, &w, &d);
        if (rc)
            return rc;
        if (d.flags & VIRTQ_DESC_F_INDIRECT)
            i = 0;
        else if (d.flags & VIRTQ_DESC_F_NEXT)
            i = d.next;
        else
            return 0;
    }
}

int virtq_pop(struct virtq *q, const struct virtq_mem *m, struct virtq_chain *c)
{
    if (q->broken)
        return -EINVAL;
    if (!q->ready)
        return 0;
    if (!config_ok(q))
        return fail(q, VIRTQ_ERR_CONFIG);
    unsigned n = q->size;
    const uint8_t *avail = map(m, q->avail, avail_bytes(n), false);
    const uint8_t *desc = map(m, q->desc, desc_bytes(n), false);
    if (!avail || !desc)
        return fail(q, VIRTQ_ERR_RING_MAP);
    /* 2.7.13: the driver fills the ring and descriptors, then (after a barrier) moves idx; the
     * acquire pairs with that barrier. Since the driver cannot offer more than size chains, a
     * bigger step is an error, not a wrap. */
    uint16_t idx = __atomic_load_n((const uint16_t *)(avail + 2), __ATOMIC_ACQUIRE);
    uint16_t pending = (uint16_t)(idx - q->last_avail);
    if (pending > n)
        return fail(q, VIRTQ_ERR_AVAIL_IDX);
    if (!pending)
        return 0;
    uint16_t head = load16(avail + RING_OFF + 2u * (q->last_avail & (n - 1)));
    int rc = walk_chain(q, m, desc, head, c);
    if (rc)
        return rc;
    q->last_avail++;
    return 1;
}

int virtq_push(struct virtq *q, const struct virtq_mem *m, uint16_t head, uint32_t len)
{
    if (q->broken || !q->ready || !config_ok(q) || head >= q->size ||
        q->last_avail == q->used_idx)
        return -EINVAL;
    uint8_t *used = map(m, q->used, used_bytes(q->size), true);
    if (!used)
        return fail(q, VIRTQ_ERR_RING_MAP);
    uint8_t *e = used + RING_OFF + USED_ELEM * (q->used_idx & (q->size - 1u));
    __atomic_store_n((uint32_t *)e, (uint32_t)head, __ATOMIC_RELAXED);
    __atomic_store_n((uint32_t *)(e + 4), len, __ATOMIC_RELAXED);
    q->used_idx++;
    /* 2.7.8.2: len (and id) are set before idx hands the element to the driver. */
    __atomic_store_n((uint16_t *)(used + 2), q->used_idx, __ATOMIC_RELEASE);
    return 0;
}

void virtq_set_avail_event(struct virtq *q, const struct virtq_mem *m)
{
    if (!q->event_idx || q->broken || !q->ready || !config_ok(q))
        return;
    uint8_t *p = map(m, q->used + RING_OFF + (uint64_t)USED_ELEM * q->size, 2, true);
    if (!p) {
        fail(q, VIRTQ_ERR_RING_MAP);
        return;
    }
    __atomic_store_n((uint16_t *)p, q->last_avail, __ATOMIC_RELAXED);
    /* The driver moves avail idx, then reads avail_event (2.7.13); we write avail_event, then
     * read avail idx (the caller's next pop). Store then load: only a full fence orders it. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* 2.7.7.2. The interval (signalled_used, used_idx] holds the used entries written since the
 * last decision; with event_idx the driver wants an interrupt when the entry at used_event is
 * among them (the spec's vring_need_event), else unless it set NO_INTERRUPT. */
bool virtq_should_notify(struct virtq *q, const struct virtq_mem *m)
{
    if (q->broken || !q->ready || !config_ok(q))
        return false;
    virtq_set_avail_event(q, m);
    uint16_t old = q->signalled_used, now = q->used_idx;
    bool valid = q->signalled_valid;
    if (q->broken || (valid && old == now))
        return false;
    const uint8_t *avail = map(m, q->avail, avail_bytes(q->size), false);
    if (!avail) {
        fail(q, VIRTQ_ERR_RING_MAP);
        return false;
    }
    /* Our used idx store, then our read of the driver's suppression; the driver does the
     * mirror image (writes used_event or flags, then re-reads used idx). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    q->signalled_used = now;
    q->signalled_valid = true;
    if (!q->event_idx)
        return !(load16(avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    uint16_t event = load16(avail + RING_OFF + 2u * q->size);
    return !valid || (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

/* The readable (in=false) or writable (in=true) buffers of c, from byte off of that part. */
static long copy(struct virtq *q, const struct virtq_mem *m, const struct virtq_chain *c,
                 bool in, uint64_t off, uint8_t *to, const uint8_t *from, uint64_t len)
{
    uint64_t done = 0;
    unsigned nseg = c->nseg < VIRTQ_MAX_SEGS ? c->nseg : VIRTQ_MAX_SEGS;
    if (q->broken)
        return -EINVAL;
    for (unsigned i = 0; i < nseg && done < len; i++) {
        const struct virtq_seg *s = &c->seg[i];
        if (s->write != in)
            continue;
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        uint64_t n = s->len - off < len - done ? s->len - off : len - done;
        uint8_t *g = map(m, s->gpa + off, n, in);
        if (!g)
            return fail(q, VIRTQ_ERR_BUF_MAP);
        if (in)
            memcpy(g, from + done, n);
        else
            memcpy(to + done, g, n);
        done += n;
        off = 0;
    }
    return (long)done;
}

long virtq_read(struct virtq *q, const struct virtq_mem *m, const struct virtq_chain *c,
                uint64_t off, void *dst, uint64_t len)
{
    return copy(q, m, c, false, off, dst, NULL, len);
}

long virtq_write(struct virtq *q, const struct virtq_mem *m, const struct virtq_chain *c,
                 uint64_t off, const void *src, uint64_t len)
{
    return copy(q, m, c, true, off, NULL, src, len);
}

const char *virtq_strerror(unsigned error)
{
    static const char *const why[VIRTQ_ERR_COUNT] = {
        [VIRTQ_ERR_NONE] = "no error",
        [VIRTQ_ERR_CONFIG] = "bad queue size or ring alignment",
        [VIRTQ_ERR_RING_MAP] = "a ring is not in guest RAM",
        [VIRTQ_ERR_AVAIL_IDX] = "available index moved more than the queue size",
        [VIRTQ_ERR_HEAD] = "descriptor index out of range",
        [VIRTQ_ERR_LOOP] = "descriptor chain loops",
        [VIRTQ_ERR_TOO_LONG] = "descriptor chain too long",
        [VIRTQ_ERR_ORDER] = "device-readable buffer after a device-writable one",
        [VIRTQ_ERR_BUF_LEN] = "buffer of length 0 or past the top of memory",
        [VIRTQ_ERR_BUF_MAP] = "buffer not in guest RAM",
        [VIRTQ_ERR_INDIRECT] = "bad indirect descriptor",
        [VIRTQ_ERR_REQUEST] = "a request the device cannot parse",
    };
    return error < VIRTQ_ERR_COUNT ? why[error] : "unknown error";
}
