/* The virtio PCI transport, device side; see hv/dev/vvirtio.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"
#include "hv/dev/vpci.h"
#include "hv/dev/vvirtio.h"

#define BAR_SIZE        0x8000u
#define OFF_COMMON      0x0000u
#define OFF_ISR         0x1000u
#define OFF_DEVICE      0x2000u
#define OFF_NOTIFY      0x3000u
#define OFF_MSIX        0x4000u
#define OFF_PBA         0x5000u
#define COMMON_LEN      56u
#define NOTIFY_MULT     4u

/* Vendor capability types (4.1.4). */
enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4, CAP_PCI_CFG = 5 };

static struct vvirtio *of_fn(struct pcifn *f) { return (struct vvirtio *)f; }

static void *map(void *ctx, uint64_t gpa, uint64_t len, bool write)
{
    return dev_guest_map(ctx, gpa, len, write);
}

/* The location the PCI configuration access capability (type 5) points at. */
static uint8_t pci_cfg_cap(const struct vvirtio *v)
{
    for (uint8_t at = v->fn.cfg[PCI_CAP_PTR]; at; at = v->fn.cfg[at + 1])
        if (v->fn.cfg[at] == PCI_CAP_VENDOR && v->fn.cfg[at + 3] == CAP_PCI_CFG)
            return at;
    return 0;
}

static uint8_t add_vcap(struct pcifn *f, uint8_t type, uint32_t off, uint32_t len, uint8_t clen)
{
    uint8_t at = pcifn_add_cap(f, PCI_CAP_VENDOR, clen);
    if (!at)
        return 0;
    f->cfg[at + 2] = clen;
    f->cfg[at + 3] = type;
    f->cfg[at + 4] = 0;                             /* BAR 0 */
    for (unsigned i = 0; i < 4; i++) {
        f->cfg[at + 8 + i] = (uint8_t)(off >> (8 * i));
        f->cfg[at + 12 + i] = (uint8_t)(len >> (8 * i));
    }
    return at;
}

static void queue_clear(struct vvirtio *v, unsigned q)
{
    memset(&v->q[q], 0, sizeof(v->q[q]));
    v->q[q].size = v->qmax;
    v->q_msix[q] = VVIRTIO_NO_VECTOR;
}

void vvirtio_reset(struct vvirtio *v)
{
    v->drv_features = 0;
    v->dfsel = v->gfsel = 0;
    v->msix_config = VVIRTIO_NO_VECTOR;
    v->queue_sel = 0;
    v->status = 0;
    v->isr = 0;
    for (unsigned q = 0; q < v->nqueues; q++)
        queue_clear(v, q);
    pcifn_intx(&v->fn, false);
    if (v->ops->reset)
        v->ops->reset(v);
}

bool vvirtio_queue_live(const struct vvirtio *v, unsigned q)
{
    /* A function whose bus mastering is off does no DMA (PCI 3.0, 6.2.2). */
    return q < v->nqueues && (v->status & VIRTIO_S_DRIVER_OK) &&
           (v->fn.cfg[PCI_COMMAND] & PCI_CMD_MASTER) &&
           !(v->status & (VIRTIO_S_NEEDS_RESET | VIRTIO_S_FAILED)) && v->q[q].ready &&
           !v->q[q].broken;
}

static void interrupt(struct vvirtio *v, uint8_t isr_bit, uint16_t vec)
{
    if (pcifn_msix_enabled(&v->fn)) {
        pcifn_msix_notify(&v->fn, vec);
    } else {
        v->isr |= isr_bit;
        pcifn_intx(&v->fn, true);
    }
}

void vvirtio_used(struct vvirtio *v, unsigned q)
{
    if (q < v->nqueues && virtq_should_notify(&v->q[q], &v->mem))
        interrupt(v, 1, v->q_msix[q]);
}

void vvirtio_config_changed(struct vvirtio *v)
{
    v->config_gen++;
    interrupt(v, 2, v->msix_config);
}

