/*
 * Host tests for drivers/virtio_net.c and drivers/virtio_pci.c against a fake virtio-net
 * device. Its configuration space holds the vendor capabilities QEMU exposes, with the
 * registers in a 64-bit BAR above 4 GiB. The driver asks the core to map them (mmu_map_io,
 * below: it records the request and refuses, as a full I/O window would), so every register
 * access goes through the PCI_CFG window (pci_read / pci_write below) and the fake checks
 * widths and alignment.
 * "Physical" addresses are host pointers minus DIRECT_MAP_BASE, so phys_to_virt gives them
 * back; the fake device reads and writes the rings through it like DMA.
 * virtio_net.c is included so each test starts with its NIC table empty.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/virtio_net.c"
#include "fake_env.h"
#include "support.h"

#define BAR4_BASE 0xe000000000ull
#define CAP_COMMON 0x40
#define CAP_ISR    0x50
#define CAP_DEVCFG 0x60
#define CAP_NOTIFY 0x70
#define CAP_PCICFG 0x84
#define WIN_DATA   (CAP_PCICFG + 16)
#define R_COMMON 0x0000
#define R_ISR    0x1000
#define R_DEVCFG 0x2000
#define R_NOTIFY 0x3000
#define NOTIFY_MULT 4

struct fq {
    uint16_t size, enable;
    uint64_t desc, drv, dev;
    uint16_t last_avail;
    unsigned notifies;
};

static struct fdev {
    uint8_t cfg[256];
    uint64_t offered, drv_features;
    bool refuse_features;
    uint16_t qmax;
    uint32_t dfsel, drvsel;
    uint8_t status, gen;
    uint8_t status_log[16];
    unsigned nstatus, early_notifies;
    uint16_t qsel;
    struct fq q[2];
    uint8_t mac[6];
    uint16_t net_status;
} fd;

static struct pci_dev pdev;

/* The core's I/O window, refusing: what was asked for. */
static struct { uint64_t pa, len; } io_req[8];
static unsigned nio_req;

volatile void *mmu_map_io(uint64_t pa, uint64_t len)
{
    if (nio_req < 8)
        io_req[nio_req] = (typeof(io_req[0])){ pa, len };
    nio_req++;
    return NULL;
}

/* ---- service stubs ---------------------------------------------------------------- */
void pci_enable(const struct pci_dev *d, bool mem, bool io, bool master)
{
    (void)d;
    assert_true(mem && !io && master);
}

uint8_t pci_find_cap(const struct pci_dev *d, uint8_t id, uint8_t start)
{
    (void)d;
    for (uint8_t c = start ? start : fd.cfg[0x34]; c; c = fd.cfg[c + 1])
        if (fd.cfg[c] == id)
            return c;
    return 0;
}

/* ---- the fake device's registers --------------------------------------------------- */
static void fd_reset(void)
{
    fd.status = 0;
    fd.drv_features = 0;
    for (int i = 0; i < 2; i++)
        fd.q[i] = (struct fq){ .size = fd.qmax };
}

static void set_status(uint8_t v)
{
    assert_true(fd.nstatus < sizeof(fd.status_log));
    fd.status_log[fd.nstatus++] = v;
    if (!v) {
        fd_reset();
        return;
    }
    /* Features must be a subset of the offer and include VERSION_1. */
    bool bad = fd.refuse_features || (fd.drv_features & ~fd.offered) ||
               !(fd.drv_features & (1ull << VIRTIO_F_VERSION_1));
    if ((v & VIRTIO_STATUS_FEATURES_OK) && !(fd.status & VIRTIO_STATUS_FEATURES_OK) && bad)
        v &= ~VIRTIO_STATUS_FEATURES_OK;
    fd.status = v;
}

static uint32_t *q64(struct fq *q, uint32_t off)
{
    uint64_t *f = off < 0x28 ? &q->desc : off < 0x30 ? &q->drv : &q->dev;
    return (uint32_t *)f + ((off & 4) ? 1 : 0);
}

static uint32_t common(bool wr, uint32_t off, unsigned len, uint32_t v)
{
    struct fq *q = &fd.q[fd.qsel < 2 ? fd.qsel : 0];
    static const uint8_t width[0x38] = {
        [0x00] = 4, [0x04] = 4, [0x08] = 4, [0x0c] = 4, [0x10] = 2, [0x12] = 2, [0x14] = 1,
        [0x15] = 1, [0x16] = 2, [0x18] = 2, [0x1a] = 2, [0x1c] = 2, [0x1e] = 2, [0x20] = 4,
        [0x24] = 4, [0x28] = 4, [0x2c] = 4, [0x30] = 4, [0x34] = 4,
    };
    assert_true(off < 0x38);
    assert_int_equal(width[off], len);
    switch (off) {
    case 0x00: if (wr) fd.dfsel = v; return fd.dfsel;
    case 0x04:
        assert_false(wr);
        return fd.dfsel > 1 ? 0 : (uint32_t)(fd.offered >> (32 * fd.dfsel));
    case 0x08: if (wr) fd.drvsel = v; return fd.drvsel;
    case 0x0c:
        assert_true(wr && fd.drvsel < 2);
        fd.drv_features &= ~(0xffffffffull << (32 * fd.drvsel));
        fd.drv_features |= (uint64_t)v << (32 * fd.drvsel);
        return 0;
    case 0x12: return 2;
    case 0x14: if (wr) set_status(v); return fd.status;
    case 0x15: return fd.gen;
    case 0x16: if (wr) fd.qsel = v; return fd.qsel;
    case 0x18: if (wr) q->size = v; return fd.qsel < 2 ? q->size : 0;
    case 0x1c: if (wr) q->enable = v; return q->enable;
    case 0x1e: return fd.qsel;
    default:
        if (off >= 0x20) {
            assert_true(fd.status & VIRTIO_STATUS_FEATURES_OK);
            if (wr)
                *q64(q, off) = v;
            return *q64(q, off);
        }
        return 0;
    }
}

