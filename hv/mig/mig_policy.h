/*
 * Pre-copy convergence: after each RAM round the source decides whether to
 * send another round or to pause the guest and send the rest (stop-and-copy).
 * A pure function of what the engine measured, integer math only.
 *
 * The expected downtime is the time to send what is still dirty at the last
 * round's bandwidth: ceil(remaining * 1000 / bandwidth) ms. In order:
 *   1. expected <= budget                    -> STOP_CONVERGED
 *   2. round >= round limit                  -> STOP_ROUND_LIMIT
 *   3. throttling allowed (throttle_max > 0), below its maximum, round >= 2
 *      and the guest dirties at least half as fast as we send: the dirty set
 *      shrinks too slowly -> THROTTLE (auto-converge, like vMotion's SDPS and
 *      QEMU's auto-converge): the vCPUs sit out mig_policy_next_throttle()
 *      percent of their time, 20% first, +10 each round up to throttle_max
 *   4. round >= MIG_POLICY_MIN_ROUNDS and the guest dirties memory at least
 *      as fast as we send it (dirty rate >= bandwidth): another round cannot
 *      shrink the dirty set, it only delays the same stop -> STOP_NO_PROGRESS
 *   5. otherwise                             -> CONTINUE
 * A migration is never aborted for not converging: past the limit it stops
 * and copies with a longer downtime than the budget, and says why.
 */
#ifndef HV_MIG_POLICY_H
#define HV_MIG_POLICY_H

#include <stdint.h>

#define MIG_POLICY_DOWNTIME_MS 300    /* default downtime budget */
#define MIG_POLICY_ROUNDS      30     /* default round limit */
#define MIG_POLICY_MIN_ROUNDS  3      /* rounds before "no progress" may stop early */
#define MIG_POLICY_THROTTLE_MAX 90    /* default most a converging guest is slowed (percent) */
#define MIG_POLICY_THROTTLE_FIRST 20
#define MIG_POLICY_THROTTLE_STEP 10

enum mig_decision {
    MIG_CONTINUE,          /* send another pre-copy round */
    MIG_STOP_CONVERGED,    /* the rest fits the downtime budget */
    MIG_STOP_ROUND_LIMIT,  /* out of rounds: stop anyway */
    MIG_STOP_NO_PROGRESS,  /* the guest dirties faster than we send: stop now */
    MIG_THROTTLE,          /* another round with the guest slowed more */
};

struct mig_policy_in {
    uint64_t remaining_bytes;   /* dirty bytes still to send */
    uint64_t bandwidth;         /* bytes/s over the last round; 0: not measured yet */
    uint64_t dirty_rate;        /* bytes/s the guest dirtied during the last round */
    uint32_t downtime_ms;       /* budget; 0: MIG_POLICY_DOWNTIME_MS */
    uint32_t round;             /* rounds completed, 1 after the first full pass */
    uint32_t round_limit;       /* 0: MIG_POLICY_ROUNDS */
    uint32_t throttle_pct;      /* the guest's throttle now (0-99) */
    uint32_t throttle_max;      /* 0: never throttle */
};

/* ceil(bytes * 1000 / bandwidth) in ms; UINT64_MAX when bandwidth is 0 or on overflow. */
uint64_t mig_policy_expected_ms(uint64_t bytes, uint64_t bandwidth);
/* The decision; *expected_ms (may be NULL) gets the expected downtime of stopping now. */
enum mig_decision mig_policy_decide(const struct mig_policy_in *in, uint64_t *expected_ms);
const char *mig_decision_name(enum mig_decision d);
/* The throttle after a THROTTLE decision: FIRST, then +STEP, never above max (<= 99). */
uint32_t mig_policy_next_throttle(uint32_t pct, uint32_t max);

#endif
