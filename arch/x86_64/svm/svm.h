/* AMD-V backend internals shared by the svm_*.c files. */
#ifndef SVM_SVM_H
#define SVM_SVM_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/x86_64/svm/vmcb.h"
#include "hv/vm/vm.h"

struct svm_vcpu {
    struct vmcb *vmcb;
    uint64_t vmcb_pa;
    /*
     * SYSENTER_ESP/EIP as the guest wrote them: AMD CPUs keep only their low 32 bits (VMSAVE
     * stores what the MSR holds), while an Intel-born guest may hold 64-bit values there.
     * Every guest access to them exits (hv/vm/msr.c), so these copies stay authoritative.
     */
    uint64_t sysenter_esp, sysenter_eip;
    bool nmi_masked;             /* an NMI was injected and its handler's IRET not seen yet */
    bool nmi_after_iret;         /* that IRET runs at this entry, an NMI waits: exit soon */
    uint8_t vtpr;                /* V_TPR as ferry last loaded it: another value is the guest's */
    bool nmi_step;               /* the handler's IRET runs single-stepped (TF, #DB intercepted) */
    uint64_t nmi_step_rip;       /* ... from here */
};

struct svm_caps {
    bool nrips, decode, npt_1g;
    unsigned asids;
};

extern struct svm_caps svm_caps;

int svm_enter(uint64_t *gpr, uint64_t vmcb_pa, uint64_t host_area_pa);
void svm_decode_exit(struct vcpu *v, struct hv_exit *exit);

#endif
