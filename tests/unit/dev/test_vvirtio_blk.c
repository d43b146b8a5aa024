/*
 * virtio-blk over the modern virtio PCI transport (hv/dev/vvirtio_blk.c, vvirtio.c, pcifn.c,
 * virtq.c), on the ferry-min machine, driven only through the buses the way Linux's
 * virtio_pci_modern and virtio_blk drive it: configuration cycles at 0xCF8/0xCFC, BAR 0 in the
 * pci-host's window, split rings and requests built in the fake VM's guest RAM, a kick at the
 * notify address. Interrupts are seen where a guest would see them: the local APIC (MSI-X), the
 * ISR and GSI 17 (INTx). Then the device's record goes to a second VM mid-ring. The guest
 * driver is vblk_driver.h's.
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
#define DISK_ID     "ferry-disk0"

/* The record vvirtio_save writes after the PCI function's part: its transport header, then
 * queue 0 (size, ready, broken, desc, avail, used, ..., its MSI-X vector). */
#define R_FEATURES  (PCIFN_REC_SIZE + 0)
#define R_STATUS    (PCIFN_REC_SIZE + 20)
#define R_QSIZE     (PCIFN_REC_SIZE + 32)
#define R_QDESC     (PCIFN_REC_SIZE + 36)
#define R_QMSIX     (PCIFN_REC_SIZE + 68)

static struct fake_vm fv;
static uint8_t *disk;

/* ---- the disk, the VM ---- */

static uint8_t pattern(size_t i) { return (uint8_t)(i * 7 + i / VBLK_SECTOR * 31 + 1); }

static uint8_t *new_disk(unsigned sectors)
{
    uint8_t *d = malloc((size_t)sectors * VBLK_SECTOR);
    assert_non_null(d);
    for (size_t i = 0; i < (size_t)sectors * VBLK_SECTOR; i++)
        d[i] = pattern(i);
    return d;
}

/* ferry-min plus a virtio-blk on disk `d`, and guest RAM for its DMA. */
static void build_vm(struct fake_vm *v, uint8_t *d, unsigned sectors)
{
    struct vvirtio_blk_cfg cfg = { .data = d, .sectors = sectors, .id = DISK_ID };
    char err[160] = "";
    fake_vm_build(v, &machine_ferry_min);
    assert_int_equal(dev_add(&v->devs, &vvirtio_blk_type, 0, &cfg, err, sizeof(err)), 0);
    fake_vm_ram(v);
}

static int setup(void **state)
{
    (void)state;
    disk = new_disk(SECTORS);
    build_vm(&fv, disk, SECTORS);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fake_vm_destroy(&fv);
    free(disk);
    return 0;
}

/* ==== enumeration ==== */

static void test_enumeration(void **state)
{
    struct layout l;
    uint64_t x;
    (void)state;
    /* 00:01.0, through mechanism #1 and through ECAM. */
    assert_int_equal(cfg_read(&fv, 0x00, 4), 0x10421af4);
    assert_int_equal(fake_vm_mmio_read(&fv, VPCI_ECAM_BASE + (SLOT << 15), 4, &x), 0);
    assert_int_equal(x, 0x10421af4);
    assert_int_equal(cfg_read(&fv, 0x08, 1), 1);                /* revision 1: modern */
    assert_int_equal(cfg_read(&fv, 0x08, 4) >> 8, 0x018000);    /* mass storage, other */
    assert_int_equal(cfg_read(&fv, 0x0e, 1), 0);                /* header type 0 */
    assert_int_equal(cfg_read(&fv, 0x2c, 2), 0x1af4);
    assert_true(cfg_read(&fv, 0x2e, 2) >= 0x40);                /* 4.1.2.1 */
    assert_int_equal(cfg_read(&fv, PCI_INT_PIN, 1), 1);         /* INTA# */
    fake_vm_out(&fv, 0xcf8, 4, VPCI_ADDR_ENABLE | 2 << 11);     /* nothing at 00:02.0 */
    assert_int_equal(fake_vm_in(&fv, 0xcfc, 4), 0xffffffffu);
    fake_vm_out(&fv, 0xcf8, 4, VPCI_ADDR_ENABLE | SLOT << 11 | 1 << 8);   /* nor 00:01.1 */
    assert_int_equal(fake_vm_in(&fv, 0xcfc, 4), 0xffffffffu);

    find_caps(&fv, &l);
    assert_int_equal(l.common, 0x0000);
    assert_int_equal(l.common_len, 56);                         /* virtio_pci_common_cfg */
    assert_int_equal(l.isr, 0x1000);
    assert_int_equal(l.isr_len, 1);
    assert_int_equal(l.device, 0x2000);
    assert_int_equal(l.device_len, 60);                         /* virtio_blk_config */
    assert_int_equal(l.notify, 0x3000);
    assert_int_equal(l.notify_mult, 4);
    assert_int_equal(l.notify_len, 1 * l.notify_mult);          /* one queue */
    assert_int_equal(cfg_read(&fv, l.msix + 2, 2) & 0x7ff, 1);  /* 2 entries: queue + config */
    assert_int_equal(cfg_read(&fv, l.msix + 2, 2) & 0xc000, 0); /* off, unmasked at reset */
    assert_int_equal(l.msix_table, 0x4000 | 0);                 /* offset | BIR 0 */
    assert_int_equal(l.msix_pba, 0x5000 | 0);

    /* __pci_read_base: decoding off, all ones, read the size back, restore. */
    assert_int_equal(cfg_read(&fv, PCI_COMMAND, 2) & PCI_CMD_MEM, 0);
    cfg_write(&fv, PCI_BAR0, 4, 0xffffffffu);
    assert_int_equal(cfg_read(&fv, PCI_BAR0, 4), ~(BAR_SIZE - 1u) & ~0xfu);  /* 32-bit memory */
    for (unsigned b = 1; b < PCIFN_BARS; b++) {
        cfg_write(&fv, PCI_BAR0 + 4 * b, 4, 0xffffffffu);
        assert_int_equal(cfg_read(&fv, PCI_BAR0 + 4 * b, 4), 0);           /* no BAR: reads 0 */
    }
    cfg_write(&fv, PCI_BAR0, 4, (uint32_t)BAR);
    assert_int_equal(cfg_read(&fv, PCI_BAR0, 4), (uint32_t)BAR);
    /* Placed but not decoded: a master abort, all ones; writes go nowhere. */
    assert_int_equal(bar_read(&fv, l.common + C_NUMQ, 2), 0xffff);
    assert_int_equal(bar_read(&fv, l.common + C_DF, 4), 0xffffffffu);
    assert_int_equal(bar_read(&fv, l.common + C_QDESC, 8), ~0ull);
    bar_write(&fv, l.common + C_STATUS, 1, VIRTIO_S_ACKNOWLEDGE);
    cfg_write(&fv, PCI_COMMAND, 2, PCI_CMD_MEM | PCI_CMD_MASTER);
    assert_int_equal(cfg_read(&fv, PCI_COMMAND, 2), PCI_CMD_MEM | PCI_CMD_MASTER);
    assert_int_equal(bar_read(&fv, l.common + C_NUMQ, 2), 1);
    assert_int_equal(bar_read(&fv, l.common + C_STATUS, 1), 0);    /* the write was lost */
    assert_int_equal(bar_read(&fv, BAR_SIZE, 4), 0xffffffffu);      /* past the BAR */
    cfg_write(&fv, PCI_COMMAND, 2, 0);
    assert_int_equal(bar_read(&fv, l.common + C_NUMQ, 2), 0xffff);
}

