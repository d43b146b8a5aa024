/*
 * virtio 1.0 over PCI, "modern" transport only (virtio spec 1.x, 4.1), and split
 * virtqueues (2.6). The vendor capabilities name a BAR window for each register block
 * (common, notify, ISR, device config). A window the direct map covers (below 4 GiB) is
 * accessed directly, one it does not (OVMF puts QEMU's 64-bit virtio BAR at 0xe0_0000_0000)
 * through an uncacheable mapping in the core's I/O window (mmu_map_io); only if that cannot
 * be had, through the VIRTIO_PCI_CAP_PCI_CFG window in configuration space (4.1.4.7), which
 * every modern device has (several traps per register access). Only the control plane calls
 * this; all polled.
 */
#ifndef DRIVERS_VIRTIO_PCI_H
#define DRIVERS_VIRTIO_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/pci.h"

#define VIRTIO_PCI_VENDOR 0x1af4

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER      0x02
#define VIRTIO_STATUS_DRIVER_OK   0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

/* Transport feature bits (6). */
#define VIRTIO_F_VERSION_1       32
#define VIRTIO_F_ACCESS_PLATFORM 33

/* Vendor capability cfg_type (4.1.4). */
enum vp_cfg_type {
    VP_CAP_COMMON = 1, VP_CAP_NOTIFY = 2, VP_CAP_ISR = 3, VP_CAP_DEVICE = 4, VP_CAP_PCI_CFG = 5,
};

/* Common configuration structure offsets (4.1.4.3). */
enum vp_common {
    VP_DEVICE_FEATURE_SELECT = 0x00, VP_DEVICE_FEATURE = 0x04,
    VP_DRIVER_FEATURE_SELECT = 0x08, VP_DRIVER_FEATURE = 0x0c,
    VP_MSIX_CONFIG = 0x10, VP_NUM_QUEUES = 0x12, VP_DEVICE_STATUS = 0x14,
    VP_CONFIG_GENERATION = 0x15, VP_QUEUE_SELECT = 0x16, VP_QUEUE_SIZE = 0x18,
    VP_QUEUE_MSIX_VECTOR = 0x1a, VP_QUEUE_ENABLE = 0x1c, VP_QUEUE_NOTIFY_OFF = 0x1e,
    VP_QUEUE_DESC = 0x20, VP_QUEUE_DRIVER = 0x28, VP_QUEUE_DEVICE = 0x30,
    VP_COMMON_LEN = 0x38,
};

/* One register block: BAR, offset and length from its capability. */
struct vp_region {
    uint8_t bar;
    uint32_t off, len;
    volatile uint8_t *va;           /* NULL: through the PCI_CFG window */
};

enum vp_region_id { VP_R_COMMON, VP_R_NOTIFY, VP_R_ISR, VP_R_DEVICE, VP_R_COUNT };

struct vp_dev {
    struct pci_dev *pci;
    struct vp_region r[VP_R_COUNT];
    bool present[VP_R_COUNT];
    uint32_t notify_mult;
    uint8_t cfg_cap;                /* PCI_CFG capability offset, 0 if none */
    int win_bar;                    /* window selection last written (-1: none) */
    uint32_t win_off, win_len;
    uint64_t features;              /* negotiated */
    char tag[16];                   /* "bb:dd.f" for log lines */
};

/* Split virtqueue layout (2.6). */
struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};
#define VIRTQ_DESC_F_NEXT  1
#define VIRTQ_DESC_F_WRITE 2

struct virtq_avail {
    uint16_t flags, idx;
    uint16_t ring[];                /* then used_event, unused without EVENT_IDX */
};
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq_used_elem {
    uint32_t id, len;
};
struct virtq_used {
    uint16_t flags, idx;
    struct virtq_used_elem ring[];
};
#define VIRTQ_USED_F_NO_NOTIFY 1

#define VIRTQ_MAX_SIZE 32768        /* 2.6: a split queue holds at most 32768 entries */

struct virtq {
    uint16_t index, size;           /* size: a power of two */
    struct virtq_desc *desc;
    volatile struct virtq_avail *avail;
    volatile struct virtq_used *used;
    uint16_t avail_idx, last_used;  /* free-running, wrap at 2^16 */
    uint32_t notify_off;            /* byte offset in the notify region */
    uint64_t phys;                  /* of the ring memory */
    uint64_t pages;
};

