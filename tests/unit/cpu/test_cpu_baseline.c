/*
 * Host tests for hv/cpu/cpu_baseline.c: the psABI level tables, placement (which
 * host can run which baseline, and what it lacks), and baselines applied to
 * policies built from fake CPUs (an Intel Xeon with AVX-512, a Zen 3 without,
 * a Core without): only the baseline's features are visible through
 * cpu_policy_cpuid, XCR0 and the XSAVE leaf agree, the same baseline looks
 * the same on different hosts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "hv/cpu/cpu_baseline.h"
#include "fake_cpuid.h"
#include "support.h"

#define BIT(n) (1u << (n))
#define CR4_OSXSAVE (1ull << 18)

static struct cpu_policy pol;

static void load_policy(struct cpu_policy *p, const struct fake_leaf *t, size_t n)
{
    struct fake_host h = { .t = t, .n = n };

    assert_int_equal(cpu_policy_from_host(p, fake_cpuid, &h), 0);
}

#define LOAD(p, tbl) load_policy(p, tbl, tbl##_len)

static struct cpu_featset set_of(const char *list)
{
    struct cpu_featset s;
    char bad[32];

    assert_int_equal(cpu_featset_parse(list, &s, bad, sizeof(bad)), 0);
    return s;
}

static struct cpu_featset baseline(const char *name)
{
    struct cpu_featset s;

    assert_int_equal(cpu_baseline_features(name, &s), 0);
    return s;
}

/* a \ b as a list */
static const char *diff(const struct cpu_featset *a, const struct cpu_featset *b)
{
    static char buf[512];

    cpu_featset_missing(a, b, buf, sizeof(buf));
    return buf;
}

static struct cpuid_out q(const struct cpu_policy *p, uint32_t leaf, uint32_t sub, uint64_t cr4,
                          uint64_t xcr0)
{
    struct cpuid_out r;

    memset(&r, 0x5a, sizeof(r));
    cpu_policy_cpuid(p, leaf, sub, 0, 2, cr4, xcr0, &r);
    return r;
}

/*
 * What the guest sees in every feature register holds only the baseline's
 * features, ferry's dynamic bits, and (0x80000001 EDX on AMD) the mirror of
 * what leaf 1 EDX shows.
 */
static void assert_only(const struct cpu_policy *p, const struct cpu_featset *s)
{
    static const struct { uint32_t leaf, sub; } regs[] = {
        { 1, 0 }, { 7, 0 }, { 7, 1 }, { 7, 2 }, { 0xd, 1 }, { 0x80000001, 0 },
        { 0x80000007, 0 }, { 0x80000008, 0 },
    };
    struct cpuid_out l1 = q(p, 1, 0, CR4_OSXSAVE, 7);

    for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
        struct cpuid_out r = q(p, regs[i].leaf, regs[i].sub, CR4_OSXSAVE, 7);
        uint32_t v[4] = { r.eax, r.ebx, r.ecx, r.edx }, allowed[4] = { 0, 0, 0, 0 };
        bool sub0 = regs[i].sub == 0;

        for (unsigned f = 0; f < CPU_FEAT_COUNT; f++) {
            const struct cpu_feat_info *fi = &cpu_feat_table[f];

            if (fi->leaf == regs[i].leaf && fi->subleaf == regs[i].sub &&
                (cpu_featset_has(s, f) || (fi->flags & CPU_FEAT_DYNAMIC)))
                allowed[fi->reg] |= BIT(fi->bit);
        }
        /* Registers that are not made of feature bits. */
        if (regs[i].leaf == 1 || regs[i].leaf == 0x80000001)
            allowed[0] = allowed[1] = ~0u;          /* signature, APIC ID, CLFLUSH size */
        if (regs[i].leaf == 7 && sub0)
            allowed[0] = ~0u;                       /* the highest subleaf */
        if (regs[i].leaf == 0xd)
            allowed[1] = allowed[2] = allowed[3] = ~0u;     /* XSS-related sizes */
        if (regs[i].leaf == 0x80000008)
            allowed[0] = allowed[2] = allowed[3] = ~0u;     /* address sizes, core count */
        if (regs[i].leaf == 0x80000001)
            allowed[3] |= l1.edx & 0x0183f3ffu;     /* AMD's mirror of leaf 1 EDX */
        for (unsigned r4 = 0; r4 < 4; r4++)
            if (v[r4] & ~allowed[r4])
                fail_msg("leaf 0x%x.%u reg %u: 0x%x outside the baseline", regs[i].leaf,
                         regs[i].sub, r4, v[r4] & ~allowed[r4]);
    }
}

