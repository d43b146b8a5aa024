/* The local APICs (xAPIC by MMIO, x2APIC by MSRs); see hv/dev/vlapic.h and Intel SDM Vol. 3A
 * chapter 11. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"
#include "hv/dev/vlapic.h"

#define SVR_ENABLE   0x100u              /* 11.9: APIC software enable */
#define SVR_MASK     0x3ffu              /* vector, enable, focus check (no EOI suppression) */
#define LVT_MASKED   0x10000u
#define LVT_TMODE    0x60000u            /* timer mode, bits 18:17 */
#define ICR_LO_MASK  0x000ccfffu         /* vector, mode, dest mode, level, trigger, shorthand */
#define ICR_LEVEL    0x4000u             /* assert (1) / de-assert (0) */
#define ICR_LOGICAL  0x800u
#define ESR_SEND_ILLEGAL 0x20u           /* 11.5.3 */
#define ESR_RECV_ILLEGAL 0x40u
#define ESR_ILLEGAL_REG  0x80u
#define X2_BROADCAST     0xffffffffu     /* x2APIC physical destination "everyone" (11.12.10) */

enum { TM_ONESHOT, TM_PERIODIC, TM_DEADLINE };
enum { DM_FIXED, DM_LOWEST, DM_SMI, DM_RSVD, DM_NMI, DM_INIT, DM_SIPI, DM_EXTINT };
enum { SH_NONE, SH_SELF, SH_ALL, SH_ALL_BUT_SELF };

/* Figure 11-8: the bits software can write in each LVT entry (delivery status reads 0). */
static const uint32_t lvt_bits[VLAPIC_LVT_N] = {
    [VLAPIC_LVT_CMCI] = 0x107ff,  [VLAPIC_LVT_TIMER] = 0x700ff, [VLAPIC_LVT_THERMAL] = 0x107ff,
    [VLAPIC_LVT_PERF] = 0x107ff,  [VLAPIC_LVT_LINT0] = 0x1a7ff, [VLAPIC_LVT_LINT1] = 0x1a7ff,
    [VLAPIC_LVT_ERROR] = 0x100ff,
};

#define CPU_REC  204
#define REC_SIZE (8 + VLAPIC_MAX_VCPUS * CPU_REC)

static struct vlapic_cpu *cpu_of(struct device *d, unsigned vcpu)
{
    struct vlapic *a = d->state;
    return vcpu < a->n ? &a->cpu[vcpu] : NULL;
}

static const struct vlapic_cpu *ccpu_of(const struct device *d, unsigned vcpu)
{
    const struct vlapic *a = d->state;
    return vcpu < a->n ? &a->cpu[vcpu] : NULL;
}

static bool bit_get(const uint32_t *r, unsigned v) { return r[v >> 5] >> (v & 31) & 1; }
static void bit_set(uint32_t *r, unsigned v) { r[v >> 5] |= 1u << (v & 31); }
static void bit_clr(uint32_t *r, unsigned v) { r[v >> 5] &= ~(1u << (v & 31)); }

static int highest(const uint32_t *r)
{
    for (int i = 7; i >= 0; i--)
        if (r[i])
            return i * 32 + 31 - __builtin_clz(r[i]);
    return -1;
}

static bool sw_enabled(const struct vlapic_cpu *c) { return c->svr & SVR_ENABLE; }

/* 11.8.3.1: the class is the higher of TPR's and the highest in-service vector's; with equal
 * classes (model-specific) this APIC keeps the TPR's sub-class. */
static uint32_t ppr_of(const struct vlapic_cpu *c)
{
    int isrv = highest(c->isr);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
    return (c->tpr & 0xf0) >= isr_class ? c->tpr & 0xff : isr_class;
}

/* 11.6.2.4 (figure 11-15): the arbitration priority. */
static uint32_t apr_of(const struct vlapic_cpu *c)
{
    int isrv = highest(c->isr), irrv = highest(c->irr);
    uint32_t t = c->tpr & 0xf0, s = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
    uint32_t r = irrv < 0 ? 0 : (uint32_t)irrv & 0xf0;
    if (t >= r && t > s)
        return c->tpr & 0xff;
    uint32_t m = t > s ? t : s;
    return m > r ? m : r;
}

/* 11.12.10.2: an x2APIC's logical ID, derived from its x2APIC ID (cluster, bit in it). */
static uint32_t x2_ldr(unsigned id) { return (id >> 4) << 16 | 1u << (id & 15); }

/* 11.4.7.1: the power-on state (an INIT leaves the same, the ID being the index anyway). */
static void reset_cpu(struct vlapic *a, unsigned i, bool firmware)
{
    struct vlapic_cpu *c = &a->cpu[i];
    memset(c, 0, sizeof(*c));
    c->dfr = 0xffffffffu;
    c->svr = 0xff;
    for (unsigned k = 0; k < VLAPIC_LVT_N; k++)
        c->lvt[k] = LVT_MASKED;
    if (firmware && i == 0) {            /* MP spec 3.6.2.2: virtual wire mode */
        c->svr = 0x1ff;
        c->lvt[VLAPIC_LVT_LINT0] = DM_EXTINT << 8;
        c->lvt[VLAPIC_LVT_LINT1] = DM_NMI << 8;
    }
}