static uint32_t dev_access(bool wr, uint32_t off, unsigned len, uint32_t v)
{
    assert_int_equal(off % len, 0);
    if (off >= R_NOTIFY) {
        unsigned qi = (off - R_NOTIFY) / NOTIFY_MULT;
        assert_true(wr && len == 2 && qi < 2 && v == qi);
        if (!(fd.status & VIRTIO_STATUS_DRIVER_OK))
            fd.early_notifies++;
        fd.q[qi].notifies++;
        return 0;
    }
    if (off >= R_DEVCFG) {
        off -= R_DEVCFG;
        assert_false(wr);
        if (off < 6) {
            assert_int_equal(len, 1);
            return fd.mac[off];
        }
        assert_true(off == 6 && len == 2);
        return fd.net_status;
    }
    assert_true(off < R_ISR);
    return common(wr, off, len, v);
}

/* Configuration space; the PCI_CFG data window forwards to the device. */
static uint32_t cfg_get(unsigned off, unsigned n)
{
    uint32_t v = 0;
    memcpy(&v, &fd.cfg[off], n);
    return v;
}

static uint32_t cfg_read(unsigned off, unsigned n)
{
    assert_int_equal(off % n, 0);
    if (off == WIN_DATA) {
        assert_int_equal(fd.cfg[CAP_PCICFG + 4], 4);
        assert_int_equal(cfg_get(CAP_PCICFG + 12, 4), n);
        return dev_access(false, cfg_get(CAP_PCICFG + 8, 4), n, 0);
    }
    return cfg_get(off, n);
}

static void cfg_write(unsigned off, unsigned n, uint32_t v)
{
    assert_int_equal(off % n, 0);
    if (off == WIN_DATA) {
        assert_int_equal(cfg_get(CAP_PCICFG + 12, 4), n);
        dev_access(true, cfg_get(CAP_PCICFG + 8, 4), n, v);
        return;
    }
    if (off == 0x04) {                                  /* command: INTx disable only */
        assert_int_equal(v & ~0x400u, cfg_get(0x04, 2));
        fd.cfg[0x05] |= v >> 8;
        return;
    }
    assert_true(off >= CAP_PCICFG + 4 && off < WIN_DATA);   /* only the window selection */
    memcpy(&fd.cfg[off], &v, n);
}

#define D __attribute__((unused)) const struct pci_dev *d
uint8_t pci_read8(D, unsigned off) { return cfg_read(off, 1); }
uint16_t pci_read16(D, unsigned off) { return cfg_read(off, 2); }
uint32_t pci_read32(D, unsigned off) { return cfg_read(off, 4); }
void pci_write8(D, unsigned off, uint8_t v) { cfg_write(off, 1, v); }
void pci_write16(D, unsigned off, uint16_t v) { cfg_write(off, 2, v); }
void pci_write32(D, unsigned off, uint32_t v) { cfg_write(off, 4, v); }
#undef D

static void put_cap(uint8_t at, uint8_t next, uint8_t type, uint8_t len, uint32_t off,
                    uint32_t rlen)
{
    fd.cfg[at] = 0x09;
    fd.cfg[at + 1] = next;
    fd.cfg[at + 2] = len;
    fd.cfg[at + 3] = type;
    fd.cfg[at + 4] = 4;
    memcpy(&fd.cfg[at + 8], &off, 4);
    memcpy(&fd.cfg[at + 12], &rlen, 4);
}

