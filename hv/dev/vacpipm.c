/* The ACPI power-management block; see hv/dev/vacpipm.h. */
#include <errno.h>
#include <stdio.h>

#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"
#include "hv/dev/vacpipm.h"

#define TMR_STS     0x0001u
#define GBL_STS     0x0020u
#define PWRBTN_STS  0x0100u
#define RTC_STS     0x0400u              /* never set: the RTC's alarm is IRQ 8's */
#define WAK_STS     0x8000u
#define STS_BITS    (TMR_STS | GBL_STS | PWRBTN_STS | RTC_STS | WAK_STS)
#define EN_BITS     (TMR_STS | GBL_STS | PWRBTN_STS | RTC_STS)   /* TMR/GBL/PWRBTN/RTC_EN */
#define SCI_EN      0x0001u
#define BM_RLD      0x0002u
#define GBL_RLS     0x0004u
#define SLP_TYP(c)  (((c) >> 10) & 7u)
#define SLP_EN      0x2000u
#define CNT_BITS    (BM_RLD | 0x1c00u)                   /* what PM1_CNT keeps */
#define FLIP        (1ull << 31)
#define REC_SIZE    32

static struct vacpipm *pm_of(struct device *d) { return d->state; }

static uint64_t ticks_at(const struct vacpipm *p, uint64_t now)
{
    uint64_t ns = now > p->base_ns ? now - p->base_ns : 0;
    return p->base_ticks + (uint64_t)((unsigned __int128)ns * VACPIPM_TMR_HZ / 1000000000u);
}

/* Brings TMR_STS and the SCI up to now. */
static void update(struct device *d)
{
    struct vacpipm *p = pm_of(d);
    uint64_t t = ticks_at(p, dev_now_ns(d));
    if (t >= p->next_flip) {
        p->sts |= TMR_STS;
        p->next_flip = ((t >> 31) + 1) << 31;
    }
    dev_irq_set(d, p->sci, p->sts & p->en & EN_BITS);
}

static uint8_t reg_byte(struct vacpipm *p, uint64_t now, unsigned off)
{
    uint32_t v;
    switch (off & ~1u) {
    case 0: v = p->sts; break;
    case 2: v = p->en; break;
    case 4: v = p->cnt | SCI_EN; break;
    case 6: v = 0; break;
    default: v = (uint32_t)ticks_at(p, now) >> ((off & 2) ? 16 : 0); break;
    }
    return (uint8_t)(v >> 8 * (off & 1));
}

static int port_io(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    struct device *d = opaque;
    struct vacpipm *p = pm_of(d);
    if ((size != 1 && size != 2 && size != 4) || off + size > VACPIPM_LEN)
        return -EINVAL;
    update(d);
    if (!write) {
        uint64_t now = dev_now_ns(d), v = 0;
        for (unsigned i = 0; i < size; i++)
            v |= (uint64_t)reg_byte(p, now, (unsigned)off + i) << 8 * i;
        *val = v;
        return 0;
    }
    /* Writes: each 16-bit register takes the bytes that fall in it (the timer is read-only). */
    for (unsigned reg = 0; reg < 6; reg += 2) {
        uint16_t v = 0, mask = 0;
        for (unsigned i = 0; i < size; i++) {
            unsigned b = (unsigned)off + i;
            if (b == reg || b == reg + 1) {
                v |= (uint16_t)(((*val >> 8 * i) & 0xff) << 8 * (b - reg));
                mask |= (uint16_t)(0xff << 8 * (b - reg));
            }
        }
        if (!mask)
            continue;
        if (reg == 0) {
            p->sts &= (uint16_t)~(v & mask & STS_BITS);
        } else if (reg == 2) {
            p->en = (uint16_t)((p->en & ~mask) | (v & mask & EN_BITS));
        } else {
            p->cnt = (uint16_t)((p->cnt & ~mask) | (v & mask & CNT_BITS));
            if ((v & mask & SLP_EN) && SLP_TYP(p->cnt) == VACPIPM_S5)
                dev_guest_power_off(d);
        }
    }
    update(d);
    return 0;
}

