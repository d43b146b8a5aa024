/*
 * virtio-blk on a backend (hv/dev/vvirtio_blk.c's second disk kind: network storage), on the
 * ferry-min machine, driven through the buses as Linux drives it (vblk_driver.h). The test
 * plays the backend: its submit records each struct vblk_io and says yes (or no); the data
 * moves later through vvirtio_blk_io_read/_write, in pieces, and vvirtio_blk_complete ends
 * the request. Checked: what reaches the backend and what the guest sees (buffers, status,
 * used ring, MSI-X), the VBLK_INFLIGHT limit and the chains waiting behind it, busy for a
 * migration, and a driver reset with requests still out (their completions land nowhere).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_vm.h"
#include "hv/dev/machine.h"
#include "vblk_driver.h"

#define SECTORS     64
#define DISK_ID     "ferry-net0"
#define QBIG        64                  /* a queue with room for more than VBLK_INFLIGHT */
#define MAX_IOS     128

/* ---- the backend the test plays ---- */

struct fake_be {
    struct vblk_io io[MAX_IOS];         /* every submit, in order */
    unsigned n;
    int fail;                           /* what submit answers */
};

static struct fake_be be;
static uint8_t remote[SECTORS * VBLK_SECTOR];   /* the backend's disk */
static struct fake_vm fv;

static int be_submit(void *ctx, const struct vblk_io *io)
{
    struct fake_be *b = ctx;
    assert_true(b->n < MAX_IOS);
    b->io[b->n++] = *io;
    return b->fail;
}

static struct vblk_backend fake_backend = { .submit = be_submit, .ctx = &be, .flush = true };

static void build_vm(struct fake_vm *v)
{
    struct vvirtio_blk_cfg cfg = { .data = NULL, .backend = &fake_backend, .sectors = SECTORS,
                                   .id = DISK_ID, .where = "nbd://test" };
    char err[160] = "";
    fake_vm_build(v, &machine_ferry_min);
    assert_int_equal(dev_add(&v->devs, &vvirtio_blk_type, 0, &cfg, err, sizeof(err)), 0);
    fake_vm_ram(v);
}

