/*
 * The state behind the guest's paravirtual clock (KVM's "kvm-clock" ABI,
 * which Linux and other guests understand: hv/vm/pvclock.c answers the CPUID
 * leaves and MSRs and writes the structures into guest memory). A device of
 * the framework without ports, so that the clock migrates like any device:
 * its record carries the clock's reading at the save and each vCPU's
 * registration, and a load makes the clock go on from that reading on the
 * target (the downtime does not count, as with KVM) and asks every vCPU to
 * rewrite its time structure for this host's TSC rate before it next runs.
 * Record version 1.
 */
#ifndef HV_DEV_VKVMCLOCK_H
#define HV_DEV_VKVMCLOCK_H

#include <stdint.h>

#include "hv/dev/device.h"

#define VKVMCLOCK_VCPUS 64

struct vkvmclock {
    int64_t offset_ns;                     /* clock = guest clock (dev_now_ns) + offset */
    uint64_t wall_msr;                     /* MSR_KVM_WALL_CLOCK_NEW as last written */
    uint64_t system_msr[VKVMCLOCK_VCPUS];  /* MSR_KVM_SYSTEM_TIME_NEW per vCPU */
    uint32_t gen;                          /* bumped by a load: structures to rewrite */
};

extern const struct dev_type vkvmclock_type;

/* The clock's reading now (ns since the VM was created, downtime of migrations excluded). */
uint64_t vkvmclock_now(const struct device *d);

#endif
