/*
 * VM entry's checks on the guest-state area (SDM Vol. 3C 26.3.1) and on event injection
 * (26.2.1.3), restated from the manual for the controls ferry uses; see vmx_check.h.
 * Each check returns NULL or what failed; vmx_guest_check() reports the first one.
 */
#include <errno.h>
#include <stdio.h>

#include "arch/x86_64/vmx/vmx_check.h"

#define CR0_PE            (1ull << 0)
#define CR0_WP            (1ull << 16)
#define CR0_PG            (1ull << 31)
#define CR4_PAE           (1ull << 5)
#define CR4_PCIDE         (1ull << 17)
#define CR4_CET           (1ull << 23)
#define EFER_LME          (1ull << 8)
#define EFER_LMA          (1ull << 10)
#define EFER_VALID        0xd01ull           /* SCE, LME, LMA, NXE */
#define RFLAGS_TF         (1ull << 8)
#define RFLAGS_IF         (1ull << 9)
#define RFLAGS_VM         (1ull << 17)
#define RFLAGS_RESERVED   (~0x3fffffull | (1ull << 15) | (1ull << 5) | (1ull << 3))
#define PIN_VNMI          (1u << 5)
#define PROC_SECONDARY    (1u << 31)
#define PROC2_EPT         (1u << 1)
#define PROC2_UG          (1u << 7)
#define ENTRY_LOAD_DEBUG  (1u << 2)
#define ENTRY_IA32E       (1u << 9)
#define ENTRY_LOAD_PAT    (1u << 14)
#define ENTRY_LOAD_EFER   (1u << 15)
#define DEBUGCTL_BTF      (1ull << 1)
#define DEBUGCTL_VALID    0xffc3ull          /* LBR, BTF, bits 6-15 (SDM Vol. 4 2-2) */
#define PDBG_BS           (1ull << 14)
#define PDBG_RESERVED     (~0x1ffffull | 0xaff0ull)   /* 11:4, 13, 15, 63:17 */

#define AR_TYPE           0xfu
#define AR_S              (1u << 4)
#define AR_DPL(ar)        (((ar) >> 5) & 3)
#define AR_P              (1u << 7)
#define AR_RSVD_8_11      0xf00u
#define AR_L              (1u << 13)
#define AR_DB             (1u << 14)
#define AR_G              (1u << 15)
#define AR_UNUSABLE       (1u << 16)
#define AR_RSVD_17_31     0xfffe0000u

#define INTR_STI          0x1u
#define INTR_MOVSS        0x2u
#define INTR_SMI          0x4u
#define INTR_NMI          0x8u
#define ACT_HLT           1u

#define INFO_VALID        (1u << 31)
#define INFO_ERR          (1u << 11)
#define INFO_TYPE(i)      (((i) >> 8) & 7)
#define INFO_VEC(i)       ((i) & 0xff)
enum { T_EXTINT = 0, T_NMI = 2, T_HWEXC = 3, T_SWINT = 4, T_PRIVSW = 5, T_SWEXC = 6 };

struct ctx {
    const struct vmx_guest *g;
    const struct vmx_entry_caps *c;
    bool ug, ia32e, v86, inject;
};

static bool canonical(uint64_t a, unsigned bits)
{
    return (uint64_t)((int64_t)(a << (64 - bits)) >> (64 - bits)) == a;
}

/* Bit 15 (G) against the limit: 12 low ones for G=1, nothing above bit 19 for G=0. */
static bool g_ok(uint32_t ar, uint32_t limit)
{
    if ((limit & 0xfff) != 0xfff && (ar & AR_G))
        return false;
    return !(limit >> 20) || (ar & AR_G);
}

