/*
 * Host tests for hv/cpu/cpu_policy.c. The host's CPUID is a fake (fake_cpuid.c) driven by a
 * table (intel_host, amd_host: values modelled on real parts, with VMX / SVM,
 * SGX, PT, RDT, a PMU and an XSAVE layout with AVX at offset 576 size 256).
 * Like hardware, the fake answers a basic leaf above its maximum with the
 * highest basic leaf. "noisy" answers all-ones to everything, which is the
 * worst case for the table-size cap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hv/cpu/cpu_policy.h"
#include "fake_cpuid.h"
#include "support.h"

#define BIT(n) (1u << (n))
#define CR4_OSXSAVE (1ull << 18)

static struct cpu_policy pol;
static struct fake_host host;

static struct cpuid_out host_cpuid(uint32_t leaf, uint32_t sub, void *ctx)
{
    assert_ptr_equal(ctx, &host);
    return fake_cpuid(leaf, sub, ctx);
}

#define LOAD(tbl) load(tbl, tbl##_len)

static void load(const struct fake_leaf *t, size_t n)
{
    host = (struct fake_host){ .t = t, .n = n };
    assert_int_equal(cpu_policy_from_host(&pol, host_cpuid, &host), 0);
    assert_true(pol.nleaves <= CPU_POLICY_MAX_LEAVES);
}

static struct cpuid_out qv(uint32_t leaf, uint32_t sub, unsigned vcpu, unsigned nvcpus,
                           uint64_t cr4, uint64_t xcr0)
{
    struct cpuid_out r;

    memset(&r, 0x5a, sizeof(r));    /* every field must be written */
    cpu_policy_cpuid(&pol, leaf, sub, vcpu, nvcpus, cr4, xcr0, &r);
    return r;
}

static struct cpuid_out q(uint32_t leaf, uint32_t sub)
{
    return qv(leaf, sub, 0, 1, 0, 3);
}

static void assert_zero(struct cpuid_out r)
{
    assert_int_equal(r.eax, 0);
    assert_int_equal(r.ebx, 0);
    assert_int_equal(r.ecx, 0);
    assert_int_equal(r.edx, 0);
}

static void assert_regs(struct cpuid_out r, uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
    assert_int_equal(r.eax, a);
    assert_int_equal(r.ebx, b);
    assert_int_equal(r.ecx, c);
    assert_int_equal(r.edx, d);
}

static int setup(void **state)
{
    (void)state;
    unit_log_reset();
    memset(&pol, 0, sizeof(pol));
    return 0;
}

static void test_vendor_and_max_leaves(void **state)
{
    struct cpuid_out r;

    (void)state;
    LOAD(intel_host);
    assert_string_equal(pol.vendor, "GenuineIntel");
    assert_string_equal(pol.name, "host");
    assert_int_equal(pol.max_basic, 0x16);
    assert_int_equal(pol.max_ext, 0x80000008);
    assert_regs(q(0, 0), 0x16, 0x756e6547, 0x6c65746e, 0x49656e69);
    assert_regs(q(0x80000002, 0), 0x65746e49, 0x2952286c, 0x726f4320, 0x4d542865);
    assert_int_equal(unit_log_count[LOG_INFO], 1);

    LOAD(amd_host);
    assert_string_equal(pol.vendor, "AuthenticAMD");
    assert_int_equal(pol.max_basic, 0x10);
    assert_int_equal(pol.max_ext, 0x80000021);      /* clamped from 0x80000028 */
    r = q(0x80000000, 0);
    assert_regs(r, 0x80000021, 0x68747541, 0x444d4163, 0x69746e65);
    assert_regs(q(0x80000021, 0), 0x62fcf, 0x15c, 0, 0);
    assert_zero(q(0x80000022, 0));                  /* beyond the cap: unknown */
}

