/*
 * Host tests for the CPU policy wire format (hv/cpu/cpu_policy_codec.c) and the
 * migration-time check cpu_policy_check_host(): round trips of every fake CPU
 * under every baseline it can run, rejection of truncated, extended and
 * bit-flipped blobs and of well-checksummed but inconsistent ones, and what a
 * target host is found to lack.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "hv/cpu/cpu_baseline.h"
#include "hv/cpu/cpu_policy_codec.h"
#include "hv/base/crc32c.h"
#include "fake_cpuid.h"
#include "support.h"

static struct cpu_policy pol, back;
static uint8_t blob[CPU_POLICY_BLOB_MAX + 16];

static void load_policy(struct cpu_policy *p, const struct fake_leaf *t, size_t n,
                        const char *baseline)
{
    struct fake_host h = { .t = t, .n = n };
    char miss[128];

    assert_int_equal(cpu_policy_from_host(p, fake_cpuid, &h), 0);
    cpu_policy_set_arch_caps(p, CPU_ARCH_CAPS_NOT_AFFECTED);
    assert_int_equal(cpu_policy_apply_baseline(p, baseline, miss, sizeof(miss)), 0);
}

#define LOAD(p, tbl, b) load_policy(p, tbl, tbl##_len, b)

static void assert_policy_equal(const struct cpu_policy *a, const struct cpu_policy *b)
{
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->vendor, b->vendor);
    assert_int_equal(a->max_basic, b->max_basic);
    assert_int_equal(a->max_ext, b->max_ext);
    assert_int_equal(a->xcr0_mask, b->xcr0_mask);
    assert_int_equal(a->arch_caps, b->arch_caps);
    assert_int_equal(a->nleaves, b->nleaves);
    for (unsigned i = 0; i < a->nleaves; i++) {
        assert_int_equal(a->leaves[i].leaf, b->leaves[i].leaf);
        assert_int_equal(a->leaves[i].subleaf, b->leaves[i].subleaf);
        assert_int_equal(a->leaves[i].has_subleaf, b->leaves[i].has_subleaf);
        assert_memory_equal(&a->leaves[i].regs, &b->leaves[i].regs, sizeof(struct cpuid_out));
    }
}

static void assert_zeroed(const struct cpu_policy *p)
{
    static const struct cpu_policy zero;

    assert_memory_equal(p, &zero, sizeof(zero));
}

static int setup(void **state)
{
    (void)state;
    cpu_baseline_clear_cluster();
    return 0;
}

static void test_round_trip(void **state)
{
    static const struct { const struct fake_leaf *t; const size_t *n; } cpus[] = {
        { intel_host, &intel_host_len }, { intel_avx512_host, &intel_avx512_host_len },
        { amd_host, &amd_host_len }, { tiny_host, &tiny_host_len },
        { wide_host, &wide_host_len },
    };
    struct cpu_featset v2;
    char miss[128];
    unsigned trips = 0;

    (void)state;
    assert_int_equal(cpu_baseline_features("x86-64-v2", &v2), 0);
    cpu_baseline_set_cluster(&v2);
    for (size_t c = 0; c < sizeof(cpus) / sizeof(cpus[0]); c++)
        for (unsigned b = 0; b < cpu_baseline_count(); b++) {
            struct fake_host h = { .t = cpus[c].t, .n = *cpus[c].n };
            int n;

            assert_int_equal(cpu_policy_from_host(&pol, fake_cpuid, &h), 0);
            cpu_policy_set_arch_caps(&pol, ~0ull);
            if (cpu_policy_apply_baseline(&pol, cpu_baseline_name(b), miss, sizeof(miss)))
                continue;                       /* this CPU cannot run it */
            n = cpu_policy_serialize(&pol, blob, sizeof(blob));
            assert_int_equal(n, CPU_POLICY_BLOB_HDR + pol.nleaves * CPU_POLICY_BLOB_LEAF + 4);
            memset(&back, 0xa5, sizeof(back));
            if (cpu_policy_deserialize(&back, blob, n))
                fail_msg("cpu %zu baseline %s does not parse", c, cpu_baseline_name(b));
            assert_policy_equal(&pol, &back);
            assert_int_equal(cpu_policy_check_host(&back, &pol, miss, sizeof(miss)), 0);
            trips++;
        }
    assert_int_equal(trips, 5 + 6 + 5 + 1 + 1);      /* the tiny and wide CPUs: host only */
    /* A short buffer: -ENOSPC, never a partial blob that might parse. */
    LOAD(&pol, intel_avx512_host, "host");
    assert_int_equal(cpu_policy_serialize(&pol, blob, CPU_POLICY_BLOB_HDR), -ENOSPC);
}

