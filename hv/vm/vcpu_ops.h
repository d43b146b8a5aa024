/*
 * The one interface through which hv/ reaches the virtualization hardware.
 * arch/x86_64/vmx/ and arch/x86_64/svm/ each fill a struct vcpu_ops; the
 * backend is chosen at boot from CPUID (hv_select_backend) and nothing in
 * hv/ names a vendor.
 *
 * Threading: cpu_init, vcpu_create, vcpu_run, vcpu_get/set_state and
 * vcpu_destroy run on the host CPU the vCPU is pinned to; vm_init and
 * vm_destroy run on the control plane while no vCPU of the VM runs.
 */
#ifndef HV_VCPU_OPS_H
#define HV_VCPU_OPS_H

#include <stddef.h>

#include "arch/x86_64/slpt.h"
#include "hv/vm/vm.h"

struct vcpu_ops {
    const char *name;
    int (*cpu_init)(void);                          /* per host CPU: VMXON / EFER.SVME */
    int (*vm_init)(struct vm *vm);                  /* second-level page tables from vm->chunks */
    void (*vm_destroy)(struct vm *vm);
    int (*vcpu_create)(struct vcpu *v);             /* VMCS/VMCB from v->init */
    void (*vcpu_destroy)(struct vcpu *v);
    /* Applies the previous exit's result (exit->advance), enters the guest, and
     * describes the next exit in *exit. Returns 0, or -EIO if entry failed. */
    int (*vcpu_run)(struct vcpu *v, struct hv_exit *exit);
    void (*vcpu_get_state)(struct vcpu *v, struct vcpu_state *s);
    /* Applies a pending v->exit.advance now (RIP past the instruction that exited, its STI /
     * MOV SS shadow gone) so that a saved state never repeats an instruction already done. */
    void (*vcpu_retire)(struct vcpu *v);
    void (*vcpu_set_state)(struct vcpu *v, const struct vcpu_state *s);
    /* Whether vcpu_set_state with s would give a state this CPU enters (VT-x: the guest-state
     * checks of VM entry, SDM 26.3.1, with the PAE PDPTEs read from vm's RAM at CR3): 0, or
     * -EINVAL with why. Only reads vm's RAM; callable from any CPU (an incoming migration's
     * vCPUs, before the target acknowledges). NULL: nothing is checked beyond
     * msr_state_check. */
    int (*vcpu_state_check)(struct vm *vm, const struct vcpu_state *s, char *why, size_t n);
    int (*vcpu_inject)(struct vcpu *v, const struct vcpu_event *e);
    /* Before an entry: can an external interrupt be injected now (no event queued, RFLAGS.IF
     * set, no STI / MOV SS shadow once a pending RIP advance retires)? With pending and not
     * ready, the backend arms interrupt-window exiting (VT-x) / a V_IRQ request (SVM) so the
     * guest exits as soon as it can take one; otherwise it disarms them. Called with the VM's
     * device lock held: it only reads and writes the VMCS/VMCB. */
    bool (*vcpu_irq_ready)(struct vcpu *v, bool pending);
    /* Before every entry, first: can an NMI be injected now (no event queued, no MOV SS / STI
     * shadow, the guest's last NMI handler done: VT-x's virtual-NMI blocking, SVM's IRET)?
     * With pending and not ready, the backend arranges an exit for when it can (NMI-window
     * exiting; SVM: the IRET intercept). Called with the device lock held. */
    bool (*vcpu_nmi_ready)(struct vcpu *v, bool pending);
    /* CR8 on a backend where the guest writes it without an exit (SVM's V_TPR; NULL on VT-x,
     * whose CR8 accesses exit): after an exit, true with *cr8 if the guest wrote it since the
     * last push; before an entry (device lock held), push the local APIC's TPR[7:4]. */
    bool (*vcpu_cr8_pull)(struct vcpu *v, uint8_t *cr8);
    void (*vcpu_cr8_push)(struct vcpu *v, uint8_t cr8);
    /* Reads up to n bytes of guest code at RIP (through the guest's page tables). */
    int (*vcpu_fetch)(struct vcpu *v, uint8_t *buf, size_t n);
    /* Logs the hardware state (VMCS / VMCB) of a vCPU that stopped. */
    void (*vcpu_dump)(struct vcpu *v);
    /* Leaves the guest's lazily-kept state (FPU, syscall MSRs) in v, e.g. before switching vCPUs. */
    void (*vcpu_put)(struct vcpu *v);
    void (*vcpu_load)(struct vcpu *v);
    /* The VM's second-level table (EPT or NPT) for dirty logging (hv/vm/dirty.c). */
    void (*vm_slpt)(struct vm *vm, struct slpt *t);
    /* Dirty-logging modes beyond write protection the CPU offers (DIRTY_MODE_BIT()s). The
     * backend follows vm->dirty_on/dirty_mode at each vCPU's next entry: A/D flags and PML
     * on or off, a PML log drained into the VM's bitmap at every exit. */
    unsigned (*dirty_modes)(void);
};

/* Chosen at boot by arch_select_backend(); NULL: no usable virtualization. */
extern const struct vcpu_ops *hv_ops;

#endif