static void kick(struct device *d, unsigned vcpu)
{
    if (vcpu != dev_vcpu(d))
        dev_vcpu_kick(d, vcpu);
}

/* 11.5.3: an error is logged once until the next ESR write, and raises the LVT error vector. */
static void log_error(struct device *d, unsigned vcpu, uint32_t bit)
{
    struct vlapic_cpu *c = cpu_of(d, vcpu);
    if (c->esr_pending & bit)
        return;
    c->esr_pending |= bit;
    if (!(c->lvt[VLAPIC_LVT_ERROR] & LVT_MASKED))
        (void)vlapic_accept(d, vcpu, (uint8_t)c->lvt[VLAPIC_LVT_ERROR], false);
}

int vlapic_accept(struct device *d, unsigned vcpu, uint8_t vector, bool level)
{
    struct vlapic_cpu *c = cpu_of(d, vcpu);
    if (!c)
        return -EINVAL;
    if (c->hw_disabled || !sw_enabled(c))
        return -EPERM;                   /* 11.4.7.2: a disabled APIC takes no fixed ones */
    if (vector < 16) {
        log_error(d, vcpu, ESR_RECV_ILLEGAL);
        return -EPERM;
    }
    bit_set(c->irr, vector);
    if (level)
        bit_set(c->tmr, vector);
    else
        bit_clr(c->tmr, vector);
    kick(d, vcpu);
    return 0;
}

int vlapic_pending(const struct device *d, unsigned vcpu)
{
    const struct vlapic_cpu *c = ccpu_of(d, vcpu);
    if (!c || c->hw_disabled)
        return -1;
    int v = highest(c->irr);
    if (v < 0 || ((uint32_t)v & 0xf0) <= (ppr_of(c) & 0xf0))
        return -1;
    return v;
}

int vlapic_ack(struct device *d, unsigned vcpu)
{
    int v = vlapic_pending(d, vcpu);
    if (v >= 0) {
        struct vlapic_cpu *c = cpu_of(d, vcpu);
        bit_clr(c->irr, (unsigned)v);
        bit_set(c->isr, (unsigned)v);
    }
    return v;
}

int vlapic_eoi(struct device *d, unsigned vcpu, bool *level)
{
    struct vlapic *a = d->state;
    struct vlapic_cpu *c = cpu_of(d, vcpu);
    bool lvl = false;
    int v = c ? highest(c->isr) : -1;
    if (v >= 0) {
        bit_clr(c->isr, (unsigned)v);
        lvl = bit_get(c->tmr, (unsigned)v);
        if (lvl && a->eoi_level)
            a->eoi_level(d, vcpu, (uint8_t)v);
    }
    if (level)
        *level = lvl;
    return v;
}

bool vlapic_take_events(struct device *d, unsigned vcpu, struct vlapic_events *ev)
{
    struct vlapic_cpu *c = cpu_of(d, vcpu);
    memset(ev, 0, sizeof(*ev));
    if (!c)
        return false;
    ev->nmi = c->nmi;
    ev->init = c->init;
    ev->sipi = c->sipi;
    ev->sipi_vector = c->sipi_vector;
    c->nmi = c->init = c->sipi = false;
    c->sipi_vector = 0;
    return ev->nmi || ev->init || ev->sipi;
}

bool vlapic_extint_enabled(const struct device *d, unsigned vcpu)
{
    const struct vlapic_cpu *c = ccpu_of(d, vcpu);
    if (!c)
        return false;
    if (c->hw_disabled)
        return true;
    uint32_t l = c->lvt[VLAPIC_LVT_LINT0];
    return sw_enabled(c) && !(l & LVT_MASKED) && (l >> 8 & 7) == DM_EXTINT;
}

enum vlapic_mode vlapic_get_mode(const struct device *d, unsigned vcpu)
{
    const struct vlapic_cpu *c = ccpu_of(d, vcpu);
    return !c || c->hw_disabled ? VLAPIC_DISABLED : c->x2apic ? VLAPIC_X2APIC : VLAPIC_XAPIC;
}