/* 4.1.4.9: the PCI configuration access capability reaches BAR 0 with decoding off (SeaBIOS
 * uses it for a BAR it cannot map). */
static void test_pci_cfg_access_window(void **state)
{
    struct layout l;
    (void)state;
    find_caps(&fv, &l);
    cfg_write(&fv, l.pci_cfg + 4, 1, 0);                        /* BAR 0 */
    cfg_write(&fv, l.pci_cfg + 8, 4, l.common + C_NUMQ);
    cfg_write(&fv, l.pci_cfg + 12, 4, 2);
    assert_int_equal(cfg_read(&fv, l.pci_cfg + 16, 2), 1);
    cfg_write(&fv, l.pci_cfg + 8, 4, l.common + C_STATUS);
    cfg_write(&fv, l.pci_cfg + 12, 4, 1);
    cfg_write(&fv, l.pci_cfg + 16, 1, VIRTIO_S_ACKNOWLEDGE);
    assert_int_equal(cfg_read(&fv, l.pci_cfg + 16, 1), VIRTIO_S_ACKNOWLEDGE);
    cfg_write(&fv, l.pci_cfg + 8, 4, l.device);                 /* capacity, low half */
    cfg_write(&fv, l.pci_cfg + 12, 4, 4);
    assert_int_equal(cfg_read(&fv, l.pci_cfg + 16, 4), SECTORS);
    place_bar(&fv);
    assert_int_equal(bar_read(&fv, l.common + C_STATUS, 1), VIRTIO_S_ACKNOWLEDGE);
}

/* ==== initialization (3.1.1) ==== */

/* Steps 1-6 and the device configuration: the features offered, a subset taken, FEATURES_OK
 * sticks and closes the features; capacity, blk_size, seg_max, size_max read-only. */
