/*
 * The split virtqueue's device side (hv/dev/virtq.c), driven the way a virtio driver fills the
 * rings: descriptors, then the avail ring, then avail->idx, in a fake guest RAM of 1 MiB at
 * guest-physical 0 whose map() refuses anything else (and a hole the tests can open).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hv/dev/virtq.h"

#define RAM_SIZE   (1u << 20)
#define DESC_GPA   0x1000ull             /* up to 1024 entries: 16 KiB */
#define AVAIL_GPA  0x5000ull
#define USED_GPA   0x6000ull
#define IND_GPA    0x9000ull             /* indirect tables */
#define BUF_GPA    0x10000ull            /* buffers */
#define BIG_GPA    (1ull << 40)          /* "huge RAM" for the 2^32-byte test: never accessed */

static _Alignas(4096) uint8_t ram[RAM_SIZE];

struct fake_mem {
    uint64_t hole_lo, hole_hi;           /* [lo, hi) is not RAM */
    bool big;                            /* BIG_GPA.. maps (pop only checks, never reads it) */
    unsigned calls, write_calls;
};
static struct fake_mem fm;

static void *fake_map(void *ctx, uint64_t gpa, uint64_t len, bool write)
{
    struct fake_mem *f = ctx;
    f->calls++;
    f->write_calls += write;
    assert_true(len > 0 && gpa + len > gpa);        /* virtq promises this */
    if (f->big && gpa >= BIG_GPA)
        return ram;
    if (gpa >= RAM_SIZE || len > RAM_SIZE - gpa)
        return NULL;
    if (gpa < f->hole_hi && gpa + len > f->hole_lo)
        return NULL;
    return ram + gpa;
}

static const struct virtq_mem mem = { .map = fake_map, .ctx = &fm };

/* ---- the driver's side ---- */

static void put16(uint64_t gpa, uint16_t v) { memcpy(ram + gpa, &v, 2); }
static void put32(uint64_t gpa, uint32_t v) { memcpy(ram + gpa, &v, 4); }
static void put64(uint64_t gpa, uint64_t v) { memcpy(ram + gpa, &v, 8); }
static uint16_t get16(uint64_t gpa) { uint16_t v; memcpy(&v, ram + gpa, 2); return v; }
static uint32_t get32(uint64_t gpa) { uint32_t v; memcpy(&v, ram + gpa, 4); return v; }

static void desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                    uint16_t next)
{
    uint64_t d = table + 16ull * i;
    put64(d, addr);
    put32(d + 8, len);
    put16(d + 12, flags);
    put16(d + 14, next);
}

static void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    desc_at(DESC_GPA, i, addr, len, flags, next);
}

static struct virtq q;
static uint16_t drv_avail;               /* the driver's avail idx */

static void setup_q(uint16_t size, bool event_idx, bool indirect, uint16_t start)
{
    memset(ram, 0, sizeof(ram));
    memset(&fm, 0, sizeof(fm));
    q = (struct virtq){ .size = size, .ready = true, .event_idx = event_idx,
                        .indirect = indirect, .desc = DESC_GPA, .avail = AVAIL_GPA,
                        .used = USED_GPA, .last_avail = start, .used_idx = start };
    drv_avail = start;
    put16(AVAIL_GPA + 2, start);
    put16(USED_GPA + 2, start);
    assert_int_equal(virtq_check_config(&q, &mem), 0);
}

static void offer(uint16_t head)
{
    put16(AVAIL_GPA + 4 + 2u * (drv_avail % q.size), head);
    put16(AVAIL_GPA + 2, ++drv_avail);
}

static void used_elem(uint16_t slot_idx, uint32_t *id, uint32_t *len)
{
    uint64_t e = USED_GPA + 4 + 8ull * (slot_idx % q.size);
    *id = get32(e);
    *len = get32(e + 4);
}

static void fill(uint64_t gpa, uint8_t first, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        ram[gpa + i] = (uint8_t)(first + i);
}

/* ---- tests ---- */

