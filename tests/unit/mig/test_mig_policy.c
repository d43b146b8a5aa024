/*
 * Host tests for hv/mig/mig_policy.c: the convergence decision as a table, the
 * defaults, and the expected-downtime arithmetic at its edges.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "hv/mig/mig_policy.h"

#define MiB (1024ull * 1024)
#define GiB (1024 * MiB)
#define GBPS (125000000ull)     /* 1 Gbit/s in bytes/s */

static void test_decisions(void **state)
{
    static const struct {
        const char *what;
        struct mig_policy_in in;
        enum mig_decision want;
        uint64_t ms;
    } tc[] = {
        { "nothing left", { 0, 0, 0, 0, 1, 0 }, MIG_STOP_CONVERGED, 0 },
        { "first round, not measured", { GiB, 0, 0, 0, 1, 0 }, MIG_CONTINUE, UINT64_MAX },
        { "fits 300 ms at 1 Gbit/s", { 37500000, GBPS, GBPS / 10, 0, 2, 0 },
          MIG_STOP_CONVERGED, 300 },
        { "one byte over", { 37500001, GBPS, GBPS / 10, 0, 2, 0 }, MIG_CONTINUE, 301 },
        { "converging", { 512 * MiB, GBPS, GBPS / 4, 0, 2, 0 }, MIG_CONTINUE, 4295 },
        { "budget given", { 512 * MiB, GBPS, GBPS / 4, 5000, 2, 0 }, MIG_STOP_CONVERGED, 4295 },
        { "tight budget", { 100 * MiB, 10 * GBPS, GBPS, 50, 5, 0 }, MIG_CONTINUE, 84 },
        { "round limit", { GiB, GBPS, GBPS / 2, 0, 30, 0 }, MIG_STOP_ROUND_LIMIT, 8590 },
        { "own round limit", { GiB, GBPS, GBPS / 2, 0, 4, 4 }, MIG_STOP_ROUND_LIMIT, 8590 },
        { "below own limit", { GiB, GBPS, GBPS / 2, 0, 3, 4 }, MIG_CONTINUE, 8590 },
        { "dirtying as fast as we send", { GiB, GBPS, GBPS, 0, 3, 0 }, MIG_STOP_NO_PROGRESS,
          8590 },
        { "faster, but too early to tell", { GiB, GBPS, 2 * GBPS, 0, 2, 0 }, MIG_CONTINUE,
          8590 },
        { "converged beats no progress", { MiB, GBPS, 2 * GBPS, 0, 9, 0 }, MIG_STOP_CONVERGED,
          9 },
        { "limit beats no progress", { GiB, GBPS, 2 * GBPS, 0, 30, 0 }, MIG_STOP_ROUND_LIMIT,
          8590 },
        { "no bandwidth yet, dirty", { GiB, 0, GBPS, 0, 5, 0 }, MIG_CONTINUE, UINT64_MAX },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
        uint64_t ms = 12345;
        enum mig_decision d = mig_policy_decide(&tc[i].in, &ms);

        if (d != tc[i].want || ms != tc[i].ms)
            fail_msg("%s: %s %llu ms, want %s %llu ms", tc[i].what, mig_decision_name(d),
                     (unsigned long long)ms, mig_decision_name(tc[i].want),
                     (unsigned long long)tc[i].ms);
    }
    assert_int_equal(mig_policy_decide(&tc[0].in, NULL), MIG_STOP_CONVERGED);
}

