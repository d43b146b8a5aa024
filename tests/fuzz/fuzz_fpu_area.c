// libFuzzer target: XSAVE areas a migration source sends into the target's check
// (arch/x86_64/fpu_check.c, fpu_area_valid), on two CPU descriptions.
//
// Build and run from the repository root:
//   clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//       tests/fuzz/fuzz_fpu_area.c arch/x86_64/fpu_check.c -o build/fuzz_fpu_area
//   build/fuzz_fpu_area -max_total_time=10 -max_len=4200
//
// Input: [cpu:1][xcr0:8][area...]. cpu bit 0: an AVX-512 CPU (else AVX only, MXCSR_MASK
// 0xFFBF). Checks, beyond the sanitizers: an area the check accepts is one XRSTOR takes on
// that CPU, by rules restated here independently: size, standard form, header reserved
// bytes zero, XSTATE_BV within xcr0 and the CPU's components, each component inside the
// area, MXCSR within MXCSR_MASK; and a refusal always says why.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/fpu.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static struct fpu_caps cpus[2];

static void init(void)
{
    struct fpu_caps *a = &cpus[0], *b = &cpus[1];
    a->supported = 0x7;
    a->area_size = 832;
    a->mxcsr_mask = 0xffbf;
    a->comp_end[2] = 832;
    b->supported = 0x2e7;
    b->area_size = 2752;
    b->mxcsr_mask = 0xffff;
    b->comp_end[2] = 832;
    b->comp_end[5] = 1152;
    b->comp_end[6] = 1664;
    b->comp_end[7] = 2688;
    b->comp_end[9] = 2696;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t area[4096] __attribute__((aligned(64)));
    static int ready;
    char why[160];
    if (!ready) {
        init();
        ready = 1;
    }
    if (size < 9)
        return 0;
    const struct fpu_caps *c = &cpus[data[0] & 1];
    uint64_t xcr0, bv;
    uint32_t mxcsr;
    memcpy(&xcr0, data + 1, 8);
    size_t n = size - 9 < sizeof(area) ? size - 9 : sizeof(area);
    memcpy(area, data + 9, n);
    why[0] = 0;
    if (fpu_area_valid(c, area, n, xcr0, why, sizeof(why))) {
        CHECK(why[0]);
        return 0;
    }
    CHECK(n >= 576 && n <= c->area_size && n % 64 == 0);
    memcpy(&bv, area + 512, 8);
    CHECK(!(bv & ~(xcr0 & c->supported)));
    for (size_t i = 520; i < 576; i++)
        CHECK(area[i] == 0);
    for (unsigned i = 2; i < 64; i++)
        CHECK(!(bv >> i & 1) || c->comp_end[i] <= n);
    memcpy(&mxcsr, area + 24, 4);
    CHECK(!(mxcsr & ~c->mxcsr_mask));
    return 0;
}