static void test_vmx_hidden_leaf1(void **state)
{
    uint32_t hidden = BIT(3) | BIT(5) | BIT(6) | BIT(2) | BIT(15) |
                      BIT(4) | BIT(7) | BIT(8) | BIT(10) | BIT(11) | BIT(14) | BIT(18);
    uint32_t apic = BIT(21) | BIT(24);              /* x2APIC, TSC-deadline: ferry's APIC */
    /* DS; MCA, PSN, ACPI, TM, PBE: MSRs ferry does not virtualize; HTT is per VM */
    uint32_t hidden_edx = BIT(21) | BIT(14) | BIT(18) | BIT(22) | BIT(29) | BIT(31) | BIT(28);
    struct cpuid_out r;

    (void)state;
    LOAD(intel_host);
    r = q(1, 0);
    assert_int_equal(r.eax, 0x000906ea);
    assert_int_equal(r.ecx & hidden, 0);
    assert_true(r.ecx & BIT(31));                   /* hypervisor */
    assert_int_equal(r.ecx & apic, apic);
    assert_int_equal(r.ecx & ~(hidden | apic | BIT(27) | BIT(31)),
                     0x7ffafbff & ~(hidden | apic | BIT(27) | BIT(31)));   /* the rest kept */
    assert_true(r.ecx & BIT(26));                   /* XSAVE kept */
    assert_true(r.ecx & (BIT(12) | BIT(13) | BIT(19) | BIT(20) | BIT(23) | BIT(28)));
    assert_int_equal(r.edx & hidden_edx, 0);
    assert_int_equal(r.edx, 0xbfebfbff & ~hidden_edx);
    assert_true(r.edx & BIT(7));                    /* MCE (the exception) stays */
}

static void test_svm_hidden(void **state)
{
    struct cpuid_out r;

    (void)state;
    LOAD(amd_host);
    r = q(0x80000001, 0);
    assert_int_equal(r.ecx & BIT(2), 0);            /* SVM */
    assert_int_equal(r.ecx & (BIT(23) | BIT(24) | BIT(28)), 0);   /* PMU extensions */
    assert_true(r.ecx & BIT(0));                    /* LAHF/SAHF kept */
    assert_true(r.ecx & BIT(22));                   /* TOPOEXT kept */
    /* MSR-backed: extended APIC, OSVW, IBS, SKINIT, WDT, LWP, node ID, BPEXT, PTSC, MWAITX */
    assert_int_equal(r.ecx & (BIT(3) | BIT(9) | BIT(10) | BIT(12) | BIT(13) | BIT(15) |
                              BIT(19) | BIT(26) | BIT(27) | BIT(29)), 0);
    assert_int_equal(r.ecx & (BIT(5) | BIT(6) | BIT(7) | BIT(8)), BIT(5) | BIT(6) | BIT(7) |
                     BIT(8));                       /* LZCNT SSE4A MISALIGNSSE PREFETCHW */
    assert_int_equal(r.edx, 0x2fd3fbff & ~BIT(14)); /* AMD's copy of MCA goes with leaf 1's */
    r = q(0x80000008, 0);
    assert_int_equal(r.ebx, 0x791ef257u & ~(BIT(1) | BIT(12) | BIT(14) | BIT(15) | BIT(17) |
                                            BIT(23) | BIT(24) | BIT(25)));
    assert_true(r.ebx & BIT(2) && r.ebx & BIT(9));  /* XSAVEERPTR, WBNOINVD: kept */
    assert_zero(q(0x8000000a, 0));
    assert_zero(q(0x80000020, 0));
    r = q(1, 0);
    assert_int_equal(r.ecx & BIT(3), 0);
    assert_int_equal(r.ecx & (BIT(21) | BIT(24)), BIT(21) | BIT(24));   /* ferry's APIC */
    assert_true(r.ecx & BIT(31));
}

static void test_leaf7_and_dependent_leaves(void **state)
{
    struct cpuid_out r;

    (void)state;
    LOAD(intel_host);
    r = q(7, 0);
    assert_int_equal(r.ebx & (BIT(2) | BIT(12) | BIT(15) | BIT(25)), 0);  /* SGX RDT PT */
    assert_true(r.ebx & BIT(5));                    /* AVX2 kept */
    assert_int_equal(r.ecx, BIT(2));                /* UMIP kept; WAITPKG, SGX_LC gone */
    assert_int_equal(r.edx & (BIT(15) | BIT(18)), 0);   /* hybrid, PCONFIG */
    /* Of SPEC_CTRL (26), STIBP (27), L1D_FLUSH (28), ARCH_CAPABILITIES (29) and SSBD (31)
     * only ARCH_CAPABILITIES stays: ferry emulates it; MD_CLEAR (10) is VERW's behaviour. */
    assert_int_equal(r.edx, BIT(10) | BIT(29));
    assert_zero(q(7, 1));                           /* not stored */
    assert_zero(q(0x12, 0));
    assert_zero(q(0x14, 0));
    assert_zero(q(0x14, 1));
    assert_regs(q(4, 3), 0x1c03c163, 0x02c0003f, 0x2fff, 6);
    assert_zero(q(4, 4));
    assert_zero(q(4, 5));                           /* enumeration stops at the null entry */
    assert_zero(q(4, 7));

    LOAD(amd_host);
    assert_int_equal(q(7, 0).ebx & (BIT(12) | BIT(15)), 0);
    assert_zero(q(0xf, 0));
    assert_zero(q(0xf, 1));
    assert_zero(q(0x10, 1));
    assert_regs(q(0x8000001d, 3), 0x3c163, 0x03c0003f, 0x7fff, 1);
    assert_zero(q(0x8000001d, 4));
}

