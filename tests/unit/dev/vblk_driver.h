/*
 * A tiny guest driver for virtio-blk over the modern virtio PCI transport, for the device tests
 * (test_vvirtio_blk.c on a RAM disk, test_vvirtio_blk_backend.c on a backend): it does what
 * Linux's virtio_pci_modern and virtio_blk do, and only through the buses: configuration
 * cycles at 0xCF8/0xCFC, BAR 0 in the pci-host's window (the capability walk), the 3.1.1
 * bring-up, one split queue and its requests built in the fake VM's guest RAM, kicks at the
 * notify address, used entries read back, MSI-X programmed through the table and taken at
 * vCPU 0's local APIC. The function sits at 00:01.0 (the first one the pci-host gets).
 */
#ifndef TESTS_VBLK_DRIVER_H
#define TESTS_VBLK_DRIVER_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_vm.h"
#include "hv/dev/dev_ids.h"
#include "hv/dev/pcifn.h"
#include "hv/dev/vlapic.h"
#include "hv/dev/vpci.h"
#include "hv/dev/vvirtio.h"
#include "hv/dev/vvirtio_blk.h"

#define SLOT        1                   /* the first function attached to the pci-host */
#define GSI         17                  /* PCIFN_INTX_GSI(1, INTA) */
#define BAR         0xc0000000ull       /* where the "firmware" places BAR 0 */
#define BAR_SIZE    0x8000u
#define QSIZE       8                   /* the queue size drv_start takes */
/* Guest RAM the driver uses (fake_vm_ram: 1 MiB at 0). */
#define G_DESC      0x10000ull
#define G_AVAIL     0x11000ull
#define G_USED      0x12000ull
#define G_HDR       0x20000ull          /* request headers, 16 bytes per head */
#define G_STATUS    0x21000ull          /* status bytes, one per head */
#define G_INDIRECT  0x30000ull
#define G_DATA      0x40000ull          /* data buffers */

/* struct virtio_pci_common_cfg (virtio 1.2, 4.1.4.3). */
enum { C_DFSEL = 0, C_DF = 4, C_GFSEL = 8, C_GF = 12, C_MSIX = 16, C_NUMQ = 18, C_STATUS = 20,
       C_GEN = 21, C_QSEL = 22, C_QSIZE = 24, C_QMSIX = 26, C_QENABLE = 28, C_QNOFF = 30,
       C_QDESC = 32, C_QAVAIL = 40, C_QUSED = 48 };
/* virtio-blk (5.2): features, request types, status. */
enum { BLK_F_SIZE_MAX = 1, BLK_F_SEG_MAX = 2, BLK_F_BLK_SIZE = 6, BLK_F_FLUSH = 9,
       BLK_F_MQ = 12 };
enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };
#define F(b) (1ull << (b))
/* What the device offers (vvirtio_blk.h), and what Linux's virtio_blk and ring core take of
 * what is offered (more than this device has: WCE 11, DISCARD 13, WRITE_ZEROES 14). */
#define OFFERED                                                                                \
    (F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_EVENT_IDX) | F(VIRTIO_F_INDIRECT_DESC) |          \
     F(BLK_F_SIZE_MAX) | F(BLK_F_SEG_MAX) | F(BLK_F_BLK_SIZE) | F(BLK_F_FLUSH))
#define LINUX_FEATURES (OFFERED | F(11) | F(BLK_F_MQ) | F(13) | F(14))
#define S_LIVE (VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK)

static inline struct device *blk_dev(struct fake_vm *v)
{
    return dev_find(&v->devs, DEV_ID_VIRTIO_BLK, 0);
}

/* ---- buses: configuration mechanism #1, BAR 0 ---- */

static inline uint32_t cfg_read(struct fake_vm *v, unsigned reg, unsigned size)
{
    fake_vm_out(v, 0xcf8, 4, VPCI_ADDR_ENABLE | SLOT << 11 | (reg & 0xfc));
    return fake_vm_in(v, (uint16_t)(0xcfc + (reg & 3)), size);
}

