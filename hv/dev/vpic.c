/* The dual 8259A and the ELCR; see hv/dev/vpic.h (and the 8259A datasheet's command words). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"
#include "hv/dev/vpic.h"

#define CHIP_REC 12
#define REC_SIZE (2 * CHIP_REC)
#define CASCADE_IR 2
/* PIIX3: IRQ 0, 1, 2, 8 and 13 are edge-triggered whatever the ELCR says. */
static const uint8_t elcr_mask[2] = { 0xf8, 0xde };

static struct vpic *pic_of(const struct device *d) { return d->state; }

/* 0 is the highest priority; after a rotation the IR just served (`lowest`) is the lowest. */
static unsigned prio(const struct vpic_chip *c, unsigned ir) { return (ir - c->lowest - 1) & 7; }

/* The IR in mask with the highest priority, or -1. */
static int highest(const struct vpic_chip *c, uint8_t mask)
{
    for (unsigned p = 0; p < 8; p++) {
        unsigned ir = (c->lowest + 1 + p) & 7;
        if (mask & (1u << ir))
            return (int)ir;
    }
    return -1;
}

static bool level_mode(const struct vpic_chip *c, unsigned ir)
{
    return c->ltim || (c->elcr & (1u << ir));
}

/* The request this chip would put on INT, or -1: the highest unmasked one that outranks
 * everything in service (special mask mode ignores masked ISR bits; special fully nested
 * lets a slave's request through while its cascade input is in service). */
static int chip_request(const struct vpic_chip *c, bool master)
{
    int p = highest(c, c->irr & ~c->imr);
    if (p < 0)
        return -1;
    uint8_t isr = c->isr;
    if (c->special_mask)
        isr &= ~c->imr;
    if (master && c->sfnm)
        isr &= ~(1u << CASCADE_IR);
    int s = highest(c, isr);
    return s < 0 || prio(c, (unsigned)p) < prio(c, (unsigned)s) ? p : -1;
}

static void set_input(struct vpic_chip *c, unsigned ir, bool level)
{
    uint8_t m = (uint8_t)(1u << ir);
    if (level_mode(c, ir))
        c->irr = level ? c->irr | m : c->irr & ~m;
    else if (level && !(c->level & m))
        c->irr |= m;                            /* a rising edge; it stays until acknowledged */
    c->level = level ? c->level | m : c->level & ~m;
}

/* The slave's INT drives the master's IR2; then tell the platform if INT is up. */
static void update(struct device *d)
{
    struct vpic *p = pic_of(d);
    if (!p->chip[0].single)
        set_input(&p->chip[0], CASCADE_IR, chip_request(&p->chip[1], false) >= 0);
    if (chip_request(&p->chip[0], true) >= 0)
        dev_intr_changed(d);
}

bool vpic_intr(const struct device *d) { return chip_request(&pic_of(d)->chip[0], true) >= 0; }

static void ack_chip(struct vpic_chip *c, unsigned ir)
{
    if (c->aeoi) {
        if (c->rotate_aeoi)
            c->lowest = (uint8_t)ir;
    } else {
        c->isr |= (uint8_t)(1u << ir);
    }
    if (!level_mode(c, ir))
        c->irr &= (uint8_t)~(1u << ir);
}

uint8_t vpic_ack(struct device *d)
{
    struct vpic *p = pic_of(d);
    struct vpic_chip *m = &p->chip[0], *s = &p->chip[1];
    int ir = chip_request(m, true);
    uint8_t vec;
    if (ir < 0) {
        vec = m->base + 7;                      /* spurious: no ISR bit */
    } else if (ir == CASCADE_IR && !m->single) {
        ack_chip(m, CASCADE_IR);
        int sr = chip_request(s, false);
        if (sr < 0) {
            vec = s->base + 7;
        } else {
            ack_chip(s, (unsigned)sr);
            vec = s->base + (uint8_t)sr;
        }
    } else {
        ack_chip(m, (unsigned)ir);
        vec = m->base + (uint8_t)ir;
    }
    update(d);
    return vec;
}

static void sink(struct device *d, unsigned line, bool level)
{
    struct vpic *p = pic_of(d);
    if (line >= 16 || (line == CASCADE_IR && !p->chip[0].single))
        return;                                 /* IR2 is the cascade; ISA IRQ 2 is IRQ 9 */
    set_input(&p->chip[line / 8], line % 8, level);
    update(d);
}