static int setup(void **state)
{
    (void)state;
    unit_log_reset();
    cpu_baseline_clear_cluster();
    memset(&pol, 0, sizeof(pol));
    return 0;
}

static void test_level_tables(void **state)
{
    struct cpu_featset v1 = baseline("x86-64-v1"), v2 = baseline("x86-64-v2");
    struct cpu_featset v3 = baseline("x86-64-v3"), v4 = baseline("x86-64-v4");
    struct cpu_featset s;

    (void)state;
    assert_int_equal(cpu_baseline_count(), 6);
    assert_string_equal(cpu_baseline_name(0), "host");
    assert_string_equal(cpu_baseline_name(4), "x86-64-v4");
    assert_string_equal(cpu_baseline_name(5), "cluster");
    assert_null(cpu_baseline_name(6));
    /* psABI: each level adds exactly these. */
    assert_string_equal(diff(&v2, &v1), "sse3,ssse3,cx16,sse4_1,sse4_2,popcnt,lahf_lm");
    assert_string_equal(diff(&v3, &v2), "fma,movbe,xsave,avx,f16c,bmi1,avx2,bmi2,lzcnt");
    assert_string_equal(diff(&v4, &v3), "avx512f,avx512dq,avx512cd,avx512bw,avx512vl");
    assert_string_equal(diff(&v1, &v4), "");
    /* The baseline level itself, and the platform features a 64-bit kernel needs. */
    s = set_of("cmov,cx8,fpu,fxsr,mmx,syscall,sse,sse2,lm,nx,tsc,msr,pae,pge,pat,apic,sep,"
               "x2apic");
    assert_string_equal(diff(&s, &v1), "");
    assert_false(cpu_featset_has(&v1, CPU_FEAT_MCA));
    assert_false(cpu_featset_has(&v4, CPU_FEAT_INVTSC));
    assert_int_equal(cpu_featset_count(&v1), 24);
    assert_false(cpu_featset_has(&v1, CPU_FEAT_TSC_DEADLINE));  /* TSC rates differ */
    assert_false(cpu_featset_has(&v1, CPU_FEAT_VME));

    assert_int_equal(cpu_baseline_xcr0(&v1), 3);
    assert_int_equal(cpu_baseline_xcr0(&v2), 3);
    assert_int_equal(cpu_baseline_xcr0(&v3), 7);
    assert_int_equal(cpu_baseline_xcr0(&v4), 0xe7);

    assert_int_equal(cpu_baseline_features("host", &s), -ENOENT);
    assert_int_equal(cpu_baseline_features("x86-64-v5", &s), -ENOENT);
    assert_int_equal(cpu_baseline_features("cluster", &s), -ENODATA);
}

/* Placement: which host can run which baseline, and what it lacks. */
static void test_placement(void **state)
{
    struct cpu_policy amd, core, tiny;
    char miss[128];

    (void)state;
    LOAD(&pol, intel_avx512_host);
    LOAD(&amd, amd_host);
    LOAD(&core, intel_host);
    LOAD(&tiny, tiny_host);
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(cpu_baseline_check(&pol, cpu_baseline_name(i), miss, sizeof(miss)), 0);
        assert_string_equal(miss, "");
    }
    assert_int_equal(cpu_baseline_check(&amd, "x86-64-v3", miss, sizeof(miss)), 0);
    assert_int_equal(cpu_baseline_check(&amd, "x86-64-v4", miss, sizeof(miss)), -ENOTSUP);
    assert_string_equal(miss, "avx512f,avx512dq,avx512cd,avx512bw,avx512vl");
    assert_int_equal(cpu_baseline_check(&core, "x86-64-v3", miss, sizeof(miss)), 0);
    assert_int_equal(cpu_baseline_check(&core, "x86-64-v4", miss, sizeof(miss)), -ENOTSUP);
    /* A Pentium Pro's leaf 1 and no extended leaves: no 64-bit mode. */
    assert_int_equal(cpu_baseline_check(&tiny, "x86-64-v1", miss, sizeof(miss)), -ENOTSUP);
    assert_string_equal(miss, "mtrr,pse36,clflush,syscall,nx,lm");
    assert_int_equal(cpu_baseline_check(&tiny, "x86-64-v3", miss, sizeof(miss)), -ENOTSUP);
    assert_non_null(strstr(miss, "sse4_2"));
    assert_non_null(strstr(miss, "avx2"));
    assert_int_equal(cpu_baseline_check(&tiny, "host", miss, sizeof(miss)), 0);
    assert_int_equal(cpu_baseline_check(&tiny, "cluster", miss, sizeof(miss)), -ENODATA);
    assert_int_equal(cpu_baseline_check(&tiny, "v3", miss, sizeof(miss)), -ENOENT);
    /* A short buffer still says what is missing, cut at a name. */
    assert_int_equal(cpu_baseline_check(&amd, "x86-64-v4", miss, 24), -ENOTSUP);
    assert_string_equal(miss, "avx512f,avx512dq,...");
}