static inline void cfg_write(struct fake_vm *v, unsigned reg, unsigned size, uint32_t val)
{
    fake_vm_out(v, 0xcf8, 4, VPCI_ADDR_ENABLE | SLOT << 11 | (reg & 0xfc));
    fake_vm_out(v, (uint16_t)(0xcfc + (reg & 3)), size, val);
}

static inline uint64_t bar_read(struct fake_vm *v, uint64_t off, unsigned size)
{
    uint64_t x;
    assert_int_equal(fake_vm_mmio_read(v, BAR + off, size, &x), 0);
    return x;
}

static inline void bar_write(struct fake_vm *v, uint64_t off, unsigned size, uint64_t x)
{
    assert_int_equal(fake_vm_mmio_write(v, BAR + off, size, x), 0);
}

/* Little-endian fields in guest RAM. */
static inline void put(struct fake_vm *v, uint64_t gpa, uint64_t x, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        v->ram[gpa + i] = (uint8_t)(x >> (8 * i));
}

static inline uint64_t get(const struct fake_vm *v, uint64_t gpa, unsigned n)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < n; i++)
        x |= (uint64_t)v->ram[gpa + i] << (8 * i);
    return x;
}

/* ---- what Linux's virtio_pci_modern finds (vp_modern_probe) ---- */

struct layout {
    uint32_t common, notify, isr, device;   /* offsets in BAR 0 */
    uint32_t common_len, notify_len, isr_len, device_len;
    uint32_t notify_mult;
    uint8_t pci_cfg;                        /* the PCI configuration access capability */
    uint8_t msix;                           /* the MSI-X capability */
    uint32_t msix_table, msix_pba;          /* offsets in BAR 0 */
};

/* Walks the capability list as pci_find_capability does (at most 48 hops) and takes each
 * virtio vendor capability's BAR, offset and length. */
static inline void find_caps(struct fake_vm *v, struct layout *l)
{
    unsigned seen = 0, ttl = 48;
    memset(l, 0, sizeof(*l));
    assert_true(cfg_read(v, PCI_STATUS, 2) & PCI_STATUS_CAPS);
    for (unsigned at = cfg_read(v, PCI_CAP_PTR, 1) & 0xfc; at && ttl--;
         at = cfg_read(v, at + 1, 1) & 0xfc) {
        assert_true(at >= 0x40);
        unsigned id = cfg_read(v, at, 1);
        if (id == PCI_CAP_MSIX) {
            l->msix = (uint8_t)at;
            l->msix_table = cfg_read(v, at + 4, 4);
            l->msix_pba = cfg_read(v, at + 8, 4);
            continue;
        }
        if (id != PCI_CAP_VENDOR)
            continue;
        unsigned type = cfg_read(v, at + 3, 1), clen = cfg_read(v, at + 2, 1);
        uint32_t off = cfg_read(v, at + 8, 4), len = cfg_read(v, at + 12, 4);
        assert_in_range(type, 1, 5);
        assert_true(clen >= (type == 2 || type == 5 ? 20u : 16u));
        assert_int_equal(cfg_read(v, at + 4, 1), 0);            /* BAR 0 */
        assert_true((uint64_t)off + len <= BAR_SIZE);
        seen |= 1u << type;
        switch (type) {
        case 1: l->common = off, l->common_len = len; break;
        case 2:
            l->notify = off, l->notify_len = len;
            l->notify_mult = cfg_read(v, at + 16, 4);
            break;
        case 3: l->isr = off, l->isr_len = len; break;
        case 4: l->device = off, l->device_len = len; break;
        default: l->pci_cfg = (uint8_t)at; break;
        }
    }
    assert_int_equal(seen, 0x3e);                               /* types 1-5, each found */
    assert_int_not_equal(l->msix, 0);
}

