/*
 * The state behind the guest's paravirtual clock (KVM's "kvm-clock" ABI,
 * which Linux and other guests understand: hv/vm/pvclock.c answers the CPUID
 * leaves and MSRs and writes the structures into guest memory). A device of
 * the framework without ports, so that the clock migrates like any device.
 *
 * The clock is a function of the guest's TSC, as the guest computes it:
 * base_ns + (tsc - base_tsc) scaled by mul/shift (the pvclock formula). It
 * therefore stops with the guest's TSC while a migration holds the VM
 * (downtime does not count, as with KVM) and never disagrees with the TSC.
 * Its record carries that line and each vCPU's registration; on the target
 * the first vCPU to run re-bases it on the target's TSC rate (hv/vm/pvclock.c)
 * and every vCPU rewrites its structure before it runs (the load bumps gen).
 * Record version 1.
 */
#ifndef HV_DEV_VKVMCLOCK_H
#define HV_DEV_VKVMCLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/dev/device.h"

#define VKVMCLOCK_VCPUS 64

struct vkvmclock {
    bool based;                            /* base_* set (at the first registration) */
    bool rebase;                           /* loaded: re-base on this host's TSC rate */
    uint64_t base_ns, base_tsc;            /* the clock read base_ns at guest TSC base_tsc */
    uint32_t mul;                          /* ns = ((ticks << shift) * mul) >> 32 */
    int8_t shift;
    uint64_t wall_msr;                     /* MSR_KVM_WALL_CLOCK_NEW as last written */
    uint64_t system_msr[VKVMCLOCK_VCPUS];  /* MSR_KVM_SYSTEM_TIME_NEW per vCPU */
    uint32_t gen;                          /* bumped by a load: structures to rewrite */
};

extern const struct dev_type vkvmclock_type;

/* The multiplier and shift that turn ticks of a khz clock into ns (for vkvmclock_scale). */
void vkvmclock_rate(uint64_t khz, uint32_t *mul, int8_t *shift);
/* The pvclock formula: ns for `ticks` TSC ticks at mul/shift. */
uint64_t vkvmclock_scale(uint64_t ticks, uint32_t mul, int8_t shift);
/* The clock's reading at guest TSC `tsc` (0 before the first registration). */
uint64_t vkvmclock_at(const struct vkvmclock *k, uint64_t tsc);

#endif
