/*
 * Host tests for hv/base/config.c, the ferry.cfg parser. Every case starts from the defaults
 * and checks the resulting struct field by field, the problem count returned, and the
 * warnings logged (one per problem, naming the line).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>

#include "hv/base/config.h"
#include "support.h"

static struct hv_config cfg;

static int setup(void **state)
{
    (void)state;
    config_defaults(&cfg);
    unit_log_reset();
    return 0;
}

static int parse_n(const char *text, size_t len)
{
    return config_parse(text, len, &cfg);
}

static int parse(const char *text)
{
    return parse_n(text, strlen(text));
}

static void assert_defaults(void)
{
    assert_string_equal(cfg.hostname, "ferry");
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_int_equal(cfg.serial_baud, 115200);
    assert_int_equal(cfg.migrate_incoming_max, 2);
    assert_int_equal(cfg.migrate_outgoing_max, 2);
}

/* One line, one problem: the value is refused, the field keeps what it had. */
static void assert_refused(const char *text)
{
    struct hv_config before = cfg;

    unit_log_reset();
    if (parse(text) != 1)
        fail_msg("'%s' not counted as exactly one problem", text);
    assert_int_equal(unit_log_count[LOG_WARN], 1);
    assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void assert_clean(const char *text)
{
    unit_log_reset();
    if (parse(text) != 0)
        fail_msg("'%s' reported a problem: %s", text, unit_log_last);
    assert_int_equal(unit_log_count[LOG_WARN] + unit_log_count[LOG_ERR], 0);
}

static void test_defaults(void **state)
{
    static const char want_name[32] = "ferry";

    (void)state;
    memset(&cfg, 0xff, sizeof(cfg));
    config_defaults(&cfg);
    assert_memory_equal(cfg.hostname, want_name, sizeof(want_name));   /* zero padded */
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_int_equal(cfg.serial_baud, 115200);
}

static void test_empty_input(void **state)
{
    (void)state;
    assert_int_equal(parse_n("", 0), 0);
    assert_int_equal(parse_n("hostname=cut", 0), 0);   /* len, not the string, decides */
    assert_int_equal(parse("\n\n\r\n"), 0);
    assert_defaults();
    assert_int_equal(unit_log_count[LOG_WARN], 0);
}

static void test_all_keys(void **state)
{
    (void)state;
    assert_int_equal(parse("hostname=node-7\nlog_level=debug\nserial_baud=9600\n"), 0);
    assert_string_equal(cfg.hostname, "node-7");
    assert_int_equal(cfg.log_level, LOG_DBG);
    assert_int_equal(cfg.serial_baud, 9600);
    assert_int_equal(unit_log_count[LOG_WARN], 0);
}

static void test_hostname_values(void **state)
{
    static const char *const good[] = {
        "a", "Box9", "h0st-name-01", "x-", "0123456789", "abcdefghijklmnopqrstuvwxyz01234",
    };
    static const char *const bad[] = {
        "hostname=", "hostname=-lead", "hostname=a_b", "hostname=my host", "hostname=a.b",
        "hostname=abcdefghijklmnopqrstuvwxyz012345", /* 32 characters */
        "hostname=caf\xc3\xa9", "hostname=\"quoted\"",
    };
    char line[64];

    (void)state;
    for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(line, sizeof(line), "hostname=%s\n", good[i]);
        assert_clean(line);
        assert_string_equal(cfg.hostname, good[i]);
    }
    assert_int_equal(strlen(cfg.hostname), 31);
    setup(NULL);
    parse("hostname=kept\n");
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(bad[i]);
        assert_string_equal(cfg.hostname, "kept");     /* not reset to the default either */
    }
    assert_non_null(strstr(unit_log_last, "hostname"));
    assert_non_null(strstr(unit_log_last, "\"quoted\""));
}

