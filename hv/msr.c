/*
 * MSRs a guest may touch. Two kinds: those in the state record (EFER, PAT,
 * SYSENTER, FS/GS base, the SYSCALL MSRs, KERNEL_GS_BASE, TSC_AUX: the
 * backend keeps them, in the VMCS/VMCB or lazily in the CPU), and those
 * emulated here (APIC base, feature control, MTRRs, ...).
 */
#include <errno.h>

#include "arch/x86_64/cpu.h"
#include "hv/msr.h"
#include "hv/vcpu_ops.h"

#define MSR_TSC            0x10
#define MSR_APIC_BASE      0x1b
#define MSR_FEATURE_CTL    0x3a
#define MSR_BIOS_SIGN_ID   0x8b
#define MSR_MTRRCAP        0xfe
#define MSR_SYSENTER_CS    0x174
#define MSR_SYSENTER_ESP   0x175
#define MSR_SYSENTER_EIP   0x176
#define MSR_MISC_ENABLE    0x1a0
#define MSR_PAT            0x277
#define MSR_MTRR_DEF_TYPE  0x2ff

static bool canonical(uint64_t a) { return (uint64_t)((int64_t)(a << 16) >> 16) == a; }

static bool pat_valid(uint64_t pat)
{
    for (unsigned i = 0; i < 8; i++) {
        uint8_t t = pat >> (8 * i);
        if (t == 2 || t == 3 || t > 7)
            return false;
    }
    return true;
}

/* MSRs that live in the state record. Returns 1 if msr is not one of them. */
static int state_msr(struct vcpu *v, uint32_t msr, bool write, uint64_t *val)
{
    struct vcpu_state s;
    uint64_t *f;
    hv_ops->vcpu_get_state(v, &s);
    switch (msr) {
    case MSR_TSC: f = &s.tsc; break;
    case MSR_SYSENTER_CS: f = &s.sysenter_cs; break;
    case MSR_SYSENTER_ESP: f = &s.sysenter_esp; break;
    case MSR_SYSENTER_EIP: f = &s.sysenter_eip; break;
    case MSR_PAT: f = &s.pat; break;
    case MSR_EFER: f = &s.efer; break;
    case MSR_FS_BASE: f = &s.fs.base; break;
    case MSR_GS_BASE: f = &s.gs.base; break;
    case MSR_STAR: f = &s.star; break;
    case MSR_LSTAR: f = &s.lstar; break;
    case MSR_CSTAR: f = &s.cstar; break;
    case MSR_SFMASK: f = &s.sfmask; break;
    case MSR_KERNEL_GS_BASE: f = &s.kernel_gs_base; break;
    case MSR_TSC_AUX: f = &s.tsc_aux; break;
    default: return 1;
    }
    if (!write) {
        *val = *f;
        return 0;
    }
    if (msr == MSR_PAT && !pat_valid(*val))
        return -EPERM;
    if ((msr == MSR_FS_BASE || msr == MSR_GS_BASE || msr == MSR_SYSENTER_ESP ||
         msr == MSR_SYSENTER_EIP || msr == MSR_LSTAR || msr == MSR_CSTAR ||
         msr == MSR_KERNEL_GS_BASE) && !canonical(*val))
        return -EPERM;
    if (msr == MSR_TSC_AUX && *val >> 32)
        return -EPERM;
    if (msr == MSR_EFER) {
        /* SCE, LME, NXE are the guest's; LMA follows paging and is kept. */
        const uint64_t efer_rw = 1 | (1 << 8) | (1 << 11);
        if (*val & ~(efer_rw | (1 << 10)))
            return -EPERM;
        *val = (*val & efer_rw) | (s.efer & (1 << 10));
    }
    *f = *val;
    hv_ops->vcpu_set_state(v, &s);
    return 0;
}

static int emulated_msr(struct vcpu *v, uint32_t msr, bool write, uint64_t *val)
{
    switch (msr) {
    case MSR_APIC_BASE: {
        uint64_t base = 0xfee00000ull | (1 << 11) | (v->index == 0 ? 1 << 8 : 0);
        if (write)
            return *val == base ? 0 : -EPERM;   /* relocating or disabling the APIC: not yet */
        *val = base;
        return 0;
    }
    case MSR_FEATURE_CTL:
        if (write)
            return -EPERM;
        *val = 1;                               /* locked, VMX off: no nested virtualization */
        return 0;
    case MSR_BIOS_SIGN_ID:
        if (!write)
            *val = 0;
        return 0;                               /* microcode loads are ignored */
    case MSR_MTRRCAP:
        if (write)
            return -EPERM;
        *val = 0;                               /* no variable or fixed MTRRs, no WC */
        return 0;
    case MSR_MTRR_DEF_TYPE:
        if (write && (*val & ~0xcffull))
            return -EPERM;
        if (write)
            v->mtrr_def_type = *val;
        else
            *val = v->mtrr_def_type;
        return 0;
    case MSR_MISC_ENABLE:
        /* fast strings; BTS and PEBS unavailable */
        if (!write)
            *val = 1 | (1 << 11) | (1 << 12);
        return 0;
    default:
        return -EPERM;
    }
}

int msr_access(struct vcpu *v, uint32_t msr, bool write)
{
    uint64_t val = (v->gpr[GPR_RDX] << 32) | (uint32_t)v->gpr[GPR_RAX];
    int rc;

    rc = state_msr(v, msr, write, &val);
    if (rc == 1)
        rc = emulated_msr(v, msr, write, &val);
    if (rc)
        return rc;
    if (!write) {
        v->gpr[GPR_RAX] = (uint32_t)val;
        v->gpr[GPR_RDX] = val >> 32;
    }
    return 0;
}
