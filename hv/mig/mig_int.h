/* Between the migration engines (hv/migrate*.c). */
#ifndef HV_MIG_INT_H
#define HV_MIG_INT_H

#include "hv/mig/mig.h"
#include "net/mig_transport.h"

#define MIGRATE_SLOTS 4                 /* most migrations each way (the config keys cap it) */
#define MIG_DST_CONNS 32                /* incoming connections, most not yet authenticated */

void mig_new_nonce(uint8_t out[32]);
/* The target's faults (lose-ack, lose-commit, hold-commit for hold_s seconds). */
void mig_dst_inject(enum mig_fault f, unsigned hold_s);
void mig_src_inject_old_stream(void);    /* the next outgoing stream says the last version */
void mig_src_inject_hold(unsigned hold_s);   /* the next outgoing holds at stop-and-copy */
void mig_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int mig_src_start(struct vm *vm, uint32_t addr, const struct mig_opts *o, char *err,
                      size_t errlen);
void mig_src_poll(void);
int mig_src_cancel(struct vm *vm);
int mig_src_set_downtime(struct vm *vm, uint32_t downtime_ms);

/* An outgoing migration as `migrate status` and the progress bar show it. */
struct mig_src_info {
    const char *vm, *state;
    uint32_t round, percent;            /* percent of this round's pages sent */
    uint64_t pages, bytes;
    uint64_t bw, dirty_rate;            /* bytes/s */
    uint64_t expect_ms, elapsed_ms;     /* expected downtime at the last decision */
    uint32_t throttle;                  /* percent the guest is slowed (auto-converge) */
    const char *dirty;                  /* dirty-logging mode, "-" when off */
    uint32_t streams;                   /* connections granted (1 until ACCEPT) */
};
/* Slot i (0..MIGRATE_SLOTS-1): 0, or -ENOENT when it is free. */
int mig_src_info(unsigned i, struct mig_src_info *info);
void mig_src_bar(const struct mig_src_info *in, char *buf, size_t n);

struct mig_dst_info {
    const char *vm, *state;
    uint64_t bytes, pages;
    uint32_t round;
};
int mig_dst_info(unsigned i, struct mig_dst_info *info);
void *mig_dst_accept(struct mig_conn *c, const struct mig_conn_ops **ops);
void mig_dst_poll(void);
/* Ends the incoming migration of vm (a skeleton): ERROR to the source, then discarded. */
int mig_dst_cancel(struct vm *vm);

#endif