static void test_log_level_values(void **state)
{
    static const struct { const char *name; enum log_level lvl; } good[] = {
        { "error", LOG_ERR }, { "warning", LOG_WARN }, { "info", LOG_INFO }, { "debug", LOG_DBG },
    };
    static const char *const bad[] = {
        "log_level=warn", "log_level=INFO", "log_level=2", "log_level=", "log_level=debugx",
        "log_level=err",
    };
    char line[64];

    (void)state;
    for (unsigned i = 0; i < 4; i++) {
        snprintf(line, sizeof(line), "log_level=%s", good[i].name);
        assert_clean(line);
        assert_int_equal(cfg.log_level, good[i].lvl);
    }
    assert_int_equal(cfg.log_level, LOG_DBG);
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(bad[i]);
        assert_int_equal(cfg.log_level, LOG_DBG);
    }
}

static void test_serial_baud_values(void **state)
{
    static const uint32_t good[] = { 115200, 57600, 38400, 19200, 9600, 2400, 300 };
    static const char *const bad[] = {
        "serial_baud=299", "serial_baud=150" /* a divisor, below 300 */, "serial_baud=115201",
        "serial_baud=230400", "serial_baud=0",
        "serial_baud=100000",           /* in range, not a divisor */
        "serial_baud=fast", "serial_baud=9600baud", "serial_baud=-9600", "serial_baud=",
        "serial_baud=96 00", "serial_baud=99999999999999999999999",
    };
    char line[64];

    (void)state;
    for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(line, sizeof(line), "serial_baud=%u\n", good[i]);
        assert_clean(line);
        assert_int_equal(cfg.serial_baud, good[i]);
    }
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(bad[i]);
        assert_int_equal(cfg.serial_baud, 300);
    }
    assert_non_null(strstr(unit_log_last, "divisor of 115200"));
}

static void test_migrate_limits(void **state)
{
    static const char *const bad[] = {
        "migrate_incoming_max=5", "migrate_incoming_max=-1", "migrate_incoming_max=",
        "migrate_incoming_max=two", "migrate_incoming_max=1x", "migrate_incoming_max=001",
        "migrate_outgoing_max=0", "migrate_outgoing_max=9", "migrate_outgoing_max=99999999999",
    };

    (void)state;
    assert_int_equal(cfg.migrate_incoming_max, 2);
    assert_int_equal(cfg.migrate_outgoing_max, 2);
    assert_clean("migrate_incoming_max=0\nmigrate_outgoing_max=4\n");
    assert_int_equal(cfg.migrate_incoming_max, 0);
    assert_int_equal(cfg.migrate_outgoing_max, 4);
    assert_clean("migrate_incoming_max=4\nmigrate_outgoing_max=1\n");
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(bad[i]);
        assert_int_equal(cfg.migrate_incoming_max, 4);
        assert_int_equal(cfg.migrate_outgoing_max, 1);
    }
    assert_non_null(strstr(unit_log_last, "1-4 concurrent outgoing"));
}

/* Migrations run over TLS unless a host turns it off in so many words. */
static void test_migrate_tls(void **state)
{
    static const char *const bad[] = {
        "migrate_tls=", "migrate_tls=0", "migrate_tls=no", "migrate_tls=OFF", "migrate_tls=off x",
    };

    (void)state;
    assert_true(cfg.migrate_tls);
    assert_clean("migrate_tls=off\n");
    assert_false(cfg.migrate_tls);
    assert_clean("migrate_tls=on\n");
    assert_true(cfg.migrate_tls);
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(bad[i]);
        assert_true(cfg.migrate_tls);           /* a typo never turns encryption off */
    }
    assert_non_null(strstr(unit_log_last, "migrate_tls"));
}

static void test_unknown_key(void **state)
{
    (void)state;
    assert_int_equal(parse("hostname=one\ncolour=blue\nHOSTNAME=two\n=x\nhostname2=z\n"), 4);
    assert_int_equal(unit_log_count[LOG_WARN], 4);
    assert_string_equal(cfg.hostname, "one");
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_non_null(strstr(unit_log_last, "line 5"));
    assert_non_null(strstr(unit_log_last, "'hostname2'"));
    unit_log_reset();
    parse("colour=blue");
    assert_non_null(strstr(unit_log_last, "unknown key 'colour'"));
}

