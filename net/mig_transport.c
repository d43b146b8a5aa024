/*
 * The migration transport (net/mig_transport.h): lwIP raw TCP, and on it TLS (net/mig_tls.h)
 * unless migrate_tls=off.
 *
 * With TLS a connection first runs its handshake; only then does the engine hear of it (the
 * client's `connected`) or get bytes (`recv`), and mig_conn_write() takes nothing before it.
 * Received segments wait in a pbuf chain until mbedTLS reads them, and the TCP window opens
 * only as it does, so a peer can queue no more than one window. mig_conn_write() encrypts
 * only what the TCP send buffer can take in whole records, so mbedTLS never holds a record
 * half sent behind the engine's back (if lwIP still refuses one, it is kept and flushed
 * first on the next write or poll).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "hv/base/config.h"
#include "hv/base/log.h"
#include "lwip/tcp.h"
#include "mbedtls/ssl.h"
#include "net/mig_tls.h"
#include "net/mig_transport.h"

/*
 * What all connections together may have written and not yet had acknowledged: lwIP copies
 * it into its heap, which NBD (running VMs' disks) shares. Past the shared budget each
 * connection still has a reserve of its own, room for one whole TLS record, so that streams
 * stuck on a dead target cannot starve a handshake or the QUERY that asks whether a target
 * committed. Budget and reserves together stay within half of the heap.
 */
#define MIG_SND_TOTAL   (MEM_SIZE * 5 / 16)
#define MIG_SND_RESERVE (20 * 1024)
_Static_assert(MIG_SND_TOTAL + MIG_CONNS_MAX * MIG_SND_RESERVE <= MEM_SIZE / 2,
               "migration send buffers could take more than half of lwIP's heap");
#define RX_CHUNK  4096       /* plaintext handed to the engine per call */

enum conn_state { C_TCP, C_HANDSHAKE, C_OPEN };

struct mig_conn {
    struct tcp_pcb *pcb;
    const struct mig_conn_ops *ops;
    void *ctx;
    size_t unacked, received, acked;
    bool used, server, tls;
    int broken;                     /* an mbedTLS error met while writing: torn down at poll */
    uint8_t state;                  /* enum conn_state */
    unsigned gen;                   /* bumped on each release: callbacks check it */
    mbedtls_ssl_context ssl;
    struct pbuf *rx;                /* received, not yet read by mbedTLS */
    char peer_name[CONFIG_HOSTNAME_MAX + 1];
};

static struct mig_conn conns[MIG_CONNS_MAX];
static mig_accept_fn accept_fn;
static size_t unacked_total;         /* the sum of every connection's unacked */

static void unacked_add(struct mig_conn *c, size_t n)
{
    c->unacked += n;
    unacked_total += n;
}

static void unacked_sub(struct mig_conn *c, size_t n)
{
    if (n > c->unacked)
        n = c->unacked;
    c->unacked -= n;
    unacked_total -= n;
}

static struct mig_conn *conn_alloc(void)
{
    for (unsigned i = 0; i < MIG_CONNS_MAX; i++)
        if (!conns[i].used) {
            unsigned gen = conns[i].gen;
            memset(&conns[i], 0, sizeof(conns[i]));
            conns[i].gen = gen;
            conns[i].used = true;
            return &conns[i];
        }
    return NULL;
}

/*
 * A pcb aborted inside one of its own lwIP callbacks is freed at once: the callback must then
 * return ERR_ABRT, or lwIP goes on using it. Each callback starts with cb_enter(pcb);
 * pcb_abort() notes whether it aborted that pcb (however many others it aborts: a failed
 * migration closes all of its streams); cb_result() says what the callback returns.
 */
static struct tcp_pcb *cb_pcb;
static bool cb_aborted;

static void cb_enter(struct tcp_pcb *pcb)
{
    cb_pcb = pcb;
    cb_aborted = false;
}

static void pcb_abort(struct tcp_pcb *pcb)
{
    if (pcb == cb_pcb)
        cb_aborted = true;
    tcp_abort(pcb);
}

static err_t cb_result(struct tcp_pcb *pcb)
{
    bool mine = pcb == cb_pcb && cb_aborted;
    cb_pcb = NULL;
    return mine ? ERR_ABRT : ERR_OK;
}

/* Ends a pcb gracefully (what is queued goes out first, then FIN); safe inside callbacks,
 * where lwIP defers the free. */
static void pcb_close(struct tcp_pcb *pcb)
{
    tcp_output(pcb);
    if (tcp_close(pcb) != ERR_OK)
        pcb_abort(pcb);
}