/* 26.3.1.1: CR0, CR3, CR4, DR7, IA32_DEBUGCTL, SYSENTER, PAT, EFER. */
static const char *check_regs(const struct ctx *x)
{
    const struct vmx_guest *g = x->g;
    const struct vmx_entry_caps *c = x->c;
    /* PE and PG are not checked against CR0_FIXED0 under unrestricted guest */
    uint64_t fixed0 = x->ug ? c->cr0_fixed0 & ~(CR0_PE | CR0_PG) : c->cr0_fixed0;
    if ((g->cr0 & fixed0) != fixed0 || (g->cr0 & ~c->cr0_fixed1))
        return "CR0 has a bit fixed in VMX operation (IA32_VMX_CR0_FIXED0/1)";
    if ((g->cr0 & CR0_PG) && !(g->cr0 & CR0_PE))
        return "CR0.PG without CR0.PE";
    if ((g->cr4 & c->cr4_fixed0) != c->cr4_fixed0 || (g->cr4 & ~c->cr4_fixed1))
        return "CR4 has a bit fixed in VMX operation (IA32_VMX_CR4_FIXED0/1)";
    if ((g->cr4 & CR4_CET) && !(g->cr0 & CR0_WP))
        return "CR4.CET without CR0.WP";
    if ((g->entry & ENTRY_LOAD_DEBUG) && (g->debugctl & ~DEBUGCTL_VALID))
        return "IA32_DEBUGCTL reserved bits";
    if (x->ia32e && (!(g->cr0 & CR0_PG) || !(g->cr4 & CR4_PAE)))
        return "IA-32e mode guest without CR0.PG and CR4.PAE";
    if (!x->ia32e && (g->cr4 & CR4_PCIDE))
        return "CR4.PCIDE outside IA-32e mode";
    if (g->cr3 >> c->phys_bits)
        return "CR3 bits beyond the physical-address width";
    if ((g->entry & ENTRY_LOAD_DEBUG) && (g->dr7 >> 32))
        return "DR7 bits 63:32";
    if (!canonical(g->sysenter_esp, c->linear_bits) || !canonical(g->sysenter_eip, c->linear_bits))
        return "IA32_SYSENTER_ESP/EIP not canonical";
    if (g->entry & ENTRY_LOAD_PAT)
        for (unsigned i = 0; i < 8; i++) {
            uint8_t t = (uint8_t)(g->pat >> (8 * i));
            if (t == 2 || t == 3 || t > 7)
                return "IA32_PAT entry with a reserved memory type";
        }
    if (g->entry & ENTRY_LOAD_EFER) {
        if (g->efer & ~EFER_VALID)
            return "IA32_EFER reserved bits";
        if (!!(g->efer & EFER_LMA) != x->ia32e)
            return "IA32_EFER.LMA differs from the IA-32e mode guest control";
        if ((g->cr0 & CR0_PG) && !!(g->efer & EFER_LMA) != !!(g->efer & EFER_LME))
            return "IA32_EFER.LMA differs from LME with CR0.PG set";
    }
    return NULL;
}

/* 26.3.1.2, virtual-8086 guests: CS, SS, DS, ES, FS, GS as real mode would load them. */
static const char *check_v86_seg(const struct vmx_guest *g, unsigned i)
{
    if (g->base[i] != (uint64_t)g->sel[i] << 4)
        return "base is not the selector times 16 in virtual-8086 mode";
    if (g->limit[i] != 0xffff)
        return "limit is not 0xffff in virtual-8086 mode";
    if (g->ar[i] != 0xf3)
        return "access rights are not 0xf3 in virtual-8086 mode";
    return NULL;
}

/* 26.3.1.2 for CS, SS, DS, ES, FS, GS outside virtual-8086 mode: type, S, DPL, P, reserved
 * bits, D/B, G. The checks apply to CS and to every usable register. */