static void icw1(struct vpic_chip *c, uint8_t v)
{
    c->icw4 = v & 1;
    c->single = v & 2;
    c->ltim = v & 8;
    c->imr = 0;
    c->isr = 0;
    c->lowest = 7;
    c->special_mask = false;
    c->read_isr = false;
    c->poll = false;
    /* The edge sense latches reset: an edge input needs a new low-to-high transition. */
    c->irr = c->ltim ? c->level : c->level & c->elcr;
    if (!c->icw4)
        c->aeoi = c->sfnm = false;
    c->init = 1;
}

static void ocw2(struct vpic_chip *c, uint8_t v)
{
    unsigned ir = v & 7;
    int s;
    switch (v >> 5) {
    case 0: c->rotate_aeoi = false; break;
    case 4: c->rotate_aeoi = true; break;
    case 1:                                      /* non-specific EOI */
    case 5:                                      /* ... and rotate */
        s = highest(c, c->isr);
        if (s >= 0) {
            c->isr &= (uint8_t)~(1u << s);
            if (v >> 5 == 5)
                c->lowest = (uint8_t)s;
        }
        break;
    case 3:                                      /* specific EOI */
    case 7:                                      /* ... and rotate */
        c->isr &= (uint8_t)~(1u << ir);
        if (v >> 5 == 7)
            c->lowest = (uint8_t)ir;
        break;
    case 6: c->lowest = (uint8_t)ir; break;      /* set priority */
    default: break;                              /* 2: no operation */
    }
}

static void data_write(struct vpic_chip *c, uint8_t v)
{
    switch (c->init) {
    case 1:
        c->base = v & 0xf8;
        c->init = c->single ? (c->icw4 ? 3 : 0) : 2;
        break;
    case 2:                                      /* ICW3: the cascade wiring is fixed */
        c->init = c->icw4 ? 3 : 0;
        break;
    case 3:
        c->aeoi = v & 2;
        c->sfnm = v & 0x10;
        c->init = 0;
        break;
    default:
        c->imr = v;
        break;
    }
}

/* OCW3's poll: the read acknowledges the highest request on this chip, 0x80 | IR, or 0. */
static uint8_t poll_read(struct vpic_chip *c, bool master)
{
    int ir = chip_request(c, master);
    if (ir < 0)
        return 0;
    ack_chip(c, (unsigned)ir);
    return (uint8_t)(0x80 | ir);
}

static int chip_io(struct device *d, unsigned n, uint64_t off, bool write, unsigned size,
                   uint64_t *val)
{
    struct vpic_chip *c = &pic_of(d)->chip[n];
    uint8_t v = (uint8_t)*val;
    if (size != 1 || off > 1)
        return -EINVAL;
    if (!write) {
        if (off == 1)
            *val = c->imr;
        else if (c->poll) {
            c->poll = false;
            *val = poll_read(c, n == 0);
            update(d);
        } else
            *val = c->read_isr ? c->isr : c->irr;
        return 0;
    }
    if (off == 1)
        data_write(c, v);
    else if (v & 0x10)
        icw1(c, v);
    else if (v & 0x08) {                         /* OCW3 */
        c->poll = v & 4;
        if (v & 2)
            c->read_isr = v & 1;
        if (v & 0x40)
            c->special_mask = v & 0x20;
    } else
        ocw2(c, v);
    update(d);
    return 0;
}

static int master_io(void *o, uint64_t off, bool w, unsigned sz, uint64_t *v)
{
    return chip_io(o, 0, off, w, sz, v);
}

static int slave_io(void *o, uint64_t off, bool w, unsigned sz, uint64_t *v)
{
    return chip_io(o, 1, off, w, sz, v);
}

static int elcr_io(void *o, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    struct device *d = o;
    struct vpic_chip *c = &pic_of(d)->chip[off & 1];
    if (size != 1 || off > 1)
        return -EINVAL;
    if (!write) {
        *val = c->elcr;
        return 0;
    }
    c->elcr = (uint8_t)*val & elcr_mask[off];
    /* A line that became level-triggered requests while it is high. */
    c->irr = (uint8_t)((c->irr & ~c->elcr) | (c->level & c->elcr));
    update(d);
    return 0;
}

