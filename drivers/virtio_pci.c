/*
 * virtio 1.x modern PCI transport (spec 4.1): capabilities, register access directly or
 * through the PCI_CFG window, the init steps of 3.1.1 and split-queue setup (4.1.5.1.3).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/mmu.h"
#include "drivers/virtio_pci.h"
#include "hv/base/log.h"
#include "hv/base/mem.h"
#include "hv/base/time.h"

#define PCI_CAP_VNDR 0x09
#define PCI_COMMAND 0x04
#define PCI_COMMAND_INTX_OFF 0x400
#define DIRECT_MAP_LIMIT (4ull << 30)  /* the direct map covers RAM and the 32-bit MMIO hole */
#define RESET_TIMEOUT_US 100000

/* struct virtio_pci_cap (4.1.4): cap_len +2, cfg_type +3, bar +4, offset +8, length +12;
 * the notify capability adds notify_off_multiplier at +16 (4.1.4.4), the PCI_CFG one its
 * 4-byte data window at +16 (4.1.4.7). */
#define CAP_LEN 2
#define CAP_TYPE 3
#define CAP_BAR 4
#define CAP_OFFSET 8
#define CAP_LENGTH 12
#define CAP_EXTRA 16

/* Smallest length each block must have: common config, a notify register, ISR byte. */
static const uint32_t min_len[VP_R_COUNT] = { VP_COMMON_LEN, 2, 1, 0 };

static int take_region(struct pci_dev *d, struct vp_dev *vp, uint8_t c, enum vp_region_id id)
{
    uint8_t bar = pci_read8(d, c + CAP_BAR);
    uint32_t off = pci_read32(d, c + CAP_OFFSET), len = pci_read32(d, c + CAP_LENGTH);

    /* 4.1.4.1: BAR values 0x6-0x7 are reserved; the driver ignores such capabilities. */
    if (bar > 5)
        return 0;
    const struct pci_bar *b = &d->bar[bar];
    if (!b->size || (uint64_t)off + len > b->size || len < min_len[id]) {
        log_warn("virtio", "%s: capability type %d outside BAR%u (off %#x len %#x size %#llx)",
                 vp->tag, id + 1, bar, off, len, (unsigned long long)b->size);
        return -EINVAL;
    }
    vp->r[id] = (struct vp_region){ .bar = bar, .off = off, .len = len };
    vp->present[id] = true;
    if (id == VP_R_NOTIFY)
        vp->notify_mult = pci_read32(d, c + CAP_EXTRA);
    return 0;
}

int vp_parse_caps(struct pci_dev *d, struct vp_dev *vp)
{
    memset(vp->present, 0, sizeof(vp->present));
    vp->cfg_cap = 0;
    /* pci_find_cap bounds its own walk; this one stops at 48 entries for the same reason. */
    uint8_t c = pci_find_cap(d, PCI_CAP_VNDR, 0);
    for (unsigned n = 0; c && n < 48; n++) {
        uint8_t type = pci_read8(d, c + CAP_TYPE);
        /* 4.1.4: the driver uses the first capability of each type it can use. */
        if (type >= VP_CAP_COMMON && type <= VP_CAP_DEVICE && !vp->present[type - 1]) {
            if (pci_read8(d, c + CAP_LEN) < (type == VP_CAP_NOTIFY ? 20 : 16)) {
                log_warn("virtio", "%s: capability type %u at %#x too short", vp->tag, type, c);
                return -EINVAL;
            }
            int rc = take_region(d, vp, c, type - 1);
            if (rc)
                return rc;
        } else if (type == VP_CAP_PCI_CFG && !vp->cfg_cap && pci_read8(d, c + CAP_LEN) >= 20) {
            vp->cfg_cap = c;
        }
        uint8_t next = pci_read8(d, c + 1);
        c = next ? pci_find_cap(d, PCI_CAP_VNDR, next) : 0;
    }
    if (!vp->present[VP_R_COMMON] || !vp->present[VP_R_NOTIFY] || !vp->present[VP_R_DEVICE])
        return -ENODEV;
    return 0;
}

