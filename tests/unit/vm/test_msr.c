/*
 * Host tests for hv/vm/msr.c: MSRs follow the VM's CPU policy (an MSR whose
 * feature is hidden does not exist, EFER bits need their features, the
 * Intel-only MSRs exist only for Intel vendor strings, IA32_ARCH_CAPABILITIES
 * and IA32_MISC_ENABLE are derived from the policy). The backend is a fake
 * vcpu_ops keeping one state record.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "hv/cpu/cpu_baseline.h"
#include "hv/vm/guest_boot.h"
#include "hv/vm/msr.h"
#include "hv/vm/vcpu_ops.h"
#include "fake_cpuid.h"
#include "support.h"
#include "vcpu_state_sample.h"

#define MSR_TSC 0x10
#define MSR_FEATURE_CTL 0x3a
#define MSR_ARCH_CAPS 0x10a
#define MSR_MISC_ENABLE 0x1a0
#define MSR_SYSENTER_CS 0x174
#define MSR_PAT 0x277

static struct vcpu_state state;
static struct vm vm;

static void fake_get(struct vcpu *v, struct vcpu_state *s) { (void)v; *s = state; }
static void fake_set(struct vcpu *v, const struct vcpu_state *s) { (void)v; state = *s; }

static const struct vcpu_ops fake_ops = { .name = "fake", .vcpu_get_state = fake_get,
                                          .vcpu_set_state = fake_set };
const struct vcpu_ops *hv_ops = &fake_ops;

static void load(const struct fake_leaf *t, size_t n, const char *baseline)
{
    struct fake_host h = { .t = t, .n = n };
    char miss[64];

    memset(&vm, 0, sizeof(vm));
    memset(&state, 0, sizeof(state));
    vm.nvcpus = 1;
    vm.vcpus[0].vm = &vm;
    assert_int_equal(cpu_policy_from_host(&vm.policy, fake_cpuid, &h), 0);
    cpu_policy_set_arch_caps(&vm.policy, ~0ull);
    assert_int_equal(cpu_policy_apply_baseline(&vm.policy, baseline, miss, sizeof(miss)), 0);
}

#define LOAD(tbl, b) load(tbl, tbl##_len, b)

/* RDMSR: 0 and the value, or the -errno that becomes #GP. */
static int rd(uint32_t msr, uint64_t *val)
{
    struct vcpu *v = &vm.vcpus[0];
    int rc;

    v->gpr[GPR_RAX] = v->gpr[GPR_RDX] = 0xdeadbeef;
    rc = msr_access(v, msr, false);
    *val = v->gpr[GPR_RDX] << 32 | (uint32_t)v->gpr[GPR_RAX];
    return rc;
}

static int wr(uint32_t msr, uint64_t val)
{
    struct vcpu *v = &vm.vcpus[0];

    v->gpr[GPR_RAX] = (uint32_t)val;
    v->gpr[GPR_RDX] = val >> 32;
    return msr_access(v, msr, true);
}

