/* The paravirtual clock; see hv/vm/pvclock.h (and the pvclock ABI's structures below). */
#include <errno.h>
#include <string.h>

#include "hv/base/time.h"
#include "hv/dev/dev_ids.h"
#include "hv/dev/vkvmclock.h"
#include "hv/dev/vlapic.h"
#include "hv/vm/pvclock.h"
#include "hv/vm/vcpu_ops.h"

#define KVM_FEATURE_NOP_IO_DELAY       (1u << 1)
#define KVM_FEATURE_CLOCKSOURCE2       (1u << 3)
#define KVM_FEATURE_CLOCKSOURCE_STABLE (1u << 24)
#define PVCLOCK_TSC_STABLE             (1u << 0)
#define SIG4(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

/* The ABI's layouts (little-endian, packed). */
struct pvclock_vcpu_time_info {
    uint32_t version;                  /* odd while being written */
    uint32_t pad0;
    uint64_t tsc_timestamp;
    uint64_t system_time;              /* ns at tsc_timestamp */
    uint32_t tsc_to_system_mul;        /* ns = ((ticks << shift) * mul) >> 32 */
    int8_t tsc_shift;
    uint8_t flags;
    uint8_t pad[2];
} __attribute__((packed));
_Static_assert(sizeof(struct pvclock_vcpu_time_info) == 32, "pvclock ABI");

struct pvclock_wall_clock {
    uint32_t version;
    uint32_t sec;                      /* wall-clock time when the clock read 0 */
    uint32_t nsec;
} __attribute__((packed));

bool pvclock_cpuid(uint32_t leaf, struct cpuid_out *out)
{
    if (leaf == PVCLOCK_CPUID_BASE) {
        *out = (struct cpuid_out){ PVCLOCK_CPUID_TIMING, SIG4('K', 'V', 'M', 'K'),
                                   SIG4('V', 'M', 'K', 'V'), SIG4('M', 0, 0, 0) };
        return true;
    }
    if (leaf == PVCLOCK_CPUID_TIMING) {
        /* The rates a guest would otherwise calibrate: this host's TSC (a migrated guest
         * reads its new host's) and the local APIC timer's input clock. */
        *out = (struct cpuid_out){ (uint32_t)time_tsc_khz(), (uint32_t)(VLAPIC_TIMER_HZ / 1000),
                                   0, 0 };
        return true;
    }
    if (leaf > PVCLOCK_CPUID_BASE + 1 && leaf < PVCLOCK_CPUID_TIMING) {
        *out = (struct cpuid_out){ 0, 0, 0, 0 };
        return true;
    }
    if (leaf == PVCLOCK_CPUID_BASE + 1) {
        *out = (struct cpuid_out){ KVM_FEATURE_CLOCKSOURCE2 | KVM_FEATURE_NOP_IO_DELAY |
                                   KVM_FEATURE_CLOCKSOURCE_STABLE, 0, 0, 0 };
        return true;
    }
    return false;
}

static struct device *clock_dev(struct vm *vm) { return dev_find(&vm->devs, DEV_ID_KVMCLOCK, 0); }

/* The guest RAM behind [gpa, gpa + len), or NULL (not RAM, or across a chunk). */
static void *guest_ptr(struct vm *vm, uint64_t gpa, uint64_t len)
{
    if (gpa + len < gpa || gpa + len > vm->gfn_end << 12)
        return NULL;                    /* the hole: vm_gpa_to_hva finds no chunk */
    void *p = vm_gpa_to_hva(vm, gpa, len);
    if (p)
        vm_dirty_log(vm, gpa);
    return p;
}

/* The guest's TSC on this vCPU now (it is loaded on this CPU). */
static uint64_t guest_tsc(struct vcpu *v)
{
    struct vcpu_state s;
    hv_ops->vcpu_get_state(v, &s);
    return s.tsc;
}

/* The clock's line starts at the first registration (reading 0), and after a migration goes
 * on from where the source left it, now at this host's TSC rate. */