static void test_v2_on_avx512_intel(void **state)
{
    struct cpu_featset v2 = baseline("x86-64-v2"), got;
    struct cpu_policy host;
    struct cpuid_out r;
    char miss[64], brand[49] = { 0 };

    (void)state;
    LOAD(&pol, intel_avx512_host);
    host = pol;
    assert_int_equal(cpu_policy_apply_baseline(&pol, "x86-64-v2", miss, sizeof(miss)), 0);
    assert_string_equal(pol.name, "x86-64-v2");
    assert_string_equal(pol.vendor, "GenuineIntel");
    cpu_policy_features(&pol, &got);
    assert_true(cpu_featset_equal(&got, &v2));
    assert_only(&pol, &v2);

    r = q(&pol, 1, 0, CR4_OSXSAVE, 3);
    assert_int_equal(r.eax, 0x000f0620);            /* family 6 model 0xf2 stepping 0 */
    assert_int_equal(r.ecx, BIT(0) | BIT(9) | BIT(13) | BIT(19) | BIT(20) | BIT(21) | BIT(23) |
                            BIT(31));               /* x2APIC: ferry's APIC */
    assert_int_equal(r.ecx & BIT(27), 0);           /* no XSAVE, so never OSXSAVE */
    assert_int_equal(r.ebx & 0xffff, 0x0800);       /* CLFLUSH line size kept */
    assert_int_equal(r.ebx >> 24, 0);               /* per-vCPU APIC ID still filled */
    assert_int_equal(q(&pol, 1, 0, 0, 3).ebx >> 16 & 0xff, 2);
    assert_int_equal(r.edx & BIT(28), BIT(28));     /* HTT: 2 vCPUs */
    assert_int_equal(r.edx & BIT(14), 0);           /* MCA */
    r = q(&pol, 7, 0, 0, 3);
    assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
    r = q(&pol, 0xd, 0, CR4_OSXSAVE, 3);
    assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
    assert_int_equal(pol.xcr0_mask, 3);
    r = q(&pol, 0x80000001, 0, 0, 3);
    assert_int_equal(r.ecx, BIT(0));                /* LAHF/SAHF */
    assert_int_equal(r.edx, BIT(11) | BIT(20) | BIT(29));   /* SYSCALL NX LM; no 1G, RDTSCP */
    assert_int_equal(q(&pol, 0x80000007, 0, 0, 3).edx, 0); /* invariant TSC: not in v2 */
    assert_int_equal(q(&pol, 0x80000000, 0, 0, 3).eax, 0x80000008);
    r = q(&pol, 0x80000002, 0, 0, 3);
    memcpy(brand, &r, 16);
    r = q(&pol, 0x80000003, 0, 0, 3);
    memcpy(brand + 16, &r, 16);
    assert_string_equal(brand, "ferry x86-64-v2 CPU");
    /* Cache and topology leaves are the host's. */
    assert_memory_equal(cpu_policy_find(&pol, 4, 3), cpu_policy_find(&host, 4, 3),
                        sizeof(struct cpuid_leaf));
    assert_int_equal(q(&pol, 0xb, 1, 0, 3).ebx, 2);
    assert_int_equal(q(&pol, 0x16, 0, 0, 3).eax, 0x834);
    assert_int_equal(q(&pol, 0, 0, 0, 3).eax, 0x16);
    assert_null(cpu_policy_find(&pol, 5, 0));       /* MONITOR leaf: no MONITOR */
    assert_int_equal(pol.max_basic, 0x16);
}

