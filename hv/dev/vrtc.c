/* The CMOS RTC; see hv/dev/vrtc.h. Register bits from the MC146818A data sheet. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/civil.h"
#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"
#include "hv/dev/vrtc.h"

enum { SEC = 0, SEC_ALARM, MIN, MIN_ALARM, HOUR, HOUR_ALARM, WDAY, MDAY, MONTH, YEAR,
       REG_A, REG_B, REG_C, REG_D };

#define A_UIP   0x80
#define A_RS    0x0f
#define B_SET   0x80
#define B_PIE   0x40
#define B_AIE   0x20
#define B_UIE   0x10
#define B_DM    0x04                   /* binary */
#define B_24H   0x02
#define C_IRQF  0x80
#define C_PF    0x40
#define C_AF    0x20
#define C_UF    0x10
#define D_VRT   0x80
#define NS      1000000000ll
#define UIP_NS  244000ll               /* UIP is set this long before each update */
#define REC_SIZE (128 + 4 + 8 + 8)
#define MAX_S   7258118400ll          /* 2200-01-01: the latest time a guest can set */
#define ALARM_SCAN 3600                /* seconds looked back for an alarm match per poll */

static struct vrtc *rtc(const struct device *d) { return d->state; }

static int64_t guest_ns(const struct device *d)
{
    return (int64_t)dev_wall_ns(d) + rtc(d)->offset_ns;
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b < 0); }

static uint8_t to_reg(const struct vrtc *r, unsigned v)
{
    return r->cmos[REG_B] & B_DM ? (uint8_t)v : (uint8_t)((v / 10) << 4 | v % 10);
}

/* A register value as a number; BCD digits above 9 count as 9. */
static unsigned from_reg(const struct vrtc *r, uint8_t v)
{
    if (r->cmos[REG_B] & B_DM)
        return v;
    unsigned hi = v >> 4, lo = v & 15;
    return (hi > 9 ? 9 : hi) * 10 + (lo > 9 ? 9 : lo);
}

static uint8_t hour_reg(const struct vrtc *r, unsigned h)
{
    if (r->cmos[REG_B] & B_24H)
        return to_reg(r, h);
    unsigned h12 = h % 12 ? h % 12 : 12;
    return (uint8_t)(to_reg(r, h12) | (h >= 12 ? 0x80 : 0));
}

static unsigned hour_of(const struct vrtc *r, uint8_t v)
{
    if (r->cmos[REG_B] & B_24H)
        return from_reg(r, v) % 24;
    unsigned h = from_reg(r, v & 0x7f) % 12;
    return (v & 0x80) ? h + 12 : h;
}

/* The seconds the time registers show now. */
static int64_t shown_s(const struct device *d)
{
    const struct vrtc *r = rtc(d);
    return r->cmos[REG_B] & B_SET ? r->frozen_s : floor_div(guest_ns(d), NS);
}

/* Time register reg for the clock reading s, in B's format. */
static uint8_t reg_at(const struct vrtc *r, int64_t s, unsigned reg)
{
    struct civil_time t;
    civil_from_unix(s, &t);
    switch (reg) {
    case SEC: return to_reg(r, t.second);
    case MIN: return to_reg(r, t.minute);
    case HOUR: return hour_reg(r, t.hour);
    case WDAY: return to_reg(r, t.wday + 1);
    case MDAY: return to_reg(r, t.day);
    case MONTH: return to_reg(r, t.month);
    case YEAR: return to_reg(r, (unsigned)(t.year % 100));
    default: return to_reg(r, (unsigned)(t.year / 100 % 100));     /* century */
    }
}

static const uint8_t time_regs[] = { SEC, MIN, HOUR, WDAY, MDAY, MONTH, YEAR, VRTC_CENTURY };

/* While SET holds the updates the time registers are bytes the guest writes one at a time,
 * so a date may pass through one its month lacks (31 Feb on the way from 31 Dec to 15 Feb)
 * without being normalized; they are read as a time only when SET is cleared. */
static uint8_t time_reg(const struct device *d, unsigned reg)
{
    const struct vrtc *r = rtc(d);
    return r->cmos[REG_B] & B_SET ? r->cmos[reg] : reg_at(r, shown_s(d), reg);
}

