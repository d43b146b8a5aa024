/*
 * Live migration engines (source and target), driven from the control loop.
 * Source: connect, authenticate, HELLO, pre-copy rounds with dirty logging,
 * stop-and-copy (pause, last pages, vCPU/FPU/UART state), COMMIT; the VM is
 * destroyed only when the target acknowledges. Any failure before that
 * resumes the guest on the source. Target: one skeleton VM per incoming
 * stream, started only after COMMIT; discarded on any failure.
 */
#ifndef HV_MIGRATE_H
#define HV_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "hv/vm.h"

struct migrate_opts {
    uint32_t downtime_ms;       /* 0: default (300) */
    uint16_t port;
    enum dirty_mode dirty_mode; /* DIRTY_AUTO: the best the CPU offers */
};

int migrate_init(void);                         /* listens if a cluster key is configured */
int migrate_start(struct vm *vm, uint32_t addr_be, const struct migrate_opts *o, char *err,
                  size_t errlen);
int migrate_cancel(struct vm *vm);
void migrate_poll(void);                        /* every control-loop pass */
/* Status lines ("migrate: ...") for the console, one per call; false when none. */
bool migrate_message(char *buf, size_t n);
void migrate_status(void (*out)(void *ctx, const char *line), void *ctx);

#endif