static void test_check_config(void **state)
{
    (void)state;
    setup_q(256, false, false, 0);
    static const uint16_t bad_sizes[] = { 0, 3, 100, 2048, 32768 };
    for (unsigned i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
        struct virtq b = q;
        b.size = bad_sizes[i];
        assert_int_equal(virtq_check_config(&b, &mem), -EINVAL);
    }
    struct virtq b = q;
    b.size = 1;
    assert_int_equal(virtq_check_config(&b, &mem), 0);
    b.size = VIRTQ_MAX_SIZE;
    assert_int_equal(virtq_check_config(&b, &mem), 0);
    /* Alignment (2.7): desc 16, avail 2, used 4. */
    b = q, b.desc = DESC_GPA + 8;
    assert_int_equal(virtq_check_config(&b, &mem), -EINVAL);
    b = q, b.avail = AVAIL_GPA + 1;
    assert_int_equal(virtq_check_config(&b, &mem), -EINVAL);
    b = q, b.avail = AVAIL_GPA + 2;
    assert_int_equal(virtq_check_config(&b, &mem), 0);
    b = q, b.used = USED_GPA + 2;
    assert_int_equal(virtq_check_config(&b, &mem), -EINVAL);
    b = q, b.used = USED_GPA + 4;
    assert_int_equal(virtq_check_config(&b, &mem), 0);
    /* Each area whole in RAM: the used ring of 256 is 6 + 8 * 256 bytes. */
    b = q, b.used = RAM_SIZE - (6 + 8 * 256) - 2;
    assert_int_equal(virtq_check_config(&b, &mem), 0);
    b.used += 4;
    assert_int_equal(virtq_check_config(&b, &mem), -EINVAL);
    b = q, b.avail = RAM_SIZE - (6 + 2 * 256) + 2;
    assert_int_equal(virtq_check_config(&b, &mem), -EINVAL);
    b = q, b.desc = 0xfffffffffffff000ull;                 /* 16 * 256 bytes wrap past 2^64 */
    assert_int_equal(virtq_check_config(&b, &mem), -EINVAL);
    fm.hole_lo = DESC_GPA + 0x800, fm.hole_hi = DESC_GPA + 0x801;
    assert_int_equal(virtq_check_config(&q, &mem), -EINVAL);
    fm.hole_lo = fm.hole_hi = 0;
    /* A loaded record: no more than size chains in flight. */
    b = q, b.last_avail = 256, b.used_idx = 0;
    assert_int_equal(virtq_check_config(&b, &mem), 0);
    b.last_avail = 257;
    assert_int_equal(virtq_check_config(&b, &mem), -EINVAL);
    b = q, b.last_avail = 5, b.used_idx = 65535;
    assert_int_equal(virtq_check_config(&b, &mem), 0);
    b = q, b.last_avail = 0, b.used_idx = 1;                /* more used than taken */
    assert_int_equal(virtq_check_config(&b, &mem), -EINVAL);
    b = q, b.error = VIRTQ_ERR_COUNT;
    assert_int_equal(virtq_check_config(&b, &mem), -EINVAL);
}

static void test_simple_chain(void **state)
{
    struct virtq_chain c;
    uint32_t id, len;
    (void)state;
    setup_q(16, false, false, 0);
    assert_int_equal(virtq_pop(&q, &mem, &c), 0);           /* nothing offered */
    desc(5, BUF_GPA, 100, 0, 0);
    offer(5);
    assert_int_equal(virtq_pop(&q, &mem, &c), 1);
    assert_int_equal(c.head, 5);
    assert_int_equal(c.nseg, 1);
    assert_int_equal(c.seg[0].gpa, BUF_GPA);
    assert_int_equal(c.seg[0].len, 100);
    assert_false(c.seg[0].write);
    assert_int_equal(c.out_bytes, 100);
    assert_int_equal(c.in_bytes, 0);
    assert_int_equal(q.last_avail, 1);
    assert_int_equal(virtq_pop(&q, &mem, &c), 0);
    assert_int_equal(fm.write_calls, 0);                    /* popping dirties nothing */
    assert_int_equal(virtq_push(&q, &mem, 5, 0), 0);
    assert_int_equal(get16(USED_GPA + 2), 1);
    used_elem(0, &id, &len);
    assert_int_equal(id, 5);
    assert_int_equal(len, 0);
    assert_int_equal(q.used_idx, 1);
    assert_false(q.broken);
    /* Not ready: nothing taken, no memory touched. */
    offer(5);
    q.ready = false;
    unsigned calls = fm.calls;
    assert_int_equal(virtq_pop(&q, &mem, &c), 0);
    assert_int_equal(fm.calls, calls);
    q.ready = true;
    assert_int_equal(virtq_pop(&q, &mem, &c), 1);
}

