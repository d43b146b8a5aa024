/*
 * Live migration engines (source and target), driven from the control loop.
 * Source: connect, authenticate, HELLO, pre-copy rounds with dirty logging,
 * stop-and-copy (pause, last pages, vCPU/FPU/UART state), COMMIT; the VM is
 * destroyed only when the target acknowledges. Any failure before that
 * resumes the guest on the source. Target: one skeleton VM per incoming
 * stream, started only after COMMIT; discarded on any failure.
 */
#ifndef HV_MIG_H
#define HV_MIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/vm/vm.h"

enum mig_compress { MIG_COMPRESS_AUTO, MIG_COMPRESS_ON, MIG_COMPRESS_OFF };

struct mig_opts {
    uint32_t downtime_ms;       /* 0: default (300) */
    uint32_t bandwidth_mbps;    /* 0: as fast as TCP goes; else Mbit/s (10^6 bits) */
    uint32_t throttle_max;      /* auto-converge: most % of time the guest may sit out; 0 off */
    uint32_t timeout_s;         /* pre-copy time limit (reason=no-convergence); 0: default */
    uint16_t port;
    enum dirty_mode dirty_mode; /* DIRTY_AUTO: the best the CPU offers */
    bool storage_copy;          /* a local disk moves too (shared nothing); else it refuses */
    enum mig_compress compress; /* page data: LZ4 where it pays (AUTO), always, or never */
    bool no_delta;              /* delta=off: pages sent again go whole, never as deltas */
    uint16_t streams;           /* connections the pages go over (1..MIG_STREAMS_MAX); 0: 1 */
};

int mig_init(void);                         /* listens if a cluster key is configured */
int mig_start(struct vm *vm, uint32_t addr_be, const struct mig_opts *o, char *err,
                  size_t errlen);
int mig_cancel(struct vm *vm);
/* `migrate set VM downtime=MS`: a new budget for vm's outgoing migration, from its next
 * decision on. 0, or -ENOENT when vm has none under way. */
int mig_set_downtime(struct vm *vm, uint32_t downtime_ms);
/* Test hooks (`migrate inject`): this host, as a target, loses... */
enum mig_fault {
    MIGRATE_FAULT_NONE,
    MIGRATE_FAULT_LOSE_ACK,     /* ...its next COMMIT_ACK (it runs the VM, the source never hears) */
    MIGRATE_FAULT_LOSE_COMMIT,  /* ...the next COMMIT (it discards the VM and hangs up) */
    /* As a source, its next stream header says the previous version, as a host of the last
     * release. */
    MIGRATE_FAULT_OLD_STREAM,
    /*
     * Holds, so that a test can fail a host at a precise phase: as a source, the next outgoing
     * migration stops its guest and then waits before it sends the final pages and state (the
     * stop-and-copy phase); as a target, the next incoming one waits between COMMIT and
     * starting the VM (the commit phase: nothing acknowledged yet).
     */
    MIGRATE_FAULT_HOLD_FINAL,
    MIGRATE_FAULT_HOLD_COMMIT,
    /* As a target, the next HELLO it accepts: reserved, but its ACCEPT waits (the hello
     * phase: the source waits for the answer). */
    MIGRATE_FAULT_HOLD_ACCEPT,
};
#define MIG_HOLD_MAX_S 25u    /* below the target's 30 s without progress */
/* Arms the fault for the side it concerns; hold_s: how long a hold lasts (1-MIG_HOLD_MAX_S). */
void mig_inject(enum mig_fault f, unsigned hold_s);
void mig_poll(void);                        /* every control-loop pass */
/* A fresh 256-bit cluster key as 64 hex digits; *weak: this CPU has no RDRAND. */
void mig_key_generate(char out[65], bool *weak);
/* Status lines ("migrate: ...") for the console, one per call; false when none. */
/* A result line (`migrate: done ...` with every field) fits MIG_MESSAGE_MAX bytes. */
#define MIG_MESSAGE_MAX 512
bool mig_message(char *buf, size_t n);
void mig_status(void (*out)(void *ctx, const char *line), void *ctx);
/* The progress line of the outgoing migrations (empty string: none under way). */
void mig_progress(char *buf, size_t n);

#endif