void vvirtio_needs_reset(struct vvirtio *v)
{
    if (v->status & VIRTIO_S_NEEDS_RESET)
        return;
    v->status |= VIRTIO_S_NEEDS_RESET;
    if (v->status & VIRTIO_S_DRIVER_OK)
        vvirtio_config_changed(v);
}

/* A vector the driver names: kept if the table has it, else "no vector" (4.1.4.3: the device
 * reads back NO_VECTOR when it cannot use the one asked for). */
static uint16_t vector(const struct vvirtio *v, uint64_t val)
{
    return val < v->fn.msix_n ? (uint16_t)val : VVIRTIO_NO_VECTOR;
}

static void enable_queue(struct vvirtio *v, struct virtq *q)
{
    q->event_idx = vvirtio_has(v, VIRTIO_F_RING_EVENT_IDX);
    q->indirect = vvirtio_has(v, VIRTIO_F_INDIRECT_DESC);
    q->last_avail = q->used_idx = 0;
    q->signalled_valid = false;
    if (virtq_check_config(q, &v->mem)) {
        q->broken = true;
        q->error = VIRTQ_ERR_CONFIG;
        vvirtio_needs_reset(v);
        return;
    }
    q->ready = true;
}

/* A field of the common configuration: its offset's width (0: no field starts there). */
static unsigned field_width(uint64_t off)
{
    static const uint8_t width[COMMON_LEN] = {
        [0] = 4, [4] = 4, [8] = 4, [12] = 4, [16] = 2, [18] = 2, [20] = 1, [21] = 1, [22] = 2,
        [24] = 2, [26] = 2, [28] = 2, [30] = 2, [32] = 8, [40] = 8, [48] = 8,
    };
    return off < COMMON_LEN ? width[off] : 0;
}

static int common(struct vvirtio *v, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    unsigned w = field_width(off & ~7ull) == 8 ? 8 : field_width(off);
    bool half = w == 8 && size == 4;                /* a 64-bit field in two 32-bit halves */
    if (!w || (size != w && !half) || (off & (size - 1))) {
        if (!write)
            *val = 0;
        return 0;                                   /* the wrong width: dropped */
    }
    struct virtq *q = v->queue_sel < v->nqueues ? &v->q[v->queue_sel] : NULL;
    uint64_t *addr = NULL;
    if (w == 8 && q)
        addr = (off & ~7ull) == 32 ? &q->desc : (off & ~7ull) == 40 ? &q->avail : &q->used;
    if (!write) {
        uint64_t r = 0;
        switch (off) {
        case 0: r = v->dfsel; break;
        case 4: r = v->dfsel < 2 ? (uint32_t)(v->dev_features >> (32 * v->dfsel)) : 0; break;
        case 8: r = v->gfsel; break;
        case 12: r = v->gfsel < 2 ? (uint32_t)(v->drv_features >> (32 * v->gfsel)) : 0; break;
        case 16: r = v->msix_config; break;
        case 18: r = v->nqueues; break;
        case 20: r = v->status; break;
        case 21: r = v->config_gen; break;
        case 22: r = v->queue_sel; break;
        case 24: r = q ? q->size : 0; break;
        case 26: r = q ? v->q_msix[v->queue_sel] : VVIRTIO_NO_VECTOR; break;
        case 28: r = q ? q->ready : 0; break;
        case 30: r = q ? v->queue_sel : 0; break;
        default:
            r = addr ? *addr : 0;
            if (half)
                r = (uint32_t)(r >> (off & 4 ? 32 : 0));
            break;
        }
        *val = r;
        return 0;
    }
    uint64_t x = *val;
    switch (off) {
    case 0: v->dfsel = (uint32_t)x; break;
    case 8: v->gfsel = (uint32_t)x; break;
    case 12:
        /* Features are the driver's to set until FEATURES_OK (3.1.1). */
        if (v->gfsel < 2 && !(v->status & VIRTIO_S_FEATURES_OK)) {
            unsigned sh = 32 * v->gfsel;
            v->drv_features = (v->drv_features & ~(0xffffffffull << sh)) | (x & 0xffffffffu) << sh;
        }
        break;
    case 16: v->msix_config = vector(v, x); break;
    case 20:
        if (!x) {
            vvirtio_reset(v);
            break;
        }
        /* FEATURES_OK stays clear when the driver took what was not offered or no
         * VERSION_1 (3.1.1 step 6: the driver reads it back). */
        if ((x & VIRTIO_S_FEATURES_OK) && !(v->status & VIRTIO_S_FEATURES_OK) &&
            ((v->drv_features & ~v->dev_features) || !vvirtio_has(v, VIRTIO_F_VERSION_1)))
            x &= ~(uint64_t)VIRTIO_S_FEATURES_OK;
        /* Bits are only ever added; NEEDS_RESET is the device's. */
        v->status = (uint8_t)((v->status | x) & ~VIRTIO_S_NEEDS_RESET) |
                    (v->status & VIRTIO_S_NEEDS_RESET);
        break;
    case 22: v->queue_sel = (uint16_t)x; break;
    case 24:
        /* A smaller power of two than offered; anything else leaves the size as it was
         * (the driver reads it back). */
        if (q && !q->ready && x && x <= v->qmax && !(x & (x - 1)))
            q->size = (uint16_t)x;
        break;
    case 26:
        if (q)
            v->q_msix[v->queue_sel] = vector(v, x);
        break;
    case 28:
        if (q && x == 1 && !q->ready && !q->broken && (v->status & VIRTIO_S_FEATURES_OK))
            enable_queue(v, q);
        break;
    default:
        if (addr && !q->ready) {
            if (half) {
                unsigned sh = off & 4 ? 32 : 0;
                *addr = (*addr & ~(0xffffffffull << sh)) | (x & 0xffffffffu) << sh;
            } else {
                *addr = x;
            }
        }
        break;
    }
    return 0;
}