/* Every shorter and one longer length, and every single-bit flip, are refused. */
static void test_truncated_extended_flipped(void **state)
{
    int n, rc;

    (void)state;
    LOAD(&pol, amd_host, "x86-64-v3");
    n = cpu_policy_serialize(&pol, blob, sizeof(blob));
    assert_true(n > 0);
    for (int len = 0; len < n; len++) {
        memset(&back, 0xa5, sizeof(back));
        assert_int_equal(cpu_policy_deserialize(&back, blob, len), -EINVAL);
        assert_zeroed(&back);
    }
    blob[n] = 0;
    assert_int_equal(cpu_policy_deserialize(&back, blob, n + 1), -EINVAL);
    for (int bit = 0; bit < n * 8; bit++) {
        blob[bit / 8] ^= 1u << (bit % 8);
        memset(&back, 0xa5, sizeof(back));
        rc = cpu_policy_deserialize(&back, blob, n);
        if (bit / 8 == 4 || bit / 8 == 5)
            assert_int_equal(rc, -EPROTONOSUPPORT);   /* the version field */
        else
            assert_int_equal(rc, -EINVAL);
        assert_zeroed(&back);
        blob[bit / 8] ^= 1u << (bit % 8);
    }
    assert_int_equal(cpu_policy_deserialize(&back, blob, n), 0);
}

/* Blobs with a valid checksum whose content is inconsistent or out of range. */
static int resign(int n)
{
    uint32_t crc = crc32c_update(0, blob, n - 4);

    memcpy(blob + n - 4, &crc, 4);              /* the host is little-endian, as the format */
    return cpu_policy_deserialize(&back, blob, n);
}

