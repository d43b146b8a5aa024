/* What every migration TLS connection shares (net/mig_tls.h). */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "hv/base/config.h"
#include "hv/base/log.h"
#include "mbedtls/ecp.h"
#include "mbedtls/hkdf.h"
#include "mbedtls/hmac_drbg.h"
#include "mbedtls/md.h"
#include "mbedtls/memory_buffer_alloc.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/ssl.h"
#include "net/mig_tls.h"
#include "net/mig_transport.h"
#include "net/netdev.h"
#include "net/port.h"

/*
 * mbedTLS's whole heap. A connection takes about 37 KiB once its handshake is done (two 16 KiB
 * record buffers, its contexts) and some 10 KiB more while the key exchange runs; all
 * MIG_CONNS_MAX of them (net/mig_transport.h), even mid-handshake, fit with room for
 * fragmentation.
 */
#define ARENA_SIZE (4 * 1024 * 1024)
_Static_assert(MIG_CONNS_MAX * 47 * 1024 <= ARENA_SIZE * 4 / 5, "TLS arena too small");
static unsigned char arena[ARENA_SIZE] __attribute__((aligned(16)));

static struct {
    bool tried, ok;
    mbedtls_hmac_drbg_context drbg;
    mbedtls_ssl_config client, server;
    uint8_t psk[MIG_TLS_PSK_SIZE];          /* ours, for the name we present as a client */
} tls;

/* The MBEDTLS_PLATFORM_EXIT_MACRO of hv/base/mbedtls_config.h: the allocator found its
 * arena corrupted. */
void hv_mbedtls_exit(int status)
{
    panic("mbedtls: fatal error %d (heap corrupted)", status);
}

int mig_tls_psk(const char *key, size_t keylen, const char *name, size_t namelen,
                uint8_t psk[MIG_TLS_PSK_SIZE])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    return mbedtls_hkdf(md, (const unsigned char *)MIG_TLS_SALT, sizeof(MIG_TLS_SALT) - 1,
                        (const unsigned char *)key, keylen, (const unsigned char *)name, namelen,
                        psk, MIG_TLS_PSK_SIZE) ? -ENOMEM : 0;
}

/*
 * Seed material: RDRAND where the CPU has it, the TSC's low bits sampled around it (their
 * jitter is the only entropy on CPUs without RDRAND, and under emulators two identically
 * configured machines give the same RDRAND sequence), and the MAC addresses, which make two
 * hosts' streams differ. It feeds HMAC_DRBG, never TLS directly.
 */
static int entropy(void *ctx, unsigned char *out, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = rdtsc();
        uint32_t r = net_rand();
        out[i] = (uint8_t)(r ^ (r >> 8) ^ (r >> 16) ^ (r >> 24) ^ t0 ^ (t0 >> 8) ^ rdtsc());
    }
    return 0;
}

int mig_tls_use_psk(struct mbedtls_ssl_context *ssl, const uint8_t *name, size_t n)
{
    uint8_t psk[MIG_TLS_PSK_SIZE];
    int rc = mig_tls_psk(hv_config.cluster_key, strlen(hv_config.cluster_key),
                         (const char *)name, n, psk);
    if (!rc)
        rc = mbedtls_ssl_set_hs_psk(ssl, psk, sizeof(psk)) ? -ENOMEM : 0;
    mbedtls_platform_zeroize(psk, sizeof(psk));
    return rc;
}

