/*
 * Host tests for hv/base/delta.c: known encodings, round trips over random changes of every
 * shape against an independent check (the page rebuilt from the old copy), the cap, and
 * every malformed delta the decoder must refuse without writing outside the page (ASan).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "hv/base/delta.h"

#define P DELTA_PAGE

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* Encodes new against old, applies it to a copy of old: must give new. Returns the length. */
static int round_trip(const uint8_t *old, const uint8_t *new)
{
    static uint8_t d[2 * P], page[P];
    int n = delta_encode(old, new, d, sizeof(d));
    assert_true(n >= 0);
    memcpy(page, old, P);
    assert_int_equal(delta_apply(page, d, (size_t)n), 0);
    assert_memory_equal(page, new, P);
    /* The cap: exactly enough works and gives the same bytes, one byte less refuses. */
    static uint8_t d2[2 * P];
    assert_int_equal(delta_encode(old, new, d2, (size_t)n), n);
    assert_memory_equal(d2, d, (size_t)n);
    if (n)
        assert_int_equal(delta_encode(old, new, d2, (size_t)n - 1), -1);
    return n;
}

static void test_known_encodings(void **state)
{
    (void)state;
    static uint8_t old[P], new[P], d[64];
    assert_int_equal(delta_encode(old, new, d, sizeof(d)), 0);      /* no change */
    assert_int_equal(delta_apply(new, d, 0), 0);
    new[5] = 0xaa;
    assert_int_equal(delta_encode(old, new, d, sizeof(d)), 3);
    assert_memory_equal(d, ((uint8_t[]){ 5, 1, 0xaa }), 3);
    /* Two changes two bytes apart fold into one op; three apart make two. */
    new[8] = 0xbb;
    assert_int_equal(delta_encode(old, new, d, sizeof(d)), 6);
    assert_memory_equal(d, ((uint8_t[]){ 5, 4, 0xaa, 0, 0, 0xbb }), 6);
    new[8] = 0;
    new[9] = 0xbb;
    assert_int_equal(delta_encode(old, new, d, sizeof(d)), 6);
    assert_memory_equal(d, ((uint8_t[]){ 5, 1, 0xaa, 3, 1, 0xbb }), 6);
    /* Lengths of 128 and more take two bytes; the last byte of the page. */
    memset(new, 0, P);
    new[P - 1] = 1;
    assert_int_equal(delta_encode(old, new, d, sizeof(d)), 4);
    assert_memory_equal(d, ((uint8_t[]){ 0xff, 0x1f, 1, 1 }), 4);   /* skip 4095 */
    assert_int_equal(round_trip(old, new), 4);
}

static void test_round_trips(void **state)
{
    (void)state;
    static uint8_t old[P], new[P];
    for (int t = 0; t < 3000; t++) {
        for (unsigned i = 0; i < P; i++)
            old[i] = (uint8_t)(t % 3 ? rnd() : 0);
        memcpy(new, old, P);
        switch (t % 6) {
        case 0:                                     /* a few scattered bytes */
            for (unsigned k = rnd() % 8; k; k--)
                new[rnd() % P] ^= (uint8_t)(1 + rnd() % 255);
            break;
        case 1: {                                   /* one run */
            unsigned at = rnd() % P, n = 1 + rnd() % (P - at);
            for (unsigned i = at; i < at + n; i++)
                new[i] ^= (uint8_t)(1 + rnd() % 255);
            break;
        }
        case 2:                                     /* every word (a counter per word) */
            for (unsigned i = 0; i < P; i += 8)
                new[i] ^= 1;
            break;
        case 3:                                     /* the whole page */
            for (unsigned i = 0; i < P; i++)
                new[i] ^= (uint8_t)(1 + rnd() % 255);
            break;
        case 4:                                     /* the edges */
            new[0] ^= 0x80;
            new[P - 1] ^= 0x01;
            break;
        default:                                    /* sparse runs of every length */
            for (unsigned at = rnd() % 64; at < P; at += 1 + rnd() % 300)
                for (unsigned n = rnd() % 140; n && at < P; n--, at++)
                    new[at] ^= (uint8_t)(1 + rnd() % 255);
        }
        int n = round_trip(old, new);
        if (t % 6 == 4)
            assert_int_equal(n, 7);                /* skip 0, 1 byte; skip 4094, 1 byte */
    }
}

/* Work stops at the cap: a page that changed everywhere is refused at half a page. */
static void test_cap(void **state)
{
    (void)state;
    static uint8_t old[P], new[P], d[P / 2];
    for (unsigned i = 0; i < P; i++)
        new[i] = (uint8_t)(i | 1);
    assert_int_equal(delta_encode(old, new, d, sizeof(d)), -1);
    assert_int_equal(delta_encode(old, new, d, 0), -1);
    assert_int_equal(delta_encode(old, old, d, 0), 0);
}

static void test_malformed(void **state)
{
    (void)state;
    static uint8_t page[P];
    static const struct { uint8_t d[8]; size_t len; } bad[] = {
        { { 5 }, 1 },                               /* no n */
        { { 5, 0 }, 2 },                            /* n of 0 */
        { { 5, 2, 0xaa }, 3 },                      /* n past the delta's end */
        { { 0x80 }, 1 },                            /* a two-byte length cut */
        { { 0x80, 0x80, 0x01, 1, 1 }, 5 },          /* three length bytes */
        { { 0x80, 0x20, 1, 1 }, 4 },                /* skip 4096: nothing left to change */
        { { 0xff, 0x1f, 2, 1, 1 }, 5 },             /* skip 4095, 2 bytes: past the end */
        { { 0, 0x81, 0x20 }, 3 },                   /* n 4097 */
        { { 0, 1, 1, 0 }, 4 },                      /* a second op cut */
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
        assert_int_equal(delta_apply(page, bad[k].d, bad[k].len), -1);
    /* 4096 changed bytes from the start is the whole page: fine. */
    static uint8_t whole[2 + P];
    whole[0] = 0;
    whole[1] = 0x80;
    whole[2] = 0x20;
    memset(whole + 3, 7, P - 1);
    assert_int_equal(delta_apply(page, whole, 3 + P - 1), -1);      /* one byte short */
    static uint8_t full[3 + P];
    memcpy(full, whole, 3);
    memset(full + 3, 7, P);
    assert_int_equal(delta_apply(page, full, sizeof(full)), 0);
    assert_int_equal(page[P - 1], 7);
}

/* Every cut and every byte flip of real deltas: refused or applied, never outside the page
 * (ASan watches the heap copies, which end exactly at the page). */
static void test_mutations(void **state)
{
    (void)state;
    static uint8_t old[P], new[P], d[P];
    for (unsigned i = 0; i < P; i++)
        old[i] = new[i] = (uint8_t)rnd();
    for (unsigned at = 3; at < P; at += 97)
        new[at] ^= 0x5a;
    new[P - 1] ^= 1;
    int n = delta_encode(old, new, d, sizeof(d));
    assert_true(n > 0);
    uint8_t *page = test_malloc(P), *copy = test_malloc((size_t)n);
    for (int cut = 0; cut <= n; cut++) {
        memcpy(copy, d, (size_t)cut);
        memcpy(page, old, P);
        int rc = delta_apply(page, copy, (size_t)cut);
        assert_true(rc == 0 || rc == -1);
    }
    for (int i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, d, (size_t)n);
            copy[i] ^= (uint8_t)(1 << bit);
            memcpy(page, old, P);
            int rc = delta_apply(page, copy, (size_t)n);
            assert_true(rc == 0 || rc == -1);
        }
    test_free(copy);
    test_free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_encodings), cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_cap), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