/* Bytes for a queue of `size` entries, and where the avail and used rings start (2.6:
 * descriptor table 16-byte aligned, avail ring 2, used ring 4). */
static inline size_t virtq_layout(uint16_t size, size_t *avail_off, size_t *used_off)
{
    size_t a = 16u * size;
    size_t u = (a + 6 + 2u * size + 3) & ~(size_t)3;
    if (avail_off)
        *avail_off = a;
    if (used_off)
        *used_off = u;
    return u + 6 + 8u * size;
}

/* Points the queue at zeroed memory `mem` (physical `phys`) laid out as above. */
static inline void virtq_attach(struct virtq *vq, void *mem, uint64_t phys, uint16_t size)
{
    size_t a, u;
    virtq_layout(size, &a, &u);
    vq->size = size;
    vq->desc = mem;
    vq->avail = (volatile struct virtq_avail *)((uint8_t *)mem + a);
    vq->used = (volatile struct virtq_used *)((uint8_t *)mem + u);
    vq->avail_idx = vq->last_used = 0;
    vq->phys = phys;
}

static inline void virtq_barrier(void)
{
    __asm__ volatile("" ::: "memory");
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Puts descriptor chain `head` in the avail ring; the device sees it after virtq_publish. */
static inline void virtq_post(struct virtq *vq, uint16_t head)
{
    vq->avail->ring[vq->avail_idx & (vq->size - 1)] = head;
    vq->avail_idx++;
}

/* 2.6.13: descriptors and ring entries are visible before the index that covers them. */
static inline void virtq_publish(struct virtq *vq)
{
    virtq_barrier();
    vq->avail->idx = vq->avail_idx;
}

/* After virtq_publish: whether the device asked to be notified (2.6.10.2). */
static inline bool virtq_want_notify(const struct virtq *vq)
{
    virtq_barrier();
    return !(vq->used->flags & VIRTQ_USED_F_NO_NOTIFY);
}

/* Next used element: its head id (len = bytes the device wrote), or -1 if none. */
static inline int virtq_pop_used(struct virtq *vq, uint32_t *len)
{
    if (vq->last_used == vq->used->idx)
        return -1;
    virtq_barrier();    /* read the element (and the buffer) only after the index */
    const volatile struct virtq_used_elem *e = &vq->used->ring[vq->last_used & (vq->size - 1)];
    uint32_t id = e->id;
    *len = e->len;
    vq->last_used++;
    return (int)id;
}

/* Finds the capabilities; -ENODEV if the modern ones are missing (a legacy-only device),
 * -EINVAL if one points outside its BAR. Fills r[], present[], notify_mult, cfg_cap and
 * maps nothing. */
int vp_parse_caps(struct pci_dev *d, struct vp_dev *vp);
/* Parses, maps, enables memory and bus mastering, resets, then ACKNOWLEDGE | DRIVER. */
int vp_open(struct pci_dev *d, struct vp_dev *vp);
/* Offers `wanted` & the device's features; `required` must all be there. FEATURES_OK checked. */
int vp_negotiate(struct vp_dev *vp, uint64_t wanted, uint64_t required);
/* Allocates and enables queue `index` with min(device max, max_size) entries. */
int vp_queue_setup(struct vp_dev *vp, uint16_t index, uint16_t max_size, struct virtq *vq);
void vp_driver_ok(struct vp_dev *vp);
/* Resets the device (it stops using every queue), marks it FAILED and frees the queues
 * given; returns vp_reset's result (not 0: the memory is kept, the device may still use it). */
int vp_abandon(struct vp_dev *vp, struct virtq *const *vqs, unsigned nvqs);
int vp_reset(struct vp_dev *vp);
void vp_notify(struct vp_dev *vp, const struct virtq *vq);

/* Register access of the natural width within a region. */
uint32_t vp_read(struct vp_dev *vp, enum vp_region_id r, uint32_t off, unsigned width);
void vp_write(struct vp_dev *vp, enum vp_region_id r, uint32_t off, unsigned width, uint32_t v);
/* config_generation (4.1.4.3): read it before and after reading device config; equal
 * values mean the fields read in between are consistent. */
uint8_t vp_generation(struct vp_dev *vp);

#endif
