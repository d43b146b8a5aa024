/*
 * Host tests for drivers/pci_bar.c: BAR decoding from the value and the
 * all-ones read-back. Hand-written cases use what QEMU's devices answer
 * (e1000 BAR0, virtio-net's 64-bit prefetchable BAR4, a 16-bit I/O decoder);
 * a model of a BAR's hardware checks every size and type round trip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>

#include "drivers/pci_bar.h"
#include "support.h"

static void test_mem32(void **state)
{
    (void)state;
    struct pci_bar b;
    /* QEMU e1000 BAR0: 128 KiB, 32-bit, not prefetchable. */
    assert_int_equal(pci_bar_decode(0xfebc0000, 0, 0xfffe0000, 0, &b), 1);
    assert_int_equal(b.base, 0xfebc0000);
    assert_int_equal(b.size, 0x20000);
    assert_false(b.io);
    assert_false(b.is64);
    assert_false(b.prefetch);
    assert_true(pci_bar_mapped(&b));
}

static void test_mem64_prefetch(void **state)
{
    (void)state;
    struct pci_bar b;
    /* virtio-net modern BAR4: 16 KiB, 64-bit, prefetchable, placed above 4 GiB. */
    assert_int_equal(pci_bar_decode(0x0000000c, 0x8, 0xffffc00c, 0xffffffff, &b), 2);
    assert_int_equal(b.base, 0x800000000ull);
    assert_int_equal(b.size, 0x4000);
    assert_true(b.is64);
    assert_true(b.prefetch);
    assert_false(b.io);
    assert_false(pci_bar_mapped(&b));
    /* The same below 4 GiB is reachable. */
    assert_int_equal(pci_bar_decode(0xfe00000c, 0, 0xffffc00c, 0xffffffff, &b), 2);
    assert_int_equal(b.base, 0xfe000000);
    assert_true(pci_bar_mapped(&b));
}

static void test_mem64_huge(void **state)
{
    (void)state;
    struct pci_bar b;
    /* 8 GiB: every size bit is in the upper half. */
    assert_int_equal(pci_bar_decode(0x0000000c, 0x4, 0x0000000c, 0xfffffffe, &b), 2);
    assert_int_equal(b.size, 8ull << 30);
    assert_int_equal(b.base, 0x400000000ull);
}

static void test_io(void **state)
{
    (void)state;
    struct pci_bar b;
    assert_int_equal(pci_bar_decode(0xc001, 0, 0xffffffe1, 0, &b), 1);
    assert_true(b.io);
    assert_int_equal(b.base, 0xc000);
    assert_int_equal(b.size, 0x20);
    assert_false(pci_bar_mapped(&b));
    /* A 16-bit decoder reads the upper half back as zero, and may hold junk there. */
    assert_int_equal(pci_bar_decode(0x1234c041, 0, 0x0000ffc1, 0, &b), 1);
    assert_int_equal(b.base, 0xc040);
    assert_int_equal(b.size, 0x40);
}

static void test_unimplemented(void **state)
{
    (void)state;
    struct pci_bar b;
    assert_int_equal(pci_bar_decode(0, 0, 0, 0, &b), 1);
    assert_int_equal(b.size, 0);
    assert_int_equal(b.base, 0);
    assert_false(pci_bar_mapped(&b));
    /* An unimplemented 64-bit pair still takes both slots. */
    assert_int_equal(pci_bar_decode(0x4, 0, 0x4, 0, &b), 2);
    assert_int_equal(b.size, 0);
}

static void test_reserved_type(void **state)
{
    (void)state;
    struct pci_bar b = { .base = 1, .size = 1 };
    assert_int_equal(pci_bar_decode(0xfeb00006, 0, 0xfff00006, 0, &b), -EINVAL);
    assert_int_equal(b.size, 0);
    assert_int_equal(b.base, 0);
}

static void test_below_1m(void **state)
{
    (void)state;
    struct pci_bar b;
    /* Type 1 (PCI 2.x "below 1 MiB") decodes as a 32-bit BAR. */
    assert_int_equal(pci_bar_decode(0x000d0002, 0, 0xffff0002, 0, &b), 1);
    assert_int_equal(b.base, 0xd0000);
    assert_int_equal(b.size, 0x10000);
    assert_false(b.is64);
}

static void test_mapped_edges(void **state)
{
    (void)state;
    struct pci_bar b = { .base = 0xfff00000, .size = 0x100000 };
    assert_true(pci_bar_mapped(&b));        /* ends exactly at 4 GiB */
    b.base = 0xfff80000;
    assert_false(pci_bar_mapped(&b));       /* crosses it */
    b = (struct pci_bar){ .base = 0, .size = 0x1000 };
    assert_false(pci_bar_mapped(&b));       /* unassigned */
    b = (struct pci_bar){ .base = ~0ull - 0xfff, .size = 0x2000 };
    assert_false(pci_bar_mapped(&b));       /* wraps */
}

/* What a BAR of this size and kind reads back after all-ones, as the spec has hardware do. */
static void model(uint64_t base, uint64_t size, unsigned flags, bool is64, uint32_t *lo,
                  uint32_t *hi, uint32_t *lo_mask, uint32_t *hi_mask)
{
    uint64_t mask = ~(size - 1);
    if (!is64)
        mask &= 0xffffffffull;
    *lo = (uint32_t)base | flags;
    *hi = is64 ? (uint32_t)(base >> 32) : 0;
    *lo_mask = (uint32_t)mask | flags;
    *hi_mask = is64 ? (uint32_t)(mask >> 32) : 0;
}

static void test_model_round_trip(void **state)
{
    (void)state;
    for (unsigned shift = 4; shift < 48; shift++) {
        uint64_t size = 1ull << shift;
        for (int kind = 0; kind < 3; kind++) {
            bool is64 = kind == 2;
            bool io = kind == 0;
            if ((io && shift > 8) || (!is64 && shift > 31))
                continue;
            uint64_t base = io ? (0x1000 & ~(size - 1)) + size
                               : (is64 ? 0x1000000000ull : 0x80000000ull) & ~(size - 1);
            if (!base)
                base = size;
            unsigned flags = io ? 1 : (is64 ? 0xc : 0);
            uint32_t lo, hi, lo_mask, hi_mask;
            struct pci_bar b;
            model(base, size, flags, is64, &lo, &hi, &lo_mask, &hi_mask);
            assert_int_equal(pci_bar_decode(lo, hi, lo_mask, hi_mask, &b), is64 ? 2 : 1);
            assert_int_equal(b.size, size);
            assert_int_equal(b.base, base);
            assert_int_equal(b.io, io);
            assert_int_equal(b.is64, is64);
            assert_int_equal(b.prefetch, is64);
            assert_true(pci_bar_is64(lo) == is64);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mem32),
        cmocka_unit_test(test_mem64_prefetch),
        cmocka_unit_test(test_mem64_huge),
        cmocka_unit_test(test_io),
        cmocka_unit_test(test_unimplemented),
        cmocka_unit_test(test_reserved_type),
        cmocka_unit_test(test_below_1m),
        cmocka_unit_test(test_mapped_edges),
        cmocka_unit_test(test_model_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
