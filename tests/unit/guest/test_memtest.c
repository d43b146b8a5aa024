/*
 * Host tests for the test guest's core (tests/guest/memtest/memtest_core.c):
 * the same code the guest runs, minus port I/O, CPUID and halting. Guest
 * RAM is a heap buffer standing at guest-physical BASE (map = buf - BASE);
 * the TSC is a counter the test controls.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtest_core.h"

#define BASE 0x104000ull                /* a plausible end of the image */

static uint64_t fake_tsc;
static int64_t tsc_step = 1000;

static uint64_t tsc_fn(void)
{
    fake_tsc += (uint64_t)tsc_step;
    return fake_tsc;
}

/* ---- formatting ---- */

static const char *dec(uint64_t v)
{
    static struct mt_line l;

    mt_line_reset(&l);
    mt_put_dec(&l, v);
    return l.buf;
}

static const char *hex(uint64_t v, unsigned digits)
{
    static struct mt_line l;

    mt_line_reset(&l);
    mt_put_hex(&l, v, digits);
    return l.buf;
}

static void test_format_numbers(void **state)
{
    (void)state;
    assert_string_equal(dec(0), "0");
    assert_string_equal(dec(7), "7");
    assert_string_equal(dec(10), "10");
    assert_string_equal(dec(1234567890), "1234567890");
    assert_string_equal(dec(UINT64_MAX), "18446744073709551615");
    assert_string_equal(hex(0, 1), "0");
    assert_string_equal(hex(0, 8), "00000000");
    assert_string_equal(hex(0xdeadbeef, 8), "deadbeef");
    assert_string_equal(hex(0x1d, 8), "0000001d");
    assert_string_equal(hex(0x80000001, 1), "80000001");
    assert_string_equal(hex(0x123456789, 8), "123456789");
    assert_string_equal(hex(UINT64_MAX, 1), "ffffffffffffffff");
    assert_string_equal(hex(0xab, 40), "ab");     /* absurd widths are ignored */
}

static void test_line_building_and_truncation(void **state)
{
    struct mt_line l;

    (void)state;
    mt_line_reset(&l);
    mt_put_str(&l, "CPUID leaf=0x");
    mt_put_hex(&l, 7, 1);
    mt_put_str(&l, " eax=");
    mt_put_hex(&l, 0, 8);
    mt_put_strn(&l, " ignored-tail", 1);
    mt_line_end(&l);
    assert_string_equal(l.buf, "CPUID leaf=0x7 eax=00000000 \n");
    assert_int_equal(l.len, strlen(l.buf));

    mt_line_reset(&l);
    for (unsigned i = 0; i < 2 * MT_LINE_MAX; i++)
        mt_put_str(&l, "x");
    assert_int_equal(l.len, MT_LINE_MAX - 1);
    mt_line_end(&l);
    assert_int_equal(l.len, MT_LINE_MAX - 1);
    assert_int_equal(l.buf[l.len - 1], '\n');
    assert_int_equal(l.buf[l.len], 0);
}

/* ---- cmdline ---- */

static void test_cmdline_defaults(void **state)
{
    struct mt_config c;

    (void)state;
    mt_parse_cmdline(NULL, &c);
    assert_int_equal(c.hb, 64);
    assert_int_equal(c.pages, 16);
    assert_int_equal(c.delay, 0);
    assert_int_equal(c.mode, MT_MODE_NORMAL);
    assert_int_equal(c.bad_words, 0);
    mt_parse_cmdline("   ", &c);
    assert_int_equal(c.hb, 64);
    assert_int_equal(c.bad_words, 0);
}

