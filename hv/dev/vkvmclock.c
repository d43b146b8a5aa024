/* The paravirtual clock's migratable state; see hv/dev/vkvmclock.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"
#include "hv/dev/vkvmclock.h"

#define REC_SIZE (8 + 8 + 8 * VKVMCLOCK_VCPUS)
/* A registration: a 4-byte aligned guest-physical address below 2^52 (the system-time MSR's
 * bit 0 is its enable bit). */
#define MSR_VALID(v) (!((v) & 2) && (v) >> 52 == 0)

static struct vkvmclock *kc(const struct device *d) { return d->state; }

uint64_t vkvmclock_now(const struct device *d)
{
    return (uint64_t)((int64_t)dev_now_ns(d) + kc(d)->offset_ns);
}

static void vkvmclock_reset(struct device *d)
{
    struct vkvmclock *k = kc(d);
    uint32_t gen = k->gen;
    memset(k, 0, sizeof(*k));
    k->offset_ns = -(int64_t)dev_now_ns(d);        /* the clock starts at 0 */
    k->gen = gen + 1;
}

static int vkvmclock_create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    (void)cfg, (void)err, (void)errlen;
    vkvmclock_reset(d);
    return 0;
}

/* reading u64, wall_msr u64, system_msr[64] u64. */
static void vkvmclock_save(const struct device *d, uint8_t *rec)
{
    const struct vkvmclock *k = kc(d);
    devrec_put64(&rec, vkvmclock_now(d));
    devrec_put64(&rec, k->wall_msr);
    for (unsigned i = 0; i < VKVMCLOCK_VCPUS; i++)
        devrec_put64(&rec, k->system_msr[i]);
}

static int vkvmclock_check(const struct device *d, const uint8_t *rec, char *why, size_t n)
{
    (void)d;
    uint64_t now = devrec_get64(&rec), wall = devrec_get64(&rec);
    if (now >> 62 || !MSR_VALID(wall) || (wall & 1)) {
        snprintf(why, n, "clock reading 0x%llx or wall-clock address 0x%llx out of range",
                 (unsigned long long)now, (unsigned long long)wall);
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
    uint64_t now = devrec_get64(&rec);
    k->offset_ns = (int64_t)now - (int64_t)dev_now_ns(d);
    k->wall_msr = devrec_get64(&rec);
    for (unsigned i = 0; i < VKVMCLOCK_VCPUS; i++)
        k->system_msr[i] = devrec_get64(&rec);
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