static void test_whitespace_and_crlf(void **state)
{
    (void)state;
    assert_int_equal(parse("  hostname \t=\t box1  \r\n"
                           "\tlog_level= warning\r\n"
                           "serial_baud =9600 \t\r\n"), 0);
    assert_string_equal(cfg.hostname, "box1");
    assert_int_equal(cfg.log_level, LOG_WARN);
    assert_int_equal(cfg.serial_baud, 9600);
    /* CRLF on every line including the last, and trailing \r without \n */
    setup(NULL);
    assert_int_equal(parse("hostname=crlf\r\nlog_level=error\r"), 0);
    assert_string_equal(cfg.hostname, "crlf");
    assert_int_equal(cfg.log_level, LOG_ERR);
    /* inner whitespace is part of the value */
    assert_refused("hostname=two words\r\n");
    assert_refused("log level=debug\n");
}

static void test_comments_and_blank_lines(void **state)
{
    (void)state;
    assert_int_equal(parse("# ferry.cfg\n#hostname=evil\n\n   \n\t# log_level=debug\r\n"
                           "\r\n \t \r\n#serial_baud=300"), 0);
    assert_defaults();
    assert_int_equal(unit_log_count[LOG_WARN], 0);
    /* line numbers count comment and blank lines */
    assert_int_equal(parse("# one\n\nhostname=ok\n\tbogus\n"), 1);
    assert_string_equal(cfg.hostname, "ok");
    assert_non_null(strstr(unit_log_last, "line 4"));
}

static void test_missing_equals(void **state)
{
    (void)state;
    assert_int_equal(parse("hostname ferry2\nlog_level\n"), 2);
    assert_int_equal(unit_log_count[LOG_WARN], 2);
    assert_non_null(strstr(unit_log_last, "line 2"));
    assert_non_null(strstr(unit_log_last, "key=value"));
    assert_defaults();
}

static void test_value_with_equals(void **state)
{
    (void)state;
    /* the first '=' splits: the rest, '=' included, is the value */
    assert_refused("hostname=a=b");
    assert_refused("log_level==debug");
    assert_non_null(strstr(unit_log_last, "'=debug'"));
    assert_defaults();
}

static void test_line_length_limit(void **state)
{
    char text[1200];
    size_t n;

    (void)state;
    /* 255 characters is still a line: a comment of that length is fine */
    memset(text, 'x', 255);
    text[0] = '#';
    memcpy(text + 255, "\nhostname=after\n", 17);
    assert_int_equal(parse(text), 0);
    assert_string_equal(cfg.hostname, "after");

    /* 255 characters ending in a good setting, padded with blanks */
    setup(NULL);
    n = (size_t)snprintf(text, sizeof(text), "log_level=debug");
    memset(text + n, ' ', 255 - n);
    text[255] = 0;
    assert_int_equal(parse(text), 0);
    assert_int_equal(cfg.log_level, LOG_DBG);

    /* 256: refused as a whole, even though its first 255 characters are a good setting */
    setup(NULL);
    memset(text + n, ' ', 255 - n);
    memcpy(text + 255, "x\nhostname=next\n", 17);
    assert_int_equal(parse(text), 1);
    assert_int_equal(unit_log_count[LOG_WARN], 1);
    assert_non_null(strstr(unit_log_last, "line 1"));
    assert_non_null(strstr(unit_log_last, "255"));
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_string_equal(cfg.hostname, "next");      /* the following line is still read */

    /* 1000 characters, no newline at the end */
    setup(NULL);
    memcpy(text, "hostname=", 9);
    memset(text + 9, 'a', 991);
    text[1000] = 0;
    assert_int_equal(parse(text), 1);
    assert_defaults();
}

static void test_nul_byte(void **state)
{
    static const char text[] = "hostname=box\0evil\nlog_level=debug\n#\0\nserial_baud=9600";

    (void)state;
    assert_int_equal(parse_n(text, sizeof(text) - 1), 2);
    assert_int_equal(unit_log_count[LOG_WARN], 2);
    assert_string_equal(cfg.hostname, "ferry");     /* not "box" */
    assert_int_equal(cfg.log_level, LOG_DBG);
    assert_int_equal(cfg.serial_baud, 9600);
    assert_non_null(strstr(unit_log_last, "line 3"));
    assert_non_null(strstr(unit_log_last, "NUL"));
}

