/*
 * The guest MSR allow-list. Every RDMSR/WRMSR exits; an MSR not in the
 * table (or a value it refuses) gets #GP, as on hardware without that MSR.
 */
#ifndef HV_MSR_H
#define HV_MSR_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/vm.h"

/* Performs the access on v (EDX:EAX <-> ECX); 0, or -EPERM to inject #GP. */
int msr_access(struct vcpu *v, uint32_t msr, bool write);

#endif