static void test_pmu_and_power_zeroed(void **state)
{
    (void)state;
    LOAD(intel_host);
    assert_zero(q(0xa, 0));
    assert_regs(q(6, 0), BIT(2), 0, 0, 0);          /* ARAT only */
    LOAD(amd_host);
    assert_regs(q(6, 0), BIT(2), 0, 0, 0);
}

static void test_hypervisor_leaves(void **state)
{
    struct cpuid_out r;
    char sig[13] = { 0 };

    (void)state;
    LOAD(intel_host);                               /* its 0x40000000 says KVM */
    r = q(0x40000000, 0);
    assert_int_equal(r.eax, 0x40000001);
    memcpy(sig, &r.ebx, 4);
    memcpy(sig + 4, &r.ecx, 4);
    memcpy(sig + 8, &r.edx, 4);
    assert_string_equal(sig, "FerryFerryFe");
    assert_int_equal(r.ebx, 0x72726546);
    assert_regs(q(0x40000001, 0), CPU_POLICY_VERSION, 0, 0, 0);
    assert_int_equal(CPU_POLICY_VERSION, 1);
    assert_zero(q(0x40000002, 0));
    assert_zero(q(0x400000ff, 0));
    assert_zero(q(0x40000100, 0));
    assert_zero(q(0x7fffffff, 0));
}

static void test_apic_id_and_topology(void **state)
{
    struct cpuid_out r;

    (void)state;
    LOAD(intel_host);
    for (unsigned v = 0; v < 4; v++) {
        r = qv(1, 0, v, 4, 0, 3);
        assert_int_equal(r.ebx >> 24, v);
        assert_int_equal(r.ebx >> 16 & 0xff, 4);
        assert_int_equal(r.ebx & 0xffff, 0x0800);   /* CLFLUSH size kept */
        assert_true(r.edx & BIT(28));               /* HTT */
        for (uint32_t sub = 0; sub < 3; sub++)
            assert_int_equal(qv(0xb, sub, v, 4, 0, 3).edx, v);
    }
    assert_regs(qv(0xb, 0, 3, 4, 0, 3), 0, 1, 0x100, 3);        /* SMT: 1 thread */
    assert_regs(qv(0xb, 1, 3, 4, 0, 3), 2, 4, 0x201, 3);        /* core: 4 vCPUs */
    assert_regs(qv(0xb, 2, 3, 4, 0, 3), 0, 0, 2, 3);            /* invalid: end */
    assert_regs(qv(0xb, 1, 2, 3, 0, 3), 2, 3, 0x201, 2);
    assert_int_equal(q(0x1f, 0).eax, 0xe10);        /* above max: leaf 0x16 */
    r = qv(1, 0, 0, 1, 0, 3);
    assert_int_equal(r.ebx >> 16, 0x0001);
    assert_int_equal(r.edx & BIT(28), 0);

    LOAD(amd_host);
    for (unsigned v = 0; v < 3; v++) {
        assert_regs(qv(0x8000001e, 0, v, 3, 0, 3), v, v, 0, 0);
        assert_int_equal(qv(1, 0, v, 3, 0, 3).ebx >> 24, v);
    }
}

static void test_osxsave_follows_cr4(void **state)
{
    (void)state;
    LOAD(intel_host);
    assert_int_equal(qv(1, 0, 0, 1, 0, 3).ecx & BIT(27), 0);
    assert_true(qv(1, 0, 0, 1, CR4_OSXSAVE, 3).ecx & BIT(27));
    assert_int_equal(qv(1, 0, 0, 1, ~CR4_OSXSAVE, 3).ecx & BIT(27), 0);
    LOAD(amd_host);                                 /* the host had it set */
    assert_int_equal(q(1, 0).ecx & BIT(27), 0);
    assert_true(qv(1, 0, 0, 1, CR4_OSXSAVE, 3).ecx & BIT(27));
    LOAD(tiny_host);                                /* no XSAVE: never OSXSAVE */
    assert_int_equal(qv(1, 0, 0, 1, CR4_OSXSAVE, 3).ecx & BIT(27), 0);
}

