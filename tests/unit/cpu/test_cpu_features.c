/*
 * Host tests for hv/cpu/cpu_features.c: the named feature table, feature sets
 * (intersection, subset, missing lists, formatting, parsing), and the
 * features of policies built from the fake CPUs in fake_cpuid.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "hv/cpu/cpu_features.h"
#include "hv/cpu/cpu_policy.h"
#include "fake_cpuid.h"
#include "support.h"

static struct cpu_featset set_of(const enum cpu_feat *f, size_t n)
{
    struct cpu_featset s = { { 0 } };

    for (size_t i = 0; i < n; i++)
        cpu_featset_add(&s, f[i]);
    return s;
}

#define SET(...) set_of((const enum cpu_feat[]){ __VA_ARGS__ }, \
                        sizeof((const enum cpu_feat[]){ __VA_ARGS__ }) / sizeof(enum cpu_feat))

static struct cpu_featset policy_features(const struct fake_leaf *t, size_t n)
{
    struct fake_host h = { .t = t, .n = n };
    struct cpu_policy p;
    struct cpu_featset s;

    assert_int_equal(cpu_policy_from_host(&p, fake_cpuid, &h), 0);
    cpu_policy_features(&p, &s);
    return s;
}

#define FEATURES(tbl) policy_features(tbl, tbl##_len)

/* Every entry is named, names are unique lower-case words, no two entries share a bit. */
static void test_table_well_formed(void **state)
{
    (void)state;
    for (unsigned i = 0; i < CPU_FEAT_COUNT; i++) {
        const struct cpu_feat_info *a = &cpu_feat_table[i];

        assert_non_null(a->name);
        assert_true(strlen(a->name) > 1 && strlen(a->name) < 24);
        assert_int_equal(strspn(a->name, "abcdefghijklmnopqrstuvwxyz0123456789_"),
                         strlen(a->name));
        assert_true(a->bit < 32 && a->reg <= CPU_EDX);
        assert_true(a->leaf <= 0x1f || (a->leaf >= 0x80000000u && a->leaf <= 0x80000021u));
        for (unsigned j = 0; j < i; j++) {
            const struct cpu_feat_info *b = &cpu_feat_table[j];

            assert_true(strcmp(a->name, b->name) != 0);
            assert_false(a->leaf == b->leaf && a->subleaf == b->subleaf && a->reg == b->reg &&
                         a->bit == b->bit);
        }
        if (a->flags)
            assert_int_equal(cpu_feat_lookup(a->name), -EINVAL);
        else
            assert_int_equal(cpu_feat_lookup(a->name), (int)i);
    }
}