int vlapic_set_mode(struct device *d, unsigned vcpu, enum vlapic_mode m)
{
    struct vlapic *a = d->state;
    struct vlapic_cpu *c = cpu_of(d, vcpu);
    if (!c || (unsigned)m > VLAPIC_X2APIC)
        return -EINVAL;
    enum vlapic_mode old = vlapic_get_mode(d, vcpu);
    if (m == old)
        return 0;
    /* 11.12.5: x2APIC -> xAPIC and disabled -> x2APIC go through the other state, or #GP. */
    if ((old == VLAPIC_X2APIC && m == VLAPIC_XAPIC) ||
        (old == VLAPIC_DISABLED && m == VLAPIC_X2APIC))
        return -EPERM;
    if (m == VLAPIC_DISABLED) {
        bool nmi = c->nmi, init = c->init, sipi = c->sipi;
        uint8_t sv = c->sipi_vector;
        reset_cpu(a, vcpu, false);       /* 11.4.3: its state may be lost; here it is */
        c->nmi = nmi, c->init = init, c->sipi = sipi, c->sipi_vector = sv;
        c->hw_disabled = true;
    } else if (m == VLAPIC_XAPIC) {
        c->hw_disabled = false;          /* from disabled: the reset state */
    } else {
        /* xAPIC -> x2APIC (11.12.5.1): the registers stay; the logical ID becomes the one
         * derived from the x2APIC ID, the ICR's destination is the 32-bit field. */
        c->x2apic = true;
        c->ldr = x2_ldr(vcpu);
        c->icr_hi = 0;
    }
    return 0;
}

/* ---- the timer (11.5.4) ---- */

static unsigned divider(uint32_t dcr)
{
    unsigned v = (dcr & 3) | (dcr >> 1 & 4);       /* figure 11-10: bits 0, 1, 3 */
    return v == 7 ? 1 : 2u << v;
}

static unsigned tmode(const struct vlapic_cpu *c) { return c->lvt[VLAPIC_LVT_TIMER] >> 17 & 3; }
static bool counting(const struct vlapic_cpu *c) { return c->initial && tmode(c) != TM_DEADLINE; }

static uint64_t ticks_at(const struct vlapic_cpu *c, uint64_t now)
{
    if (!counting(c))
        return 0;
    return c->base_ticks + (now > c->start_ns ? now - c->start_ns : 0) / divider(c->dcr);
}

/* Expiries after n ticks: one per period, one at most for one-shot. */
static uint64_t expiries(const struct vlapic_cpu *c, uint64_t n)
{
    uint64_t e = n / c->initial;
    return tmode(c) == TM_PERIODIC ? e : e != 0;
}

static uint32_t current_count(const struct vlapic_cpu *c, uint64_t now)
{
    if (!counting(c))
        return 0;                        /* stopped, or TSC-deadline mode (always 0) */
    uint64_t n = ticks_at(c, now);
    if (tmode(c) == TM_PERIODIC)
        return c->initial - (uint32_t)(n % c->initial);
    return n >= c->initial ? 0 : c->initial - (uint32_t)n;
}

static void start_count(struct vlapic_cpu *c, uint64_t now)
{
    c->start_ns = now;
    c->base_ticks = 0;
    c->seen = 0;
}

static void fire(struct device *d, unsigned vcpu)
{
    uint32_t lvt = cpu_of(d, vcpu)->lvt[VLAPIC_LVT_TIMER];
    if (!(lvt & LVT_MASKED))
        (void)vlapic_accept(d, vcpu, (uint8_t)lvt, false);
}

static uint64_t timer_poll(struct device *d, unsigned vcpu, uint64_t now)
{
    struct vlapic_cpu *c = cpu_of(d, vcpu);
    if (tmode(c) == TM_DEADLINE) {
        if (!c->tsc_deadline)
            return 0;
        if (now < c->deadline_ns)
            return c->deadline_ns;
        c->tsc_deadline = 0;             /* 11.5.4.1: it disarms itself and clears the MSR */
        fire(d, vcpu);
        return 0;
    }
    if (!c->initial)
        return 0;
    uint64_t e = expiries(c, ticks_at(c, now));
    if (e > c->seen) {                   /* periods missed between polls make one interrupt */
        c->seen = e;
        fire(d, vcpu);
    }
    if (tmode(c) != TM_PERIODIC && c->seen)
        return 0;
    uint64_t next = (c->seen + 1) * c->initial;
    return c->start_ns + (next - c->base_ticks) * divider(c->dcr);
}

static uint64_t vlapic_poll(struct device *d, uint64_t now)
{
    struct vlapic *a = d->state;
    uint64_t soonest = 0;
    for (unsigned i = 0; i < a->n; i++) {
        uint64_t t = timer_poll(d, i, now);
        if (t && (!soonest || t < soonest))
            soonest = t;
    }
    return soonest;
}

int vlapic_tsc_deadline_write(struct device *d, unsigned vcpu, uint64_t deadline,
                              uint64_t guest_tsc_now, uint32_t tsc_khz)
{
    struct vlapic_cpu *c = cpu_of(d, vcpu);
    if (!c || !tsc_khz)
        return -EINVAL;
    if (tmode(c) != TM_DEADLINE)
        return 0;                        /* 11.5.4.1: ignored in the other modes */
    uint64_t now = dev_now_ns(d), delta = deadline > guest_tsc_now ? deadline - guest_tsc_now : 0;
    unsigned __int128 ns = ((unsigned __int128)delta * 1000000u + tsc_khz - 1) / tsc_khz;
    c->tsc_deadline = deadline;
    c->deadline_ns = ns > UINT64_MAX - now ? UINT64_MAX : now + (uint64_t)ns;
    return 0;
}