static int bar_access(struct pcifn *f, unsigned bar, uint64_t off, bool write, unsigned size,
                      uint64_t *val)
{
    struct vvirtio *v = of_fn(f);
    int rc;
    if (bar != 0)
        return -EINVAL;
    if (pcifn_msix_access(f, off, write, size, val, &rc))
        return rc;
    if (off < OFF_COMMON + COMMON_LEN)
        return common(v, off - OFF_COMMON, write, size, val);
    if (off == OFF_ISR) {
        if (!write) {
            *val = v->isr;                          /* reading acknowledges (4.1.4.5) */
            v->isr = 0;
            pcifn_intx(f, false);
        }
        return 0;
    }
    if (off >= OFF_DEVICE && off - OFF_DEVICE < v->config_size) {
        if (off - OFF_DEVICE + size > v->config_size)
            return -EINVAL;
        return v->ops->config(v, off - OFF_DEVICE, write, size, val);
    }
    if (off >= OFF_NOTIFY && off < OFF_NOTIFY + (uint64_t)v->nqueues * NOTIFY_MULT) {
        unsigned q = (unsigned)(off - OFF_NOTIFY) / NOTIFY_MULT;
        if (write && vvirtio_queue_live(v, q))
            v->ops->notify(v, q);
        else if (!write)
            *val = 0;
        return 0;
    }
    if (!write)
        *val = 0;                                   /* the BAR's gaps read 0, writes vanish */
    return 0;
}

/* The PCI configuration access capability's window (4.1.4.9): the driver names a BAR,
 * offset and length, then reads or writes pci_cfg_data. */
