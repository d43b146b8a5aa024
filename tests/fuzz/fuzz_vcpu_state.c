// libFuzzer target: the vCPU state loaders of both backends (arch/x86_64/vmx/vmx_state.c into
// the VMCS guest-state area, arch/x86_64/svm/svm_state.c into the VMCB save area), fed only
// with the vCPU records a migration target accepts.
//
// Build (make fuzz does) and run from the repository root:
//   make build/fuzz_vcpu_state && build/fuzz_vcpu_state -max_total_time=60 -max_len=1024 \
//       build/fuzz_corpus_vcpu
//
// Input: [cfg:1][rest]. cfg bits 0-2 pick the VM's CPU policy (fake Intel Core or AMD Zen 3
// host, "host" or an x86-64-v1..v3 baseline of it), bit 3 IA32_VMX_MISC[30] (inject with
// length 0), bit 4 virtual NMIs, bit 5 the "load debug controls" entry control (TRUE
// capability MSRs let VMX clear it), bit 6 SVM's vNMI (V_NMI_ENABLE), bit 7 the form of rest:
// 0: a MIG_REC_VCPU payload as a source sends it; 1: [base:1] then edits [off:2][n:1][n bytes]
// overwriting the payload of one of the good states below (a 64-bit kernel, user and
// compatibility mode, the INIT state, 32-bit PAE, virtual-8086, AMD-V's attribute habits,
// pending events, HLT with TF), so most inputs stay near states a target takes.
//
// The payload goes through the target's own checks on a vCPU record, in mig_dst.c's order
// (case MIG_REC_VCPU): the record decoder (mig_parse_vcpu), XCR0 against the policy, and
// msr_state_check; what they refuse is skipped, as is a policy the host cannot run
// (cpu_policy_check_host, as HELLO does; and, since HELLO does not compare MAXPHYADDR, one
// whose MAXPHYADDR exceeds the host's). A taken record becomes the vCPU's initial state as
// vcpu_init_loaded() leaves it (wait-for-SIPI held by ferry, the state loaded as running),
// and after a SIPI as guest_boot_sipi_state() leaves it.
//
// Checks, beyond the sanitizers, for every taken state:
// - VT-x, on a Core host (CR0/CR4 fixed bits, MAXPHYADDR 39, the controls vmx.c picks): the
//   VMCS that vmx_write_guest_state() wrote (a fake keyed by field encoding that aborts on a
//   width overflow or a write to a read-only or host field) passes VM entry's checks on the
//   guest-state area, SDM Vol. 3C 26.3.1.1-26.3.1.6, and on event injection, 26.2.1.3
//   (vmx_guest_check, vmx_guest_check.c); vmx_guest_state_check() on the record agrees; no
//   CR4 bit the guest set is dropped by the fixed bits.
// - AMD-V, on a Zen 3 host (MAXPHYADDR 48, CR4 bits from its CPUID): the VMCB that
//   svm_vcpu_create + svm_state_write() make passes VMRUN's consistency checks, APM Vol. 2
//   15.5.1 "Canonicalization and Consistency Checks", and 15.20's on EVENTINJ (restated
//   below: svm_vmrun_check).
// - Each backend's state read back (vmx_read_guest_state / svm_state_read, as get_state
//   completes them) is again one the target takes, and loads on the other backend: a guest
//   that migrated once can migrate on, VT-x to AMD-V and back.
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/svm/svm_state.h"
#include "arch/x86_64/vmx/vmcs.h"
#include "arch/x86_64/vmx/vmx.h"
#include "fake_cpuid.h"
#include "hv/cpu/cpu_baseline.h"
#include "hv/mig/mig_stream.h"
#include "hv/vm/guest_boot.h"
#include "hv/vm/msr.h"
#include "hv/vm/vcpu_ops.h"
#include "vcpu_state_sample.h"

const struct vcpu_ops *hv_ops;      /* msr.c's guest MSR path names it; never called here */
struct vmx_caps_cache vmx_caps;

static void dump_state(const struct vcpu_state *s);

/* A broken property: abort, or with FUZZ_VCPU_SURVEY set, print each distinct one once and
 * go on (to list every kind of failure in one run). */