static void test_cmdline_values(void **state)
{
    struct mt_config c;

    (void)state;
    mt_parse_cmdline("hb=4 pages=2\tdelay=9", &c);
    assert_int_equal(c.hb, 4);
    assert_int_equal(c.pages, 2);
    assert_int_equal(c.delay, 9);
    assert_int_equal(c.bad_words, 0);
    mt_parse_cmdline("  pages=0  mode=triple ", &c);
    assert_int_equal(c.pages, 0);
    assert_int_equal(c.mode, MT_MODE_TRIPLE);
    mt_parse_cmdline("pages=100 mode=idle", &c);   /* idle wins over pages */
    assert_int_equal(c.mode, MT_MODE_IDLE);
    assert_int_equal(c.pages, 0);
    assert_int_equal(c.delay, MT_IDLE_DELAY);
    mt_parse_cmdline("mode=idle delay=5", &c);
    assert_int_equal(c.delay, 5);
    mt_parse_cmdline("mode=idle mode=normal", &c);
    assert_int_equal(c.mode, MT_MODE_NORMAL);
    assert_int_equal(c.pages, 16);
    assert_int_equal(c.xcr0, 0);
    assert_false(c.hypercall);
    mt_parse_cmdline("hypercall=42", &c);
    assert_true(c.hypercall);
    assert_int_equal(c.hypercall_nr, 42);
    mt_parse_cmdline("hypercall=x", &c);
    assert_false(c.hypercall);
    assert_int_equal(c.bad_words, 1);
    mt_parse_cmdline("pit=1", &c);
    assert_true(c.pit);
    mt_parse_cmdline("pit=2", &c);
    assert_false(c.pit);
    mt_parse_cmdline("exit=3", &c);
    assert_true(c.exit);
    assert_int_equal(c.exit_code, 3);
    mt_parse_cmdline("exit=4294967296", &c);                 /* more than 32 bits */
    assert_false(c.exit);
    mt_parse_cmdline("xcr0=231", &c);
    assert_int_equal(c.xcr0, 0xe7);
    mt_parse_cmdline("xcr0=0 xcr0=0x7", &c);      /* decimal, and not 0 */
    assert_int_equal(c.xcr0, 0);
    assert_int_equal(c.bad_words, 2);
}

static void test_cmdline_bad_words(void **state)
{
    const char *s = "hb=8 foo hb=0 pages=x mode=weird hb= =3 hbx=1 pages=1234567890123 pages=5";
    struct mt_config c;

    (void)state;
    mt_parse_cmdline(s, &c);
    assert_int_equal(c.bad_words, 8);
    assert_int_equal(c.bad_len, 3);
    assert_memory_equal(c.bad, "foo", 3);
    assert_int_equal(c.hb, 8);                      /* hb=0 refused */
    assert_int_equal(c.pages, 5);
    assert_int_equal(c.mode, MT_MODE_NORMAL);
}

/* ---- page contents ---- */

static void test_fill_and_checksum_detect_every_bit_flip(void **state)
{
    static uint64_t page[MT_WORDS];
    struct mt_record r;

    (void)state;
    r = mt_fill(page, 0x200000, 3);
    assert_int_equal(r.gen, 3);
    assert_int_equal(r.sum, mt_checksum(page));
    assert_true(mt_page_ok(page, 0x200000, &r));
    for (unsigned bit = 0; bit < MT_PAGE * 8; bit++) {
        page[bit / 64] ^= 1ull << (bit % 64);
        assert_int_not_equal(mt_checksum(page), r.sum);
        assert_false(mt_page_ok(page, 0x200000, &r));
        page[bit / 64] ^= 1ull << (bit % 64);
    }
    assert_true(mt_page_ok(page, 0x200000, &r));
}