static void test_no_trailing_newline(void **state)
{
    (void)state;
    assert_int_equal(parse("log_level=error\nhostname=tail"), 0);
    assert_string_equal(cfg.hostname, "tail");
    assert_int_equal(cfg.log_level, LOG_ERR);
    /* len cuts the last line short */
    setup(NULL);
    assert_int_equal(parse_n("hostname=abcdef", 12), 0);
    assert_string_equal(cfg.hostname, "abc");
}

static void test_problem_count_and_last_wins(void **state)
{
    (void)state;
    assert_int_equal(parse("hostname=first\n"
                           "serial_baud=7\n"            /* 2: out of range */
                           "hostname=second\n"
                           "nonsense\n"                 /* 4: no '=' */
                           "speed=fast\n"               /* 5: unknown */
                           "log_level=debug\n"
                           "log_level=loud\n"           /* 7: bad value */
                           "serial_baud=57600\n"),
                     4);
    assert_int_equal(unit_log_count[LOG_WARN], 4);
    assert_int_equal(unit_log_count[LOG_ERR], 0);
    assert_string_equal(cfg.hostname, "second");
    assert_int_equal(cfg.log_level, LOG_DBG);
    assert_int_equal(cfg.serial_baud, 57600);
    assert_non_null(strstr(unit_log_last, "line 7"));
    assert_non_null(strstr(unit_log_last, "'loud'"));
}

/* Cluster keys: short, unprintable or easy to guess ones are refused with the reason, and the
 * key itself never reaches the log. */
static void test_cluster_key(void **state)
{
    char why[160];
    (void)state;
    assert_clean("cluster_key=ferry-test-cluster-key-0001");
    assert_string_equal(cfg.cluster_key, "ferry-test-cluster-key-0001");
    assert_clean("cluster_key=3f9c1d0b7a6e5f4a8b2c9d1e0f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a");
    const char *bad[] = {
        "cluster_key=short-key-1",                      /* 11 characters */
        "cluster_key=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",   /* one character */
        "cluster_key=abcdefghijklmnop",                 /* 16 lower case: 75 bits */
        "cluster_key=0123456789abcdef",                 /* 16 hex digits: 83 bits */
        "cluster_key=abababababababababababababababab", /* two characters */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(bad[i]);
        if (strstr(unit_log_last, bad[i] + 12) || !strstr(unit_log_last, "cluster_key refused"))
            fail_msg("%s: %s", bad[i], unit_log_last);
    }
    char long_key[200];
    memset(long_key, 'x', sizeof(long_key));
    memcpy(long_key, "cluster_key=", 12);
    long_key[12 + 128] = 0;
    assert_refused(long_key);
    assert_int_equal(config_key_quality("abcdefghijklmnop", why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "cluster key generate"));
    assert_int_equal(config_key_quality("ab cdefghijklmnopqrstuvwxyz-0123", why, sizeof(why)),
                     -EINVAL);                          /* a space */
    assert_int_equal(config_key_quality("Kx7#mQ2!vL9$wR4@", why, sizeof(why)), 0);  /* 16 mixed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_empty_input, setup),
        cmocka_unit_test_setup(test_all_keys, setup),
        cmocka_unit_test_setup(test_hostname_values, setup),
        cmocka_unit_test_setup(test_log_level_values, setup),
        cmocka_unit_test_setup(test_serial_baud_values, setup),
        cmocka_unit_test_setup(test_migrate_limits, setup),
        cmocka_unit_test_setup(test_migrate_tls, setup),
        cmocka_unit_test_setup(test_unknown_key, setup),
        cmocka_unit_test_setup(test_whitespace_and_crlf, setup),
        cmocka_unit_test_setup(test_comments_and_blank_lines, setup),
        cmocka_unit_test_setup(test_missing_equals, setup),
        cmocka_unit_test_setup(test_value_with_equals, setup),
        cmocka_unit_test_setup(test_line_length_limit, setup),
        cmocka_unit_test_setup(test_nul_byte, setup),
        cmocka_unit_test_setup(test_no_trailing_newline, setup),
        cmocka_unit_test_setup(test_problem_count_and_last_wins, setup),
        cmocka_unit_test_setup(test_cluster_key, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