static void test_family_model_stepping(void **state)
{
    struct cpu_policy_fms f;
    char miss[64];

    (void)state;
    LOAD(&pol, intel_avx512_host);
    f = cpu_policy_fms(&pol);
    assert_true(f.family == 6 && f.model == 0x55 && f.stepping == 4);
    assert_int_equal(cpu_policy_apply_baseline(&pol, "x86-64-v2", miss, sizeof(miss)), 0);
    f = cpu_policy_fms(&pol);
    assert_true(f.family == 6 && f.model == 0xf2 && f.stepping == 0);
    LOAD(&pol, amd_host);
    f = cpu_policy_fms(&pol);
    assert_true(f.family == 0x19 && f.model == 0x21 && f.stepping == 2);
    assert_int_equal(cpu_policy_apply_baseline(&pol, "x86-64-v3", miss, sizeof(miss)), 0);
    f = cpu_policy_fms(&pol);
    assert_true(f.family == 0x1f && f.model == 0xf3 && f.stepping == 0);
    LOAD(&pol, tiny_host);                          /* Pentium Pro: no extended fields */
    f = cpu_policy_fms(&pol);
    assert_true(f.family == 6 && f.model == 6 && f.stepping == 3);
}

static void test_v4_on_avx512_intel_xsave(void **state)
{
    struct cpu_featset v4 = baseline("x86-64-v4");
    struct cpuid_out r;
    char miss[64];

    (void)state;
    LOAD(&pol, intel_avx512_host);
    assert_int_equal(pol.xcr0_mask, 0x2ff);
    assert_int_equal(cpu_policy_apply_baseline(&pol, "x86-64-v4", miss, sizeof(miss)), 0);
    assert_only(&pol, &v4);
    assert_int_equal(q(&pol, 1, 0, 0, 3).eax, 0x000f0640);
    assert_true(q(&pol, 1, 0, CR4_OSXSAVE, 3).ecx & BIT(27));  /* OSXSAVE with CR4 */
    assert_int_equal(q(&pol, 1, 0, 0, 3).ecx & BIT(27), 0);
    assert_int_equal(pol.xcr0_mask, 0xe7);          /* no MPX, no PKRU */
    /* XSAVE leaf: components 2, 5, 6, 7 only; sizes from them. */
    r = q(&pol, 0xd, 0, CR4_OSXSAVE, 7);
    assert_int_equal(r.eax, 0xe7);
    assert_int_equal(r.edx, 0);
    assert_int_equal(r.ebx, 832);                   /* XCR0 = 7: AVX ends at 576 + 256 */
    assert_int_equal(r.ecx, 2688);                  /* all allowed: Hi16_ZMM ends at 1664 + 1024 */
    assert_int_equal(q(&pol, 0xd, 0, CR4_OSXSAVE, 0xe7).ebx, 2688);
    assert_int_equal(q(&pol, 0xd, 0, CR4_OSXSAVE, 0x2ff).ebx, 2688);   /* not allowed: ignored */
    assert_int_equal(q(&pol, 0xd, 0, CR4_OSXSAVE, 0x1f).ebx, 832);
    assert_int_equal(q(&pol, 0xd, 6, 0, 7).eax, 512);
    assert_int_equal(q(&pol, 0xd, 3, 0, 7).eax, 0);  /* MPX */
    assert_int_equal(q(&pol, 0xd, 9, 0, 7).eax, 0);  /* PKRU */
    r = q(&pol, 0xd, 1, 0, 7);                       /* XSAVEOPT/C/S: not in v4 */
    assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
    r = q(&pol, 7, 0, 0, 3);
    assert_int_equal(r.ebx, BIT(3) | BIT(5) | BIT(8) | BIT(16) | BIT(17) | BIT(28) | BIT(30) |
                     BIT(31));
    assert_int_equal(r.ecx, 0);                     /* PKU, OSPKE gone */
    assert_int_equal(r.edx, 0);
}