/* The time the held registers say, in B's format (the weekday is derived from the date). */
static int64_t held_s(const struct vrtc *r)
{
    const uint8_t *c = r->cmos;
    unsigned day = from_reg(r, c[MDAY]), month = from_reg(r, c[MONTH]);
    struct civil_time t = {
        .year = (int64_t)(from_reg(r, c[VRTC_CENTURY]) % 100) * 100 + from_reg(r, c[YEAR]) % 100,
        .month = month < 1 ? 1 : month > 12 ? 12 : month,
        .day = day < 1 ? 1 : day > 31 ? 31 : day,
        .hour = hour_of(r, c[HOUR]),
        .minute = from_reg(r, c[MIN]) % 60,
        .second = from_reg(r, c[SEC]) % 60,
    };
    int64_t s = civil_to_unix(&t);
    return s < 0 ? 0 : s > MAX_S ? MAX_S : s;
}

/* A guest write of one time register: the clock moves to the new reading. */
static void set_time_reg(struct device *d, unsigned reg, uint8_t v)
{
    struct vrtc *r = rtc(d);
    if (r->cmos[REG_B] & B_SET) {
        r->cmos[reg] = v;
        r->frozen_s = held_s(r);
        return;
    }
    int64_t s = shown_s(d);
    struct civil_time t;
    civil_from_unix(s, &t);
    unsigned n = from_reg(r, v);
    switch (reg) {
    case SEC: t.second = n % 60; break;
    case MIN: t.minute = n % 60; break;
    case HOUR: t.hour = hour_of(r, v); break;
    case WDAY: return;                                  /* derived from the date */
    case MDAY: t.day = n < 1 ? 1 : n > 31 ? 31 : n; break;
    case MONTH: t.month = n < 1 ? 1 : n > 12 ? 12 : n; break;
    case YEAR: t.year = t.year / 100 * 100 + n % 100; break;
    default: t.year = (int64_t)(n % 100) * 100 + t.year % 100; break;
    }
    int64_t ns = civil_to_unix(&t);
    ns = ns < 0 ? 0 : ns > MAX_S ? MAX_S : ns;          /* the offset stays within int64 ns */
    /* The divider keeps its phase within the second. */
    r->offset_ns += (ns - s) * NS;
    r->last_s += ns - s;
}

static bool alarm_matches(const struct vrtc *r, int64_t s)
{
    struct civil_time t;
    civil_from_unix(s, &t);
    const uint8_t *c = r->cmos;
    return (c[SEC_ALARM] >= 0xc0 || from_reg(r, c[SEC_ALARM]) == t.second) &&
           (c[MIN_ALARM] >= 0xc0 || from_reg(r, c[MIN_ALARM]) == t.minute) &&
           (c[HOUR_ALARM] >= 0xc0 || hour_of(r, c[HOUR_ALARM]) == t.hour);
}

/* Periods per second of the rate select: 0 off; 1, 2 are 256 and 128 Hz as 8 and 9. */
static uint64_t periodic_hz(const struct vrtc *r)
{
    unsigned rs = r->cmos[REG_A] & A_RS;
    if (!rs)
        return 0;
    if (rs < 3)
        rs += 7;
    return 65536u >> rs;
}

