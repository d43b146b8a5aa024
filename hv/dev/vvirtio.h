/*
 * The virtio 1.x PCI transport, device side (virtio 1.2, 4.1): a modern-only PCI function
 * (vendor 0x1AF4, device 0x1040 + the virtio device id, revision 1) whose BAR 0 holds the
 * common configuration, the ISR status, the device-specific configuration, the notification
 * area and the MSI-X table, each found through its vendor capability; INTx through the I/O
 * APIC when the driver does not enable MSI-X. Split virtqueues (hv/dev/virtq.h), with
 * VIRTIO_F_RING_EVENT_IDX and VIRTIO_F_INDIRECT_DESC offered.
 *
 * A device type (virtio-blk, virtio-net) embeds struct vvirtio at the start of its state,
 * calls vvirtio_init from its create hook and forwards reset/save/check/load; its ops take
 * queue notifications (the guest's kick, on the kicking vCPU, the set locked) and answer its
 * configuration space.
 *
 * The guest's mistakes: an access of the wrong width to a common-configuration field is
 * dropped (reads 0); a queue enabled with a bad configuration, or a chain that breaks the
 * ring's rules, sets DEVICE_NEEDS_RESET and a configuration-change interrupt (4.1.4.3,
 * 2.1.2), the device does nothing more with its queues until the driver resets it.
 *
 * BAR 0 layout (32 KiB): 0x0000 common, 0x1000 ISR, 0x2000 device config, 0x3000 notify
 * (queue q at 0x3000 + 4q), 0x4000 MSI-X table (one entry per queue plus the config's),
 * 0x5000 pending bits.
 */
#ifndef HV_DEV_VVIRTIO_H
#define HV_DEV_VVIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/dev/device.h"
#include "hv/dev/pcifn.h"
#include "hv/dev/virtq.h"

#define VVIRTIO_MAX_QUEUES  8
#define VVIRTIO_NO_VECTOR   0xffffu

/* Feature bits (virtio 1.2, 6). */
#define VIRTIO_F_INDIRECT_DESC   28
#define VIRTIO_F_RING_EVENT_IDX  29
#define VIRTIO_F_VERSION_1       32

/* Device status bits (2.1). */
#define VIRTIO_S_ACKNOWLEDGE     0x01u
#define VIRTIO_S_DRIVER          0x02u
#define VIRTIO_S_DRIVER_OK       0x04u
#define VIRTIO_S_FEATURES_OK     0x08u
#define VIRTIO_S_NEEDS_RESET     0x40u
#define VIRTIO_S_FAILED          0x80u

struct vvirtio;

struct vvirtio_ops {
    /* The driver kicked queue q (it is ready and the driver is OK). */
    void (*notify)(struct vvirtio *v, unsigned q);
    /* The device-specific configuration: off + size within config_size. */
    int (*config)(struct vvirtio *v, uint64_t off, bool write, unsigned size, uint64_t *val);
    /* The device's own power-on state (the transport's is done). */
    void (*reset)(struct vvirtio *v);
};

struct vvirtio {
    struct pcifn fn;                    /* first: the host hands this back */
    const struct vvirtio_ops *ops;
    struct virtq_mem mem;
    uint64_t dev_features;              /* offered */
    uint64_t drv_features;              /* accepted by the driver */
    uint32_t dfsel, gfsel;              /* device / driver feature select */
    uint16_t msix_config;
    uint16_t queue_sel;
    uint16_t nqueues;
    uint16_t qmax;                      /* the size each queue offers */
    uint32_t config_size;
    uint8_t status;
    uint8_t config_gen;
    uint8_t isr;                        /* bit 0 queue, bit 1 configuration change */
    struct virtq q[VVIRTIO_MAX_QUEUES];
    uint16_t q_msix[VVIRTIO_MAX_QUEUES];
};

/* Sets up the function and attaches it to the VM's PCI host: 0 or an error in err. */
int vvirtio_init(struct vvirtio *v, struct device *d, const struct vvirtio_ops *ops,
                 uint16_t virtio_id, uint32_t class_code, uint64_t features, uint16_t nqueues,
                 uint16_t qmax, uint32_t config_size, char *err, size_t errlen);
void vvirtio_destroy(struct vvirtio *v);
void vvirtio_reset(struct vvirtio *v);

/* Is feature bit b negotiated? */
static inline bool vvirtio_has(const struct vvirtio *v, unsigned b)
{
    return v->drv_features >> b & 1;
}
/* After using chains of q: interrupts the driver if it wants one. */
void vvirtio_used(struct vvirtio *v, unsigned q);
/* The device's configuration changed (config_gen moves): an interrupt for the driver. */
void vvirtio_config_changed(struct vvirtio *v);
/* The driver broke a rule: DEVICE_NEEDS_RESET, and the driver hears of it. */
void vvirtio_needs_reset(struct vvirtio *v);
/* May the device work on q now (driver OK, queue ready and unbroken, no reset pending)? */
bool vvirtio_queue_live(const struct vvirtio *v, unsigned q);

/* "pci 00:01.0 bar0 0xc0000000 status 0xf features 0x...": the transport's half of a show. */
int vvirtio_show(const struct vvirtio *v, char *buf, size_t n);

/* The transport's part of a record (with the PCI function's): fixed for a given nqueues. */
#define VVIRTIO_REC_SIZE(nq) (PCIFN_REC_SIZE + 32 + (nq) * 40)
void vvirtio_save(const struct vvirtio *v, uint8_t **rec);
int vvirtio_check(const struct vvirtio *v, const uint8_t *rec, char *why, size_t n);
void vvirtio_load(struct vvirtio *v, const uint8_t **rec);

#endif