static uint8_t *leaf_at(unsigned i)
{
    return blob + CPU_POLICY_BLOB_HDR + i * CPU_POLICY_BLOB_LEAF;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static void test_inconsistent_refused(void **state)
{
    uint8_t good[CPU_POLICY_BLOB_MAX];
    int n;

    (void)state;
    LOAD(&pol, intel_avx512_host, "host");
    n = cpu_policy_serialize(&pol, good, sizeof(good));
#define CASE(edit, want) do { memcpy(blob, good, n); edit; assert_int_equal(resign(n), want); \
                              if (want) assert_zeroed(&back); } while (0)
    CASE((void)0, 0);
    CASE(blob[0] = 'X', -EINVAL);                               /* magic */
    CASE(blob[4] = 2, -EPROTONOSUPPORT);                        /* version */
    CASE(blob[8] = 'H', -EINVAL);                               /* name: lower case */
    CASE(blob[8] = 0, -EINVAL);                                 /* name: empty */
    CASE(memset(blob + 8, 'a', 16), -EINVAL);                   /* name: no NUL */
    CASE(blob[8 + 14] = 'x', -EINVAL);                          /* name: junk after NUL */
    CASE(blob[24] = 'g', -EINVAL);                              /* vendor != leaf 0 */
    CASE(put32(blob + 36, 0x15), -EINVAL);                      /* max_basic != leaf 0 EAX */
    CASE(put32(blob + 40, 0x80000007), -EINVAL);                /* leaves beyond max_ext */
    CASE(put32(blob + 44, 0x2fe), -EINVAL);                     /* xcr0: no x87 */
    CASE(put32(blob + 44, 0x7), -EINVAL);                       /* xcr0 != leaf 0xD.0 */
    CASE(put32(blob + 52, 1u << 7), -EINVAL);                   /* arch_caps: TSX_CTRL */
    CASE(put32(leaf_at(1) + 8, 2), -EINVAL);                    /* unknown flag */
    CASE(put32(leaf_at(0) + 4, 1), -EINVAL);                    /* subleaf without flag */
    CASE(memcpy(leaf_at(2), leaf_at(1), CPU_POLICY_BLOB_LEAF), -EINVAL);    /* duplicate */
    CASE(put32(leaf_at(1), 0x17), -EINVAL);                     /* above max_basic */
    CASE(put32(leaf_at(1), 0x40000005), -EINVAL);               /* unknown hypervisor leaf */
    CASE(put32(leaf_at(pol.nleaves - 1), 0x80000009), -EINVAL); /* above max_ext */
    {   /* swapped: unsorted */
        uint8_t t[CPU_POLICY_BLOB_LEAF];
        CASE((memcpy(t, leaf_at(1), sizeof(t)), memcpy(leaf_at(1), leaf_at(2), sizeof(t)),
              memcpy(leaf_at(2), t, sizeof(t))), -EINVAL);
    }
    CASE(put32(blob + 6, CPU_POLICY_MAX_LEAVES + 1), -EINVAL);  /* nleaves vs length */
#undef CASE
    /* The largest table: 64 leaves, and no more. */
    memcpy(blob, good, n);
    memset(&pol, 0, sizeof(pol));
    assert_int_equal(cpu_policy_serialize(&pol, blob, sizeof(blob)), CPU_POLICY_BLOB_HDR + 4);
    assert_int_equal(cpu_policy_deserialize(&back, blob, CPU_POLICY_BLOB_HDR + 4), -EINVAL);
    pol.nleaves = CPU_POLICY_MAX_LEAVES + 1;
    assert_int_equal(cpu_policy_serialize(&pol, blob, sizeof(blob)), -ENOSPC);
}

/* Migration: what a target lacks for a VM that arrives with its policy. */
static void test_check_host(void **state)
{
    struct cpu_policy amd, xeon, core;
    char miss[256];

    (void)state;
    LOAD(&amd, amd_host, "host");
    LOAD(&xeon, intel_avx512_host, "host");
    LOAD(&core, intel_host, "host");
    /* Baselines: anywhere that runs them, by features; the vendor does not matter. */
    LOAD(&pol, intel_avx512_host, "x86-64-v3");
    assert_int_equal(cpu_policy_check_host(&pol, &amd, miss, sizeof(miss)), 0);
    assert_int_equal(cpu_policy_check_host(&pol, &core, miss, sizeof(miss)), 0);
    assert_string_equal(miss, "");
    LOAD(&pol, intel_avx512_host, "x86-64-v4");
    assert_int_equal(cpu_policy_check_host(&pol, &amd, miss, sizeof(miss)), -ENOTSUP);
    assert_string_equal(miss, "avx512f,avx512dq,avx512cd,avx512bw,avx512vl,xcr0.opmask,"
                              "xcr0.zmm_hi256,xcr0.hi16_zmm");
    /* A host policy carries everything its host had. */
    assert_int_equal(cpu_policy_check_host(&xeon, &amd, miss, sizeof(miss)), -ENOTSUP);
    assert_non_null(strstr(miss, "avx512f"));
    assert_non_null(strstr(miss, "xcr0.bndregs,xcr0.bndcsr"));
    assert_null(strstr(miss, "xcr0.ymm"));
    assert_int_equal(cpu_policy_check_host(&amd, &xeon, miss, sizeof(miss)), -ENOTSUP);
    assert_non_null(strstr(miss, "sse4a"));
    assert_null(strstr(miss, "avx2"));
    /* A different XSAVE layout for a component the VM may use. */
    LOAD(&pol, intel_avx512_host, "host");
    for (unsigned i = 0; i < xeon.nleaves; i++)
        if (xeon.leaves[i].leaf == 0xd && xeon.leaves[i].subleaf == 9)
            xeon.leaves[i].regs.ebx = 2432;
    assert_int_equal(cpu_policy_check_host(&pol, &xeon, miss, sizeof(miss)), -ENOTSUP);
    assert_string_equal(miss, "xsave.pkru");
    /* IA32_ARCH_CAPABILITIES: no "not affected" promise lost, no "affected" fact added. */
    LOAD(&xeon, intel_avx512_host, "host");
    xeon.arch_caps &= ~(1ull << 5);             /* the target is affected by MDS */
    assert_int_equal(cpu_policy_check_host(&pol, &xeon, miss, sizeof(miss)), -ENOTSUP);
    assert_string_equal(miss, "arch_caps.mds_no");
    xeon.arch_caps |= 1ull << 5 | 1ull << 2;    /* ... and its RET uses other predictors */
    assert_int_equal(cpu_policy_check_host(&pol, &xeon, miss, sizeof(miss)), -ENOTSUP);
    assert_string_equal(miss, "arch_caps.rsba");
    assert_int_equal(cpu_policy_check_host(&xeon, &pol, miss, sizeof(miss)), 0);  /* better */
    /* Long lists are cut at a name. */
    LOAD(&pol, intel_avx512_host, "host");
    assert_int_equal(cpu_policy_check_host(&pol, &amd, miss, 40), -ENOTSUP);
    assert_true(strlen(miss) < 40);
    assert_string_equal(miss + strlen(miss) - 3, "...");
    assert_int_equal(cpu_policy_check_host(&pol, &amd, miss, 0), -ENOTSUP);
}

