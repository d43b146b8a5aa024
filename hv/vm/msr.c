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

#define CR0_PE     (1ull << 0)
#define CR0_NW     (1ull << 29)
#define CR0_CD     (1ull << 30)
#define CR0_PG     (1ull << 31)
#define CR4_PAE    (1ull << 5)
#define CR4_LA57   (1ull << 12)
#define CR4_PCIDE  (1ull << 17)
#define CR4_CET    (1ull << 23)
#define RFLAGS_IF  (1ull << 9)
#define RFLAGS_VM  (1ull << 17)

bool cr0_write_ok(uint64_t val)
{
    /* 63:32 reserved; PG needs PE; NW needs CD (SDM 2.5, APM 3.1.1: #GP) */
    return !(val >> 32) && !((val & CR0_PG) && !(val & CR0_PE)) &&
           !((val & CR0_NW) && !(val & CR0_CD));
}

/* CR4 bits that exist only with a feature (SDM 2.5 "CR4"); the others below bit 11 exist on
 * every x86-64 CPU (VME, PVI, TSD, DE, PSE, PAE, MCE, PGE, PCE, OSFXSR, OSXMMEXCPT). */
#define CR4_BASE 0x7ffull
static const struct { uint8_t bit; int16_t feat, alt; } cr4_features[] = {
    { 11, CPU_FEAT_UMIP, -1 }, { 12, CPU_FEAT_LA57, -1 }, { 13, CPU_FEAT_VMX, -1 },
    { 14, CPU_FEAT_SMX, -1 }, { 16, CPU_FEAT_FSGSBASE, -1 }, { 17, CPU_FEAT_PCID, -1 },
    { 18, CPU_FEAT_XSAVE, -1 }, { 19, CPU_FEAT_KL, -1 }, { 20, CPU_FEAT_SMEP, -1 },
    { 21, CPU_FEAT_SMAP, -1 }, { 22, CPU_FEAT_PKU, -1 }, { 23, CPU_FEAT_CET_SS, CPU_FEAT_CET_IBT },
    { 24, CPU_FEAT_PKS, -1 }, { 25, CPU_FEAT_UINTR, -1 }, { 28, CPU_FEAT_LAM, -1 },
};

/* MOV to CR4 takes val on a CPU with policy p: reserved bits and those of features the
 * policy hides are #GP. (VT-x lets the guest write CR4 without an exit, so only the host CPU
 * checks it there; a state a target takes must hold on every host the policy runs on.) */
static bool cr4_write_ok(const struct cpu_policy *p, uint64_t val)
{
    uint64_t ok = CR4_BASE;
    for (size_t i = 0; i < sizeof(cr4_features) / sizeof(cr4_features[0]); i++)
        if (cpu_policy_has(p, cr4_features[i].feat) ||
            (cr4_features[i].alt >= 0 && cpu_policy_has(p, cr4_features[i].alt)))
            ok |= 1ull << cr4_features[i].bit;
    return !(val & ~ok);
}

int cr_write(const struct cpu_policy *p, struct vcpu_state *s, unsigned cr, uint64_t val)
{
    bool lma = s->efer & EFER_LMA;
    if (cr == 0) {
        if (!cr0_write_ok(val))
            return -EINVAL;
        if ((val & CR0_PG) && !(s->cr0 & CR0_PG) && (s->efer & EFER_LME)) {
            /* IA-32e mode comes on (SDM 10.8.5): only with PAE, from 32-bit code */
            if (!(s->cr4 & CR4_PAE) || (s->cs.attr & SEG_ATTR_L))
                return -EINVAL;
            s->efer |= EFER_LMA;
        } else if (!(val & CR0_PG) && lma) {
            if (s->cs.attr & SEG_ATTR_L)    /* paging off from 64-bit code */
                return -EINVAL;
            s->efer &= ~EFER_LMA;
        }
        s->cr0 = val;
        return 0;
    }
    if (cr != 4 || (val >> 32) || !cr4_write_ok(p, val))
        return -EINVAL;
    if (lma && (!(val & CR4_PAE) || ((val ^ s->cr4) & CR4_LA57)))
        return -EINVAL;                     /* PAE off, or LA57 changed, in IA-32e mode */
    if ((val & CR4_PCIDE) && !lma)
        return -EINVAL;
    s->cr4 = val;
    return 0;
}

/* Control registers, EFER, RFLAGS, RIP and descriptor tables: each as the guest's own writes
 * leave it (MOV CR, WRMSR, POPF, LGDT) and in the combinations the CPU keeps (SDM 9.8.5 /
 * APM 14.6: LMA = LME & PG, long mode needs PAE; SDM 26.3.1.1 and APM 15.5.1 refuse the rest
 * at entry). */