static void test_init_features_and_config(void **state)
{
    struct drv d = { .fv = &fv };
    const uint64_t want = OFFERED & ~F(BLK_F_SIZE_MAX);
    (void)state;
    place_bar(&fv);
    find_caps(&fv, &d.l);
    assert_int_equal(drv_negotiate(&d, want, 0),
                     VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
    assert_int_equal(d.offered, OFFERED);
    com_w(&d, C_DFSEL, 4, 2);
    assert_int_equal(com_r(&d, C_DFSEL, 4), 2);
    assert_int_equal(com_r(&d, C_DF, 4), 0);                   /* no bits 64 and up */
    assert_int_equal(com_r(&d, C_GF, 4), 1);                   /* select 1: VERSION_1 */
    com_w(&d, C_GFSEL, 4, 0);
    assert_int_equal(com_r(&d, C_GF, 4), (uint32_t)want);
    com_w(&d, C_GF, 4, 0);                                     /* too late: FEATURES_OK */
    assert_int_equal(com_r(&d, C_GF, 4), (uint32_t)want);
    /* The configuration, read as virtio_cread does (generation around it). */
    uint8_t gen = (uint8_t)com_r(&d, C_GEN, 1);
    uint64_t cap = bar_read(&fv, d.l.device + 0, 4) | bar_read(&fv, d.l.device + 4, 4) << 32;
    assert_int_equal(com_r(&d, C_GEN, 1), gen);
    assert_int_equal(cap, SECTORS);
    assert_int_equal(bar_read(&fv, d.l.device + 0, 8), SECTORS);
    assert_int_equal(bar_read(&fv, d.l.device + 8, 4), VBLK_SIZE_MAX);
    assert_int_equal(bar_read(&fv, d.l.device + 12, 4), VBLK_SEG_MAX);
    assert_int_equal(bar_read(&fv, d.l.device + 20, 4), 512);         /* blk_size */
    bar_write(&fv, d.l.device + 0, 4, 1234);
    assert_int_equal(bar_read(&fv, d.l.device + 0, 8), SECTORS);
    assert_int_not_equal(fake_vm_mmio_read(&fv, BAR + d.l.device + d.l.device_len - 2, 4,
                                           &cap), 0);                /* runs past it */
}

/* Steps 7-8: vectors, queue 0 (256 offered, 8 taken), its rings in 32-bit halves, enable,
 * DRIVER_OK. */
static void test_init_queue(void **state)
{
    struct drv d = { .fv = &fv };
    (void)state;
    place_bar(&fv);
    find_caps(&fv, &d.l);
    assert_true(drv_negotiate(&d, LINUX_FEATURES, 0) & VIRTIO_S_FEATURES_OK);
    assert_int_equal(com_r(&d, C_NUMQ, 2), 1);
    assert_int_equal(com_r(&d, C_MSIX, 2), VVIRTIO_NO_VECTOR);
    com_w(&d, C_MSIX, 2, 0);
    assert_int_equal(com_r(&d, C_MSIX, 2), 0);
    com_w(&d, C_QSEL, 2, 0);
    assert_int_equal(com_r(&d, C_QSIZE, 2), 256);
    assert_int_equal(com_r(&d, C_QMSIX, 2), VVIRTIO_NO_VECTOR);
    com_w(&d, C_QSIZE, 2, 8);
    com_w(&d, C_QSIZE, 2, 12);                                 /* not a power of two */
    com_w(&d, C_QSIZE, 2, 512);                                /* more than offered */
    assert_int_equal(com_r(&d, C_QSIZE, 2), 8);
    com_w(&d, C_QMSIX, 2, 1);
    assert_int_equal(com_r(&d, C_QMSIX, 2), 1);
    com_w(&d, C_QMSIX, 2, 100);                                /* the table has 2 */
    assert_int_equal(com_r(&d, C_QMSIX, 2), VVIRTIO_NO_VECTOR);
    com_w(&d, C_QMSIX, 2, 1);
    for (unsigned i = 0; i < 3; i++) {
        com_w(&d, C_QDESC + 8 * i, 4, (uint32_t)rings[i]);
        com_w(&d, C_QDESC + 8 * i + 4, 4, rings[i] >> 32);
        assert_int_equal(com_r(&d, C_QDESC + 8 * i, 4), rings[i]);
        assert_int_equal(com_r(&d, C_QDESC + 8 * i + 4, 4), 0);
        assert_int_equal(com_r(&d, C_QDESC + 8 * i, 8), rings[i]);
    }
    assert_int_equal(com_r(&d, C_QNOFF, 2), 0);
    com_w(&d, C_QENABLE, 2, 1);
    assert_int_equal(com_r(&d, C_QENABLE, 2), 1);
    com_w(&d, C_QDESC, 4, 0x20000);                            /* an enabled queue's stay */
    com_w(&d, C_QSIZE, 2, 4);
    assert_int_equal(com_r(&d, C_QDESC, 8), G_DESC);
    assert_int_equal(com_r(&d, C_QSIZE, 2), 8);
    com_w(&d, C_QSEL, 2, 1);                                   /* no queue 1 */
    assert_int_equal(com_r(&d, C_QSIZE, 2), 0);
    assert_int_equal(com_r(&d, C_QENABLE, 2), 0);
    com_w(&d, C_QSEL, 2, 0);
    set_status(&d, VIRTIO_S_DRIVER_OK);
    assert_int_equal(status(&d), S_LIVE);
    assert_int_equal(fv.devs.irq_level & (1u << GSI), 0);
}

/* Step 6: FEATURES_OK does not stick for a driver that omits VERSION_1 (a legacy driver) or
 * takes what was not offered; then no queue can be enabled. */
static void test_features_ok_refused(void **state)
{
    struct drv d = { .fv = &fv };
    const uint8_t no = VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER;
    (void)state;
    place_bar(&fv);
    find_caps(&fv, &d.l);
    assert_int_equal(drv_negotiate(&d, F(BLK_F_FLUSH) | F(BLK_F_BLK_SIZE), 0), no);
    drv_queue(&d, QSIZE, 1, rings);
    assert_int_equal(com_r(&d, C_QENABLE, 2), 0);
    assert_int_equal(drv_negotiate(&d, F(VIRTIO_F_VERSION_1), F(BLK_F_MQ)), no);
    assert_int_equal(drv_negotiate(&d, F(VIRTIO_F_VERSION_1), F(40)), no);
    set_status(&d, VIRTIO_S_FAILED);
    assert_true(status(&d) & VIRTIO_S_FAILED);
    /* After a reset the same device takes a good set. */
    assert_int_equal(drv_negotiate(&d, F(VIRTIO_F_VERSION_1), 0), no | VIRTIO_S_FEATURES_OK);
    drv_queue(&d, QSIZE, 1, rings);
    assert_int_equal(com_r(&d, C_QENABLE, 2), 1);
}

/* ==== I/O ==== */

static void test_read(void **state)
{
    struct drv d;
    uint32_t len;
    struct vvirtio_blk_stats st;
    (void)state;
    drv_start(&d, &fv);
    memset(fv.ram + G_DATA, 0xaa, 0x1000);
    fake_vm_ram_clear_dirty(&fv);
    assert_int_equal(blk_do(&d, T_IN, 3, G_DATA, 3 * 512, &len), S_OK);
    assert_int_equal(len, 3 * 512 + 1);                 /* data and the status byte */
    assert_memory_equal(fv.ram + G_DATA, disk + 3 * 512, 3 * 512);
    assert_int_equal(fv.ram[G_DATA + 3 * 512], 0xaa);   /* nothing past the buffer */
    assert_int_equal(used_idx(&d), 1);
    assert_int_equal(d.kicks, 1);
    /* DMA writes were mapped for writing (dirty logged); the header was only read. */
    assert_true(fv.ram_write_maps >= 3);
    assert_true(fake_vm_ram_dirty(&fv, G_DATA));
    assert_true(fake_vm_ram_dirty(&fv, G_STATUS));
    assert_true(fake_vm_ram_dirty(&fv, G_USED));
    assert_false(fake_vm_ram_dirty(&fv, G_HDR));
    assert_false(fake_vm_ram_dirty(&fv, G_DESC));
    /* avail_event asks for the next kick (EVENT_IDX). */
    assert_int_equal(get(&fv, G_USED + 4 + 8 * QSIZE, 2), 1);
    /* Scattered, as a bio of two pages: 512 bytes then 1024, the last sector of the disk
     * included; the header split across two descriptors too (2.6.4: no framing assumed). */
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
    uint16_t id;
    assert_true(drv_used(&d, &id, &len));
    assert_int_equal(id, head);
    assert_int_equal(len, 1536 + 1);
    assert_int_equal(fv.ram[G_STATUS + head], S_OK);
    assert_memory_equal(fv.ram + G_DATA + 0x2000, disk + (SECTORS - 3) * 512, 512);
    assert_memory_equal(fv.ram + G_DATA + 0x5000, disk + (SECTORS - 2) * 512, 1024);
    vvirtio_blk_stats(blk_dev(&fv), &st);
    assert_int_equal(st.reads, 2);
    assert_int_equal(st.bytes_read, 3072);
    assert_int_equal(st.errors, 0);
}

static void test_write_then_read_back(void **state)
{
    struct drv d;
    uint32_t len;
    uint8_t before[SECTORS * 512];
    (void)state;
    drv_start(&d, &fv);
    memcpy(before, disk, sizeof(before));
    for (unsigned i = 0; i < 1024; i++)
        fv.ram[G_DATA + i] = (uint8_t)(0x5a ^ i);
    fake_vm_ram_clear_dirty(&fv);
    assert_int_equal(blk_do(&d, T_OUT, 10, G_DATA, 1024, &len), S_OK);
    assert_int_equal(len, 1);                           /* only the status byte was written */
    assert_memory_equal(disk + 10 * 512, fv.ram + G_DATA, 1024);
    assert_memory_equal(disk, before, 10 * 512);
    assert_memory_equal(disk + 12 * 512, before + 12 * 512, (SECTORS - 12) * 512);
    assert_false(fake_vm_ram_dirty(&fv, G_DATA));       /* the device only read the data */
    memset(fv.ram + G_DATA + 0x1000, 0, 1024);
    assert_int_equal(blk_do(&d, T_IN, 10, G_DATA + 0x1000, 1024, &len), S_OK);
    assert_memory_equal(fv.ram + G_DATA + 0x1000, fv.ram + G_DATA, 1024);
    assert_int_equal(used_idx(&d), 2);
}

/* storage=copy's write log: each landed write sets the bits of the 4 KiB blocks it touched;
 * reads, refused writes and writes after logging stops set none. */
static void test_write_log(void **state)
{
    struct drv d;
    uint32_t len;
    uint64_t log[2] = { 0, 0 };
    (void)state;
    drv_start(&d, &fv);
    struct device *dev = dev_find(&fv.devs, DEV_ID_VIRTIO_BLK, 0);
    assert_int_equal(vvirtio_blk_log(dev, log), 0);
    assert_int_equal(blk_do(&d, T_IN, 0, G_DATA, 4096, &len), S_OK);
    assert_int_equal(log[0], 0);                        /* a read */
    assert_int_equal(blk_do(&d, T_OUT, 10, G_DATA, 1024, &len), S_OK);
    assert_int_equal(log[0], 1u << 1);                  /* bytes 5120-6143: block 1 */
    assert_int_equal(blk_do(&d, T_OUT, 7, G_DATA, 1024, &len), S_OK);
    assert_int_equal(log[0], 3);                        /* 3584-4607: blocks 0 and 1 */
    log[0] = 0;
    assert_int_equal(blk_do(&d, T_OUT, 63, G_DATA, 512, &len), S_OK);
    assert_int_equal(log[0], 1u << 7);                  /* the last sector */
    assert_int_equal(blk_do(&d, T_OUT, 63, G_DATA, 1024, &len), S_IOERR);
    assert_int_equal(log[0], 1u << 7);                  /* past the end: nothing written */
    assert_int_equal(blk_do(&d, T_OUT, 0, G_DATA, SECTORS * 512, &len), S_OK);
    assert_int_equal(log[0], 0xff);                     /* the whole disk */
    assert_int_equal(log[1], 0);
    assert_int_equal(vvirtio_blk_log(dev, NULL), 0);
    log[0] = 0;
    assert_int_equal(blk_do(&d, T_OUT, 20, G_DATA, 512, &len), S_OK);
    assert_int_equal(log[0], 0);                        /* logging stopped */
}

static void test_flush_get_id_unsupported(void **state)
{
    struct drv d;
    uint32_t len;
    (void)state;
    drv_start(&d, &fv);
    assert_int_equal(blk_do(&d, T_FLUSH, 0, 0, 0, &len), S_OK);
    assert_int_equal(len, 1);
    memset(fv.ram + G_DATA, 0xee, VBLK_ID_LEN);
    assert_int_equal(blk_do(&d, T_GET_ID, 0, G_DATA, VBLK_ID_LEN, &len), S_OK);
    assert_int_equal(len, VBLK_ID_LEN + 1);
    char id[VBLK_ID_LEN] = DISK_ID;                     /* zero padded, not terminated */
    assert_memory_equal(fv.ram + G_DATA, id, VBLK_ID_LEN);
    /* DISCARD was not offered, 0x42 does not exist: UNSUPP, and the data is left alone. */
    memset(fv.ram + G_DATA, 0x11, 512);
    assert_int_equal(blk_do(&d, 11, 0, G_DATA, 512, &len), S_UNSUPP);
    assert_int_equal(len, 1);
    assert_int_equal(blk_do(&d, 0x42, 0, G_DATA, 512, &len), S_UNSUPP);
    assert_int_equal(fv.ram[G_DATA], 0x11);
    assert_int_equal(blk_do(&d, T_IN, 0, G_DATA, 512, &len), S_OK);
    assert_int_equal(used_idx(&d), 5);
}

/* A range past the disk is an I/O error to that request only. */
static void test_out_of_range_is_ioerr(void **state)
{
    struct drv d;
    uint32_t len;
    uint8_t before[SECTORS * 512];
    struct vvirtio_blk_stats st;
    (void)state;
    drv_start(&d, &fv);
    memcpy(before, disk, sizeof(before));
    memset(fv.ram + G_DATA, 0x33, 2048);
    assert_int_equal(blk_do(&d, T_IN, SECTORS - 1, G_DATA, 1024, &len), S_IOERR);
    assert_int_equal(len, 1);
    assert_int_equal(fv.ram[G_DATA], 0x33);
    assert_int_equal(blk_do(&d, T_IN, SECTORS, G_DATA, 512, &len), S_IOERR);
    assert_int_equal(blk_do(&d, T_IN, 1ull << 63, G_DATA, 512, &len), S_IOERR);
    assert_int_equal(blk_do(&d, T_IN, ~0ull, G_DATA, 512, &len), S_IOERR);
    assert_int_equal(blk_do(&d, T_OUT, SECTORS - 1, G_DATA, 1024, &len), S_IOERR);
    assert_int_equal(blk_do(&d, T_IN, 0, G_DATA, 100, &len), S_IOERR);     /* not sectors */
    assert_memory_equal(disk, before, sizeof(before));
    assert_int_equal(status(&d), S_LIVE);
    assert_int_equal(blk_do(&d, T_IN, SECTORS - 2, G_DATA, 1024, &len), S_OK);
    assert_memory_equal(fv.ram + G_DATA, disk + (SECTORS - 2) * 512, 1024);
    vvirtio_blk_stats(blk_dev(&fv), &st);
    assert_int_equal(st.errors, 6);
}

/* 2.7.5.3: a request in an indirect table (what virtio_ring does for a long sg list). */
static void test_indirect_request(void **state)
{
    struct drv d;
    uint32_t len;
    uint16_t id;
    (void)state;
    drv_start(&d, &fv);
    const uint64_t t = G_INDIRECT;
    put(&fv, G_HDR, T_IN, 4);
    put(&fv, G_HDR + 8, 20, 8);
    fv.ram[G_STATUS] = 0xff;
    const struct buf b[4] = { { G_HDR, 16, false }, { G_DATA, 512, true },
                              { G_DATA + 0x3000, 512, true }, { G_STATUS, 1, true } };
    for (unsigned i = 0; i < 4; i++)
        put_desc(&fv, t + 16 * i, &b[i], i < 3 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    const struct buf table = { t, 4 * 16, false };
    uint16_t head = d.next_desc++ % QSIZE;
    put_desc(&fv, G_DESC + 16 * head, &table, VIRTQ_DESC_F_INDIRECT, 0);
    drv_publish(&d, head, true);
    assert_true(drv_used(&d, &id, &len));
    assert_int_equal(id, head);
    assert_int_equal(len, 1024 + 1);
    assert_int_equal(fv.ram[G_STATUS], S_OK);
    assert_memory_equal(fv.ram + G_DATA, disk + 20 * 512, 512);
    assert_memory_equal(fv.ram + G_DATA + 0x3000, disk + 21 * 512, 512);
    assert_int_equal(status(&d), S_LIVE);
}

/* Two requests (all an 8-entry ring holds of 3-descriptor chains), one kick (a plugged
 * queue): both complete, in order. */
static void test_batch_one_kick(void **state)
{
    struct drv d;
    uint32_t len;
    uint16_t id, heads[2];
    (void)state;
    drv_start(&d, &fv);
    for (unsigned i = 0; i < 2; i++)
        heads[i] = blk_submit(&d, T_IN, i, G_DATA + 0x1000 * i, 512, false);
    assert_int_equal(d.kicks, 0);
    drv_kick(&d);
    for (unsigned i = 0; i < 2; i++) {
        assert_true(drv_used(&d, &id, &len));
        assert_int_equal(id, heads[i]);
        assert_int_equal(len, 513);
        assert_memory_equal(fv.ram + G_DATA + 0x1000 * i, disk + i * 512, 512);
    }
    assert_false(drv_used(&d, &id, &len));
    assert_int_equal(get(&fv, G_USED + 4 + 8 * QSIZE, 2), 2);     /* avail_event */
    /* The ring wraps: more requests than entries, a kick for each. */
    for (unsigned i = 0; i < 3 * QSIZE; i++)
        assert_int_equal(blk_do(&d, T_IN, i % SECTORS, G_DATA, 512, NULL), S_OK);
    assert_int_equal(used_idx(&d), 2 + 3 * QSIZE);
    assert_int_equal(d.kicks, 1 + 3 * QSIZE);
}

/* ==== interrupts ==== */

static void test_msix_interrupts(void **state)
{
    struct drv d;
    (void)state;
    drv_start(&d, &fv);
    msix_on(&d);
    assert_int_equal(lapic_take(&fv), -1);
    assert_int_equal(blk_do(&d, T_IN, 0, G_DATA, 512, NULL), S_OK);
    assert_int_equal(lapic_take(&fv), 0x41);
    assert_int_equal(lapic_take(&fv), -1);
    assert_int_equal(fv.devs.irq_level & (1u << GSI), 0);          /* no INTx with MSI-X */
    assert_int_equal(bar_read(&fv, d.l.isr, 1), 0);
    /* Masked entry: the pending bit, then delivery at unmask. */
    bar_write(&fv, d.l.msix_table + 16 + 12, 4, 1);
    assert_int_equal(blk_do(&d, T_IN, 1, G_DATA, 512, NULL), S_OK);
    assert_int_equal(lapic_take(&fv), -1);
    assert_int_equal(bar_read(&fv, d.l.msix_pba, 8), 2);
    assert_int_equal(bar_read(&fv, d.l.msix_pba, 4), 2);
    bar_write(&fv, d.l.msix_table + 16 + 12, 4, 0);
    assert_int_equal(lapic_take(&fv), 0x41);
    assert_int_equal(bar_read(&fv, d.l.msix_pba, 8), 0);
    /* The function mask the same way. */
    cfg_write(&fv, d.l.msix + 2, 2, 0xc000);
    assert_int_equal(blk_do(&d, T_IN, 2, G_DATA, 512, NULL), S_OK);
    assert_int_equal(lapic_take(&fv), -1);
    assert_int_equal(bar_read(&fv, d.l.msix_pba, 8), 2);
    cfg_write(&fv, d.l.msix + 2, 2, 0x8000);
    assert_int_equal(lapic_take(&fv), 0x41);
    /* The table is DWORD or QWORD only. */
    uint64_t x;
    assert_int_not_equal(fake_vm_mmio_read(&fv, BAR + d.l.msix_table + 8, 2, &x), 0);
    assert_int_equal(bar_read(&fv, d.l.msix_table + 16, 8), 0xfee00000u);
    assert_int_equal(bar_read(&fv, d.l.msix_table + 24, 4), 0x41);
}

/* EVENT_IDX (2.7.7.2): used_event far ahead means no interrupt; the driver's catch-up does.
 * (The first completion after enabling always interrupts, as QEMU's signalled_used_valid.) */
static void test_event_idx_suppresses(void **state)
{
    struct drv d;
    (void)state;
    drv_start(&d, &fv);
    msix_on(&d);
    assert_int_equal(blk_do(&d, T_IN, 0, G_DATA, 512, NULL), S_OK);
    assert_int_equal(lapic_take(&fv), 0x41);
    d.quiet = true;
    assert_int_equal(blk_do(&d, T_IN, 1, G_DATA, 512, NULL), S_OK);
    assert_int_equal(blk_do(&d, T_IN, 2, G_DATA, 512, NULL), S_OK);
    assert_int_equal(lapic_take(&fv), -1);
    d.quiet = false;
    assert_int_equal(blk_do(&d, T_IN, 3, G_DATA, 512, NULL), S_OK);
    assert_int_equal(lapic_take(&fv), 0x41);
}

/* Without MSI-X: INTx on GSI 17 and the ISR, read to acknowledge (4.1.4.5). */
static void test_intx_and_isr(void **state)
{
    struct drv d;
    (void)state;
    drv_start(&d, &fv);
    assert_int_equal(cfg_read(&fv, d.l.msix + 2, 2) & 0x8000, 0);
    assert_int_equal(blk_do(&d, T_IN, 0, G_DATA, 512, NULL), S_OK);
    assert_true(fv.devs.irq_level & (1u << GSI));
    assert_true(cfg_read(&fv, PCI_STATUS, 2) & PCI_STATUS_INTX);
    assert_int_equal(lapic_take(&fv), -1);              /* the I/O APIC pin is still masked */
    assert_int_equal(bar_read(&fv, d.l.isr, 1), 1);
    assert_false(fv.devs.irq_level & (1u << GSI));
    assert_false(cfg_read(&fv, PCI_STATUS, 2) & PCI_STATUS_INTX);
    assert_int_equal(bar_read(&fv, d.l.isr, 1), 0);
    /* A second completion raises it again; enabling MSI-X takes the line down. */
    assert_int_equal(blk_do(&d, T_IN, 1, G_DATA, 512, NULL), S_OK);
    assert_true(fv.devs.irq_level & (1u << GSI));
    msix_on(&d);
    assert_false(fv.devs.irq_level & (1u << GSI));
}

/* PCI 3.0 6.2.2/6.2.3: Interrupt Disable stops the INTx# signal, not the Interrupt Status bit,
 * which "reflects the state of the interrupt in the device" (Linux's pci_check_and_mask_intx,
 * used by VFIO and uio_pci_generic for shared INTx, reads it with the line disabled). */
static void test_intx_disable_keeps_interrupt_status(void **state)
{
    struct drv d;
    (void)state;
    drv_start(&d, &fv);
    cfg_write(&fv, PCI_COMMAND, 2, PCI_CMD_MEM | PCI_CMD_MASTER | PCI_CMD_INTX_OFF);
    assert_int_equal(blk_do(&d, T_IN, 0, G_DATA, 512, NULL), S_OK);
    assert_false(fv.devs.irq_level & (1u << GSI));
    assert_true(cfg_read(&fv, PCI_STATUS, 2) & PCI_STATUS_INTX);
    cfg_write(&fv, PCI_COMMAND, 2, PCI_CMD_MEM | PCI_CMD_MASTER);
    assert_true(fv.devs.irq_level & (1u << GSI));
    assert_int_equal(bar_read(&fv, d.l.isr, 1), 1);
    assert_false(fv.devs.irq_level & (1u << GSI));
}

/* ==== a hostile or broken driver ==== */

/* After DEVICE_NEEDS_RESET: kicks do nothing until a reset, then the device works again. */
static void expect_dead_then_revive(struct drv *d, uint16_t used)
{
    assert_true(status(d) & VIRTIO_S_NEEDS_RESET);
    blk_submit(d, T_IN, 0, G_DATA, 512, false);
    drv_kick(d);
    assert_int_equal(used_idx(d), used);
    com_w(d, C_STATUS, 1, 0);
    assert_int_equal(status(d), 0);
    drv_start(d, d->fv);
    assert_int_equal(blk_do(d, T_IN, 5, G_DATA, 512, NULL), S_OK);
    assert_memory_equal(d->fv->ram + G_DATA, disk + 5 * 512, 512);
}

/* A chain with no device-writable byte has nowhere for the status: NEEDS_RESET and the
 * configuration interrupt (2.1.2), on the config vector with MSI-X. */
static void test_no_status_byte_needs_reset(void **state)
{
    struct drv d;
    (void)state;
    drv_start(&d, &fv);
    msix_on(&d);
    assert_int_equal(blk_do(&d, T_IN, 0, G_DATA, 512, NULL), S_OK);
    assert_int_equal(lapic_take(&fv), 0x41);
    uint8_t gen = (uint8_t)com_r(&d, C_GEN, 1);
    put(&fv, G_HDR, T_OUT, 4);
    const struct buf b[2] = { { G_HDR, 16, false }, { G_DATA, 512, false } };
    drv_publish(&d, drv_chain(&d, b, 2), true);
    assert_int_equal(status(&d), S_LIVE | VIRTIO_S_NEEDS_RESET);
    assert_int_equal(lapic_take(&fv), 0x42);
    assert_int_not_equal(com_r(&d, C_GEN, 1), gen);
    assert_int_equal(used_idx(&d), 1);
    /* The driver cannot clear the device's bit. */
    com_w(&d, C_STATUS, 1, S_LIVE);
    assert_true(status(&d) & VIRTIO_S_NEEDS_RESET);
    expect_dead_then_revive(&d, 1);
}

/* A header shorter than 16 bytes, with INTx: ISR bit 1 (configuration change). */
static void test_short_header_needs_reset(void **state)
{
    struct drv d;
    (void)state;
    drv_start(&d, &fv);
    const struct buf b[2] = { { G_HDR, 8, false }, { G_STATUS, 1, true } };
    drv_publish(&d, drv_chain(&d, b, 2), true);
    assert_int_equal(status(&d), S_LIVE | VIRTIO_S_NEEDS_RESET);
    assert_true(fv.devs.irq_level & (1u << GSI));
    assert_int_equal(bar_read(&fv, d.l.isr, 1), 2);
    assert_false(fv.devs.irq_level & (1u << GSI));
    assert_int_equal(used_idx(&d), 0);
    expect_dead_then_revive(&d, 0);
}

/* Buffers outside guest RAM (nothing there, or running past its end). */
static void test_buffer_outside_ram_needs_reset(void **state)
{
    struct drv d;
    static const struct { uint64_t gpa; uint32_t len; } bad[] = {
        { 0x80000000ull, 512 },                         /* no RAM */
        { FAKE_VM_DMA_RAM - 256, 512 },                 /* half of it past the end */
        { ~0ull - 255, 512 },                           /* wraps */
    };
    (void)state;
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        drv_start(&d, &fv);
        blk_submit(&d, T_IN, 0, bad[i].gpa, bad[i].len, true);
        assert_int_equal(status(&d), S_LIVE | VIRTIO_S_NEEDS_RESET);
        assert_int_equal(used_idx(&d), 0);
        expect_dead_then_revive(&d, 0);
    }
}

/* 2.7 alignment (desc 16, avail 2, used 4) and rings in RAM, checked at enable. */
static void test_bad_ring_needs_reset(void **state)
{
    struct drv d;
    static const uint64_t bad[][3] = {
        { G_DESC + 8, G_AVAIL, G_USED }, { G_DESC, G_AVAIL + 1, G_USED },
        { G_DESC, G_AVAIL, G_USED + 2 }, { 0x80000000ull, G_AVAIL, G_USED },
        { FAKE_VM_DMA_RAM - 64, G_AVAIL, G_USED },
    };
    (void)state;
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        drv_start(&d, &fv);
        assert_true(drv_negotiate(&d, LINUX_FEATURES, 0) & VIRTIO_S_FEATURES_OK);
        drv_queue(&d, QSIZE, 1, bad[i]);
        assert_int_equal(com_r(&d, C_QENABLE, 2), 0);
        assert_true(status(&d) & VIRTIO_S_NEEDS_RESET);
        assert_false(fv.devs.irq_level & (1u << GSI));  /* not DRIVER_OK: nobody to tell */
        set_status(&d, VIRTIO_S_DRIVER_OK);
        expect_dead_then_revive(&d, 0);
    }
}