static void test_checksum_detects_swaps_and_stale_pages(void **state)
{
    static uint64_t page[MT_WORDS], other[MT_WORDS];
    struct mt_record r = mt_fill(page, 0x200000, 5), r2;
    uint64_t t;

    (void)state;
    t = page[3], page[3] = page[200], page[200] = t;   /* two words swapped */
    assert_int_not_equal(mt_checksum(page), r.sum);
    assert_false(mt_page_ok(page, 0x200000, &r));
    mt_fill(page, 0x200000, 5);
    /* The previous generation, another page's contents, a wrong record: all refused. */
    r2 = mt_fill(other, 0x200000, 4);
    assert_false(mt_page_ok(other, 0x200000, &r));
    assert_true(mt_page_ok(other, 0x200000, &r2));
    r2 = mt_fill(other, 0x201000, 5);
    assert_false(mt_page_ok(other, 0x200000, &r));
    r2 = r;
    r2.gen = 6;
    assert_false(mt_page_ok(page, 0x200000, &r2));
    r2 = r;
    r2.sum ^= 1;
    assert_false(mt_page_ok(page, 0x200000, &r2));
    /* Different generations differ in (almost) every word. */
    mt_fill(other, 0x200000, 6);
    unsigned same = 0;
    for (unsigned w = 0; w < MT_WORDS; w++)
        same += page[w] == other[w];
    assert_int_equal(same, 0);
}

/* ---- slices ---- */

static void check_slices(uint64_t free_base, uint64_t mem, unsigned n)
{
    uint64_t start = (free_base + 4095) & ~4095ull, prev_end = start;

    for (unsigned i = 0; i < n; i++) {
        struct mt_slice s;

        mt_slice_init(&s, free_base, mem, i, n);
        assert_int_equal(s.base % 4096, 0);
        assert_true(s.base >= prev_end || s.pages == 0);
        assert_true(s.base + s.pages * 4096 <= (mem > start ? mem : start));
        assert_int_equal(s.table_pages + s.test_pages, s.pages);
        assert_true(s.table_pages * 256 >= s.test_pages);      /* records fit */
        assert_true(s.test_pages + 1 >= s.pages * 256 / 257);     /* no table to spare */
        if (mem > start)
            assert_true((mem - start) / 4096 - s.pages * n < n);  /* even split */
        prev_end = s.base + s.pages * 4096;
    }
}

static void test_slice_layout(void **state)
{
    (void)state;
    for (unsigned n = 1; n <= 8; n++) {
        check_slices(0x104000, 64ull << 20, n);
        check_slices(0x103abc, 8ull << 20, n);
        check_slices(0x104000, 4ull << 30, n);
        check_slices(0x104000, 0x104000 + 257 * 4096 * n, n);
        check_slices(0x104000, 0x104000 + 258 * 4096 * n, n);
        check_slices(0x104000, 0x104000 + 3 * 4096, n);
        check_slices(0x104000, 0x100000, n);                /* no room at all */
    }

    struct mt_slice s;

    mt_slice_init(&s, 0x104000, 0x104000 + 514 * 4096, 1, 2);
    assert_int_equal(s.base, 0x104000 + 257 * 4096);
    assert_int_equal(s.pages, 257);
    assert_int_equal(s.table_pages, 1);
    assert_int_equal(s.test_pages, 256);
    mt_slice_init(&s, 0x104000, 0x104000 + 258 * 4096, 0, 1);
    assert_int_equal(s.table_pages, 2);
    assert_int_equal(s.test_pages, 256);
}

/* ---- the loop ---- */

static uint8_t *ram;
static struct mt_vcpu v;

/* `pages` test memory pages for vCPU `index` of `n`. */
static void start(uint64_t pages_per_vcpu, unsigned index, unsigned n, const char *cmdline)
{
    uint64_t mem = BASE + pages_per_vcpu * n * 4096;
    struct mt_config c;
    struct mt_slice s;

    free(ram);
    ram = calloc(1, mem - BASE);
    fake_tsc = 0;
    tsc_step = 1000;
    mt_parse_cmdline(cmdline, &c);
    mt_slice_init(&s, BASE, mem, index, n);
    mt_vcpu_init(&v, &c, &s, index, (uintptr_t)ram - BASE, tsc_fn);
}

static int teardown(void **state)
{
    (void)state;
    free(ram);
    ram = NULL;
    return 0;
}

static uint64_t *page_at(uint64_t i)
{
    return (uint64_t *)(ram + (v.slice.base - BASE) + (v.slice.table_pages + i) * 4096);
}