uint64_t vlapic_tsc_deadline_read(const struct device *d, unsigned vcpu)
{
    const struct vlapic_cpu *c = ccpu_of(d, vcpu);
    return c && tmode(c) == TM_DEADLINE ? c->tsc_deadline : 0;
}

/* ---- IPIs (11.6) ---- */

/*
 * 11.6.2 / 11.12.10: does APIC id (with c's LDR/DFR) take destination dest? x2 says dest is
 * an x2APIC destination (32 bits, X2_BROADCAST everyone, logical = cluster << 16 | member
 * bitmap); else it is an xAPIC one (8 bits, 0xFF everyone). An 8-bit destination for an APIC
 * in x2APIC mode (an I/O APIC message without remapping) is zero-extended, 0xFF broadcast.
 */
static bool dest_match(const struct vlapic_cpu *c, unsigned id, bool logical, uint32_t dest,
                       bool x2)
{
    if (!x2 && c->x2apic) {
        dest = dest == 0xff ? X2_BROADCAST : dest & 0xff;
        x2 = true;
    }
    if (x2) {
        if (dest == X2_BROADCAST)
            return true;
        if (!logical)
            return id == dest;
        return (c->ldr >> 16) == (dest >> 16) && (c->ldr & dest & 0xffff);
    }
    if (dest == 0xff)
        return true;
    if (!logical)
        return id == dest;
    uint8_t ldr = (uint8_t)(c->ldr >> 24);
    if ((c->dfr >> 28) == 0xf)           /* flat: a bit per APIC */
        return ldr & dest;
    return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0xf);   /* cluster, member bitmap */
}

/* True if the target took it (a disabled APIC or an illegal vector drops a fixed one). */
static bool deliver(struct device *d, unsigned t, unsigned mode, uint8_t vector, bool level)
{
    struct vlapic *a = d->state;
    struct vlapic_cpu *c = &a->cpu[t];
    switch (mode) {
    case DM_FIXED:
    case DM_LOWEST:
        return vlapic_accept(d, t, vector, level) == 0;    /* accept kicks */
    case DM_NMI:
        c->nmi = true;
        break;
    case DM_INIT: {                      /* 11.4.7.3: the APIC resets, its ID stays */
        bool nmi = c->nmi, x2 = c->x2apic;
        reset_cpu(a, t, false);
        c->nmi = nmi;
        if (x2) {                        /* 11.12.5.1: an INIT keeps x2APIC mode */
            c->x2apic = true;
            c->ldr = x2_ldr(t);
        }
        c->init = true;
        break;
    }
    case DM_SIPI:
        c->sipi = true;
        c->sipi_vector = vector;
        break;
    }
    kick(d, t);
    return true;
}

/* An IPI from the ICR: lo its low half, dest the destination (32 bits if x2). */
static void send_ipi(struct device *d, unsigned self, uint32_t lo, uint32_t dest, bool x2)
{
    struct vlapic *a = d->state;
    unsigned mode = lo >> 8 & 7, sh = lo >> 18 & 3;
    uint8_t vector = (uint8_t)lo;
    if (mode == DM_SMI || mode == DM_RSVD || mode == DM_EXTINT)
        return;                          /* no SMM; reserved; ExtINT is no IPI */
    if (mode == DM_INIT && !(lo & ICR_LEVEL))
        return;                          /* INIT level de-assert: no effect since Pentium 4 */
    if ((mode == DM_FIXED || mode == DM_LOWEST) && vector < 16) {
        log_error(d, self, ESR_SEND_ILLEGAL);
        return;
    }
    if ((sh == SH_SELF || sh == SH_ALL) && mode != DM_FIXED)
        return;                          /* table 11-3: invalid combinations */
    uint64_t targets = 0;
    for (unsigned i = 0; i < a->n; i++) {
        const struct vlapic_cpu *c = &a->cpu[i];
        bool hit;
        switch (sh) {
        case SH_SELF: hit = i == self; break;
        case SH_ALL: hit = true; break;
        case SH_ALL_BUT_SELF: hit = i != self; break;
        default: hit = dest_match(c, i, lo & ICR_LOGICAL, dest, x2); break;
        }
        if (hit && !c->hw_disabled)
            targets |= 1ull << i;
    }
    if (mode == DM_LOWEST)
        targets &= -targets;             /* no arbitration: the lowest-numbered target */
    for (unsigned i = 0; targets; i++, targets >>= 1)
        if (targets & 1)
            (void)deliver(d, i, mode, vector, false);
}

