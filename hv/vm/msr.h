/*
 * The guest MSR allow-list. Every RDMSR/WRMSR exits; an MSR not in the
 * table, one the VM's CPU policy says does not exist, or a value it refuses
 * gets #GP, as on hardware without that MSR.
 */
#ifndef HV_MSR_H
#define HV_MSR_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/vm/vm.h"

/* Performs the access on v (EDX:EAX <-> ECX); 0, or -EPERM to inject #GP. */
int msr_access(struct vcpu *v, uint32_t msr, bool write);

/* IA32_MISC_ENABLE as a VM with policy p reads it. */
uint64_t msr_misc_enable(const struct cpu_policy *p);

#endif
