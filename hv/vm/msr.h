/*
 * The guest MSR allow-list. Every RDMSR/WRMSR exits; an MSR not in the
 * table, one the VM's CPU policy says does not exist, or a value it refuses
 * gets #GP, as on hardware without that MSR.
 */
#ifndef HV_MSR_H
#define HV_MSR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/vm/vm.h"

/* Performs the access on v (EDX:EAX <-> ECX); 0, or -EPERM to inject #GP. */
int msr_access(struct vcpu *v, uint32_t msr, bool write);

/*
 * A whole state record, as an incoming migration brings it, by the rules the guest's own
 * writes meet: each MSR in it as WRMSR would take it (msr_access), CR0 and CR4 as MOV to CR
 * would (cr0_write_ok; CR4 bits need their features in p), CR3 within p's MAXPHYADDR, the
 * registers whose reserved bits would fault in the host's WRMSR or fail the entry (CR8, DR7,
 * RFLAGS, descriptor tables); and everything a CPU holds together, of either vendor, as VM
 * entry (SDM 26.3.1) and VMRUN (APM 15.5.1) insist: paging mode and EFER, RIP, segment
 * registers as loads make them, interrupt shadows, HLT, the pending event. What one vendor's
 * state merely lacks (accessed types, G, ...) is the loading backend's to supply. 0, or
 * -EINVAL with the first offence in why.
 */
int msr_state_check(const struct cpu_policy *p, const struct vcpu_state *s, char *why,
                    size_t n);
/* MOV to CR0 takes val (bits 63:32 clear, PG only with PE, NW only with CD), else #GP. */
bool cr0_write_ok(uint64_t val);
/* An emulated MOV to CR0 or CR4 (cr) of val on state s under policy p: 0 with s updated
 * (CR0.PG on with EFER.LME turns IA-32e mode on, EFER.LMA; off turns it off), or -EINVAL for
 * the #GP the CPU raises (reserved or hidden bits, long mode without PAE or from 64-bit code,
 * CR4.PAE off or LA57 changed in IA-32e mode, PCIDE outside it). */
int cr_write(const struct cpu_policy *p, struct vcpu_state *s, unsigned cr, uint64_t val);

/* IA32_MISC_ENABLE as a VM with policy p reads it. */
uint64_t msr_misc_enable(const struct cpu_policy *p);

#endif
