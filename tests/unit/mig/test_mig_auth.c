/*
 * Host tests for hv/mig/mig_auth.c: HMAC-SHA256 against RFC 4231, the handshake
 * in both roles, and the attacks it must stop (wrong key, reflection, replay,
 * tampered nonces); the state machine's order; the whole handshake carried in
 * AUTH records through the stream codec.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hv/mig/mig_auth.h"
#include "hv/mig/mig_stream.h"

#define N MIG_AUTH_NONCE_SIZE
#define M MIG_AUTH_MAC_SIZE

static const uint8_t key[] = "correct horse battery staple 42";   /* 31 bytes */
static const uint8_t other_key[] = "correct horse battery staple 43";
static const uint8_t ns[N] = "source-nonce-source-nonce-sourc";
static const uint8_t nd[N] = "target-nonce-target-nonce-targe";
static const uint8_t nd2[N] = "second-nonce-second-nonce-secon";

static void hex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;

        assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

/* RFC 4231 section 4: test cases 1, 2, 3, 4, 6 and 7 (5 is a truncated MAC). */
static void test_hmac_rfc4231(void **state)
{
    static const struct {
        size_t keylen;
        uint8_t keybyte;        /* the key is keylen copies of it, unless key is set */
        const char *key;
        const char *data;
        size_t datalen;
        uint8_t databyte;
        const char *mac;
    } tc[] = {
        { 20, 0x0b, NULL, "Hi There", 8, 0,
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
        { 4, 0, "Jefe", "what do ya want for nothing?", 28, 0,
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
        { 20, 0xaa, NULL, NULL, 50, 0xdd,
          "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
        { 25, 0, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12"
                 "\x13\x14\x15\x16\x17\x18\x19", NULL, 50, 0xcd,
          "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
        { 131, 0xaa, NULL, "Test Using Larger Than Block-Size Key - Hash Key First", 54, 0,
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
        { 131, 0xaa, NULL,
          "This is a test using a larger than block-size key and a larger than block-size "
          "data. The key needs to be hashed before being used by the HMAC algorithm.", 152, 0,
          "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
        uint8_t k[131], d[152], want[M], got[M];

        if (tc[i].key)
            memcpy(k, tc[i].key, tc[i].keylen);
        else
            memset(k, tc[i].keybyte, tc[i].keylen);
        if (tc[i].data)
            memcpy(d, tc[i].data, tc[i].datalen);
        else
            memset(d, tc[i].databyte, tc[i].datalen);
        hex(tc[i].mac, want, M);
        mig_hmac_sha256(k, tc[i].keylen, d, tc[i].datalen, got);
        assert_memory_equal(got, want, M);
    }
}

static bool all_zero(const uint8_t *p, size_t n)
{
    while (n--)
        if (*p++)
            return false;
    return true;
}

/* A whole handshake; returns what each side's verify said. */
static void handshake(const uint8_t *ks, size_t kslen, const uint8_t *kd, size_t kdlen,
                      int *src_rc, int *dst_rc)
{
    struct mig_auth src, dst;
    uint8_t c_s[N], c_d[N], m_s[M], m_d[M];

    assert_int_equal(mig_auth_init(&src, ks, kslen, true, ns), 0);
    assert_int_equal(mig_auth_init(&dst, kd, kdlen, false, nd), 0);
    assert_int_equal(mig_auth_challenge(&src, c_s), 0);
    assert_int_equal(mig_auth_challenge(&dst, c_d), 0);
    assert_int_equal(mig_auth_response(&dst, c_s, m_d), 0);
    assert_int_equal(mig_auth_response(&src, c_d, m_s), 0);
    *src_rc = mig_auth_verify(&src, m_d);
    *dst_rc = mig_auth_verify(&dst, m_s);
    assert_int_equal(mig_auth_ok(&src), *src_rc == 0);
    assert_int_equal(mig_auth_ok(&dst), *dst_rc == 0);
    /* The key is gone once it is decided, either way. */
    assert_true(all_zero(src.k0, sizeof(src.k0)));
    assert_true(all_zero(dst.k0, sizeof(dst.k0)));
}

static void test_handshake_ok(void **state)
{
    uint8_t long_key[200];
    int s, d;

    (void)state;
    handshake(key, sizeof(key) - 1, key, sizeof(key) - 1, &s, &d);
    assert_int_equal(s, 0);
    assert_int_equal(d, 0);
    memset(long_key, 0x42, sizeof(long_key));          /* longer than the HMAC block */
    handshake(long_key, sizeof(long_key), long_key, sizeof(long_key), &s, &d);
    assert_int_equal(s, 0);
    assert_int_equal(d, 0);
    handshake(key, MIG_AUTH_KEY_MIN, key, MIG_AUTH_KEY_MIN, &s, &d);
    assert_int_equal(s, 0);
    assert_int_equal(d, 0);
}

/* The answers are exactly the documented HMACs (docs/migration-stream.md). */
static void test_answer_format(void **state)
{
    struct mig_auth src, dst;
    uint8_t c[N], m_s[M], m_d[M], msg[12 + 3 + 2 * N], want[M];

    (void)state;
    mig_auth_init(&src, key, sizeof(key) - 1, true, ns);
    mig_auth_init(&dst, key, sizeof(key) - 1, false, nd);
    mig_auth_challenge(&src, c);
    assert_memory_equal(c, ns, N);
    mig_auth_challenge(&dst, c);
    assert_int_equal(mig_auth_response(&src, nd, m_s), 0);
    assert_int_equal(mig_auth_response(&dst, ns, m_d), 0);

    memcpy(msg, "ferry-mig-v1" "src", 15);
    memcpy(msg + 15, ns, N);
    memcpy(msg + 15 + N, nd, N);
    mig_hmac_sha256(key, sizeof(key) - 1, msg, sizeof(msg), want);
    assert_memory_equal(m_s, want, M);
    memcpy(msg, "ferry-mig-v1" "dst", 15);
    memcpy(msg + 15, nd, N);
    memcpy(msg + 15 + N, ns, N);
    mig_hmac_sha256(key, sizeof(key) - 1, msg, sizeof(msg), want);
    assert_memory_equal(m_d, want, M);
}

static void test_wrong_key(void **state)
{
    int s, d;

    (void)state;
    handshake(key, sizeof(key) - 1, other_key, sizeof(other_key) - 1, &s, &d);
    assert_int_equal(s, -EACCES);
    assert_int_equal(d, -EACCES);
    /* A key that is a prefix of the other is still another key. */
    handshake(key, sizeof(key) - 1, key, sizeof(key) - 2, &s, &d);
    assert_int_equal(s, -EACCES);
    assert_int_equal(d, -EACCES);
}

/* An impostor without the key bounces each side's own messages back. */
static void test_reflection(void **state)
{
    struct mig_auth src, dst;
    uint8_t c[N], m[M];

    (void)state;
    /* The source's nonce comes back as the "target's": refused at once. */
    mig_auth_init(&src, key, sizeof(key) - 1, true, ns);
    mig_auth_challenge(&src, c);
    assert_int_equal(mig_auth_response(&src, c, m), -EACCES);
    assert_int_equal(mig_auth_verify(&src, m), -EACCES);
    assert_false(mig_auth_ok(&src));

    /* The source's answer comes back as the target's: roles differ, refused. */
    mig_auth_init(&src, key, sizeof(key) - 1, true, ns);
    mig_auth_challenge(&src, c);
    assert_int_equal(mig_auth_response(&src, nd, m), 0);
    assert_int_equal(mig_auth_verify(&src, m), -EACCES);

    /* Against the target: its own answer handed back as the source's. */
    mig_auth_init(&dst, key, sizeof(key) - 1, false, nd);
    mig_auth_challenge(&dst, c);
    assert_int_equal(mig_auth_response(&dst, ns, m), 0);
    assert_int_equal(mig_auth_verify(&dst, m), -EACCES);

    /* Or a second target made to answer the first one's nonce (as "src"): still "dst". */
    {
        struct mig_auth dst2;
        uint8_t c2[N], m2[M];

        mig_auth_init(&dst, key, sizeof(key) - 1, false, nd);
        mig_auth_challenge(&dst, c);
        mig_auth_response(&dst, ns, m);
        mig_auth_init(&dst2, key, sizeof(key) - 1, false, nd2);
        mig_auth_challenge(&dst2, c2);
        assert_int_equal(mig_auth_response(&dst2, c, m2), 0);
        assert_int_equal(mig_auth_verify(&dst, m2), -EACCES);
    }
}

/* A recorded source answer is useless once the target picks a fresh nonce. */
static void test_replay(void **state)
{
    struct mig_auth src, dst;
    uint8_t c[N], m_s[M], m_d[M], recorded[M];

    (void)state;
    mig_auth_init(&src, key, sizeof(key) - 1, true, ns);
    mig_auth_init(&dst, key, sizeof(key) - 1, false, nd);
    mig_auth_challenge(&src, c);
    mig_auth_challenge(&dst, c);
    mig_auth_response(&dst, ns, m_d);
    mig_auth_response(&src, nd, m_s);
    assert_int_equal(mig_auth_verify(&dst, m_s), 0);
    memcpy(recorded, m_s, M);

    /* The attacker replays Ns and the recorded answer to the same target later. */
    mig_auth_init(&dst, key, sizeof(key) - 1, false, nd2);
    mig_auth_challenge(&dst, c);
    assert_int_equal(mig_auth_response(&dst, ns, m_d), 0);
    assert_int_equal(mig_auth_verify(&dst, recorded), -EACCES);
}

/* A man in the middle flips a bit of a nonce on its way. */
static void test_tampered_nonce(void **state)
{
    struct mig_auth src, dst;
    uint8_t c_s[N], c_d[N], m_s[M], m_d[M];

    (void)state;
    for (int which = 0; which < 2; which++) {
        mig_auth_init(&src, key, sizeof(key) - 1, true, ns);
        mig_auth_init(&dst, key, sizeof(key) - 1, false, nd);
        mig_auth_challenge(&src, c_s);
        mig_auth_challenge(&dst, c_d);
        if (which == 0)
            c_s[17] ^= 0x04;
        else
            c_d[0] ^= 0x80;
        mig_auth_response(&dst, c_s, m_d);
        mig_auth_response(&src, c_d, m_s);
        assert_int_equal(mig_auth_verify(&src, m_d), -EACCES);
        assert_int_equal(mig_auth_verify(&dst, m_s), -EACCES);
    }
    /* And a flipped answer bit. */
    mig_auth_init(&src, key, sizeof(key) - 1, true, ns);
    mig_auth_init(&dst, key, sizeof(key) - 1, false, nd);
    mig_auth_challenge(&src, c_s);
    mig_auth_challenge(&dst, c_d);
    mig_auth_response(&dst, c_s, m_d);
    mig_auth_response(&src, c_d, m_s);
    m_d[M - 1] ^= 1;
    assert_int_equal(mig_auth_verify(&src, m_d), -EACCES);
}

static void test_state_machine(void **state)
{
    struct mig_auth a;
    uint8_t c[N], m[M];

    (void)state;
    assert_int_equal(mig_auth_init(&a, NULL, 0, true, ns), -EINVAL);
    assert_false(mig_auth_ok(&a));
    assert_int_equal(mig_auth_challenge(&a, c), -EACCES);        /* unusable after that */
    assert_int_equal(mig_auth_init(&a, key, MIG_AUTH_KEY_MIN - 1, true, ns), -EINVAL);
    assert_int_equal(mig_auth_init(&a, key, sizeof(key) - 1, true, NULL), -EINVAL);

    assert_int_equal(mig_auth_init(&a, key, sizeof(key) - 1, true, ns), 0);
    assert_int_equal(mig_auth_response(&a, nd, m), -EINVAL);    /* challenge first */
    assert_int_equal(mig_auth_verify(&a, m), -EINVAL);
    assert_int_equal(mig_auth_challenge(&a, c), 0);
    assert_int_equal(mig_auth_challenge(&a, c), -EINVAL);
    assert_int_equal(mig_auth_verify(&a, m), -EINVAL);          /* peer nonce first */
    assert_int_equal(mig_auth_response(&a, nd, m), 0);
    assert_int_equal(mig_auth_response(&a, nd, m), -EINVAL);
    assert_int_equal(mig_auth_verify(&a, m), -EACCES);          /* our own answer */
    assert_int_equal(mig_auth_verify(&a, m), -EACCES);          /* final */
    assert_int_equal(mig_auth_challenge(&a, c), -EACCES);

    mig_auth_init(&a, key, sizeof(key) - 1, true, ns);
    mig_auth_wipe(&a);
    assert_true(all_zero(a.k0, sizeof(a.k0)));
    assert_int_equal(mig_auth_challenge(&a, c), -EACCES);
}

/* ---- the handshake in AUTH records, through both sides' decoders ---- */

static struct mig_decoder dec_src, dec_dst;
static uint8_t to_dst[4096], to_src[4096];
static struct mig_enc enc_dst, enc_src;     /* what the source / the target sends */

struct side {
    struct mig_auth auth;
    struct mig_decoder *dec;
    struct mig_enc *out;
    bool hello;                             /* dst: a HELLO arrived */
    uint8_t answer[M];                      /* src: held back until the target is verified */
    int verify;                             /* result of mig_auth_verify, 1 before */
};

static void send_rec(struct side *s, uint16_t type, const uint8_t *b)
{
    assert_int_equal(mig_rec_auth(s->out, type, b), 0);
    assert_int_equal(mig_dec_sent(s->dec, type), 0);
}

static int src_cb(const struct mig_record *r, void *ctx)
{
    struct side *s = ctx;
    const uint8_t *b;

    assert_int_equal(mig_parse_auth(r, &b), 0);
    if (r->type == MIG_REC_AUTH_CHALLENGE) {
        assert_int_equal(mig_auth_response(&s->auth, b, s->answer), 0);
        return 0;
    }
    /* Verify the target first; only then prove ourselves and go on. */
    s->verify = mig_auth_verify(&s->auth, b);
    if (s->verify)
        return s->verify;
    send_rec(s, MIG_REC_AUTH_RESPONSE, s->answer);
    return 0;
}

static int dst_cb(const struct mig_record *r, void *ctx)
{
    struct side *s = ctx;
    const uint8_t *b;
    uint8_t c[N], m[M];

    if (r->type == MIG_REC_HELLO) {
        s->hello = true;
        return mig_auth_ok(&s->auth) ? 0 : -EACCES;
    }
    assert_int_equal(mig_parse_auth(r, &b), 0);
    if (r->type == MIG_REC_AUTH_CHALLENGE) {
        assert_int_equal(mig_auth_challenge(&s->auth, c), 0);
        assert_int_equal(mig_auth_response(&s->auth, b, m), 0);
        send_rec(s, MIG_REC_AUTH_CHALLENGE, c);
        send_rec(s, MIG_REC_AUTH_RESPONSE, m);
        return 0;
    }
    s->verify = mig_auth_verify(&s->auth, b);
    return s->verify;
}

static void over_stream(const uint8_t *ks, const uint8_t *kd, int *src_rc, int *dst_rc)
{
    static struct side src, dst;
    struct mig_hello h = { .version = MIG_STREAM_VERSION, .streams = 1, .vcpus = 1,
                           .mem_bytes = 1 << 20,
                           .name = "vm" };
    uint8_t c[N];
    int rc;

    memset(&src, 0, sizeof(src));
    memset(&dst, 0, sizeof(dst));
    src.verify = dst.verify = 1;
    mig_dec_init(&dec_src, MIG_ROLE_SRC);
    mig_dec_init(&dec_dst, MIG_ROLE_DST);
    mig_enc_init(&enc_dst, to_dst, sizeof(to_dst));
    mig_enc_init(&enc_src, to_src, sizeof(to_src));
    src.dec = &dec_src, src.out = &enc_dst;
    dst.dec = &dec_dst, dst.out = &enc_src;
    assert_int_equal(mig_auth_init(&src.auth, ks, sizeof(key) - 1, true, ns), 0);
    assert_int_equal(mig_auth_init(&dst.auth, kd, sizeof(key) - 1, false, nd), 0);

    /* src: header, challenge. */
    mig_stream_header_put(&enc_dst);
    mig_stream_header_put(&enc_src);
    assert_int_equal(mig_auth_challenge(&src.auth, c), 0);
    send_rec(&src, MIG_REC_AUTH_CHALLENGE, c);
    /* dst reads it and answers with its challenge and response. */
    rc = mig_dec_feed(&dec_dst, to_dst, enc_dst.len, dst_cb, &dst);
    assert_int_equal(rc, (int)enc_dst.len);
    mig_enc_reset(&enc_dst);
    /* src reads those, verifies, and only then answers (in src_cb) and says HELLO. */
    rc = mig_dec_feed(&dec_src, to_src, enc_src.len, src_cb, &src);
    mig_enc_reset(&enc_src);
    *src_rc = src.verify;
    if (rc < 0) {
        assert_int_equal(rc, src.verify);
        *dst_rc = dst.verify;
        return;
    }
    assert_int_equal(mig_rec_hello(&enc_dst, &h), 0);
    assert_int_equal(mig_dec_sent(&dec_src, MIG_REC_HELLO), 0);
    rc = mig_dec_feed(&dec_dst, to_dst, enc_dst.len, dst_cb, &dst);
    *dst_rc = dst.verify;
    if (rc >= 0) {
        assert_true(dst.hello);
        assert_int_equal(mig_dec_phase(&dec_dst), MIG_PH_DECIDE);
    } else {
        assert_false(dst.hello);
    }
}

static void test_handshake_over_stream(void **state)
{
    int s, d;

    (void)state;
    over_stream(key, key, &s, &d);
    assert_int_equal(s, 0);
    assert_int_equal(d, 0);
    over_stream(key, other_key, &s, &d);
    assert_int_equal(s, -EACCES);       /* the source stops at the target's answer */
    assert_int_equal(d, 1);             /* ... and never answers */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_handshake_ok),
        cmocka_unit_test(test_answer_format),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_reflection),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_tampered_nonce),
        cmocka_unit_test(test_state_machine),
        cmocka_unit_test(test_handshake_over_stream),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
