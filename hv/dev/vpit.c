/* The 8254 PIT and port 0x61; see hv/dev/vpit.h (and the 8254 datasheet's mode descriptions). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"
#include "hv/dev/vpit.h"

#define RW_LATCH 0
#define RW_LSB   1
#define RW_MSB   2
#define RW_LOHI  3
#define CH_REC   20
#define REC_SIZE (3 * CH_REC + 4)
#define REFRESH_NS 15085ull             /* port 0x61 bit 4 toggles at this period */

static struct vpit *pit(void *opaque) { return ((struct device *)opaque)->state; }

static uint64_t ticks_between(uint64_t from, uint64_t to)
{
    return to > from ? (uint64_t)((unsigned __int128)(to - from) * VPIT_HZ / 1000000000u) : 0;
}

static uint64_t elapsed(const struct vpit_channel *c, uint64_t now)
{
    if (!c->armed)
        return 0;
    return c->held + (c->running ? ticks_between(c->start_ns, now) : 0);
}

static uint32_t modulus(const struct vpit_channel *c) { return c->bcd ? 10000 : 65536; }

/* A written BCD count in binary; a digit above 9 counts as 9 (the chip's result is undefined). */
static uint32_t from_bcd(uint32_t v)
{
    uint32_t n = 0;
    for (int shift = 12; shift >= 0; shift -= 4) {
        uint32_t d = (v >> shift) & 15;
        n = n * 10 + (d > 9 ? 9 : d);
    }
    return n;
}

static uint16_t to_bcd(uint32_t v)
{
    return (uint16_t)(v % 10 | (v / 10 % 10) << 4 | (v / 100 % 10) << 8 | (v / 1000 % 10) << 12);
}

/* The counting element and OUT after t ticks in the channel's mode. */
static void state_at(const struct vpit_channel *c, uint64_t t, uint32_t *count, bool *out)
{
    uint32_t n = c->reload, m = modulus(c);
    if (!c->armed) {
        *count = 0;
        *out = c->mode != 0;                 /* mode 0 drives OUT low once programmed */
        return;
    }
    switch (c->mode) {
    case 2: {
        uint32_t p = n < 2 ? 2 : n, phase = (uint32_t)(t % p);
        *count = p - phase;
        *out = *count != 1;
        break;
    }
    case 3: {
        uint32_t p = n < 2 ? 2 : n, hi = (p + 1) / 2, phase = (uint32_t)(t % p);
        *out = phase < hi;
        *count = p - 2 * (phase < hi ? phase : phase - hi);
        break;
    }
    default:                                 /* 0, 1, 4, 5: one count down, then wrap */
        *count = (uint32_t)((n + m - t % m) % m);
        if (c->mode == 0 || c->mode == 1)
            *out = t >= n;
        else
            *out = t != n;                   /* 4, 5: a one-tick strobe at terminal count */
        if (c->mode == 1 || c->mode == 5)
            *out = c->running || c->held ? *out : true;
        break;
    }
}

static uint16_t shown(const struct vpit_channel *c, uint32_t count)
{
    count %= modulus(c);
    return c->bcd ? to_bcd(count) : (uint16_t)count;
}

static uint8_t status_of(const struct vpit_channel *c, uint64_t now)
{
    uint32_t count;
    bool out;
    state_at(c, elapsed(c, now), &count, &out);
    return (uint8_t)((out ? 0x80 : 0) | (c->armed ? 0 : 0x40) | c->rw << 4 | c->mode << 1 |
                     c->bcd);
}

/* Counting starts when a count is written (modes 0, 2, 3, 4, gate permitting) or at the gate's
 * rising edge (1, 5; and 2, 3 restart there). Only channel 2 has a gate under guest control. */
static void restart(struct vpit_channel *c, bool gate, uint64_t now)
{
    c->held = 0;
    c->start_ns = now;
    c->running = gate && c->mode != 1 && c->mode != 5;
}

