/* The I/O APIC; see hv/dev/vioapic.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"
#include "hv/dev/vioapic.h"
#include "hv/dev/vlapic.h"

#define REG_SEL      0x00
#define REG_WIN      0x10
#define REG_EOI      0x40
#define IDX_ID       0x00
#define IDX_VER      0x01
#define IDX_ARB      0x02
#define IDX_REDIR    0x10

/* Redirection entry bits (82093AA 3.2.4). */
#define RE_VECTOR    0xffull
#define RE_LOGICAL   (1ull << 11)
#define RE_STATUS    (1ull << 12)
#define RE_REMOTE    (1ull << 14)
#define RE_LEVEL     (1ull << 15)
#define RE_MASKED    (1ull << 16)
#define RE_WRITABLE  0xff0000000001afffull  /* vector, mode, dest mode, polarity, trigger,
                                              * mask, destination */
#define REC_SIZE     (8 + VIOAPIC_PINS * 8)

static struct vioapic *io_of(struct device *d) { return d->state; }

static int pin_of_line(unsigned line)
{
    if (line == 0)
        return VIOAPIC_IRQ0_PIN;
    if (line == VIOAPIC_IRQ0_PIN || line >= VIOAPIC_PINS)
        return -1;                       /* line 2 is the 8259 cascade: no pin */
    return (int)line;
}

/* Sends pin's message if its entry and line call for one now. */
static void service(struct device *d, unsigned pin, bool edge_rose)
{
    struct vioapic *io = io_of(d);
    uint64_t e = io->redir[pin];
    if (e & RE_MASKED)
        return;
    if (e & RE_LEVEL) {
        if (!(io->level >> pin & 1) || (e & RE_REMOTE))
            return;
    } else if (!edge_rose) {
        return;
    }
    struct device *lapic = dev_find(d->set, DEV_ID_LAPIC, 0);
    if (!lapic)
        return;
    unsigned n = vlapic_deliver_msg(lapic, (uint8_t)(e >> 56), e & RE_LOGICAL, (e >> 8) & 7,
                                    (uint8_t)(e & RE_VECTOR), e & RE_LEVEL);
    /* Remote IRR: a local APIC took a fixed (or lowest-priority) level interrupt and will EOI
     * it (82093AA: "set when the local APIC(s) accept the level interrupt"); NMI and INIT are
     * edge whatever the entry says, and a message nobody took leaves it clear. */
    unsigned mode = (e >> 8) & 7;
    if ((e & RE_LEVEL) && n && mode <= 1)
        io->redir[pin] |= RE_REMOTE;
}

static void sink(struct device *d, unsigned line, bool level)
{
    struct vioapic *io = io_of(d);
    int pin = pin_of_line(line);
    if (pin < 0)
        return;
    bool was = io->level >> pin & 1;
    io->level = level ? io->level | 1u << pin : io->level & ~(1u << pin);
    if (level)
        service(d, (unsigned)pin, !was);
}

void vioapic_eoi(struct device *d, uint8_t vector)
{
    struct vioapic *io = io_of(d);
    for (unsigned pin = 0; pin < VIOAPIC_PINS; pin++) {
        uint64_t e = io->redir[pin];
        if ((e & RE_REMOTE) && (uint8_t)(e & RE_VECTOR) == vector) {
            io->redir[pin] = e & ~RE_REMOTE;
            service(d, pin, false);
        }
    }
}

void vioapic_lapic_eoi(struct device *lapic, unsigned vcpu, uint8_t vector)
{
    (void)vcpu;
    struct device *d = dev_find(lapic->set, DEV_ID_IOAPIC, 0);
    if (d)
        vioapic_eoi(d, vector);
}

static uint32_t read_indexed(struct vioapic *io)
{
    unsigned i = io->sel;
    switch (i) {
    case IDX_ID: return (uint32_t)io->id << 24;
    case IDX_VER: return VIOAPIC_VERSION;
    case IDX_ARB: return (uint32_t)io->id << 24;
    }
    if (i < IDX_REDIR || i >= IDX_REDIR + 2 * VIOAPIC_PINS)
        return 0;
    uint64_t e = io->redir[(i - IDX_REDIR) / 2];
    return i & 1 ? (uint32_t)(e >> 32) : (uint32_t)e;
}

static void write_indexed(struct device *d, uint32_t v)
{
    struct vioapic *io = io_of(d);
    unsigned i = io->sel;
    if (i == IDX_ID) {
        io->id = (v >> 24) & 0xf;
        return;
    }
    if (i < IDX_REDIR || i >= IDX_REDIR + 2 * VIOAPIC_PINS)
        return;                          /* version, arbitration, past the table: read-only */
    unsigned pin = (i - IDX_REDIR) / 2;
    uint64_t e = io->redir[pin];
    uint64_t w = i & 1 ? (e & 0xffffffffull) | (uint64_t)v << 32
                       : (e & 0xffffffff00000000ull) | v;
    e = (e & RE_REMOTE) | (w & RE_WRITABLE);
    if (!(e & RE_LEVEL))
        e &= ~RE_REMOTE;                 /* remote IRR means nothing for an edge pin */
    io->redir[pin] = e;
    service(d, pin, false);              /* an unmasked level pin with its line up fires */
}

