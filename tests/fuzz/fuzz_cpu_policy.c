// libFuzzer target: arbitrary bytes into the CPU policy decoder (hv/cpu/cpu_policy_codec.c), the
// blob a migration target receives in HELLO, and every policy that decodes through the code
// that uses one (cpu_policy_cpuid for every leaf it stores and some it does not, features,
// the host check).
//
// Build and run from the repository root (make fuzz does this):
//   F="-std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. -Itests/unit/fakes"
//   clang $F tests/fuzz/fuzz_cpu_policy.c hv/cpu/cpu_policy_codec.c hv/cpu/cpu_policy.c \
//       hv/cpu/cpu_host_rules.c hv/cpu/cpu_features.c hv/cpu/cpu_baseline.c hv/base/crc32c.c \
//       tests/unit/fakes/fake_cpuid.c tests/unit/fakes/support.c -o build/fuzz_cpu_policy
//
// Input: [ctl:1][bytes]. ctl bit 1 clear: with bit 0 clear the bytes are the blob as is (the
// CRC stops almost everything); with bit 0 set they are the blob without its CRC, which the
// harness appends, so mutations reach the structure and consistency checks. Bit 1 set: the
// blob is a real one, a fake CPU (tests/unit/fakes/fake_cpuid.c, bytes[0]) under a baseline
// (bytes[1]), edited by the rest as [offset:2][xor:1] triples, its CRC then fixed: deep
// coverage without a seed corpus.
//
// Checks, beyond the sanitizers: a blob that decodes re-encodes to the same bytes (one
// encoding per policy) and decodes again; a policy is compatible with itself; a failed
// decode leaves a zeroed policy.
//
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hv/cpu/cpu_baseline.h"
#include "hv/cpu/cpu_policy_codec.h"
#include "hv/base/crc32c.h"
#include "fake_cpuid.h"

static struct cpu_policy p, q;
static uint8_t blob[CPU_POLICY_BLOB_MAX + 8], out[CPU_POLICY_BLOB_MAX];

static void use(const struct cpu_policy *pol)
{
    struct cpu_featset s;
    struct cpuid_out r;
    char miss[256];

    cpu_policy_features(pol, &s);
    cpu_featset_format(&s, ' ', miss, sizeof(miss));
    if (cpu_policy_check_host(pol, pol, miss, sizeof(miss)))
        abort();
    for (unsigned i = 0; i < pol->nleaves; i++)
        for (unsigned sub = 0; sub < 3; sub++)
            cpu_policy_cpuid(pol, pol->leaves[i].leaf, pol->leaves[i].subleaf + sub, 1, 3,
                             ~0ull, ~0ull, &r);
    cpu_policy_cpuid(pol, 0x7fffffff, 0, 0, 1, 0, 1, &r);
    cpu_policy_cpuid(pol, 0xffffffff, 0, 0, 1, 0, 1, &r);
    (void)cpu_policy_xcr0_ok(pol, pol->xcr0_mask);
    (void)cpu_policy_fms(pol);
}

/* A real blob (see the top), edited; returns its length. */
static size_t real_blob(const uint8_t *d, size_t n)
{
    static const struct fake_leaf *const t[] = { intel_host, intel_avx512_host, amd_host,
                                                 tiny_host, wide_host };
    const size_t *len[] = { &intel_host_len, &intel_avx512_host_len, &amd_host_len,
                            &tiny_host_len, &wide_host_len };
    struct fake_host h;
    char miss[64];
    uint32_t crc;
    int size;

    if (n < 2)
        return 0;
    h = (struct fake_host){ .t = t[d[0] % 5], .n = *len[d[0] % 5] };
    if (cpu_policy_from_host(&p, fake_cpuid, &h))
        return 0;
    cpu_policy_set_arch_caps(&p, ~0ull);
    cpu_policy_apply_baseline(&p, cpu_baseline_name(d[1] % cpu_baseline_count()), miss,
                              sizeof(miss));
    size = cpu_policy_serialize(&p, blob, sizeof(blob));
    if (size < 4)
        abort();
    for (size_t i = 2; i + 3 <= n; i += 3)
        blob[(d[i] | d[i + 1] << 8) % (size_t)size] ^= d[i + 2];
    crc = crc32c_update(0, blob, size - 4);
    memcpy(blob + size - 4, &crc, 4);
    return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct cpu_policy zero;
    size_t n;
    int rc;

    if (size < 1 || size - 1 > CPU_POLICY_BLOB_MAX)
        return 0;
    n = size - 1;
    if (data[0] & 2) {
        if (!(n = real_blob(data + 1, n)))
            return 0;
    } else {
        memcpy(blob, data + 1, n);
    }
    if ((data[0] & 3) == 1) {
        uint32_t crc = crc32c_update(0, blob, n);

        memcpy(blob + n, &crc, 4);
        n += 4;
    }
    rc = cpu_policy_deserialize(&p, blob, n);
    if (rc) {
        if (memcmp(&p, &zero, sizeof(p)))
            abort();
        return 0;
    }
    if (cpu_policy_serialize(&p, out, sizeof(out)) != (int)n || memcmp(out, blob, n))
        abort();
    if (cpu_policy_deserialize(&q, out, n))
        abort();
    use(&p);
    return 0;
}