static void detach_pcb(struct tcp_pcb *pcb)
{
    tcp_arg(pcb, NULL);
    tcp_recv(pcb, NULL);
    tcp_sent(pcb, NULL);
    tcp_err(pcb, NULL);
    tcp_poll(pcb, NULL, 0);
}

/* Frees what the connection holds besides its pcb; the slot is free after. */
static void conn_free(struct mig_conn *c)
{
    unacked_sub(c, c->unacked);
    if (c->tls)
        mbedtls_ssl_free(&c->ssl);
    if (c->rx)
        pbuf_free(c->rx);
    c->rx = NULL;
    c->tls = false;
    c->pcb = NULL;
    c->used = false;
    c->gen++;
}

/* The connection ends (pcb already closed or freed): the engine hears why. */
static void conn_release(struct mig_conn *c, int err)
{
    const struct mig_conn_ops *ops = c->ops;
    void *ctx = c->ctx;
    conn_free(c);
    if (ops && ops->closed)
        ops->closed(ctx, err);
}

static void conn_abort(struct mig_conn *c, int err)
{
    if (c->pcb) {
        detach_pcb(c->pcb);
        pcb_abort(c->pcb);
    }
    conn_release(c, err);
}

/* Ends the connection after what is queued (a TLS alert) went out, with a FIN. */
static void conn_shut(struct mig_conn *c, int err)
{
    if (c->pcb) {
        detach_pcb(c->pcb);
        pcb_close(c->pcb);
    }
    conn_release(c, err);
}

static size_t send_room(const struct mig_conn *c)
{
    if (!c->pcb || tcp_sndqueuelen(c->pcb) >= TCP_SND_QUEUELEN - 4)
        return 0;
    size_t shared = unacked_total < MIG_SND_TOTAL ? MIG_SND_TOTAL - unacked_total : 0;
    size_t own = c->unacked < MIG_SND_RESERVE ? MIG_SND_RESERVE - c->unacked : 0;
    size_t room = tcp_sndbuf(c->pcb), budget = shared > own ? shared : own;
    return room < budget ? room : budget;
}

/* mbedTLS's output: all of a record or, if lwIP cannot take all of it now, none. */
static int bio_send(void *arg, const unsigned char *buf, size_t len)
{
    struct mig_conn *c = arg;
    if (!c->pcb)
        return MBEDTLS_ERR_SSL_CONN_EOF;
    if (len > send_room(c) || len > 0xffff)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    if (tcp_write(c->pcb, buf, (u16_t)len, TCP_WRITE_FLAG_COPY) != ERR_OK)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    unacked_add(c, len);
    return (int)len;
}

/* mbedTLS's input: from the queued segments; the window reopens by what it took. */
static int bio_recv(void *arg, unsigned char *buf, size_t len)
{
    struct mig_conn *c = arg;
    if (!c->rx)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (len > c->rx->tot_len)
        len = c->rx->tot_len;
    pbuf_copy_partial(c->rx, buf, (u16_t)len, 0);
    c->rx = pbuf_free_header(c->rx, (u16_t)len);
    if (c->pcb)
        tcp_recved(c->pcb, (u16_t)len);
    return (int)len;
}

/* A TLS failure: logged with the peer, the connection dropped. */
static void tls_fail(struct mig_conn *c, int rc)
{
    uint32_t ip = c->pcb ? ip4_addr_get_u32(ip_2_ip4(&c->pcb->remote_ip)) : 0;
    const uint8_t *a = (const uint8_t *)&ip;
    if (c->state == C_OPEN) {           /* after the handshake: the stream is broken */
        log_warn("migrate", "TLS connection %s %u.%u.%u.%u ended: %s (-0x%04x)",
                 c->server ? "from" : "with", a[0], a[1], a[2], a[3],
                 rc == MBEDTLS_ERR_SSL_INVALID_MAC ? "a record failed its check (altered on "
                 "the way?)" : rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE ? "the peer sent a "
                 "fatal alert" : mig_tls_strerror(rc), (unsigned)-rc);
        conn_shut(c, -ECONNRESET);
        return;
    }
    int err = rc == MBEDTLS_ERR_SSL_ALLOC_FAILED ? -ENOMEM :
              rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE || rc == MBEDTLS_ERR_SSL_INVALID_MAC ||
              rc == MBEDTLS_ERR_SSL_BAD_HS_FINISHED || rc == MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY ?
              -EACCES : -EPROTO;
    log_warn("migrate", "TLS %s %u.%u.%u.%u failed: %s (-0x%04x)",
             c->server ? "handshake from" : "handshake with", a[0], a[1], a[2], a[3],
             mig_tls_strerror(rc), (unsigned)-rc);
    conn_shut(c, err);              /* mbedTLS queued an alert saying why: it goes first */
}

