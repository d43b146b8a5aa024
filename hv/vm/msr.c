/*
 * MSRs a guest may touch. Two kinds: those in the state record (EFER, PAT,
 * SYSENTER, FS/GS base, the SYSCALL MSRs, KERNEL_GS_BASE, TSC_AUX: the
 * backend keeps them, in the VMCS/VMCB or lazily in the CPU), and those
 * emulated here (APIC base, feature control, MTRRs, ...).
 *
 * Every MSR follows the VM's CPU policy as on hardware: one whose feature the
 * policy hides does not exist (#GP; msr_features), EFER bits need theirs, and
 * the Intel-only ones (FEATURE_CONTROL, MISC_ENABLE) do not exist for a VM with
 * another vendor string. Values that describe features come from the policy:
 * IA32_ARCH_CAPABILITIES is the policy's arch_caps; IA32_MISC_ENABLE shows
 * MONITOR/MWAIT enabled only with MONITOR (never, today), XD disabled without
 * NX, no EIST, no CPUID limit, no PMU (SDM Vol. 4 Table 2-2). Features whose
 * MSRs are not virtualized are hidden by the host rules (cpu_host_rules.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "hv/vm/msr.h"
#include "hv/vm/vcpu_ops.h"

#define MSR_TSC            0x10
#define MSR_APIC_BASE      0x1b
#define MSR_FEATURE_CTL    0x3a
#define MSR_BIOS_SIGN_ID   0x8b
#define MSR_MTRRCAP        0xfe
#define MSR_SYSENTER_CS    0x174
#define MSR_SYSENTER_ESP   0x175
#define MSR_SYSENTER_EIP   0x176
#define MSR_ARCH_CAPS      0x10a
#define MSR_MISC_ENABLE    0x1a0
#define MSR_PAT            0x277
#define MSR_MTRR_DEF_TYPE  0x2ff
#define MSR_XSS            0xda0        /* supervisor state components for XSAVES */
#define MSR_K8_INT_PENDING 0xc0010055   /* AMD family 0Fh/10h: C1E and SMI message status */

#define EFER_SCE   (1ull << 0)
#define EFER_LME   (1ull << 8)
#define EFER_LMA   (1ull << 10)
#define MISC_FAST_STRINGS  (1ull << 0)
#define MISC_BTS_UNAVAIL   (1ull << 11)
#define MISC_PEBS_UNAVAIL  (1ull << 12)
#define MISC_MONITOR       (1ull << 18)
#define MISC_XD_DISABLE    (1ull << 34)

/* An MSR exists for the guest only with one of these features (-1: no second choice). */
static const struct { uint32_t msr; int16_t feat, alt; } msr_features[] = {
    { MSR_TSC, CPU_FEAT_TSC, -1 },
    { MSR_APIC_BASE, CPU_FEAT_APIC, -1 },
    { MSR_MTRRCAP, CPU_FEAT_MTRR, -1 },
    { MSR_MTRR_DEF_TYPE, CPU_FEAT_MTRR, -1 },
    { MSR_SYSENTER_CS, CPU_FEAT_SEP, -1 },
    { MSR_SYSENTER_ESP, CPU_FEAT_SEP, -1 },
    { MSR_SYSENTER_EIP, CPU_FEAT_SEP, -1 },
    { MSR_PAT, CPU_FEAT_PAT, -1 },
    { MSR_ARCH_CAPS, CPU_FEAT_ARCH_CAPABILITIES, -1 },
    { MSR_STAR, CPU_FEAT_SYSCALL, -1 },
    { MSR_LSTAR, CPU_FEAT_SYSCALL, -1 },
    { MSR_CSTAR, CPU_FEAT_SYSCALL, -1 },
    { MSR_SFMASK, CPU_FEAT_SYSCALL, -1 },
    { MSR_FS_BASE, CPU_FEAT_LM, -1 },
    { MSR_GS_BASE, CPU_FEAT_LM, -1 },
    { MSR_KERNEL_GS_BASE, CPU_FEAT_LM, -1 },
    { MSR_TSC_AUX, CPU_FEAT_RDTSCP, CPU_FEAT_RDPID },
    { MSR_XSS, CPU_FEAT_XSAVES, -1 },
};

static bool msr_exists(const struct cpu_policy *p, uint32_t msr)
{
    if (msr == MSR_FEATURE_CTL || msr == MSR_MISC_ENABLE)
        return !strcmp(p->vendor, "GenuineIntel");
    if (msr == MSR_K8_INT_PENDING)
        return !strcmp(p->vendor, "AuthenticAMD");
    for (size_t i = 0; i < sizeof(msr_features) / sizeof(msr_features[0]); i++)
        if (msr_features[i].msr == msr)
            return cpu_policy_has(p, msr_features[i].feat) ||
                   (msr_features[i].alt >= 0 && cpu_policy_has(p, msr_features[i].alt));
    return true;                        /* not tied to a feature; the allow-list decides */
}

/* EFER bits the guest may set: SCE with SYSCALL, LME (and LMA) with LM, NXE with NX. */
static uint64_t efer_writable(const struct cpu_policy *p)
{
    return (cpu_policy_has(p, CPU_FEAT_SYSCALL) ? EFER_SCE : 0) |
           (cpu_policy_has(p, CPU_FEAT_LM) ? EFER_LME : 0) |
           (cpu_policy_has(p, CPU_FEAT_NX) ? EFER_NXE : 0);
}

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