static void settle(struct vkvmclock *k, uint64_t tsc)
{
    uint32_t mul;
    int8_t shift;
    vkvmclock_rate(time_tsc_khz(), &mul, &shift);
    if (!k->based) {
        k->base_ns = 0;
        k->based = true;
    } else if (k->rebase) {
        k->base_ns = vkvmclock_at(k, tsc);
    } else {
        return;
    }
    k->base_tsc = tsc;
    k->mul = mul;
    k->shift = shift;
    k->rebase = false;
}

/* This vCPU's structure: the clock's line as seen from its TSC now. */
static void write_time_info(struct vcpu *v, struct vkvmclock *k, uint64_t msr, uint64_t tsc)
{
    volatile struct pvclock_vcpu_time_info *ti;
    if (!(msr & 1) || !(ti = guest_ptr(v->vm, msr & ~1ull, sizeof(*ti))))
        return;
    uint32_t ver = ti->version;
    ti->version = (ver | 1) + ((ver & 1) ? 2 : 0);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    ti->tsc_timestamp = tsc;
    ti->system_time = vkvmclock_at(k, tsc);
    ti->tsc_to_system_mul = k->mul;
    ti->tsc_shift = k->shift;
    ti->flags = PVCLOCK_TSC_STABLE;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    ti->version = (ti->version | 1) + 1;
}

static void write_wall_clock(struct vm *vm, struct vkvmclock *k, uint64_t gpa, uint64_t tsc)
{
    volatile struct pvclock_wall_clock *wc = guest_ptr(vm, gpa, sizeof(*wc));
    if (!wc)
        return;
    /* The wall-clock time at which the clock read 0: now minus its reading. */
    uint64_t wall = time_wall_ns(), at0 = wall - vkvmclock_at(k, tsc);
    uint32_t ver = wc->version;
    wc->version = (ver | 1) + ((ver & 1) ? 2 : 0);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    wc->sec = (uint32_t)(at0 / 1000000000u);
    wc->nsec = (uint32_t)(at0 % 1000000000u);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    wc->version = (wc->version | 1) + 1;
}

int pvclock_msr(struct vcpu *v, uint32_t msr, bool write, uint64_t *val)
{
    if (msr != MSR_KVM_WALL_CLOCK && msr != MSR_KVM_SYSTEM_TIME)
        return 1;
    struct device *d = clock_dev(v->vm);
    if (!d || v->index >= VKVMCLOCK_VCPUS)
        return -EPERM;
    struct dev_set *set = &v->vm->devs;
    struct vkvmclock *k = d->state;
    uint64_t tsc = write ? guest_tsc(v) : 0;
    int rc = 0;
    spin_lock(&set->lock);
    uint64_t *reg = msr == MSR_KVM_WALL_CLOCK ? &k->wall_msr : &k->system_msr[v->index];
    if (!write) {
        *val = *reg;
    } else if ((*val & 2) || *val >> 52 || (msr == MSR_KVM_WALL_CLOCK && (*val & 1))) {
        rc = -EPERM;                    /* misaligned or beyond any physical address */
    } else {
        *reg = *val;
        settle(k, tsc);
        if (msr == MSR_KVM_WALL_CLOCK)
            write_wall_clock(v->vm, k, *val, tsc);
        else
            write_time_info(v, k, *val, tsc);
        v->pvclock_gen = k->gen;
    }
    spin_unlock(&set->lock);
    return rc;
}

void pvclock_before_entry(struct vcpu *v)
{
    struct device *d = v->vm->kvmclock;
    if (!d || v->index >= VKVMCLOCK_VCPUS)
        return;
    struct vkvmclock *k = d->state;
    if (__atomic_load_n(&k->gen, __ATOMIC_ACQUIRE) == v->pvclock_gen)
        return;
    uint64_t tsc = guest_tsc(v);
    spin_lock(&v->vm->devs.lock);
    if (k->based)
        settle(k, tsc);
    write_time_info(v, k, k->system_msr[v->index], tsc);
    v->pvclock_gen = k->gen;
    spin_unlock(&v->vm->devs.lock);
}
