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

/* remaining, bandwidth, dirty rate, budget, round, throttle now, throttle max */
#define IN(rem, bw, dr, budget, rnd, thr, thr_max) \
    { .remaining_bytes = (rem), .bandwidth = (bw), .dirty_rate = (dr), .downtime_ms = (budget), \
      .round = (rnd), .throttle_pct = (thr), .throttle_max = (thr_max) }

static void test_decisions(void **state)
{
    static const struct {
        const char *what;
        struct mig_policy_in in;
        enum mig_decision want;
        uint64_t ms;
    } tc[] = {
        { "nothing left", IN(0, 0, 0, 0, 1, 0, 0), MIG_STOP_CONVERGED, 0 },
        { "first round, not measured", IN(GiB, 0, 0, 0, 1, 0, 0), MIG_CONTINUE, UINT64_MAX },
        { "fits 300 ms at 1 Gbit/s", IN(37500000, GBPS, GBPS / 10, 0, 2, 0, 0),
          MIG_STOP_CONVERGED, 300 },
        { "one byte over", IN(37500001, GBPS, GBPS / 10, 0, 2, 0, 0), MIG_CONTINUE, 301 },
        { "converging", IN(512 * MiB, GBPS, GBPS / 4, 0, 2, 0, 0), MIG_CONTINUE, 4295 },
        { "budget given", IN(512 * MiB, GBPS, GBPS / 4, 5000, 2, 0, 0), MIG_STOP_CONVERGED,
          4295 },
        { "tight budget", IN(100 * MiB, 10 * GBPS, GBPS, 50, 5, 0, 0), MIG_CONTINUE, 84 },
        /* The old round limit and "no progress" stops are gone: they broke the budget. */
        { "many rounds", IN(GiB, GBPS, GBPS / 2, 0, 30, 0, 0), MIG_CONTINUE, 8590 },
        { "dirtying as fast as we send", IN(GiB, GBPS, GBPS, 0, 3, 0, 0), MIG_CONTINUE, 8590 },
        { "converged however fast it dirties", IN(MiB, GBPS, 2 * GBPS, 0, 9, 0, 0),
          MIG_STOP_CONVERGED, 9 },
        { "no bandwidth yet, dirty", IN(GiB, 0, GBPS, 0, 5, 0, 0), MIG_CONTINUE, UINT64_MAX },
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

/* The state sent after the pause and the commit's round trip count against the budget. */
static void test_fixed_costs(void **state)
{
    (void)state;
    uint64_t ms;
    struct mig_policy_in in = IN(25000000, GBPS, 0, 300, 2, 0, 0);     /* 200 ms of pages */
    assert_int_equal(mig_policy_decide(&in, &ms), MIG_STOP_CONVERGED);
    assert_int_equal(ms, 200);
    in.fixed_bytes = 12500000;                                          /* + 100 ms of state */
    assert_int_equal(mig_policy_decide(&in, &ms), MIG_STOP_CONVERGED);
    assert_int_equal(ms, 300);
    in.rtt_ms = 1;                                                      /* + the round trip */
    assert_int_equal(mig_policy_decide(&in, &ms), MIG_CONTINUE);
    assert_int_equal(ms, 301);
    /* Nothing dirty, but a slow link and a far peer: the state alone breaks a 10 ms budget. */
    in = (struct mig_policy_in)IN(0, 1000000, 0, 10, 2, 0, 0);
    in.fixed_bytes = 20000;
    assert_int_equal(mig_policy_decide(&in, &ms), MIG_CONTINUE);
    assert_int_equal(ms, 20);
    /* Saturating sums. */
    in.remaining_bytes = UINT64_MAX;
    in.rtt_ms = UINT32_MAX;
    assert_int_equal(mig_policy_decide(&in, &ms), MIG_CONTINUE);
    assert_true(ms == mig_policy_expected_ms(UINT64_MAX, 1000000) + UINT32_MAX);
    in.bandwidth = 0;
    assert_int_equal(mig_policy_decide(&in, &ms), MIG_CONTINUE);
    assert_true(ms == UINT64_MAX);
}

/* The time limit: past it, a migration that does not fit the budget gives up. */
static void test_time_limit(void **state)
{
    (void)state;
    struct mig_policy_in in = IN(GiB, GBPS, 2 * GBPS, 0, 40, 99, 99);
    in.elapsed_ms = MIG_POLICY_TIMEOUT_S * 1000ull - 1;
    assert_int_equal(mig_policy_decide(&in, NULL), MIG_CONTINUE);
    in.elapsed_ms++;
    assert_int_equal(mig_policy_decide(&in, NULL), MIG_FAIL_NO_CONVERGENCE);
    in.timeout_s = 1000;                        /* the operator's own limit */
    assert_int_equal(mig_policy_decide(&in, NULL), MIG_CONTINUE);
    in.elapsed_ms = 1000000;
    assert_int_equal(mig_policy_decide(&in, NULL), MIG_FAIL_NO_CONVERGENCE);
    in.remaining_bytes = MiB;                   /* fitting the budget wins, even late */
    assert_int_equal(mig_policy_decide(&in, NULL), MIG_STOP_CONVERGED);
    in = (struct mig_policy_in)IN(GiB, GBPS, GBPS, 0, 3, 0, 0);   /* throttling off */
    in.elapsed_ms = 300000;
    assert_int_equal(mig_policy_decide(&in, NULL), MIG_FAIL_NO_CONVERGENCE);
    assert_string_equal(mig_decision_name(MIG_FAIL_NO_CONVERGENCE), "no-convergence");
}

static uint32_t next(uint64_t dr, uint64_t bw, uint32_t p, uint32_t max)
{
    struct mig_policy_in in = IN(GiB, bw, dr, 0, 3, p, max);
    return mig_policy_next_throttle(&in);
}

static void test_throttle(void **state)
{
    static const struct {
        const char *what;
        struct mig_policy_in in;
        enum mig_decision want;
    } tc[] = {
        { "off", IN(GiB, GBPS, GBPS, 0, 3, 0, 0), MIG_CONTINUE },
        { "half as fast", IN(GiB, GBPS, GBPS / 2, 0, 2, 0, 90), MIG_THROTTLE },
        { "under half", IN(GiB, GBPS, GBPS / 2 - 1, 0, 2, 0, 90), MIG_CONTINUE },
        { "first round", IN(GiB, GBPS, GBPS, 0, 1, 0, 90), MIG_CONTINUE },
        { "throttled more", IN(GiB, GBPS, GBPS, 0, 5, 40, 90), MIG_THROTTLE },
        { "at its max", IN(GiB, GBPS, GBPS, 0, 9, 90, 90), MIG_CONTINUE },
        { "at a near-stop", IN(GiB, GBPS, GBPS, 0, 9, 99, 99), MIG_CONTINUE },
        { "converged first", IN(MiB, GBPS, GBPS, 0, 4, 20, 90), MIG_STOP_CONVERGED },
        { "not measured", IN(GiB, 0, GBPS, 0, 4, 20, 90), MIG_CONTINUE },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
        enum mig_decision d = mig_policy_decide(&tc[i].in, NULL);
        if (d != tc[i].want)
            fail_msg("%s: %s, want %s", tc[i].what, mig_decision_name(d),
                     mig_decision_name(tc[i].want));
    }
    /* Driven by the rate: a guest dirtying as fast as we send sits out half its time... */
    assert_int_equal(next(GBPS, GBPS, 0, 99), 50);
    /* ... four times as fast: 7/8 (the measured rate scaled back to full speed) */
    assert_int_equal(next(4 * GBPS, GBPS, 0, 99), 88);
    assert_int_equal(next(2 * GBPS, GBPS, 50, 99), 88);     /* 2x at 50%: 4x at full speed */
    /* at least FIRST, at least STEP more than now (the rate lags), at most max or 99 */
    assert_int_equal(next(GBPS / 2, GBPS, 0, 99), MIG_POLICY_THROTTLE_FIRST);
    assert_int_equal(next(GBPS / 2, GBPS, 60, 99), 60 + MIG_POLICY_THROTTLE_STEP);
    assert_int_equal(next(100 * GBPS, GBPS, 0, 90), 90);
    assert_int_equal(next(100 * GBPS, GBPS, 98, 200), 99);
    assert_int_equal(next(UINT64_MAX, UINT64_MAX, 0, 99), 50);      /* no overflow */
    assert_int_equal(next(UINT64_MAX, 1, 99, 99), 99);
    assert_string_equal(mig_decision_name(MIG_THROTTLE), "throttle");
    /* A guest that never slows down reaches the near-stop and stays there until the time
     * limit; one whose rate follows the throttle converges. */
    struct mig_policy_in in = IN(GiB, GBPS, 8 * GBPS, 0, 2, 0, MIG_POLICY_THROTTLE_MAX);
    unsigned throttles = 0;
    while (mig_policy_decide(&in, NULL) == MIG_THROTTLE) {
        in.throttle_pct = mig_policy_next_throttle(&in);
        in.round++;
        throttles++;
    }
    assert_int_equal(in.throttle_pct, 99);
    assert_true(throttles <= 3);
    in = (struct mig_policy_in)IN(256 * MiB, GBPS, 2 * GBPS, 0, 2, 0, MIG_POLICY_THROTTLE_MAX);
    for (int i = 0; i < 20; i++) {
        enum mig_decision d = mig_policy_decide(&in, NULL);
        if (d == MIG_STOP_CONVERGED)
            break;
        if (d == MIG_THROTTLE)
            in.throttle_pct = mig_policy_next_throttle(&in);
        /* a round lasts remaining / bandwidth; the guest dirties at its throttled rate */
        uint64_t rate = 2 * GBPS * (100 - in.throttle_pct) / 100;
        in.dirty_rate = rate;
        in.remaining_bytes = (uint64_t)((double)in.remaining_bytes / GBPS * rate);
        in.round++;
    }
    assert_int_equal(mig_policy_decide(&in, NULL), MIG_STOP_CONVERGED);
}

static void test_defaults(void **state)
{
    struct mig_policy_in in = { .remaining_bytes = GiB, .bandwidth = GBPS, .round = 1 };

    (void)state;
    for (in.round = 1; in.round < 1000; in.round++)
        assert_int_equal(mig_policy_decide(&in, NULL), MIG_CONTINUE);
    /* The default budget is 300 ms. */
    in.round = 1;
    in.remaining_bytes = GBPS * MIG_POLICY_DOWNTIME_MS / 1000;
    assert_int_equal(mig_policy_decide(&in, NULL), MIG_STOP_CONVERGED);
    in.remaining_bytes++;
    assert_int_equal(mig_policy_decide(&in, NULL), MIG_CONTINUE);
    assert_int_equal(MIG_POLICY_THROTTLE_MAX, 99);
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
    assert_string_equal(mig_decision_name(MIG_STOP_CONVERGED), "stop-converged");
    assert_string_equal(mig_decision_name((enum mig_decision)99), "?");
}

/* compress=auto: compressing pays when compressor and link one after the other beat the
 * link alone. */
static void test_compress_pays(void **state)
{
    (void)state;
    /* 1 MiB halved in 10 ms: on a 10 MB/s link (100 ms raw, 10 + 50 packed) it pays... */
    struct mig_compress_in c = { .in_bytes = 1 << 20, .out_bytes = 1 << 19, .ns = 10000000,
                                 .bandwidth = 10000000 };
    assert_true(mig_policy_compress_pays(&c));
    /* ...on a 1.25 GB/s link (10 GbE: 0.8 ms raw) it does not. */
    c.bandwidth = 1250000000;
    assert_false(mig_policy_compress_pays(&c));
    /* The break-even: ns * B == (in - out) * 10^9 does not pay, a little faster does. */
    c = (struct mig_compress_in){ .in_bytes = 2000000, .out_bytes = 1000000, .ns = 100000000,
                                  .bandwidth = 10000000 };
    assert_false(mig_policy_compress_pays(&c));
    c.ns = 99000000;
    assert_true(mig_policy_compress_pays(&c));
    /* Nothing saved never pays; nothing measured yet pays if it saves anything. */
    c = (struct mig_compress_in){ .in_bytes = 4096, .out_bytes = 4096, .ns = 1 };
    assert_false(mig_policy_compress_pays(&c));
    c.out_bytes = 4095;
    assert_true(mig_policy_compress_pays(&c));
    c.in_bytes = 0;
    c.out_bytes = 0;
    assert_false(mig_policy_compress_pays(&c));
    /* No overflow at the extremes. */
    c = (struct mig_compress_in){ .in_bytes = UINT64_MAX, .out_bytes = 0, .ns = UINT64_MAX,
                                  .bandwidth = UINT64_MAX };
    assert_false(mig_policy_compress_pays(&c));
    c.ns = 0;
    assert_true(mig_policy_compress_pays(&c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_fixed_costs),
        cmocka_unit_test(test_time_limit),
        cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_expected_ms),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_compress_pays),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