static uint64_t vacpipm_poll(struct device *d, uint64_t now)
{
    struct vacpipm *p = pm_of(d);
    update(d);
    if (!(p->en & TMR_STS) || (p->sts & TMR_STS))
        return 0;                        /* no SCI for the timer to raise */
    uint64_t left = p->next_flip - ticks_at(p, now);
    return now + (uint64_t)(((unsigned __int128)left * 1000000000u + VACPIPM_TMR_HZ - 1) /
                            VACPIPM_TMR_HZ);
}

static void vacpipm_reset(struct device *d)
{
    struct vacpipm *p = pm_of(d);
    p->sts = p->en = p->cnt = 0;
    p->base_ns = dev_now_ns(d);
    p->base_ticks = 0;
    p->next_flip = FLIP;
    dev_irq_set(d, p->sci, false);
}

static int vacpipm_create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    const struct vacpipm_cfg *c = cfg;
    struct vacpipm *p = pm_of(d);
    p->port = c && c->port ? c->port : VACPIPM_PORT;
    p->sci = c ? c->sci : VACPIPM_SCI;
    int rc = dev_claim_pio(d, p->port, VACPIPM_LEN, port_io);
    if (rc) {
        snprintf(err, errlen, "acpi-pm: ports 0x%x-0x%x %s", p->port, p->port + VACPIPM_LEN - 1,
                 rc == -EBUSY ? "are taken" : "cannot be claimed");
        return rc;
    }
    vacpipm_reset(d);
    return 0;
}

static void vacpipm_save(const struct device *d, uint8_t *rec)
{
    const struct vacpipm *p = d->state;
    uint64_t t = ticks_at(p, dev_now_ns(d)), next = p->next_flip;
    uint16_t sts = p->sts;
    if (t >= next) {                     /* as update() would have it now */
        sts |= TMR_STS;
        next = ((t >> 31) + 1) << 31;
    }
    devrec_put16(&rec, sts);
    devrec_put16(&rec, p->en);
    devrec_put16(&rec, p->cnt);
    devrec_put16(&rec, 0);
    devrec_put64(&rec, t);
    devrec_put64(&rec, next);
    devrec_put64(&rec, 0);
}

static int vacpipm_check(const struct device *d, const uint8_t *rec, char *why, size_t n)
{
    (void)d;
    uint16_t sts = devrec_get16(&rec), en = devrec_get16(&rec), cnt = devrec_get16(&rec);
    uint16_t rsvd = devrec_get16(&rec);
    uint64_t ticks = devrec_get64(&rec), next = devrec_get64(&rec), rsvd2 = devrec_get64(&rec);
    if ((sts & ~STS_BITS) || (en & ~EN_BITS) || (cnt & ~CNT_BITS) || rsvd || rsvd2) {
        snprintf(why, n, "registers 0x%x/0x%x/0x%x hold bits no guest can set", sts, en, cnt);
        return -EINVAL;
    }
    if (next <= ticks || next - ticks > FLIP || next % FLIP) {
        snprintf(why, n, "the timer's next flip (%llu) does not follow its count (%llu)",
                 (unsigned long long)next, (unsigned long long)ticks);
        return -EINVAL;
    }
    return 0;
}

static void vacpipm_load(struct device *d, const uint8_t *rec)
{
    struct vacpipm *p = pm_of(d);
    p->sts = devrec_get16(&rec);
    p->en = devrec_get16(&rec);
    p->cnt = devrec_get16(&rec);
    (void)devrec_get16(&rec);
    p->base_ticks = devrec_get64(&rec);
    p->next_flip = devrec_get64(&rec);
    p->base_ns = dev_now_ns(d);
    update(d);
}

const struct dev_type vacpipm_type = {
    .name = "acpi-pm",
    .id = DEV_ID_ACPI_PM,
    .version = 1,
    .record_size = REC_SIZE,
    .state_size = sizeof(struct vacpipm),
    .create = vacpipm_create,
    .reset = vacpipm_reset,
    .save = vacpipm_save,
    .check = vacpipm_check,
    .load = vacpipm_load,
    .poll = vacpipm_poll,
};