static void set_gate(struct vpit_channel *c, bool was, bool gate, uint64_t now)
{
    if (!c->armed || was == gate)
        return;
    if (!gate) {                             /* 0, 4 hold; 2, 3 stop and reload later */
        c->held = (c->mode == 2 || c->mode == 3) ? 0 : elapsed(c, now);
        c->running = false;
        return;
    }
    if (c->mode == 0 || c->mode == 4) {
        c->start_ns = now;                   /* resume where it was held */
        c->running = true;
        return;
    }
    c->held = 0;                             /* 1, 2, 3, 5: the rising edge (re)triggers */
    c->start_ns = now;
    c->running = true;
}

static void write_count(struct vpit *p, unsigned i, uint8_t v, uint64_t now)
{
    struct vpit_channel *c = &p->ch[i];
    uint32_t n;
    switch (c->rw) {
    case RW_LSB: n = v; break;
    case RW_MSB: n = (uint32_t)v << 8; break;
    case RW_LOHI:
        if (!c->write_msb) {
            c->lsb = v;
            c->write_msb = true;
            return;
        }
        c->write_msb = false;
        n = c->lsb | (uint32_t)v << 8;
        break;
    default:
        return;                              /* not programmed: the write goes nowhere */
    }
    if (c->bcd)
        n = from_bcd(n);
    c->reload = n ? n : modulus(c);
    c->armed = true;
    restart(c, i != 2 || p->gate2, now);
    if (i == 0)
        p->irq_seen = 0;
}

static uint8_t read_count(struct vpit *p, unsigned i, uint64_t now)
{
    struct vpit_channel *c = &p->ch[i];
    if (c->status_latched) {
        c->status_latched = false;
        return c->status;
    }
    uint16_t v;
    if (c->latched) {
        v = c->latch;
    } else {
        uint32_t count;
        bool out;
        state_at(c, elapsed(c, now), &count, &out);
        v = shown(c, count);
    }
    bool msb;
    switch (c->rw) {
    case RW_MSB: msb = true; break;
    case RW_LOHI:
        msb = c->latched ? c->latch_msb : c->read_msb;
        if (c->latched)
            c->latch_msb = !msb;
        else
            c->read_msb = !msb;
        break;
    default: msb = false; break;
    }
    if (c->latched && (c->rw != RW_LOHI || msb))
        c->latched = false;                  /* a latch is read once */
    return msb ? (uint8_t)(v >> 8) : (uint8_t)v;
}

static void latch_count(struct vpit_channel *c, uint64_t now)
{
    uint32_t count;
    bool out;
    if (c->latched)
        return;                              /* the first latch holds until read */
    state_at(c, elapsed(c, now), &count, &out);
    c->latch = shown(c, count);
    c->latched = true;
    c->latch_msb = false;
}

static void control(struct vpit *p, uint8_t v, uint64_t now)
{
    unsigned sc = v >> 6, rw = (v >> 4) & 3;
    if (sc == 3) {                           /* read-back: bit 5 = 0 latches counts, 4 status */
        for (unsigned i = 0; i < 3; i++) {
            if (!(v & (2u << i)))
                continue;
            if (!(v & 0x20))
                latch_count(&p->ch[i], now);
            if (!(v & 0x10) && !p->ch[i].status_latched) {
                p->ch[i].status = status_of(&p->ch[i], now);
                p->ch[i].status_latched = true;
            }
        }
        return;
    }
    struct vpit_channel *c = &p->ch[sc];
    if (rw == RW_LATCH) {
        latch_count(c, now);
        return;
    }
    memset(c, 0, sizeof(*c));
    if (sc == 0)
        p->irq_seen = 0;
    c->rw = (uint8_t)rw;
    c->mode = (uint8_t)((v >> 1) & 7);
    if (c->mode > 5)
        c->mode -= 4;                        /* 6 and 7 are 2 and 3 */
    c->bcd = v & 1;
}

