/*
 * The guest's paravirtual clock, in KVM's ABI (Linux's kvm-clock): a block of
 * hypervisor CPUID leaves at 0x40000100 with the "KVMKVMKVM" signature and
 * only the clock features (CLOCKSOURCE2, NOP_IO_DELAY, CLOCKSOURCE_STABLE_BIT),
 * MSR_KVM_WALL_CLOCK_NEW (0x4b564d00) and MSR_KVM_SYSTEM_TIME_NEW
 * (0x4b564d01), and per-vCPU pvclock_vcpu_time_info structures in guest
 * memory. The guest reads the TSC frequency from them (no calibration against
 * a device, which is hopeless under emulation) and keeps time with the TSC.
 * ferry's own leaves stay at 0x40000000; Linux scans every 0x100 for KVM's.
 * The state migrates as the "kvmclock" device (hv/dev/vkvmclock.h).
 */
#ifndef HV_VM_PVCLOCK_H
#define HV_VM_PVCLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/cpu/cpu_policy.h"
#include "hv/vm/vm.h"

#define PVCLOCK_CPUID_BASE   0x40000100u
/* Timing, at the base + 0x10 where VMware and KVM put theirs: EAX the TSC's rate in kHz, EBX
 * the local APIC timer's input clock in kHz (1 GHz: 1000000). The block's highest leaf. */
#define PVCLOCK_CPUID_TIMING (PVCLOCK_CPUID_BASE + 0x10)
#define MSR_KVM_WALL_CLOCK   0x4b564d00u
#define MSR_KVM_SYSTEM_TIME  0x4b564d01u

/* Leaves PVCLOCK_CPUID_BASE..PVCLOCK_CPUID_TIMING: true and *out filled, else false. */
bool pvclock_cpuid(uint32_t leaf, struct cpuid_out *out);
/* The two MSRs: 0, or -EPERM (#GP) for a reserved bit; 1 if msr is not one of them. */
int pvclock_msr(struct vcpu *v, uint32_t msr, bool write, uint64_t *val);
/* Before an entry: rewrite this vCPU's time structure if a migration moved the clock. */
void pvclock_before_entry(struct vcpu *v);


#endif
