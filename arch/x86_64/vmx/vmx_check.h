/*
 * The checks VM entry makes on a guest state (SDM Vol. 3C 26.3.1, "Checks on the Guest State
 * Area", and the event-injection checks of 26.2.1.3), as pure code on an image of the VMCS
 * fields they read. vmx_state.c builds that image from a vCPU record exactly as it writes the
 * VMCS (vmx_guest_from_state), so vmx_guest_state_check() says, before anything is written,
 * whether a record would enter on this host; the host tests and tests/fuzz/fuzz_vcpu_state.c
 * check the VMCS the loader really wrote against the same rules.
 *
 * Only what ferry's controls make relevant is checked: no VMCS shadowing (link pointer
 * ~0), no SMM, no MTF, no PERF_GLOBAL_CTRL / BNDCFGS / RTIT / CET / PKRS loading; the
 * "unrestricted guest", "virtual NMIs", "load debug controls", "load IA32_PAT/EFER" and
 * "IA-32e mode guest" controls are read from the image.
 */
#ifndef VMX_VMX_CHECK_H
#define VMX_VMX_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { VMX_SEG_ES, VMX_SEG_CS, VMX_SEG_SS, VMX_SEG_DS, VMX_SEG_FS, VMX_SEG_GS, VMX_SEG_LDTR,
       VMX_SEG_TR, VMX_SEGS };

/* The VMCS fields VM entry checks (and RSP / SYSENTER_CS, which the loader writes too). */
struct vmx_guest {
    uint16_t sel[VMX_SEGS];
    uint32_t limit[VMX_SEGS], ar[VMX_SEGS];
    uint64_t base[VMX_SEGS];
    uint64_t gdtr_base, idtr_base;
    uint32_t gdtr_limit, idtr_limit;
    uint64_t cr0, cr3, cr4, dr7, rsp, rip, rflags, pending_dbg;
    uint64_t debugctl, pat, efer, link_ptr, pdpte[4];
    uint32_t sysenter_cs;
    uint64_t sysenter_esp, sysenter_eip;
    uint32_t interruptibility, activity;
    uint32_t pin, proc, proc2, entry;           /* VM-execution and VM-entry controls */
    uint32_t intr_info, exc_error, insn_len;    /* VM-entry event injection */
};

/* What this CPU allows (VMX capability MSRs, CPUID). */
struct vmx_entry_caps {
    uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;  /* IA32_VMX_CR0/CR4_FIXED0/1 */
    unsigned phys_bits;         /* MAXPHYADDR */
    unsigned linear_bits;       /* 48 (57 with LA57) */
    bool hlt;                   /* IA32_VMX_MISC[6]: activity state HLT */
    bool inject_len0;           /* IA32_VMX_MISC[30]: software events with length 0 */
    bool cet;                   /* CET: #CP (vector 21) delivers an error code */
};

/* 0 if VM entry takes g on a CPU with caps c; else -EINVAL and the first failed check in why. */
int vmx_guest_check(const struct vmx_guest *g, const struct vmx_entry_caps *c, char *why,
                    size_t n);

#endif