/* 4.1.3.1: each field at its natural width; anything else is dropped (reads 0). */
static void test_wrong_width_common_access(void **state)
{
    struct drv d;
    (void)state;
    drv_start(&d, &fv);
    assert_int_equal(com_r(&d, C_NUMQ, 4), 0);
    assert_int_equal(com_r(&d, C_NUMQ, 1), 0);
    assert_int_equal(com_r(&d, C_DF, 2), 0);
    assert_int_equal(com_r(&d, C_DFSEL, 8), 0);
    assert_int_equal(com_r(&d, C_STATUS, 2), 0);
    assert_int_equal(com_r(&d, C_QSIZE, 1), 0);
    com_w(&d, C_STATUS, 2, 0);                          /* would be a reset */
    com_w(&d, C_STATUS, 4, 0);
    assert_int_equal(status(&d), S_LIVE);
    com_w(&d, C_QSEL, 1, 1);
    com_w(&d, C_QSEL, 4, 1);
    assert_int_equal(com_r(&d, C_QSEL, 2), 0);
    com_w(&d, C_MSIX, 4, 1);
    assert_int_equal(com_r(&d, C_MSIX, 2), 0);
    com_w(&d, C_QMSIX, 1, VVIRTIO_NO_VECTOR);
    assert_int_equal(com_r(&d, C_QMSIX, 2), 1);
    com_w(&d, C_QDESC, 2, 0);
    assert_int_equal(com_r(&d, C_QDESC, 8), G_DESC);
    assert_int_equal(bar_read(&fv, d.l.common + 56, 4), 0);       /* past the structure */
    assert_int_equal(blk_do(&d, T_IN, 0, G_DATA, 512, NULL), S_OK);
}