static const char *reg_rules(const struct cpu_policy *p, const struct vcpu_state *s)
{
    bool lma = s->efer & EFER_LMA, lme_pg = (s->efer & EFER_LME) && (s->cr0 & CR0_PG);
    bool code64 = lma && (s->cs.attr & SEG_ATTR_L);
    if (lma && !(s->efer & EFER_LME))
        return "EFER.LMA without LME";
    if (!cr0_write_ok(s->cr0))
        return "CR0";
    if ((s->cr4 >> 32) || !cr4_write_ok(p, s->cr4))
        return "CR4";
    if (s->cr3 >> cpu_policy_phys_bits(p))
        return "CR3";                       /* bits past MAXPHYADDR */
    if (lma != lme_pg)
        return "EFER.LMA other than EFER.LME with CR0.PG";
    if (lme_pg && !(s->cr4 & CR4_PAE))
        return "long-mode paging without CR4.PAE";
    if ((s->cr4 & CR4_PCIDE) && !lma)
        return "CR4.PCIDE outside IA-32e mode";
    if ((s->cr4 & CR4_CET) && !(s->cr0 & CR0_WP))
        return "CR4.CET without CR0.WP";
    if (s->cr8 >> 4)
        return "CR8";
    if (s->dr7 >> 32)
        return "DR7";
    if (!(s->rflags & 2) || (s->rflags & ~0x3f7fd7ull))
        return "RFLAGS";                    /* bit 1 set; 3, 5, 15 and 22-63 clear */
    if ((s->rflags & RFLAGS_VM) && (lma || !(s->cr0 & CR0_PE)))
        return "RFLAGS.VM outside protected mode";
    if (code64 ? !canonical(s->rip) : s->rip >> 32)
        return "RIP";                       /* canonical in 64-bit code, else 32 bits */
    if (!canonical(s->ldtr.base) || !canonical(s->tr.base) ||
        !canonical(s->gdtr.base) || !canonical(s->idtr.base))
        return "a descriptor table base";
    if ((s->gdtr.limit | s->idtr.limit) >> 16)
        return "a GDTR or IDTR limit";      /* LGDT / LIDT load 16 bits */
    return NULL;
}

#define ATTR_TYPE 0xfu
#define ATTR_S    0x10u
#define ATTR_DPL(a) (((a) >> 5) & 3)
#define ATTR_P    0x80u
#define DPL_OF(s) ATTR_DPL((s)->attr)

/* A usable segment register: loaded from a present descriptor (the record's convention,
 * svm_state.h: not present is what VMX calls unusable). */
static bool seg_usable(const struct seg *g)
{
    return !(g->attr & SEG_UNUSABLE) && (g->attr & ATTR_P);
}

/* A limit a descriptor can give: 20 bits, or scaled by 4 KiB (G) with the low 12 bits set. */
static bool limit_ok(uint32_t limit)
{
    return limit <= 0xfffff || (limit & 0xfff) == 0xfff;
}

/* CS and SS as a CPU outside virtual-8086 mode holds them (SDM 3.4.5, 5.5 and 5.6; VMX
 * checks the same at entry, 26.3.1.2): CS a present code segment (or, in real mode, the
 * read/write data VMX's unrestricted guest allows with DPL 0) at the CPL, SS writable data. */
static const char *cs_ss_rules(const struct vcpu_state *s)
{
    uint32_t cs = s->cs.attr, type = cs & ATTR_TYPE, cpl = DPL_OF(&s->ss);
    if (!seg_usable(&s->cs) || !(cs & ATTR_S) || !limit_ok(s->cs.limit) || s->cs.base >> 32)
        return "CS";
    if (!(type & 8) && (type | 1) != 3)
        return "CS type";                     /* code, or read/write data (real mode) */
    if (!(type & 8) && ATTR_DPL(cs))
        return "CS DPL";
    if ((type & 0xc) == 8 && ATTR_DPL(cs) != cpl)
        return "CS DPL";                      /* non-conforming: DPL = CPL */
    if ((type & 0xc) == 0xc && ATTR_DPL(cs) > cpl)
        return "CS DPL";                      /* conforming: DPL <= CPL */
    if ((s->efer & EFER_LMA) && (cs & SEG_ATTR_L) && (cs & SEG_ATTR_DB))
        return "CS with both L and D in IA-32e mode";
    if ((!(s->cr0 & CR0_PE) || !(type & 8)) && cpl)
        return "SS DPL (the CPL) not 0 in real mode or with a data-type CS";
    if (seg_usable(&s->ss) && (!(s->ss.attr & ATTR_S) || (s->ss.attr & 0xa) != 2 ||
                               !limit_ok(s->ss.limit) || s->ss.base >> 32))
        return "SS";                          /* writable data */
    return NULL;
}

/* The registers a segment load makes: DS, ES, FS, GS readable (code or data), LDTR an LDT, TR
 * a TSS (a 64-bit one in IA-32e mode: LTR there takes nothing else), selectors of TR / LDTR
 * in the GDT. Bases of DS and ES come from descriptors (32 bits); FS's and GS's are MSRs. */
