/*
 * vCPU scheduling: every AP runs sched_loop, round-robin over the vCPUs
 * pinned to it, one VMX-preemption-timer slice (or SVM timer slice) at a
 * time. Switching vCPUs moves the guests' lazily-kept state (FPU via XSAVE,
 * SYSCALL MSRs). The BSP never runs guests.
 */
#ifndef HV_SCHED_H
#define HV_SCHED_H

#include "hv/vm/vm.h"

#define SCHED_MAX_VCPUS 32
#define SCHED_SLICE_US 10000

void sched_start(void);                 /* at boot: every online AP enters sched_loop */
int sched_add(struct vcpu *v);          /* v->pcpu must be an AP running sched_loop */
void sched_kick(unsigned pcpu);         /* make that CPU look at its vCPUs' requests now */
/* The least loaded AP (counting `taken`, CPUs chosen but not yet added), on node if possible. */
unsigned sched_pick_cpu(unsigned node, const unsigned *taken, unsigned ntaken);
unsigned sched_load(unsigned pcpu);
bool sched_cpu_ready(unsigned pcpu);     /* its backend is up: it can run guests */

#endif
