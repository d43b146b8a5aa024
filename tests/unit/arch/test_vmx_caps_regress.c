/*
 * Failing tests for input checks arch/x86_64/vmx/vmx_caps.c does not make
 * (no .mk fragment: these fail until the code is fixed). Build by hand:
 *   gcc -std=gnu11 -g -O1 -Wall -Wextra -fsanitize=address,undefined \
 *       -fno-sanitize-recover=all -fno-omit-frame-pointer -I. -Itests/unit/fakes \
 *       -include stddef.h tests/unit/arch/test_vmx_caps_regress.c \
 *       arch/x86_64/vmx/vmx_caps.c tests/unit/fakes/support.c -lcmocka \
 *       -o build/unit/test_vmx_caps_bugs
 *
 * 1. ept_map_chunks checks gpa + size against 2^48 but never checks hpa:
 *    a host range that runs past the 52-bit physical address space writes
 *    bits 63:52 into the leaf entry (bit 63 is "suppress #VE", 62:52 are
 *    ignored or feature bits), and the address bits wrap to host page 0, so
 *    the guest page maps host physical 0 without an error.
 * 2. ept_translate takes gpa modulo 2^48: a gpa at or above 2^48 (which a
 *    4-level EPT cannot map) is reported mapped to the host address of
 *    gpa - 2^48 instead of ~0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "arch/x86_64/vmx/vmx_caps.h"
#include "support.h"

#define POOL_PA    0x1000000ull
#define POOL_PAGES 16

static uint64_t pool[POOL_PAGES][512] __attribute__((aligned(4096)));
static unsigned used;

static uint64_t fake_alloc(void *ctx)
{
    (void)ctx;
    if (used >= POOL_PAGES)
        return 0;
    return POOL_PA + 4096ull * used++;
}

static void *fake_p2v(uint64_t pa, void *ctx)
{
    (void)ctx;
    if (pa < POOL_PA || (pa & 0xfff) || (pa - POOL_PA) / 4096 >= used)
        fail_msg("p2v(%#llx) is not a table page", (unsigned long long)pa);
    return pool[(pa - POOL_PA) / 4096];
}

static int setup(void **state)
{
    (void)state;
    memset(pool, 0, sizeof(pool));
    used = 0;
    return 0;
}

/* vmx_caps.c line 70 range-checks only gpa/end; line 53 ORs the unchecked hpa into the leaf. */
static void test_bug_hpa_beyond_52_bits_accepted(void **state)
{
    (void)state;
    /* the last 4 KiB below 2^52 and one page past it */
    struct ept_chunk c[] = { { 0x200000, 0x000ffffffffff000ull, 0x2000 } };
    uint64_t root = 0;
    int rc = ept_map_chunks(&root, c, 1, true, fake_alloc, fake_p2v, NULL);

    if (rc >= 0) {
        /* show what got mapped: the second guest page points at host physical 0 */
        uint64_t hpa = ept_translate(root, 0x201000, fake_p2v, NULL, NULL);
        fail_msg("hpa range 0xffffffffff000+0x2000 accepted (rc %d); gpa 0x201000 -> hpa %#llx, "
                 "PTE %#llx; want -EINVAL", rc, (unsigned long long)hpa,
                 (unsigned long long)pool[3][1]);
    }
    assert_int_equal(rc, -EINVAL);
}

static void test_bug_hpa_high_bits_in_entry(void **state)
{
    (void)state;
    /* bit 63 of the hpa ends up as "suppress #VE" in the leaf */
    struct ept_chunk c[] = { { 0, 0x8000000000200000ull, 0x200000 } };
    uint64_t root = 0;
    int rc = ept_map_chunks(&root, c, 1, true, fake_alloc, fake_p2v, NULL);

    if (rc >= 0)
        fail_msg("hpa 0x8000000000200000 accepted (rc %d); PDE %#llx; want -EINVAL", rc,
                 (unsigned long long)pool[2][0]);
    assert_int_equal(rc, -EINVAL);
}

/* vmx_caps.c line 96: the index is (gpa >> shift) & 511, bits 63:48 are never looked at. */
static void test_bug_translate_aliases_above_2_48(void **state)
{
    (void)state;
    struct ept_chunk c[] = { { 0, 0x40000000, 0x200000 } };
    uint64_t root = 0;

    assert_int_equal(ept_map_chunks(&root, c, 1, true, fake_alloc, fake_p2v, NULL), 3);
    assert_int_equal(ept_translate(root, 0x1000, fake_p2v, NULL, NULL), 0x40001000ull);
    /* 2^48 + 0x1000 is not mapped (and cannot be, with a 4-level EPT) */
    assert_int_equal(ept_translate(root, (1ull << 48) + 0x1000, fake_p2v, NULL, NULL), ~0ull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_bug_hpa_beyond_52_bits_accepted, setup),
        cmocka_unit_test_setup(test_bug_hpa_high_bits_in_entry, setup),
        cmocka_unit_test_setup(test_bug_translate_aliases_above_2_48, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
