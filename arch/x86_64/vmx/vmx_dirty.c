/*
 * VT-x side of dirty logging (hv/vm/dirty.c): EPT A/D flags (EPTP bit 6) and page-modification
 * logging follow the VM's mode. Only the CPU a vCPU runs on can write its VMCS, so they are
 * switched there before an entry (hv/'s vm_flush_all waits for that), and the PML log is
 * drained into the VM's bitmap at every exit, KVM's practice, so that an exit is all a
 * harvest needs to see a vCPU's log.
 */
#include "arch/x86_64/vmx/vmcs.h"
#include "arch/x86_64/vmx/vmx.h"
#include "arch/x86_64/vmx/vmx_caps.h"
#include "hv/vm/dirty.h"

unsigned vmx_dirty_modes(void)
{
    if (!vmx_caps.ad)
        return 0;
    /* PML logs dirty-flag changes: no A/D, no PML (SDM vol. 3C 28.2.5). */
    return DIRTY_MODE_BIT(DIRTY_AD) | (vmx_caps.pml ? DIRTY_MODE_BIT(DIRTY_PML) : 0);
}

/*
 * A/D is on only while logging in AD or PML mode: with it on, the CPU's accesses to guest
 * paging structures count as writes (SDM vol. 3C 28.2.3.2), which under write protection
 * would fault and log page-table pages as dirty on every walk. Returns true if the EPTP
 * changed: translations cached under the old one must go (the caller's INVEPT).
 */
bool vmx_dirty_sync(struct vcpu *v)
{
    struct vmx_vcpu *x = v->arch;
    bool ad = vm_dirty_wants_ad(v->vm), pml = ad && x->pml && vm_dirty_wants_pml(v->vm);
    if (ad == x->ad_on && pml == x->pml_on)
        return false;
    vmcs_write64(VMCS_EPT_POINTER, ept_pointer(((struct vmx_vm *)v->vm->arch)->ept_root, ad));
    if (pml) {
        vmcs_write64(VMCS_PML_ADDRESS, x->pml_pa);
        vmcs_write16(VMCS_GUEST_PML_INDEX, VMX_PML_ENTRIES - 1);
    }
    vmcs_write32(VMCS_PROC_CTLS2, vmx_caps.proc2 | (pml ? VMX_PROC2_PML : 0));
    x->ad_on = ad;
    x->pml_on = pml;
    return true;
}

static void log_gpa(void *ctx, uint64_t gpa) { vm_dirty_log(ctx, gpa); }

void vmx_pml_drain_vcpu(struct vcpu *v)
{
    struct vmx_vcpu *x = v->arch;
    uint16_t idx = vmcs_read16(VMCS_GUEST_PML_INDEX);
    if (idx == VMX_PML_ENTRIES - 1)
        return;
    vmx_pml_drain(x->pml, idx, log_gpa, v->vm);
    vmcs_write16(VMCS_GUEST_PML_INDEX, VMX_PML_ENTRIES - 1);
}
