/*
 * Live migration as the management interfaces drive it: options with their rules, start,
 * cancel, status lines, the target's fault injection (tests of the commit protocol), and the
 * per-pass hooks of the control loop (poll, one-shot messages, the progress line).
 */
#ifndef HV_MGMT_MIG_H
#define HV_MGMT_MIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/mgmt/mgmt_vm.h"

#define MGMT_MIGRATE_HOST_MAX 32

struct mgmt_migrate_args {
    uint32_t downtime_ms;           /* 0: the engine's default */
    uint32_t bandwidth_mbps;        /* 0: unlimited */
    uint32_t throttle_max;          /* auto-converge ceiling, percent; 0 off */
    uint32_t timeout_s;             /* pre-copy time limit; 0: the engine's default */
    uint16_t port;
    enum mgmt_dirty_mode dirty;     /* AUTO: the best the CPU offers */
    bool storage_copy;              /* storage=copy: a local disk moves with the VM */
    uint8_t compress;               /* 0 auto, 1 on (lz4), 2 off: enum mig_compress */
    bool no_delta;                  /* delta=off */
    uint16_t streams;               /* streams=N; 0: one */
};
#define MGMT_MIGRATE_STREAMS_MAX 8

/* The migration port, the default throttle ceiling, the rest 0/AUTO. */
void mgmt_migrate_defaults(struct mgmt_migrate_args *a);
/* key "downtime" (1-60000 ms), "bandwidth" (1-100000 Mbit/s), "throttle" (0-99 %), "timeout"
 * (10-3600 s), "dirty" (wp|ad|pml), "storage" (copy|shared; shared, the default, refuses a VM
 * with a local disk), "compress" (auto|lz4|off), "delta" (on|off), "streams" (1-8 connections):
 * 0 or -EINVAL. */
int mgmt_migrate_set(struct mgmt_migrate_args *a, const char *key, const char *val);
/* "ADDR" or "ADDR:PORT": host (the ADDR text), *port (if given) and *addr_be, or -EINVAL and
 * err. */
int mgmt_migrate_target(const char *s, char host[MGMT_MIGRATE_HOST_MAX], uint16_t *port,
                        uint32_t *addr_be, char *err, size_t errlen);
int mgmt_migrate_start(const char *vm, uint32_t addr_be, const struct mgmt_migrate_args *a,
                       char *err, size_t errlen);
int mgmt_migrate_cancel(const char *vm, char *err, size_t errlen);
/* `migrate set VM downtime=MS` (1-60000) while it runs: 0, or -EINVAL / -ENOENT and err. */
int mgmt_migrate_set_downtime(const char *vm, const char *val, char *err, size_t errlen);
/* `cluster key generate`: a fresh 256-bit key in hex; *weak: no RDRAND on this CPU. */
void mgmt_cluster_key_generate(char out[65], bool *weak);
/* The faults this host can inject into its next incoming (or outgoing) migration: tests of the
 * commit protocol and the fault matrix (docs/fault-matrix.md). */
#define MGMT_MIGRATE_FAULTS "none, lose-ack, lose-commit, old-stream, hold-final [S], " \
    "hold-accept [S], hold-commit [S] (S: 1-25 s, 10 by default)"
/* secs: a hold's length as typed (NULL: the default). 0 or -EINVAL; *outgoing: the fault is
 * this host's as a source (else as a target). */
int mgmt_migrate_inject(const char *fault, const char *secs, bool *outgoing);
/* The status lines ("migrate: ..."), one call of out per line. */
void mgmt_migrate_status(void (*out)(void *ctx, const char *line), void *ctx);

void mgmt_migrate_poll(void);                       /* every control-loop pass */
#define MGMT_MIGRATE_MESSAGE_MAX 512      /* = MIG_MESSAGE_MAX (checked in mgmt_mig.c) */
bool mgmt_migrate_message(char *buf, size_t n);     /* a pending one-shot line; false: none */
void mgmt_migrate_progress(char *buf, size_t n);    /* "" when nothing is under way */

#endif