/* The same for a 64-bit field taken at an offset inside it: queue_desc's bytes 2-5 are no
 * field's low or high half (4.1.3.1), so the write must not land in either. */
static void test_misaligned_common_access(void **state)
{
    struct drv d = { .fv = &fv };
    (void)state;
    place_bar(&fv);
    find_caps(&fv, &d.l);
    assert_true(drv_negotiate(&d, F(VIRTIO_F_VERSION_1), 0) & VIRTIO_S_FEATURES_OK);
    com_w(&d, C_QSEL, 2, 0);
    com_w(&d, C_QDESC, 8, 0x10000);
    com_w(&d, C_QDESC + 2, 4, 0x12340000);
    assert_int_equal(com_r(&d, C_QDESC, 8), 0x10000);
    com_w(&d, C_QDESC + 4, 8, 0x5000);
    assert_int_equal(com_r(&d, C_QDESC, 8), 0x10000);
    assert_int_equal(com_r(&d, C_QDESC + 2, 4), 0);
    assert_int_equal(com_r(&d, C_QAVAIL + 6, 2), 0);
}

/* ==== records ==== */

static int save(struct fake_vm *v, uint8_t *rec)
{
    int n = dev_save(blk_dev(v), rec, DEV_RECORD_MAX);
    assert_int_equal(n, vvirtio_blk_type.record_size);
    return n;
}