static void test_v3_on_amd(void **state)
{
    struct cpu_featset v3 = baseline("x86-64-v3");
    struct cpuid_out r;
    char miss[64];

    (void)state;
    LOAD(&pol, amd_host);
    assert_int_equal(cpu_policy_apply_baseline(&pol, "x86-64-v3", miss, sizeof(miss)), 0);
    assert_only(&pol, &v3);
    assert_string_equal(pol.vendor, "AuthenticAMD");
    r = q(&pol, 1, 0, 0, 3);
    assert_int_equal(r.eax, 0x010f0f30);            /* family 0x1f model 0xf3 */
    r = q(&pol, 0x80000001, 0, 0, 3);
    assert_int_equal(r.eax, 0x010f0f30);
    assert_int_equal(r.ebx, 0);
    assert_int_equal(r.ecx, BIT(0) | BIT(5));       /* LAHF, LZCNT; no SSE4A, TOPOEXT, ... */
    /* Mirrored leaf 1 bits follow leaf 1; MCA (14) is hidden in both. */
    assert_int_equal(r.edx & 0x0183f3ffu, q(&pol, 1, 0, 0, 3).edx & 0x0183f3ffu);
    assert_int_equal(r.edx & ~0x0183f3ffu, BIT(11) | BIT(20) | BIT(29));
    assert_int_equal(r.edx & BIT(14), 0);
    assert_int_equal(pol.max_ext, 0x80000008);
    assert_int_equal(q(&pol, 0x80000000, 0, 0, 3).eax, 0x80000008);
    assert_int_equal(q(&pol, 0x8000001d, 0, 0, 3).eax, 0);  /* no TOPOEXT: no AMD topology */
    assert_int_equal(q(&pol, 0x80000021, 0, 0, 3).eax, 0);
    assert_int_equal(q(&pol, 0x80000008, 0, 0, 3).eax, 0x3027);  /* 48 physical bits cut to 39 */
    assert_int_equal(q(&pol, 0x80000008, 0, 0, 3).ebx, 0);
    assert_int_equal(pol.xcr0_mask, 7);
    assert_int_equal(q(&pol, 0xd, 0, CR4_OSXSAVE, 7).ebx, 832);
    assert_int_equal(q(&pol, 7, 0, 0, 3).ebx, BIT(3) | BIT(5) | BIT(8));
}

/* One baseline, two different hosts: the guest cannot tell them apart by features. */
static void test_same_baseline_same_view(void **state)
{
    static const uint32_t leaves[][2] = { { 1, 0 }, { 7, 0 }, { 7, 1 }, { 0xd, 0 }, { 0xd, 1 },
                                          { 0xd, 2 }, { 0x80000007, 0 } };
    struct cpu_policy amd;
    char miss[64];

    (void)state;
    for (unsigned b = 1; b <= 3; b++) {
        const char *name = cpu_baseline_name(b);
        struct cpu_featset fa, fb;

        LOAD(&pol, intel_avx512_host);
        LOAD(&amd, amd_host);
        assert_int_equal(cpu_policy_apply_baseline(&pol, name, miss, sizeof(miss)), 0);
        assert_int_equal(cpu_policy_apply_baseline(&amd, name, miss, sizeof(miss)), 0);
        cpu_policy_features(&pol, &fa);
        cpu_policy_features(&amd, &fb);
        assert_true(cpu_featset_equal(&fa, &fb));
        assert_int_equal(pol.xcr0_mask, amd.xcr0_mask);
        for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
            struct cpuid_out x = q(&pol, leaves[i][0], leaves[i][1], CR4_OSXSAVE, 7);
            struct cpuid_out y = q(&amd, leaves[i][0], leaves[i][1], CR4_OSXSAVE, 7);

            if (leaves[i][0] == 1) {
                x.eax = y.eax = 0;                  /* the vendor's own family numbering */
                x.ebx = y.ebx = 0;
            }
            if (memcmp(&x, &y, sizeof(x)))
                fail_msg("%s leaf 0x%x.%u: %x %x %x %x vs %x %x %x %x", name, leaves[i][0],
                         leaves[i][1], x.eax, x.ebx, x.ecx, x.edx, y.eax, y.ebx, y.ecx, y.edx);
        }
    }
}