static int setup(void **state)
{
    (void)state;
    memset(&be, 0, sizeof(be));
    fake_backend.flush = true;
    for (size_t i = 0; i < sizeof(remote); i++)
        remote[i] = (uint8_t)(i * 13 + i / VBLK_SECTOR * 5 + 3);
    build_vm(&fv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fake_vm_destroy(&fv);
    return 0;
}

static struct device *dev(void) { return blk_dev(&fv); }

/* The backend's side of a read: the remote sectors into the guest, `piece` bytes a call. */
static void be_fill(const struct vblk_io *io, uint64_t piece)
{
    assert_int_equal(io->op, VBLK_READ);
    for (uint64_t off = 0; off < io->len; off += piece) {
        uint64_t n = io->len - off < piece ? io->len - off : piece;
        assert_int_equal(vvirtio_blk_io_write(dev(), io->id, off,
                                              remote + io->sector * VBLK_SECTOR + off, n),
                         (long)n);
    }
}

/* The backend's side of a write: the guest's data onto the remote disk. */
static void be_drain(const struct vblk_io *io, uint64_t piece)
{
    assert_int_equal(io->op, VBLK_WRITE);
    for (uint64_t off = 0; off < io->len; off += piece) {
        uint64_t n = io->len - off < piece ? io->len - off : piece;
        assert_int_equal(vvirtio_blk_io_read(dev(), io->id, off,
                                             remote + io->sector * VBLK_SECTOR + off, n),
                         (long)n);
    }
}

/* The next used element is head's, with len; the driver takes it and re-arms (virtblk_done). */
static void expect_used(struct drv *d, uint16_t head, uint32_t len)
{
    uint16_t id;
    uint32_t ulen;
    assert_true(drv_used(d, &id, &ulen));
    assert_int_equal(id, head);
    assert_int_equal(ulen, len);
    drv_enable_cb(d);
}

static void expect_nothing_used(struct drv *d, uint16_t used)
{
    assert_int_equal(used_idx(d), used);
}

/* ==== reads and writes ==== */

/* A read goes out, nothing is used until the backend has moved the data and completed it. */
static void test_read_completes_later(void **state)
{
    struct drv d;
    struct vvirtio_blk_stats st;
    char buf[16];
    (void)state;
    drv_start(&d, &fv);
    msix_on(&d);
    memset(fv.ram + G_DATA, 0xaa, 0x1000);
    fake_vm_ram_clear_dirty(&fv);
    uint16_t head = blk_submit(&d, T_IN, 5, G_DATA, 2048, true);
    assert_int_equal(be.n, 1);
    const struct vblk_io io = be.io[0];
    assert_int_equal(io.op, VBLK_READ);
    assert_int_equal(io.sector, 5);
    assert_int_equal(io.len, 2048);
    assert_in_range(io.id, 0, VBLK_INFLIGHT - 1);
    expect_nothing_used(&d, 0);
    assert_int_equal(fv.ram[G_STATUS + head], 0xff);
    assert_int_equal(lapic_take(&fv), -1);
    assert_true(vvirtio_blk_busy(dev()));
    /* A read's data only goes into the guest; ranges stay inside the request. */
    assert_int_equal(vvirtio_blk_io_read(dev(), io.id, 0, buf, 1), -EINVAL);
    assert_int_equal(vvirtio_blk_io_write(dev(), io.id, 2048, remote, 1), -EINVAL);
    assert_int_equal(vvirtio_blk_io_write(dev(), io.id, 2049, remote, 0), -EINVAL);
    assert_int_equal(vvirtio_blk_io_write(dev(), io.id, 1, remote, 2048), -EINVAL);
    assert_int_equal(vvirtio_blk_io_write(dev(), io.id, 1024, remote, ~0ull), -EINVAL);
    assert_int_equal(vvirtio_blk_io_write(dev(), io.id, ~0ull, remote, 2), -EINVAL);
    assert_int_equal(vvirtio_blk_io_write(dev(), (io.id + 1) % VBLK_INFLIGHT, 0, remote, 1),
                     -EINVAL);                          /* a free slot */
    assert_int_equal(vvirtio_blk_io_write(dev(), VBLK_INFLIGHT, 0, remote, 1), -EINVAL);
    assert_int_equal(fv.ram[G_DATA], 0xaa);
    be_fill(&io, 512);
    /* The data is in the guest's buffer at once (no copy in the device), still not used. */
    assert_memory_equal(fv.ram + G_DATA, remote + 5 * 512, 2048);
    assert_int_equal(fv.ram[G_DATA + 2048], 0xaa);
    assert_true(fake_vm_ram_dirty(&fv, G_DATA));
    expect_nothing_used(&d, 0);
    assert_int_equal(lapic_take(&fv), -1);
    vvirtio_blk_complete(dev(), io.id, 0);
    assert_int_equal(fv.ram[G_STATUS + head], S_OK);
    expect_used(&d, head, 2048 + 1);
    assert_int_equal(lapic_take(&fv), 0x41);
    assert_int_equal(lapic_take(&fv), -1);
    assert_false(vvirtio_blk_busy(dev()));
    assert_int_equal(vvirtio_blk_io_write(dev(), io.id, 0, remote, 1), -EINVAL);  /* gone */
    vvirtio_blk_stats(dev(), &st);
    assert_int_equal(st.reads, 1);
    assert_int_equal(st.bytes_read, 2048);
    assert_int_equal(st.errors, 0);
    assert_int_equal(status(&d), S_LIVE);
}

/* A bio of two pages, the header split too; the backend's pieces cross the buffers' edges. */
static void test_read_scattered_pieces(void **state)
{
    struct drv d;
    (void)state;
    drv_start(&d, &fv);
    msix_on(&d);
    uint16_t head = d.next_desc % QSIZE;
    put(&fv, G_HDR + 16 * head, T_IN, 4);
    put(&fv, G_HDR + 16 * head + 8, SECTORS - 3, 8);
    fv.ram[G_STATUS + head] = 0xff;
    const struct buf b[5] = { { G_HDR + 16 * head, 5, false },
                              { G_HDR + 16 * head + 5, 11, false },
                              { G_DATA + 0x2000, 512, true },
                              { G_DATA + 0x5000, 1024, true },
                              { G_STATUS + head, 1, true } };
    assert_int_equal(drv_chain(&d, b, 5), head);
    drv_publish(&d, head, true);
    assert_int_equal(be.n, 1);
    assert_int_equal(be.io[0].sector, SECTORS - 3);
    assert_int_equal(be.io[0].len, 1536);
    be_fill(&be.io[0], 700);                            /* 700, 700, 136 */
    vvirtio_blk_complete(dev(), be.io[0].id, 0);
    expect_used(&d, head, 1536 + 1);
    assert_int_equal(fv.ram[G_STATUS + head], S_OK);
    assert_memory_equal(fv.ram + G_DATA + 0x2000, remote + (SECTORS - 3) * 512, 512);
    assert_memory_equal(fv.ram + G_DATA + 0x5000, remote + (SECTORS - 2) * 512, 1024);
    assert_int_equal(lapic_take(&fv), 0x41);
}

static void test_write(void **state)
{
    struct drv d;
    uint8_t got[1536];
    struct vvirtio_blk_stats st;
    (void)state;
    drv_start(&d, &fv);
    msix_on(&d);
    for (unsigned i = 0; i < sizeof(got); i++)
        fv.ram[G_DATA + i] = (uint8_t)(0x5a ^ i);
    fake_vm_ram_clear_dirty(&fv);
    uint16_t head = blk_submit(&d, T_OUT, 9, G_DATA, sizeof(got), true);
    assert_int_equal(be.n, 1);
    const struct vblk_io io = be.io[0];
    assert_int_equal(io.op, VBLK_WRITE);
    assert_int_equal(io.sector, 9);
    assert_int_equal(io.len, sizeof(got));
    expect_nothing_used(&d, 0);
    /* A write's data only comes out of the guest, never the header or past the data. */
    assert_int_equal(vvirtio_blk_io_write(dev(), io.id, 0, got, 1), -EINVAL);
    assert_int_equal(vvirtio_blk_io_read(dev(), io.id, 1536, got, 1), -EINVAL);
    assert_int_equal(vvirtio_blk_io_read(dev(), io.id, 512, got, 1025), -EINVAL);
    assert_int_equal(vvirtio_blk_io_read(dev(), io.id, 1, got, ~0ull), -EINVAL);
    assert_int_equal(vvirtio_blk_io_read(dev(), io.id, 1000, got, 536), 536);
    assert_memory_equal(got, fv.ram + G_DATA + 1000, 536);
    be_drain(&io, 512);
    assert_memory_equal(remote + 9 * 512, fv.ram + G_DATA, sizeof(got));
    expect_nothing_used(&d, 0);
    vvirtio_blk_complete(dev(), io.id, 0);
    assert_int_equal(fv.ram[G_STATUS + head], S_OK);
    expect_used(&d, head, 1);                           /* only the status byte */
    assert_int_equal(lapic_take(&fv), 0x41);
    assert_false(fake_vm_ram_dirty(&fv, G_DATA));       /* the data was only read */
    assert_false(vvirtio_blk_busy(dev()));
    vvirtio_blk_stats(dev(), &st);
    assert_int_equal(st.writes, 1);
    assert_int_equal(st.bytes_written, sizeof(got));
    /* And back through a read. */
    memset(fv.ram + G_DATA + 0x1000, 0, sizeof(got));
    head = blk_submit(&d, T_IN, 9, G_DATA + 0x1000, sizeof(got), true);
    assert_int_equal(be.n, 2);
    be_fill(&be.io[1], 1536);
    vvirtio_blk_complete(dev(), be.io[1].id, 0);
    expect_used(&d, head, sizeof(got) + 1);
    assert_memory_equal(fv.ram + G_DATA + 0x1000, fv.ram + G_DATA, sizeof(got));
}

/* ==== flush ==== */

static void test_flush_goes_to_backend(void **state)
{
    struct drv d;
    struct vvirtio_blk_stats st;
    uint8_t x = 0;
    (void)state;
    drv_start(&d, &fv);
    assert_int_equal(d.offered, OFFERED);
    assert_true(d.features & F(BLK_F_FLUSH));
    uint16_t head = blk_submit(&d, T_FLUSH, 0, 0, 0, true);
    assert_int_equal(be.n, 1);
    assert_int_equal(be.io[0].op, VBLK_FLUSH);
    assert_int_equal(be.io[0].sector, 0);
    assert_int_equal(be.io[0].len, 0);
    expect_nothing_used(&d, 0);
    assert_true(dev_set_busy(&fv.devs));
    assert_int_equal(vvirtio_blk_io_read(dev(), be.io[0].id, 0, &x, 1), -EINVAL);
    assert_int_equal(vvirtio_blk_io_write(dev(), be.io[0].id, 0, &x, 1), -EINVAL);
    vvirtio_blk_complete(dev(), be.io[0].id, 0);
    expect_used(&d, head, 1);
    assert_int_equal(fv.ram[G_STATUS + head], S_OK);
    assert_false(dev_set_busy(&fv.devs));
    vvirtio_blk_stats(dev(), &st);
    assert_int_equal(st.flushes, 1);
}

/* A backend that cannot flush: FLUSH (bit 9) is not offered, Linux takes what is left. */
static void test_no_flush_not_offered(void **state)
{
    struct drv d;
    (void)state;
    fake_vm_destroy(&fv);
    fake_backend.flush = false;
    build_vm(&fv);
    drv_start(&d, &fv);
    assert_int_equal(d.offered, OFFERED & ~F(BLK_F_FLUSH));
    assert_false(d.features & F(BLK_F_FLUSH));
    assert_int_equal(status(&d), S_LIVE);
    /* Reads and writes still go out. */
    uint16_t head = blk_submit(&d, T_OUT, 0, G_DATA, 512, true);
    assert_int_equal(be.n, 1);
    be_drain(&be.io[0], 512);
    vvirtio_blk_complete(dev(), be.io[0].id, 0);
    expect_used(&d, head, 1);
}

/* A driver that sends FLUSH anyway (it was not offered): the backend said it cannot flush, so
 * the request must not reach it; it is answered at once (UNSUPP, 5.2.6.2). */
static void test_flush_unoffered_not_sent(void **state)
{
    struct drv d;
    (void)state;
    fake_vm_destroy(&fv);
    fake_backend.flush = false;
    build_vm(&fv);
    drv_start(&d, &fv);
    uint16_t head = blk_submit(&d, T_FLUSH, 0, 0, 0, true);
    assert_int_equal(be.n, 0);
    assert_false(vvirtio_blk_busy(dev()));
    expect_used(&d, head, 1);
    assert_int_equal(fv.ram[G_STATUS + head], S_UNSUPP);
    assert_int_equal(status(&d), S_LIVE);
}

/* ==== errors ==== */

/* The backend fails a request: IOERR to that one, nothing of its data, the device goes on. */
static void test_completion_error(void **state)
{
    struct drv d;
    struct vvirtio_blk_stats st;
    (void)state;
    drv_start(&d, &fv);
    msix_on(&d);
    memset(fv.ram + G_DATA, 0xaa, 0x1000);
    uint16_t head = blk_submit(&d, T_IN, 2, G_DATA, 1024, true);
    assert_int_equal(be.n, 1);
    vvirtio_blk_complete(dev(), be.io[0].id, -EIO);
    expect_used(&d, head, 1);                           /* no data claimed */
    assert_int_equal(fv.ram[G_STATUS + head], S_IOERR);
    assert_int_equal(fv.ram[G_DATA], 0xaa);
    assert_int_equal(lapic_take(&fv), 0x41);
    /* A write that fails after some of its data was read. */
    head = blk_submit(&d, T_OUT, 3, G_DATA, 512, true);
    assert_int_equal(be.n, 2);
    assert_int_equal(be.io[1].op, VBLK_WRITE);
    uint8_t part[100];
    assert_int_equal(vvirtio_blk_io_read(dev(), be.io[1].id, 0, part, sizeof(part)), 100);
    vvirtio_blk_complete(dev(), be.io[1].id, -ETIMEDOUT);
    expect_used(&d, head, 1);
    assert_int_equal(fv.ram[G_STATUS + head], S_IOERR);
    assert_int_equal(lapic_take(&fv), 0x41);
    vvirtio_blk_stats(dev(), &st);
    assert_int_equal(st.errors, 2);
    assert_int_equal(st.reads + st.writes, 0);
    /* The device goes on. */
    assert_int_equal(status(&d), S_LIVE);
    head = blk_submit(&d, T_IN, 2, G_DATA, 1024, true);
    assert_int_equal(be.n, 3);
    be_fill(&be.io[2], 512);
    vvirtio_blk_complete(dev(), be.io[2].id, 0);
    expect_used(&d, head, 1025);
    assert_int_equal(fv.ram[G_STATUS + head], S_OK);
    assert_memory_equal(fv.ram + G_DATA, remote + 2 * 512, 1024);
    assert_int_equal(lapic_take(&fv), 0x41);
}

/* submit says no: IOERR before the kick returns, and the slot is free again (more refusals
 * than there are slots, then one accepted). */
static void test_submit_fails(void **state)
{
    struct drv d;
    (void)state;
    drv_start(&d, &fv);
    be.fail = -EIO;
    for (unsigned i = 0; i < VBLK_INFLIGHT + 4; i++) {
        uint16_t head = blk_submit(&d, i % 2 ? T_OUT : T_IN, i, G_DATA, 512, true);
        assert_int_equal(be.n, i + 1);
        expect_used(&d, head, 1);
        assert_int_equal(d.fv->ram[G_STATUS + head], S_IOERR);
        assert_false(vvirtio_blk_busy(dev()));
        assert_false(dev_set_busy(&fv.devs));
    }
    uint16_t head = blk_submit(&d, T_FLUSH, 0, 0, 0, true);
    expect_used(&d, head, 1);
    assert_int_equal(d.fv->ram[G_STATUS + head], S_IOERR);
    be.fail = 0;
    head = blk_submit(&d, T_IN, 1, G_DATA, 512, true);
    assert_int_equal(be.n, VBLK_INFLIGHT + 6);
    assert_true(vvirtio_blk_busy(dev()));
    be_fill(&be.io[be.n - 1], 512);
    vvirtio_blk_complete(dev(), be.io[be.n - 1].id, 0);
    expect_used(&d, head, 513);
    assert_int_equal(status(&d), S_LIVE);
}

/* ==== many in flight ==== */

/* More than VBLK_INFLIGHT published with one kick: VBLK_INFLIGHT go out, each completion lets
 * the next in without a kick; completions in any order, each used entry its request's head. */
static void test_inflight_limit_and_order(void **state)
{
    enum { N = VBLK_INFLIGHT + 4 };
    struct drv d;
    uint16_t heads[N];
    bool slot[VBLK_INFLIGHT] = { false };
    (void)state;
    drv_start_q(&d, &fv, QBIG);
    memset(fv.ram + G_DATA, 0xaa, 0x1000 * N);
    for (unsigned i = 0; i < N; i++)
        heads[i] = blk_submit(&d, T_IN, i, G_DATA + 0x1000 * i, 512, false);
    drv_kick(&d);
    assert_int_equal(be.n, VBLK_INFLIGHT);
    for (unsigned i = 0; i < VBLK_INFLIGHT; i++) {
        assert_int_equal(be.io[i].sector, i);           /* in ring order */
        assert_false(slot[be.io[i].id]);
        slot[be.io[i].id] = true;
    }
    expect_nothing_used(&d, 0);
    /* Completion order: the request for sector k is be.io[k]. */
    static const unsigned order[N] = { 7, 3, 15, 0, 16, 19, 1, 2, 18, 4, 5, 17, 6, 8, 9, 14,
                                       13, 12, 11, 10 };
    for (unsigned c = 0; c < N; c++) {
        unsigned k = order[c];
        assert_true(k < be.n);                          /* it went out */
        unsigned id = be.io[k].id;
        be_fill(&be.io[k], 256);
        vvirtio_blk_complete(dev(), id, 0);
        expect_used(&d, heads[k], 513);
        assert_int_equal(fv.ram[G_STATUS + heads[k]], S_OK);
        assert_memory_equal(fv.ram + G_DATA + 0x1000 * k, remote + k * 512, 512);
        /* The next waiting chain took the freed slot, with no kick. */
        unsigned out = VBLK_INFLIGHT + c + 1 < N ? VBLK_INFLIGHT + c + 1 : N;
        assert_int_equal(be.n, out);
        if (be.n == VBLK_INFLIGHT + c + 1) {
            assert_int_equal(be.io[be.n - 1].sector, be.n - 1);
            assert_int_equal(be.io[be.n - 1].id, id);
        }
        assert_int_equal(d.kicks, 1);
        assert_int_equal(vvirtio_blk_busy(dev()), c + 1 < N);
    }
    assert_int_equal(used_idx(&d), N);
    assert_int_equal(status(&d), S_LIVE);
}

/* dev_set_busy (what stop-and-copy waits on) while any request is at the backend. */
static void test_busy(void **state)
{
    struct drv d;
    (void)state;
    assert_false(dev_set_busy(&fv.devs));
    drv_start(&d, &fv);
    uint16_t h0 = blk_submit(&d, T_IN, 0, G_DATA, 512, true);
    uint16_t h1 = blk_submit(&d, T_FLUSH, 0, 0, 0, true);
    assert_int_equal(be.n, 2);
    assert_true(dev_set_busy(&fv.devs));
    vvirtio_blk_complete(dev(), be.io[1].id, 0);
    expect_used(&d, h1, 1);
    assert_true(dev_set_busy(&fv.devs));
    vvirtio_blk_complete(dev(), be.io[0].id, -EIO);
    expect_used(&d, h0, 1);
    assert_false(dev_set_busy(&fv.devs));
}

/* ==== a driver reset with requests out ==== */

static void submit_four(struct drv *d, uint16_t heads[4])
{
    memset(d->fv->ram + G_DATA, 0xaa, 0x4000);
    for (unsigned i = 0; i < 3; i++)
        heads[i] = blk_submit(d, T_IN, i + 1, G_DATA + 0x1000 * i, 512, false);
    heads[3] = blk_submit(d, T_OUT, 4, G_DATA + 0x3000, 512, false);
    drv_kick(d);
    assert_int_equal(be.n, 4);
}

/* Status 0 while four are out (vp_reset on a reboot or a driver unbind): the backend may still
 * complete them, but their buffers are the guest's again and the queue is a new one. */
static void test_driver_reset_orphans(void **state)
{
    struct drv d;
    uint16_t heads[4];
    uint8_t x = 0;
    (void)state;
    drv_start_q(&d, &fv, QBIG);
    msix_on(&d);
    submit_four(&d, heads);
    uint8_t before[0x4000];
    memcpy(before, fv.ram + G_DATA, sizeof(before));
    com_w(&d, C_STATUS, 1, 0);
    assert_int_equal(status(&d), 0);
    assert_true(dev_set_busy(&fv.devs));                /* still at the backend */
    /* Their buffers are no longer the device's. */
    assert_int_equal(vvirtio_blk_io_write(dev(), be.io[0].id, 0, remote, 512), -EINVAL);
    assert_int_equal(vvirtio_blk_io_read(dev(), be.io[3].id, 0, &x, 1), -EINVAL);
    /* One completes before the driver is back, the rest after it re-initialised the queue. */
    vvirtio_blk_complete(dev(), be.io[1].id, 0);
    drv_start_q(&d, &fv, QBIG);
    msix_on(&d);
    assert_true(dev_set_busy(&fv.devs));
    assert_int_equal(vvirtio_blk_io_write(dev(), be.io[2].id, 0, remote, 512), -EINVAL);
    vvirtio_blk_complete(dev(), be.io[0].id, 0);
    vvirtio_blk_complete(dev(), be.io[2].id, -EIO);
    vvirtio_blk_complete(dev(), be.io[3].id, 0);
    assert_false(dev_set_busy(&fv.devs));               /* the slots are free */
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(fv.ram[G_STATUS + heads[i]], 0xff);
    assert_memory_equal(fv.ram + G_DATA, before, sizeof(before));
    expect_nothing_used(&d, 0);
    assert_int_equal(lapic_take(&fv), -1);
    assert_int_equal(status(&d), S_LIVE);
    /* New requests work, every slot of them. */
    uint16_t nh[VBLK_INFLIGHT];
    for (unsigned i = 0; i < VBLK_INFLIGHT; i++)
        nh[i] = blk_submit(&d, T_IN, 10 + i, G_DATA + 0x1000 * i, 512, false);
    drv_kick(&d);
    assert_int_equal(be.n, 4 + VBLK_INFLIGHT);
    for (unsigned i = 0; i < VBLK_INFLIGHT; i++) {
        const struct vblk_io *io = &be.io[4 + i];
        assert_int_equal(io->sector, 10 + i);
        be_fill(io, 512);
        vvirtio_blk_complete(dev(), io->id, 0);
        expect_used(&d, nh[i], 513);
        assert_int_equal(fv.ram[G_STATUS + nh[i]], S_OK);
        assert_memory_equal(fv.ram + G_DATA + 0x1000 * i, remote + (10 + i) * 512, 512);
    }
    assert_int_equal(lapic_take(&fv), 0x41);
    assert_false(dev_set_busy(&fv.devs));
}

/* Every slot orphaned by a reset, and the re-initialised driver's first request waiting in the
 * ring for one: an orphan's completion frees a slot, so the device must take that request then
 * (as a live completion does). Else it waits for a kick that EVENT_IDX never asks for again:
 * avail_event stayed 0 (the early return in notify() never set it), so Linux's next requests
 * do not kick either and the disk hangs after a reboot under load. */
static void test_orphan_completion_takes_waiting(void **state)
{
    struct drv d;
    (void)state;
    drv_start_q(&d, &fv, QBIG);
    for (unsigned i = 0; i < VBLK_INFLIGHT; i++)
        blk_submit(&d, T_IN, i, G_DATA + 0x1000 * i, 512, false);
    drv_kick(&d);
    assert_int_equal(be.n, VBLK_INFLIGHT);
    drv_start_q(&d, &fv, QBIG);                         /* resets first (3.1.1 step 1) */
    msix_on(&d);
    uint16_t head = blk_submit(&d, T_IN, 20, G_DATA + 0x20000, 512, true);
    assert_int_equal(d.kicks, 1);
    assert_int_equal(be.n, VBLK_INFLIGHT);              /* no slot for it yet */
    vvirtio_blk_complete(dev(), be.io[0].id, 0);
    expect_nothing_used(&d, 0);
    assert_int_equal(be.n, VBLK_INFLIGHT + 1);          /* taken without another kick */
    const struct vblk_io *io = &be.io[VBLK_INFLIGHT];
    assert_int_equal(io->sector, 20);
    assert_int_equal(io->id, be.io[0].id);
    be_fill(io, 512);
    vvirtio_blk_complete(dev(), io->id, 0);
    expect_used(&d, head, 513);
    assert_int_equal(lapic_take(&fv), 0x41);
    for (unsigned i = 1; i < VBLK_INFLIGHT; i++)
        vvirtio_blk_complete(dev(), be.io[i].id, 0);
    assert_false(dev_set_busy(&fv.devs));
    expect_nothing_used(&d, 1);
}

/* A VM reset (the CPU reset line) with a read out: the same, and the function is at power-on
 * (bus mastering off) when it completes. */
static void test_vm_reset_orphans(void **state)
{
    struct drv d;
    (void)state;
    drv_start(&d, &fv);
    msix_on(&d);
    memset(fv.ram + G_DATA, 0xaa, 0x1000);
    uint16_t head = blk_submit(&d, T_IN, 3, G_DATA, 1024, true);
    assert_int_equal(be.n, 1);
    dev_set_reset(&fv.devs);
    assert_true(dev_set_busy(&fv.devs));
    assert_int_equal(vvirtio_blk_io_write(dev(), be.io[0].id, 0, remote, 1024), -EINVAL);
    drv_start(&d, &fv);
    vvirtio_blk_complete(dev(), be.io[0].id, 0);
    assert_false(dev_set_busy(&fv.devs));
    assert_int_equal(fv.ram[G_STATUS + head], 0xff);
    assert_int_equal(fv.ram[G_DATA], 0xaa);
    expect_nothing_used(&d, 0);
    head = blk_submit(&d, T_IN, 3, G_DATA, 1024, true);
    assert_int_equal(be.n, 2);
    be_fill(&be.io[1], 1024);
    vvirtio_blk_complete(dev(), be.io[1].id, 0);
    expect_used(&d, head, 1025);
    assert_memory_equal(fv.ram + G_DATA, remote + 3 * 512, 1024);
}

/* A request out when the queue breaks (another chain without a status byte): its buffers are
 * not touched any more, its completion only frees the slot. */
static void test_queue_broken_while_out(void **state)
{
    struct drv d;
    (void)state;
    drv_start(&d, &fv);
    memset(fv.ram + G_DATA, 0xaa, 0x1000);
    uint16_t head = blk_submit(&d, T_IN, 0, G_DATA, 512, true);
    assert_int_equal(be.n, 1);
    put(&fv, G_HDR + 16 * (d.next_desc % QSIZE), T_OUT, 4);
    const struct buf b[2] = { { G_HDR + 16 * (d.next_desc % QSIZE), 16, false },
                              { G_DATA + 0x8000, 512, false } };
    drv_publish(&d, drv_chain(&d, b, 2), true);
    assert_int_equal(status(&d), S_LIVE | VIRTIO_S_NEEDS_RESET);
    assert_int_equal(vvirtio_blk_io_write(dev(), be.io[0].id, 0, remote, 512), -EINVAL);
    assert_int_equal(fv.ram[G_DATA], 0xaa);
    vvirtio_blk_complete(dev(), be.io[0].id, 0);
    assert_int_equal(fv.ram[G_STATUS + head], 0xff);
    expect_nothing_used(&d, 0);
    assert_false(dev_set_busy(&fv.devs));
}

/* ==== served at once, and stray completions ==== */

/* GET_ID, an unknown type and a range past the disk never reach the backend, even with a
 * request out. */
static void test_served_at_once(void **state)
{
    struct drv d;
    (void)state;
    drv_start_q(&d, &fv, QBIG);
    uint16_t out = blk_submit(&d, T_IN, 0, G_DATA + 0x1000, 512, true);
    assert_int_equal(be.n, 1);
    memset(fv.ram + G_DATA, 0xee, VBLK_ID_LEN);
    uint16_t head = blk_submit(&d, T_GET_ID, 0, G_DATA, VBLK_ID_LEN, true);
    expect_used(&d, head, VBLK_ID_LEN + 1);
    assert_int_equal(fv.ram[G_STATUS + head], S_OK);
    char id[VBLK_ID_LEN] = DISK_ID;
    assert_memory_equal(fv.ram + G_DATA, id, VBLK_ID_LEN);
    head = blk_submit(&d, 0x42, 0, G_DATA, 512, true);
    expect_used(&d, head, 1);
    assert_int_equal(fv.ram[G_STATUS + head], S_UNSUPP);
    head = blk_submit(&d, T_IN, SECTORS - 1, G_DATA, 1024, true);
    expect_used(&d, head, 1);
    assert_int_equal(fv.ram[G_STATUS + head], S_IOERR);
    assert_int_equal(be.n, 1);
    be_fill(&be.io[0], 512);
    vvirtio_blk_complete(dev(), be.io[0].id, 0);
    expect_used(&d, out, 513);
}

/* Completions for ids that are not out are ignored, a second one for the same id too. */
static void test_complete_unknown_ignored(void **state)
{
    struct drv d;
    (void)state;
    drv_start(&d, &fv);
    vvirtio_blk_complete(dev(), 0, 0);
    vvirtio_blk_complete(dev(), VBLK_INFLIGHT, 0);
    vvirtio_blk_complete(dev(), ~0u, -EIO);
    expect_nothing_used(&d, 0);
    assert_false(vvirtio_blk_busy(dev()));
    uint16_t head = blk_submit(&d, T_IN, 0, G_DATA, 512, true);
    unsigned id = be.io[0].id;
    vvirtio_blk_complete(dev(), (id + 1) % VBLK_INFLIGHT, 0);
    expect_nothing_used(&d, 0);
    assert_true(vvirtio_blk_busy(dev()));
    assert_int_equal(fv.ram[G_STATUS + head], 0xff);
    be_fill(&be.io[0], 512);
    vvirtio_blk_complete(dev(), id, 0);
    expect_used(&d, head, 513);
    fv.ram[G_STATUS + head] = 0x77;
    vvirtio_blk_complete(dev(), id, -EIO);              /* again: it is gone */
    expect_nothing_used(&d, 1);
    assert_int_equal(fv.ram[G_STATUS + head], 0x77);
    assert_false(vvirtio_blk_busy(dev()));
    assert_int_equal(status(&d), S_LIVE);
}

/* A disk on shared storage has no write log: nothing of it is copied by a migration. */
static void test_no_write_log(void **state)
{
    uint64_t log[1] = { 0 };
    (void)state;
    assert_int_equal(vvirtio_blk_log(dev(), log), -EINVAL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_read_completes_later),
        T(test_read_scattered_pieces),
        T(test_write),
        T(test_flush_goes_to_backend),
        T(test_no_flush_not_offered),
        T(test_flush_unoffered_not_sent),
        T(test_completion_error),
        T(test_submit_fails),
        T(test_inflight_limit_and_order),
        T(test_busy),
        T(test_driver_reset_orphans),
        T(test_orphan_completion_takes_waiting),
        T(test_vm_reset_orphans),
        T(test_queue_broken_while_out),
        T(test_served_at_once),
        T(test_complete_unknown_ignored),
        T(test_no_write_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