/*
 * Address widths: a VM moves only to a host with at least its MAXPHYADDR and linear-address
 * width (its page tables may use what the target would take as reserved bits); named
 * baselines offer at most 39 physical bits, a host policy the host's own.
 */
static void test_address_bits(void **state)
{
    struct cpu_policy amd, xeon, core;
    char miss[1024];

    (void)state;
    LOAD(&amd, amd_host, "host");                   /* 48 bits, 48 linear */
    LOAD(&xeon, intel_avx512_host, "host");         /* 46, 48 */
    LOAD(&core, intel_host, "host");                /* 39, 48 */
    assert_int_equal(cpu_policy_phys_bits(&amd), 48);
    assert_int_equal(cpu_policy_phys_bits(&xeon), 46);
    assert_int_equal(cpu_policy_phys_bits(&core), 39);
    assert_int_equal(cpu_policy_linear_bits(&core), 48);
    /* A Xeon's host policy does not fit a 39-bit client part; the other way round it does. */
    LOAD(&pol, intel_avx512_host, "host");
    assert_int_equal(cpu_policy_check_host(&pol, &xeon, miss, sizeof(miss)), 0);
    assert_int_equal(cpu_policy_check_host(&xeon, &amd, miss, sizeof(miss)), -ENOTSUP);
    assert_null(strstr(miss, "maxphyaddr"));        /* 46 <= 48: only features lack */
    LOAD(&pol, intel_host, "host");
    for (unsigned i = 0; i < pol.nleaves; i++)
        if (pol.leaves[i].leaf == 0x80000008)
            pol.leaves[i].regs.eax = 0x302e;
    assert_int_equal(cpu_policy_check_host(&pol, &core, miss, sizeof(miss)), -ENOTSUP);
    assert_string_equal(miss, "maxphyaddr(46>39)");
    assert_int_equal(cpu_policy_check_host(&core, &pol, miss, sizeof(miss)), 0);
    /* 57-bit linear addresses (LA57) do not go to a 48-bit host. */
    for (unsigned i = 0; i < pol.nleaves; i++)
        if (pol.leaves[i].leaf == 0x80000008)
            pol.leaves[i].regs.eax = 0x3927;
    assert_int_equal(cpu_policy_check_host(&pol, &core, miss, sizeof(miss)), -ENOTSUP);
    assert_string_equal(miss, "linear_bits(57>48)");
    /* Baselines: at most 39 bits, the host's if it has fewer; nested paging's guest-physical
     * width (23:16) not shown. So an x86-64-v2 VM from any of these runs on all of them. */
    LOAD(&pol, amd_host, "x86-64-v2");
    assert_int_equal(cpu_policy_phys_bits(&pol), 39);
    assert_int_equal(cpu_policy_find(&pol, 0x80000008, 0)->regs.eax, 0x3027);
    assert_int_equal(cpu_policy_check_host(&pol, &core, miss, sizeof(miss)), 0);
    LOAD(&pol, intel_avx512_host, "x86-64-v3");
    assert_int_equal(cpu_policy_phys_bits(&pol), 39);
    assert_int_equal(cpu_policy_check_host(&pol, &core, miss, sizeof(miss)), 0);
    /* A host with 5-level paging (QEMU's -cpu max): 57 linear bits; baselines without LA57
     * tell of 48. */
    struct fake_host h = { .t = amd_host, .n = amd_host_len };
    assert_int_equal(cpu_policy_from_host(&pol, fake_cpuid, &h), 0);
    for (unsigned i = 0; i < pol.nleaves; i++)
        if (pol.leaves[i].leaf == 0x80000008)
            pol.leaves[i].regs.eax = 0x3928;        /* 40 physical, 57 linear */
    assert_int_equal(cpu_policy_linear_bits(&pol), 57);
    assert_int_equal(cpu_policy_apply_baseline(&pol, "x86-64-v2", miss, sizeof(miss)), 0);
    assert_int_equal(cpu_policy_find(&pol, 0x80000008, 0)->regs.eax, 0x3027);
    /* What crosses the wire is what is checked. */
    int n = cpu_policy_serialize(&pol, blob, sizeof(blob));
    assert_int_equal(cpu_policy_deserialize(&back, blob, n), 0);
    assert_int_equal(cpu_policy_phys_bits(&back), 39);
    LOAD(&pol, amd_host, "host");
    n = cpu_policy_serialize(&pol, blob, sizeof(blob));
    assert_int_equal(cpu_policy_deserialize(&back, blob, n), 0);
    assert_int_equal(cpu_policy_check_host(&back, &xeon, miss, sizeof(miss)), -ENOTSUP);
    assert_non_null(strstr(miss, "maxphyaddr(48>46)"));
}