/*
 * Moves the connection on: the handshake while it runs, then every whole record received to
 * the engine. Returns false if the connection is gone (the engine may close it from recv).
 */
static bool pump(struct mig_conn *c)
{
    unsigned gen = c->gen;
    if (c->state == C_HANDSHAKE) {
        int rc = mbedtls_ssl_handshake(&c->ssl);
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            return true;
        if (rc) {
            tls_fail(c, rc);
            return false;
        }
        c->state = C_OPEN;
        if (c->server) {
            uint32_t ip = mig_conn_peer(c);
            const uint8_t *a = (const uint8_t *)&ip;
            log_info("migrate", "TLS from %u.%u.%u.%u as %s (%s)", a[0], a[1], a[2], a[3],
                     c->peer_name, mbedtls_ssl_get_ciphersuite(&c->ssl));
        } else if (c->ops->connected) {
            c->ops->connected(c->ctx);
            if (c->gen != gen || !c->used)
                return false;
        }
    }
    if (c->state != C_OPEN || !c->tls)
        return true;
    for (;;) {
        unsigned char buf[RX_CHUNK];
        size_t queued = c->rx ? c->rx->tot_len : 0;
        int n = mbedtls_ssl_read(&c->ssl, buf, sizeof(buf));
        /* (WANT_READ also follows a warning alert mbedTLS ignored: go on while it consumes.) */
        if (n == MBEDTLS_ERR_SSL_WANT_READ && c->rx && c->rx->tot_len < queued)
            continue;
        if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
            return true;
        if (n == 0)
            continue;                   /* an empty record (mbedTLS bounds how many) */
        if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            conn_shut(c, 0);
            return false;
        }
        if (n < 0) {
            tls_fail(c, n);
            return false;
        }
        if (c->ops && c->ops->recv)
            c->ops->recv(c->ctx, buf, (size_t)n);
        if (c->gen != gen || !c->used)
            return false;
    }
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct mig_conn *c = arg;
    cb_enter(pcb);
    if (!c) {                           /* already let go of */
        if (p) {
            tcp_recved(pcb, p->tot_len);
            pbuf_free(p);
        }
        return ERR_OK;
    }
    if (!p || err != ERR_OK) {
        if (p)
            pbuf_free(p);
        detach_pcb(pcb);
        c->pcb = NULL;
        pcb_close(pcb);
        if (c->state == C_HANDSHAKE)
            log_warn("migrate", "TLS handshake %s: the peer hung up", c->server ? "from a peer" :
                     "with the target");
        conn_release(c, c->state == C_HANDSHAKE ? -EPROTO : 0);
        return cb_result(pcb);
    }
    c->received += p->tot_len;
    if (!c->tls) {
        unsigned gen = c->gen;
        u16_t len = p->tot_len;
        for (struct pbuf *q = p; q && c->gen == gen; q = q->next)
            if (c->ops && c->ops->recv)
                c->ops->recv(c->ctx, q->payload, q->len);
        if (c->gen == gen && c->pcb)
            tcp_recved(pcb, len);
        pbuf_free(p);
        return cb_result(pcb);
    }
    /* pump() leaves nothing queued once the connection is open; only a peer that keeps
     * sending while a handshake waits for send room can fill the window, and lwIP's chains
     * count at most 0xffff bytes. */
    if (c->rx && (uint32_t)c->rx->tot_len + p->tot_len > 0xffff) {
        tcp_recved(pcb, p->tot_len);
        pbuf_free(p);
        log_warn("migrate", "TLS peer flooded the handshake: dropped");
        conn_abort(c, -EPROTO);
        return ERR_ABRT;
    }
    if (c->rx)
        pbuf_cat(c->rx, p);
    else
        c->rx = p;
    pump(c);
    return cb_result(pcb);
}

/* Sends what mbedTLS holds sealed (a record or alert lwIP could not take when it was made);
 * true once it holds nothing. */
static bool flush_held(struct mig_conn *c)
{
    if (!c->tls || !c->ssl.out_left)
        return true;
    int rc = mbedtls_ssl_write(&c->ssl, NULL, 0);  /* flushes what is held, seals nothing */
    if (rc < 0 && rc != MBEDTLS_ERR_SSL_WANT_WRITE && !c->broken)
        c->broken = rc;
    return !c->ssl.out_left;
}