/* Selects bar/offset/length in the PCI_CFG window; unchanged selections are not rewritten. */
static void window(struct vp_dev *vp, uint8_t bar, uint32_t off, uint32_t len)
{
    if (vp->win_bar != bar) {
        pci_write8(vp->pci, vp->cfg_cap + CAP_BAR, bar);
        vp->win_bar = bar;
    }
    if (vp->win_off != off) {
        pci_write32(vp->pci, vp->cfg_cap + CAP_OFFSET, off);
        vp->win_off = off;
    }
    if (vp->win_len != len) {
        pci_write32(vp->pci, vp->cfg_cap + CAP_LENGTH, len);
        vp->win_len = len;
    }
}

uint32_t vp_read(struct vp_dev *vp, enum vp_region_id id, uint32_t off, unsigned width)
{
    const struct vp_region *r = &vp->r[id];
    if (r->va) {
        if (width == 1)
            return *(volatile uint8_t *)(r->va + off);
        if (width == 2)
            return *(volatile uint16_t *)(r->va + off);
        return *(volatile uint32_t *)(r->va + off);
    }
    window(vp, r->bar, r->off + off, width);
    unsigned data = vp->cfg_cap + CAP_EXTRA;
    if (width == 1)
        return pci_read8(vp->pci, data);
    if (width == 2)
        return pci_read16(vp->pci, data);
    return pci_read32(vp->pci, data);
}

void vp_write(struct vp_dev *vp, enum vp_region_id id, uint32_t off, unsigned width, uint32_t v)
{
    const struct vp_region *r = &vp->r[id];
    if (r->va) {
        if (width == 1)
            *(volatile uint8_t *)(r->va + off) = (uint8_t)v;
        else if (width == 2)
            *(volatile uint16_t *)(r->va + off) = (uint16_t)v;
        else
            *(volatile uint32_t *)(r->va + off) = v;
        return;
    }
    window(vp, r->bar, r->off + off, width);
    unsigned data = vp->cfg_cap + CAP_EXTRA;
    if (width == 1)
        pci_write8(vp->pci, data, (uint8_t)v);
    else if (width == 2)
        pci_write16(vp->pci, data, (uint16_t)v);
    else
        pci_write32(vp->pci, data, v);
}

static uint8_t status(struct vp_dev *vp) { return vp_read(vp, VP_R_COMMON, VP_DEVICE_STATUS, 1); }

static void set_status(struct vp_dev *vp, uint8_t bits)
{
    vp_write(vp, VP_R_COMMON, VP_DEVICE_STATUS, 1, status(vp) | bits);
}

uint8_t vp_generation(struct vp_dev *vp)
{
    return vp_read(vp, VP_R_COMMON, VP_CONFIG_GENERATION, 1);
}

/* 4.1.4.3.2: after writing 0 the driver waits until device_status reads back 0. */
int vp_reset(struct vp_dev *vp)
{
    vp_write(vp, VP_R_COMMON, VP_DEVICE_STATUS, 1, 0);
    for (unsigned t = 0; t < RESET_TIMEOUT_US; t += 10) {
        if (!status(vp))
            return 0;
        time_delay_us(10);
    }
    log_err("virtio", "%s: device does not come out of reset", vp->tag);
    return -ETIMEDOUT;
}

/* Maps each block: through the direct map below 4 GiB, else into the core's I/O window
 * (OVMF puts QEMU's 64-bit BAR far above RAM); a block that cannot be mapped (an I/O BAR, a
 * full window) goes through the PCI_CFG window, a trap per access and more per selection. */