static bool pci_cfg_window(struct vvirtio *v, unsigned reg, unsigned size, uint8_t **data,
                           uint32_t *off, unsigned *len)
{
    uint8_t at = pci_cfg_cap(v);
    if (!at || reg + size <= at + 16u || reg >= at + 20u)
        return false;
    uint8_t *c = v->fn.cfg + at;
    *off = c[8] | c[9] << 8 | c[10] << 16 | (uint32_t)c[11] << 24;
    *len = c[12];
    *data = c + 16;
    return c[4] == 0 && (*len == 1 || *len == 2 || *len == 4) && !(*off & (*len - 1)) &&
           *off < BAR_SIZE;
}

static void cfg_written(struct pcifn *f, unsigned reg, unsigned size)
{
    struct vvirtio *v = of_fn(f);
    uint8_t *data;
    uint32_t off;
    unsigned len;
    if (!pci_cfg_window(v, reg, size, &data, &off, &len))
        return;
    uint64_t x = 0;
    for (unsigned i = 0; i < len; i++)
        x |= (uint64_t)data[i] << (8 * i);
    bar_access(f, 0, off, true, len, &x);
}

static void cfg_reading(struct pcifn *f, unsigned reg, unsigned size)
{
    struct vvirtio *v = of_fn(f);
    uint8_t *data;
    uint32_t off;
    unsigned len;
    uint64_t x = 0;
    if (!pci_cfg_window(v, reg, size, &data, &off, &len) || bar_access(f, 0, off, false, len, &x))
        return;
    for (unsigned i = 0; i < 4; i++)
        data[i] = (uint8_t)(x >> (8 * i));
}

static const struct pcifn_ops fn_ops = {
    .bar_access = bar_access,
    .cfg_written = cfg_written,
    .cfg_reading = cfg_reading,
};

int vvirtio_init(struct vvirtio *v, struct device *d, const struct vvirtio_ops *ops,
                 uint16_t virtio_id, uint32_t class_code, uint64_t features, uint16_t nqueues,
                 uint16_t qmax, uint32_t config_size, char *err, size_t errlen)
{
    struct device *host = dev_find(d->set, DEV_ID_PCI_HOST, 0);
    if (!host) {
        snprintf(err, errlen, "virtio: the machine has no PCI host bridge");
        return -ENODEV;
    }
    if (!nqueues || nqueues > VVIRTIO_MAX_QUEUES || !qmax || qmax > VIRTQ_MAX_SIZE ||
        (qmax & (qmax - 1)) || config_size > OFF_NOTIFY - OFF_DEVICE) {
        snprintf(err, errlen, "virtio: bad queue or configuration sizes");
        return -EINVAL;
    }
    struct pcifn *f = &v->fn;
    pcifn_init(f, d, &fn_ops, 0x1af4, (uint16_t)(0x1040 + virtio_id), class_code, 1, 0x1af4,
               (uint16_t)(0x40 + virtio_id));
    pcifn_bar(f, 0, BAR_SIZE, false);
    add_vcap(f, CAP_COMMON, OFF_COMMON, COMMON_LEN, 16);
    uint8_t n = add_vcap(f, CAP_NOTIFY, OFF_NOTIFY, nqueues * NOTIFY_MULT, 20);
    if (n)
        f->cfg[n + 16] = NOTIFY_MULT;               /* notify_off_multiplier */
    add_vcap(f, CAP_ISR, OFF_ISR, 1, 16);
    add_vcap(f, CAP_DEVICE, OFF_DEVICE, config_size, 16);
    uint8_t pc = add_vcap(f, CAP_PCI_CFG, 0, 0, 20);
    if (pc) {
        f->wmask[pc + 4] = 0xff;                    /* bar, offset, length, data */
        memset(f->wmask + pc + 8, 0xff, 12);
    }
    pcifn_add_msix(f, (uint16_t)(nqueues + 1), 0, OFF_MSIX, OFF_PBA);
    if (!f->msix_n || !pc) {
        snprintf(err, errlen, "virtio: its capabilities do not fit");
        return -ENOSPC;
    }
    v->ops = ops;
    v->mem = (struct virtq_mem){ map, d };
    v->dev_features = features | 1ull << VIRTIO_F_VERSION_1 |
                      1ull << VIRTIO_F_RING_EVENT_IDX | 1ull << VIRTIO_F_INDIRECT_DESC;
    v->nqueues = nqueues;
    v->qmax = qmax;
    v->config_size = config_size;
    if (vpci_attach(host, f)) {
        snprintf(err, errlen, "virtio: no free PCI slot");
        return -ENOSPC;
    }
    vvirtio_reset(v);
    return 0;
}