/* QEMU's layout; the list runs from the highest capability down, as QEMU builds it. */
static int setup(void **state)
{
    (void)state;
    memset(&fd, 0, sizeof(fd));
    fd.offered = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_NET_F_MAC |
                 1ull << VIRTIO_NET_F_STATUS | 1ull << 0 /* CSUM */ | 1ull << 15 /* MRG_RXBUF */;
    fd.qmax = 1024;
    memcpy(fd.mac, (uint8_t[]){ 0x52, 0x54, 0, 0x12, 0x34, 0x56 }, 6);
    fd.net_status = VIRTIO_NET_S_LINK_UP;
    fd_reset();
    fd.cfg[0x06] = 0x10;
    fd.cfg[0x34] = CAP_PCICFG;
    put_cap(CAP_PCICFG, CAP_NOTIFY, VP_CAP_PCI_CFG, 20, 0, 0);
    put_cap(CAP_NOTIFY, CAP_DEVCFG, VP_CAP_NOTIFY, 20, R_NOTIFY, 0x1000);
    uint32_t mult = NOTIFY_MULT;
    memcpy(&fd.cfg[CAP_NOTIFY + 16], &mult, 4);
    put_cap(CAP_DEVCFG, CAP_ISR, VP_CAP_DEVICE, 16, R_DEVCFG, 0x1000);
    put_cap(CAP_ISR, CAP_COMMON, VP_CAP_ISR, 16, R_ISR, 0x1000);
    put_cap(CAP_COMMON, 0, VP_CAP_COMMON, 16, R_COMMON, 0x1000);

    memset(&pdev, 0, sizeof(pdev));
    pdev.vendor = 0x1af4;
    pdev.device = 0x1000;
    pdev.bar[4] = (struct pci_bar){ .base = BAR4_BASE, .size = 0x4000, .is64 = true };
    memset(vnets, 0, sizeof(vnets));
    nvnets = 0;
    fake_nic = NULL;
    fake_frames_out = 0;
    nio_req = 0;
    unit_log_reset();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (nvnets) {
        struct virtq *const qs[] = { &vnets[0].rxq, &vnets[0].txq };
        assert_int_equal(vp_abandon(&vnets[0].vp, qs, 2), 0);
        frame_free(vnets[0].buf_phys, vnets[0].buf_pages);
        assert_int_equal(nic_rxpool_destroy(&vnets[0].nic.rxpool), 0);  /* nothing still lent */
    }
    assert_int_equal(fake_frames_out, 0);
    return 0;
}

/* ---- the fake device's side of the rings ------------------------------------------- */
static void push_used(struct fq *q, uint16_t id, uint32_t len)
{
    struct virtq_used *u = phys_to_virt(q->dev);
    u->ring[u->idx % q->size] = (struct virtq_used_elem){ .id = id, .len = len };
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    u->idx++;
}

static struct virtq_desc *take_avail(struct fq *q)
{
    struct virtq_avail *a = phys_to_virt(q->drv);
    if (q->last_avail == a->idx)
        return NULL;
    uint16_t id = a->ring[q->last_avail++ % q->size];
    assert_true(id < q->size);
    return (struct virtq_desc *)phys_to_virt(q->desc) + id;
}

static uint16_t desc_id(struct fq *q, const struct virtq_desc *d)
{
    return (uint16_t)(d - (struct virtq_desc *)phys_to_virt(q->desc));
}

/* Receives a frame into the next posted buffer; false if the driver posted none. */
static bool fd_rx(const void *frame, uint32_t len, uint32_t used_len)
{
    struct fq *q = &fd.q[0];
    struct virtq_desc *d = take_avail(q);
    if (!d)
        return false;
    assert_int_equal(d->flags, VIRTQ_DESC_F_WRITE);
    assert_true(d->len >= 1526);
    uint8_t *b = phys_to_virt(d->addr);
    memset(b, 0, 12);
    b[10] = 1;                                      /* num_buffers */
    memcpy(b + 12, frame, len);
    push_used(q, desc_id(q, d), used_len ? used_len : 12 + len);
    return true;
}

/* Sends everything queued; returns the number of frames, the last one in `last`. */
static unsigned fd_tx(uint8_t *last, uint32_t *last_len)
{
    struct fq *q = &fd.q[1];
    struct virtq_desc *d;
    unsigned n = 0;
    static const uint8_t zero[12];
    while ((d = take_avail(q))) {
        assert_int_equal(d->flags, 0);
        assert_true(d->len > 12 && d->len <= 12 + 1514);
        uint8_t *b = phys_to_virt(d->addr);
        assert_memory_equal(b, zero, 12);
        if (last) {
            memcpy(last, b + 12, d->len - 12);
            *last_len = d->len - 12;
        }
        push_used(q, desc_id(q, d), 0);
        n++;
    }
    return n;
}

static struct nic *probe_ok(void)
{
    assert_int_equal(virtio_net_probe(&pdev), 0);
    assert_non_null(fake_nic);
    return fake_nic;
}

struct rx_log {
    unsigned count;
    uint32_t next_seq;
    size_t last_len;
};
static void make_frame(uint8_t *f, uint32_t seq, size_t len);
static bool deliver_check(void *ctx, struct nic_rxbuf *b, bool lend);
static void check_rx_buffers(struct vnet *v, unsigned lent);

/* ---- probe and initialisation ------------------------------------------------------ */
static void test_ignores_other_devices(void **state)
{
    (void)state;
    pdev.vendor = 0x8086, pdev.device = 0x100e;
    assert_int_equal(virtio_net_probe(&pdev), -ENODEV);
    pdev.vendor = 0x1af4, pdev.device = 0x1042;        /* virtio-blk */
    assert_int_equal(virtio_net_probe(&pdev), -ENODEV);
    assert_int_equal(fd.nstatus, 0);
    assert_null(pdev.driver);
}

static void test_legacy_only_device(void **state)
{
    (void)state;
    fd.cfg[0x34] = 0;                                   /* no vendor capabilities */
    assert_int_equal(virtio_net_probe(&pdev), -ENODEV);
    assert_int_equal(unit_log_count[LOG_WARN], 1);
    assert_int_equal(fd.nstatus, 0);
    assert_null(pdev.driver);
}