unsigned vlapic_deliver_msg(struct device *d, uint8_t dest, bool logical, unsigned mode,
                            uint8_t vector, bool level)
{
    struct vlapic *a = d->state;
    if (mode != DM_FIXED && mode != DM_LOWEST && mode != DM_NMI && mode != DM_INIT)
        return 0;                        /* SMI, reserved, SIPI and ExtINT messages: dropped */
    uint64_t targets = 0;
    for (unsigned i = 0; i < a->n; i++)
        if (!a->cpu[i].hw_disabled && dest_match(&a->cpu[i], i, logical, dest, false))
            targets |= 1ull << i;
    if (mode == DM_LOWEST)
        targets &= -targets;
    unsigned n = 0;
    for (unsigned i = 0; targets; i++, targets >>= 1)
        if ((targets & 1) &&
            deliver(d, i, mode, vector, level && (mode == DM_FIXED || mode == DM_LOWEST)))
            n++;
    return n;
}

/* ---- registers ---- */

static bool read_reg(struct device *d, unsigned vcpu, unsigned off, uint32_t *v)
{
    const struct vlapic_cpu *c = cpu_of(d, vcpu);
    if (off >= 0x100 && off < 0x280) {
        unsigned w = (off >> 4) & 7;
        *v = off < 0x180 ? c->isr[w] : off < 0x200 ? c->tmr[w] : c->irr[w];
        return true;
    }
    if (off == 0x2f0 || (off >= 0x320 && off <= 0x370)) {
        *v = c->lvt[off == 0x2f0 ? VLAPIC_LVT_CMCI : (off - 0x320) / 16 + 1];
        return true;
    }
    switch (off) {
    case 0x20: *v = vcpu << 24; return true;
    case 0x30: *v = VLAPIC_VERSION; return true;
    case 0x80: *v = c->tpr; return true;
    case 0x90: *v = apr_of(c); return true;
    case 0xa0: *v = ppr_of(c); return true;
    case 0xb0: case 0xc0: *v = 0; return true;      /* EOI is write-only; no remote read */
    case 0xd0: *v = c->ldr; return true;
    case 0xe0: *v = c->dfr; return true;
    case 0xf0: *v = c->svr; return true;
    case 0x280: *v = c->esr; return true;
    case 0x300: *v = c->icr_lo; return true;        /* delivery status: always idle */
    case 0x310: *v = c->icr_hi; return true;
    case 0x380: *v = c->initial; return true;
    case 0x390: *v = current_count(c, dev_now_ns(d)); return true;
    case 0x3e0: *v = c->dcr; return true;
    default: *v = 0; return false;
    }
}

static void write_lvt(struct vlapic_cpu *c, unsigned k, uint32_t v, uint64_t now)
{
    v &= lvt_bits[k];
    if (!sw_enabled(c))
        v |= LVT_MASKED;                 /* 11.4.7.2: they cannot be unmasked */
    if (k == VLAPIC_LVT_TIMER) {
        if ((v & LVT_TMODE) == LVT_TMODE)
            v = (v & ~LVT_TMODE) | (c->lvt[k] & LVT_TMODE);   /* mode 11b is reserved */
        if ((v ^ c->lvt[k]) & LVT_TMODE) {                    /* 11.5.4.1: disarms */
            c->initial = 0;
            c->tsc_deadline = 0;
            start_count(c, now);
        }
    }
    c->lvt[k] = v;
}

/* false: no register there (a reserved address). */
static bool write_reg(struct device *d, unsigned vcpu, unsigned off, uint32_t v)
{
    struct vlapic_cpu *c = cpu_of(d, vcpu);
    uint64_t now = dev_now_ns(d);
    if (off == 0x2f0 || (off >= 0x320 && off <= 0x370)) {
        write_lvt(c, off == 0x2f0 ? VLAPIC_LVT_CMCI : (off - 0x320) / 16 + 1, v, now);
        return true;
    }
    switch (off) {
    case 0x80: c->tpr = v & 0xff; return true;
    case 0xb0: (void)vlapic_eoi(d, vcpu, NULL); return true;
    case 0xd0: c->ldr = v & 0xff000000u; return true;
    case 0xe0: c->dfr = v | 0x0fffffffu; return true;
    case 0xf0:
        c->svr = v & SVR_MASK;
        if (!sw_enabled(c))
            for (unsigned k = 0; k < VLAPIC_LVT_N; k++)
                c->lvt[k] |= LVT_MASKED;
        return true;
    case 0x280:                          /* 11.5.3: the write latches what was logged */
        c->esr = c->esr_pending;
        c->esr_pending = 0;
        return true;
    case 0x300:
        c->icr_lo = v & ICR_LO_MASK;
        send_ipi(d, vcpu, c->icr_lo, c->icr_hi >> 24, false);
        return true;
    case 0x310: c->icr_hi = v & 0xff000000u; return true;
    case 0x380:
        if (tmode(c) != TM_DEADLINE) {   /* 11.5.4.1: ignored in TSC-deadline mode */
            c->initial = v;              /* 0 stops the timer */
            start_count(c, now);
        }
        return true;
    case 0x3e0:                          /* the count goes on at the new rate, no jump */
        c->base_ticks = ticks_at(c, now);
        c->start_ns = now;
        c->dcr = v & 0xb;
        return true;
    case 0x20: case 0x30: case 0x90: case 0xa0: case 0xc0: case 0x390:
        return true;                     /* read-only: dropped */
    default:
        return off >= 0x100 && off < 0x280;   /* ISR/TMR/IRR are read-only */
    }
}