/* Spot checks against SDM Table 3-8/3-10 and APM E.4.6 for the features the baselines name. */
static void test_table_positions(void **state)
{
    static const struct { enum cpu_feat f; uint32_t leaf, sub; enum cpu_reg r; unsigned bit; }
    want[] = {
        { CPU_FEAT_CMOV, 1, 0, CPU_EDX, 15 },      { CPU_FEAT_CX8, 1, 0, CPU_EDX, 8 },
        { CPU_FEAT_FXSR, 1, 0, CPU_EDX, 24 },      { CPU_FEAT_SSE2, 1, 0, CPU_EDX, 26 },
        { CPU_FEAT_SSE3, 1, 0, CPU_ECX, 0 },       { CPU_FEAT_SSSE3, 1, 0, CPU_ECX, 9 },
        { CPU_FEAT_CX16, 1, 0, CPU_ECX, 13 },      { CPU_FEAT_SSE4_1, 1, 0, CPU_ECX, 19 },
        { CPU_FEAT_SSE4_2, 1, 0, CPU_ECX, 20 },    { CPU_FEAT_POPCNT, 1, 0, CPU_ECX, 23 },
        { CPU_FEAT_MOVBE, 1, 0, CPU_ECX, 22 },     { CPU_FEAT_FMA, 1, 0, CPU_ECX, 12 },
        { CPU_FEAT_XSAVE, 1, 0, CPU_ECX, 26 },     { CPU_FEAT_AVX, 1, 0, CPU_ECX, 28 },
        { CPU_FEAT_F16C, 1, 0, CPU_ECX, 29 },      { CPU_FEAT_BMI1, 7, 0, CPU_EBX, 3 },
        { CPU_FEAT_AVX2, 7, 0, CPU_EBX, 5 },       { CPU_FEAT_BMI2, 7, 0, CPU_EBX, 8 },
        { CPU_FEAT_AVX512F, 7, 0, CPU_EBX, 16 },   { CPU_FEAT_AVX512DQ, 7, 0, CPU_EBX, 17 },
        { CPU_FEAT_AVX512CD, 7, 0, CPU_EBX, 28 },  { CPU_FEAT_AVX512BW, 7, 0, CPU_EBX, 30 },
        { CPU_FEAT_AVX512VL, 7, 0, CPU_EBX, 31 },  { CPU_FEAT_AVX_VNNI, 7, 1, CPU_EAX, 4 },
        { CPU_FEAT_XSAVEOPT, 0xd, 1, CPU_EAX, 0 }, { CPU_FEAT_LAHF_LM, 0x80000001, 0, CPU_ECX, 0 },
        { CPU_FEAT_LZCNT, 0x80000001, 0, CPU_ECX, 5 },
        { CPU_FEAT_SYSCALL, 0x80000001, 0, CPU_EDX, 11 },
        { CPU_FEAT_LM, 0x80000001, 0, CPU_EDX, 29 }, { CPU_FEAT_INVTSC, 0x80000007, 0, CPU_EDX, 8 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct cpu_feat_info *fi = &cpu_feat_table[want[i].f];

        assert_int_equal(fi->leaf, want[i].leaf);
        assert_int_equal(fi->subleaf, want[i].sub);
        assert_int_equal(fi->reg, want[i].r);
        assert_int_equal(fi->bit, want[i].bit);
    }
    assert_int_equal(cpu_feat_lookup("abm"), CPU_FEAT_LZCNT);
    assert_int_equal(cpu_feat_lookup("sce"), CPU_FEAT_SYSCALL);
    assert_int_equal(cpu_feat_lookup("cmpxchg16b"), CPU_FEAT_CX16);
    assert_int_equal(cpu_feat_lookup("lahf"), CPU_FEAT_LAHF_LM);
    assert_int_equal(cpu_feat_lookup("osxsave"), -EINVAL);      /* dynamic */
    assert_int_equal(cpu_feat_lookup("hypervisor"), -EINVAL);
    assert_int_equal(cpu_feat_lookup("zero_fcs_fds"), -EINVAL); /* info */
    assert_int_equal(cpu_feat_lookup("avx3"), -ENOENT);
    assert_int_equal(cpu_feat_lookup(""), -ENOENT);
    assert_int_equal(cpu_feat_lookup("AVX2"), -ENOENT);         /* names are lower case */
}

static void test_set_operations(void **state)
{
    struct cpu_featset a = SET(CPU_FEAT_AVX2, CPU_FEAT_BMI2, CPU_FEAT_SSE2, CPU_FEAT_AMD_SSB_NO);
    struct cpu_featset b = SET(CPU_FEAT_SSE2, CPU_FEAT_AMD_SSB_NO, CPU_FEAT_FPU);
    struct cpu_featset c, d, empty = { { 0 } };

    (void)state;
    assert_int_equal(cpu_featset_count(&a), 4);
    assert_true(cpu_featset_has(&a, CPU_FEAT_AMD_SSB_NO));      /* the last word works */
    cpu_featset_and(&c, &a, &b);
    d = SET(CPU_FEAT_SSE2, CPU_FEAT_AMD_SSB_NO);
    assert_true(cpu_featset_equal(&c, &d));
    assert_true(cpu_featset_subset(&c, &a) && cpu_featset_subset(&c, &b));
    assert_false(cpu_featset_subset(&a, &b));
    assert_true(cpu_featset_subset(&empty, &b));
    cpu_featset_and(&a, &a, &empty);                             /* aliasing output */
    assert_int_equal(cpu_featset_count(&a), 0);
    cpu_featset_del(&b, CPU_FEAT_FPU);
    assert_false(cpu_featset_has(&b, CPU_FEAT_FPU));
    assert_true(cpu_featset_equal(&b, &c));
}

static void test_missing_and_format(void **state)
{
    struct cpu_featset want = SET(CPU_FEAT_BMI2, CPU_FEAT_AVX2, CPU_FEAT_SSE2);
    struct cpu_featset have = SET(CPU_FEAT_SSE2, CPU_FEAT_FPU);
    char buf[64];

    (void)state;
    assert_int_equal(cpu_featset_missing(&want, &have, buf, sizeof(buf)), 2);
    assert_string_equal(buf, "avx2,bmi2");                      /* table order */
    assert_int_equal(cpu_featset_missing(&have, &want, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "fpu");
    assert_int_equal(cpu_featset_missing(&have, &have, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(cpu_featset_format(&want, ' ', buf, sizeof(buf)), 3);
    assert_string_equal(buf, "sse2 avx2 bmi2");
    /* Too small: whole names only, then "...". */
    assert_int_equal(cpu_featset_format(&want, ',', buf, 15), 3);
    assert_string_equal(buf, "sse2,avx2,bmi2");                 /* exactly fits */
    assert_int_equal(cpu_featset_format(&want, ',', buf, 14), 3);
    assert_string_equal(buf, "sse2,avx2,...");
    assert_int_equal(cpu_featset_format(&want, ',', buf, 9), 3);
    assert_string_equal(buf, "sse2,...");
    assert_int_equal(cpu_featset_format(&want, ',', buf, 6), 3);
    assert_string_equal(buf, "...");
    memset(buf, 'x', sizeof(buf));
    cpu_featset_format(&want, ',', buf, 1);
    assert_int_equal(buf[0], 0);
    cpu_featset_format(&want, ',', buf, 0);                      /* writes nothing */
    assert_int_equal(buf[1], 'x');
}

static void test_parse(void **state)
{
    struct cpu_featset s, want;
    char bad[8];

    (void)state;
    assert_int_equal(cpu_featset_parse("avx2,abm,sse4_2", &s, bad, sizeof(bad)), 0);
    want = SET(CPU_FEAT_AVX2, CPU_FEAT_LZCNT, CPU_FEAT_SSE4_2);
    assert_true(cpu_featset_equal(&s, &want));
    assert_int_equal(cpu_featset_parse("", &s, bad, sizeof(bad)), 0);
    assert_int_equal(cpu_featset_count(&s), 0);
    assert_int_equal(cpu_featset_parse("avx2,avx3", &s, bad, sizeof(bad)), -ENOENT);
    assert_string_equal(bad, "avx3");
    assert_int_equal(cpu_featset_parse("avx2,,sse", &s, bad, sizeof(bad)), -ENOENT);
    assert_string_equal(bad, "");
    memset(bad, 'x', sizeof(bad));      /* a trailing comma names the empty name too */
    assert_int_equal(cpu_featset_parse("avx2,", &s, bad, sizeof(bad)), -EINVAL);
    assert_string_equal(bad, "");
    assert_int_equal(cpu_featset_parse("osxsave", &s, bad, sizeof(bad)), -EINVAL);
    assert_string_equal(bad, "osxsave");
    assert_int_equal(cpu_featset_parse("averyveryverylongname", &s, bad, sizeof(bad)),
                     -ENOENT);
    assert_string_equal(bad, "averyve");                        /* cut to the buffer */
}

/* The features a policy exposes: after the host rules, without dynamic bits. */
static void test_policy_features(void **state)
{
    struct cpu_featset intel = FEATURES(intel_avx512_host), amd = FEATURES(amd_host);
    struct cpu_featset both;
    char buf[512];

    (void)state;
    for (enum cpu_feat f = CPU_FEAT_AVX512F; f <= CPU_FEAT_AVX512VL; f++)
        if (f != CPU_FEAT_RDSEED && f != CPU_FEAT_ADX && f != CPU_FEAT_SMAP &&
            f != CPU_FEAT_AVX512IFMA && f != CPU_FEAT_CLFLUSHOPT && f != CPU_FEAT_CLWB &&
            f != CPU_FEAT_INTEL_PT && f != CPU_FEAT_AVX512PF && f != CPU_FEAT_AVX512ER &&
            f != CPU_FEAT_SHA_NI)
            assert_true(cpu_featset_has(&intel, f));
    assert_false(cpu_featset_has(&amd, CPU_FEAT_AVX512F));
    assert_true(cpu_featset_has(&amd, CPU_FEAT_AVX2) && cpu_featset_has(&amd, CPU_FEAT_SSE4A));
    /* Hidden by the host rules, or computed per vCPU: never a feature of a policy. */
    assert_false(cpu_featset_has(&intel, CPU_FEAT_VMX) || cpu_featset_has(&amd, CPU_FEAT_SVM));
    assert_false(cpu_featset_has(&intel, CPU_FEAT_INTEL_PT));
    assert_false(cpu_featset_has(&intel, CPU_FEAT_HYPERVISOR));
    assert_false(cpu_featset_has(&intel, CPU_FEAT_OSXSAVE));
    assert_false(cpu_featset_has(&intel, CPU_FEAT_HTT));
    assert_false(cpu_featset_has(&intel, CPU_FEAT_OSPKE));

    cpu_featset_and(&both, &intel, &amd);
    assert_true(cpu_featset_has(&both, CPU_FEAT_AVX2) && cpu_featset_has(&both, CPU_FEAT_BMI2));
    assert_false(cpu_featset_has(&both, CPU_FEAT_AVX512F) ||
                 cpu_featset_has(&both, CPU_FEAT_SSE4A));
    cpu_featset_missing(&intel, &amd, buf, sizeof(buf));
    assert_non_null(strstr(buf, "avx512f,avx512dq"));
    assert_null(strstr(buf, "avx2"));
    cpu_featset_missing(&amd, &intel, buf, sizeof(buf));
    assert_non_null(strstr(buf, "sse4a"));
    assert_null(strstr(buf, "avx512"));

    both = FEATURES(tiny_host);                         /* leaves 0 and 1 only */
    assert_true(cpu_featset_has(&both, CPU_FEAT_SSE2));
    assert_false(cpu_featset_has(&both, CPU_FEAT_LM));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_well_formed),
        cmocka_unit_test(test_table_positions),
        cmocka_unit_test(test_set_operations),
        cmocka_unit_test(test_missing_and_format),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_policy_features),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
