/*
 * mbedTLS configuration for the core (MBEDTLS_CONFIG_FILE, see hv/base/mbedtls.mk).
 *
 * What the core uses:
 * - SHA-256, for the HMAC of the migration handshake (hv/mig/mig_auth.c builds RFC 2104 on
 *   the SHA-256 module itself) and for key generation;
 * - TLS 1.2 with the one suite TLS-ECDHE-PSK-WITH-CHACHA20-POLY1305-SHA256 (RFC 7905) on the
 *   migration port (net/mig_tls.c): forward secrecy from X25519 (or P-256), authentication by
 *   a pre-shared key per host derived with HKDF from the cluster key, an AEAD record layer.
 *   mbedTLS 2.28 (Debian 12) has no TLS 1.3 server and no ECDHE-PSK suite with AES-GCM, and
 *   AES without AES-NI is slower here than ChaCha20.
 *
 * Everything that would need an OS or SIMD stays off: no entropy module (net/mig_tls.c seeds
 * HMAC_DRBG itself), file system, threading or time, no assembly (MBEDTLS_HAVE_ASM) and no
 * AES-NI/PadLock (the core must not contain SSE instructions). mbedTLS allocates its contexts
 * and record buffers with calloc: MBEDTLS_MEMORY_BUFFER_ALLOC_C serves them from a fixed arena
 * that net/mig_tls.c hands it, so TLS cannot take memory from anything else; without that
 * arena (host-side unit tests that use only SHA-256) every calloc fails.
 */
#ifndef HV_MBEDTLS_CONFIG_H
#define HV_MBEDTLS_CONFIG_H

/* Platform: no libc allocator, no stdio; 128-by-64 divisions done without libgcc. */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_PLATFORM_NO_STD_FUNCTIONS
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
#define MBEDTLS_MEMORY_ALIGN_MULTIPLE 16     /* (the default, 4, misaligns its 8-byte headers) */
#define MBEDTLS_NO_UDBL_DIVISION
#define MBEDTLS_PLATFORM_EXIT_MACRO hv_mbedtls_exit     /* net/mig_tls.c: panics */
void hv_mbedtls_exit(int status);

/* Hashes, key derivation, the random generator. */
#define MBEDTLS_SHA256_C
#define MBEDTLS_MD_C
#define MBEDTLS_HKDF_C
#define MBEDTLS_HMAC_DRBG_C

/* The record cipher. */
#define MBEDTLS_CIPHER_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C

/* The key exchange. */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_KEY_EXCHANGE_ECDHE_PSK_ENABLED

/* TLS 1.2, both ends, one suite, no renegotiation, full-size records both ways. */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES      /* a refused peer learns why (bad_record_mac, ...) */
#define MBEDTLS_SSL_CIPHERSUITES MBEDTLS_TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256
#define MBEDTLS_SSL_IN_CONTENT_LEN  16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 16384
#define MBEDTLS_PSK_MAX_LEN 32

#include "mbedtls/check_config.h"

#endif