static int lapic_mmio(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    struct device *d = opaque;
    unsigned vcpu = dev_vcpu(d);
    struct vlapic_cpu *c = cpu_of(d, vcpu);
    if (size != 4 || !c)
        return -EINVAL;                  /* 11.4.1: 32-bit accesses only */
    if (c->hw_disabled || c->x2apic || (off & 15)) {
        /* Off the bus (disabled; x2APIC mode, 11.12.2: as a disabled xAPIC), or between
         * registers. */
        if (!write)
            *val = c->hw_disabled || c->x2apic ? 0xffffffffu : 0;
        return 0;
    }
    uint32_t v = write ? (uint32_t)*val : 0;
    bool ok = write ? write_reg(d, vcpu, (unsigned)off, v) : read_reg(d, vcpu, (unsigned)off, &v);
    if (!ok)
        log_error(d, vcpu, ESR_ILLEGAL_REG);
    if (!write)
        *val = v;
    return 0;
}

/*
 * The x2APIC registers (11.12.1.2, table 11-6): MSR 0x800 + (xAPIC offset >> 4), 64 bits wide
 * (EDX:EAX). Only in x2APIC mode (11.12.2: #GP otherwise). #GP (-EINVAL) for a register the
 * table does not have (APR, the remote read, DFR, ICR high), a read of a write-only one (EOI,
 * SELF IPI), a write to a read-only one, and a write with a reserved bit set (11.12.1.3); the
 * ICR is one 64-bit register (destination in 63:32), SELF IPI sends a fixed edge vector to
 * this APIC.
 */
static int x2_read(struct device *d, unsigned vcpu, unsigned reg, uint64_t *val)
{
    const struct vlapic_cpu *c = cpu_of(d, vcpu);
    uint32_t v;
    switch (reg) {
    case 0x20: *val = vcpu; return 0;
    case 0x300: *val = (uint64_t)c->icr_hi << 32 | c->icr_lo; return 0;
    case 0x90: case 0xb0: case 0xc0: case 0xe0: case 0x310: case 0x3f0:
        return -EINVAL;
    default:
        if (!read_reg(d, vcpu, reg, &v))
            return -EINVAL;
        *val = v;
        return 0;
    }
}

static int x2_write(struct device *d, unsigned vcpu, unsigned reg, uint64_t val)
{
    struct vlapic_cpu *c = cpu_of(d, vcpu);
    if (reg == 0x300) {
        if ((uint32_t)val & ~ICR_LO_MASK)     /* 11.12.9: no delivery status either */
            return -EINVAL;
        c->icr_lo = (uint32_t)val;
        c->icr_hi = (uint32_t)(val >> 32);
        send_ipi(d, vcpu, c->icr_lo, c->icr_hi, true);
        return 0;
    }
    if (val >> 32)
        return -EINVAL;
    uint32_t v = (uint32_t)val, bad;
    if (reg == 0x2f0 || (reg >= 0x320 && reg <= 0x370)) {
        unsigned k = reg == 0x2f0 ? VLAPIC_LVT_CMCI : (reg - 0x320) / 16 + 1;
        if ((v & ~lvt_bits[k]) || (k == VLAPIC_LVT_TIMER && (v & LVT_TMODE) == LVT_TMODE))
            return -EINVAL;
        write_lvt(c, k, v, dev_now_ns(d));
        return 0;
    }
    switch (reg) {
    case 0x80: bad = v & ~0xffu; break;
    case 0xb0: case 0x280: bad = v; break;          /* EOI and ESR take 0 only */
    case 0xf0: bad = v & ~SVR_MASK; break;
    case 0x380: bad = 0; break;
    case 0x3e0: bad = v & ~0xbu; break;
    case 0x3f0:                                      /* SELF IPI */
        if (v & ~0xffu)
            return -EINVAL;
        if (v < 16)
            log_error(d, vcpu, ESR_SEND_ILLEGAL);
        else
            (void)vlapic_accept(d, vcpu, (uint8_t)v, false);
        return 0;
    default: return -EINVAL;                         /* read-only, or no register */
    }
    if (bad)
        return -EINVAL;
    (void)write_reg(d, vcpu, reg, v);
    return 0;
}

static int lapic_msr(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    struct device *d = opaque;
    unsigned vcpu = dev_vcpu(d);
    struct vlapic_cpu *c = cpu_of(d, vcpu);
    if (size != 8 || !c || c->hw_disabled || !c->x2apic || off >= VLAPIC_MSR_COUNT)
        return -EINVAL;
    unsigned reg = (unsigned)off << 4;
    return write ? x2_write(d, vcpu, reg, *val) : x2_read(d, vcpu, reg, val);
}