static void fail(const char *what, const char *why, const struct vcpu_state *s)
{
    static char seen[256][160];
    static unsigned nseen;
    char key[160];
    if (getenv("FUZZ_VCPU_SURVEY")) {
        snprintf(key, sizeof(key), "%s: %s", what, why);
        for (unsigned i = 0; i < nseen; i++)
            if (!strcmp(seen[i], key))
                return;
        if (nseen < 256)
            strcpy(seen[nseen++], key);
    }
    fprintf(stderr, "fuzz_vcpu_state: %s: %s\n", what, why);
    dump_state(s);
    if (!getenv("FUZZ_VCPU_SURVEY"))
        abort();
}

/* ---- the fake VMCS: a value per 16-bit encoding, and whether anything wrote it ---- */

static uint64_t vmcs_val[0x10000];
static bool vmcs_set_[0x10000];
static uint16_t vmcs_touched[256];
static unsigned vmcs_ntouched;

static void vmcs_reset(void)
{
    for (unsigned i = 0; i < vmcs_ntouched; i++)
        vmcs_set_[vmcs_touched[i]] = false;
    vmcs_ntouched = 0;
}

static void vmcs_put(uint32_t enc, uint64_t v)
{
    if (!vmcs_set_[enc]) {
        if (vmcs_ntouched == 256)
            abort();
        vmcs_touched[vmcs_ntouched++] = (uint16_t)enc;
        vmcs_set_[enc] = true;
    }
    vmcs_val[enc] = v;
}

uint64_t vmcs_read_raw(uint32_t enc)
{
    if (enc > 0xffff || !vmcs_set_[enc]) {
        fprintf(stderr, "fuzz_vcpu_state: VMREAD of field %#x nobody wrote\n", enc);
        abort();
    }
    return vmcs_val[enc];
}

void vmcs_write_raw(uint32_t enc, uint64_t v)
{
    static const uint64_t max[4] = { 0xffff, ~0ull, 0xffffffff, ~0ull };
    unsigned width = (enc >> 13) & 3, type = (enc >> 10) & 3;
    if (enc > 0xffff || (enc & 1) || type == 1 || type == 3 || v > max[width]) {
        fprintf(stderr, "fuzz_vcpu_state: VMWRITE %#x <- %#llx: high half, read-only or "
                "host field, or wider than the field\n", enc, (unsigned long long)v);
        abort();
    }
    vmcs_put(enc, v);
}

/* A field VM entry reads: something must have written it (this VMCS was fresh). */
static uint64_t vmcs_must(uint32_t enc)
{
    return vmcs_read_raw(enc);
}

/* ---- the hosts ---- */

struct host {
    const struct fake_leaf *t;
    size_t n;
    struct cpu_policy pol;
    unsigned phys_bits;
    uint64_t cr4_ok;           /* CR4 bits this CPU implements */
    uint64_t xcr0;             /* fpu_xcr0_supported() there */
    bool cet;
};
static struct host intel, amd;

static uint32_t raw_reg(const struct host *h, uint32_t leaf, uint32_t sub, unsigned reg)
{
    struct fake_host fh = { .t = h->t, .n = h->n };
    struct cpuid_out o = fake_cpuid(leaf, sub, &fh);
    const uint32_t r[4] = { o.eax, o.ebx, o.ecx, o.edx };
    return r[reg];
}

/* CR4 bits a CPU implements, from its CPUID (SDM Vol. 3A 2.5, Vol. 2A CPUID), independent of
 * ferry's feature table: bits 0-10 always, the rest with their feature. */