static void test_ospke_follows_cr4(void **state)
{
    const uint64_t cr4_pke = 1ull << 22;

    (void)state;
    LOAD(intel_avx512_host);                        /* the host had OSPKE set */
    assert_int_equal(q(7, 0).ecx & (BIT(3) | BIT(4)), BIT(3));
    assert_int_equal(qv(7, 0, 0, 1, cr4_pke, 3).ecx & (BIT(3) | BIT(4)), BIT(3) | BIT(4));
    assert_int_equal(qv(7, 0, 0, 1, ~cr4_pke, 3).ecx & BIT(4), 0);
    LOAD(intel_host);                               /* no PKU: never OSPKE */
    assert_int_equal(qv(7, 0, 0, 1, cr4_pke, 3).ecx & (BIT(3) | BIT(4)), 0);
}

static void test_xsave_size_follows_xcr0(void **state)
{
    struct cpuid_out r;

    (void)state;
    LOAD(intel_host);
    assert_int_equal(pol.xcr0_mask, 0x23f);
    r = qv(0xd, 0, 0, 1, CR4_OSXSAVE, 3);
    assert_regs(r, 0x23f, 576, 2696, 0);            /* ECX: all supported, to PKRU's end */
    r = qv(0xd, 0, 0, 1, CR4_OSXSAVE, 7);
    assert_regs(r, 0x23f, 832, 2696, 0);
    r = qv(0xd, 0, 0, 1, CR4_OSXSAVE, 0x1f);
    assert_int_equal(r.ebx, 1040);                  /* BNDCSR ends at 1024 + 16 */
    r = qv(0xd, 0, 0, 1, CR4_OSXSAVE, 3 | (1ull << 6) | (1ull << 40));  /* unsupported */
    assert_int_equal(r.ebx, 576);
    r = qv(0xd, 1, 0, 1, CR4_OSXSAVE, 7);
    assert_regs(r, 0xf, 832, 0, 0);                 /* compacted; no IA32_XSS states */
    assert_int_equal(qv(0xd, 1, 0, 1, CR4_OSXSAVE, 3).ebx, 576);
    /* Compacted: 576 + 256 + 64 + 16 = 912, PKRU aligned up to 960, + 8. */
    assert_int_equal(qv(0xd, 1, 0, 1, CR4_OSXSAVE, 0x21f).ebx, 968);
    assert_int_equal(qv(0xd, 1, 0, 1, CR4_OSXSAVE, 0x207).ebx, 840);
    assert_int_equal(qv(0xd, 1, 0, 1, CR4_OSXSAVE, 0x3f).ebx, 976);    /* 912 + 64, packed */
    assert_int_equal(qv(0xd, 0, 0, 1, CR4_OSXSAVE, 0x3f).ebx, 1152);
    assert_regs(q(0xd, 2), 256, 576, 0, 0);
    assert_regs(q(0xd, 9), 8, 2688, 2, 0);
    assert_zero(q(0xd, 8));                         /* PT state hidden with IA32_XSS */
    assert_zero(q(0xd, 6));

    LOAD(amd_host);
    assert_int_equal(pol.xcr0_mask, 7);
    assert_int_equal(qv(0xd, 0, 0, 1, 0, 7).ebx, 832);
    assert_zero(q(0xd, 11));                        /* CET states hidden */
    assert_zero(q(0xd, 12));
    assert_int_equal(q(0xd, 1).ecx, 0);
}

static void test_leaves_above_max(void **state)
{
    (void)state;
    LOAD(intel_host);
    assert_regs(q(0x17, 0), 0xe10, 0x1194, 0x64, 0);    /* leaf 0x16 */
    assert_regs(q(0x3fffffff, 5), 0xe10, 0x1194, 0x64, 0);
    assert_zero(q(0x80000009, 0));                  /* unknown extended: zeros */
    assert_zero(q(0x8000001e, 0));                  /* Intel: none */
    assert_zero(q(0x80000003, 0));                  /* in range, host reported zeros */
    assert_regs(q(0x80000008, 0), 0x3027, 0, 0, 0);
    assert_regs(q(0x80000007, 0), 0, 0, 0, 0);      /* no invariant TSC: it migrates */
}