static void test_refusals_leave_policy_unchanged(void **state)
{
    struct cpu_policy before;
    char miss[64];

    (void)state;
    LOAD(&pol, amd_host);
    before = pol;
    assert_int_equal(cpu_policy_apply_baseline(&pol, "x86-64-v4", miss, sizeof(miss)), -ENOTSUP);
    assert_string_equal(miss, "avx512f,avx512dq,avx512cd,avx512bw,avx512vl");
    assert_memory_equal(&pol, &before, sizeof(pol));
    assert_int_equal(cpu_policy_apply_baseline(&pol, "x86-64-v9", miss, sizeof(miss)), -ENOENT);
    assert_int_equal(cpu_policy_apply_baseline(&pol, "cluster", miss, sizeof(miss)), -ENODATA);
    assert_memory_equal(&pol, &before, sizeof(pol));
    assert_int_equal(cpu_policy_apply_baseline(&pol, "host", miss, sizeof(miss)), 0);
    assert_memory_equal(&pol, &before, sizeof(pol));
    /* Only a host policy can be cut down: a baseline cannot be re-applied. */
    assert_int_equal(cpu_policy_apply_baseline(&pol, "x86-64-v2", miss, sizeof(miss)), 0);
    before = pol;
    assert_int_equal(cpu_policy_apply_baseline(&pol, "x86-64-v1", miss, sizeof(miss)), -EINVAL);
    assert_memory_equal(&pol, &before, sizeof(pol));
}

/* The cluster baseline: the intersection of two hosts, runnable on both, the same on both. */
static void test_cluster_intersection(void **state)
{
    struct cpu_policy amd;
    struct cpu_featset a, b, both, got, v3 = baseline("x86-64-v3");
    char miss[64];

    (void)state;
    LOAD(&pol, intel_avx512_host);
    LOAD(&amd, amd_host);
    cpu_policy_features(&pol, &a);
    cpu_policy_features(&amd, &b);
    cpu_featset_and(&both, &a, &b);
    cpu_baseline_set_cluster(&both);
    assert_int_equal(cpu_baseline_check(&pol, "cluster", miss, sizeof(miss)), 0);
    assert_int_equal(cpu_baseline_check(&amd, "cluster", miss, sizeof(miss)), 0);
    assert_int_equal(cpu_policy_apply_baseline(&pol, "cluster", miss, sizeof(miss)), 0);
    assert_int_equal(cpu_policy_apply_baseline(&amd, "cluster", miss, sizeof(miss)), 0);
    cpu_policy_features(&pol, &a);
    cpu_policy_features(&amd, &b);
    assert_true(cpu_featset_equal(&a, &b));
    assert_true(cpu_featset_equal(&a, &both));
    assert_true(cpu_featset_subset(&v3, &a));       /* both run v3 */
    assert_true(cpu_featset_has(&a, CPU_FEAT_AES) && cpu_featset_has(&a, CPU_FEAT_RDSEED));
    assert_false(cpu_featset_has(&a, CPU_FEAT_AVX512F) || cpu_featset_has(&a, CPU_FEAT_SSE4A));
    assert_only(&pol, &both);
    assert_only(&amd, &both);
    assert_int_equal(q(&pol, 1, 0, 0, 3).eax, 0x000f06c0);
    assert_int_equal(pol.xcr0_mask, 7);             /* PKU on one host only */

    /* A stored set is at least x86-64-v1; dynamic features cannot be stored. */
    got = set_of("avx2");
    cpu_featset_add(&got, CPU_FEAT_OSXSAVE);
    cpu_baseline_set_cluster(&got);
    assert_int_equal(cpu_baseline_features("cluster", &got), 0);
    both = baseline("x86-64-v1");
    assert_string_equal(diff(&got, &both), "avx2");
    LOAD(&pol, intel_avx512_host);
    assert_int_equal(cpu_policy_apply_baseline(&pol, "cluster", miss, sizeof(miss)), 0);
    assert_int_equal(q(&pol, 7, 0, 0, 3).ebx, BIT(5));
    assert_int_equal(q(&pol, 1, 0, 0, 3).ecx, BIT(21) | BIT(31));
}