static void chip_reset(struct vpic_chip *c)
{
    memset(c, 0, sizeof(*c));
    c->lowest = 7;
}

static void vpic_reset(struct device *d)
{
    chip_reset(&pic_of(d)->chip[0]);
    chip_reset(&pic_of(d)->chip[1]);
}

static int vpic_create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    const struct vpic_cfg *c = cfg;
    uint16_t m = c ? c->master : VPIC_MASTER, s = c ? c->slave : VPIC_SLAVE;
    uint16_t e = c ? c->elcr : VPIC_ELCR;
    int rc = dev_claim_pio(d, m, 2, master_io);
    if (!rc)
        rc = dev_claim_pio(d, s, 2, slave_io);
    if (!rc)
        rc = dev_claim_pio(d, e, 2, elcr_io);
    if (!rc)
        rc = dev_irq_sink(d, sink);
    if (rc) {
        snprintf(err, errlen, "pic: ports 0x%x, 0x%x or 0x%x %s", m, s, e,
                 rc == -EBUSY ? "are taken" : "cannot be claimed");
        return rc;
    }
    vpic_reset(d);
    return 0;
}

static uint16_t flags_of(const struct vpic_chip *c)
{
    return (uint16_t)(c->icw4 | c->single << 1 | c->ltim << 2 | c->aeoi << 3 |
                      c->rotate_aeoi << 4 | c->sfnm << 5 | c->read_isr << 6 | c->poll << 7 |
                      c->special_mask << 8);
}

/* Per chip: irr, isr, imr, level, elcr, base, lowest, init, flags u16, two zero bytes. */
static void vpic_save(const struct device *d, uint8_t *rec)
{
    for (unsigned i = 0; i < 2; i++) {
        const struct vpic_chip *c = &pic_of(d)->chip[i];
        devrec_put8(&rec, c->irr);
        devrec_put8(&rec, c->isr);
        devrec_put8(&rec, c->imr);
        devrec_put8(&rec, c->level);
        devrec_put8(&rec, c->elcr);
        devrec_put8(&rec, c->base);
        devrec_put8(&rec, c->lowest);
        devrec_put8(&rec, c->init);
        devrec_put16(&rec, flags_of(c));
        devrec_put16(&rec, 0);
    }
}

static int vpic_check(const struct device *d, const uint8_t *rec, char *why, size_t n)
{
    (void)d;
    for (unsigned i = 0; i < 2; i++, rec += CHIP_REC) {
        const uint8_t *r = rec + 8;
        uint16_t flags = devrec_get16(&r), pad = devrec_get16(&r);
        if ((rec[4] & ~elcr_mask[i]) || (rec[5] & 7) || rec[6] > 7 || rec[7] > 3 ||
            (flags & ~0x1ffu) || pad) {
            snprintf(why, n, "%s: elcr 0x%x, base 0x%x, lowest %u, init %u, flags 0x%x out of "
                     "range", i ? "slave" : "master", rec[4], rec[5], rec[6], rec[7], flags);
            return -EINVAL;
        }
    }
    return 0;
}

static void vpic_load(struct device *d, const uint8_t *rec)
{
    for (unsigned i = 0; i < 2; i++) {
        struct vpic_chip *c = &pic_of(d)->chip[i];
        c->irr = devrec_get8(&rec);
        c->isr = devrec_get8(&rec);
        c->imr = devrec_get8(&rec);
        c->level = devrec_get8(&rec);
        c->elcr = devrec_get8(&rec);
        c->base = devrec_get8(&rec);
        c->lowest = devrec_get8(&rec);
        c->init = devrec_get8(&rec);
        uint16_t f = devrec_get16(&rec);
        (void)devrec_get16(&rec);
        c->icw4 = f & 1, c->single = f & 2, c->ltim = f & 4, c->aeoi = f & 8;
        c->rotate_aeoi = f & 16, c->sfnm = f & 32, c->read_isr = f & 64, c->poll = f & 128;
        c->special_mask = f & 256;
    }
}

const struct dev_type vpic_type = {
    .name = "pic8259",
    .id = DEV_ID_PIC,
    .version = 1,
    .record_size = REC_SIZE,
    .state_size = sizeof(struct vpic),
    .create = vpic_create,
    .reset = vpic_reset,
    .save = vpic_save,
    .check = vpic_check,
    .load = vpic_load,
};