static void test_throttle(void **state)
{
    static const struct {
        const char *what;
        struct mig_policy_in in;
        enum mig_decision want;
    } tc[] = {
        { "off", { GiB, GBPS, GBPS, 0, 3, 0, 0, 0 }, MIG_STOP_NO_PROGRESS },
        { "half as fast", { GiB, GBPS, GBPS / 2, 0, 2, 0, 0, 90 }, MIG_THROTTLE },
        { "under half", { GiB, GBPS, GBPS / 2 - 1, 0, 2, 0, 0, 90 }, MIG_CONTINUE },
        { "first round", { GiB, GBPS, GBPS, 0, 1, 0, 0, 90 }, MIG_CONTINUE },
        { "throttled more", { GiB, GBPS, GBPS, 0, 5, 0, 40, 90 }, MIG_THROTTLE },
        { "at its max: no progress", { GiB, GBPS, GBPS, 0, 9, 0, 90, 90 },
          MIG_STOP_NO_PROGRESS },
        { "at its max, converging", { GiB, GBPS, GBPS / 2, 0, 9, 0, 90, 90 }, MIG_CONTINUE },
        { "converged first", { MiB, GBPS, GBPS, 0, 4, 0, 20, 90 }, MIG_STOP_CONVERGED },
        { "round limit first", { GiB, GBPS, GBPS, 0, 30, 0, 20, 90 }, MIG_STOP_ROUND_LIMIT },
        { "not measured", { GiB, 0, GBPS, 0, 4, 0, 20, 90 }, MIG_CONTINUE },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
        enum mig_decision d = mig_policy_decide(&tc[i].in, NULL);
        if (d != tc[i].want)
            fail_msg("%s: %s, want %s", tc[i].what, mig_decision_name(d),
                     mig_decision_name(tc[i].want));
    }
    assert_int_equal(mig_policy_next_throttle(0, 90), 20);
    assert_int_equal(mig_policy_next_throttle(20, 90), 30);
    assert_int_equal(mig_policy_next_throttle(85, 90), 90);
    assert_int_equal(mig_policy_next_throttle(90, 90), 90);
    assert_int_equal(mig_policy_next_throttle(0, 10), 10);
    assert_int_equal(mig_policy_next_throttle(98, 200), 99);
    assert_string_equal(mig_decision_name(MIG_THROTTLE), "throttle");
    /* A guest that never slows down: throttled 20..90 in 8 rounds, then no progress. */
    struct mig_policy_in in = { GiB, GBPS, GBPS, 0, 2, 0, 0, 90 };
    unsigned throttles = 0;
    while (mig_policy_decide(&in, NULL) == MIG_THROTTLE) {
        in.throttle_pct = mig_policy_next_throttle(in.throttle_pct, in.throttle_max);
        in.round++;
        throttles++;
    }
    assert_int_equal(throttles, 8);
    assert_int_equal(in.throttle_pct, 90);
    assert_int_equal(mig_policy_decide(&in, NULL), MIG_STOP_NO_PROGRESS);
}

static void test_defaults(void **state)
{
    struct mig_policy_in in = { .remaining_bytes = GiB, .bandwidth = GBPS, .round = 1 };

    (void)state;
    for (in.round = 1; in.round < MIG_POLICY_ROUNDS; in.round++)
        assert_int_equal(mig_policy_decide(&in, NULL), MIG_CONTINUE);
    assert_int_equal(mig_policy_decide(&in, NULL), MIG_STOP_ROUND_LIMIT);
    /* The default budget is 300 ms. */
    in.round = 1;
    in.remaining_bytes = GBPS * MIG_POLICY_DOWNTIME_MS / 1000;
    assert_int_equal(mig_policy_decide(&in, NULL), MIG_STOP_CONVERGED);
    in.remaining_bytes++;
    assert_int_equal(mig_policy_decide(&in, NULL), MIG_CONTINUE);
}

static void test_expected_ms(void **state)
{
    (void)state;
    assert_int_equal(mig_policy_expected_ms(0, 0), 0);
    assert_true(mig_policy_expected_ms(1, 0) == UINT64_MAX);
    assert_int_equal(mig_policy_expected_ms(1, 1000), 1);              /* rounds up */
    assert_int_equal(mig_policy_expected_ms(1000, 1000), 1000);
    assert_int_equal(mig_policy_expected_ms(1001, 1000), 1001);
    assert_int_equal(mig_policy_expected_ms(3, 7), 429);               /* 428.57 */
    assert_int_equal(mig_policy_expected_ms(1, UINT64_MAX), 1);
    assert_int_equal(mig_policy_expected_ms(UINT64_MAX, UINT64_MAX), 1000);
    assert_int_equal(mig_policy_expected_ms(UINT64_MAX - 1, UINT64_MAX), 1000);
    assert_int_equal(mig_policy_expected_ms(UINT64_MAX / 2, UINT64_MAX), 500);
    /* Near the edge of the remainder scaling: bandwidth just under and over 2^64/1000. */
    assert_int_equal(mig_policy_expected_ms(UINT64_MAX / 1000 - 1, UINT64_MAX / 1000), 1000);
    assert_int_equal(mig_policy_expected_ms(UINT64_MAX / 1000, UINT64_MAX / 1000 + 1), 1000);
    /* Saturates instead of wrapping. */
    assert_true(mig_policy_expected_ms(UINT64_MAX, 1) == UINT64_MAX);
    assert_true(mig_policy_expected_ms(UINT64_MAX / 1000, 1) == UINT64_MAX);
    assert_int_equal(mig_policy_expected_ms(UINT64_MAX / 1000 - 1, 1),
                     (UINT64_MAX / 1000 - 1) * 1000);
    /* 64 GiB at 10 Gbit/s: 54.98 s. */
    assert_int_equal(mig_policy_expected_ms(64 * GiB, 10 * GBPS), 54976);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(mig_decision_name(MIG_CONTINUE), "continue");
    assert_string_equal(mig_decision_name(MIG_STOP_ROUND_LIMIT), "stop-round-limit");
    assert_string_equal(mig_decision_name((enum mig_decision)99), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_expected_ms),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