void vvirtio_destroy(struct vvirtio *v)
{
    struct device *host = v->fn.dev ? dev_find(v->fn.dev->set, DEV_ID_PCI_HOST, 0) : NULL;
    if (host)
        vpci_detach(host, &v->fn);
}

int vvirtio_show(const struct vvirtio *v, char *buf, size_t n)
{
    uint64_t bar = pcifn_bar_base(&v->fn, 0);
    char where[24] = "unplaced";
    if (bar != ~0ull)
        snprintf(where, sizeof(where), "0x%llx", (unsigned long long)bar);
    bool broken = false;
    for (unsigned q = 0; q < v->nqueues; q++)
        broken |= v->q[q].broken;
    return snprintf(buf, n, "pci 00:%02x.0 bar0 %s status 0x%02x%s features 0x%llx msix %s",
                    v->fn.slot, where, v->status, broken ? " (a queue broke)" : "",
                    (unsigned long long)v->drv_features,
                    pcifn_msix_enabled(&v->fn) ? "on" : "off");
}

/* ---- records ---- */

void vvirtio_save(const struct vvirtio *v, uint8_t **rec)
{
    pcifn_save(&v->fn, rec);
    devrec_put64(rec, v->drv_features);
    devrec_put32(rec, v->dfsel);
    devrec_put32(rec, v->gfsel);
    devrec_put16(rec, v->msix_config);
    devrec_put16(rec, v->queue_sel);
    devrec_put8(rec, v->status);
    devrec_put8(rec, v->config_gen);
    devrec_put8(rec, v->isr);
    devrec_put8(rec, v->fn.intx_level);
    for (unsigned i = 0; i < 8; i++)
        devrec_put8(rec, 0);                        /* reserved */
    for (unsigned q = 0; q < v->nqueues; q++) {
        const struct virtq *x = &v->q[q];
        devrec_put16(rec, x->size);
        devrec_put8(rec, x->ready);
        devrec_put8(rec, x->broken);
        devrec_put64(rec, x->desc);
        devrec_put64(rec, x->avail);
        devrec_put64(rec, x->used);
        devrec_put16(rec, x->last_avail);
        devrec_put16(rec, x->used_idx);
        devrec_put16(rec, x->signalled_used);
        devrec_put8(rec, x->signalled_valid);
        devrec_put8(rec, x->error);
        devrec_put16(rec, v->q_msix[q]);
        devrec_put16(rec, 0);
    }
}

/* The fields of a record, parsed (nothing loaded). */
struct parsed {
    uint64_t drv_features;
    uint32_t dfsel, gfsel;
    uint16_t msix_config, queue_sel;
    uint8_t status, config_gen, isr, intx;
    struct virtq q[VVIRTIO_MAX_QUEUES];
    uint16_t q_msix[VVIRTIO_MAX_QUEUES];
    uint8_t flags[VVIRTIO_MAX_QUEUES][3];     /* ready, broken, signalled_valid as sent */
};