static int map_regions(struct vp_dev *vp)
{
    bool windowed = false;
    for (unsigned i = 0; i < VP_R_COUNT; i++) {
        struct vp_region *r = &vp->r[i];
        const struct pci_bar *b = &vp->pci->bar[r->bar];
        r->va = NULL;
        if (!vp->present[i])
            continue;
        if (b->io || !b->base)
            windowed = true;
        else if (b->base + r->off + r->len <= DIRECT_MAP_LIMIT)
            r->va = phys_to_virt(b->base + r->off);
        else if (!(r->va = mmu_map_io(b->base + r->off, r->len)))
            windowed = true;
    }
    if (!windowed)
        return 0;
    if (!vp->cfg_cap) {
        log_err("virtio", "%s: registers neither mapped nor reachable through a PCI_CFG "
                "capability", vp->tag);
        return -ENOTSUP;
    }
    log_info("virtio", "%s: registers in BAR%u at %#llx cannot be mapped: using the "
             "PCI configuration window", vp->tag, vp->r[VP_R_COMMON].bar,
             (unsigned long long)vp->pci->bar[vp->r[VP_R_COMMON].bar].base);
    return 0;
}

int vp_open(struct pci_dev *d, struct vp_dev *vp)
{
    memset(vp, 0, sizeof(*vp));
    vp->pci = d;
    vp->win_bar = -1;
    snprintf(vp->tag, sizeof(vp->tag), "%02x:%02x.%u", d->bus, d->dev, d->fn);
    int rc = vp_parse_caps(d, vp);
    if (rc == -ENODEV)
        log_warn("virtio", "%s: %04x:%04x has no virtio 1.0 capabilities (legacy-only device "
                 "not supported)", vp->tag, d->vendor, d->device);
    if (rc)
        return rc;
    if ((rc = map_regions(vp)))
        return rc;
    pci_enable(d, true, false, true);
    /* Polled: keep INTx quiet too (used-buffer interrupts are also suppressed per queue). */
    pci_write16(d, PCI_COMMAND, pci_read16(d, PCI_COMMAND) | PCI_COMMAND_INTX_OFF);
    if ((rc = vp_reset(vp)))
        return rc;
    set_status(vp, VIRTIO_STATUS_ACKNOWLEDGE);
    set_status(vp, VIRTIO_STATUS_DRIVER);
    return 0;
}

static uint64_t read_features(struct vp_dev *vp)
{
    vp_write(vp, VP_R_COMMON, VP_DEVICE_FEATURE_SELECT, 4, 0);
    uint64_t lo = vp_read(vp, VP_R_COMMON, VP_DEVICE_FEATURE, 4);
    vp_write(vp, VP_R_COMMON, VP_DEVICE_FEATURE_SELECT, 4, 1);
    uint64_t hi = vp_read(vp, VP_R_COMMON, VP_DEVICE_FEATURE, 4);
    return hi << 32 | lo;
}

int vp_negotiate(struct vp_dev *vp, uint64_t wanted, uint64_t required)
{
    uint64_t offered = read_features(vp);
    if ((offered & required) != required) {
        log_err("virtio", "%s: device lacks required features %#llx (offers %#llx)", vp->tag,
                (unsigned long long)(required & ~offered), (unsigned long long)offered);
        return -ENOTSUP;
    }
    vp->features = offered & (wanted | required);
    vp_write(vp, VP_R_COMMON, VP_DRIVER_FEATURE_SELECT, 4, 0);
    vp_write(vp, VP_R_COMMON, VP_DRIVER_FEATURE, 4, (uint32_t)vp->features);
    vp_write(vp, VP_R_COMMON, VP_DRIVER_FEATURE_SELECT, 4, 1);
    vp_write(vp, VP_R_COMMON, VP_DRIVER_FEATURE, 4, (uint32_t)(vp->features >> 32));
    /* 3.1.1 step 6: the device may refuse the subset; FEATURES_OK must read back set. */
    set_status(vp, VIRTIO_STATUS_FEATURES_OK);
    if (!(status(vp) & VIRTIO_STATUS_FEATURES_OK)) {
        log_err("virtio", "%s: device refused features %#llx", vp->tag,
                (unsigned long long)vp->features);
        return -ENOTSUP;
    }
    return 0;
}