/* Registers above the direct map are mapped if the core can; if not, the PCI_CFG window. */
static void test_bar_above_direct_map(void **state)
{
    (void)state;
    probe_ok();
    const uint64_t want[] = { R_COMMON, R_NOTIFY, R_ISR, R_DEVCFG };   /* enum vp_region_id */
    assert_int_equal(nio_req, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(io_req[i].pa, BAR4_BASE + want[i]);
        assert_int_equal(io_req[i].len, 0x1000);
    }
    /* Without a PCI_CFG capability there is no way to the registers. */
    teardown(state);
    setup(state);
    fd.cfg[0x34] = CAP_NOTIFY;
    assert_int_equal(virtio_net_probe(&pdev), -ENOTSUP);
    assert_int_equal(nio_req, 4);
    assert_int_equal(fd.nstatus, 0);
}

static void test_cap_outside_bar(void **state)
{
    (void)state;
    uint32_t off = 0x3ff0;                              /* + 0x1000 > BAR size */
    memcpy(&fd.cfg[CAP_DEVCFG + 8], &off, 4);
    assert_int_equal(virtio_net_probe(&pdev), -EINVAL);
    assert_int_equal(fd.nstatus, 0);
}

static void test_reserved_bar_skipped(void **state)
{
    (void)state;
    fd.cfg[CAP_COMMON + 4] = 6;                         /* 4.1.4.1: ignore such a capability */
    assert_int_equal(virtio_net_probe(&pdev), -ENODEV);
}

static void test_init_sequence(void **state)
{
    (void)state;
    struct nic *n = probe_ok();
    const uint8_t want[] = { 0, 0x01, 0x03, 0x0b, 0x0f };
    assert_int_equal(fd.nstatus, sizeof(want));
    assert_memory_equal(fd.status_log, want, sizeof(want));
    assert_int_equal(fd.drv_features, 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_NET_F_MAC |
                                          1ull << VIRTIO_NET_F_STATUS);
    assert_memory_equal(n->mac, fd.mac, 6);
    assert_string_equal(n->driver, "virtio-net");
    assert_string_equal(pdev.driver, "virtio-net");
    assert_ptr_equal(n->pci, &pdev);
    assert_true(cfg_get(0x04, 2) & 0x400);              /* INTx disabled */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(fd.q[i].size, 256);
        assert_int_equal(fd.q[i].enable, 1);
        assert_int_equal(fd.q[i].desc % 16, 0);
        assert_int_equal(fd.q[i].drv % 2, 0);
        assert_int_equal(fd.q[i].dev % 4, 0);
        struct virtq_avail *a = phys_to_virt(fd.q[i].drv);
        assert_int_equal(a->flags, VIRTQ_AVAIL_F_NO_INTERRUPT);
    }
    assert_int_equal(((struct virtq_avail *)phys_to_virt(fd.q[0].drv))->idx, 256);
    assert_int_equal(fd.q[0].notifies, 1);
    assert_int_equal(fd.q[1].notifies, 0);
    assert_int_equal(fd.early_notifies, 0);
    assert_true(n->ops->link_up(n));
    assert_int_equal(unit_log_count[LOG_ERR] + unit_log_count[LOG_WARN], 0);
}

static void test_without_version_1(void **state)
{
    (void)state;
    fd.offered &= ~(1ull << VIRTIO_F_VERSION_1);
    assert_int_equal(virtio_net_probe(&pdev), -ENOTSUP);
    assert_int_equal(fd.status, VIRTIO_STATUS_FAILED);
    assert_int_equal(unit_log_count[LOG_ERR], 1);
    assert_null(fake_nic);
    assert_null(pdev.driver);
}

static void test_features_refused(void **state)
{
    (void)state;
    fd.refuse_features = true;
    assert_int_equal(virtio_net_probe(&pdev), -ENOTSUP);
    assert_int_equal(fd.status, VIRTIO_STATUS_FAILED);
    assert_int_equal(fd.q[0].enable, 0);
    assert_null(pdev.driver);
}

static void test_small_queue(void **state)
{
    (void)state;
    fd.qmax = 100;                                      /* not a power of two: 64 used */
    struct nic *n = probe_ok();
    assert_int_equal(fd.q[0].size, 64);
    assert_int_equal(fd.q[1].size, 64);
    uint8_t f[1514];
    make_frame(f, 0, 60);
    for (int i = 0; i < 64; i++)
        assert_int_equal(n->ops->tx(n, f, 60), 0);
    assert_int_equal(n->ops->tx(n, f, 60), -EAGAIN);
    assert_int_equal(fd_tx(NULL, NULL), 64);
    /* Around both rings a few times: indices are taken modulo the queue's own size. */
    struct rx_log log = { 0 };
    for (uint32_t i = 0; i < 300; i++) {
        make_frame(f, i, 60 + i);
        assert_int_equal(n->ops->tx(n, f, 60 + i), 0);
        assert_int_equal(fd_tx(NULL, NULL), 1);
        assert_true(fd_rx(f, 60 + i, 0));
        assert_int_equal(n->ops->rx_poll(n, deliver_check, &log, 64), 1);
    }
}

static void test_no_mac_feature(void **state)
{
    (void)state;
    fd.offered &= ~(1ull << VIRTIO_NET_F_MAC);
    struct nic *n = probe_ok();
    assert_int_equal(n->mac[0], 0x02);                  /* locally administered, unicast */
    assert_int_equal(unit_log_count[LOG_WARN], 1);
}