/* Sets C's flags for what happened up to now and drives the line; returns the next event. */
static uint64_t update_flags(struct device *d)
{
    struct vrtc *r = rtc(d);
    int64_t g = guest_ns(d), s = floor_div(g, NS);
    uint8_t *c = &r->cmos[REG_C];
    uint64_t hz = periodic_hz(r), wall = dev_wall_ns(d), next = 0;
    if (!(r->cmos[REG_B] & B_SET) && s > r->last_s) {
        *c |= C_UF;
        for (int64_t t = s; t > r->last_s && t > s - ALARM_SCAN; t--)
            if (alarm_matches(r, t)) {
                *c |= C_AF;
                break;
            }
        r->last_s = s;
    }
    if (hz) {
        uint64_t p = g > 0 ? (uint64_t)((unsigned __int128)(uint64_t)g * hz / NS) : 0;
        if (p > r->last_period) {
            *c |= C_PF;
            r->last_period = p;
        }
        if (r->cmos[REG_B] & B_PIE)
            next = wall + (uint64_t)(((unsigned __int128)(p + 1) * NS + hz - 1) / hz) -
                   (uint64_t)g;
    }
    if (r->cmos[REG_B] & (B_UIE | B_AIE)) {
        uint64_t sec = wall + (uint64_t)((s + 1) * NS - g);
        next = next && next < sec ? next : sec;
    }
    uint8_t b = r->cmos[REG_B];
    bool irq = ((*c & C_PF) && (b & B_PIE)) || ((*c & C_AF) && (b & B_AIE)) ||
               ((*c & C_UF) && (b & B_UIE));
    *c = irq ? *c | C_IRQF : *c & ~C_IRQF;
    dev_irq_set(d, r->irq, irq);
    return next;
}

/* Flags start from now: nothing that happened before counts (power-on, load, rate change). */
static void resync(struct device *d)
{
    struct vrtc *r = rtc(d);
    int64_t g = guest_ns(d);
    uint64_t hz = periodic_hz(r);
    r->last_s = floor_div(g, NS);
    r->last_period = hz && g > 0 ? (uint64_t)((unsigned __int128)(uint64_t)g * hz / NS) : 0;
}

/* The guest clock is the wall clock's, so a poll's deadline is in the wall clock's terms; the
 * framework's polls run on the guest clock: both advance at the same rate, so convert. */
static uint64_t vrtc_poll(struct device *d, uint64_t now)
{
    uint64_t wall = dev_wall_ns(d), next = update_flags(d);
    return next ? now + (next > wall ? next - wall : 0) : 0;
}

static uint8_t data_read(struct device *d)
{
    struct vrtc *r = rtc(d);
    unsigned i = r->index;
    switch (i) {
    case SEC: case MIN: case HOUR: case WDAY: case MDAY: case MONTH: case YEAR: case VRTC_CENTURY:
        return time_reg(d, i);
    case REG_A: {
        int64_t g = guest_ns(d), frac = g - floor_div(g, NS) * NS;
        bool uip = !(r->cmos[REG_B] & B_SET) && frac >= NS - UIP_NS;
        return (uint8_t)((r->cmos[REG_A] & ~A_UIP) | (uip ? A_UIP : 0));
    }
    case REG_C: {
        update_flags(d);
        uint8_t c = r->cmos[REG_C];
        r->cmos[REG_C] = 0;
        dev_irq_set(d, r->irq, false);
        return c;
    }
    case REG_D:
        return D_VRT;
    default:
        return r->cmos[i];
    }
}

static void data_write(struct device *d, uint8_t v)
{
    struct vrtc *r = rtc(d);
    unsigned i = r->index;
    switch (i) {
    case SEC: case MIN: case HOUR: case WDAY: case MDAY: case MONTH: case YEAR: case VRTC_CENTURY:
        set_time_reg(d, i, v);
        return;
    case REG_A:
        r->cmos[REG_A] = v & ~A_UIP;
        resync(d);
        break;
    case REG_B: {
        uint8_t old = r->cmos[REG_B];
        if ((v & B_SET) && !(old & B_SET))
            r->frozen_s = shown_s(d);
        if (!(v & B_SET) && (old & B_SET)) {
            /* The clock starts from what was written, at the start of that second. */
            r->offset_ns = r->frozen_s * NS - (int64_t)dev_wall_ns(d);
            r->last_s = r->frozen_s;
        }
        r->cmos[REG_B] = v & B_SET ? v & ~B_UIE : v;    /* SET clears UIE */
        if ((v & B_SET) && !(old & B_SET))              /* the registers hold what they show */
            for (unsigned k = 0; k < sizeof(time_regs); k++)
                r->cmos[time_regs[k]] = reg_at(r, r->frozen_s, time_regs[k]);
        break;
    }
    case REG_C:
    case REG_D:
        return;                                         /* read-only */
    default:
        r->cmos[i] = v;
        return;
    }
    update_flags(d);
}

