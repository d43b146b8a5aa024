/*
 * VT-x capabilities come from the VMX capability MSRs (SDM vol. 3 app. A):
 * secondary controls' allowed-1 bits in IA32_VMX_PROCBASED_CTLS2[63:32],
 * EPT A/D in IA32_VMX_EPT_VPID_CAP bit 21, the preemption timer in the pin-
 * based allowed-1 bit 6. AMD-V from CPUID 0x8000000A (APM vol. 2 15.4):
 * EBX = ASIDs, EDX bit 0 NP, bit 3 NRIPS, bit 7 decode assists.
 */
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/virt_caps.h"

#define FC_LOCK        0x1
#define FC_VMX_OUTSIDE_SMX 0x4
#define VM_CR_SVMDIS   (1u << 4)

static void probe_vmx(struct virt_caps *vc)
{
    uint64_t fc = rdmsr(MSR_IA32_FEATURE_CONTROL);
    uint64_t basic = rdmsr(MSR_IA32_VMX_BASIC);
    bool true_ctls = basic & (1ull << 55);
    uint64_t pin = rdmsr(true_ctls ? MSR_IA32_VMX_TRUE_PINBASED_CTLS : MSR_IA32_VMX_PINBASED_CTLS);
    uint64_t proc = rdmsr(true_ctls ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS
                                    : MSR_IA32_VMX_PROCBASED_CTLS);

    vc->kind = VIRT_VMX;
    vc->disabled_by_firmware = (fc & FC_LOCK) && !(fc & FC_VMX_OUTSIDE_SMX);
    vc->preempt = (pin >> 32) & (1u << 6);
    if (!((proc >> 32) & (1u << 31)))
        return;     /* no secondary controls: none of EPT, VPID, UG, PML */
    uint32_t sec = rdmsr(MSR_IA32_VMX_PROCBASED_CTLS2) >> 32;
    vc->ept = sec & (1u << 1);
    vc->vpid = sec & (1u << 5);
    vc->ug = sec & (1u << 7);
    vc->pml = sec & (1u << 17);
    if (vc->ept || vc->vpid)
        vc->ad = rdmsr(MSR_IA32_VMX_EPT_VPID_CAP) & (1ull << 21);
}

static void probe_svm(struct virt_caps *vc)
{
    struct cpuid_regs r = cpuid(0x8000000a, 0);
    vc->kind = VIRT_SVM;
    vc->disabled_by_firmware = rdmsr(MSR_VM_CR) & VM_CR_SVMDIS;
    vc->asids = r.ebx;
    vc->npt = r.edx & (1u << 0);
    vc->nrips = r.edx & (1u << 3);
    vc->decode = r.edx & (1u << 7);
}

void virt_caps_probe(struct virt_caps *vc)
{
    memset(vc, 0, sizeof(*vc));
    if (cpuid(1, 0).ecx & (1u << 5)) {
        probe_vmx(vc);
        return;
    }
    if (cpuid(0x80000000, 0).eax >= 0x8000000a && (cpuid(0x80000001, 0).ecx & (1u << 2)))
        probe_svm(vc);
}

void virt_caps_format(const struct virt_caps *vc, char *buf, size_t n)
{
    static const char *const vmx_names[] = { "ept", "vpid", "ug", "pml", "ad", "preempt" };
    static const char *const svm_names[] = { "npt", "nrips", "asid", "decode" };
    bool vmx_have[] = { vc->ept, vc->vpid, vc->ug, vc->pml, vc->ad, vc->preempt };
    bool svm_have[] = { vc->npt, vc->nrips, vc->asids > 1, vc->decode };
    size_t off;

    if (vc->kind == VIRT_NONE || vc->disabled_by_firmware) {
        snprintf(buf, n, "none");
        return;
    }
    bool vmx = vc->kind == VIRT_VMX;
    off = snprintf(buf, n, vmx ? "vmx" : "svm");
    for (unsigned i = 0; i < (vmx ? 6u : 4u) && off < n; i++)
        if (vmx ? vmx_have[i] : svm_have[i])
            off += snprintf(buf + off, n - off, " %s", vmx ? vmx_names[i] : svm_names[i]);
}

void cpu_vendor(char out[13])
{
    struct cpuid_regs r = cpuid(0, 0);
    memcpy(out, &r.ebx, 4);
    memcpy(out + 4, &r.edx, 4);
    memcpy(out + 8, &r.ecx, 4);
    out[12] = 0;
}

void cpu_brand(char out[49])
{
    out[0] = 0;
    if (cpuid(0x80000000, 0).eax < 0x80000004)
        return;
    for (unsigned i = 0; i < 3; i++) {
        struct cpuid_regs r = cpuid(0x80000002 + i, 0);
        memcpy(out + i * 16, &r, 16);
    }
    out[48] = 0;
    char *s = out;
    while (*s == ' ')
        s++;
    memmove(out, s, strlen(s) + 1);
}