/* Work that waited for send room or for the poll: the handshake, a held record, a failure. */
static void service(struct mig_conn *c)
{
    if (c->broken) {
        tls_fail(c, c->broken);
        return;
    }
    if (c->tls && c->state == C_HANDSHAKE) {
        pump(c);
        return;
    }
    if (c->tls && c->ssl.out_left && flush_held(c) && c->pcb)
        tcp_output(c->pcb);
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    struct mig_conn *c = arg;
    cb_enter(pcb);
    if (!c)
        return ERR_OK;
    unacked_sub(c, len);
    c->acked += len;
    unsigned gen = c->gen;
    service(c);
    /* The engine refills now rather than on its next poll: a connection then never waits a
     * whole control-loop pass with room in its window. */
    if (c->gen == gen && c->used && c->state == C_OPEN && !c->broken && c->ops &&
        c->ops->writable)
        c->ops->writable(c->ctx);
    return cb_result(pcb);
}

/* lwIP's half-second poll: a handshake or record that waited for send room goes on. */
static err_t on_poll(void *arg, struct tcp_pcb *pcb)
{
    struct mig_conn *c = arg;
    cb_enter(pcb);
    if (c)
        service(c);
    return cb_result(pcb);
}

static void on_err(void *arg, err_t err)
{
    struct mig_conn *c = arg;
    (void)err;
    if (c) {
        c->pcb = NULL;                  /* lwIP has freed the pcb */
        conn_release(c, -ECONNRESET);
    }
}

static void setup(struct mig_conn *c, struct tcp_pcb *pcb)
{
    c->pcb = pcb;
    tcp_arg(pcb, c);
    tcp_recv(pcb, on_recv);
    tcp_sent(pcb, on_sent);
    tcp_err(pcb, on_err);
    tcp_poll(pcb, on_poll, 1);
    tcp_nagle_disable(pcb);
}

/* The server's PSK callback: the key of the name the client presented, if it is a name;
 * the name is kept for the log and the engine. */
static int psk_for(void *arg, mbedtls_ssl_context *ssl, const unsigned char *id, size_t n)
{
    struct mig_conn *c = (struct mig_conn *)((char *)ssl - offsetof(struct mig_conn, ssl));
    (void)arg;
    if (!config_hostname_ok((const char *)id, n)) {
        log_warn("migrate", "TLS peer presented an identity that is not a host name");
        return -1;                      /* the handshake fails: unknown_psk_identity */
    }
    memcpy(c->peer_name, id, n);
    c->peer_name[n] = 0;
    return mig_tls_use_psk(ssl, id, n) ? -1 : 0;
}

/* Puts TLS on a fresh connection (if it is on): 0, or -ENOMEM / -EACCES (no key). */
static int tls_start(struct mig_conn *c, bool server)
{
    c->server = server;
    if (!mig_tls_enabled()) {
        c->state = C_OPEN;
        return 0;
    }
    struct mbedtls_ssl_config *conf = mig_tls_conf(server);
    if (!conf)
        return -EACCES;
    if (server)
        mbedtls_ssl_conf_psk_cb(conf, psk_for, NULL);
    mbedtls_ssl_init(&c->ssl);
    c->tls = true;
    if (mbedtls_ssl_setup(&c->ssl, conf))
        return -ENOMEM;
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    c->state = C_HANDSHAKE;
    return 0;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct mig_conn *c = arg;
    cb_enter(pcb);
    if (!c || err != ERR_OK)
        return ERR_OK;
    if (!c->tls) {
        c->state = C_OPEN;
        if (c->ops->connected)
            c->ops->connected(c->ctx);
        return cb_result(pcb);
    }
    c->state = C_HANDSHAKE;
    pump(c);                            /* the ClientHello */
    return cb_result(pcb);
}

struct mig_conn *mig_conn_connect(uint32_t addr_be, uint16_t port, const struct mig_conn_ops *ops,
                                  void *ctx)
{
    struct mig_conn *c = conn_alloc();
    struct tcp_pcb *pcb = c ? tcp_new() : NULL;
    ip_addr_t to;
    if (!pcb) {
        if (c)
            conn_free(c);
        return NULL;
    }
    c->ops = ops;
    c->ctx = ctx;
    setup(c, pcb);
    if (tls_start(c, false)) {
        detach_pcb(pcb);
        tcp_abort(pcb);
        conn_free(c);
        return NULL;
    }
    c->state = C_TCP;                   /* until connected */
    ip_addr_set_ip4_u32(&to, addr_be);
    if (tcp_connect(pcb, &to, port, on_connected) != ERR_OK) {
        detach_pcb(pcb);
        tcp_abort(pcb);
        conn_free(c);
        return NULL;
    }
    return c;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)arg;
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    struct mig_conn *c = conn_alloc();
    if (!c) {
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    setup(c, pcb);
    int rc = tls_start(c, true);
    c->ctx = rc ? NULL : accept_fn(c, &c->ops);
    if (!c->ctx) {
        if (rc)
            log_warn("migrate", "incoming connection refused: %s",
                     rc == -EACCES ? "no cluster_key, or TLS could not start" :
                                     "TLS memory exhausted");
        detach_pcb(pcb);
        tcp_abort(pcb);
        conn_free(c);
        return ERR_ABRT;
    }
    return ERR_OK;
}