/* The blob a target receives decides; what was serialized is what is checked. */
static void test_check_after_transfer(void **state)
{
    struct cpu_policy amd;
    char miss[128];
    int n;

    (void)state;
    LOAD(&amd, amd_host, "host");
    LOAD(&pol, intel_avx512_host, "x86-64-v4");
    n = cpu_policy_serialize(&pol, blob, sizeof(blob));
    assert_int_equal(cpu_policy_deserialize(&back, blob, n), 0);
    assert_int_equal(cpu_policy_check_host(&back, &amd, miss, sizeof(miss)), -ENOTSUP);
    assert_non_null(strstr(miss, "avx512bw"));
    LOAD(&pol, intel_avx512_host, "x86-64-v2");
    n = cpu_policy_serialize(&pol, blob, sizeof(blob));
    assert_int_equal(cpu_policy_deserialize(&back, blob, n), 0);
    assert_int_equal(cpu_policy_check_host(&back, &amd, miss, sizeof(miss)), 0);
    assert_string_equal(back.vendor, "GenuineIntel");  /* stays the VM's own on AMD */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_round_trip, setup),
        cmocka_unit_test_setup(test_truncated_extended_flipped, setup),
        cmocka_unit_test_setup(test_inconsistent_refused, setup),
        cmocka_unit_test_setup(test_check_host, setup),
        cmocka_unit_test_setup(test_check_after_transfer, setup),
        cmocka_unit_test_setup(test_address_bits, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
