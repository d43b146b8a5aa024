/*
 * Guest FPU/SIMD state. The host never uses those registers, so a vCPU's
 * state simply stays in them across exits; XSAVE/XRSTOR move it only when
 * another vCPU takes the CPU (or the state must be read or migrated).
 */
#ifndef ARCH_FPU_H
#define ARCH_FPU_H

#include <stddef.h>
#include <stdint.h>

void fpu_cpu_init(void);            /* per CPU, after CR4.OSXSAVE is set */
size_t fpu_area_size(void);         /* 0: no XSAVE, state is not switched */
/* Bytes of the standard-format area that hold the components in xcr0 (>= 576, 64-aligned). */
size_t fpu_area_size_for(uint64_t xcr0);
/*
 * What XRSTOR of a standard-format area needs on a CPU: its XCR0 bits, area size, MXCSR_MASK
 * (from FXSAVE; 0xFFBF when it reads 0) and where each component ends (offset + size).
 */
struct fpu_caps {
    uint64_t supported;
    size_t area_size;
    uint32_t mxcsr_mask;
    uint32_t comp_end[64];
};
/*
 * 0 if an area of n bytes from another host can be loaded on the CPU c describes for a vCPU
 * whose state may hold the components in xcr0: size within this CPU's and a multiple of 64,
 * XCOMP_BV and the header's reserved bytes zero (standard form), XSTATE_BV within xcr0, every
 * component it names inside the n bytes, MXCSR within MXCSR_MASK. Else -1 and why.
 * fpu_area_check does it for this host (arch/x86_64/fpu_check.c: no instruction, host-tested).
 */
int fpu_area_valid(const struct fpu_caps *c, const void *area, size_t n, uint64_t xcr0,
                   char *why, size_t wn);
int fpu_area_check(const void *area, size_t n, uint64_t xcr0, char *why, size_t wn);
void fpu_area_init(void *area);     /* the architectural init state */
uint64_t fpu_xcr0_supported(void);
/* Registers -> area (a vCPU's XSAVE area, NULL: none); with XSAVE, *xcr0 = the guest's XCR0. */
void fpu_put(void *area, uint64_t *xcr0);
/* area -> registers, then the guest's xcr0 (0: the reset value, x87 only). */
void fpu_load(const void *area, uint64_t xcr0);
void fpu_set_xcr0(uint64_t v);
/* The XCR0 in the CPU now (a loaded vCPU's: a guest's XSETBV that did not exit, as under
 * QEMU TCG's SVM, changed it there); fallback without XSAVE. */
uint64_t fpu_live_xcr0(uint64_t fallback);

#endif