/* Whether val may be written to msr, one of the state record's (else WRMSR takes #GP). */
static bool value_ok(const struct cpu_policy *p, uint32_t msr, uint64_t val)
{
    if (msr == MSR_PAT && !pat_valid(val))
        return false;
    if ((msr == MSR_FS_BASE || msr == MSR_GS_BASE || msr == MSR_SYSENTER_ESP ||
         msr == MSR_SYSENTER_EIP || msr == MSR_LSTAR || msr == MSR_CSTAR ||
         msr == MSR_KERNEL_GS_BASE) && !canonical(val))
        return false;
    /* TSC_AUX and SFMASK have 32 bits (SDM 2.2, AMD APM 6.1.1): the rest would reach the host's
     * WRMSR when the lazy MSRs are switched, and #GP there, in host mode. */
    if ((msr == MSR_TSC_AUX || msr == MSR_SFMASK) && val >> 32)
        return false;
    /* SCE, LME, NXE are the guest's (as the policy allows); LMA follows paging. */
    if (msr == MSR_EFER && (val & ~(efer_writable(p) | EFER_LMA)))
        return false;
    return true;
}

bool cr0_write_ok(uint64_t val)
{
    return !(val >> 32) && !((val & (1ull << 31)) && !(val & 1));     /* PG needs PE */
}

int msr_state_check(const struct cpu_policy *p, const struct vcpu_state *s, char *why,
                    size_t n)
{
    const struct { uint32_t msr; uint64_t val; const char *name; } msrs[] = {
        { MSR_SYSENTER_ESP, s->sysenter_esp, "SYSENTER_ESP" },
        { MSR_SYSENTER_EIP, s->sysenter_eip, "SYSENTER_EIP" },
        { MSR_PAT, s->pat, "PAT" }, { MSR_EFER, s->efer, "EFER" },
        { MSR_FS_BASE, s->fs.base, "FS_BASE" }, { MSR_GS_BASE, s->gs.base, "GS_BASE" },
        { MSR_STAR, s->star, "STAR" }, { MSR_LSTAR, s->lstar, "LSTAR" },
        { MSR_CSTAR, s->cstar, "CSTAR" }, { MSR_SFMASK, s->sfmask, "SFMASK" },
        { MSR_KERNEL_GS_BASE, s->kernel_gs_base, "KERNEL_GS_BASE" },
        { MSR_TSC_AUX, s->tsc_aux, "TSC_AUX" },
    };
    for (size_t i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++)
        if (!value_ok(p, msrs[i].msr, msrs[i].val)) {
            snprintf(why, n, "vCPU state: %s 0x%llx is not a value the guest could write",
                     msrs[i].name, (unsigned long long)msrs[i].val);
            return -EINVAL;
        }
    const char *bad = NULL;
    if ((s->efer & EFER_LMA) && !(s->efer & EFER_LME))
        bad = "EFER.LMA without LME";
    else if (!cr0_write_ok(s->cr0))
        bad = "CR0";
    else if (s->cr4 >> 32)
        bad = "CR4";
    else if (s->cr3 >> 52)
        bad = "CR3";
    else if (s->cr8 >> 4)
        bad = "CR8";
    else if (s->dr7 >> 32)
        bad = "DR7";
    else if (!(s->rflags & 2) || (s->rflags & ~0x3f7fd7ull))
        bad = "RFLAGS";       /* bit 1 set; 3, 5, 15 and 22-63 clear */
    else if (!canonical(s->ldtr.base) || !canonical(s->tr.base) ||
             !canonical(s->gdtr.base) || !canonical(s->idtr.base))
        bad = "a descriptor table base";
    if (bad) {
        snprintf(why, n, "vCPU state: %s is not a value the guest could hold", bad);
        return -EINVAL;
    }
    return 0;
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
    if (!value_ok(&v->vm->policy, msr, *val))
        return -EPERM;
    if (msr == MSR_EFER)                /* LMA follows paging: kept */
        *val = (*val & efer_writable(&v->vm->policy)) | (s.efer & EFER_LMA);
    *f = *val;
    hv_ops->vcpu_set_state(v, &s);
    return 0;
}

uint64_t msr_misc_enable(const struct cpu_policy *p)
{
    return MISC_FAST_STRINGS | MISC_BTS_UNAVAIL | MISC_PEBS_UNAVAIL |
           (cpu_policy_has(p, CPU_FEAT_MONITOR) ? MISC_MONITOR : 0) |
           (cpu_policy_has(p, CPU_FEAT_NX) ? 0 : MISC_XD_DISABLE);
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
        if (!write)
            *val = msr_misc_enable(&v->vm->policy);
        return 0;                               /* writes are ignored */
    case MSR_XSS:
        /* No supervisor state is offered (CPUID 0xD.1 ECX/EDX are 0): only 0 is valid, and
         * the CPU's own IA32_XSS (0) is what the guest's XSAVES uses. */
        if (write)
            return *val ? -EPERM : 0;
        *val = 0;
        return 0;
    case MSR_K8_INT_PENDING:
        /* Linux reads it on CPUs with erratum 400 (QEMU's family 0Fh models): C1E never
         * activates on a vCPU, so the "C1E active" bits read 0; writes are ignored. */
        if (!write)
            *val = 0;
        return 0;
    case MSR_ARCH_CAPS:
        if (write)
            return -EPERM;                      /* read-only */
        *val = v->vm->policy.arch_caps;
        return 0;
    default:
        return -EPERM;
    }
}

int msr_access(struct vcpu *v, uint32_t msr, bool write)
{
    uint64_t val = (v->gpr[GPR_RDX] << 32) | (uint32_t)v->gpr[GPR_RAX];
    int rc;

    if (!msr_exists(&v->vm->policy, msr))
        return -EPERM;
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