static void host_init(struct host *h, const struct fake_leaf *t, size_t n)
{
    enum { A, B, C, D };
    static const struct { uint8_t cr4, leaf, sub, reg, bit; } map[] = {
        { 11, 7, 0, C, 2 }, { 12, 7, 0, C, 16 }, { 13, 1, 0, C, 5 }, { 14, 1, 0, C, 6 },
        { 16, 7, 0, B, 0 }, { 17, 1, 0, C, 17 }, { 18, 1, 0, C, 26 }, { 19, 7, 0, C, 23 },
        { 20, 7, 0, B, 7 }, { 21, 7, 0, B, 20 }, { 22, 7, 0, C, 3 }, { 23, 7, 0, C, 7 },
        { 23, 7, 0, D, 20 }, { 24, 7, 0, C, 31 }, { 25, 7, 0, D, 5 }, { 28, 7, 1, A, 26 },
    };
    struct fake_host fh = { .t = t, .n = n };
    h->t = t;
    h->n = n;
    if (cpu_policy_from_host(&h->pol, fake_cpuid, &fh))
        abort();
    h->cr4_ok = 0x7ff;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (raw_reg(h, map[i].leaf, map[i].sub, map[i].reg) >> map[i].bit & 1)
            h->cr4_ok |= 1ull << map[i].cr4;
    h->phys_bits = raw_reg(h, 0x80000008, 0, A) & 0xff;
    h->xcr0 = raw_reg(h, 0xd, 0, A) | (uint64_t)raw_reg(h, 0xd, 0, D) << 32;
    h->cet = (raw_reg(h, 7, 0, C) >> 7 & 1) || (raw_reg(h, 7, 0, D) >> 20 & 1);
}

/* The VM policies (cfg bits 0-2) and which host can run each (HELLO's check). */
#define NPOL 8
static struct cpu_policy pols[NPOL];
static bool on_vmx[NPOL], on_svm[NPOL];

static void init(void)
{
    static const char *const base[4] = { "host", "x86-64-v1", "x86-64-v2", "x86-64-v3" };
    char miss[128];
    host_init(&intel, intel_host, intel_host_len);
    host_init(&amd, amd_host, amd_host_len);
    for (unsigned i = 0; i < NPOL; i++) {
        const struct host *src = i & 1 ? &amd : &intel;
        pols[i] = src->pol;
        cpu_policy_set_arch_caps(&pols[i], 0);
        if (cpu_policy_apply_baseline(&pols[i], base[i >> 1], miss, sizeof(miss)))
            abort();
        on_vmx[i] = !cpu_policy_check_host(&pols[i], &intel.pol, miss, sizeof(miss)) &&
                    cpu_policy_phys_bits(&pols[i]) <= intel.phys_bits;
        on_svm[i] = !cpu_policy_check_host(&pols[i], &amd.pol, miss, sizeof(miss)) &&
                    cpu_policy_phys_bits(&pols[i]) <= amd.phys_bits;
    }
    if (!on_vmx[0] || !on_svm[1])
        abort();
}

/* ---- what the target takes (hv/mig/mig_dst.c, case MIG_REC_VCPU) ---- */

static char why_refused[200];

static bool accepted(const struct cpu_policy *p, const struct host *h, struct vcpu_state *st)
{
    char *why = why_refused;
    strcpy(why, "XCR0");
    if (st->xcr0 > 1 && ((st->xcr0 & ~h->xcr0) || !cpu_policy_xcr0_ok(p, st->xcr0)))
        return false;
    why[0] = 0;
    if (msr_state_check(p, st, why, sizeof(why_refused))) {
        if (!why[0])
            fail("msr_state_check", "refused without saying why", st);
        if (getenv("FUZZ_VCPU_VERBOSE"))
            fprintf(stderr, "refused: %s\n", why);
        return false;
    }
    return true;
}

/* ---- VT-x ---- */

struct vmx_cfg { bool len0, vnmi, load_debug; };

