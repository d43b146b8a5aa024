/* Pre-copy convergence decision (hv/mig/mig_policy.h). */
#include "hv/mig/mig_policy.h"

/* ceil(rest * 1000 / bw) for rest < bw, exactly: the product needs 74 bits. */
static uint64_t frac_ms(uint64_t rest, uint64_t bw)
{
    unsigned __int128 want = (unsigned __int128)rest * 1000;
    uint64_t lo = 0, hi = 1000;

    /* Smallest q with q * bw >= rest * 1000; multiplications only (no libgcc division). */
    while (lo < hi) {
        uint64_t mid = (lo + hi) / 2;

        if ((unsigned __int128)mid * bw >= want)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

uint64_t mig_policy_expected_ms(uint64_t bytes, uint64_t bandwidth)
{
    uint64_t whole;

    if (!bytes)
        return 0;
    if (!bandwidth)
        return UINT64_MAX;
    whole = bytes / bandwidth;          /* whole seconds */
    if (whole > UINT64_MAX / 1000 - 1)
        return UINT64_MAX;
    return whole * 1000 + frac_ms(bytes % bandwidth, bandwidth);
}

enum mig_decision mig_policy_decide(const struct mig_policy_in *in, uint64_t *expected_ms)
{
    uint64_t budget = in->downtime_ms ? in->downtime_ms : MIG_POLICY_DOWNTIME_MS;
    uint32_t limit = in->round_limit ? in->round_limit : MIG_POLICY_ROUNDS;
    uint64_t ms = mig_policy_expected_ms(in->remaining_bytes, in->bandwidth);

    if (expected_ms)
        *expected_ms = ms;
    if (ms <= budget)
        return MIG_STOP_CONVERGED;
    if (in->round >= limit)
        return MIG_STOP_ROUND_LIMIT;
    if (in->throttle_max && in->throttle_pct < in->throttle_max && in->round >= 2 &&
        in->bandwidth && in->dirty_rate >= in->bandwidth / 2)
        return MIG_THROTTLE;
    if (in->round >= MIG_POLICY_MIN_ROUNDS && in->bandwidth && in->dirty_rate >= in->bandwidth)
        return MIG_STOP_NO_PROGRESS;
    return MIG_CONTINUE;
}

const char *mig_decision_name(enum mig_decision d)
{
    switch (d) {
    case MIG_CONTINUE: return "continue";
    case MIG_STOP_CONVERGED: return "stop-converged";
    case MIG_STOP_ROUND_LIMIT: return "stop-round-limit";
    case MIG_STOP_NO_PROGRESS: return "stop-no-progress";
    case MIG_THROTTLE: return "throttle";
    }
    return "?";
}

uint32_t mig_policy_next_throttle(uint32_t pct, uint32_t max)
{
    uint32_t next = pct ? pct + MIG_POLICY_THROTTLE_STEP : MIG_POLICY_THROTTLE_FIRST;
    if (max > 99)
        max = 99;
    return next < max ? next : max;
}
