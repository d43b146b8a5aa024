/*
 * Fake host CPUs for the CPU policy tests: CPUID tables modelled on real
 * parts, answered like hardware (a basic leaf above the maximum returns the
 * highest basic leaf; unknown leaves return zeros). "noisy" answers all-ones
 * to everything, the worst case for the table-size cap.
 *   intel_host         Core (0x906ea): AVX2, no AVX-512; VMX, SGX, PT, RDT, PMU
 *   intel_avx512_host  Xeon (0x50654): AVX-512 F/CD/BW/DQ/VL, XCR0 0x2ff
 *   amd_host           Zen 3 (0xa20f12): AVX2, no AVX-512; SVM, RDT, CET states
 *   wide_host          claims basic leaves up to 0x7f, empty extended ones
 *   tiny_host          leaves 0 and 1 only
 */
#ifndef UNIT_FAKE_CPUID_H
#define UNIT_FAKE_CPUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/cpu/cpu_policy.h"

#define ANY 0xffffffffu

struct fake_leaf { uint32_t leaf, sub; struct cpuid_out r; };

struct fake_host {
    const struct fake_leaf *t;
    size_t n;
    bool noisy;
    unsigned calls;
};

extern const struct fake_leaf intel_host[];
extern const size_t intel_host_len;
extern const struct fake_leaf amd_host[];
extern const size_t amd_host_len;
extern const struct fake_leaf wide_host[];
extern const size_t wide_host_len;
extern const struct fake_leaf tiny_host[];
extern const size_t tiny_host_len;
extern const struct fake_leaf intel_avx512_host[];
extern const size_t intel_avx512_host_len;

#define FAKE_HOST(tbl) ((struct fake_host){ .t = tbl, .n = tbl##_len })

/* cpuid_raw_fn over the struct fake_host in ctx (counts calls). */
struct cpuid_out fake_cpuid(uint32_t leaf, uint32_t sub, void *ctx);

#endif
