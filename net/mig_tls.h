/*
 * TLS for the migration port (docs/migration-stream.md, "The channel"): mbedTLS's TLS 1.2
 * with TLS-ECDHE-PSK-WITH-CHACHA20-POLY1305-SHA256, each connection's keys from a fresh
 * X25519 (or P-256) exchange, authenticated by a pre-shared key per host name:
 *
 *     psk(name) = HKDF-SHA256(salt = "ferry-mig-tls-v1", ikm = cluster key, info = name)[0:32]
 *
 * The client (the source host, or a query) presents its own host name as the PSK identity;
 * the server derives the key for the name it is given, so a peer can only complete the
 * handshake under a name whose key it holds, and the name is logged. The cluster key itself
 * never travels and is never used directly as a TLS key.
 *
 * This file owns what every connection shares: the memory mbedTLS allocates from (a fixed
 * arena, so TLS cannot take memory from anything else and a flood of handshakes fails them,
 * not the host), the random generator (HMAC_DRBG seeded from RDRAND, TSC jitter and the
 * MAC addresses) and the two configurations. net/mig_transport.c runs the connections.
 */
#ifndef NET_MIG_TLS_H
#define NET_MIG_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_TLS_PSK_SIZE    32
#define MIG_TLS_SALT        "ferry-mig-tls-v1"
#define MIG_TLS_SUITE_NAME  "ECDHE-PSK-CHACHA20-POLY1305"

struct mbedtls_ssl_config;
struct mbedtls_ssl_context;

/* The per-host key for identity `name` under cluster key `key` (pure: unit-tested). */
int mig_tls_psk(const char *key, size_t keylen, const char *name, size_t namelen,
                uint8_t psk[MIG_TLS_PSK_SIZE]);
/* A server's handshake with a client that presented `name`: that name's key. 0 or <0. */
int mig_tls_use_psk(struct mbedtls_ssl_context *ssl, const uint8_t *name, size_t n);

/*
 * The shared configuration for a client (server = false) or server connection, set up on first
 * use from hv_config (cluster key, host name); NULL if there is no cluster key or the set-up
 * failed (the reason is logged once).
 */
struct mbedtls_ssl_config *mig_tls_conf(bool server);
/* n bytes from the HMAC_DRBG every TLS connection draws from (handshake nonces and cluster
 * keys draw from it too): 0, or -EIO if it could not be seeded. */
int mig_tls_random(void *out, size_t n);
/* Whether migrations use TLS (migrate_tls= in ferry.cfg, on unless turned off). */
bool mig_tls_enabled(void);
/* mbedTLS's error code as a short reason for the operator. */
const char *mig_tls_strerror(int mbedtls_err);

#endif
