/* VT-x backend internals shared by the vmx_*.c files. */
#ifndef VMX_VMX_H
#define VMX_VMX_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/x86_64/vmx/vmx_check.h"
#include "hv/vm/vm.h"

#define MSR_VMX_MISC        0x485
#define MSR_VMX_CR0_FIXED0  0x486
#define MSR_VMX_CR0_FIXED1  0x487
#define MSR_VMX_CR4_FIXED0  0x488
#define MSR_VMX_CR4_FIXED1  0x489
#define MSR_VMX_TRUE_EXIT   0x48f
#define MSR_VMX_TRUE_ENTRY  0x490
#define MSR_VMX_EXIT        0x483
#define MSR_VMX_ENTRY       0x484
#define MSR_IA32_PAT        0x277
#define VMX_PROC2_PML       (1u << 17)     /* secondary control "enable PML" */

struct vmx_vcpu {
    uint64_t vmcs_pa;
    void *vmcs;
    bool launched;
    uint16_t vpid;
    uint32_t last_insn_len;
    uint64_t cr0_shadow_mask, cr4_shadow_mask;
    uint64_t pml_pa;             /* this vCPU's page-modification log (0: no PML here) */
    uint64_t *pml;
    bool ad_on, pml_on;          /* what the VMCS has now (EPTP bit 6, the PML control) */
    bool intr_window;            /* interrupt-window exiting is on */
    bool nmi_window;             /* NMI-window exiting is on */
};

struct vmx_vm {
    uint64_t ept_root;
    uint64_t eptp;
    unsigned ept_pages;
};

struct vmx_caps_cache {
    uint32_t pin, proc, proc2, exit, entry;   /* the controls every VMCS uses */
    uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
    unsigned preempt_shift;
    bool inject_len0;              /* IA32_VMX_MISC[30]: software events with length 0 */
    bool hlt;                      /* IA32_VMX_MISC[6]: activity state HLT */
    bool cet;                      /* CPUID CET_SS or CET_IBT: #CP pushes an error code */
    unsigned phys_bits;            /* MAXPHYADDR (CPUID 0x80000008 EAX[7:0]) */
    bool ug, vpid, ept_1g, invept_single, ad, pml, vnmi;
    uint32_t revision;
};

extern struct vmx_caps_cache vmx_caps;

/* A guest CR0 (which=0) or CR4 (which=4) value with the bits VMX forces applied. */
static inline uint64_t vmx_fixed_cr_guest(uint64_t v, int which)
{
    return which ? (v | vmx_caps.cr4_fixed0) & vmx_caps.cr4_fixed1
                 : (v | vmx_caps.cr0_fixed0) & vmx_caps.cr0_fixed1;
}

uint32_t vmx_ar_from_attr(uint32_t attr);
uint32_t vmx_attr_from_ar(uint32_t ar);
/* A segment attribute as loaded (accessed code/data, busy TSS in TR, i = 7): see vmx_state.c. */
uint32_t vmx_loaded_attr(unsigned i, uint32_t attr);

int vmx_enter(uint64_t *gpr, int launched);
void vmx_exit_point(void);

void vmx_decode_exit(struct vcpu *v, struct hv_exit *exit);
/* PAE paging (CR0.PG, CR4.PAE, not IA-32e mode): with EPT, VM entry loads the four PDPTEs
 * from the VMCS (SDM 26.3.2.4), not from the table at CR3; the guest's own MOV to CR0/CR3/CR4
 * loads them from memory (and an exit saves them). The record does not carry them (SVM has no
 * such registers under nested paging), so a loader reads them from the table at CR3, as the
 * guest's last MOV to CR3 did: pdpte, NULL when PAE paging is off. */
bool vmx_pae_paging(const struct vcpu_state *s);
/* The VM-entry interruption information for event e with the guest's CR0 (SDM 25.8.3): NMI
 * as vector 2; the error-code bit only for an exception that pushes one, and never in real
 * mode (CR0.PE clear under unrestricted guest, 26.2.1.3). 0: e is nothing VMX injects. */
uint32_t vmx_event_info(const struct vcpu_event *e, uint64_t cr0);
void vmx_write_guest_state(const struct vcpu_state *s, const uint64_t *pdpte);
void vmx_read_guest_state(struct vcpu_state *s);
/* The VMCS fields vmx_write_guest_state writes for s, with VM-entry controls `entry` (its
 * IA-32e bit follows EFER.LMA) and the other controls from vmx_caps. */
void vmx_guest_from_state(struct vmx_guest *x, const struct vcpu_state *s, uint32_t entry,
                          const uint64_t *pdpte);
/* Whether s, loaded by vmx_write_guest_state with pdpte, would pass VM entry's guest-state
 * checks on this CPU (vmx_guest_check): 0, or -EINVAL with the failed check in why. Pure
 * (reads vmx_caps only): the target of a migration can ask before it acknowledges. */
int vmx_guest_state_check(const struct vcpu_state *s, const uint64_t *pdpte, char *why,
                          size_t n);
int vmx_controls_init(void);

/* Dirty logging (vmx_dirty.c): modes offered; before an entry, A/D and PML as the VM wants
 * them (true: the EPTP changed, INVEPT); after an exit with PML on, the log drained. */
unsigned vmx_dirty_modes(void);
bool vmx_dirty_sync(struct vcpu *v);
void vmx_pml_drain_vcpu(struct vcpu *v);

#endif