/* pci_enable_device + pci_set_master after the firmware placed BAR 0. */
static inline void place_bar(struct fake_vm *v)
{
    cfg_write(v, PCI_BAR0, 4, (uint32_t)BAR);
    cfg_write(v, PCI_COMMAND, 2, PCI_CMD_MEM | PCI_CMD_MASTER);
}

struct buf { uint64_t gpa; uint32_t len; bool write; };

/* ---- a tiny virtio driver: one split queue, as virtio_ring.c keeps it ---- */

struct drv {
    struct fake_vm *fv;
    struct layout l;
    uint64_t offered, features;
    uint16_t qsize, notify_off;
    uint16_t avail_idx;                     /* the driver's avail->idx */
    uint16_t last_used;                     /* used entries it consumed */
    uint16_t next_desc;                     /* descriptors cycle: a test keeps what is in
                                             * flight fewer than the ring holds */
    bool quiet;                             /* used_event far ahead: no interrupts wanted */
    unsigned kicks;
};

static inline uint64_t com_r(struct drv *d, unsigned off, unsigned size)
{
    return bar_read(d->fv, d->l.common + off, size);
}

static inline void com_w(struct drv *d, unsigned off, unsigned size, uint64_t x)
{
    bar_write(d->fv, d->l.common + off, size, x);
}

static inline uint8_t status(struct drv *d) { return (uint8_t)com_r(d, C_STATUS, 1); }

static inline void set_status(struct drv *d, uint8_t add)
{
    com_w(d, C_STATUS, 1, status(d) | add);
}

/* 3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, read the features, write what is offered of
 * `accept` (plus `force`, offered or not), FEATURES_OK; returns the status read back. */