/* Mid-use (requests done, MSI-X programmed) to a second VM with the same RAM and disk: the
 * ring goes on where it was, interrupts and all. */
static void test_record_moves_mid_ring(void **state)
{
    static uint8_t rec[DEV_RECORD_MAX], again[DEV_RECORD_MAX];
    struct fake_vm fv2;
    struct drv d;
    char why[200] = "";
    (void)state;
    drv_start(&d, &fv);
    msix_on(&d);
    for (unsigned i = 0; i < 5; i++)
        fv.ram[G_DATA + 0x8000 + i] = (uint8_t)(0xc0 + i);
    assert_int_equal(blk_do(&d, T_OUT, 7, G_DATA + 0x8000, 512, NULL), S_OK);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(blk_do(&d, T_IN, i, G_DATA, 512, NULL), S_OK);
    assert_int_equal(lapic_take(&fv), 0x41);
    com_w(&d, C_QSEL, 2, 0);
    int n = save(&fv, rec);

    uint8_t *disk2 = new_disk(SECTORS);
    memcpy(disk2, disk, SECTORS * 512);
    build_vm(&fv2, disk2, SECTORS);
    memcpy(fv2.ram, fv.ram, FAKE_VM_DMA_RAM);
    assert_int_equal(dev_stage(blk_dev(&fv2), vvirtio_blk_type.version, rec, (size_t)n, why,
                               sizeof(why)), 0);
    dev_set_load_staged(&fv2.devs);
    assert_int_equal(save(&fv2, again), n);
    assert_memory_equal(again, rec, (size_t)n);

    d.fv = &fv2;
    assert_int_equal(cfg_read(&fv2, PCI_COMMAND, 2) & PCI_CMD_MEM, PCI_CMD_MEM);
    assert_int_equal(status(&d), S_LIVE);
    assert_int_equal(com_r(&d, C_QMSIX, 2), 1);
    uint32_t len;
    assert_int_equal(blk_do(&d, T_IN, 7, G_DATA + 0x1000, 512, &len), S_OK);
    assert_int_equal(used_idx(&d), 6);
    assert_int_equal(len, 513);
    assert_memory_equal(fv2.ram + G_DATA + 0x1000, fv.ram + G_DATA + 0x8000, 512);
    assert_int_equal(lapic_take(&fv2), 0x41);
    assert_int_equal(lapic_take(&fv), -1);              /* the source stays quiet */
    assert_int_equal(get(&fv, G_USED + 2, 2), 5);
    fake_vm_destroy(&fv2);
    free(disk2);
}