static int rtc_io(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    struct device *d = opaque;
    struct vrtc *r = rtc(d);
    if (size != 1 || off > 1)
        return -EINVAL;
    if (off == 0) {
        if (write) {
            r->index = (uint8_t)*val & 0x7f;
            r->nmi_masked = *val & 0x80;
        } else {
            *val = 0xff;                                /* the index port is write-only */
        }
    } else if (write) {
        data_write(d, (uint8_t)*val);
    } else {
        *val = data_read(d);
    }
    return 0;
}

static void vrtc_reset(struct device *d)
{
    struct vrtc *r = rtc(d);
    /* Power-on: A = 32.768 kHz divider, 1024 Hz rate; B = 24-hour BCD, interrupts off. The
     * clock and the battery-backed RAM keep their contents across a reset. */
    r->cmos[REG_A] = 0x26;
    r->cmos[REG_B] = B_24H;
    r->cmos[REG_C] = 0;
    r->index = 0;
    r->nmi_masked = false;
    resync(d);
    dev_irq_set(d, r->irq, false);
}

static int vrtc_create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    const struct vrtc_cfg *c = cfg;
    uint16_t port = c ? c->port : VRTC_PORT;
    rtc(d)->irq = c ? c->irq : 8;
    int rc = dev_claim_pio(d, port, 2, rtc_io);
    if (rc) {
        snprintf(err, errlen, "rtc: ports 0x%x-0x%x %s", port, port + 1,
                 rc == -EBUSY ? "are taken" : "cannot be claimed");
        return rc;
    }
    vrtc_reset(d);
    return 0;
}

/* cmos[128] (under SET, its time registers as the guest wrote them), index, NMI mask, two zero
 * bytes, offset_ns i64, frozen_s i64. */
static void vrtc_save(const struct device *d, uint8_t *rec)
{
    const struct vrtc *r = rtc(d);
    memcpy(rec, r->cmos, 128);
    rec += 128;
    devrec_put8(&rec, r->index);
    devrec_put8(&rec, r->nmi_masked);
    devrec_put16(&rec, 0);
    devrec_put64(&rec, (uint64_t)r->offset_ns);
    devrec_put64(&rec, (uint64_t)r->frozen_s);
}

static int vrtc_check(const struct device *d, const uint8_t *rec, char *why, size_t n)
{
    (void)d;
    const uint8_t *p = rec + 128;
    uint8_t index = devrec_get8(&p), nmi = devrec_get8(&p);
    uint16_t pad = devrec_get16(&p);
    /* A guest sets its clock between 1970 and 2200 (set_time_reg clamps). */
    int64_t off = (int64_t)devrec_get64(&p), frozen = (int64_t)devrec_get64(&p);
    if (index > 0x7f || nmi > 1 || pad || (rec[REG_A] & A_UIP) || rec[REG_D] ||
        off / NS < -MAX_S || off / NS > MAX_S || frozen < 0 || frozen > MAX_S) {
        snprintf(why, n, "index 0x%x, nmi %u, register A 0x%x, offset %lld s or frozen time "
                 "%lld out of range", index, nmi, rec[REG_A], (long long)(off / NS),
                 (long long)frozen);
        return -EINVAL;
    }
    return 0;
}

static void vrtc_load(struct device *d, const uint8_t *rec)
{
    struct vrtc *r = rtc(d);
    memcpy(r->cmos, rec, 128);
    rec += 128;
    r->index = devrec_get8(&rec);
    r->nmi_masked = devrec_get8(&rec);
    (void)devrec_get16(&rec);
    r->offset_ns = (int64_t)devrec_get64(&rec);
    r->frozen_s = (int64_t)devrec_get64(&rec);
    resync(d);
    update_flags(d);
}

const struct dev_type vrtc_type = {
    .name = "rtc-cmos",
    .id = DEV_ID_RTC,
    .version = 1,
    .record_size = REC_SIZE,
    .state_size = sizeof(struct vrtc),
    .create = vrtc_create,
    .reset = vrtc_reset,
    .save = vrtc_save,
    .check = vrtc_check,
    .load = vrtc_load,
    .poll = vrtc_poll,
};
