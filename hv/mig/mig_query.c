/* One authenticated question to another ferry host (see hv/mig/mig_query.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/config.h"
#include "hv/mig/mig_auth.h"
#include "hv/mig/mig_query.h"
#include "hv/mig/mig_stream.h"
#include "hv/mig/mig.h"
#include "hv/mig/mig_int.h"
#include "hv/base/time.h"
#include "net/mig_transport.h"
#include "net/netdev.h"

/* One query at a time (the console waits for it): the decoder's buffer is large. */
static struct {
    struct mig_conn *conn;
    struct mig_auth auth;
    struct mig_decoder dec;
    struct mig_enc enc;
    uint8_t out[256];
    size_t out_len, out_off;
    uint8_t my_mac[MIG_AUTH_MAC_SIZE];
    uint32_t kind, status;
    const void *arg;
    size_t argn, cap, n;
    uint8_t *data;
    int rc;                     /* 1 while waiting */
    bool answered;
    char *err;
    size_t errlen;
} q;

static void finish(int rc, const char *why)
{
    if (q.rc != 1)
        return;
    q.rc = rc;
    if (why)
        snprintf(q.err, q.errlen, "%s", why);
}

static int on_record(const struct mig_record *r, void *ctx)
{
    const uint8_t *b, *data;
    uint32_t code, kind;
    const char *why;
    size_t n;
    (void)ctx;
    switch (r->type) {
    case MIG_REC_AUTH_CHALLENGE:
        if (mig_parse_auth(r, &b) || mig_auth_response(&q.auth, b, q.my_mac))
            return -EACCES;
        return 0;
    case MIG_REC_AUTH_RESPONSE:
        if (mig_parse_auth(r, &b) || mig_auth_verify(&q.auth, b))
            return -EACCES;
        mig_enc_init(&q.enc, q.out, sizeof(q.out));
        mig_rec_auth(&q.enc, MIG_REC_AUTH_RESPONSE, q.my_mac);
        mig_dec_sent(&q.dec, MIG_REC_AUTH_RESPONSE);
        mig_rec_query(&q.enc, q.kind, q.arg, q.argn);
        mig_dec_sent(&q.dec, MIG_REC_QUERY);
        q.out_len = q.enc.len;
        q.out_off = 0;
        return 0;
    case MIG_REC_QUERY_REPLY:
        if (mig_parse_query_reply(r, &kind, &q.status, &data, &n) || kind != q.kind)
            return -EPROTO;
        if (n > q.cap) {
            finish(-ENOSPC, "the reply is too large");
            return 0;
        }
        memcpy(q.data, data, n);
        q.n = n;
        finish(0, NULL);
        return 0;
    case MIG_REC_ERROR: {
        char m[120];
        if (mig_parse_reason(r, &code, &why, &n))
            why = "?", n = 1;           /* an unprintable reason: still the end of it */
        snprintf(m, sizeof(m), "the host said: %.*s", (int)n, why);
        finish(-EPROTO, m);
        return 0;
    }
    default:
        return -EPROTO;
    }
}

static void on_recv(void *ctx, const uint8_t *data, size_t n)
{
    (void)ctx;
    while (n && q.rc == 1) {
        int used = mig_dec_feed(&q.dec, data, n, on_record, NULL);
        if (used < 0) {
            finish(used == -EACCES ? -EACCES : -EPROTO, used == -EACCES ?
                   "authentication failed (is cluster_key the same on both hosts?)" :
                   "unexpected answer");
            return;
        }
        if (!used)
            return;
        data += used;
        n -= (size_t)used;
    }
}

static void on_closed(void *ctx, int err)
{
    (void)ctx;
    q.conn = NULL;
    finish(err == -EACCES ? -EACCES : err ? -ECONNREFUSED : -EPROTO,
           err == -EACCES || err == -EPROTO ? mig_conn_strerror(err) :
           err ? "cannot connect (is it a ferry host with a cluster_key?)" : "the host hung up");
}

static void on_connected(void *ctx)
{
    uint8_t nonce[MIG_AUTH_NONCE_SIZE];
    (void)ctx;
    mig_new_nonce(nonce);
    if (mig_auth_init(&q.auth, (const uint8_t *)hv_config.cluster_key,
                      strlen(hv_config.cluster_key), true, nonce) ||
        mig_auth_challenge(&q.auth, nonce)) {
        finish(-EACCES, "cannot start authentication");
        return;
    }
    mig_enc_init(&q.enc, q.out, sizeof(q.out));
    mig_stream_header_put(&q.enc);
    mig_rec_auth(&q.enc, MIG_REC_AUTH_CHALLENGE, nonce);
    mig_dec_sent(&q.dec, MIG_REC_AUTH_CHALLENGE);
    q.out_len = q.enc.len;
    q.out_off = 0;
}

static const struct mig_conn_ops ops = {
    .recv = on_recv, .closed = on_closed, .connected = on_connected,
};

int mig_query(uint32_t addr_be, uint16_t port, uint32_t kind, const void *arg, size_t argn,
              uint32_t *status, uint8_t *data, size_t cap, size_t *n, uint32_t timeout_ms,
              char *err, size_t errlen)
{
    if (strlen(hv_config.cluster_key) < MIG_AUTH_KEY_MIN) {
        snprintf(err, errlen, "no cluster_key in ferry.cfg");
        return -EACCES;
    }
    memset(&q, 0, sizeof(q));
    mig_dec_init(&q.dec, MIG_ROLE_SRC);
    q.kind = kind;
    q.arg = arg;
    q.argn = argn;
    q.data = data;
    q.cap = cap;
    q.err = err;
    q.errlen = errlen;
    q.rc = 1;
    q.conn = mig_conn_connect(addr_be, port, &ops, NULL);
    if (!q.conn) {
        snprintf(err, errlen, "no connection resources");
        return -ENOMEM;
    }
    uint64_t end = time_ns() + (uint64_t)timeout_ms * 1000000;
    while (q.rc == 1) {
        if (time_ns() > end)
            finish(-ETIMEDOUT, "no answer");
        while (q.conn && q.out_off < q.out_len) {
            size_t w = mig_conn_write(q.conn, q.out + q.out_off, q.out_len - q.out_off);
            if (!w)
                break;
            q.out_off += w;
        }
        net_service();
        mig_poll();
    }
    mig_conn_close(q.conn);
    q.conn = NULL;
    mig_auth_wipe(&q.auth);
    *status = q.status;
    *n = q.n;
    return q.rc;
}
