/*
 * Migration handshake: mutual HMAC-SHA256 challenge-response over the
 * cluster key (ferry.cfg cluster_key=), as a pure state machine on byte
 * messages; the engine carries them in AUTH_CHALLENGE / AUTH_RESPONSE records
 * (docs/migration-stream.md, "Authentication"). Each side sends a fresh
 * 32-byte nonce; each answers
 *
 *     HMAC-SHA256(key, "ferry-mig-v1" | role | own nonce | peer nonce)
 *
 * with role "src" for the initiator (the source host) and "dst" for the
 * responder, and checks the peer's answer in constant time. The roles differ,
 * so an answer reflected back to its author fails; fresh nonces on both sides
 * make a recorded answer useless in another connection.
 *
 * Message order (src = initiator, dst = responder):
 *   src: mig_auth_challenge(Ns)                       -> AUTH_CHALLENGE(Ns)
 *   dst: mig_auth_challenge(Nd), mig_auth_response(Ns, Md)
 *                                 -> AUTH_CHALLENGE(Nd), AUTH_RESPONSE(Md)
 *   src: mig_auth_response(Nd, Ms), mig_auth_verify(Md); only if that
 *        succeeded                                     -> AUTH_RESPONSE(Ms)
 *   dst: mig_auth_verify(Ms)
 * Each side trusts the peer only after its own mig_auth_verify() returned 0.
 * A failure is final: every later call returns -EACCES. The key is wiped from
 * the state once the handshake ended either way.
 *
 * This authenticates the peers at the start of the connection; the records
 * that follow are protected by CRC-32C against corruption, not by a MAC.
 */
#ifndef HV_MIG_AUTH_H
#define HV_MIG_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_AUTH_NONCE_SIZE 32
#define MIG_AUTH_MAC_SIZE   32
#define MIG_AUTH_KEY_MIN    16        /* bytes; shorter cluster keys are refused */
#define MIG_AUTH_TAG        "ferry-mig-v1"

enum mig_auth_state {
    MIG_AUTH_START,        /* initialised: send the challenge */
    MIG_AUTH_CHALLENGED,   /* our nonce is out: waiting for the peer's */
    MIG_AUTH_ANSWERED,     /* our answer is computed: waiting for the peer's */
    MIG_AUTH_OK,           /* the peer proved it holds the key */
    MIG_AUTH_FAILED,
};

struct mig_auth {
    uint8_t state;                          /* enum mig_auth_state */
    bool initiator;
    uint8_t k0[64];                         /* HMAC key block (RFC 2104 K0) */
    uint8_t own[MIG_AUTH_NONCE_SIZE];
    uint8_t peer[MIG_AUTH_NONCE_SIZE];
};

/*
 * nonce: 32 unpredictable bytes, never reused (the caller's random source).
 * 0, or -EINVAL for a missing key or one shorter than MIG_AUTH_KEY_MIN.
 */
int mig_auth_init(struct mig_auth *a, const uint8_t *key, size_t keylen, bool initiator,
                  const uint8_t nonce[MIG_AUTH_NONCE_SIZE]);
/* Our nonce, to send as AUTH_CHALLENGE. 0, -EINVAL out of order, -EACCES after a failure. */
int mig_auth_challenge(struct mig_auth *a, uint8_t nonce[MIG_AUTH_NONCE_SIZE]);
/*
 * Takes the peer's nonce and computes our answer, to send as AUTH_RESPONSE.
 * -EACCES (and the handshake fails) if the peer's nonce is our own (reflection).
 */
int mig_auth_response(struct mig_auth *a, const uint8_t peer_nonce[MIG_AUTH_NONCE_SIZE],
                      uint8_t mac[MIG_AUTH_MAC_SIZE]);
/* Checks the peer's answer: 0 (authenticated) or -EACCES. */
int mig_auth_verify(struct mig_auth *a, const uint8_t peer_mac[MIG_AUTH_MAC_SIZE]);
bool mig_auth_ok(const struct mig_auth *a);
/* Forgets the key and nonces (on any abort before the handshake ended). */
void mig_auth_wipe(struct mig_auth *a);

/* HMAC-SHA256 (RFC 2104 over mbedTLS's SHA-256). */
void mig_hmac_sha256(const uint8_t *key, size_t keylen, const void *msg, size_t len,
                     uint8_t mac[MIG_AUTH_MAC_SIZE]);

#endif