static int pit_io(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    struct vpit *p = pit(opaque);
    uint64_t now = dev_now_ns(opaque);
    if (size != 1 || off > 3)
        return -EINVAL;
    if (off == 3) {
        if (write)
            control(p, (uint8_t)*val, now);
        else
            *val = 0xff;                     /* the control word is write-only */
        return 0;
    }
    if (write)
        write_count(p, (unsigned)off, (uint8_t)*val, now);
    else
        *val = read_count(p, (unsigned)off, now);
    return 0;
}

static int port61_io(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    struct vpit *p = pit(opaque);
    uint64_t now = dev_now_ns(opaque);
    if (size != 1 || off)
        return -EINVAL;
    if (write) {
        bool gate = *val & 1;
        set_gate(&p->ch[2], p->gate2, gate, now);
        p->gate2 = gate;
        p->speaker = *val & 2;
        return 0;
    }
    uint32_t count;
    bool out;
    state_at(&p->ch[2], elapsed(&p->ch[2], now), &count, &out);
    *val = (p->gate2 ? 1 : 0) | (p->speaker ? 2 : 0) | ((now / REFRESH_NS) & 1) << 4 |
           (out ? 0x20 : 0);
    return 0;
}

/* The number of rising edges of channel 0's OUT after t ticks, and the tick of the next one
 * (0: none to come). Modes 2 and 3 rise once a period; 0 at the terminal count; 4 after its
 * strobe; 1 and 5 never run on channel 0 (its gate never rises). */
static uint64_t edges_at(const struct vpit_channel *c, uint64_t t, uint64_t *next)
{
    uint64_t n = c->reload, per = n < 2 ? 2 : n, at = c->mode == 4 ? n + 1 : n;
    if (c->mode == 2 || c->mode == 3) {
        *next = (t / per + 1) * per;
        return t / per;
    }
    if (c->mode == 0 || c->mode == 4) {
        *next = t >= at ? 0 : at;
        return t >= at;
    }
    *next = 0;
    return 0;
}

/* Guest time of tick `tick` of a running channel (the first ns at which it has passed). */
static uint64_t ns_of_tick(const struct vpit_channel *c, uint64_t tick)
{
    uint64_t ticks = tick > c->held ? tick - c->held : 0;
    return c->start_ns + (uint64_t)(((unsigned __int128)ticks * 1000000000u + VPIT_HZ - 1) /
                                    VPIT_HZ);
}

static uint64_t vpit_poll(struct device *d, uint64_t now)
{
    struct vpit *p = d->state;
    const struct vpit_channel *c = &p->ch[0];
    uint64_t next;
    if (!c->armed || !c->running)
        return 0;
    uint64_t edges = edges_at(c, elapsed(c, now), &next);
    if (edges > p->irq_seen) {
        p->irq_seen = edges;
        dev_irq_pulse(d, p->irq);
    }
    return next ? ns_of_tick(c, next) : 0;
}

static int vpit_create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    const struct vpit_cfg *c = cfg;
    ((struct vpit *)d->state)->irq = c ? c->irq : 0;
    uint16_t port = c ? c->port : VPIT_PORT, p61 = c ? c->port61 : VPIT_PORT61;
    int rc = dev_claim_pio(d, port, 4, pit_io);
    if (!rc)
        rc = dev_claim_pio(d, p61, 1, port61_io);
    if (rc)
        snprintf(err, errlen, "pit: ports 0x%x-0x%x or 0x%x %s", port, port + 3, p61,
                 rc == -EBUSY ? "are taken" : "cannot be claimed");
    return rc;
}

static void vpit_reset(struct device *d)
{
    struct vpit *p = d->state;
    uint8_t irq = p->irq;
    memset(p, 0, sizeof(*p));
    p->irq = irq;
}

static uint8_t flags_of(const struct vpit_channel *c)
{
    return (uint8_t)(c->armed | c->running << 1 | c->write_msb << 2 | c->read_msb << 3 |
                     c->latched << 4 | c->status_latched << 5 | c->latch_msb << 6);
}