/* Records the target must refuse, each with a reason and the device untouched. */
static void test_bad_records_refused(void **state)
{
    static uint8_t rec[DEV_RECORD_MAX], before[DEV_RECORD_MAX], after[DEV_RECORD_MAX];
    struct fake_vm fv2, fv3;
    struct drv d;
    char why[200] = "";
    (void)state;
    drv_start(&d, &fv);
    msix_on(&d);
    assert_int_equal(blk_do(&d, T_IN, 0, G_DATA, 512, NULL), S_OK);
    int n = save(&fv, rec);
    assert_int_equal(rec[R_QSIZE], QSIZE);
    assert_int_equal(rec[R_QMSIX], 1);
    assert_int_equal(rec[R_QDESC + 2], 0x01);                  /* desc = 0x10000 */

    build_vm(&fv2, disk, SECTORS);
    memcpy(fv2.ram, fv.ram, FAKE_VM_DMA_RAM);
    struct device *t = blk_dev(&fv2);
    save(&fv2, before);
    static const struct { size_t off; uint8_t x; } bad[] = {
        { 0x00, 0x01 },                                 /* vendor ID: read-only */
        { 0x02, 0x10 },                                 /* device ID */
        { R_QSIZE, QSIZE ^ 3 },                         /* queue size 3 */
        { R_QSIZE, QSIZE ^ 24 },                        /* queue size 24 */
        { R_QSIZE, QSIZE },                             /* queue size 0 */
        { R_QSIZE + 1, 0x02 },                          /* 520 */
        { R_QMSIX, 1 ^ 2 },                             /* vector 2: past the 2-entry table */
        { R_FEATURES, 0x01 },                           /* BARRIER: never offered */
        { R_FEATURES + 1, 0x10 },                       /* MQ: never offered */
        { R_STATUS, 0x10 },                             /* a reserved status bit */
        { R_QDESC, 0x08 },                              /* misaligned ready queue */
        { R_QDESC + 3, 0x80 },                          /* a ready queue outside RAM */
        { VVIRTIO_REC_SIZE(1), 0x01 },                  /* 65 sectors */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        fake_vm_expect_refused(t, rec, (size_t)n, bad[i].off, bad[i].x);
    save(&fv2, after);
    assert_memory_equal(after, before, (size_t)n);
    assert_int_equal(cfg_read(&fv2, PCI_COMMAND, 2), 0);
    /* A disk of another size. */
    uint8_t *small = new_disk(SECTORS / 2);
    build_vm(&fv3, small, SECTORS / 2);
    memcpy(fv3.ram, fv.ram, FAKE_VM_DMA_RAM);
    assert_int_equal(dev_stage(blk_dev(&fv3), vvirtio_blk_type.version, rec, (size_t)n, why,
                               sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "sectors"));
    /* The record itself was good. */
    assert_int_equal(dev_stage(t, vvirtio_blk_type.version, rec, (size_t)n, why, sizeof(why)), 0);
    dev_set_drop_staged(&fv2.devs);
    fake_vm_destroy(&fv3);
    free(small);
    fake_vm_destroy(&fv2);
}

/* A VM reset: the function and the device at power-on, the disk as written. */
static void test_vm_reset(void **state)
{
    struct drv d;
    (void)state;
    drv_start(&d, &fv);
    msix_on(&d);
    fv.ram[G_DATA] = 0x99;
    assert_int_equal(blk_do(&d, T_OUT, 1, G_DATA, 512, NULL), S_OK);
    dev_set_reset(&fv.devs);
    assert_int_equal(cfg_read(&fv, PCI_COMMAND, 2), 0);
    assert_int_equal(cfg_read(&fv, PCI_BAR0, 4), 0);
    assert_int_equal(cfg_read(&fv, d.l.msix + 2, 2), 1);
    assert_int_equal(cfg_read(&fv, 0x00, 4), 0x10421af4);
    drv_start(&d, &fv);
    assert_int_equal(bar_read(&fv, d.l.msix_table + 16 + 12, 4), 1);  /* masked again */
    assert_int_equal(blk_do(&d, T_IN, 1, G_DATA + 0x1000, 512, NULL), S_OK);
    assert_int_equal(fv.ram[G_DATA + 0x1000], 0x99);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_enumeration),
        T(test_pci_cfg_access_window),
        T(test_init_features_and_config),
        T(test_init_queue),
        T(test_features_ok_refused),
        T(test_read),
        T(test_write_then_read_back),
        T(test_write_log),
        T(test_flush_get_id_unsupported),
        T(test_out_of_range_is_ioerr),
        T(test_indirect_request),
        T(test_batch_one_kick),
        T(test_msix_interrupts),
        T(test_event_idx_suppresses),
        T(test_intx_and_isr),
        T(test_intx_disable_keeps_interrupt_status),
        T(test_no_status_byte_needs_reset),
        T(test_short_header_needs_reset),
        T(test_buffer_outside_ram_needs_reset),
        T(test_bad_ring_needs_reset),
        T(test_wrong_width_common_access),
        T(test_misaligned_common_access),
        T(test_record_moves_mid_ring),
        T(test_bad_records_refused),
        T(test_vm_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
