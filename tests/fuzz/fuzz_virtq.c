// libFuzzer over the split virtqueue's device side (hv/dev/virtq.c). The input is a 16-byte
// header choosing the queue (size, features, ring addresses, start index, a hole in RAM, what
// the device does with each chain), then a script of guest writes, then the contents of 32 KiB
// of guest RAM at RAM_BASE. Every map() call first applies the next scripted write: the guest
// rewrites its rings while the device walks them (or the hole moves: RAM changed under it).
// The device pops, copies, pushes and decides notifications in a loop; whatever the guest
// does, a chain handed out must obey every rule of the ring, a refusal must mark the queue
// broken, a broken queue must not touch memory, and the walk must stay bounded. ASan/UBSan
// catch accesses outside guest RAM.
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hv/dev/virtq.h"

#define RAM_BASE  0x100000ull
#define RAM_SIZE  0x8000u
#define HDR       16

static _Alignas(4096) uint8_t ram[RAM_SIZE];

struct fuzz_mem {
    const uint8_t *script;               // 3 bytes a write: offset (le16), value
    size_t script_len;
    uint64_t hole_lo, hole_hi;
    unsigned calls;
};

static void *fuzz_map(void *ctx, uint64_t gpa, uint64_t len, bool write)
{
    struct fuzz_mem *f = ctx;
    (void)write;
    f->calls++;
    if (!len || gpa + len <= gpa)
        abort();                         // virtq promised never to ask this
    if (f->script_len >= 3) {
        unsigned off = f->script[0] | f->script[1] << 8;
        if (off == 0xffff) {             // RAM changes too: the hole moves (0: none)
            f->hole_lo = f->script[2] ? RAM_BASE + f->script[2] * 128ull : 0;
            f->hole_hi = f->script[2] ? f->hole_lo + 128 : 0;
        } else {
            ram[off % RAM_SIZE] = f->script[2];
        }
        f->script += 3;
        f->script_len -= 3;
    }
    if (gpa < RAM_BASE || gpa - RAM_BASE >= RAM_SIZE || len > RAM_SIZE - (gpa - RAM_BASE))
        return NULL;
    if (gpa < f->hole_hi && gpa + len > f->hole_lo)
        return NULL;
    return ram + (gpa - RAM_BASE);
}

static uint64_t area(const uint8_t *h, uint64_t align, bool raw)
{
    uint64_t off = (uint64_t)(h[0] | h[1] << 8) % RAM_SIZE;
    return RAM_BASE + (raw ? off : off & ~(align - 1));
}

// What a popped chain must look like, whatever the guest did.
static void check_chain(const struct virtq *q, const struct virtq_chain *c)
{
    uint64_t out = 0, in = 0;
    bool writable = false;
    if (c->head >= q->size || !c->nseg || c->nseg > VIRTQ_MAX_SEGS)
        abort();
    for (unsigned i = 0; i < c->nseg; i++) {
        const struct virtq_seg *s = &c->seg[i];
        if (!s->len || s->gpa < RAM_BASE || s->gpa + s->len > RAM_BASE + RAM_SIZE ||
            (writable && !s->write))
            abort();
        writable = s->write;
        *(s->write ? &in : &out) += s->len;
    }
    if (out != c->out_bytes || in != c->in_bytes || out + in > (1ull << 32))
        abort();
}

// What a copy of len bytes from offset off returns when the part is total bytes long.
static long copied(uint64_t total, uint64_t off, uint64_t len)
{
    uint64_t left = total > off ? total - off : 0;
    return (long)(left < len ? left : len);
}

static void device_loop(struct virtq *q, const struct virtq_mem *m, struct fuzz_mem *f,
                        const uint8_t *h)
{
    static struct virtq_chain c;
    uint8_t buf[512];
    for (unsigned round = 0; round < 64; round++) {
        unsigned before = f->calls;
        int rc = virtq_pop(q, m, &c);
        // Two ring maps, perhaps one indirect table, one map per buffer.
        if (f->calls - before > 3 + VIRTQ_MAX_SEGS)
            abort();
        if (rc < 0) {
            if (rc != -EINVAL || !q->broken || q->error == VIRTQ_ERR_NONE)
                abort();
            before = f->calls;
            if (virtq_pop(q, m, &c) != -EINVAL || virtq_push(q, m, 0, 0) != -EINVAL ||
                virtq_should_notify(q, m) || f->calls != before)
                abort();
            return;
        }
        if (rc == 0) {
            virtq_set_avail_event(q, m);
            virtq_should_notify(q, m);
            return;
        }
        check_chain(q, &c);
        uint64_t off = h[13] & 0x3f, len = (round * 37 + h[14]) % sizeof(buf);
        long n = virtq_read(q, m, &c, off, buf, len);
        if (n == -EINVAL ? !q->broken : n != copied(c.out_bytes, off, len))
            abort();
        n = virtq_write(q, m, &c, off, buf, len);
        if (n == -EINVAL ? !q->broken : n != copied(c.in_bytes, off, len))
            abort();
        if (q->broken)
            return;
        // h[15] bit per round: push now, or keep the chain (they pile up in flight).
        if (!((h[15] >> (round % 8)) & 1)) {
            rc = virtq_push(q, m, c.head, (uint32_t)c.in_bytes);
            if (rc && (rc != -EINVAL || !q->broken))     // only RAM gone from under the ring
                abort();
            virtq_should_notify(q, m);
        }
        if ((uint16_t)(q->last_avail - q->used_idx) > q->size)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR)
        return 0;
    const uint8_t *h = data;
    bool raw = h[0] & 0x40;
    struct virtq q = {
        .size = (uint16_t)(1u << ((h[0] & 0xf) % 11)),
        .ready = true,
        .event_idx = h[0] & 0x10,
        .indirect = h[0] & 0x20,
        .desc = area(h + 1, 16, raw),
        .avail = area(h + 3, 2, raw),
        .used = area(h + 5, 4, raw),
        .last_avail = (uint16_t)(h[7] | h[8] << 8),
    };
    q.used_idx = q.last_avail;
    if (h[0] & 0x80)
        q.size = (uint16_t)(h[9] | h[10] << 8);          // any size, for virtq_check_config
    size_t script = (size_t)h[11] * 3 < size - HDR ? (size_t)h[11] * 3 : size - HDR;
    struct fuzz_mem f = { .script = data + HDR, .script_len = script };
    if (h[12]) {
        f.hole_lo = RAM_BASE + (uint64_t)h[12] * 128;
        f.hole_hi = f.hole_lo + 128;
    }
    const struct virtq_mem m = { .map = fuzz_map, .ctx = &f };
    memset(ram, 0, sizeof(ram));
    size_t body = size - HDR - script;
    memcpy(ram, data + HDR + script, body < RAM_SIZE ? body : RAM_SIZE);
    struct fuzz_mem quiet = f;                           // checking the config writes nothing
    quiet.script_len = 0;
    const struct virtq_mem mq = { .map = fuzz_map, .ctx = &quiet };
    if (virtq_check_config(&q, &mq))
        return 0;
    device_loop(&q, &m, &f, h);
    return 0;
}