/* Per channel: reload u32, mode, rw, bcd, flags, latch u16, status, lsb, elapsed ticks u64. */
static void vpit_save(const struct device *d, uint8_t *rec)
{
    const struct vpit *p = d->state;
    uint64_t now = dev_now_ns(d);
    for (unsigned i = 0; i < 3; i++) {
        const struct vpit_channel *c = &p->ch[i];
        devrec_put32(&rec, c->reload);
        devrec_put8(&rec, c->mode);
        devrec_put8(&rec, c->rw);
        devrec_put8(&rec, c->bcd);
        devrec_put8(&rec, flags_of(c));
        devrec_put16(&rec, c->latch);
        devrec_put8(&rec, c->status);
        devrec_put8(&rec, c->lsb);
        devrec_put64(&rec, elapsed(c, now));
    }
    devrec_put8(&rec, (uint8_t)(p->gate2 | p->speaker << 1));
    /* Version 2: an edge of channel 0 that happened but was not polled yet is still owed. */
    uint64_t next;
    const struct vpit_channel *c0 = &p->ch[0];
    bool owed = c0->armed && edges_at(c0, elapsed(c0, now), &next) > p->irq_seen;
    devrec_put8(&rec, owed);
    devrec_put16(&rec, 0);
}

static int vpit_check(const struct device *d, const uint8_t *rec, char *why, size_t n)
{
    (void)d;
    for (unsigned i = 0; i < 3; i++) {
        uint32_t reload = devrec_get32(&rec);
        uint8_t mode = devrec_get8(&rec), rw = devrec_get8(&rec), bcd = devrec_get8(&rec);
        uint8_t flags = devrec_get8(&rec);
        rec += 2 + 1 + 1 + 8;
        if (mode > 5 || rw > 3 || bcd > 1 || (flags & 0x80) || reload > (bcd ? 10000u : 65536u) ||
            ((flags & 1) && !reload)) {
            snprintf(why, n, "channel %u: mode %u, access %u, bcd %u, flags 0x%x, reload %u out "
                     "of range", i, mode, rw, bcd, flags, reload);
            return -EINVAL;
        }
    }
    if (devrec_get8(&rec) & ~3u || devrec_get8(&rec) > 1 || devrec_get16(&rec)) {
        snprintf(why, n, "port 0x61 or IRQ 0 reserved bits set");
        return -EINVAL;
    }
    return 0;
}

static void vpit_load(struct device *d, const uint8_t *rec)
{
    struct vpit *p = d->state;
    uint64_t now = dev_now_ns(d);
    for (unsigned i = 0; i < 3; i++) {
        struct vpit_channel *c = &p->ch[i];
        c->reload = devrec_get32(&rec);
        c->mode = devrec_get8(&rec);
        c->rw = devrec_get8(&rec);
        c->bcd = devrec_get8(&rec);
        uint8_t f = devrec_get8(&rec);
        c->armed = f & 1, c->running = f & 2, c->write_msb = f & 4, c->read_msb = f & 8;
        c->latched = f & 16, c->status_latched = f & 32, c->latch_msb = f & 64;
        c->latch = devrec_get16(&rec);
        c->status = devrec_get8(&rec);
        c->lsb = devrec_get8(&rec);
        c->held = devrec_get64(&rec);        /* counting goes on from here on this host */
        c->start_ns = now;
    }
    uint8_t b = devrec_get8(&rec), owed = devrec_get8(&rec);
    p->gate2 = b & 1;
    p->speaker = b & 2;
    /* The edges before the save were delivered on the source, but for one it still owed. */
    uint64_t next, edges = edges_at(&p->ch[0], elapsed(&p->ch[0], now), &next);
    p->irq_seen = edges && owed ? edges - 1 : edges;
}

const struct dev_type vpit_type = {
    .name = "pit8254",
    .id = DEV_ID_PIT,
    .version = 2,
    .record_size = REC_SIZE,
    .state_size = sizeof(struct vpit),
    .create = vpit_create,
    .reset = vpit_reset,
    .save = vpit_save,
    .check = vpit_check,
    .load = vpit_load,
    .poll = vpit_poll,
};