/* vmx_controls_init's choices on a Core host (with unrestricted guest), and write_controls. */
static void vmx_setup(const struct vmx_cfg *k)
{
    memset(&vmx_caps, 0, sizeof(vmx_caps));
    vmx_caps.pin = 0x16 | 0x1 | 0x8 | 0x40 | (k->vnmi ? 0x20 : 0);
    vmx_caps.vnmi = k->vnmi;
    vmx_caps.proc = 0x0401e172u | (1u << 28) | (1u << 31);
    vmx_caps.proc2 = 0x1010aa;                       /* EPT VPID UG RDTSCP INVPCID XSAVES */
    vmx_caps.exit = 0x3c0000 | 0x36dff | (1u << 9);
    vmx_caps.entry = (k->load_debug ? 0x11ff : 0x11fb) | 0xc000;
    vmx_caps.ug = true;
    vmx_caps.inject_len0 = k->len0;
    vmx_caps.hlt = true;
    vmx_caps.cet = intel.cet;
    vmx_caps.phys_bits = intel.phys_bits;
    vmx_caps.cr0_fixed0 = 0x80000021ull & ~0x80000001ull;    /* SDM 26.3.1.1: UG frees PE/PG */
    vmx_caps.cr0_fixed1 = 0xffffffffull;
    vmx_caps.cr4_fixed0 = 0x2000;
    vmx_caps.cr4_fixed1 = intel.cr4_ok;
    vmcs_reset();
    vmcs_write32(VMCS_PIN_CTLS, vmx_caps.pin);
    vmcs_write32(VMCS_PROC_CTLS, vmx_caps.proc);
    vmcs_write32(VMCS_PROC_CTLS2, vmx_caps.proc2);
    vmcs_write32(VMCS_EXIT_CTLS, vmx_caps.exit);
    vmcs_write32(VMCS_ENTRY_CTLS, vmx_caps.entry);
    vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
    vmcs_write64(VMCS_LINK_POINTER, ~0ull);
    vmcs_writenat(VMCS_CR0_MASK, vmx_caps.cr0_fixed0 | ~vmx_caps.cr0_fixed1);
    vmcs_writenat(VMCS_CR4_MASK, vmx_caps.cr4_fixed0 | ~vmx_caps.cr4_fixed1);
}

/* What VM entry reads, from the fake VMCS (not from vmx_guest_from_state). */
static void vmx_image(struct vmx_guest *g)
{
    memset(g, 0, sizeof(*g));
    for (unsigned i = 0; i < VMX_SEGS; i++) {
        g->sel[i] = (uint16_t)vmcs_must(0x0800 + 2 * i);
        g->limit[i] = (uint32_t)vmcs_must(0x4800 + 2 * i);
        g->ar[i] = (uint32_t)vmcs_must(0x4814 + 2 * i);
        g->base[i] = vmcs_must(0x6806 + 2 * i);
    }
    g->gdtr_base = vmcs_must(VMCS_GUEST_GDTR_BASE.enc);
    g->idtr_base = vmcs_must(VMCS_GUEST_IDTR_BASE.enc);
    g->gdtr_limit = (uint32_t)vmcs_must(VMCS_GUEST_GDTR_LIMIT.enc);
    g->idtr_limit = (uint32_t)vmcs_must(VMCS_GUEST_IDTR_LIMIT.enc);
    g->cr0 = vmcs_must(VMCS_GUEST_CR0.enc);
    g->cr3 = vmcs_must(VMCS_GUEST_CR3.enc);
    g->cr4 = vmcs_must(VMCS_GUEST_CR4.enc);
    g->dr7 = vmcs_must(VMCS_GUEST_DR7.enc);
    g->rip = vmcs_must(VMCS_GUEST_RIP.enc);
    g->rflags = vmcs_must(VMCS_GUEST_RFLAGS.enc);
    g->pending_dbg = vmcs_must(VMCS_GUEST_PENDING_DBG.enc);
    g->debugctl = vmcs_must(VMCS_GUEST_DEBUGCTL.enc);
    g->pat = vmcs_must(VMCS_GUEST_PAT.enc);
    g->efer = vmcs_must(VMCS_GUEST_EFER.enc);
    g->link_ptr = vmcs_must(VMCS_LINK_POINTER.enc);
    /* written for PAE paging (vmx_pae_paging), which is when entry reads them */
    if ((g->cr0 >> 31 & 1) && (g->cr4 >> 5 & 1) && !(vmcs_must(VMCS_ENTRY_CTLS.enc) >> 9 & 1))
        for (unsigned i = 0; i < 4; i++)
            g->pdpte[i] = vmcs_must(0x280a + 2 * i);
    g->sysenter_esp = vmcs_must(VMCS_GUEST_SYSENTER_ESP.enc);
    g->sysenter_eip = vmcs_must(VMCS_GUEST_SYSENTER_EIP.enc);
    g->interruptibility = (uint32_t)vmcs_must(VMCS_GUEST_INTERRUPTIBILITY.enc);
    g->activity = (uint32_t)vmcs_must(VMCS_GUEST_ACTIVITY.enc);
    g->pin = (uint32_t)vmcs_must(VMCS_PIN_CTLS.enc);
    g->proc = (uint32_t)vmcs_must(VMCS_PROC_CTLS.enc);
    g->proc2 = (uint32_t)vmcs_must(VMCS_PROC_CTLS2.enc);
    g->entry = (uint32_t)vmcs_must(VMCS_ENTRY_CTLS.enc);
    g->intr_info = (uint32_t)vmcs_must(VMCS_ENTRY_INTR_INFO.enc);
    /* entry reads these only with an error code to deliver / for a software event */
    if ((g->intr_info >> 31) && (g->intr_info & (1u << 11)))
        g->exc_error = (uint32_t)vmcs_must(VMCS_ENTRY_EXC_ERROR.enc);
    if ((g->intr_info >> 31) && ((g->intr_info >> 8) & 7) >= 4)
        g->insn_len = (uint32_t)vmcs_must(VMCS_ENTRY_INSN_LEN.enc);
}

