/*
 * Asking another ferry host one question over the migration port: connect,
 * the mutual HMAC handshake on cluster_key, QUERY, QUERY_REPLY, close
 * (docs/migration-stream.md). Blocking, for console commands: it keeps the
 * network, the migrations and the vCPUs going while it waits.
 */
#ifndef HV_MIG_QUERY_H
#define HV_MIG_QUERY_H

#include <stddef.h>
#include <stdint.h>

/*
 * 0 with *status and up to cap bytes of reply data (*n), or a negative errno with a one-line
 * reason in err: -EACCES (no key, or authentication failed), -ETIMEDOUT, -ECONNREFUSED,
 * -EPROTO (the host answered something else), -ENOSPC (the reply does not fit cap), -ENOMEM
 * (the transport has no connection to spare).
 */
int mig_query(uint32_t addr_be, uint16_t port, uint32_t kind, const void *arg, size_t argn,
              uint32_t *status, uint8_t *data, size_t cap, size_t *n, uint32_t timeout_ms,
              char *err, size_t errlen);

#endif