static void test_wide_host_capped(void **state)
{
    (void)state;
    LOAD(wide_host);
    assert_int_equal(pol.max_basic, 0x1f);
    assert_int_equal(q(0, 0).eax, 0x1f);
    assert_int_equal(pol.max_ext, 0x80000021);
    assert_regs(q(0x80000000, 0), 0x80000021, 0, 0, 0);
    assert_zero(qv(0x8000001e, 0, 1, 4, 0, 3));     /* no topology made up */
    /* Leaf 0x40 is not in the policy: leaves above 0x1f get leaf 0x1f, per vCPU. */
    assert_regs(qv(0x40, 1, 2, 4, 0, 3), 2, 4, 0x201, 2);
    assert_regs(qv(0x7f, 0, 1, 4, 0, 3), 0, 1, 0x100, 1);
    assert_zero(qv(0xb, 0, 1, 4, 0, 3));            /* the host has no leaf 0xb: none made up */
    assert_true(host.calls < 400);
}

/* Only what the guest can see is stored: nothing hidden, nothing all-zero. */
static void check_table_exposed_only(void)
{
    for (unsigned i = 0; i < pol.nleaves; i++) {
        const struct cpuid_leaf *e = &pol.leaves[i];
        bool dyn = e->leaf == 0xb || e->leaf == 0x1f || e->leaf == 0x8000001e;
        bool zero = !(e->regs.eax | e->regs.ebx | e->regs.ecx | e->regs.edx);

        assert_true(dyn || !zero);
        assert_true(e->leaf != 0xa && e->leaf != 0x12 && e->leaf != 0x14 && e->leaf != 0xf &&
                    e->leaf != 0x10 && e->leaf != 0x8000000a && e->leaf != 0x80000020);
        for (unsigned j = 0; j < i; j++)
            assert_false(pol.leaves[j].leaf == e->leaf && pol.leaves[j].subleaf == e->subleaf);
    }
}

static void test_table_holds_exposed_leaves_only(void **state)
{
    (void)state;
    LOAD(intel_host);
    check_table_exposed_only();
    assert_true(pol.nleaves <= 32);
    LOAD(amd_host);
    check_table_exposed_only();
    assert_true(pol.nleaves <= 32);
}

static void test_noisy_host_overflows_cleanly(void **state)
{
    (void)state;
    host = (struct fake_host){ .noisy = true };
    memset(&pol, 0xee, sizeof(pol));
    assert_int_equal(cpu_policy_from_host(&pol, host_cpuid, &host), -ENOSPC);
    assert_int_equal(pol.nleaves, CPU_POLICY_MAX_LEAVES);
    assert_int_equal(pol.max_basic, 0x1f);          /* fields after the table intact */
    assert_int_equal(pol.max_ext, 0x80000021);
    assert_int_equal(pol.vendor[12], 0);
    assert_int_equal(unit_log_count[LOG_ERR], 1);
    assert_true(host.calls < 1000);
}

static void test_tiny_host(void **state)
{
    (void)state;
    LOAD(tiny_host);
    assert_int_equal(pol.max_basic, 1);
    assert_int_equal(pol.max_ext, 0);
    assert_int_equal(pol.xcr0_mask, 0);
    assert_zero(q(0x80000000, 0));
    assert_zero(q(0x80000001, 0));
    assert_int_equal(q(0xd, 0).eax, 0x00000663);    /* leaf 1, per SDM */
    assert_int_equal(q(0xb, 0).eax, 0x00000663);
    assert_int_equal(q(1, 0).ecx, 0x81200001);    /* + hypervisor, x2APIC, TSC-deadline */
    assert_int_equal(q(0x40000000, 0).eax, 0x40000001);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_vendor_and_max_leaves, setup),
        cmocka_unit_test_setup(test_vmx_hidden_leaf1, setup),
        cmocka_unit_test_setup(test_svm_hidden, setup),
        cmocka_unit_test_setup(test_leaf7_and_dependent_leaves, setup),
        cmocka_unit_test_setup(test_pmu_and_power_zeroed, setup),
        cmocka_unit_test_setup(test_hypervisor_leaves, setup),
        cmocka_unit_test_setup(test_apic_id_and_topology, setup),
        cmocka_unit_test_setup(test_osxsave_follows_cr4, setup),
        cmocka_unit_test_setup(test_ospke_follows_cr4, setup),
        cmocka_unit_test_setup(test_xsave_size_follows_xcr0, setup),
        cmocka_unit_test_setup(test_leaves_above_max, setup),
        cmocka_unit_test_setup(test_wide_host_capped, setup),
        cmocka_unit_test_setup(test_table_holds_exposed_leaves_only, setup),
        cmocka_unit_test_setup(test_noisy_host_overflows_cleanly, setup),
        cmocka_unit_test_setup(test_tiny_host, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