static void parse(const struct vvirtio *v, const uint8_t **p, struct parsed *r)
{
    *p += PCIFN_REC_SIZE;
    r->drv_features = devrec_get64(p);
    r->dfsel = devrec_get32(p);
    r->gfsel = devrec_get32(p);
    r->msix_config = devrec_get16(p);
    r->queue_sel = devrec_get16(p);
    r->status = devrec_get8(p);
    r->config_gen = devrec_get8(p);
    r->isr = devrec_get8(p);
    r->intx = devrec_get8(p);
    *p += 8;
    for (unsigned q = 0; q < v->nqueues; q++) {
        struct virtq *x = &r->q[q];
        memset(x, 0, sizeof(*x));
        x->size = devrec_get16(p);
        x->ready = (r->flags[q][0] = devrec_get8(p)) != 0;
        x->broken = (r->flags[q][1] = devrec_get8(p)) != 0;
        x->desc = devrec_get64(p);
        x->avail = devrec_get64(p);
        x->used = devrec_get64(p);
        x->last_avail = devrec_get16(p);
        x->used_idx = devrec_get16(p);
        x->signalled_used = devrec_get16(p);
        x->signalled_valid = (r->flags[q][2] = devrec_get8(p)) != 0;
        x->error = devrec_get8(p);
        r->q_msix[q] = devrec_get16(p);
        *p += 2;
        x->event_idx = r->drv_features >> VIRTIO_F_RING_EVENT_IDX & 1;
        x->indirect = r->drv_features >> VIRTIO_F_INDIRECT_DESC & 1;
    }
}

int vvirtio_check(const struct vvirtio *v, const uint8_t *rec, char *why, size_t n)
{
    struct parsed r;
    const uint8_t *p = rec;
    int rc = pcifn_check(&v->fn, rec, why, n);
    if (rc)
        return rc;
    parse(v, &p, &r);
    const char *bad = NULL;
    if (r.drv_features & ~v->dev_features)
        bad = "driver features that were not offered";
    else if (r.status & ~(VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_DRIVER_OK |
                          VIRTIO_S_FEATURES_OK | VIRTIO_S_NEEDS_RESET | VIRTIO_S_FAILED))
        bad = "a reserved status bit";
    else if (r.isr > 3 || r.intx > 1)
        bad = "a bad interrupt status";
    else if (r.msix_config != VVIRTIO_NO_VECTOR && r.msix_config >= v->fn.msix_n)
        bad = "a configuration vector past the MSI-X table";
    for (unsigned q = 0; !bad && q < v->nqueues; q++) {
        const struct virtq *x = &r.q[q];
        if (r.flags[q][0] > 1 || r.flags[q][1] > 1 || r.flags[q][2] > 1 ||
            x->error >= VIRTQ_ERR_COUNT)
            bad = "a queue flag that is neither 0 nor 1";
        else if (!x->size || x->size > v->qmax || (x->size & (x->size - 1)))
            bad = "a queue size the device does not offer";
        else if (r.q_msix[q] != VVIRTIO_NO_VECTOR && r.q_msix[q] >= v->fn.msix_n)
            bad = "a queue vector past the MSI-X table";
        else if (x->ready && !x->broken && virtq_check_config(x, &v->mem))
            bad = "a ready queue whose rings are not in guest RAM or misaligned";
        if (bad) {
            snprintf(why, n, "virtio queue %u: %s", q, bad);
            return -EINVAL;
        }
    }
    if (bad) {
        snprintf(why, n, "virtio: %s", bad);
        return -EINVAL;
    }
    return 0;
}

void vvirtio_load(struct vvirtio *v, const uint8_t **rec)
{
    struct parsed r;
    const uint8_t *p = *rec;
    pcifn_load(&v->fn, rec);
    parse(v, &p, &r);
    *rec = p;
    v->drv_features = r.drv_features;
    v->dfsel = r.dfsel;
    v->gfsel = r.gfsel;
    v->msix_config = r.msix_config;
    v->queue_sel = r.queue_sel;
    v->status = r.status;
    v->config_gen = r.config_gen;
    v->isr = r.isr;
    for (unsigned q = 0; q < v->nqueues; q++) {
        v->q[q] = r.q[q];
        v->q_msix[q] = r.q_msix[q];
    }
    pcifn_intx(&v->fn, r.intx);
}