static void test_link(void **state)
{
    (void)state;
    struct nic *n = probe_ok();
    assert_true(n->ops->link_up(n));
    fd.net_status = 0;
    fake_now_ns += LINK_POLL_NS / 2;
    assert_true(n->ops->link_up(n));                    /* still the cached value */
    fake_now_ns += LINK_POLL_NS;
    assert_false(n->ops->link_up(n));
    fd.net_status = VIRTIO_NET_S_LINK_UP;
    fake_now_ns += LINK_POLL_NS;
    assert_true(n->ops->link_up(n));
}

static void test_link_without_status(void **state)
{
    (void)state;
    fd.offered &= ~(1ull << VIRTIO_NET_F_STATUS);
    fd.net_status = 0;
    struct nic *n = probe_ok();
    fake_now_ns += LINK_POLL_NS * 2;
    assert_true(n->ops->link_up(n));
}

/* ---- receive ----------------------------------------------------------------------- */

static void make_frame(uint8_t *f, uint32_t seq, size_t len)
{
    memset(f, (uint8_t)seq, len);
    memcpy(f, &seq, 4);
}

/* Checks the frame, then gives the buffer back at once (inside the call) when it is lent. */
static bool deliver_check(void *ctx, struct nic_rxbuf *b, bool lend)
{
    struct rx_log *l = ctx;
    uint8_t want[1514];
    size_t len = b->len;
    make_frame(want, l->next_seq, len);
    assert_int_equal(len, 60 + l->next_seq % 1455);
    assert_memory_equal(b->frame, want, len);
    l->next_seq++;
    l->count++;
    l->last_len = len;
    if (lend)
        nic_rxbuf_release(b);
    return lend;
}

static void test_rx_order_and_wrap(void **state)
{
    (void)state;
    struct nic *n = probe_ok();
    struct rx_log log = { 0 };
    uint8_t f[1514];
    uint32_t sent = 0;
    /* Past 2^16 so the free-running indices wrap; bursts of varying size. */
    while (sent < 70000) {
        unsigned burst = 1 + sent % 300;
        for (unsigned i = 0; i < burst; i++) {
            size_t len = 60 + sent % 1455;
            make_frame(f, sent, len);
            if (!fd_rx(f, len, 0))
                break;
            sent++;
        }
        while (n->ops->rx_poll(n, deliver_check, &log, 64) > 0)
            ;
        assert_int_equal(log.count, sent);
    }
    assert_int_equal(n->rx_packets, sent);
    assert_int_equal(n->rx_errors, 0);
    struct virtq_avail *a = phys_to_virt(fd.q[0].drv);
    assert_int_equal((uint16_t)(a->idx - fd.q[0].last_avail), 256);   /* all reposted */
    assert_int_equal(log.last_len, 60 + (sent - 1) % 1455);
}

static void test_rx_budget(void **state)
{
    (void)state;
    struct nic *n = probe_ok();
    struct rx_log log = { 0 };
    uint8_t f[1514];
    for (uint32_t i = 0; i < 10; i++) {
        make_frame(f, i, 60 + i);
        assert_true(fd_rx(f, 60 + i, 0));
    }
    assert_int_equal(n->ops->rx_poll(n, deliver_check, &log, 4), 4);
    assert_int_equal(n->ops->rx_poll(n, deliver_check, &log, 4), 4);
    assert_int_equal(n->ops->rx_poll(n, deliver_check, &log, 4), 2);
    assert_int_equal(n->ops->rx_poll(n, deliver_check, &log, 4), 0);
    assert_int_equal(log.count, 10);
}

static void test_rx_bad_lengths(void **state)
{
    (void)state;
    struct nic *n = probe_ok();
    struct rx_log log = { 0 };
    uint8_t f[1514];
    uint64_t addr[3];
    for (int i = 0; i < 3; i++)
        addr[i] = vnets[0].rxq.desc[i].addr;
    make_frame(f, 0, 60);
    assert_true(fd_rx(f, 60, 12 + 5));                  /* shorter than an Ethernet header */
    assert_true(fd_rx(f, 60, 12 + 2000));               /* longer than the buffer */
    assert_true(fd_rx(f, 60, 0));
    assert_int_equal(n->ops->rx_poll(n, deliver_check, &log, 64), 1);
    assert_int_equal(log.count, 1);
    assert_int_equal(n->rx_errors, 2);
    assert_int_equal(unit_log_count[LOG_ERR], 1);
    struct virtq_avail *a = phys_to_virt(fd.q[0].drv);
    assert_int_equal((uint16_t)(a->idx - fd.q[0].last_avail), 256);
    /* Bad frames keep their buffer; the good one (released in the call) may have moved. */
    assert_int_equal(vnets[0].rxq.desc[0].addr, addr[0]);
    assert_int_equal(vnets[0].rxq.desc[1].addr, addr[1]);
    assert_int_equal(n->rxpool.lent, 1);
    check_rx_buffers(&vnets[0], 0);
}

/* ---- receive buffers lent to the consumer ------------------------------------------- */

/* A consumer that keeps what it is lent (as lwIP keeps frames it queues), up to max. */
struct holder {
    struct nic_rxbuf *b[3 * QSIZE];
    unsigned n, max, copies;
    uint32_t next_seq;
};