/* vcpu_create on VT-x (write_controls, vmx_set_state); the VMCS must enter; *back is what
 * vmx_get_state would save from it. */
static void vmx_load(const struct vmx_cfg *k, const struct vcpu_state *st, struct vcpu_state *back)
{
    const struct vmx_entry_caps caps = {
        .cr0_fixed0 = 0x80000021ull, .cr0_fixed1 = 0xffffffffull, .cr4_fixed0 = 0x2000,
        .cr4_fixed1 = intel.cr4_ok, .phys_bits = intel.phys_bits, .linear_bits = 48,
        .hlt = true, .inject_len0 = k->len0, .cet = intel.cet,
    };
    struct vmx_guest g;
    char why[256], why2[256];
    vmx_setup(k);
    /* vmx.c reads them from the guest's table at CR3 (valid ones here; the unit test has
     * the reserved bits) */
    static const uint64_t pdpte[4] = { 0x1001, 0x2001, 0x3001, 0x4001 };
    vmx_write_guest_state(st, pdpte);
    vmx_image(&g);
    why[0] = why2[0] = 0;
    int rc = vmx_guest_check(&g, &caps, why, sizeof(why));
    if (rc)
        fail("VT-x: the VMCS written for a state the target took", why, st);
    if (vmx_guest_state_check(st, pdpte, why2, sizeof(why2)))
        fail("VT-x: vmx_guest_state_check refuses what entry takes", why2, st);
    if (st->cr4 & ~vmx_caps.cr4_fixed1)
        fail("VT-x", "a CR4 bit the guest set is not in CR4_FIXED1: it would run without it", st);
    *back = *st;
    vmx_read_guest_state(back);
}

/* ---- AMD-V ---- */

#define CR0_PE   (1ull << 0)
#define CR0_WP   (1ull << 16)
#define CR0_NW   (1ull << 29)
#define CR0_CD   (1ull << 30)
#define CR0_PG   (1ull << 31)
#define CR4_PAE  (1ull << 5)
#define CR4_CET  (1ull << 23)
#define EFER_LME (1ull << 8)

/* An exception vector VMRUN injects (APM 15.20: a vector that is no exception, NMI's 2
 * included, is VMEXIT_INVALID; APM 8.2 lists them; #CP only with shadow stacks). */
static bool amd_exception(unsigned v, bool cet)
{
    return (v <= 19 && v != 2 && v != 9 && v != 15) || (v == 21 && cet) || (v >= 28 && v <= 30);
}

