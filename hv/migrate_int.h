/* Between the migration engines (hv/migrate*.c). */
#ifndef HV_MIGRATE_INT_H
#define HV_MIGRATE_INT_H

#include "hv/migrate.h"
#include "net/mig_transport.h"

#define MIGRATE_DEV_XSAVE 0x100         /* device record: a vCPU's XSAVE area (instance = vcpu) */

void migrate_nonce(uint8_t out[32]);
void migrate_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int migrate_src_start(struct vm *vm, uint32_t addr, const struct migrate_opts *o, char *err,
                      size_t errlen);
void migrate_src_poll(void);
int migrate_src_cancel(struct vm *vm);
const char *migrate_src_state(struct vm **vm, uint32_t *round, uint64_t *pages);
void *migrate_dst_accept(struct mig_conn *c, const struct mig_conn_ops **ops);
void migrate_dst_poll(void);

#endif