static void test_host_policy_intel(void **state_)
{
    uint64_t v;

    (void)state_;
    LOAD(intel_avx512_host, "host");
    assert_int_equal(rd(MSR_ARCH_CAPS, &v), 0);
    assert_int_equal(v, CPU_ARCH_CAPS_NOT_AFFECTED | CPU_ARCH_CAPS_AFFECTED);
    assert_int_equal(wr(MSR_ARCH_CAPS, 0), -EPERM);
    assert_int_equal(rd(MSR_MISC_ENABLE, &v), 0);
    assert_int_equal(v, 0x1801);                    /* fast strings, no BTS, no PEBS */
    assert_int_equal(wr(MSR_MISC_ENABLE, 1ull << 22), 0);   /* ignored */
    assert_int_equal(rd(MSR_MISC_ENABLE, &v), 0);
    assert_int_equal(v, 0x1801);
    assert_int_equal(rd(MSR_FEATURE_CTL, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(wr(MSR_TSC_AUX, 7), 0);
    assert_int_equal(rd(MSR_TSC_AUX, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(wr(MSR_TSC_AUX, 1ull << 32), -EPERM);
    assert_int_equal(wr(MSR_SFMASK, 0x47700), 0);
    assert_int_equal(wr(MSR_SFMASK, 1ull << 32), -EPERM);   /* bits 63:32 reserved */
    assert_int_equal(rd(MSR_SFMASK, &v), 0);
    assert_int_equal(v, 0x47700);
    assert_int_equal(wr(MSR_EFER, 0xd01), 0);       /* SCE LME LMA NXE */
    assert_int_equal(state.efer, 0x901);            /* LMA is not the guest's to set */
    assert_int_equal(wr(MSR_EFER, 1ull << 12), -EPERM); /* SVME */
    assert_int_equal(rd(0x48, &v), -EPERM);         /* SPEC_CTRL: hidden, not virtualized */
}

static void test_v2_hides_msrs(void **state_)
{
    uint64_t v;

    (void)state_;
    LOAD(intel_avx512_host, "x86-64-v2");
    assert_int_equal(vm.policy.arch_caps, 0);
    assert_int_equal(rd(MSR_ARCH_CAPS, &v), -EPERM);        /* not in the baseline */
    assert_int_equal(rd(MSR_TSC_AUX, &v), -EPERM);          /* no RDTSCP, no RDPID */
    assert_int_equal(wr(MSR_TSC_AUX, 1), -EPERM);
    assert_int_equal(rd(MSR_MISC_ENABLE, &v), 0);
    assert_int_equal(v, 0x1801);
    assert_int_equal(wr(MSR_EFER, 0x901), 0);               /* v1 has SYSCALL, LM, NX */
    assert_int_equal(rd(MSR_SYSENTER_CS, &v), 0);
    assert_int_equal(rd(MSR_TSC, &v), 0);
    assert_int_equal(rd(MSR_LSTAR, &v), 0);
}

static void test_amd_vendor(void **state_)
{
    uint64_t v;

    (void)state_;
    LOAD(amd_host, "host");
    assert_int_equal(rd(MSR_MISC_ENABLE, &v), -EPERM);      /* Intel-only */
    assert_int_equal(rd(MSR_FEATURE_CTL, &v), -EPERM);
    assert_int_equal(rd(MSR_ARCH_CAPS, &v), -EPERM);        /* no CPUID bit */
    assert_int_equal(vm.policy.arch_caps, 0);
    assert_int_equal(rd(MSR_TSC_AUX, &v), 0);               /* RDTSCP */
    LOAD(amd_host, "x86-64-v3");
    assert_int_equal(rd(MSR_TSC_AUX, &v), -EPERM);
}

/* A policy without NX: EFER.NXE is reserved and MISC_ENABLE says XD is disabled. */
static void test_efer_follows_policy(void **state_)
{
    struct cpuid_leaf *e1 = NULL;
    uint64_t v;

    (void)state_;
    LOAD(intel_host, "host");
    for (unsigned i = 0; i < vm.policy.nleaves; i++)
        if (vm.policy.leaves[i].leaf == 0x80000001)
            e1 = &vm.policy.leaves[i];
    assert_non_null(e1);
    e1->regs.edx &= ~(1u << 20);
    assert_int_equal(wr(MSR_EFER, 0x901), -EPERM);
    assert_int_equal(wr(MSR_EFER, 0x101), 0);
    assert_int_equal(rd(MSR_MISC_ENABLE, &v), 0);
    assert_int_equal(v, 0x1801 | 1ull << 34);
    e1->regs.edx &= ~(1u << 11);                    /* no SYSCALL: no SCE, no STAR */
    assert_int_equal(wr(MSR_EFER, 0x101), -EPERM);
    assert_int_equal(rd(MSR_STAR, &v), -EPERM);
    assert_int_equal(wr(MSR_EFER, 0x100), 0);
}

static void test_arch_caps_bits(void **state_)
{
    (void)state_;
    LOAD(intel_avx512_host, "host");
    /* RDCL_NO IBRS_ALL SKIP_L1DFL MDS_NO PSCHANGE_MC_NO TSX_CTRL SBDR FBSDP PSDP RRSBA */
    cpu_policy_set_arch_caps(&vm.policy, 0x8e0ebull);
    /* IBRS_ALL (1), SKIP_L1DFL_VMENTRY (3) and TSX_CTRL (7) never pass */
    assert_int_equal(vm.policy.arch_caps, 0x8e0ebull & (CPU_ARCH_CAPS_NOT_AFFECTED |
                                                        CPU_ARCH_CAPS_AFFECTED));
    assert_int_equal(vm.policy.arch_caps & (1u << 1 | 1u << 3 | 1u << 7), 0);
    assert_true(vm.policy.arch_caps & 1);           /* RDCL_NO */
    assert_true(vm.policy.arch_caps & (1u << 19));  /* RRSBA: a fact, passed */
    LOAD(intel_host, "host");                       /* the Core has the bit too */
    assert_int_equal(vm.policy.arch_caps, CPU_ARCH_CAPS_NOT_AFFECTED | CPU_ARCH_CAPS_AFFECTED);
    LOAD(amd_host, "host");
    cpu_policy_set_arch_caps(&vm.policy, ~0ull);
    assert_int_equal(vm.policy.arch_caps, 0);
}

/* The state record of an incoming migration meets the rules guest writes meet: each value
 * that would #GP in the host's WRMSR or XRSTOR path, or fail the entry, is refused by name. */
static void test_state_check(void **state_)
{
    char why[160];
    (void)state_;
    LOAD(intel_avx512_host, "host");
    struct vcpu_state s = vcpu_state_sample();
    assert_int_equal(msr_state_check(&vm.policy, &s, why, sizeof(why)), 0);
    const struct { size_t off; uint64_t val; const char *name; } bad[] = {
        { offsetof(struct vcpu_state, lstar), 0x0000800000000000ull, "LSTAR" },
        { offsetof(struct vcpu_state, cstar), 0x8000000000000000ull, "CSTAR" },
        { offsetof(struct vcpu_state, kernel_gs_base), 0x1234000000000000ull, "KERNEL_GS_BASE" },
        { offsetof(struct vcpu_state, fs) + offsetof(struct seg, base), 1ull << 47, "FS_BASE" },
        { offsetof(struct vcpu_state, gs) + offsetof(struct seg, base), 1ull << 62, "GS_BASE" },
        { offsetof(struct vcpu_state, sysenter_eip), 0x00ff000000000000ull, "SYSENTER_EIP" },
        { offsetof(struct vcpu_state, sysenter_esp), 0x00ff000000000000ull, "SYSENTER_ESP" },
        { offsetof(struct vcpu_state, tsc_aux), 1ull << 32, "TSC_AUX" },
        { offsetof(struct vcpu_state, sfmask), 0xffffffff00000000ull, "SFMASK" },
        { offsetof(struct vcpu_state, pat), 0x0007040600070402ull, "PAT" },
        { offsetof(struct vcpu_state, efer), 0x1d01, "EFER" },           /* SVME */
        { offsetof(struct vcpu_state, efer), 0x401, "EFER.LMA without LME" },
        { offsetof(struct vcpu_state, cr0), 1ull << 32, "CR0" },
        { offsetof(struct vcpu_state, cr0), 0x80000000, "CR0" },          /* PG without PE */
        { offsetof(struct vcpu_state, cr4), 1ull << 40, "CR4" },
        { offsetof(struct vcpu_state, cr3), 1ull << 60, "CR3" },
        { offsetof(struct vcpu_state, cr8), 16, "CR8" },
        { offsetof(struct vcpu_state, dr7), 1ull << 32, "DR7" },
        { offsetof(struct vcpu_state, rflags), 0x244, "RFLAGS" },         /* bit 1 clear */
        { offsetof(struct vcpu_state, rflags), 0x246 | 1ull << 22, "RFLAGS" },
        { offsetof(struct vcpu_state, idtr) + offsetof(struct dtable, base), 1ull << 48,
          "a descriptor table base" },
        { offsetof(struct vcpu_state, tr) + offsetof(struct seg, base), 1ull << 50,
          "a descriptor table base" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct vcpu_state t = vcpu_state_sample();
        memcpy((uint8_t *)&t + bad[i].off, &bad[i].val, 8);
        why[0] = 0;
        if (msr_state_check(&vm.policy, &t, why, sizeof(why)) != -EINVAL || !strstr(why, bad[i].name))
            fail_msg("case %zu (%s): not refused, or why='%s'", i, bad[i].name, why);
    }
    /* Each MSR the guest writes that reaches hardware (WRMSR when the lazy MSRs switch, or
     * the VMCS/VMCB), written by the guest: non-canonical or reserved bits are #GP, the
     * state keeps its value; a good value lands. */
    const struct { uint32_t msr; uint64_t bad, good; size_t off; } w[] = {
        { 0xc0000082, 0x0000800000000000ull, 0xffffffff81a00080ull,
          offsetof(struct vcpu_state, lstar) },
        { 0xc0000083, 0x8000000000000000ull, 0xffffffff81a01b00ull,
          offsetof(struct vcpu_state, cstar) },
        { 0xc0000102, 0x00ff000000000000ull, 0xffff888007a00000ull,
          offsetof(struct vcpu_state, kernel_gs_base) },
        { 0xc0000100, 1ull << 47, 0x7f0000001000ull,
          offsetof(struct vcpu_state, fs) + offsetof(struct seg, base) },
        { 0xc0000101, 1ull << 63, 0xffff888007b00000ull,
          offsetof(struct vcpu_state, gs) + offsetof(struct seg, base) },
        { 0x175, 0x0001000000000000ull, 0xfffffe0000002000ull,
          offsetof(struct vcpu_state, sysenter_esp) },
        { 0x176, 0x0001000000000000ull, 0xffffffff81a02000ull,
          offsetof(struct vcpu_state, sysenter_eip) },
        { 0xc0000084, 1ull << 32, 0x257fd5, offsetof(struct vcpu_state, sfmask) },
        { 0xc0000103, 1ull << 40, 3, offsetof(struct vcpu_state, tsc_aux) },
        { MSR_PAT, 0x0007040600070408ull, 0x0007040600070406ull,
          offsetof(struct vcpu_state, pat) },
    };
    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
        uint64_t was, now;
        memcpy(&was, (uint8_t *)&state + w[i].off, 8);
        if (wr(w[i].msr, w[i].bad) != -EPERM)
            fail_msg("MSR 0x%x took 0x%llx", w[i].msr, (unsigned long long)w[i].bad);
        memcpy(&now, (uint8_t *)&state + w[i].off, 8);
        assert_int_equal(now, was);
        assert_int_equal(wr(w[i].msr, w[i].good), 0);
        memcpy(&now, (uint8_t *)&state + w[i].off, 8);
        assert_int_equal(now, w[i].good);
    }
    /* STAR has no reserved bits: any value is the guest's (its selectors load at SYSCALL). */
    assert_int_equal(wr(0xc0000081, ~0ull), 0);
    assert_int_equal(state.star, ~0ull);
    /* The same values written by the guest are refused the same way. */
    assert_int_equal(wr(MSR_LSTAR, 0x0000800000000000ull), -EPERM);
    assert_int_equal(wr(MSR_TSC_AUX, 1ull << 32), -EPERM);
    assert_int_equal(wr(MSR_PAT, 0x0007040600070402ull), -EPERM);
    assert_false(cr0_write_ok(0x80000000));
    assert_true(cr0_write_ok(0x80050033));
}

/* A state the check must refuse, naming what is wrong. */
static void expect_refused(const struct vcpu_state *t, const char *name, int line)
{
    char why[200];
    why[0] = 0;
    if (msr_state_check(&vm.policy, t, why, sizeof(why)) != -EINVAL || !strstr(why, name))
        fail_msg("line %d (%s): not refused, or why='%s'", line, name, why);
}
#define REFUSED(t, name) expect_refused(&(t), name, __LINE__)

static void expect_taken(const struct vcpu_state *t, int line)
{
    char why[200];
    why[0] = 0;
    if (msr_state_check(&vm.policy, t, why, sizeof(why)))
        fail_msg("line %d: refused: %s", line, why);
}
#define TAKEN(t) expect_taken(&(t), __LINE__)

static struct seg mkseg(uint16_t sel, uint32_t attr, uint32_t limit, uint64_t base)
{
    return (struct seg){ .sel = sel, .attr = attr, .limit = limit, .base = base };
}

/* A 32-bit protected-mode kernel with PAE paging. */
static struct vcpu_state pae_state(void) { return vcpu_state_sample_pae(); }

/* Found by tests/fuzz/fuzz_vcpu_state.c: records the check took whose control registers, EFER,
 * RFLAGS or RIP no CPU holds, and which VM entry (SDM 26.3.1.1, 26.3.1.4) or VMRUN (APM
 * 15.5.1) then refused; each now refused by name. */
static void test_state_check_modes(void **state_)
{
    (void)state_;
    LOAD(intel_avx512_host, "host");
    struct vcpu_state t;
    t = vcpu_state_sample(); t.cr0 |= 1ull << 29; t.cr0 &= ~(1ull << 30); REFUSED(t, "CR0");
    t = vcpu_state_sample(); t.cr4 |= 1ull << 13; REFUSED(t, "CR4");       /* VMXE, hidden */
    t = vcpu_state_sample(); t.cr4 |= 1ull << 11; REFUSED(t, "CR4");       /* UMIP, absent */
    t = vcpu_state_sample(); t.cr4 |= 1ull << 15; REFUSED(t, "CR4");       /* reserved */
    t = vcpu_state_sample(); t.cr3 = 1ull << 46; REFUSED(t, "CR3");        /* MAXPHYADDR 46 */
    t = vcpu_state_sample(); t.cr0 = 0x11; REFUSED(t, "EFER.LMA other than");  /* no PG */
    t = vcpu_state_sample(); t.efer = 0x901; REFUSED(t, "EFER.LMA other than"); /* no LMA */
    t = vcpu_state_sample(); t.cr4 &= ~0x20ull; REFUSED(t, "without CR4.PAE");
    t = pae_state(); TAKEN(t);
    t = pae_state(); t.cr4 |= 1ull << 17; REFUSED(t, "CR4.PCIDE outside IA-32e");
    t = vcpu_state_sample(); t.rflags |= 1ull << 17; REFUSED(t, "RFLAGS.VM");
    t = pae_state(); t.cr0 &= ~0x80000001ull; t.rflags |= 1ull << 17; REFUSED(t, "RFLAGS.VM");
    t = vcpu_state_sample(); t.rip = 0x0000800000000000ull; REFUSED(t, "RIP");
    t = vcpu_state_sample(); t.cs.attr = 0xcfb; t.cs.sel = 0x23; t.ss.attr = 0xcf3;
    t.rip = 0x100000000ull; REFUSED(t, "RIP");                              /* compat mode */
    t = pae_state(); t.rip = 1ull << 32; REFUSED(t, "RIP");
    t = vcpu_state_sample(); t.gdtr.limit = 0x10000; REFUSED(t, "GDTR or IDTR limit");
    t = vcpu_state_sample(); t.cr4 |= 1ull << 23; REFUSED(t, "CR4");        /* no CET here */
    if (cpu_policy_has(&vm.policy, CPU_FEAT_CET_SS)) {
        TAKEN(t);
        t.cr0 &= ~(1ull << 16);
        REFUSED(t, "CR4.CET without CR0.WP");
    }
}

/* An emulated MOV to CR0 / CR4 (an exit on a masked bit): IA-32e mode follows CR0.PG with
 * EFER.LME (SDM 10.8.5), and the writes the CPU refuses are #GP, not a state VM entry or
 * VMRUN would fail on. */
static void test_cr_write(void **state_)
{
    (void)state_;
    LOAD(intel_avx512_host, "host");
    struct vcpu_state t, u;
    /* long mode -> paging off from 32-bit code: LMA goes; from 64-bit code: #GP */
    t = vcpu_state_sample();
    assert_int_equal(cr_write(&vm.policy, &t, 0, t.cr0 & ~(1ull << 31)), -EINVAL);
    t.cs.attr &= ~SEG_ATTR_L;
    t.cs.attr |= SEG_ATTR_DB;
    assert_int_equal(cr_write(&vm.policy, &t, 0, t.cr0 & ~(1ull << 31)), 0);
    assert_int_equal(t.efer & 0x400, 0);
    assert_int_equal(t.cr0 >> 31, 0);
    /* ... and on again with LME: LMA back; without PAE: #GP, nothing changed */
    u = t;
    u.cr4 &= ~0x20ull;
    assert_int_equal(cr_write(&vm.policy, &u, 0, t.cr0 | 1ull << 31), -EINVAL);
    assert_int_equal(u.efer & 0x400, 0);
    assert_int_equal(cr_write(&vm.policy, &t, 0, t.cr0 | 1ull << 31), 0);
    assert_int_equal(t.efer & 0x400, 0x400);
    /* PAE paging (no LME): PG on keeps LMA clear */
    t = pae_state();
    t.cr0 &= ~(1ull << 31);
    assert_int_equal(cr_write(&vm.policy, &t, 0, t.cr0 | 1ull << 31), 0);
    assert_int_equal(t.efer & 0x400, 0);
    TAKEN(t);
    /* CR0: PG without PE, NW without CD, bits 63:32 */
    assert_int_equal(cr_write(&vm.policy, &t, 0, 0x80000000ull), -EINVAL);
    assert_int_equal(cr_write(&vm.policy, &t, 0, 0x20000011ull), -EINVAL);
    assert_int_equal(cr_write(&vm.policy, &t, 0, 1ull << 32 | 0x11), -EINVAL);
    /* CR4: hidden or reserved bits; PAE off, LA57 changed in IA-32e mode; PCIDE without it */
    t = vcpu_state_sample();
    assert_int_equal(cr_write(&vm.policy, &t, 4, t.cr4 | 1ull << 13), -EINVAL);   /* VMXE */
    assert_int_equal(cr_write(&vm.policy, &t, 4, t.cr4 | 1ull << 15), -EINVAL);
    assert_int_equal(cr_write(&vm.policy, &t, 4, t.cr4 & ~0x20ull), -EINVAL);
    assert_int_equal(cr_write(&vm.policy, &t, 4, t.cr4 | 1ull << 7), 0);          /* PGE */
    assert_int_equal(t.cr4 & 0x80, 0x80);
    t = pae_state();
    assert_int_equal(cr_write(&vm.policy, &t, 4, t.cr4 | 1ull << 17), -EINVAL);
    assert_int_equal(cr_write(&vm.policy, &t, 4, t.cr4 & ~0x20ull), 0);           /* 32-bit */
    assert_int_equal(cr_write(&vm.policy, &t, 3, 0), -EINVAL);
}

/* Found by the fuzzer: segment registers no load makes, which VM entry refuses (SDM
 * 26.3.1.2); and the ones it takes in any vendor's form (AMD-V's unaccessed types, available
 * TSS, not-present for unusable, no G on CS: vmx_state.c loads them as VMX wants). */
static void test_state_check_segments(void **state_)
{
    (void)state_;
    LOAD(intel_avx512_host, "host");
    struct vcpu_state t;
    t = vcpu_state_sample(); t.cs.attr = 0x29a; t.ss.attr = 0x492; t.ds = t.es = mkseg(0, 0, 0, 0);
    t.tr.attr = 0x89; t.ldtr = mkseg(0, 0x2, 0, 0); TAKEN(t);               /* as AMD-V saves */
    guest_boot_init_state(&t); TAKEN(t);                                    /* INIT */
    t = vcpu_state_sample(); t.cs.attr |= SEG_UNUSABLE; REFUSED(t, "CS");
    t = vcpu_state_sample(); t.cs.attr &= ~0x80u; REFUSED(t, "CS");         /* not present */
    t = vcpu_state_sample(); t.cs.attr &= ~0x10u; REFUSED(t, "CS");         /* system */
    t = vcpu_state_sample(); t.cs.base = 1ull << 32; REFUSED(t, "CS");
    t = vcpu_state_sample(); t.cs.limit = 0x100000; REFUSED(t, "CS");       /* no descriptor */
    t = vcpu_state_sample(); t.cs.attr = 0xa91; REFUSED(t, "CS type");      /* read-only data */
    t = vcpu_state_sample(); t.cs.attr = 0xafb; REFUSED(t, "CS DPL");       /* CPL 0 */
    t = vcpu_state_sample(); t.cs.attr = 0xa9d; t.ss.attr = 0xcf3; TAKEN(t);   /* conforming */
    t.cs.attr = 0xafd; t.ss.attr = 0xcb3; REFUSED(t, "CS DPL");            /* DPL above CPL */
    t = vcpu_state_sample(); t.cs.attr |= SEG_ATTR_DB; REFUSED(t, "both L and D");
    guest_boot_init_state(&t); t.cs.attr = 0xfb; t.ss.attr = 0xf3; REFUSED(t, "SS DPL"); /* real */
    t = vcpu_state_sample(); t.ss.attr = 0xc91; REFUSED(t, "SS");           /* read-only */
    t = vcpu_state_sample(); t.ds = mkseg(0x10, 0xc99, 0xffffffff, 0); REFUSED(t, "a data segment");
    t = vcpu_state_sample(); t.ds = mkseg(0x10, 0xc89, 0xffffffff, 0); REFUSED(t, "a data segment");
    t = vcpu_state_sample(); t.es = mkseg(0x18, 0xc93, 0xffffffff, 1ull << 32);
    REFUSED(t, "a data segment");
    t = vcpu_state_sample(); t.tr.attr = SEG_UNUSABLE | 0x8b; REFUSED(t, "TR");
    t = vcpu_state_sample(); t.tr.attr = 0x82; REFUSED(t, "TR");            /* an LDT */
    t = vcpu_state_sample(); t.tr.attr = 0x83; REFUSED(t, "TR");            /* 16-bit, long mode */
    t = pae_state(); t.tr.attr = 0x83; TAKEN(t);
    t = vcpu_state_sample(); t.tr.sel |= 4; REFUSED(t, "TR");
    t = vcpu_state_sample(); t.ldtr = mkseg(0x50, 0x83, 0xfff, 0); REFUSED(t, "LDTR");
    t = vcpu_state_sample(); t.ldtr = mkseg(0x50, 0x82, 0xfff, 0); TAKEN(t);
    t = pae_state();                                                        /* virtual-8086 */
    t.rflags |= 1ull << 17;
    t.cs = mkseg(0x1234, 0xf3, 0xffff, 0x12340);
    t.ss = t.ds = t.es = t.fs = t.gs = mkseg(0x40, 0xf3, 0xffff, 0x400);
    TAKEN(t);
    t.ds.base = 0; REFUSED(t, "virtual-8086");
    t.ds.base = 0x400; t.ss.attr = 0x93; REFUSED(t, "virtual-8086");
}

/* Found by the fuzzer: activity, interrupt shadows and pending events VM entry (SDM 26.3.1.5,
 * 26.2.1.3) or VMRUN (APM 15.20) refuse, and no CPU has. */
static void test_state_check_events(void **state_)
{
    (void)state_;
    LOAD(intel_avx512_host, "host");
    struct vcpu_state t;
    const struct vcpu_event pf = { .type = EVENT_EXCEPTION, .vector = 14, .has_error = 1,
                                   .error = 6 };
    t = vcpu_state_sample(); t.rflags = 0x46; t.interruptibility = INTR_STI;
    REFUSED(t, "blocking by STI");
    t = vcpu_state_sample(); t.interruptibility = INTR_STI | INTR_MOVSS;
    REFUSED(t, "blocking by STI");
    t = vcpu_state_sample(); t.activity = ACT_HALTED; TAKEN(t);
    t.interruptibility = INTR_STI; REFUSED(t, "HLT");
    t = vcpu_state_sample(); t.activity = ACT_HALTED; t.cs.attr = 0xafb; t.ss.attr = 0xcf3;
    REFUSED(t, "HLT");
    t = vcpu_state_sample(); t.activity = ACT_HALTED; t.pending = pf; REFUSED(t, "HLT");
    t.pending = (struct vcpu_event){ .type = EVENT_NMI, .vector = 2 }; TAKEN(t);
    t = vcpu_state_sample(); t.pending = (struct vcpu_event){ .type = EVENT_EXTINT, .vector = 32 };
    TAKEN(t);
    t.rflags = 0x46; REFUSED(t, "external interrupt");
    t.rflags = 0x246; t.interruptibility = INTR_MOVSS; REFUSED(t, "external interrupt");
    t = vcpu_state_sample(); t.pending = pf; TAKEN(t);
    t.pending.vector = 2; t.pending.has_error = 0; REFUSED(t, "exception vector");   /* NMI's */
    t.pending.vector = 15; REFUSED(t, "exception vector");
    t.pending.vector = 21; t.pending.has_error = 1; REFUSED(t, "exception vector");  /* no CET */
    t.pending = pf; t.pending.error = 0x10000; REFUSED(t, "error code");
    t.pending = pf; t.pending.has_error = 0; REFUSED(t, "error code");
    t.pending = pf; t.pending.vector = 6; REFUSED(t, "error code");          /* #UD pushes none */
    guest_boot_init_state(&t); t.pending = pf; REFUSED(t, "error code");     /* real mode */
    t.pending.has_error = 0; t.pending.error = 0; TAKEN(t);
    t = vcpu_state_sample();
    t.pending = (struct vcpu_event){ .type = EVENT_SOFTINT, .vector = 0x80 };
    TAKEN(t);
    t.rip = 0xffff800000000000ull; REFUSED(t, "software interrupt");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_policy_intel),
        cmocka_unit_test(test_v2_hides_msrs),
        cmocka_unit_test(test_amd_vendor),
        cmocka_unit_test(test_efer_follows_policy),
        cmocka_unit_test(test_arch_caps_bits),
        cmocka_unit_test(test_state_check),
        cmocka_unit_test(test_state_check_modes),
        cmocka_unit_test(test_state_check_segments),
        cmocka_unit_test(test_state_check_events),
        cmocka_unit_test(test_cr_write),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