/* XSETBV's checks: the architecture's rules, within the policy's mask. */
static void test_xcr0_enforcement(void **state)
{
    static const uint64_t bad_always[] = { 0, 2, 5, 0x6, 0xb, 0x13, 0x27, 0x67, 0xe3, 0xe5,
                                           0x20003, 0x40003 };
    char miss[64];

    (void)state;
    LOAD(&pol, intel_avx512_host);
    for (uint64_t x = 0; x < 0x400; x++) {          /* host: every valid subset of 0x2ff */
        bool valid = (x & 1) && !(x & ~0x2ffull) && (!(x & 4) || (x & 2)) &&
                     ((x & 0x18) == 0 || (x & 0x18) == 0x18) &&
                     ((x & 0xe0) == 0 || ((x & 0xe0) == 0xe0 && (x & 6) == 6));
        assert_int_equal(cpu_policy_xcr0_ok(&pol, x), valid);
    }
    for (size_t i = 0; i < sizeof(bad_always) / sizeof(bad_always[0]); i++)
        assert_false(cpu_policy_xcr0_ok(&pol, bad_always[i]));
    assert_false(cpu_policy_xcr0_ok(&pol, 1ull << 62 | 3));
    assert_int_equal(cpu_policy_apply_baseline(&pol, "x86-64-v4", miss, sizeof(miss)), 0);
    assert_true(cpu_policy_xcr0_ok(&pol, 0xe7) && cpu_policy_xcr0_ok(&pol, 7));
    assert_false(cpu_policy_xcr0_ok(&pol, 0x1f) || cpu_policy_xcr0_ok(&pol, 0x207) ||
                 cpu_policy_xcr0_ok(&pol, 0xff));
    LOAD(&pol, intel_avx512_host);
    assert_int_equal(cpu_policy_apply_baseline(&pol, "x86-64-v3", miss, sizeof(miss)), 0);
    assert_true(cpu_policy_xcr0_ok(&pol, 7));
    assert_false(cpu_policy_xcr0_ok(&pol, 0xe7));
    LOAD(&pol, intel_avx512_host);
    assert_int_equal(cpu_policy_apply_baseline(&pol, "x86-64-v2", miss, sizeof(miss)), 0);
    assert_true(cpu_policy_xcr0_ok(&pol, 3) && cpu_policy_xcr0_ok(&pol, 1));
    assert_false(cpu_policy_xcr0_ok(&pol, 7));
    assert_false(cpu_policy_has(&pol, CPU_FEAT_XSAVE));     /* XSETBV is #UD here anyway */
}

/*
 * XSAVE sizes agree with XCR0 under every baseline: leaf 0xD.0 EBX is the end
 * of the highest enabled component (from the host's own layout), ECX that of
 * all the policy allows, and components the policy does not allow never count.
 */
static void test_xsave_sizes_agree(void **state)
{
    struct fake_host h = FAKE_HOST(intel_avx512_host);
    char miss[64];

    (void)state;
    for (unsigned b = 0; b <= 4; b++) {
        LOAD(&pol, intel_avx512_host);
        assert_int_equal(cpu_policy_apply_baseline(&pol, cpu_baseline_name(b), miss,
                                                   sizeof(miss)), 0);
        for (uint64_t x = 1; x < 0x400; x += 2) {
            uint32_t want = 576, all = 576;

            for (uint32_t i = 2; i < 10; i++) {
                struct cpuid_out c = fake_cpuid(0xd, i, &h);

                if ((pol.xcr0_mask >> i & 1) && c.eax + c.ebx > all)
                    all = c.eax + c.ebx;
                if ((x & pol.xcr0_mask) >> i & 1 && c.eax + c.ebx > want)
                    want = c.eax + c.ebx;
            }
            struct cpuid_out r = q(&pol, 0xd, 0, CR4_OSXSAVE, x);
            if (!cpu_policy_has(&pol, CPU_FEAT_XSAVE)) {
                assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
                continue;
            }
            assert_int_equal(r.eax | (uint64_t)r.edx << 32, pol.xcr0_mask);
            assert_int_equal(r.ebx, want);
            assert_int_equal(r.ecx, all);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_level_tables, setup),
        cmocka_unit_test_setup(test_placement, setup),
        cmocka_unit_test_setup(test_v2_on_avx512_intel, setup),
        cmocka_unit_test_setup(test_family_model_stepping, setup),
        cmocka_unit_test_setup(test_v4_on_avx512_intel_xsave, setup),
        cmocka_unit_test_setup(test_v3_on_amd, setup),
        cmocka_unit_test_setup(test_same_baseline_same_view, setup),
        cmocka_unit_test_setup(test_refusals_leave_policy_unchanged, setup),
        cmocka_unit_test_setup(test_cluster_intersection, setup),
        cmocka_unit_test_setup(test_xcr0_enforcement, setup),
        cmocka_unit_test_setup(test_xsave_sizes_agree, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
