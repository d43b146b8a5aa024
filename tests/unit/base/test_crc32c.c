/*
 * Host tests for hv/base/crc32c.c: the check value, the RFC 3720 (iSCSI) vectors,
 * chaining, and both paths (slicing-by-8 and the crc32 instruction, where this
 * CPU has it) against a bit-at-a-time reference at every alignment and tail
 * length; crc32c_update is whichever the CPU allows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hv/base/crc32c.h"

static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
    }
    return ~crc;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint8_t rnd8(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)rng;
}

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static void test_check_value(void **state)
{
    crc_fn impl = *state;
    if (!impl)
        skip();
    assert_int_equal(impl(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(impl(0, "", 0), 0);
    assert_int_equal(impl(0x12345678u, "", 0), 0x12345678u);
    assert_int_equal(impl(0, "a", 1), 0xc1d04330u);
}

/* RFC 3720 appendix B.4. */
static void test_rfc3720_vectors(void **state)
{
    crc_fn impl = *state;
    if (!impl)
        skip();
    static const uint8_t pdu[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    uint8_t b[32];

    memset(b, 0, sizeof(b));
    assert_int_equal(impl(0, b, 32), 0x8a9136aau);
    memset(b, 0xff, sizeof(b));
    assert_int_equal(impl(0, b, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    assert_int_equal(impl(0, b, 32), 0x46dd794eu);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(31 - i);
    assert_int_equal(impl(0, b, 32), 0x113fdb5cu);
    assert_int_equal(impl(0, pdu, sizeof(pdu)), 0xd9963a56u);
}

static void test_chaining(void **state)
{
    crc_fn impl = *state;
    if (!impl)
        skip();
    const char *s = "The quick brown fox jumps over the lazy dog, twice over.";
    size_t n = strlen(s);
    uint32_t whole = impl(0, s, n);

    for (size_t cut = 0; cut <= n; cut++)
        assert_int_equal(impl(impl(0, s, cut), s + cut, n - cut), whole);
}

static void test_against_bitwise(void **state)
{
    crc_fn impl = *state;
    if (!impl)
        skip();
    static uint8_t buf[4096 + 16];

    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = rnd8();
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len <= 80; len++)
            assert_int_equal(impl(0, buf + off, len), crc_bitwise(0, buf + off, len));
    for (int i = 0; i < 200; i++) {
        size_t off = rnd8() % 16, len = (size_t)(rnd8() << 4 | rnd8() % 16) % 4096;
        uint32_t seed = (uint32_t)rnd8() << 24 | rnd8();

        assert_int_equal(impl(seed, buf + off, len), crc_bitwise(seed, buf + off, len));
    }
}

/* Runs every test with the implementation in state; the instruction's only where it exists. */
static int with_sw(void **state)
{
    *state = (void *)crc32c_sw;
    return 0;
}

static int with_hw(void **state)
{
    if (!crc32c_hw_ok())
        printf("no SSE4.2 on this CPU: crc32c_hw not tested\n");
    *state = crc32c_hw_ok() ? (void *)crc32c_hw : NULL;
    return 0;
}

static int with_update(void **state)
{
    *state = (void *)crc32c_update;
    return 0;
}

#define EACH(t) cmocka_unit_test_setup(t, with_sw), cmocka_unit_test_setup(t, with_hw), \
                cmocka_unit_test_setup(t, with_update)

int main(void)
{
    const struct CMUnitTest tests[] = {
        EACH(test_check_value), EACH(test_rfc3720_vectors), EACH(test_chaining),
        EACH(test_against_bitwise),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
