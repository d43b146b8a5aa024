/*
 * Pre-copy convergence: after each RAM round the source decides whether to
 * send another round, slow the guest down, pause it and send the rest
 * (stop-and-copy), or give up. A pure function of what the engine measured,
 * integer math only.
 *
 * The downtime budget is a promise. The expected downtime of stopping now is
 * the time to send what is still dirty plus the vCPU and device state at the
 * last round's bandwidth, plus the commit's round trip:
 * ceil((remaining + fixed) * 1000 / bandwidth) + rtt ms. In order:
 *   1. expected <= budget                    -> STOP_CONVERGED
 *   2. pre-copy has run for the time limit   -> FAIL_NO_CONVERGENCE (the guest
 *      runs on at full speed on the source, and the line says why)
 *   3. throttling allowed (throttle_max > 0), below its maximum, round >= 2
 *      and the guest dirties at least half as fast as we send: the dirty set
 *      shrinks too slowly -> THROTTLE (auto-converge, like vMotion's SDPS and
 *      QEMU's auto-converge): mig_policy_next_throttle() sets how much of
 *      their time the vCPUs sit out, from the dirty rate measured, up to a
 *      near-stop (99%)
 *   4. otherwise                             -> CONTINUE
 * No stop ever exceeds the budget as measured: a guest that cannot be brought
 * under it in time stays where it is.
 */
#ifndef HV_MIG_POLICY_H
#define HV_MIG_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#define MIG_POLICY_DOWNTIME_MS 300    /* default downtime budget */
#define MIG_POLICY_TIMEOUT_S   300    /* default time limit of pre-copy */
#define MIG_POLICY_THROTTLE_MAX 99    /* default most a converging guest is slowed (percent) */
#define MIG_POLICY_THROTTLE_FIRST 20
#define MIG_POLICY_THROTTLE_STEP 5    /* the least a throttle step raises it */

enum mig_decision {
    MIG_CONTINUE,             /* send another pre-copy round */
    MIG_STOP_CONVERGED,       /* the rest fits the downtime budget */
    MIG_THROTTLE,             /* another round with the guest slowed more */
    MIG_FAIL_NO_CONVERGENCE,  /* the time limit passed: give up, the guest stays */
};

struct mig_policy_in {
    uint64_t remaining_bytes;   /* dirty bytes still to send */
    uint64_t bandwidth;         /* bytes/s over the last round; 0: not measured yet */
    uint64_t dirty_rate;        /* bytes/s the guest dirtied during the last round */
    uint32_t downtime_ms;       /* budget; 0: MIG_POLICY_DOWNTIME_MS */
    uint32_t round;             /* rounds completed, 1 after the first full pass */
    uint32_t throttle_pct;      /* the guest's throttle now (0-99) */
    uint32_t throttle_max;      /* 0: never throttle */
    uint64_t fixed_bytes;       /* vCPU and device state, sent after the pause */
    uint32_t rtt_ms;            /* the commit's round trip (COMMIT out, COMMIT_ACK back) */
    uint64_t elapsed_ms;        /* since pre-copy began */
    uint32_t timeout_s;         /* time limit; 0: MIG_POLICY_TIMEOUT_S */
};

/* ceil(bytes * 1000 / bandwidth) in ms; UINT64_MAX when bandwidth is 0 or on overflow. */
uint64_t mig_policy_expected_ms(uint64_t bytes, uint64_t bandwidth);
/* The decision; *expected_ms (may be NULL) gets the expected downtime of stopping now. */
enum mig_decision mig_policy_decide(const struct mig_policy_in *in, uint64_t *expected_ms);
const char *mig_decision_name(enum mig_decision d);
/*
 * The throttle after a THROTTLE decision: the share of time the vCPUs sit out for the
 * guest's dirty rate at full speed (the rate measured at throttle_pct, scaled back) to fall
 * to half the bandwidth, so that the dirty set halves each round; at least FIRST, and
 * at least STEP above the current one (the measured rate lags), never above throttle_max
 * (nor 99).
 */
uint32_t mig_policy_next_throttle(const struct mig_policy_in *in);

/*
 * compress=auto: whether compressing page data pays on this link. Over a round, in_bytes of
 * page data went through the compressor in ns nanoseconds and came out as out_bytes; the
 * link carried bandwidth bytes/s while the sender was not compressing (0: not measured).
 * Compressing and sending one after the other beats sending raw when
 * in/C + out/B < in/B (C = in/ns), that is ns * B < (in - out) * 10^9. With nothing
 * measured yet it pays when it shrinks the data at all.
 */
struct mig_compress_in {
    uint64_t in_bytes, out_bytes, ns, bandwidth;
};
bool mig_policy_compress_pays(const struct mig_compress_in *c);

#endif
