/*
 * Host tests for hv/base/cmdline.c: word splitting with quotes, key=value options and the
 * bounded number parser the console and ferry.cfg share.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/cmdline.h"
#include "support.h"

static char buf[1024];
static char *argv[CMDLINE_MAX_ARGS + 8];

/* Splits a copy of `line`; the sentinel after the last slot catches writes past max. */
static int split(const char *line, int max)
{
    static char sentinel;

    snprintf(buf, sizeof(buf), "%s", line);
    for (size_t i = 0; i < sizeof(argv) / sizeof(argv[0]); i++)
        argv[i] = &sentinel;
    int rc = cmdline_split(buf, argv, max);
    assert_ptr_equal(argv[max], &sentinel);
    return rc;
}

static void assert_words(const char *line, int n, const char *const *want)
{
    int argc = split(line, CMDLINE_MAX_ARGS);

    if (argc != n)
        fail_msg("'%s': %d words, want %d", line, argc, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(argv[i], want[i]);
    /* words point into the caller's buffer */
    for (int i = 0; i < n; i++)
        assert_true(argv[i] >= buf && argv[i] < buf + sizeof(buf));
}

/* ---- cmdline_split ---- */

static void test_split_plain(void **state)
{
    (void)state;
    assert_words("vm start web", 3, (const char *[]){ "vm", "start", "web" });
    assert_words("one", 1, (const char *[]){ "one" });
    assert_words("a  b   c", 3, (const char *[]){ "a", "b", "c" });
}

static void test_split_whitespace(void **state)
{
    (void)state;
    assert_words("   lead and trail   ", 3, (const char *[]){ "lead", "and", "trail" });
    assert_words("\ttab\tsep\t\t x\t", 3, (const char *[]){ "tab", "sep", "x" });
    assert_words("crlf line\r\n", 2, (const char *[]){ "crlf", "line" });
    assert_int_equal(split("", CMDLINE_MAX_ARGS), 0);
    assert_int_equal(split("  \t \r\n ", CMDLINE_MAX_ARGS), 0);
}

static void test_split_quotes(void **state)
{
    (void)state;
    assert_words("vm create args=\"console=ttyS0 quiet\" mem=64",
                 4, (const char *[]){ "vm", "create", "args=console=ttyS0 quiet", "mem=64" });
    assert_words("\"a b\" c", 2, (const char *[]){ "a b", "c" });
    assert_words("x\"y z\"w next", 2, (const char *[]){ "xy zw", "next" });
    assert_words("\"\" empty", 2, (const char *[]){ "", "empty" });
    assert_words("\"tab\tin\"", 1, (const char *[]){ "tab\tin" });
    assert_words("\"  \"", 1, (const char *[]){ "  " });
    assert_words("a\"\"b", 1, (const char *[]){ "ab" });
}

static void test_split_unterminated_quote(void **state)
{
    (void)state;
    assert_int_equal(split("echo \"never closed", CMDLINE_MAX_ARGS), -EINVAL);
    assert_int_equal(split("\"", CMDLINE_MAX_ARGS), -EINVAL);
    assert_int_equal(split("a \"b\" \"c", CMDLINE_MAX_ARGS), -EINVAL);
    assert_int_equal(split("ok\"", CMDLINE_MAX_ARGS), -EINVAL);
}

static void test_split_too_many(void **state)
{
    char line[256] = "";

    (void)state;
    for (int i = 0; i < CMDLINE_MAX_ARGS; i++)
        strcat(line, "w ");
    assert_int_equal(split(line, CMDLINE_MAX_ARGS), CMDLINE_MAX_ARGS);
    assert_string_equal(argv[CMDLINE_MAX_ARGS - 1], "w");
    strcat(line, "one-more");
    assert_int_equal(split(line, CMDLINE_MAX_ARGS), -E2BIG);
    /* small max; trailing blanks after the last word do not count as a word */
    assert_int_equal(split("a b c", 2), -E2BIG);
    assert_int_equal(split("a b   ", 2), 2);
    assert_int_equal(split("a", 0), -E2BIG);
    assert_int_equal(split("   ", 0), 0);
}

/* ---- cmdline_opt ---- */

static void test_opt(void **state)
{
    (void)state;
    assert_string_equal(cmdline_opt("mem=64", "mem"), "64");
    assert_string_equal(cmdline_opt("mem=", "mem"), "");
    assert_string_equal(cmdline_opt("args=a=b", "args"), "a=b");
    assert_null(cmdline_opt("mem", "mem"));
    assert_null(cmdline_opt("memory=64", "mem"));
    assert_null(cmdline_opt("me=64", "mem"));
    assert_null(cmdline_opt("MEM=64", "mem"));
    assert_null(cmdline_opt("", "mem"));
    assert_null(cmdline_opt("=64", "mem"));
    const char *w = "cpus=4";
    assert_ptr_equal(cmdline_opt(w, "cpus"), w + 5);
}

/* ---- cmdline_u64 ---- */

static void assert_u64(const char *s, uint64_t min, uint64_t max, uint64_t want)
{
    uint64_t v = 0xdeadbeef;

    if (cmdline_u64(s, min, max, &v) != 0)
        fail_msg("'%s' refused", s);
    assert_int_equal(v, want);
}

static void assert_u64_err(const char *s, uint64_t min, uint64_t max, int err)
{
    uint64_t v = 0xdeadbeef;

    if (cmdline_u64(s, min, max, &v) != err)
        fail_msg("'%s': want %d", s ? s : "(null)", err);
    assert_int_equal(v, 0xdeadbeef);        /* untouched on error */
}

static void test_u64_decimal(void **state)
{
    (void)state;
    assert_u64("0", 0, UINT64_MAX, 0);
    assert_u64("7", 0, UINT64_MAX, 7);
    assert_u64("007", 0, UINT64_MAX, 7);        /* decimal, not octal */
    assert_u64("115200", 0, UINT64_MAX, 115200);
    assert_u64("18446744073709551615", 0, UINT64_MAX, UINT64_MAX);
    assert_u64_err("18446744073709551616", 0, UINT64_MAX, -ERANGE);
    assert_u64_err("18446744073709551620", 0, UINT64_MAX, -ERANGE);
    assert_u64_err("99999999999999999999999", 0, UINT64_MAX, -ERANGE);
    /* wraps to a larger number than before the last digit: a naive check misses it */
    assert_u64_err("30000000000000000000", 0, UINT64_MAX, -ERANGE);
}

static void test_u64_hex(void **state)
{
    (void)state;
    assert_u64("0x0", 0, UINT64_MAX, 0);
    assert_u64("0x1f", 0, UINT64_MAX, 31);
    assert_u64("0X1F", 0, UINT64_MAX, 31);
    assert_u64("0xDeadBeef", 0, UINT64_MAX, 0xdeadbeef);
    assert_u64("0xffffffffffffffff", 0, UINT64_MAX, UINT64_MAX);
    assert_u64("0x0000000000000000001", 0, UINT64_MAX, 1);
    assert_u64_err("0x10000000000000000", 0, UINT64_MAX, -ERANGE);
    assert_u64_err("0x1ffffffffffffffff", 0, UINT64_MAX, -ERANGE);
    assert_u64_err("0x", 0, UINT64_MAX, -EINVAL);
    assert_u64_err("0X", 0, UINT64_MAX, -EINVAL);
    assert_u64_err("0xg", 0, UINT64_MAX, -EINVAL);
    assert_u64_err("1f", 0, UINT64_MAX, -EINVAL);   /* hex digits need the prefix */
    assert_u64_err("0x0x1", 0, UINT64_MAX, -EINVAL);
}

static void test_u64_bounds(void **state)
{
    (void)state;
    assert_u64("300", 300, 115200, 300);
    assert_u64("115200", 300, 115200, 115200);
    assert_u64_err("299", 300, 115200, -ERANGE);
    assert_u64_err("115201", 300, 115200, -ERANGE);
    assert_u64_err("0", 1, 10, -ERANGE);
    assert_u64_err("0x10", 0, 15, -ERANGE);
    assert_u64("5", 5, 5, 5);
    assert_u64_err("4", 5, 5, -ERANGE);
}

static void test_u64_junk(void **state)
{
    static const char *const junk[] = {
        "", " 1", "1 ", "+1", "-1", "1k", "12a", "abc", "1.5", "0b101", "1_000", "x1",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        assert_u64_err(junk[i], 0, UINT64_MAX, -EINVAL);
    assert_u64_err(NULL, 0, UINT64_MAX, -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_plain),
        cmocka_unit_test(test_split_whitespace),
        cmocka_unit_test(test_split_quotes),
        cmocka_unit_test(test_split_unterminated_quote),
        cmocka_unit_test(test_split_too_many),
        cmocka_unit_test(test_opt),
        cmocka_unit_test(test_u64_decimal),
        cmocka_unit_test(test_u64_hex),
        cmocka_unit_test(test_u64_bounds),
        cmocka_unit_test(test_u64_junk),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