static const char *seg_rules(const struct vcpu_state *s)
{
    const struct seg *data[] = { &s->ds, &s->es, &s->fs, &s->gs };
    if (s->rflags & RFLAGS_VM) {
        const struct seg *all[] = { &s->cs, &s->ss, &s->ds, &s->es, &s->fs, &s->gs };
        for (size_t i = 0; i < 6; i++)
            if (all[i]->base != (uint64_t)all[i]->sel << 4 || all[i]->limit != 0xffff)
                return "a virtual-8086 segment not as its selector loads it";
        if (DPL_OF(&s->ss) != 3)
            return "SS DPL (the CPL) in virtual-8086 mode";
    } else {
        const char *bad = cs_ss_rules(s);
        if (bad)
            return bad;
        for (size_t i = 0; i < 4; i++)
            if (seg_usable(data[i]) &&
                (!(data[i]->attr & ATTR_S) || (data[i]->attr & 0xa) == 8 ||
                 !limit_ok(data[i]->limit) || (i < 2 && data[i]->base >> 32)))
                return "a data segment";      /* no system or execute-only descriptor */
    }
    uint32_t tr = s->tr.attr & ATTR_TYPE;
    if (!seg_usable(&s->tr) || (s->tr.attr & ATTR_S) || (tr & 5) != 1 || (s->tr.sel & 4) ||
        !limit_ok(s->tr.limit) || ((s->efer & EFER_LMA) && (tr & 8) == 0))
        return "TR";                          /* a (busy or available) TSS, 16-bit or not */
    if (seg_usable(&s->ldtr) && ((s->ldtr.attr & (ATTR_S | ATTR_TYPE)) != 2 ||
                                 (s->ldtr.sel & 4) || !limit_ok(s->ldtr.limit)))
        return "LDTR";
    return NULL;
}

/* Exceptions both vendors define (SDM 6.3.1, APM 8.2): a pending one must be one of them
 * (VMRUN refuses others, APM 15.20); #CP only with CET on. */
static bool exception_defined(const struct vcpu_state *s, uint8_t v)
{
    return (v <= 19 && v != 2 && v != 9 && v != 15) || (v == 21 && (s->cr4 & CR4_CET));
}

static bool pushes_error(uint8_t v)
{
    return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

/* The activity, the interrupt shadow and the pending event as a CPU could have them: STI
 * blocking only with IF set, never with MOV SS blocking; HLT only at CPL 0 outside a shadow,
 * woken only by what wakes HLT; an external interrupt only where one is taken; an exception's
 * error code as the CPU pushes it (protected mode, 16 bits). SDM 26.3.1.5 and 26.2.1.3 refuse
 * the rest at VM entry, APM 15.20 at VMRUN. */
static const char *event_rules(const struct vcpu_state *s)
{
    const struct vcpu_event *e = &s->pending;
    uint32_t blk = s->interruptibility;
    bool pe = s->cr0 & CR0_PE, shadow = blk & (INTR_STI | INTR_MOVSS);
    if ((blk & INTR_STI) && ((blk & INTR_MOVSS) || !(s->rflags & RFLAGS_IF)))
        return "blocking by STI";
    if (s->activity == ACT_HALTED && (DPL_OF(&s->ss) || shadow))
        return "HLT at CPL > 0 or in an interrupt shadow";
    bool wakes = e->type == EVENT_NONE || e->type == EVENT_EXTINT || e->type == EVENT_NMI ||
                 (e->type == EVENT_EXCEPTION && (e->vector == 1 || e->vector == 18));
    if (s->activity == ACT_HALTED && !wakes)
        return "an event HLT does not wake for";       /* only INTR, NMI, #DB, #MC */
    if (e->type == EVENT_EXTINT && (shadow || !(s->rflags & RFLAGS_IF)))
        return "an external interrupt while interrupts are blocked";
    /* INT n's return address, past an instruction that was at a canonical address */
    if (e->type == EVENT_SOFTINT && (s->efer & EFER_LMA) && (s->cs.attr & SEG_ATTR_L) &&
        !canonical(s->rip - 1))
        return "a software interrupt's return address";
    if (e->type == EVENT_EXCEPTION && !exception_defined(s, e->vector))
        return "an exception vector";
    if (e->type == EVENT_EXCEPTION &&
        (pe && pushes_error(e->vector) ? !e->has_error || e->error >> 16 : e->has_error))
        return "an exception's error code";
    return NULL;
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
    const char *bad = reg_rules(p, s);
    if (!bad)
        bad = seg_rules(s);
    if (!bad)
        bad = event_rules(s);
    if (bad) {
        snprintf(why, n, "vCPU state: %s: not a state the guest's CPU could hold", bad);
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
