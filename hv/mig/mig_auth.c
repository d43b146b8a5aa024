/*
 * Migration handshake (hv/mig/mig_auth.h). HMAC follows RFC 2104 directly on
 * mbedTLS's SHA-256 module rather than its MD layer, which allocates.
 */
#include <errno.h>
#include <string.h>

#include "hv/mig/mig_auth.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/sha256.h"

#define HMAC_BLOCK 64
#define TAG_LEN    (sizeof(MIG_AUTH_TAG) - 1)
#define ROLE_LEN   3

/* RFC 2104: K0 is the key zero-padded to the block size, or its hash if longer. */
static void hmac_key_block(const uint8_t *key, size_t keylen, uint8_t k0[HMAC_BLOCK])
{
    memset(k0, 0, HMAC_BLOCK);
    if (keylen > HMAC_BLOCK)
        (void)mbedtls_sha256_ret(key, keylen, k0, 0);
    else if (keylen)
        memcpy(k0, key, keylen);
}

static void hmac_k0(const uint8_t k0[HMAC_BLOCK], const void *msg, size_t len,
                    uint8_t mac[MIG_AUTH_MAC_SIZE])
{
    mbedtls_sha256_context c;
    uint8_t pad[HMAC_BLOCK], inner[MIG_AUTH_MAC_SIZE];

    /* The _ret functions of the software SHA-256 cannot fail. */
    mbedtls_sha256_init(&c);
    for (int i = 0; i < HMAC_BLOCK; i++)
        pad[i] = k0[i] ^ 0x36;
    (void)mbedtls_sha256_starts_ret(&c, 0);
    (void)mbedtls_sha256_update_ret(&c, pad, HMAC_BLOCK);
    (void)mbedtls_sha256_update_ret(&c, msg, len);
    (void)mbedtls_sha256_finish_ret(&c, inner);
    for (int i = 0; i < HMAC_BLOCK; i++)
        pad[i] = k0[i] ^ 0x5c;
    (void)mbedtls_sha256_starts_ret(&c, 0);
    (void)mbedtls_sha256_update_ret(&c, pad, HMAC_BLOCK);
    (void)mbedtls_sha256_update_ret(&c, inner, sizeof(inner));
    (void)mbedtls_sha256_finish_ret(&c, mac);
    mbedtls_sha256_free(&c);
    mbedtls_platform_zeroize(pad, sizeof(pad));
    mbedtls_platform_zeroize(inner, sizeof(inner));
}

void mig_hmac_sha256(const uint8_t *key, size_t keylen, const void *msg, size_t len,
                     uint8_t mac[MIG_AUTH_MAC_SIZE])
{
    uint8_t k0[HMAC_BLOCK];

    hmac_key_block(key, keylen, k0);
    hmac_k0(k0, msg, len, mac);
    mbedtls_platform_zeroize(k0, sizeof(k0));
}

/* The answer `role` gives: HMAC(key, tag | role | author's nonce | other nonce). */
static void answer(const struct mig_auth *a, bool by_src, const uint8_t *first,
                   const uint8_t *second, uint8_t mac[MIG_AUTH_MAC_SIZE])
{
    uint8_t msg[TAG_LEN + ROLE_LEN + 2 * MIG_AUTH_NONCE_SIZE];

    memcpy(msg, MIG_AUTH_TAG, TAG_LEN);
    memcpy(msg + TAG_LEN, by_src ? "src" : "dst", ROLE_LEN);
    memcpy(msg + TAG_LEN + ROLE_LEN, first, MIG_AUTH_NONCE_SIZE);
    memcpy(msg + TAG_LEN + ROLE_LEN + MIG_AUTH_NONCE_SIZE, second, MIG_AUTH_NONCE_SIZE);
    hmac_k0(a->k0, msg, sizeof(msg), mac);
}

/* Compares without an early exit, so the time does not tell how much matched. */
static bool equal_ct(const uint8_t *x, const uint8_t *y, size_t n)
{
    volatile uint8_t diff = 0;

    for (size_t i = 0; i < n; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}

static int end(struct mig_auth *a, enum mig_auth_state state)
{
    mbedtls_platform_zeroize(a->k0, sizeof(a->k0));
    a->state = (uint8_t)state;
    return state == MIG_AUTH_OK ? 0 : -EACCES;
}

int mig_auth_init(struct mig_auth *a, const uint8_t *key, size_t keylen, bool initiator,
                  const uint8_t nonce[MIG_AUTH_NONCE_SIZE])
{
    memset(a, 0, sizeof(*a));
    a->state = MIG_AUTH_FAILED;
    if (!key || keylen < MIG_AUTH_KEY_MIN || !nonce)
        return -EINVAL;
    hmac_key_block(key, keylen, a->k0);
    memcpy(a->own, nonce, MIG_AUTH_NONCE_SIZE);
    a->initiator = initiator;
    a->state = MIG_AUTH_START;
    return 0;
}

static int check_state(const struct mig_auth *a, enum mig_auth_state want)
{
    if (a->state == MIG_AUTH_FAILED)
        return -EACCES;
    return a->state == want ? 0 : -EINVAL;
}

int mig_auth_challenge(struct mig_auth *a, uint8_t nonce[MIG_AUTH_NONCE_SIZE])
{
    int rc = check_state(a, MIG_AUTH_START);

    if (rc)
        return rc;
    memcpy(nonce, a->own, MIG_AUTH_NONCE_SIZE);
    a->state = MIG_AUTH_CHALLENGED;
    return 0;
}

int mig_auth_response(struct mig_auth *a, const uint8_t peer_nonce[MIG_AUTH_NONCE_SIZE],
                      uint8_t mac[MIG_AUTH_MAC_SIZE])
{
    int rc = check_state(a, MIG_AUTH_CHALLENGED);

    if (rc)
        return rc;
    /* Our own nonce coming back is a reflection: nobody else could have picked it. */
    if (equal_ct(peer_nonce, a->own, MIG_AUTH_NONCE_SIZE))
        return end(a, MIG_AUTH_FAILED);
    memcpy(a->peer, peer_nonce, MIG_AUTH_NONCE_SIZE);
    answer(a, a->initiator, a->own, a->peer, mac);
    a->state = MIG_AUTH_ANSWERED;
    return 0;
}

int mig_auth_verify(struct mig_auth *a, const uint8_t peer_mac[MIG_AUTH_MAC_SIZE])
{
    uint8_t want[MIG_AUTH_MAC_SIZE];
    bool ok;
    int rc = check_state(a, MIG_AUTH_ANSWERED);

    if (rc)
        return rc;
    answer(a, !a->initiator, a->peer, a->own, want);
    ok = equal_ct(want, peer_mac, MIG_AUTH_MAC_SIZE);
    mbedtls_platform_zeroize(want, sizeof(want));
    return end(a, ok ? MIG_AUTH_OK : MIG_AUTH_FAILED);
}

bool mig_auth_ok(const struct mig_auth *a) { return a->state == MIG_AUTH_OK; }

void mig_auth_wipe(struct mig_auth *a)
{
    mbedtls_platform_zeroize(a, sizeof(*a));
    a->state = MIG_AUTH_FAILED;
}