/* ---- the device ---- */

static void vlapic_reset(struct device *d)
{
    struct vlapic *a = d->state;
    for (unsigned i = 0; i < VLAPIC_MAX_VCPUS; i++)
        if (i < a->n)
            reset_cpu(a, i, a->bios_virtual_wire);
        else
            memset(&a->cpu[i], 0, sizeof(a->cpu[i]));
}

static int vlapic_create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    const struct vlapic_cfg *c = cfg;
    struct vlapic *a = d->state;
    unsigned n = c && c->nvcpus ? c->nvcpus : d->set->nvcpus ? d->set->nvcpus : 1;
    if (!n || n > VLAPIC_MAX_VCPUS) {
        snprintf(err, errlen, "lapic: %u vCPUs, 1..%u allowed", n, VLAPIC_MAX_VCPUS);
        return -EINVAL;
    }
    a->n = n;
    a->base = c && c->base ? c->base : VLAPIC_BASE;
    a->eoi_level = c ? c->eoi_level : NULL;
    a->bios_virtual_wire = c && c->bios_virtual_wire;
    int rc = dev_claim_mmio(d, a->base, VLAPIC_SIZE, lapic_mmio);
    if (!rc)
        rc = dev_claim_msr(d, VLAPIC_MSR_BASE, VLAPIC_MSR_COUNT, lapic_msr);
    if (rc) {
        snprintf(err, errlen, "lapic: MMIO 0x%llx-0x%llx or MSRs 0x%x-0x%x %s",
                 (unsigned long long)a->base, (unsigned long long)(a->base + VLAPIC_SIZE - 1),
                 VLAPIC_MSR_BASE, VLAPIC_MSR_BASE + VLAPIC_MSR_COUNT - 1,
                 rc == -EBUSY ? "is taken" : "cannot be claimed");
        return rc;
    }
    vlapic_reset(d);
    return 0;
}

/* ---- the record: u32 nvcpus, u32 0, then VLAPIC_MAX_VCPUS slots of CPU_REC bytes ---- */

/* Per vCPU: id, tpr, ldr, dfr, svr, esr, esr_pending, icr_lo, icr_hi, lvt[7], initial, dcr,
 * irr[8], isr[8], tmr[8] (u32 each); elapsed ticks, expiries delivered, TSC deadline, its
 * remaining ns (u64 each); flags (hw disabled, nmi, init, sipi, x2APIC mode), sipi vector,
 * u16 0. In x2APIC mode icr_hi is the 32-bit destination and the LDR the derived one. */
static void put_cpu(uint8_t **p, const struct vlapic_cpu *c, unsigned id, uint64_t now)
{
    const uint32_t regs[] = { id << 24, c->tpr, c->ldr, c->dfr, c->svr, c->esr,
                              c->esr_pending, c->icr_lo, c->icr_hi };
    for (unsigned i = 0; i < 9; i++)
        devrec_put32(p, regs[i]);
    for (unsigned k = 0; k < VLAPIC_LVT_N; k++)
        devrec_put32(p, c->lvt[k]);
    devrec_put32(p, c->initial);
    devrec_put32(p, c->dcr);
    for (unsigned w = 0; w < 24; w++)
        devrec_put32(p, w < 8 ? c->irr[w] : w < 16 ? c->isr[w - 8] : c->tmr[w - 16]);
    devrec_put64(p, ticks_at(c, now));
    devrec_put64(p, c->seen);
    devrec_put64(p, c->tsc_deadline);
    devrec_put64(p, c->tsc_deadline && c->deadline_ns > now ? c->deadline_ns - now : 0);
    devrec_put8(p, (uint8_t)(c->hw_disabled | c->nmi << 1 | c->init << 2 | c->sipi << 3 |
                             c->x2apic << 4));
    devrec_put8(p, c->sipi_vector);
    devrec_put16(p, 0);
}

struct cpu_rec {
    struct vlapic_cpu c;
    uint32_t id;
    uint64_t ticks, remaining;
    uint8_t flags;
    uint16_t pad;
};

static void get_cpu(const uint8_t **p, struct cpu_rec *r)
{
    struct vlapic_cpu *c = &r->c;
    memset(r, 0, sizeof(*r));
    uint32_t *regs[] = { &r->id, &c->tpr, &c->ldr, &c->dfr, &c->svr, &c->esr,
                         &c->esr_pending, &c->icr_lo, &c->icr_hi };
    for (unsigned i = 0; i < 9; i++)
        *regs[i] = devrec_get32(p);
    for (unsigned k = 0; k < VLAPIC_LVT_N; k++)
        c->lvt[k] = devrec_get32(p);
    c->initial = devrec_get32(p);
    c->dcr = devrec_get32(p);
    for (unsigned w = 0; w < 24; w++) {
        uint32_t v = devrec_get32(p);
        *(w < 8 ? &c->irr[w] : w < 16 ? &c->isr[w - 8] : &c->tmr[w - 16]) = v;
    }
    r->ticks = devrec_get64(p);
    c->seen = devrec_get64(p);
    c->tsc_deadline = devrec_get64(p);
    r->remaining = devrec_get64(p);
    r->flags = devrec_get8(p);
    c->sipi_vector = devrec_get8(p);
    r->pad = devrec_get16(p);
    c->hw_disabled = r->flags & 1, c->nmi = r->flags & 2, c->init = r->flags & 4;
    c->sipi = r->flags & 8, c->x2apic = r->flags & 16;
}