static const char *check_seg(const struct ctx *x, unsigned i)
{
    const struct vmx_guest *g = x->g;
    uint32_t ar = g->ar[i], type = ar & AR_TYPE, dpl = AR_DPL(ar);
    uint32_t ss_dpl = AR_DPL(g->ar[VMX_SEG_SS]), cs_type = g->ar[VMX_SEG_CS] & AR_TYPE;
    if (i == VMX_SEG_SS && !x->ug && ss_dpl != (g->sel[VMX_SEG_SS] & 3u))
        return "DPL differs from the selector's RPL";
    if (i == VMX_SEG_SS && (cs_type == 3 || !(g->cr0 & CR0_PE)) && ss_dpl)
        return "DPL not 0 with a data-type CS or CR0.PE clear";
    if (i != VMX_SEG_CS && (ar & AR_UNUSABLE))
        return NULL;
    if (i == VMX_SEG_CS) {
        if (type != 9 && type != 11 && type != 13 && type != 15 && !(x->ug && type == 3))
            return "type is not an accessed code segment (or, unrestricted, data type 3)";
        if (type == 3 && dpl)
            return "DPL not 0 for type 3";
        if ((type == 9 || type == 11) && dpl != ss_dpl)
            return "DPL of non-conforming code differs from SS.DPL";
        if ((type == 13 || type == 15) && dpl > ss_dpl)
            return "DPL of conforming code above SS.DPL";
        if (x->ia32e && (ar & AR_L) && (ar & AR_DB))
            return "L and D/B both set in IA-32e mode";
    } else if (i == VMX_SEG_SS) {
        if (type != 3 && type != 7)
            return "type is not read/write accessed data";
    } else {
        if (!(type & 1))
            return "type not accessed";
        if ((type & 8) && !(type & 2))
            return "execute-only code segment";
        if (!x->ug && type <= 11 && dpl < (g->sel[i] & 3u))
            return "DPL below the selector's RPL";
    }
    if (!(ar & AR_S))
        return "S clear (system descriptor)";
    if (!(ar & AR_P))
        return "not present";
    if (ar & (AR_RSVD_8_11 | AR_RSVD_17_31))
        return "reserved access-rights bits";
    if (!g_ok(ar, g->limit[i]))
        return "G does not match the limit";
    return NULL;
}

/* 26.3.1.2 for TR and LDTR. */
static const char *check_system_segs(const struct ctx *x)
{
    const struct vmx_guest *g = x->g;
    uint32_t tr = g->ar[VMX_SEG_TR], ldtr = g->ar[VMX_SEG_LDTR];
    if (g->sel[VMX_SEG_TR] & 4)
        return "TR: selector TI flag set";
    if ((tr & AR_TYPE) != 11 && (x->ia32e || (tr & AR_TYPE) != 3))
        return "TR: type is not a busy TSS (busy 64-bit TSS in IA-32e mode)";
    if ((tr & AR_S) || !(tr & AR_P) || (tr & (AR_RSVD_8_11 | AR_RSVD_17_31 | AR_UNUSABLE)))
        return "TR: S set, not present, unusable or reserved bits";
    if (!g_ok(tr, g->limit[VMX_SEG_TR]))
        return "TR: G does not match the limit";
    if (!canonical(g->base[VMX_SEG_TR], x->c->linear_bits))
        return "TR: base not canonical";
    if (ldtr & AR_UNUSABLE)
        return NULL;
    if (g->sel[VMX_SEG_LDTR] & 4)
        return "LDTR: selector TI flag set";
    if ((ldtr & AR_TYPE) != 2 || (ldtr & AR_S) || !(ldtr & AR_P) ||
        (ldtr & (AR_RSVD_8_11 | AR_RSVD_17_31)))
        return "LDTR: not a present LDT descriptor, or reserved bits";
    if (!g_ok(ldtr, g->limit[VMX_SEG_LDTR]))
        return "LDTR: G does not match the limit";
    if (!canonical(g->base[VMX_SEG_LDTR], x->c->linear_bits))
        return "LDTR: base not canonical";
    return NULL;
}

static const char *const seg_name[VMX_SEGS] = { "ES", "CS", "SS", "DS", "FS", "GS", "LDTR",
                                                "TR" };

/* 26.3.1.2 (segments), 26.3.1.3 (GDTR, IDTR); *seg names the register that failed. */
static const char *check_segs(const struct ctx *x, const char **seg)
{
    const struct vmx_guest *g = x->g;
    const char *bad;
    if (!x->v86 && !x->ug && (g->sel[VMX_SEG_SS] & 3) != (g->sel[VMX_SEG_CS] & 3)) {
        *seg = "SS";
        return "RPL differs from CS's";
    }
    for (unsigned i = 0; i <= VMX_SEG_GS; i++) {
        *seg = seg_name[i];
        bool usable = !(g->ar[i] & AR_UNUSABLE);
        if ((i == VMX_SEG_FS || i == VMX_SEG_GS) && !canonical(g->base[i], x->c->linear_bits))
            return "base not canonical";
        if ((i == VMX_SEG_CS || ((i == VMX_SEG_SS || i == VMX_SEG_DS || i == VMX_SEG_ES) &&
                                 usable)) && (g->base[i] >> 32))
            return "base bits 63:32";
        bad = x->v86 ? check_v86_seg(g, i) : check_seg(x, i);
        if (bad)
            return bad;
    }
    *seg = "";
    if ((bad = check_system_segs(x)))
        return bad;
    if (!canonical(g->gdtr_base, x->c->linear_bits) || !canonical(g->idtr_base, x->c->linear_bits))
        return "GDTR/IDTR base not canonical";
    if ((g->gdtr_limit | g->idtr_limit) >> 16)
        return "GDTR/IDTR limit bits 31:16";
    return NULL;
}

