/* Picks the vCPU backend from what the CPU offers (arch/x86_64/virt_caps.c). */
#include "arch/x86_64/backend.h"
#include "hv/base/log.h"

extern const struct vcpu_ops vmx_ops, svm_ops;

const struct vcpu_ops *arch_select_backend(const struct virt_caps *vc)
{
    if (vc->disabled_by_firmware) {
        log_warn("virt", "virtualization is disabled by firmware: no guests");
        return NULL;
    }
    if (vc->kind == VIRT_VMX && vc->ept && vc->preempt)
        return &vmx_ops;
    if (vc->kind == VIRT_VMX)
        log_warn("virt", "VT-x without EPT or the preemption timer is not supported");
    if (vc->kind == VIRT_SVM && vc->npt)
        return &svm_ops;
    if (vc->kind == VIRT_SVM)
        log_warn("virt", "AMD-V without nested paging is not supported");
    return NULL;
}