static inline uint8_t drv_negotiate(struct drv *d, uint64_t accept, uint64_t force)
{
    com_w(d, C_STATUS, 1, 0);
    assert_int_equal(status(d), 0);                 /* vp_reset waits for 0 */
    set_status(d, VIRTIO_S_ACKNOWLEDGE);
    assert_int_equal(status(d), VIRTIO_S_ACKNOWLEDGE);
    set_status(d, VIRTIO_S_DRIVER);
    assert_int_equal(status(d), VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
    com_w(d, C_DFSEL, 4, 0);
    d->offered = com_r(d, C_DF, 4);
    com_w(d, C_DFSEL, 4, 1);
    d->offered |= com_r(d, C_DF, 4) << 32;
    uint64_t features = (d->offered & accept) | force;
    com_w(d, C_GFSEL, 4, 0);
    com_w(d, C_GF, 4, (uint32_t)features);
    com_w(d, C_GFSEL, 4, 1);
    com_w(d, C_GF, 4, features >> 32);
    d->features = features;
    set_status(d, VIRTIO_S_FEATURES_OK);
    return status(d);
}

static const uint64_t rings[3] = { G_DESC, G_AVAIL, G_USED };

/* vp_modern's setup_vq for queue 0: size, ring addresses in 32-bit halves, vector, enable. */
static inline void drv_queue(struct drv *d, uint16_t qsize, uint16_t vector, const uint64_t addr[3])
{
    com_w(d, C_QSEL, 2, 0);
    assert_int_equal(com_r(d, C_QSIZE, 2), VBLK_QUEUE_SIZE);
    assert_int_equal(com_r(d, C_QENABLE, 2), 0);
    com_w(d, C_QSIZE, 2, qsize);
    memset(d->fv->ram + G_DESC, 0, G_USED + 0x1000 - G_DESC);
    d->qsize = qsize;
    d->avail_idx = d->last_used = d->next_desc = 0;
    for (unsigned i = 0; i < 3; i++) {
        com_w(d, C_QDESC + 8 * i, 4, (uint32_t)addr[i]);
        com_w(d, C_QDESC + 8 * i + 4, 4, addr[i] >> 32);
    }
    com_w(d, C_QMSIX, 2, vector);
    assert_int_equal(com_r(d, C_QMSIX, 2), vector);
    d->notify_off = (uint16_t)com_r(d, C_QNOFF, 2);
    com_w(d, C_QENABLE, 2, 1);
}

/* Linux's bring-up: features, config vector 0, queue 0 of qsize on vector 1, DRIVER_OK. */
static inline void drv_start_q(struct drv *d, struct fake_vm *v, uint16_t qsize)
{
    memset(d, 0, sizeof(*d));
    d->fv = v;
    place_bar(v);
    find_caps(v, &d->l);
    assert_true(drv_negotiate(d, LINUX_FEATURES, 0) & VIRTIO_S_FEATURES_OK);
    com_w(d, C_MSIX, 2, 0);
    drv_queue(d, qsize, 1, rings);
    assert_int_equal(com_r(d, C_QENABLE, 2), 1);
    set_status(d, VIRTIO_S_DRIVER_OK);
    assert_int_equal(status(d), S_LIVE);
}

static inline void drv_start(struct drv *d, struct fake_vm *v) { drv_start_q(d, v, QSIZE); }

static inline void drv_kick(struct drv *d)
{
    d->kicks++;
    bar_write(d->fv, d->l.notify + (uint64_t)d->notify_off * d->l.notify_mult, 2, 0);
}

static inline bool need_event(uint16_t event, uint16_t now, uint16_t old)
{
    return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

/* A descriptor (2.7.5) at gpa. */
static inline void put_desc(struct fake_vm *v, uint64_t gpa, const struct buf *b, uint16_t flags,
                     uint16_t next)
{
    put(v, gpa, b->gpa, 8);
    put(v, gpa + 8, b->len, 4);
    put(v, gpa + 12, flags | (b->write ? VIRTQ_DESC_F_WRITE : 0), 2);
    put(v, gpa + 14, next, 2);
}

/* Writes one chain at the next descriptors, starting at the returned head. */
static inline uint16_t drv_chain(struct drv *d, const struct buf *b, unsigned n)
{
    uint16_t head = d->next_desc % d->qsize;
    for (unsigned i = 0; i < n; i++) {
        uint16_t at = (uint16_t)((head + i) % d->qsize);
        put_desc(d->fv, G_DESC + 16ull * at, &b[i], i + 1 < n ? VIRTQ_DESC_F_NEXT : 0,
                 (uint16_t)((at + 1) % d->qsize));
    }
    d->next_desc = (uint16_t)(d->next_desc + n);
    return head;
}

/* virtqueue_add + virtqueue_kick: the head goes in the avail ring, idx moves, and the device
 * is kicked when it asked to be (avail_event, or the used ring's NO_NOTIFY flag). */
static inline void drv_publish(struct drv *d, uint16_t head, bool kick)
{
    uint16_t old = d->avail_idx;
    put(d->fv, G_AVAIL + 4 + 2ull * (d->avail_idx % d->qsize), head, 2);
    put(d->fv, G_AVAIL + 4 + 2ull * d->qsize, (uint16_t)(d->last_used + (d->quiet ? 0x4000 : 0)),
        2);                                         /* used_event (enable_cb) */
    d->avail_idx++;
    put(d->fv, G_AVAIL + 2, d->avail_idx, 2);
    if (!kick)
        return;
    bool need = d->features & F(VIRTIO_F_RING_EVENT_IDX)
                    ? need_event((uint16_t)get(d->fv, G_USED + 4 + 8ull * d->qsize, 2),
                                 d->avail_idx, old)
                    : !(get(d->fv, G_USED, 2) & VIRTQ_USED_F_NO_NOTIFY);
    if (need)
        drv_kick(d);
}

/* The next used element, if the device returned one. */
static inline bool drv_used(struct drv *d, uint16_t *id, uint32_t *len)
{
    if ((uint16_t)get(d->fv, G_USED + 2, 2) == d->last_used)
        return false;
    uint64_t e = G_USED + 4 + 8ull * (d->last_used % d->qsize);
    *id = (uint16_t)get(d->fv, e, 4);
    *len = (uint32_t)get(d->fv, e + 4, 4);
    d->last_used++;
    return true;
}

/* virtqueue_enable_cb after draining the used ring (virtblk_done): used_event = what was
 * consumed, so the next completion interrupts. */
static inline void drv_enable_cb(struct drv *d)
{
    put(d->fv, G_AVAIL + 4 + 2ull * d->qsize, (uint16_t)(d->last_used + (d->quiet ? 0x4000 : 0)),
        2);
}

static inline uint16_t used_idx(struct drv *d) { return (uint16_t)get(d->fv, G_USED + 2, 2); }

/* virtio_blk's request: the header (type, ioprio, sector) out, data (out for a write, in
 * otherwise; none if len is 0), the status byte in. */
static inline uint16_t blk_submit(struct drv *d, uint32_t type, uint64_t sector, uint64_t data,
                           uint32_t len, bool kick)
{
    uint16_t head = d->next_desc % d->qsize;
    uint64_t hdr = G_HDR + 16ull * head, st = G_STATUS + head;
    struct buf b[3] = { { hdr, 16, false } };
    unsigned n = 1;
    put(d->fv, hdr, type, 4);
    put(d->fv, hdr + 4, 0, 4);
    put(d->fv, hdr + 8, sector, 8);
    d->fv->ram[st] = 0xff;
    if (len)
        b[n++] = (struct buf){ data, len, type != T_OUT };
    b[n++] = (struct buf){ st, 1, true };
    assert_int_equal(drv_chain(d, b, n), head);
    drv_publish(d, head, kick);
    return head;
}

/* One request, completed before the kick returns: its status; *used_len what the device said
 * it wrote. */
static inline int blk_do(struct drv *d, uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
                  uint32_t *used_len)
{
    uint16_t head = blk_submit(d, type, sector, data, len, true), id;
    uint32_t ulen;
    assert_true(drv_used(d, &id, &ulen));
    assert_int_equal(id, head);
    assert_false(drv_used(d, &id, &ulen));
    if (used_len)
        *used_len = ulen;
    return d->fv->ram[G_STATUS + head];
}

/* ---- interrupts ---- */

/* The vector vCPU 0's local APIC would take now (acknowledged and EOIed), or -1. */
static inline int lapic_take(struct fake_vm *v)
{
    struct device *lapic = dev_find(&v->devs, DEV_ID_LAPIC, 0);
    bool level;
    int vec = vlapic_pending(lapic, 0);
    if (vec >= 0) {
        assert_int_equal(vlapic_ack(lapic, 0), vec);
        assert_int_equal(vlapic_eoi(lapic, 0, &level), vec);
    }
    return vec;
}

static inline void msix_entry(struct drv *d, unsigned n, uint8_t vector, bool masked)
{
    uint64_t e = d->l.msix_table + 16ull * n;
    bar_write(d->fv, e + 0, 4, 0xfee00000u);        /* vCPU 0, physical */
    bar_write(d->fv, e + 4, 4, 0);
    bar_write(d->fv, e + 8, 4, vector);             /* fixed, edge */
    bar_write(d->fv, e + 12, 4, masked);
}

/* What the PCI core's msix_capability_init does: enable with the function masked, program the
 * entries (config 0x42, queue 0x41), unmask the function. */
static inline void msix_on(struct drv *d)
{
    unsigned ctrl = d->l.msix + 2;
    cfg_write(d->fv, ctrl, 2, 0xc000);
    msix_entry(d, 0, 0x42, false);
    msix_entry(d, 1, 0x41, false);
    cfg_write(d->fv, ctrl, 2, 0x8000);
}

#endif