/* 26.3.1.4: RIP and RFLAGS. */
static const char *check_rip_rflags(const struct ctx *x)
{
    const struct vmx_guest *g = x->g;
    bool code64 = x->ia32e && (g->ar[VMX_SEG_CS] & AR_L);
    if (!code64 && (g->rip >> 32))
        return "RIP bits 63:32 outside 64-bit mode";
    if (code64 && !canonical(g->rip, x->c->linear_bits))
        return "RIP not canonical in 64-bit mode";
    if ((g->rflags & RFLAGS_RESERVED) || !(g->rflags & 2))
        return "RFLAGS reserved bits";
    if ((g->rflags & RFLAGS_VM) && (x->ia32e || !(g->cr0 & CR0_PE)))
        return "RFLAGS.VM in IA-32e mode or with CR0.PE clear";
    if (x->inject && INFO_TYPE(g->intr_info) == T_EXTINT && !(g->rflags & RFLAGS_IF))
        return "RFLAGS.IF clear with an external interrupt injected";
    return NULL;
}

/* 26.3.1.5: activity state, and which injected events it allows. */
static const char *check_activity(const struct ctx *x)
{
    const struct vmx_guest *g = x->g;
    uint32_t type = INFO_TYPE(g->intr_info), vec = INFO_VEC(g->intr_info);
    if (g->activity > ACT_HLT || (g->activity == ACT_HLT && !x->c->hlt))
        return "activity state not supported (ferry uses active and HLT)";
    if (g->activity == ACT_HLT && AR_DPL(g->ar[VMX_SEG_SS]))
        return "HLT with SS.DPL not 0";
    if (g->activity && (g->interruptibility & (INTR_STI | INTR_MOVSS)))
        return "HLT with blocking by STI or MOV SS";
    if (g->activity == ACT_HLT && x->inject && type != T_EXTINT && type != T_NMI &&
        !(type == T_HWEXC && (vec == 1 || vec == 18)))
        return "HLT with an injected event it blocks (only INTR, NMI, #DB, #MC)";
    return NULL;
}

/* 26.3.1.5: interruptibility state, pending debug exceptions, VMCS link pointer. */
static const char *check_nonreg(const struct ctx *x)
{
    const struct vmx_guest *g = x->g;
    uint32_t blk = g->interruptibility, type = INFO_TYPE(g->intr_info);
    const char *bad = check_activity(x);
    if (bad)
        return bad;
    if (blk & ~0xfu)
        return "interruptibility reserved bits (or enclave interruption, no SGX)";
    if ((blk & INTR_STI) && (blk & INTR_MOVSS))
        return "blocking by both STI and MOV SS";
    if ((blk & INTR_STI) && !(g->rflags & RFLAGS_IF))
        return "blocking by STI with RFLAGS.IF clear";
    if (x->inject && type == T_EXTINT && (blk & (INTR_STI | INTR_MOVSS)))
        return "blocking by STI or MOV SS with an external interrupt injected";
    /* MOV SS blocking must be 0 with an NMI; a processor may also require STI blocking to be
     * 0 (exit qualification 3), so neither is allowed here */
    if (x->inject && type == T_NMI && (blk & (INTR_STI | INTR_MOVSS)))
        return "blocking by STI or MOV SS with an NMI injected";
    if (blk & INTR_SMI)
        return "blocking by SMI outside SMM";
    if (x->inject && type == T_NMI && (g->pin & PIN_VNMI) && (blk & INTR_NMI))
        return "blocking by NMI with an NMI injected and virtual NMIs";
    if (g->pending_dbg & PDBG_RESERVED)
        return "pending debug exceptions reserved bits";
    if ((blk & (INTR_STI | INTR_MOVSS)) || g->activity == ACT_HLT) {
        bool bs = (g->rflags & RFLAGS_TF) && !(g->debugctl & DEBUGCTL_BTF);
        if (!!(g->pending_dbg & PDBG_BS) != bs)
            return "pending debug BS differs from RFLAGS.TF (and not BTF) in a shadow or HLT";
    }
    if (g->link_ptr != ~0ull)
        return "VMCS link pointer is not ~0 (no VMCS shadowing)";
    return NULL;
}

