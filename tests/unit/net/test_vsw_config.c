/*
 * Host tests for ferry.cfg's switch= key (hv/base/config.c): NAME:IF lines, repeatable up to
 * CONFIG_SWITCH_MAX, each refused line reported once and leaving the switches as they were.
 * (The switch's own checks, such as whether IF exists, come when main.c creates it.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
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

static int parse(const char *text)
{
    return config_parse(text, strlen(text), &cfg);
}

static void assert_refused(const char *text)
{
    struct hv_config before = cfg;
    unit_log_reset();
    if (parse(text) != 1)
        fail_msg("'%s' not counted as exactly one problem", text);
    assert_int_equal(unit_log_count[LOG_WARN], 1);
    assert_non_null(strstr(unit_log_last, "for switch (expected NAME:IF"));
    assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void test_default_none(void **state)
{
    (void)state;
    assert_int_equal(cfg.nswitches, 0);
}

static void test_good(void **state)
{
    (void)state;
    assert_int_equal(parse("switch=lan:eth0\nswitch = dmz_1-a:none\nswitch=wan:eth1\n"
                           "switch=lab:none\n"), 0);
    assert_int_equal(cfg.nswitches, 4);
    assert_string_equal(cfg.switches[0].name, "lan");
    assert_string_equal(cfg.switches[0].uplink, "eth0");
    assert_string_equal(cfg.switches[1].name, "dmz_1-a");
    assert_string_equal(cfg.switches[1].uplink, "none");
    assert_string_equal(cfg.switches[3].name, "lab");
    assert_int_equal(unit_log_count[LOG_WARN], 0);
}

static void test_good_values(void **state)
{
    (void)state;
    assert_int_equal(parse("switch=lan:eth0\n"), 0);
    assert_int_equal(parse("switch=0123456789abcde:none\n"), 0);       /* 15 characters */
    assert_int_equal(parse("switch=b:ethX123\n"), 0);                  /* 7 characters */
    assert_int_equal(cfg.nswitches, 3);
    assert_string_equal(cfg.switches[1].name, "0123456789abcde");
    assert_string_equal(cfg.switches[1].uplink, "none");
    assert_string_equal(cfg.switches[2].uplink, "ethX123");
}

static void test_bad_values(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "switch=lan\n", "switch=lan:\n", "switch=:eth0\n", "switch=\n", "switch=:\n",
        "switch=0123456789abcdef:eth0\n",  /* 16: no room for the NUL */
        "switch=lan:eth01234\n",           /* 8 */
        "switch=la.n:eth0\n", "switch=la/n:eth0\n", "switch=lan:eth-0\n",
        "switch=lan:eth0:1\n", "switch=l n:eth0\n", "switch=lan :eth0\n",
        "switch=lan: eth0\n",
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_refused(bad[i]);
    assert_int_equal(cfg.nswitches, 0);
}

static void test_unique_and_bounded(void **state)
{
    (void)state;
    char line[64];
    assert_int_equal(parse("switch=lan:eth0\n"), 0);
    assert_refused("switch=lan:none\n");               /* the name again */
    assert_refused("switch=wan:eth0\n");               /* the interface again */
    assert_int_equal(parse("switch=a:none\nswitch=b:none\n"), 0);  /* none is no interface */
    for (unsigned i = 3; i < CONFIG_SWITCH_MAX; i++) {
        snprintf(line, sizeof(line), "switch=s%u:none\n", i);
        assert_int_equal(parse(line), 0);
    }
    assert_int_equal(cfg.nswitches, CONFIG_SWITCH_MAX);
    assert_refused("switch=ninth:none\n");
    assert_string_equal(cfg.switches[CONFIG_SWITCH_MAX - 1].name, "s7");
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_default_none),
        T(test_good),
        T(test_good_values),
        T(test_bad_values),
        T(test_unique_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
