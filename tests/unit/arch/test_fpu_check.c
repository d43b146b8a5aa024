/*
 * Host tests for arch/x86_64/fpu_check.c: an XSAVE area from another host is loaded only if
 * XRSTOR on this CPU would take it. The CPU is described (struct fpu_caps) as an AVX-512 part
 * with the usual standard-form offsets; areas are built the way the source's XSAVE leaves them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "arch/x86_64/fpu.h"

#define AREA 2688                       /* x87 SSE AVX opmask ZMM_Hi256 Hi16_ZMM PKRU: 2696 */

static struct fpu_caps caps;
static uint8_t area[4096] __attribute__((aligned(64)));

static void put64(size_t off, uint64_t v) { memcpy(area + off, &v, 8); }
static void put32(size_t off, uint32_t v) { memcpy(area + off, &v, 4); }

static int setup(void **state)
{
    (void)state;
    memset(&caps, 0, sizeof(caps));
    caps.supported = 0x2e7;             /* x87 SSE AVX opmask ZMM_Hi256 Hi16_ZMM PKRU */
    caps.area_size = 2752;
    caps.mxcsr_mask = 0xffff;
    caps.comp_end[2] = 576 + 256;
    caps.comp_end[5] = 1088 + 64;
    caps.comp_end[6] = 1152 + 512;
    caps.comp_end[7] = 1664 + 1024;
    caps.comp_end[9] = 2688 + 8;
    memset(area, 0, sizeof(area));
    put32(24, 0x1f80);                  /* MXCSR after reset */
    put64(512, 0x7);                    /* x87 SSE AVX in use */
    return 0;
}

static int check(size_t n, uint64_t xcr0)
{
    char why[120];
    return fpu_area_valid(&caps, area, n, xcr0, why, sizeof(why));
}

static void test_good_areas(void **state)
{
    (void)state;
    assert_int_equal(check(576 + 256, 0x7), 0);         /* just through AVX */
    assert_int_equal(check(AREA + 64, 0x2e7), 0);
    put64(512, 0x0);                    /* everything in its init state */
    assert_int_equal(check(576, 0x1), 0);
}

static void test_size(void **state)
{
    (void)state;
    assert_int_equal(check(512, 0x7), -1);              /* no header */
    assert_int_equal(check(576 + 255, 0x7), -1);        /* not 64-aligned */
    assert_int_equal(check(576, 0x7), -1);              /* AVX named, not sent */
    assert_int_equal(check(2816, 0x2e7), -1);           /* larger than this CPU's */
}

/* XCOMP_BV (compacted form) and each reserved header byte: XRSTOR would #GP in the host. */
static void test_header(void **state)
{
    (void)state;
    put64(520, 1ull << 63 | 0x7);
    assert_int_equal(check(1024, 0x7), -1);
    put64(520, 0);
    for (size_t i = 528; i < 576; i++) {
        area[i] = 0x80;
        assert_int_equal(check(1024, 0x7), -1);
        area[i] = 0;
    }
    assert_int_equal(check(1024, 0x7), 0);
}

/* XSTATE_BV must stay within what the vCPU may hold, and within what this CPU has. */
static void test_xstate_bv(void **state)
{
    char why[120];
    (void)state;
    put64(512, 0xe7);                   /* AVX-512 state for a vCPU without it */
    assert_int_equal(check(AREA, 0x7), -1);
    assert_int_equal(fpu_area_valid(&caps, area, AREA, 0x7, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "XSTATE_BV"));
    assert_int_equal(check(AREA, 0xe7), 0);
    put64(512, 0x7 | 1ull << 3);        /* MPX BNDREGS: not on this CPU */
    assert_int_equal(check(AREA, 0xff), -1);
    put64(512, 0x7 | 1ull << 62);
    assert_int_equal(check(AREA, ~0ull), -1);
}

/* MXCSR with bits outside MXCSR_MASK: FXRSTOR/XRSTOR #GP. */
static void test_mxcsr(void **state)
{
    char why[120];
    (void)state;
    put32(24, 0xffffffff);
    assert_int_equal(fpu_area_valid(&caps, area, 1024, 0x7, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "MXCSR"));
    put32(24, 0x1f80 | 1u << 16);
    assert_int_equal(check(1024, 0x7), -1);
    caps.mxcsr_mask = 0xffbf;           /* no DAZ */
    put32(24, 0x1fc0);
    assert_int_equal(check(1024, 0x7), -1);
    put32(24, 0xffbf);
    assert_int_equal(check(1024, 0x7), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(test_good_areas), T(test_size), T(test_header), T(test_xstate_bv), T(test_mxcsr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