/* 26.3.1.6: with EPT, PAE paging takes its PDPTEs from the VMCS; present ones must be valid
 * (reserved bits 2:1, 8:5 and those past MAXPHYADDR clear, SDM 4.4.1). */
static const char *check_pdptes(const struct ctx *x)
{
    const struct vmx_guest *g = x->g;
    if (!(g->cr0 & CR0_PG) || !(g->cr4 & CR4_PAE) || x->ia32e || !(g->proc2 & PROC2_EPT))
        return NULL;
    for (unsigned i = 0; i < 4; i++)
        if ((g->pdpte[i] & 1) && ((g->pdpte[i] & 0x1e6) || (g->pdpte[i] >> x->c->phys_bits)))
            return "a present PDPTE with reserved bits";
    return NULL;
}

static bool pushes_error(uint32_t vec, bool cet)
{
    return vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || (vec == 21 && cet);
}

/* 26.2.1.3: the VM-entry interruption-information field and what goes with it. */
static const char *check_injection(const struct ctx *x)
{
    const struct vmx_guest *g = x->g;
    uint32_t info = g->intr_info, type = INFO_TYPE(info), vec = INFO_VEC(info);
    if (!x->inject)
        return NULL;
    if (type == 1 || type == 7)
        return "reserved interruption type (or MTF, which ferry does not use)";
    if (type == T_NMI && vec != 2)
        return "NMI with a vector other than 2";
    if (type == T_HWEXC && vec > 31)
        return "hardware exception with a vector above 31";
    bool want_err = (!x->ug || (g->cr0 & CR0_PE)) && type == T_HWEXC &&
                    pushes_error(vec, x->c->cet);
    if (!!(info & INFO_ERR) != want_err)
        return "deliver-error-code bit does not match the exception and CR0.PE";
    if (info & 0x7ffff000u)
        return "interruption-information reserved bits 30:12";
    if ((info & INFO_ERR) && (g->exc_error >> 16))
        return "exception error code bits 31:16";
    if ((type == T_SWINT || type == T_PRIVSW || type == T_SWEXC) &&
        (g->insn_len > 15 || (!g->insn_len && !x->c->inject_len0)))
        return "instruction length of a software event not 1-15 (0 needs IA32_VMX_MISC[30])";
    return NULL;
}

int vmx_guest_check(const struct vmx_guest *g, const struct vmx_entry_caps *c, char *why,
                    size_t n)
{
    struct ctx x = {
        .g = g, .c = c,
        .ug = (g->proc & PROC_SECONDARY) && (g->proc2 & PROC2_UG),
        .ia32e = !!(g->entry & ENTRY_IA32E),
        .v86 = !!(g->rflags & RFLAGS_VM),
        .inject = !!(g->intr_info & INFO_VALID),
    };
    const char *seg = "", *sect, *bad;
    if ((bad = check_injection(&x)))
        sect = "26.2.1.3";
    else if ((bad = check_regs(&x)))
        sect = "26.3.1.1";
    else if ((bad = check_segs(&x, &seg)))
        sect = "26.3.1.2-3";
    else if ((bad = check_rip_rflags(&x)))
        sect = "26.3.1.4";
    else if ((bad = check_nonreg(&x)))
        sect = "26.3.1.5";
    else if ((bad = check_pdptes(&x)))
        sect = "26.3.1.6";
    else
        return 0;
    snprintf(why, n, "VM entry would fail (SDM Vol. 3C %s): %s%s%s", sect, seg,
             *seg ? ": " : "", bad);
    return -EINVAL;
}