static struct mt_record *record(uint64_t i)
{
    return (struct mt_record *)(ram + (v.slice.base - BASE)) + i;
}

static void test_heartbeats(void **state)
{
    struct mt_line l;
    unsigned hbs = 0;
    uint64_t gens = 0;
    char want[128];

    (void)state;
    start(300, 1, 2, "hb=4 pages=3");
    assert_int_equal(v.slice.test_pages, 298);
    for (unsigned it = 1; it <= 40; it++) {
        int rc = mt_step(&v, &l);

        if (it % 4) {
            assert_int_equal(rc, MT_STEP_QUIET);
            assert_int_equal(l.len, 0);
            continue;
        }
        assert_int_equal(rc, MT_STEP_HB);
        hbs++;
        snprintf(want, sizeof(want), "HB seq=%u vcpu=1 dirtied=12 check=ok tsc=%llu\n", hbs,
                 (unsigned long long)fake_tsc);
        assert_string_equal(l.buf, want);
    }
    assert_int_equal(hbs, 10);
    assert_int_equal(v.dirtied_total, 120);
    for (uint64_t i = 0; i < v.slice.test_pages; i++) {
        uint64_t gpa = v.slice.base + (v.slice.table_pages + i) * 4096;

        assert_true(mt_page_ok(page_at(i), gpa, record(i)));
        gens += record(i)->gen;
    }
    assert_int_equal(gens, 120);                    /* every rewrite bumped one record */
    assert_int_equal(v.sweep_next, (10 * 256) % 298);
}

static void test_vcpus_pick_different_pages(void **state)
{
    uint64_t a = 0x9e3779b97f4a7c15ull, b = a * 2, a2 = a;

    (void)state;
    for (unsigned i = 0; i < 100; i++) {
        uint64_t x = mt_xorshift(&a), y = mt_xorshift(&b);

        assert_int_not_equal(x, y);
        assert_int_equal(x, mt_xorshift(&a2));
    }
}

static void test_flipped_bit_found_by_dirtying(void **state)
{
    struct mt_line l;
    char want[160];
    int rc = MT_STEP_QUIET;
    unsigned it = 0;

    (void)state;
    start(40, 0, 1, "hb=1000 pages=4");
    page_at(7)[100] ^= 1ull << 33;
    while (rc != MT_STEP_BAD && it++ < 10000)
        rc = mt_step(&v, &l);
    assert_int_equal(rc, MT_STEP_BAD);
    snprintf(want, sizeof(want), "HB seq=1 vcpu=0 dirtied=%llu check=BAD page=0x%llx tsc=%llu\n",
             (unsigned long long)v.dirtied_total,
             (unsigned long long)(v.slice.base + (v.slice.table_pages + 7) * 4096),
             (unsigned long long)fake_tsc);
    assert_string_equal(l.buf, want);
}

/* Idle: nothing is dirtied, the heartbeat sweep must still find it. */
static void test_flipped_bit_found_by_sweep(void **state)
{
    struct mt_line l;
    unsigned hbs = 0;
    int rc;

    (void)state;
    start(1000, 0, 1, "hb=2 mode=idle");
    assert_int_equal(v.slice.test_pages, 996);
    page_at(900)[0] ^= 1;
    do {
        rc = mt_step(&v, &l);
        if (rc == MT_STEP_HB) {
            assert_non_null(strstr(l.buf, " dirtied=0 check=ok "));
            hbs++;
        }
    } while (rc != MT_STEP_BAD && hbs < 10);
    assert_int_equal(rc, MT_STEP_BAD);
    assert_int_equal(hbs, 3);                       /* windows 0-255, ..., 768-1023 */
    assert_non_null(strstr(l.buf, "HB seq=4 vcpu=0 dirtied=0 check=BAD page=0x"));
}