static int mmio(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    struct device *d = opaque;
    struct vioapic *io = io_of(d);
    if (off == REG_SEL && (size == 1 || size == 4)) {
        if (write)
            io->sel = (uint8_t)*val;
        else
            *val = io->sel;
        return 0;
    }
    if ((off == REG_WIN || off == REG_EOI) && size == 4) {
        if (off == REG_WIN && write)
            write_indexed(d, (uint32_t)*val);
        else if (off == REG_WIN)
            *val = read_indexed(io);
        else if (write)
            vioapic_eoi(d, (uint8_t)*val);
        else
            *val = 0;
        return 0;
    }
    if (size > 4 || (off & 3) || off == REG_WIN || off == REG_EOI)
        return -EINVAL;
    if (!write)
        *val = 0;                        /* the rest of the window: reads 0, drops writes */
    return 0;
}

static void vioapic_reset(struct device *d)
{
    struct vioapic *io = io_of(d);
    io->sel = 0;
    io->id = io->reset_id;
    for (unsigned i = 0; i < VIOAPIC_PINS; i++)
        io->redir[i] = RE_MASKED;
    /* The lines keep their levels: they belong to the devices driving them. */
}

static int vioapic_create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    const struct vioapic_cfg *c = cfg;
    struct vioapic *io = io_of(d);
    io->base = c && c->base ? c->base : VIOAPIC_BASE;
    io->reset_id = c ? c->id & 0xf : 0;
    int rc = dev_claim_mmio(d, io->base, VIOAPIC_SIZE, mmio);
    if (!rc)
        rc = dev_irq_sink(d, sink);
    if (rc) {
        snprintf(err, errlen, "ioapic: 0x%llx: %s", (unsigned long long)io->base,
                 rc == -EBUSY ? "taken" : "cannot be claimed");
        return rc;
    }
    for (unsigned line = 0; line < DEV_IRQ_LINES; line++) {
        int pin = pin_of_line(line);
        if (pin >= 0 && (d->set->irq_level >> line & 1))
            io->level |= 1u << pin;
    }
    vioapic_reset(d);
    return 0;
}

static void vioapic_save(const struct device *d, uint8_t *rec)
{
    const struct vioapic *io = d->state;
    devrec_put8(&rec, io->sel);
    devrec_put8(&rec, io->id);
    devrec_put16(&rec, 0);
    devrec_put32(&rec, io->level);
    for (unsigned i = 0; i < VIOAPIC_PINS; i++)
        devrec_put64(&rec, io->redir[i]);
}

static int vioapic_check(const struct device *d, const uint8_t *rec, char *why, size_t n)
{
    (void)d;
    uint8_t sel = devrec_get8(&rec), id = devrec_get8(&rec);
    uint16_t rsvd = devrec_get16(&rec);
    uint32_t level = devrec_get32(&rec);
    (void)sel;                           /* any index is one the guest could have written */
    if (id > 0xf || rsvd || level >> VIOAPIC_PINS) {
        snprintf(why, n, "id %u, reserved 0x%x or levels 0x%x out of range", id, rsvd, level);
        return -EINVAL;
    }
    for (unsigned i = 0; i < VIOAPIC_PINS; i++) {
        uint64_t e = devrec_get64(&rec);
        if (e & ~(RE_WRITABLE | RE_REMOTE) || ((e & RE_REMOTE) && !(e & RE_LEVEL))) {
            snprintf(why, n, "pin %u: entry 0x%llx has bits no guest can set", i,
                     (unsigned long long)e);
            return -EINVAL;
        }
    }
    return 0;
}

static void vioapic_load(struct device *d, const uint8_t *rec)
{
    struct vioapic *io = io_of(d);
    io->sel = devrec_get8(&rec);
    io->id = devrec_get8(&rec);
    (void)devrec_get16(&rec);
    io->level = devrec_get32(&rec);
    for (unsigned i = 0; i < VIOAPIC_PINS; i++)
        io->redir[i] = devrec_get64(&rec);
}

const struct dev_type vioapic_type = {
    .name = "ioapic",
    .id = DEV_ID_IOAPIC,
    .version = 1,
    .record_size = REC_SIZE,
    .state_size = sizeof(struct vioapic),
    .create = vioapic_create,
    .reset = vioapic_reset,
    .save = vioapic_save,
    .check = vioapic_check,
    .load = vioapic_load,
};