static void write64(struct vp_dev *vp, uint32_t off, uint64_t v)
{
    /* 4.1.3.1: 64-bit fields are written as two 32-bit halves, low first. */
    vp_write(vp, VP_R_COMMON, off, 4, (uint32_t)v);
    vp_write(vp, VP_R_COMMON, off + 4, 4, (uint32_t)(v >> 32));
}

int vp_queue_setup(struct vp_dev *vp, uint16_t index, uint16_t max_size, struct virtq *vq)
{
    memset(vq, 0, sizeof(*vq));
    if (index >= vp_read(vp, VP_R_COMMON, VP_NUM_QUEUES, 2)) {
        log_err("virtio", "%s: no queue %u", vp->tag, index);
        return -ENODEV;
    }
    vp_write(vp, VP_R_COMMON, VP_QUEUE_SELECT, 2, index);
    uint16_t dev_max = vp_read(vp, VP_R_COMMON, VP_QUEUE_SIZE, 2);
    if (!dev_max || vp_read(vp, VP_R_COMMON, VP_QUEUE_ENABLE, 2)) {
        log_err("virtio", "%s: queue %u unavailable (size %u)", vp->tag, index, dev_max);
        return -ENODEV;
    }
    /* Split queue sizes are powers of two (2.6); the free-running indices rely on it. */
    uint16_t size = dev_max < max_size ? dev_max : max_size;
    while (size & (size - 1))
        size &= size - 1;
    uint32_t noff = vp_read(vp, VP_R_COMMON, VP_QUEUE_NOTIFY_OFF, 2) * vp->notify_mult;
    if ((uint64_t)noff + 2 > vp->r[VP_R_NOTIFY].len) {
        log_err("virtio", "%s: queue %u notify offset %#x outside its region", vp->tag, index,
                noff);
        return -EINVAL;
    }
    uint64_t pages = (virtq_layout(size, NULL, NULL) + PAGE_SIZE - 1) / PAGE_SIZE;
    uint64_t phys = frame_alloc(0, pages, 1, FRAME_ZERO);
    if (!phys)
        return -ENOMEM;
    virtq_attach(vq, phys_to_virt(phys), phys, size);
    vq->index = index;
    vq->pages = pages;
    vq->notify_off = noff;
    /* Polled: ask the device not to interrupt (2.6.7). */
    vq->avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;

    size_t a, u;
    virtq_layout(size, &a, &u);
    vp_write(vp, VP_R_COMMON, VP_QUEUE_SIZE, 2, size);
    write64(vp, VP_QUEUE_DESC, phys);
    write64(vp, VP_QUEUE_DRIVER, phys + a);
    write64(vp, VP_QUEUE_DEVICE, phys + u);
    vp_write(vp, VP_R_COMMON, VP_QUEUE_ENABLE, 2, 1);
    return 0;
}

void vp_driver_ok(struct vp_dev *vp)
{
    set_status(vp, VIRTIO_STATUS_DRIVER_OK);
}

int vp_abandon(struct vp_dev *vp, struct virtq *const *vqs, unsigned nvqs)
{
    /* Reset first: once it reads back 0 the device no longer touches the rings. A device
     * stuck in reset may still do DMA, so its memory is then leaked rather than reused. */
    int rc = vp_reset(vp);
    set_status(vp, VIRTIO_STATUS_FAILED);
    for (unsigned i = 0; i < nvqs; i++) {
        if (!rc && vqs[i]->pages)
            frame_free(vqs[i]->phys, vqs[i]->pages);
        vqs[i]->pages = 0;
    }
    return rc;
}

/* 4.1.4.4: a 16-bit write of the queue index at cap.offset + queue_notify_off * multiplier. */
void vp_notify(struct vp_dev *vp, const struct virtq *vq)
{
    vp_write(vp, VP_R_NOTIFY, vq->notify_off, 2, vq->index);
}
