/* The paravirtual clock's migratable state; see hv/dev/vkvmclock.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"
#include "hv/dev/vkvmclock.h"

#define REC_SIZE (8 + 8 + 8 + 4 + 1 + 1 + 2 + 8 + 8 * VKVMCLOCK_VCPUS)
/* A registration: a 4-byte aligned guest-physical address below 2^52 (the system-time MSR's
 * bit 0 is its enable bit). */
#define MSR_VALID(v) (!((v) & 2) && (v) >> 52 == 0)

static struct vkvmclock *kc(const struct device *d) { return d->state; }

uint64_t vkvmclock_scale(uint64_t ticks, uint32_t mul, int8_t shift)
{
    if (shift < 0)
        ticks >>= -shift;
    else
        ticks <<= shift;
    return (uint64_t)(((unsigned __int128)ticks * mul) >> 32);
}

/* Ticks of khz scaled to ns: shift brings khz * 2^shift into (1e6, 2e6] kHz, so that the
 * multiplier 2^32 * 1e6 / (khz * 2^shift) lies in [2^31, 2^32). */
void vkvmclock_rate(uint64_t khz, uint32_t *mul, int8_t *shift)
{
    int s = 0;
    uint64_t k = khz ? khz : 1;
    while (k > 2000000) {
        k >>= 1;
        s--;
    }
    while (k <= 1000000) {
        k <<= 1;
        s++;
    }
    /* Recompute from khz itself so the halvings lose no precision. */
    unsigned __int128 denom = s >= 0 ? (unsigned __int128)khz << s : (unsigned __int128)khz >> -s;
    unsigned __int128 m = ((unsigned __int128)1000000 << 32) / (denom ? denom : 1);
    *mul = m > 0xffffffffu ? 0xffffffffu : (uint32_t)m;
    *shift = (int8_t)s;
}

uint64_t vkvmclock_at(const struct vkvmclock *k, uint64_t tsc)
{
    if (!k->based)
        return 0;
    /* A TSC behind the base (another vCPU's, a hair earlier) reads the base: never back. */
    return k->base_ns + (tsc > k->base_tsc ? vkvmclock_scale(tsc - k->base_tsc, k->mul,
                                                             k->shift) : 0);
}

static void vkvmclock_reset(struct device *d)
{
    struct vkvmclock *k = kc(d);
    uint32_t gen = k->gen;
    memset(k, 0, sizeof(*k));
    k->gen = gen + 1;
}

static int vkvmclock_create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    (void)cfg, (void)err, (void)errlen;
    vkvmclock_reset(d);
    return 0;
}

/* base_ns, base_tsc, spare u64 (0), mul u32, shift, based, two zero bytes, wall_msr,
 * system_msr[64]. */
static void vkvmclock_save(const struct device *d, uint8_t *rec)
{
    const struct vkvmclock *k = kc(d);
    devrec_put64(&rec, k->base_ns);
    devrec_put64(&rec, k->base_tsc);
    devrec_put64(&rec, 0);
    devrec_put32(&rec, k->mul);
    devrec_put8(&rec, (uint8_t)k->shift);
    devrec_put8(&rec, k->based);
    devrec_put16(&rec, 0);
    devrec_put64(&rec, k->wall_msr);
    for (unsigned i = 0; i < VKVMCLOCK_VCPUS; i++)
        devrec_put64(&rec, k->system_msr[i]);
}

static int vkvmclock_check(const struct device *d, const uint8_t *rec, char *why, size_t n)
{
    (void)d;
    uint64_t base_ns = devrec_get64(&rec);
    (void)devrec_get64(&rec);
    uint64_t spare = devrec_get64(&rec);
    uint32_t mul = devrec_get32(&rec);
    int8_t shift = (int8_t)devrec_get8(&rec);
    uint8_t based = devrec_get8(&rec);
    uint16_t pad = devrec_get16(&rec);
    uint64_t wall = devrec_get64(&rec);
    /* mul/shift as vkvmclock_rate makes them: mul in [2^31, 2^32), |shift| <= 32. */
    if (spare || pad || based > 1 || base_ns >> 62 || (based && (mul < 0x80000000u ||
        shift < -32 || shift > 32)) || !MSR_VALID(wall) || (wall & 1)) {
        snprintf(why, n, "clock line (%llu ns, mul 0x%x, shift %d) or wall-clock address 0x%llx "
                 "out of range", (unsigned long long)base_ns, mul, shift,
                 (unsigned long long)wall);
        return -EINVAL;
    }
    for (unsigned i = 0; i < VKVMCLOCK_VCPUS; i++) {
        uint64_t m = devrec_get64(&rec);
        if (!MSR_VALID(m)) {
            snprintf(why, n, "vcpu %u: system-time registration 0x%llx out of range", i,
                     (unsigned long long)m);
            return -EINVAL;
        }
    }
    return 0;
}

static void vkvmclock_load(struct device *d, const uint8_t *rec)
{
    struct vkvmclock *k = kc(d);
    k->base_ns = devrec_get64(&rec);
    k->base_tsc = devrec_get64(&rec);
    (void)devrec_get64(&rec);
    k->mul = devrec_get32(&rec);
    k->shift = (int8_t)devrec_get8(&rec);
    k->based = devrec_get8(&rec);
    (void)devrec_get16(&rec);
    k->wall_msr = devrec_get64(&rec);
    for (unsigned i = 0; i < VKVMCLOCK_VCPUS; i++)
        k->system_msr[i] = devrec_get64(&rec);
    k->rebase = k->based;
    k->gen++;
}

const struct dev_type vkvmclock_type = {
    .name = "kvmclock",
    .id = DEV_ID_KVMCLOCK,
    .version = 1,
    .record_size = REC_SIZE,
    .state_size = sizeof(struct vkvmclock),
    .create = vkvmclock_create,
    .reset = vkvmclock_reset,
    .save = vkvmclock_save,
    .check = vkvmclock_check,
    .load = vkvmclock_load,
};