static int conf_init(mbedtls_ssl_config *c, bool server)
{
    mbedtls_ssl_config_init(c);
    int rc = mbedtls_ssl_config_defaults(c, server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                         MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc)
        return rc;
    /* TLS 1.2 only (the one version this mbedTLS has both ends of); no renegotiation (off at
     * build time); the one suite is fixed at build time (MBEDTLS_SSL_CIPHERSUITES). */
    mbedtls_ssl_conf_min_version(c, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(c, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_rng(c, mbedtls_hmac_drbg_random, &tls.drbg);
    mbedtls_ssl_conf_extended_master_secret(c, MBEDTLS_SSL_EXTENDED_MS_ENABLED);
    if (server)
        return 0;                       /* the key comes with the name (mig_transport.c) */
    const char *me = hv_config.hostname;
    return mbedtls_ssl_conf_psk(c, tls.psk, sizeof(tls.psk), (const unsigned char *)me,
                                strlen(me));
}

/* The arena and the random generator, set up on first use (a connection, a nonce, a key). */
static bool drbg_ready(void)
{
    static const char who[] = "ferry-mig-tls-drbg";
    static bool tried, ok;
    int rc;

    if (tried)
        return ok;
    tried = true;
    mbedtls_memory_buffer_alloc_init(arena, sizeof(arena));
    mbedtls_hmac_drbg_init(&tls.drbg);
    rc = mbedtls_hmac_drbg_seed(&tls.drbg, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), entropy,
                                NULL, (const unsigned char *)who, sizeof(who) - 1);
    /* Mix in what makes this host differ from an identical one booted at the same time. */
    for (unsigned i = 0; !rc && netdev_get(i); i++)
        rc = mbedtls_hmac_drbg_update_ret(&tls.drbg, netdev_get(i)->mac, 6);
    if (rc)
        log_err("migrate", "random generator cannot start: %s (-0x%04x)", mig_tls_strerror(rc),
                -rc);
    ok = !rc;
    return ok;
}

int mig_tls_random(void *out, size_t n)
{
    uint8_t *p = out;
    if (!drbg_ready())
        return -EIO;
    while (n) {
        size_t k = n < MBEDTLS_HMAC_DRBG_MAX_REQUEST ? n : MBEDTLS_HMAC_DRBG_MAX_REQUEST;
        if (mbedtls_hmac_drbg_random(&tls.drbg, p, k))
            return -EIO;
        p += k;
        n -= k;
    }
    return 0;
}

static bool setup(void)
{
    const char *key = hv_config.cluster_key, *me = hv_config.hostname;
    int rc;

    if (!drbg_ready())
        return false;
    rc = mig_tls_psk(key, strlen(key), me, strlen(me), tls.psk);
    if (!rc)
        rc = conf_init(&tls.client, false);
    if (!rc)
        rc = conf_init(&tls.server, true);
    if (rc) {
        log_err("migrate", "TLS cannot start: %s (-0x%04x)", mig_tls_strerror(rc), -rc);
        return false;
    }
    return true;
}

struct mbedtls_ssl_config *mig_tls_conf(bool server)
{
    if (!hv_config.cluster_key[0])
        return NULL;
    if (!tls.tried) {
        tls.tried = true;
        tls.ok = setup();
    }
    if (!tls.ok)
        return NULL;
    return server ? &tls.server : &tls.client;
}

bool mig_tls_enabled(void) { return hv_config.migrate_tls; }

const char *mig_tls_strerror(int e)
{
    switch (e) {
    case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
        return "the peer refused the handshake (is cluster_key the same on both hosts?)";
    case MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY:
        return "the peer's PSK identity is not a host name";
    case MBEDTLS_ERR_SSL_INVALID_MAC:
    case MBEDTLS_ERR_SSL_BAD_HS_FINISHED:
        return "the peer's key is not this cluster's (wrong cluster_key?)";
    case MBEDTLS_ERR_SSL_INVALID_RECORD:
    case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO:
    case MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO:
    case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
    case MBEDTLS_ERR_SSL_BAD_INPUT_DATA:
        return "the peer does not speak ferry's TLS (an older ferry, or migrate_tls=off there?)";
    case MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION:
    case MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN:
    case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
        return "no TLS version or cipher suite in common";
    case MBEDTLS_ERR_SSL_ALLOC_FAILED:
    case MBEDTLS_ERR_MD_ALLOC_FAILED:
    case MBEDTLS_ERR_MPI_ALLOC_FAILED:
    case MBEDTLS_ERR_ECP_ALLOC_FAILED:
        return "TLS memory exhausted (too many connections at once)";
    case MBEDTLS_ERR_SSL_CONN_EOF:
        return "the peer closed the connection during the TLS handshake";
    default:
        return "TLS error";
    }
}