/* APM Vol. 2 15.5.1, the illegal guest states for VMRUN (VMEXIT_INVALID), on host h. */
static const char *svm_vmrun_check(const struct vmcb *v, const struct host *h)
{
    const struct vmcb_save *s = &v->save;
    const struct vmcb_control *c = &v->control;
    bool lme_pg = (s->efer & EFER_LME) && (s->cr0 & CR0_PG);
    if (!(s->efer & EFER_SVME))
        return "EFER.SVME is zero";
    if (!(s->cr0 & CR0_CD) && (s->cr0 & CR0_NW))
        return "CR0.CD is zero and CR0.NW is set";
    if (s->cr0 >> 32)
        return "CR0[63:32] are not zero";
    if (s->cr3 >> h->phys_bits)
        return "an MBZ bit of CR3 is set (beyond MAXPHYADDR)";
    if (s->cr4 & ~h->cr4_ok)
        return "an MBZ bit of CR4 is set";
    if ((s->dr6 >> 32) || (s->dr7 >> 32))
        return "DR6[63:32] or DR7[63:32] are not zero";
    if (s->efer & ~0x1d01ull)
        return "an MBZ bit of EFER is set";
    if (lme_pg && !(s->cr4 & CR4_PAE))
        return "EFER.LME and CR0.PG are both set and CR4.PAE is zero";
    if (lme_pg && !(s->cr0 & CR0_PE))
        return "EFER.LME and CR0.PG are both non-zero and CR0.PE is zero";
    if (lme_pg && (s->cr4 & CR4_PAE) && (s->cs.attrib & SEG_ATTR_L) && (s->cs.attrib & SEG_ATTR_DB))
        return "EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D are all non-zero";
    if ((s->cr4 & CR4_CET) && !(s->cr0 & CR0_WP))
        return "CR4.CET is set and CR0.WP is zero";
    if (!(c->intercept2 & VMCB_I2_VMRUN) || !c->guest_asid)
        return "the VMRUN intercept is clear, or ASID 0";
    if (c->event_inj & EVTINJ_V) {
        unsigned type = (c->event_inj & EVTINJ_TYPE_MASK) >> EVTINJ_TYPE_SHIFT;
        if (type == 1 || type > 4 || (c->event_inj & 0x7ffff000ull))
            return "EVENTINJ with a reserved type or reserved bits";
        if (type == EVTINJ_TYPE_EXCEPTION &&
            !amd_exception(c->event_inj & EVTINJ_VECTOR_MASK, h->cet))
            return "EVENTINJ exception with a vector that is not an exception";
    }
    return NULL;
}

/* vcpu_create on AMD-V (svm_vcpu_create's control area, svm_set_state); VMRUN must take it;
 * *back is what svm_get_state would save. */
static void svm_load(bool vnmi, const struct vcpu_state *st, struct vcpu_state *back)
{
    static struct vmcb vmcb;
    struct vmcb_control *c = &vmcb.control;
    memset(&vmcb, 0, sizeof(vmcb));
    c->intercept1 = VMCB_I1_INTR | VMCB_I1_NMI | VMCB_I1_HLT | VMCB_I1_MSR_PROT;
    c->intercept2 = VMCB_I2_VMRUN | VMCB_I2_XSETBV;
    c->guest_asid = 1;
    c->vintr = VINTR_MASKING | (vnmi ? VINTR_NMI_ENABLE : 0);
    c->np_control = NP_ENABLE;
    vmcb.save.dr6 = 0xffff0ff0;
    svm_state_write(&vmcb, st);
    const char *bad = svm_vmrun_check(&vmcb, &amd);
    if (bad)
        fail("AMD-V: the VMCB written for a state the target took", bad, st);
    *back = *st;
    svm_state_read(&vmcb, back);
    /* svm_set_state / svm_get_state: ferry's own NMI mask, without vNMI */
    if (((st->interruptibility & INTR_NMI) || st->pending.type == EVENT_NMI) && !vnmi)
        back->interruptibility |= INTR_NMI;
}

/* ---- the good states edits start from ---- */

static struct seg seg(uint16_t sel, uint32_t attr, uint32_t limit, uint64_t base)
{
    return (struct seg){ .sel = sel, .attr = attr, .limit = limit, .base = base };
}

static void base_32bit(struct vcpu_state *s)
{
    memset(s, 0, sizeof(*s));
    s->version = VCPU_STATE_VERSION;
    s->rip = 0xc1000000;
    s->rflags = 0x202;
    s->cr0 = 0x80000031;                        /* PG NE ET PE */
    s->cr3 = 0x1a7d000;
    s->cr4 = 0x6b0;                             /* PAE PSE PGE OSFXSR OSXMMEXCPT */
    s->efer = 0x800;                            /* NXE */
    s->pat = 0x0007040600070406ull;
    s->dr7 = 0x400;
    s->cs = seg(0x60, 0xc9b, 0xffffffff, 0);
    s->ss = seg(0x68, 0xc93, 0xffffffff, 0);
    s->ds = s->es = seg(0x7b, 0xcf3, 0xffffffff, 0);
    s->fs = seg(0xd8, 0x493, 0xfffff, 0x1ff0000);
    s->gs = seg(0, SEG_UNUSABLE, 0, 0);
    s->ldtr = seg(0, SEG_UNUSABLE, 0, 0);
    s->tr = seg(0x80, 0x8b, 0x206b, 0xc1a00000);
    s->gdtr = (struct dtable){ .base = 0xc1a01000, .limit = 0xff };
    s->idtr = (struct dtable){ .base = 0xc1a02000, .limit = 0x7ff };
}