static void vlapic_save(const struct device *d, uint8_t *rec)
{
    const struct vlapic *a = d->state;
    uint64_t now = dev_now_ns(d);
    devrec_put32(&rec, a->n);
    devrec_put32(&rec, 0);
    for (unsigned i = 0; i < VLAPIC_MAX_VCPUS; i++) {
        if (i < a->n) {
            put_cpu(&rec, &a->cpu[i], i, now);
        } else {
            memset(rec, 0, CPU_REC);
            rec += CPU_REC;
        }
    }
}

/* What a vCPU's slot breaks, or NULL. */
static const char *check_cpu(const struct cpu_rec *r, unsigned i)
{
    const struct vlapic_cpu *c = &r->c;
    if (r->id != i << 24)
        return "APIC ID is not the vCPU index";
    if ((c->tpr & ~0xffu) || (~c->dfr & 0x0fffffffu) ||
        (c->svr & ~SVR_MASK) || (c->esr & ~0xffu) || (c->esr_pending & ~0xffu) ||
        (c->icr_lo & ~ICR_LO_MASK) || (c->dcr & ~0xbu) || (r->flags & ~0x1fu) || r->pad)
        return "reserved register bits set";
    if (c->x2apic ? c->hw_disabled || c->ldr != x2_ldr(i)
                  : (c->ldr & 0xffffffu) || (c->icr_hi & 0xffffffu))
        return "x2APIC mode with a disabled APIC, or an LDR or ICR its mode cannot hold";
    for (unsigned k = 0; k < VLAPIC_LVT_N; k++)
        if ((c->lvt[k] & ~lvt_bits[k]) || (!sw_enabled(c) && !(c->lvt[k] & LVT_MASKED)))
            return "LVT reserved bits set, or unmasked on a disabled APIC";
    if ((c->irr[0] | c->isr[0] | c->tmr[0]) & 0xffff)
        return "vector below 16 in IRR, ISR or TMR";
    unsigned m = tmode(c);
    if (m == 3)
        return "reserved timer mode";
    if (c->tsc_deadline && m != TM_DEADLINE)
        return "TSC deadline armed outside TSC-deadline mode";
    if (!counting(c) ? r->ticks || c->seen
                     : c->seen > expiries(c, r->ticks))
        return "timer expiries beyond its elapsed count";
    return NULL;
}

static int vlapic_check(const struct device *d, const uint8_t *rec, char *why, size_t n)
{
    const struct vlapic *a = d->state;
    uint32_t nv = devrec_get32(&rec), rsvd = devrec_get32(&rec);
    if (nv != a->n || rsvd) {
        snprintf(why, n, "record for %u vCPUs, this VM has %u", nv, a->n);
        return -EINVAL;
    }
    for (unsigned i = 0; i < VLAPIC_MAX_VCPUS; i++) {
        if (i >= a->n) {
            for (unsigned b = 0; b < CPU_REC; b++)
                if (rec[b]) {
                    snprintf(why, n, "slot %u of a vCPU this VM lacks is not empty", i);
                    return -EINVAL;
                }
            rec += CPU_REC;
            continue;
        }
        struct cpu_rec r;
        get_cpu(&rec, &r);
        const char *bad = check_cpu(&r, i);
        if (bad) {
            snprintf(why, n, "vCPU %u: %s", i, bad);
            return -EINVAL;
        }
    }
    return 0;
}

static void vlapic_load(struct device *d, const uint8_t *rec)
{
    struct vlapic *a = d->state;
    uint64_t now = dev_now_ns(d);
    rec += 8;
    for (unsigned i = 0; i < a->n; i++) {
        struct cpu_rec r;
        get_cpu(&rec, &r);
        r.c.start_ns = now;              /* counting goes on from here on this host */
        r.c.base_ticks = r.ticks;
        r.c.deadline_ns = r.remaining > UINT64_MAX - now ? UINT64_MAX : now + r.remaining;
        a->cpu[i] = r.c;
    }
}

const struct dev_type vlapic_type = {
    .name = "lapic",
    .id = DEV_ID_LAPIC,
    .version = 2,
    .record_size = REC_SIZE,
    .state_size = sizeof(struct vlapic),
    .create = vlapic_create,
    .reset = vlapic_reset,
    .save = vlapic_save,
    .check = vlapic_check,
    .load = vlapic_load,
    .poll = vlapic_poll,
};