/* Scribble: the iteration number into word 0 of random pages, no verification at all. */
static void test_scribble(void **state)
{
    struct mt_line l;
    uint64_t touched = 0;

    (void)state;
    start(40, 0, 1, "hb=5 pages=7 mode=scribble");
    assert_int_equal(v.cfg.mode, MT_MODE_SCRIBBLE);
    for (unsigned it = 1; it <= 20; it++)
        assert_int_equal(mt_step(&v, &l), it % 5 ? MT_STEP_QUIET : MT_STEP_HB);
    assert_non_null(strstr(l.buf, "HB seq=4 vcpu=0 dirtied=35 check=ok "));
    assert_int_equal(v.dirtied_total, 140);
    for (uint64_t i = 0; i < v.slice.test_pages; i++) {
        uint64_t gpa = v.slice.base + (v.slice.table_pages + i) * 4096;

        if (page_at(i)[0] != mt_word(gpa, 0, 0)) {
            assert_true(page_at(i)[0] < 20);        /* the iteration that wrote it */
            touched++;
        }
        assert_int_equal(page_at(i)[1], mt_word(gpa, 1, 0));   /* only word 0 */
        assert_int_equal(record(i)->gen, 0);
    }
    assert_true(touched > 20 && touched <= v.slice.test_pages);
}

static void test_corrupt_record_found(void **state)
{
    struct mt_line l;
    int rc;

    (void)state;
    start(10, 0, 1, "hb=1 pages=0");
    record(3)->gen = 1;
    rc = mt_step(&v, &l);
    assert_int_equal(rc, MT_STEP_BAD);
    assert_non_null(strstr(l.buf, "check=BAD page=0x"));
}

static void test_tsc_backwards(void **state)
{
    struct mt_line l;

    (void)state;
    start(10, 2, 3, "hb=1 pages=1");
    assert_int_equal(mt_step(&v, &l), MT_STEP_HB);
    assert_non_null(strstr(l.buf, "HB seq=1 vcpu=2 dirtied=1 check=ok tsc=2000\n"));
    fake_tsc = 500;
    assert_int_equal(mt_step(&v, &l), MT_STEP_HB);
    assert_string_equal(l.buf, "HB seq=2 vcpu=2 dirtied=1 check=BAD tsc went backwards tsc=1500\n");
    assert_int_equal(mt_step(&v, &l), MT_STEP_HB);   /* reported once, then compared anew */
    assert_string_equal(l.buf, "HB seq=3 vcpu=2 dirtied=1 check=ok tsc=2500\n");
}

static void test_no_test_pages(void **state)
{
    struct mt_line l;

    (void)state;
    start(1, 0, 1, "hb=1 pages=16");
    assert_int_equal(v.slice.test_pages, 0);
    assert_int_equal(mt_step(&v, &l), MT_STEP_HB);
    assert_non_null(strstr(l.buf, "HB seq=1 vcpu=0 dirtied=0 check=ok"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_numbers),
        cmocka_unit_test(test_line_building_and_truncation),
        cmocka_unit_test(test_cmdline_defaults),
        cmocka_unit_test(test_cmdline_values),
        cmocka_unit_test(test_cmdline_bad_words),
        cmocka_unit_test(test_fill_and_checksum_detect_every_bit_flip),
        cmocka_unit_test(test_checksum_detects_swaps_and_stale_pages),
        cmocka_unit_test(test_slice_layout),
        cmocka_unit_test(test_vcpus_pick_different_pages),
        cmocka_unit_test_teardown(test_heartbeats, teardown),
        cmocka_unit_test_teardown(test_flipped_bit_found_by_dirtying, teardown),
        cmocka_unit_test_teardown(test_flipped_bit_found_by_sweep, teardown),
        cmocka_unit_test_teardown(test_scribble, teardown),
        cmocka_unit_test_teardown(test_corrupt_record_found, teardown),
        cmocka_unit_test_teardown(test_tsc_backwards, teardown),
        cmocka_unit_test_teardown(test_no_test_pages, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