static void make_base(unsigned i, struct vcpu_state *s)
{
    switch (i % 10) {
    case 0: *s = vcpu_state_sample(); break;
    case 1:                                     /* 64-bit user, after SYSRET */
        *s = vcpu_state_sample();
        s->cs = seg(0x33, 0xafb, 0xffffffff, 0);
        s->ss = seg(0x2b, 0xcf3, 0xffffffff, 0);
        s->rip = 0x401000;
        s->rflags = 0x202;
        break;
    case 2: guest_boot_init_state(s); break;    /* INIT: real mode, waiting for a SIPI */
    case 3: base_32bit(s); break;
    case 4:                                     /* virtual-8086 */
        base_32bit(s);
        s->rflags = 0x20202;
        s->cs = seg(0x1234, 0xf3, 0xffff, 0x12340);
        s->ss = seg(0x2000, 0xf3, 0xffff, 0x20000);
        s->ds = s->es = s->fs = s->gs = seg(0x40, 0xf3, 0xffff, 0x400);
        s->rip = 0x100;
        break;
    case 5:                                     /* compatibility mode user */
        *s = vcpu_state_sample();
        s->cs = seg(0x23, 0xcfb, 0xffffffff, 0);
        s->ss = seg(0x2b, 0xcf3, 0xffffffff, 0);
        s->rip = 0x8048000;
        break;
    case 6:                                     /* #PF pending in a MOV SS shadow, NMIs masked */
        *s = vcpu_state_sample();
        s->interruptibility = INTR_MOVSS | INTR_NMI;
        s->pending = (struct vcpu_event){ .type = EVENT_EXCEPTION, .vector = 14,
                                          .has_error = 1, .error = 6 };
        break;
    case 7:                                     /* real mode, an interrupt being delivered */
        guest_boot_init_state(s);
        s->activity = ACT_RUNNING;
        s->rflags = 0x202;
        s->pending = (struct vcpu_event){ .type = EVENT_EXTINT, .vector = 0x20 };
        break;
    case 8:                                     /* as AMD-V saves a 64-bit kernel */
        *s = vcpu_state_sample();
        s->cs = seg(0x10, 0x29a, 0xffffffff, 0);        /* L, not accessed, no G */
        s->ss = seg(0x18, 0x492, 0xffffffff, 0);
        s->ds = s->es = seg(0, 0, 0, 0);                /* not present: unusable */
        s->tr = seg(0x40, 0x89, 0x67, 0xfffffe0000003000ull);  /* available TSS */
        s->ldtr = seg(0, 0x2, 0, 0);
        break;
    default:                                    /* HLT, single-stepping, an NMI to deliver */
        *s = vcpu_state_sample();
        s->activity = ACT_HALTED;
        s->rflags = 0x346;
        s->interruptibility = INTR_NMI;
        s->pending = (struct vcpu_event){ .type = EVENT_NMI, .vector = 2 };
        break;
    }
}

static void dump_state(const struct vcpu_state *s)
{
    const struct seg *g[8] = { &s->es, &s->cs, &s->ss, &s->ds, &s->fs, &s->gs, &s->ldtr, &s->tr };
    static const char *const n[8] = { "es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr" };
    fprintf(stderr, "  activity %u rip %#llx rflags %#llx intr %#x pending %u/%u/%u/%#x\n",
            s->activity, (unsigned long long)s->rip, (unsigned long long)s->rflags,
            s->interruptibility, s->pending.type, s->pending.vector, s->pending.has_error,
            s->pending.error);
    fprintf(stderr, "  cr0 %#llx cr3 %#llx cr4 %#llx efer %#llx dr7 %#llx\n",
            (unsigned long long)s->cr0, (unsigned long long)s->cr3, (unsigned long long)s->cr4,
            (unsigned long long)s->efer, (unsigned long long)s->dr7);
    for (unsigned i = 0; i < 8; i++)
        fprintf(stderr, "  %-4s sel %#06x attr %#07x limit %#010x base %#llx\n", n[i], g[i]->sel,
                g[i]->attr, g[i]->limit, (unsigned long long)g[i]->base);
    fprintf(stderr, "  gdtr %#llx/%#x idtr %#llx/%#x\n", (unsigned long long)s->gdtr.base,
            s->gdtr.limit, (unsigned long long)s->idtr.base, s->idtr.limit);
}