static bool deliver_hold(void *ctx, struct nic_rxbuf *b, bool lend)
{
    struct holder *h = ctx;
    uint8_t want[1514];
    make_frame(want, h->next_seq++, b->len);
    assert_memory_equal(b->frame, want, b->len);
    if (!lend) {
        h->copies++;
        return false;
    }
    if (h->n == h->max)
        return false;
    assert_int_equal(b->state, NIC_RXBUF_LENT);
    h->b[h->n++] = b;
    return true;
}

static void release_held(struct holder *h, unsigned i)
{
    nic_rxbuf_release(h->b[i]);
    h->b[i] = h->b[--h->n];
}

/* Every descriptor holds its own ring buffer and is posted; ring + spare + lent == total. */
static void check_rx_buffers(struct vnet *v, unsigned lent)
{
    const struct nic_rxpool *p = &v->nic.rxpool;
    static bool seen[3 * QSIZE];
    unsigned nring = 0, nspare = 0, nlent = 0;
    memset(seen, 0, sizeof(seen));
    for (unsigned i = 0; i < v->rxq.size; i++) {
        const struct nic_rxbuf *b = v->rx_slot[i];
        assert_non_null(b);
        unsigned k = (unsigned)(b - p->bufs);
        assert_true(k < p->nbufs && !seen[k]);
        seen[k] = true;
        assert_int_equal(b->state, NIC_RXBUF_RING);
        assert_int_equal(v->rxq.desc[i].addr, b->pa);
    }
    for (unsigned k = 0; k < p->nbufs; k++) {
        uint8_t st = p->bufs[k].state;
        nring += st == NIC_RXBUF_RING;
        nspare += st == NIC_RXBUF_SPARE;
        nlent += st == NIC_RXBUF_LENT;
    }
    assert_int_equal(nring, v->rxq.size);
    assert_int_equal(nspare, p->nspare);
    assert_int_equal(nlent, p->nlent);
    assert_int_equal(nlent, lent);
    assert_int_equal(nring + nspare + nlent, p->nbufs);
    struct virtq_avail *a = phys_to_virt(fd.q[0].drv);
    assert_int_equal((uint16_t)(a->idx - fd.q[0].last_avail), v->rxq.size);
}

/* Sends frames seq.. seq + count - 1 and polls them all up to h. */
static void rx_frames(struct nic *n, struct holder *h, uint32_t seq, unsigned count)
{
    uint8_t f[1514];
    for (unsigned i = 0; i < count; i++) {
        size_t len = 60 + (seq + i) % 1455;
        make_frame(f, seq + i, len);
        assert_true(fd_rx(f, len, 0));
        assert_int_equal(n->ops->rx_poll(n, deliver_hold, h, 64), 1);
    }
}

static void test_rx_lent_until_released(void **state)
{
    (void)state;
    struct nic *n = probe_ok();
    struct vnet *v = n->priv;
    struct holder h = { .max = 10 };
    assert_int_equal(n->rxpool.nbufs, 3 * 256);
    assert_int_equal(n->rxpool.nspare, 2 * 256);
    check_rx_buffers(v, 0);
    rx_frames(n, &h, 0, 10);
    assert_int_equal(h.n, 10);
    assert_int_equal(n->rxpool.nspare, 2 * 256 - 10);
    assert_int_equal(n->rxpool.lent, 10);
    check_rx_buffers(v, 10);
    /* Twice around the ring: the device never writes into a buffer that is lent out. */
    struct rx_log log = { .next_seq = 10 };
    uint8_t f[1514];
    for (uint32_t i = 10; i < 10 + 2 * 256; i++) {
        make_frame(f, i, 60 + i % 1455);
        assert_true(fd_rx(f, 60 + i % 1455, 0));
        assert_int_equal(n->ops->rx_poll(n, deliver_check, &log, 64), 1);
    }
    for (uint32_t i = 0; i < 10; i++) {
        make_frame(f, i, 60 + i);
        assert_int_equal(h.b[i]->len, 60 + i);
        assert_memory_equal(h.b[i]->frame, f, 60 + i);
    }
    check_rx_buffers(v, 10);
    while (h.n)
        release_held(&h, h.n - 1);
    assert_int_equal(n->rxpool.nspare, 2 * 256);
    check_rx_buffers(v, 0);
    assert_int_equal(n->rx_packets, 10 + 2 * 256);
}

/* With every spare lent, frames are handed up for copying and stay in their descriptor. */
static void test_rx_spares_exhausted(void **state)
{
    (void)state;
    struct nic *n = probe_ok();
    struct vnet *v = n->priv;
    struct holder h = { .max = 3 * 256 };
    rx_frames(n, &h, 0, 2 * 256);
    assert_int_equal(h.n, 2 * 256);
    assert_int_equal(n->rxpool.nspare, 0);
    assert_int_equal(h.copies, 0);
    uint64_t addr[256];
    for (unsigned i = 0; i < 256; i++)
        addr[i] = v->rxq.desc[i].addr;
    rx_frames(n, &h, 2 * 256, 600);                     /* more than a ring's worth */
    assert_int_equal(h.n, 2 * 256);
    assert_int_equal(h.copies, 600);
    assert_int_equal(n->rxpool.short_spare, 600);
    for (unsigned i = 0; i < 256; i++)
        assert_int_equal(v->rxq.desc[i].addr, addr[i]);
    check_rx_buffers(v, 2 * 256);
    assert_int_equal(n->rx_packets, 2 * 256 + 600);
    assert_int_equal(n->rx_drops, 0);
    release_held(&h, 7);                                /* one spare again: lent at once */
    rx_frames(n, &h, 2 * 256 + 600, 2);
    assert_int_equal(h.n, 2 * 256);
    assert_int_equal(h.copies, 601);
    check_rx_buffers(v, 2 * 256);
    while (h.n)
        release_held(&h, 0);
    check_rx_buffers(v, 0);
}

