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
    uint64_t limit_ms = 1000ull * (in->timeout_s ? in->timeout_s : MIG_POLICY_TIMEOUT_S);
    uint64_t bytes = in->remaining_bytes + in->fixed_bytes;
    uint64_t ms = mig_policy_expected_ms(bytes < in->remaining_bytes ? UINT64_MAX : bytes,
                                         in->bandwidth);

    if (ms <= UINT64_MAX - in->rtt_ms)
        ms += in->rtt_ms;
    if (expected_ms)
        *expected_ms = ms;
    if (ms <= budget)
        return MIG_STOP_CONVERGED;
    if (in->elapsed_ms >= limit_ms)
        return MIG_FAIL_NO_CONVERGENCE;
    if (in->throttle_max && in->throttle_pct < in->throttle_max && in->throttle_pct < 99 &&
        in->round >= 2 && in->bandwidth && in->dirty_rate >= in->bandwidth / 2)
        return MIG_THROTTLE;
    return MIG_CONTINUE;
}

const char *mig_decision_name(enum mig_decision d)
{
    switch (d) {
    case MIG_CONTINUE: return "continue";
    case MIG_STOP_CONVERGED: return "stop-converged";
    case MIG_THROTTLE: return "throttle";
    case MIG_FAIL_NO_CONVERGENCE: return "no-convergence";
    }
    return "?";
}

uint32_t mig_policy_next_throttle(const struct mig_policy_in *in)
{
    uint32_t max = in->throttle_max > 99 ? 99 : in->throttle_max;
    uint32_t p = in->throttle_pct > 99 ? 99 : in->throttle_pct;
    uint32_t next = p + MIG_POLICY_THROTTLE_STEP;

    if (next < MIG_POLICY_THROTTLE_FIRST)
        next = MIG_POLICY_THROTTLE_FIRST;
    /* The dirty rate at full speed: measured at p% sitting out, so over (100 - p)% of the
     * time. Wanted: half the bandwidth. The share to sit out: 100 - want * 100 / full.
     * (Rates capped at 10^15 B/s keep the products in 64 bits.) */
    const uint64_t cap = 1000000000000000ull;
    uint64_t rate = in->dirty_rate < cap ? in->dirty_rate : cap;
    uint64_t want = (in->bandwidth < cap ? in->bandwidth : cap) / 2;
    uint64_t full = rate * 100 / (100 - p);
    if (full > want) {
        uint32_t need = 100 - (uint32_t)(want * 100 / full);   /* want < full: 1..100 */
        if (need > next)
            next = need;
    }
    return next < max ? next : max;
}

bool mig_policy_compress_pays(const struct mig_compress_in *c)
{
    if (!c->in_bytes || c->out_bytes >= c->in_bytes)
        return false;
    if (!c->bandwidth)
        return true;
    /* In microseconds and bytes, 128-bit: no input overflows it. */
    unsigned __int128 lhs = (unsigned __int128)(c->ns / 1000) * c->bandwidth;
    unsigned __int128 rhs = (unsigned __int128)(c->in_bytes - c->out_bytes) * 1000000;
    return lhs < rhs;
}