int mig_listen(uint16_t port, mig_accept_fn accept)
{
    struct tcp_pcb *pcb = tcp_new();
    if (!pcb)
        return -ENOMEM;
    if (tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
        tcp_close(pcb);
        return -EADDRINUSE;
    }
    struct tcp_pcb *l = tcp_listen(pcb);
    if (!l)
        return -ENOMEM;
    accept_fn = accept;
    tcp_accept(l, on_accept);
    return 0;
}

static size_t write_plain(struct mig_conn *c, const void *data, size_t n)
{
    size_t room = send_room(c);
    if (n > room)
        n = room;
    if (n > 0xffff)
        n = 0xffff;
    if (!n || tcp_write(c->pcb, data, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
        return 0;
    unacked_add(c, n);
    return n;
}

/* Whole records that fit the send buffer now. */
static size_t write_tls(struct mig_conn *c, const uint8_t *data, size_t n)
{
    size_t done = 0;
    if (c->broken || !flush_held(c))
        return 0;
    int exp = mbedtls_ssl_get_record_expansion(&c->ssl);
    if (exp < 0)
        return 0;
    while (done < n) {
        size_t room = send_room(c), m = n - done;
        if (room <= (size_t)exp)
            break;
        if (m > room - (size_t)exp)
            m = room - (size_t)exp;
        if (m > MBEDTLS_SSL_OUT_CONTENT_LEN)
            m = MBEDTLS_SSL_OUT_CONTENT_LEN;
        int rc = mbedtls_ssl_write(&c->ssl, data + done, m);
        if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
            /* The record is sealed and held by mbedTLS (out_left): it counts as taken and
             * goes out from on_sent, on_poll or the next write. */
            done += m;
            break;
        }
        if (rc < 0) {
            c->broken = rc;             /* torn down from the poll, not under the caller */
            return done;
        }
        done += (size_t)rc;
    }
    return done;
}

size_t mig_conn_write(struct mig_conn *c, const void *data, size_t n)
{
    if (!c || !c->used || !c->pcb || c->state != C_OPEN)
        return 0;
    size_t done = c->tls ? write_tls(c, data, n) : write_plain(c, data, n);
    if (done && c->used && c->pcb)
        tcp_output(c->pcb);
    return done;
}

uint32_t mig_conn_peer(const struct mig_conn *c)
{
    return c && c->pcb ? ip4_addr_get_u32(ip_2_ip4(&c->pcb->remote_ip)) : 0;
}

const char *mig_conn_peer_name(const struct mig_conn *c)
{
    return c && c->peer_name[0] ? c->peer_name : NULL;
}

bool mig_conn_encrypted(const struct mig_conn *c) { return c && c->tls && c->state == C_OPEN; }

size_t mig_conn_received(const struct mig_conn *c) { return c ? c->received : 0; }

size_t mig_conn_acked(const struct mig_conn *c) { return c ? c->acked : 0; }

size_t mig_conn_unacked(const struct mig_conn *c)
{
    if (!c)
        return 0;
    return c->unacked + (c->tls && c->used ? c->ssl.out_left : 0);
}

void mig_conn_close(struct mig_conn *c)
{
    if (!c || !c->used)
        return;
    if (c->pcb) {
        /* Best effort: what mbedTLS still holds (a last reply), then the close_notify alert,
         * as far as the send buffer takes them. */
        if (c->tls && c->state == C_OPEN && flush_held(c))
            (void)mbedtls_ssl_close_notify(&c->ssl);
        detach_pcb(c->pcb);
        pcb_close(c->pcb);
    }
    conn_free(c);
}

const char *mig_conn_strerror(int err)
{
    switch (err) {
    case -EACCES:
        return "TLS handshake refused (is cluster_key the same on both hosts?)";
    case -EPROTO:
        return "TLS handshake failed (does the peer run ferry with migrate_tls=on?)";
    case -ENOMEM:
        return "TLS memory exhausted";
    case 0:
        return "the peer closed the connection";
    default:
        return "connection lost";
    }
}