/* A consumer that frees at random, sometimes inside the call: nothing is lost. */
static void test_rx_no_leak(void **state)
{
    (void)state;
    struct nic *n = probe_ok();
    struct vnet *v = n->priv;
    struct holder h = { .max = 3 * 256 };
    uint64_t rng = 0x2545f4914f6cdd1dull;
    uint32_t seq = 0;
    for (int round = 0; round < 2000; round++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        unsigned burst = 1 + rng % 64;
        uint8_t f[1514];
        for (unsigned i = 0; i < burst; i++, seq++) {
            make_frame(f, seq, 60 + seq % 1455);
            assert_true(fd_rx(f, 60 + seq % 1455, 0));
        }
        h.max = (rng >> 8) % 4 ? 3 * 256 : h.n;         /* sometimes it keeps nothing */
        while (n->ops->rx_poll(n, deliver_hold, &h, 16) > 0)
            ;
        unsigned frees = (unsigned)((rng >> 16) % (burst + 8));
        for (unsigned i = 0; i < frees && h.n; i++)
            release_held(&h, (unsigned)((rng >> 24) + i) % h.n);
        check_rx_buffers(v, h.n);
    }
    assert_true(n->rxpool.short_spare > 0 && n->rxpool.lent > 10000);
    assert_int_equal(n->rx_packets, seq);
    while (h.n)
        release_held(&h, 0);
    check_rx_buffers(v, 0);
}

/* A consumer that keeps nothing: the buffer stays in the descriptor, the spare goes back. */
static bool deliver_refuse(void *ctx, struct nic_rxbuf *b, bool lend)
{
    (void)b, (void)lend;
    (*(unsigned *)ctx)++;
    return false;
}

static bool deliver_release_refuse(void *ctx, struct nic_rxbuf *b, bool lend)
{
    assert_true(lend);
    nic_rxbuf_release(b);
    ((struct holder *)ctx)->copies++;
    return false;
}

static void test_rx_not_kept(void **state)
{
    (void)state;
    struct nic *n = probe_ok();
    struct vnet *v = n->priv;
    unsigned calls = 0;
    uint8_t f[60] = { 0 };
    uint64_t addr0 = v->rxq.desc[0].addr;
    assert_true(fd_rx(f, sizeof(f), 0));
    assert_int_equal(n->ops->rx_poll(n, deliver_refuse, &calls, 64), 1);
    assert_int_equal(calls, 1);
    assert_int_equal(v->rxq.desc[0].addr, addr0);
    assert_int_equal(n->rxpool.lent, 0);
    check_rx_buffers(v, 0);
    /* A consumer that frees the buffer and still says it did not keep it: the descriptor
     * gets the spare, the pool stays consistent. */
    struct holder h = { .max = 0 };
    assert_true(fd_rx(f, sizeof(f), 0));
    assert_int_equal(n->ops->rx_poll(n, deliver_release_refuse, &h, 64), 1);
    assert_int_equal(h.copies, 1);
    check_rx_buffers(v, 0);
    /* Releasing a buffer that was not lent is refused (and logged), never double-pooled. */
    nic_rxbuf_release(v->rx_slot[0]);
    nic_rxbuf_release(v->rx_slot[0]);
    assert_int_equal(unit_log_count[LOG_ERR], 1);
    check_rx_buffers(v, 0);
}

/* ---- transmit ---------------------------------------------------------------------- */
static void test_tx_full_and_reclaim(void **state)
{
    (void)state;
    struct nic *n = probe_ok();
    uint8_t f[1514], got[1514];
    uint32_t got_len = 0;
    for (uint32_t i = 0; i < 256; i++) {
        make_frame(f, i, 60 + i);
        assert_int_equal(n->ops->tx(n, f, 60 + i), 0);
    }
    assert_int_equal(n->ops->tx(n, f, 60), -EAGAIN);
    assert_int_equal(fd.q[1].notifies, 256 / TX_KICK_BATCH);   /* one per batch */
    assert_int_equal(fd_tx(got, &got_len), 256);
    make_frame(f, 255, 60 + 255);
    assert_int_equal(got_len, 60 + 255);
    assert_memory_equal(got, f, got_len);
    assert_int_equal(n->ops->tx(n, f, 1514), 0);
    assert_int_equal(n->tx_packets, 257);
    assert_int_equal(n->ops->tx(n, f, 1515), -EINVAL);
    assert_int_equal(n->ops->tx(n, f, 0), -EINVAL);
    assert_int_equal(n->tx_errors, 2);
}

static void test_tx_wrap(void **state)
{
    (void)state;
    struct nic *n = probe_ok();
    uint8_t f[1514], got[1514];
    uint32_t got_len;
    for (uint32_t i = 0; i < 70000; i++) {
        size_t len = 14 + i % 1501;
        make_frame(f, i, len);
        assert_int_equal(n->ops->tx(n, f, len), 0);
        if (i % 7 == 6) {
            assert_int_equal(fd_tx(got, &got_len), 7);
            assert_int_equal(got_len, len);
            assert_memory_equal(got, f, len);
        }
    }
    assert_int_equal(n->tx_packets, 70000);
}

