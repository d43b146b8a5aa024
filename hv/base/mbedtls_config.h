/*
 * mbedTLS configuration for the core (MBEDTLS_CONFIG_FILE, see hv/base/mbedtls.mk):
 * SHA-256 only, for the HMAC of the migration handshake (hv/mig/mig_auth.c).
 * Everything that would need an OS or SIMD stays off: no platform layer,
 * entropy, file system, threading or time, no assembly (MBEDTLS_HAVE_ASM)
 * and no AES-NI/PadLock (the core must not contain SSE instructions). The MD
 * layer (MBEDTLS_MD_C) is left out on purpose: mbedtls_md_setup() allocates
 * its contexts with calloc and the core has no heap; mig_auth.c builds HMAC
 * (RFC 2104) on the SHA-256 module itself.
 */
#ifndef HV_MBEDTLS_CONFIG_H
#define HV_MBEDTLS_CONFIG_H

#define MBEDTLS_SHA256_C

#include "mbedtls/check_config.h"

#endif