/* Two readable then two writable buffers, chained out of table order; read and write across
 * their boundaries; the used length is what the device says it wrote. */
static void test_out_in_chain_and_copies(void **state)
{
    struct virtq_chain c;
    uint8_t buf[64];
    uint32_t id, len;
    (void)state;
    setup_q(8, false, false, 0);
    desc(3, BUF_GPA, 5, VIRTQ_DESC_F_NEXT, 7);
    desc(7, BUF_GPA + 0x100, 7, VIRTQ_DESC_F_NEXT, 0);
    desc(0, BUF_GPA + 0x200, 4, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 6);
    desc(6, BUF_GPA + 0x300, 6, VIRTQ_DESC_F_WRITE, 1);    /* next ignored without NEXT */
    fill(BUF_GPA, 0, 5);
    fill(BUF_GPA + 0x100, 5, 7);
    offer(3);
    assert_int_equal(virtq_pop(&q, &mem, &c), 1);
    assert_int_equal(c.head, 3);
    assert_int_equal(c.nseg, 4);
    assert_int_equal(c.out_bytes, 12);
    assert_int_equal(c.in_bytes, 10);
    assert_false(c.seg[1].write);
    assert_true(c.seg[2].write);
    assert_int_equal(c.seg[3].gpa, BUF_GPA + 0x300);
    /* Reads see only the readable part: bytes 0..11 laid over both buffers. */
    memset(buf, 0xee, sizeof(buf));
    assert_int_equal(virtq_read(&q, &mem, &c, 3, buf, 6), 6);
    for (unsigned i = 0; i < 6; i++)
        assert_int_equal(buf[i], 3 + i);
    assert_int_equal(virtq_read(&q, &mem, &c, 0, buf, sizeof(buf)), 12);   /* short */
    for (unsigned i = 0; i < 12; i++)
        assert_int_equal(buf[i], i);
    assert_int_equal(virtq_read(&q, &mem, &c, 12, buf, 4), 0);
    assert_int_equal(virtq_read(&q, &mem, &c, 1000, buf, 4), 0);
    /* Writes land in the writable part only, and map for writing (dirty logging). */
    for (unsigned i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(0xa0 + i);
    unsigned wc = fm.write_calls;
    assert_int_equal(virtq_write(&q, &mem, &c, 2, buf, 5), 5);
    assert_int_equal(fm.write_calls, wc + 2);
    assert_memory_equal(ram + BUF_GPA + 0x202, buf, 2);
    assert_memory_equal(ram + BUF_GPA + 0x300, buf + 2, 3);
    assert_int_equal(ram[BUF_GPA + 0x201], 0);
    assert_int_equal(ram[BUF_GPA + 0x303], 0);
    assert_int_equal(virtq_write(&q, &mem, &c, 0, buf, 64), 10);
    assert_memory_equal(ram + BUF_GPA + 0x200, buf, 4);
    assert_memory_equal(ram + BUF_GPA + 0x300, buf + 4, 6);
    assert_int_equal(ram[BUF_GPA + 0x306], 0);
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(ram[BUF_GPA + i], i);                    /* readable ones untouched */
    assert_int_equal(virtq_push(&q, &mem, c.head, 10), 0);
    used_elem(0, &id, &len);
    assert_int_equal(id, 3);
    assert_int_equal(len, 10);
    /* A buffer that stopped being RAM since the pop: the copy fails and the queue breaks. */
    offer(3);
    assert_int_equal(virtq_pop(&q, &mem, &c), 1);
    fm.hole_lo = BUF_GPA + 0x300, fm.hole_hi = BUF_GPA + 0x301;
    assert_int_equal(virtq_read(&q, &mem, &c, 0, buf, 12), 12);    /* not in the read part */
    assert_int_equal(virtq_write(&q, &mem, &c, 0, buf, 4), 4);
    assert_int_equal(virtq_write(&q, &mem, &c, 0, buf, 5), -EINVAL);
    assert_true(q.broken);
    assert_int_equal(q.error, VIRTQ_ERR_BUF_MAP);
    assert_int_equal(virtq_read(&q, &mem, &c, 0, buf, 1), -EINVAL);
}

/* An indirect table (its WRITE flag is ignored, 2.7.5.3.2), alone and after direct ones. */
static void test_indirect(void **state)
{
    struct virtq_chain c;
    (void)state;
    setup_q(4, false, true, 0);
    desc_at(IND_GPA, 0, BUF_GPA, 10, VIRTQ_DESC_F_NEXT, 2);
    desc_at(IND_GPA, 2, BUF_GPA + 0x100, 20, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    desc_at(IND_GPA, 1, BUF_GPA + 0x200, 30, VIRTQ_DESC_F_WRITE, 0);
    desc(2, IND_GPA, 48, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
    offer(2);
    assert_int_equal(virtq_pop(&q, &mem, &c), 1);
    assert_int_equal(c.head, 2);
    assert_int_equal(c.nseg, 3);
    assert_int_equal(c.out_bytes, 10);
    assert_int_equal(c.in_bytes, 50);
    assert_int_equal(c.seg[2].gpa, BUF_GPA + 0x200);
    /* Direct readable buffers, then the table (2.7.5.3.2: the device MUST handle this). */
    desc(0, BUF_GPA + 0x400, 8, VIRTQ_DESC_F_NEXT, 3);
    desc(3, IND_GPA, 48, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
    assert_int_equal(virtq_pop(&q, &mem, &c), 1);
    assert_int_equal(c.nseg, 4);
    assert_int_equal(c.seg[0].gpa, BUF_GPA + 0x400);
    assert_int_equal(c.out_bytes, 18);
    /* A table of VIRTQ_MAX_SEGS buffers is longer than the queue, and fine. */
    for (unsigned i = 0; i < VIRTQ_MAX_SEGS; i++)
        desc_at(IND_GPA, i, BUF_GPA + i, 1, i + 1 < VIRTQ_MAX_SEGS ? VIRTQ_DESC_F_NEXT : 0,
                (uint16_t)(i + 1));
    desc(1, IND_GPA, 16 * VIRTQ_MAX_SEGS, VIRTQ_DESC_F_INDIRECT, 0);
    offer(1);
    assert_int_equal(virtq_pop(&q, &mem, &c), 1);
    assert_int_equal(c.nseg, VIRTQ_MAX_SEGS);
    assert_int_equal(c.out_bytes, VIRTQ_MAX_SEGS);
    assert_false(q.broken);
}

/* The 16-bit indices wrap at 65536 while the ring slots wrap at size. */
static void test_index_wraparound(void **state)
{
    struct virtq_chain c;
    uint32_t id, len;
    (void)state;
    setup_q(4, false, false, 65533);
    for (unsigned i = 0; i < 4; i++)
        desc(i, BUF_GPA + 0x100 * i, 16, VIRTQ_DESC_F_WRITE, 0);
    for (unsigned round = 0; round < 3; round++) {
        for (unsigned i = 0; i < 4; i++)
            offer((uint16_t)((i + round) % 4));
        assert_int_equal((uint16_t)(drv_avail - q.last_avail), 4);   /* exactly full: fine */
        for (unsigned i = 0; i < 4; i++) {
            assert_int_equal(virtq_pop(&q, &mem, &c), 1);
            assert_int_equal(c.head, (i + round) % 4);
        }
        assert_int_equal(virtq_pop(&q, &mem, &c), 0);
        for (unsigned i = 0; i < 4; i++) {
            uint16_t slot = q.used_idx;
            assert_int_equal(virtq_push(&q, &mem, (uint16_t)((i + round) % 4), i), 0);
            used_elem(slot, &id, &len);
            assert_int_equal(id, (i + round) % 4);
            assert_int_equal(len, i);
        }
        assert_int_equal(get16(USED_GPA + 2), q.used_idx);
        assert_int_equal(virtq_push(&q, &mem, 0, 0), -EINVAL);      /* nothing in flight */
        assert_false(q.broken);
    }
    assert_int_equal(q.last_avail, (uint16_t)(65533 + 12));
    assert_int_equal(q.used_idx, 9);
}

/* 2.7.7.2 with event_idx: interrupt when the entry at used_event was written since the last
 * decision, i.e. used_event in [old, new). */
static void test_event_idx_notify(void **state)
{
    struct virtq_chain c;
    (void)state;
    setup_q(8, true, false, 10);
    const uint64_t used_event = AVAIL_GPA + 4 + 2 * 8, avail_event = USED_GPA + 4 + 8 * 8;
    put16(avail_event, 0xbeef);
    desc(0, BUF_GPA, 4, VIRTQ_DESC_F_WRITE, 0);
    put16(AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);     /* must be ignored with event_idx */
    put16(used_event, 500);
    /* The first decision has nothing to compare with: interrupt. */
    offer(0);
    assert_int_equal(virtq_pop(&q, &mem, &c), 1);
    assert_int_equal(virtq_push(&q, &mem, 0, 4), 0);
    assert_true(virtq_should_notify(&q, &mem));
    assert_int_equal(get16(avail_event), 11);                     /* published: last_avail */
    assert_int_equal(q.signalled_used, 11);
    assert_false(virtq_should_notify(&q, &mem));                  /* nothing new */
    /* Three more entries (11, 12, 13): old = 11, new = 14. */
    static const struct { uint16_t event; bool notify; } cases[] = {
        { 10, false },              /* just behind old: that one was decided before */
        { 11, true },               /* equal to old: the first entry of this batch */
        { 13, true },               /* the last entry written: just crossed */
        { 14, false },              /* equal to new: not written yet */
        { 15, false },              /* ahead */
        { (uint16_t)(14 - 30000), false },  /* far behind */
        { (uint16_t)(14 + 30000), false },  /* far ahead */
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        q.signalled_used = 11;
        q.used_idx = q.last_avail = 11;
        for (unsigned k = 0; k < 3; k++) {
            offer(0);
            assert_int_equal(virtq_pop(&q, &mem, &c), 1);
            assert_int_equal(virtq_push(&q, &mem, 0, 4), 0);
        }
        put16(used_event, cases[i].event);
        assert_int_equal(virtq_should_notify(&q, &mem), cases[i].notify);
        assert_int_equal(q.signalled_used, 14);
        assert_int_equal(get16(avail_event), 14);
        drv_avail = 11;
        put16(AVAIL_GPA + 2, 11);
    }
    /* Across the 16-bit wrap: old = 65534, new = 2, used_event = 0 was written. */
    q.signalled_used = 65534;
    q.used_idx = q.last_avail = 65534;
    drv_avail = 65534;
    put16(AVAIL_GPA + 2, 65534);
    for (unsigned k = 0; k < 4; k++) {
        offer(0);
        assert_int_equal(virtq_pop(&q, &mem, &c), 1);
        assert_int_equal(virtq_push(&q, &mem, 0, 4), 0);
    }
    put16(used_event, 0);
    assert_true(virtq_should_notify(&q, &mem));
    /* virtq_set_avail_event alone. */
    q.last_avail = 77;
    virtq_set_avail_event(&q, &mem);
    assert_int_equal(get16(avail_event), 77);
}

/* Without event_idx: interrupt unless the driver set NO_INTERRUPT; avail_event is not ours. */
static void test_no_interrupt_flag(void **state)
{
    struct virtq_chain c;
    (void)state;
    setup_q(8, false, false, 0);
    const uint64_t avail_event = USED_GPA + 4 + 8 * 8;
    put16(avail_event, 0xbeef);
    desc(0, BUF_GPA, 4, 0, 0);
    offer(0);
    assert_int_equal(virtq_pop(&q, &mem, &c), 1);
    assert_int_equal(virtq_push(&q, &mem, 0, 0), 0);
    put16(AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
    assert_false(virtq_should_notify(&q, &mem));
    offer(0);
    assert_int_equal(virtq_pop(&q, &mem, &c), 1);
    assert_int_equal(virtq_push(&q, &mem, 0, 0), 0);
    put16(AVAIL_GPA, 0);
    assert_true(virtq_should_notify(&q, &mem));
    assert_false(virtq_should_notify(&q, &mem));                  /* nothing new since */
    virtq_set_avail_event(&q, &mem);
    assert_int_equal(get16(avail_event), 0xbeef);
    /* A broken queue never asks for an interrupt. */
    offer(0);
    assert_int_equal(virtq_pop(&q, &mem, &c), 1);
    assert_int_equal(virtq_push(&q, &mem, 0, 0), 0);
    q.broken = true;
    assert_false(virtq_should_notify(&q, &mem));
}

/* ---- hostile drivers: each breaks the queue, and nothing more is read from it ---- */

struct hostile {
    const char *name;
    void (*make)(void);                  /* builds the bad ring after setup (size 8) */
    enum virtq_error error;
    bool indirect;                       /* negotiate VIRTIO_F_INDIRECT_DESC */
};

static void h_head(void) { offer(8); }
static void h_next(void) { desc(0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 8), offer(0); }
static void h_self_loop(void) { desc(2, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 2), offer(2); }
static void h_cycle(void)
{
    desc(0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 5);
    desc(5, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 3);
    desc(3, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 5);
    offer(0);
}
static void h_read_after_write(void)
{
    desc(0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    desc(1, BUF_GPA, 4, 0, 0);
    offer(0);
}
/* The order holds across the step into an indirect table. */
static void h_read_after_write_indirect(void)
{
    desc_at(IND_GPA, 0, BUF_GPA, 4, 0, 0);
    desc(0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    desc(1, IND_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
}
static void h_len0(void)
{
    desc(0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
    desc(1, BUF_GPA, 0, 0, 0);
    offer(0);
}
static void h_wrap(void) { desc(0, ~0ull - 3, 8, 0, 0), offer(0); }
static void h_outside_ram(void) { desc(0, RAM_SIZE - 4, 8, VIRTQ_DESC_F_WRITE, 0), offer(0); }
static void h_hole(void)
{
    fm.hole_lo = BUF_GPA + 0x1000, fm.hole_hi = BUF_GPA + 0x2000;
    desc(0, BUF_GPA + 0xfff, 2, 0, 0), offer(0);
}
static void h_avail_jump(void)
{
    desc(0, BUF_GPA, 4, 0, 0);
    for (unsigned i = 0; i < 9; i++)
        offer(0);
}
static void h_avail_back(void) { put16(AVAIL_GPA + 2, 0xffff); }   /* "decremented" */
static void h_ring_unmapped(void) { q.avail = RAM_SIZE - 8; }
static void h_desc_unmapped(void) { offer(0), q.desc = RAM_SIZE - 0x40; }
static void h_misaligned(void) { offer(0), q.used = USED_GPA + 2; }
static void h_indirect_off(void) { desc(0, IND_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0), offer(0); }
static void h_indirect_next(void)
{
    desc_at(IND_GPA, 0, BUF_GPA, 4, 0, 0);
    desc(0, IND_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    desc(1, BUF_GPA, 4, 0, 0);
    offer(0);
}
static void h_indirect_nested(void)
{
    desc_at(IND_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
    desc_at(IND_GPA, 1, IND_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    desc(0, IND_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
}
static void h_indirect_len(void)
{
    desc_at(IND_GPA, 0, BUF_GPA, 4, 0, 0);
    desc(0, IND_GPA, 24, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
}
static void h_indirect_len0(void) { desc(0, IND_GPA, 0, VIRTQ_DESC_F_INDIRECT, 0), offer(0); }
static void h_indirect_index(void)
{
    desc_at(IND_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 2);     /* a table of 2 */
    desc(0, IND_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
}
static void h_indirect_loop(void)
{
    desc_at(IND_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
    desc_at(IND_GPA, 1, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 0);
    desc(0, IND_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
}
static void h_indirect_unmapped(void)
{
    desc(0, RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(0);
}
static void h_indirect_wrap(void) { desc(0, ~0ull - 15, 32, VIRTQ_DESC_F_INDIRECT, 0), offer(0); }
/* A table of one buffer per entry, one more than VIRTQ_MAX_SEGS after one direct buffer. */
static void h_too_many(void)
{
    for (unsigned i = 0; i < VIRTQ_MAX_SEGS; i++)
        desc_at(IND_GPA, i, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
    desc_at(IND_GPA, VIRTQ_MAX_SEGS - 1, BUF_GPA, 1, 0, 0);
    desc(4, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 5);
    desc(5, IND_GPA, 16 * VIRTQ_MAX_SEGS, VIRTQ_DESC_F_INDIRECT, 0);
    offer(4);
}
/* 2.7.5.2: more than 2^32 bytes in one chain (the "big" region maps but is never read). */
static void h_too_big(void)
{
    fm.big = true;
    desc(0, BIG_GPA, 0x80000000u, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    desc(1, BIG_GPA + 0x80000000u, 0x80000000u, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    desc(2, BIG_GPA + 0x100000000u, 1, VIRTQ_DESC_F_WRITE, 0);
    offer(0);
}

static const struct hostile hostile[] = {
    { "head >= size", h_head, VIRTQ_ERR_HEAD, false },
    { "next >= size", h_next, VIRTQ_ERR_HEAD, false },
    { "self loop", h_self_loop, VIRTQ_ERR_LOOP, false },
    { "cycle", h_cycle, VIRTQ_ERR_LOOP, false },
    { "readable after writable", h_read_after_write, VIRTQ_ERR_ORDER, false },
    { "readable after writable, indirect", h_read_after_write_indirect, VIRTQ_ERR_ORDER, true },
    { "length 0", h_len0, VIRTQ_ERR_BUF_LEN, false },
    { "addr + len wraps", h_wrap, VIRTQ_ERR_BUF_LEN, false },
    { "buffer outside RAM", h_outside_ram, VIRTQ_ERR_BUF_MAP, false },
    { "buffer over a hole", h_hole, VIRTQ_ERR_BUF_MAP, false },
    { "avail idx jumps by size + 1", h_avail_jump, VIRTQ_ERR_AVAIL_IDX, false },
    { "avail idx goes back", h_avail_back, VIRTQ_ERR_AVAIL_IDX, false },
    { "avail ring not RAM", h_ring_unmapped, VIRTQ_ERR_RING_MAP, false },
    { "descriptor table not RAM", h_desc_unmapped, VIRTQ_ERR_RING_MAP, false },
    { "misaligned used ring", h_misaligned, VIRTQ_ERR_CONFIG, false },
    { "indirect not negotiated", h_indirect_off, VIRTQ_ERR_INDIRECT, false },
    { "indirect with NEXT", h_indirect_next, VIRTQ_ERR_INDIRECT, true },
    { "nested indirect", h_indirect_nested, VIRTQ_ERR_INDIRECT, true },
    { "indirect length 24", h_indirect_len, VIRTQ_ERR_INDIRECT, true },
    { "indirect length 0", h_indirect_len0, VIRTQ_ERR_INDIRECT, true },
    { "indirect next >= table", h_indirect_index, VIRTQ_ERR_HEAD, true },
    { "indirect loop", h_indirect_loop, VIRTQ_ERR_LOOP, true },
    { "indirect table not RAM", h_indirect_unmapped, VIRTQ_ERR_BUF_MAP, true },
    { "indirect table wraps", h_indirect_wrap, VIRTQ_ERR_BUF_LEN, true },
    { "more than VIRTQ_MAX_SEGS", h_too_many, VIRTQ_ERR_TOO_LONG, true },
    { "more than 2^32 bytes", h_too_big, VIRTQ_ERR_TOO_LONG, false },
};

static void test_hostile_rings(void **state)
{
    struct virtq_chain c;
    (void)state;
    for (unsigned i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        const struct hostile *h = &hostile[i];
        print_message("  hostile: %s\n", h->name);
        setup_q(8, false, h->indirect, 0);
        /* One good chain first: the queue worked until the driver broke it. */
        desc(7, BUF_GPA, 4, 0, 0);
        offer(7);
        assert_int_equal(virtq_pop(&q, &mem, &c), 1);
        h->make();
        assert_int_equal(virtq_pop(&q, &mem, &c), -EINVAL);
        assert_true(q.broken);
        assert_int_equal(q.error, h->error);
        assert_string_not_equal(virtq_strerror(q.error), "unknown error");
        assert_int_equal(q.last_avail, 1);
        /* Broken stays broken, even once the ring looks right again, without reading it. */
        setup_q(8, false, true, 0);
        q.broken = true;
        desc(0, BUF_GPA, 4, 0, 0);
        offer(0);
        unsigned calls = fm.calls;
        assert_int_equal(virtq_pop(&q, &mem, &c), -EINVAL);
        assert_int_equal(virtq_push(&q, &mem, 0, 0), -EINVAL);
        assert_false(virtq_should_notify(&q, &mem));
        assert_int_equal(fm.calls, calls);
    }
}

/* The longest direct chain is the queue size; the same with a cycle closing it is a loop. */
static void test_chain_bounds(void **state)
{
    struct virtq_chain c;
    (void)state;
    setup_q(8, false, false, 0);
    for (unsigned i = 0; i < 8; i++)
        desc(i, BUF_GPA + i, 1, i < 7 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    offer(0);
    assert_int_equal(virtq_pop(&q, &mem, &c), 1);
    assert_int_equal(c.nseg, 8);
    desc(7, BUF_GPA + 7, 1, VIRTQ_DESC_F_NEXT, 0);
    offer(0);
    assert_int_equal(virtq_pop(&q, &mem, &c), -EINVAL);
    assert_int_equal(q.error, VIRTQ_ERR_LOOP);
    /* A 1024 queue's direct chain stops at VIRTQ_MAX_SEGS. */
    setup_q(1024, false, false, 0);
    for (unsigned i = 0; i < 1024; i++)
        desc(i, BUF_GPA, 1, i < 1023 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    offer(0);
    assert_int_equal(virtq_pop(&q, &mem, &c), -EINVAL);
    assert_int_equal(q.error, VIRTQ_ERR_TOO_LONG);
    /* Exactly 2^32 bytes is allowed. */
    setup_q(8, false, false, 0);
    fm.big = true;
    desc(0, BIG_GPA, 0x80000000u, VIRTQ_DESC_F_NEXT, 1);
    desc(1, BIG_GPA + 0x80000000u, 0x80000000u, 0, 0);
    offer(0);
    assert_int_equal(virtq_pop(&q, &mem, &c), 1);
    assert_int_equal(c.out_bytes, 1ull << 32);
}

/* Device mistakes refuse without breaking the queue; a used ring gone from RAM breaks it. */
static void test_push_errors(void **state)
{
    struct virtq_chain c;
    (void)state;
    setup_q(8, false, false, 0);
    desc(0, BUF_GPA, 4, 0, 0);
    offer(0);
    assert_int_equal(virtq_push(&q, &mem, 0, 0), -EINVAL);       /* nothing in flight */
    assert_int_equal(virtq_pop(&q, &mem, &c), 1);
    assert_int_equal(virtq_push(&q, &mem, 8, 0), -EINVAL);       /* head >= size */
    q.ready = false;
    assert_int_equal(virtq_push(&q, &mem, 0, 0), -EINVAL);
    q.ready = true;
    assert_false(q.broken);
    assert_int_equal(get16(USED_GPA + 2), 0);
    q.used = RAM_SIZE - 8;
    assert_int_equal(virtq_push(&q, &mem, 0, 0), -EINVAL);
    assert_true(q.broken);
    assert_int_equal(q.error, VIRTQ_ERR_RING_MAP);
    assert_string_equal(virtq_strerror(200), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_config),
        cmocka_unit_test(test_simple_chain),
        cmocka_unit_test(test_out_in_chain_and_copies),
        cmocka_unit_test(test_indirect),
        cmocka_unit_test(test_index_wraparound),
        cmocka_unit_test(test_event_idx_notify),
        cmocka_unit_test(test_no_interrupt_flag),
        cmocka_unit_test(test_hostile_rings),
        cmocka_unit_test(test_chain_bounds),
        cmocka_unit_test(test_push_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