/* ---- the payload ---- */

#define PAYLOAD (4 + MIG_VCPU_STATE_SIZE)

static size_t encode(const struct vcpu_state *s, uint8_t *out)
{
    static uint8_t buf[1024];
    struct mig_enc e;
    mig_enc_init(&e, buf, sizeof(buf));
    if (mig_rec_vcpu(&e, 0, s) || e.len != MIG_REC_HDR_SIZE + PAYLOAD + 4)
        abort();
    memcpy(out, buf + MIG_REC_HDR_SIZE, PAYLOAD);
    return PAYLOAD;
}

/* The record payload the input describes; its length. */
static size_t payload(const uint8_t *d, size_t n, uint8_t *out)
{
    if (!(d[0] & 0x80)) {
        n = n - 1 < PAYLOAD + 16 ? n - 1 : PAYLOAD + 16;
        memcpy(out, d + 1, n);
        return n;
    }
    struct vcpu_state s;
    make_base(n > 1 ? d[1] : 0, &s);
    size_t len = encode(&s, out);
    for (size_t i = 2; i + 3 <= n;) {
        size_t off = (d[i] | (size_t)d[i + 1] << 8) % PAYLOAD, k = d[i + 2] % 8 + 1;
        i += 3;
        for (size_t j = 0; j < k && i < n; j++, i++)
            out[(off + j) % PAYLOAD] = d[i];
    }
    return len;
}

/* ---- one accepted state through both backends ---- */

static void load_all(unsigned pi, uint8_t cfg, const struct vcpu_state *st, int depth)
{
    const struct vmx_cfg k = { .len0 = cfg & 8, .vnmi = cfg & 0x10, .load_debug = cfg & 0x20 };
    struct vcpu_state back;
    if (on_vmx[pi]) {
        vmx_load(&k, st, &back);
        if (!accepted(&pols[pi], &intel, &back))
            fail("VT-x: the state read back is not one a target takes", why_refused, &back);
        if (depth == 0 && on_svm[pi])
            load_all(pi, cfg & ~0x20, &back, 1);        /* VT-x -> AMD-V */
    }
    if (on_svm[pi]) {
        svm_load(cfg & 0x40, st, &back);
        if (!accepted(&pols[pi], &amd, &back))
            fail("AMD-V: the state read back is not one a target takes", why_refused, &back);
        if (depth == 0 && on_vmx[pi])
            load_all(pi, cfg, &back, 1);                /* AMD-V -> VT-x */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    static uint8_t buf[PAYLOAD + 16];
    if (!ready) {
        init();
        ready = true;
    }
    if (size < 1)
        return 0;
    unsigned pi = data[0] & 7;
    struct mig_record r = { .type = MIG_REC_VCPU, .payload = buf };
    r.len = (uint32_t)payload(data, size, buf);
    struct vcpu_state st;
    uint32_t idx;
    if (mig_parse_vcpu(&r, &idx, &st))
        return 0;
    const struct host *h = on_vmx[pi] ? &intel : &amd;
    if (!accepted(&pols[pi], h, &st) ||
        (on_vmx[pi] && on_svm[pi] && !accepted(&pols[pi], &amd, &st)))
        return 0;
    bool wait_sipi = st.activity == ACT_WAIT_SIPI;
    if (wait_sipi)
        st.activity = ACT_RUNNING;                      /* vcpu_init_loaded */
    load_all(pi, data[0], &st, 0);
    if (wait_sipi) {
        guest_boot_sipi_state(&st, (uint8_t)st.tsc);    /* a SIPI with any vector */
        load_all(pi, data[0], &st, 0);
    }
    return 0;
}