static void test_tx_no_notify(void **state)
{
    (void)state;
    struct nic *n = probe_ok();
    uint8_t f[60] = { 0 };
    ((struct virtq_used *)phys_to_virt(fd.q[1].dev))->flags = VIRTQ_USED_F_NO_NOTIFY;
    assert_int_equal(n->ops->tx(n, f, sizeof(f)), 0);
    n->ops->flush(n);
    assert_int_equal(fd.q[1].notifies, 0);
    assert_int_equal(n->doorbells, 0);
    assert_int_equal(fd_tx(NULL, NULL), 1);
}

/* One doorbell for frames queued together: on flush, on a full batch, on a full ring. */
static void test_tx_batched_doorbell(void **state)
{
    (void)state;
    struct nic *n = probe_ok();
    uint8_t f[60] = { 0 };
    uint64_t rx_bells = n->doorbells;                  /* the receive ring's, at start */
    for (int i = 0; i < 5; i++)
        assert_int_equal(n->ops->tx(n, f, sizeof(f)), 0);
    assert_int_equal(fd.q[1].notifies, 0);
    n->ops->flush(n);
    assert_int_equal(fd.q[1].notifies, 1);
    n->ops->flush(n);                                   /* nothing new: no doorbell */
    assert_int_equal(fd.q[1].notifies, 1);
    assert_int_equal(fd_tx(NULL, NULL), 5);
    for (int i = 0; i < TX_KICK_BATCH - 1; i++)
        assert_int_equal(n->ops->tx(n, f, sizeof(f)), 0);
    assert_int_equal(fd.q[1].notifies, 1);
    assert_int_equal(n->ops->tx(n, f, sizeof(f)), 0); /* the batch is full */
    assert_int_equal(fd.q[1].notifies, 2);
    assert_int_equal(fd_tx(NULL, NULL), TX_KICK_BATCH);
    /* A full ring rings for what it holds before it says -EAGAIN, so the device drains it. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(n->ops->tx(n, f, sizeof(f)), 0);
    n->ops->flush(n);
    for (int i = 0; i < 253; i++)                       /* 7 full batches and 29 more */
        assert_int_equal(n->ops->tx(n, f, sizeof(f)), 0);
    assert_int_equal(fd.q[1].notifies, 2 + 1 + 7);
    assert_int_equal(((struct vnet *)n->priv)->tx_unkicked, 29);
    assert_int_equal(n->ops->tx(n, f, sizeof(f)), -EAGAIN);
    assert_int_equal(fd.q[1].notifies, 2 + 1 + 7 + 1);
    assert_int_equal(((struct vnet *)n->priv)->tx_unkicked, 0);
    assert_int_equal(n->doorbells - rx_bells, fd.q[1].notifies);
    assert_int_equal(fd_tx(NULL, NULL), 256);
}

static void test_tx_bad_used_entries(void **state)
{
    (void)state;
    struct nic *n = probe_ok();
    uint8_t f[60] = { 0 };
    push_used(&fd.q[1], 300, 0);                        /* out of range */
    push_used(&fd.q[1], 5, 0);                          /* never handed out */
    assert_int_equal(n->ops->tx(n, f, sizeof(f)), 0);
    assert_int_equal(n->tx_errors, 2);
    assert_int_equal(unit_log_count[LOG_ERR], 1);
    /* The free list is intact: 255 more fit, then the ring is full. */
    for (int i = 0; i < 255; i++)
        assert_int_equal(n->ops->tx(n, f, sizeof(f)), 0);
    assert_int_equal(n->ops->tx(n, f, sizeof(f)), -EAGAIN);
}

/* ---- ring layout ------------------------------------------------------------------- */
static void test_virtq_layout(void **state)
{
    (void)state;
    for (uint32_t size = 1; size <= VIRTQ_MAX_SIZE; size <<= 1) {
        size_t a, u, total = virtq_layout(size, &a, &u);
        assert_int_equal(a, 16 * size);                 /* descriptors, 16-byte aligned */
        assert_int_equal(a % 2, 0);
        assert_int_equal(u % 4, 0);
        assert_true(u >= a + 6 + 2 * size);
        assert_true(u < a + 6 + 2 * size + 4);
        assert_int_equal(total, u + 6 + 8 * size);
    }
    assert_int_equal(virtq_layout(256, NULL, NULL), 4096 + 520 + 2054);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_ignores_other_devices), T(test_legacy_only_device), T(test_bar_above_direct_map),
        T(test_cap_outside_bar),
        T(test_reserved_bar_skipped), T(test_init_sequence), T(test_without_version_1),
        T(test_features_refused), T(test_small_queue), T(test_no_mac_feature), T(test_link),
        T(test_link_without_status), T(test_rx_order_and_wrap), T(test_rx_budget),
        T(test_rx_bad_lengths), T(test_rx_lent_until_released), T(test_rx_spares_exhausted),
        T(test_rx_no_leak), T(test_rx_not_kept), T(test_tx_full_and_reclaim), T(test_tx_wrap),
        T(test_tx_no_notify), T(test_tx_batched_doorbell), T(test_tx_bad_used_entries), T(test_virtq_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
