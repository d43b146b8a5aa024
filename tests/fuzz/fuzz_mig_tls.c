// libFuzzer target: the migration transport's TLS glue (net/mig_transport.c, net/mig_tls.c)
// with the real mbedTLS and lwIP's real pbufs, under a fake of lwIP's TCP calls, against a
// peer that is a real mbedTLS endpoint of this same build.
//
// Build (make fuzz does) and run from the repository root:
//   make build/fuzz_mig_tls && build/fuzz_mig_tls -max_total_time=10 -max_len=4096
//
// Byte 0 picks ferry's side: bit 0 clear, the server (an incoming connection on port 7700,
// the harness the client); set, the client (mig_conn_connect; the harness the server). Bit 1
// gives the peer a wrong cluster key. Bit 2 runs the handshake to its end first, undisturbed,
// so that short inputs reach the open connection. Then each op byte does one thing, taking
// its arguments from the bytes after it:
//   0 the peer steps: its handshake, or (once done) writes a chunk of the input as data
//   1 up to N bytes of what the peer sent reach ferry, cut into pbufs of the sizes given,
//     optionally with one byte flipped (an attacker on the path)
//   2 raw input bytes reach ferry as if the peer sent them
//   3 lwIP acknowledges sent bytes (on_sent) / 4 lwIP's poll
//   5 the send buffer's room changes (tcp_sndbuf, tcp_sndqueuelen)
//   6 ferry's engine writes a chunk / 7 the engine closes the connection
//   8 the peer closes (FIN) / 9 the connection is reset (on_err)
//   10 the peer reads what ferry sent
//
// Checks, beyond the sanitizers: what the engine receives is exactly a prefix of what the
// peer wrote, and what the peer reads is exactly a prefix of what the engine's writes took
// (mig_conn_write's result counts as taken); nothing reaches the engine if the keys differ or
// a byte was flipped before the handshake ended; the engine hears closed() at most once, and
// nothing after it; when the input ends and the connection is closed, every pbuf is freed,
// the pcb is released exactly once, and mbedTLS's arena passes its own check.
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hv/base/config.h"
#include "lwip/memp.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "mbedtls/memory_buffer_alloc.h"
#include "mbedtls/ssl.h"
#include "net/mig_tls.h"
#include "net/mig_transport.h"
#include "net/netdev.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)
#define KEY "ferry-fuzz-cluster-key-0001"
#define BAD_KEY "another-cluster-key-9999"
#define BUF (256 * 1024)

/* ---- The fake of lwIP's TCP calls: one pcb, what ferry sends lands in to_peer. ---------- */
static struct tcp_pcb pcb;
static bool pcb_live, pcb_closed;
static void *cb_arg;
static tcp_recv_fn cb_recv;
static tcp_sent_fn cb_sent;
static tcp_err_fn cb_err;
static tcp_poll_fn cb_poll;
static tcp_accept_fn cb_accept;
static tcp_connected_fn cb_connected;
static struct tcp_pcb listen_pcb;
static size_t window;                    /* received bytes not yet tcp_recved */

static uint8_t to_peer[BUF], to_ferry[BUF];
static size_t to_peer_len, to_peer_off, to_ferry_len, to_ferry_off;

struct tcp_pcb *tcp_new(void)
{
    CHECK(!pcb_live);
    memset(&pcb, 0, sizeof(pcb));
    pcb.snd_buf = TCP_SND_BUF;
    pcb_live = true;
    pcb_closed = false;
    return &pcb;
}
void tcp_arg(struct tcp_pcb *p, void *arg) { (void)p; cb_arg = arg; }
void tcp_recv(struct tcp_pcb *p, tcp_recv_fn f) { (void)p; cb_recv = f; }
void tcp_sent(struct tcp_pcb *p, tcp_sent_fn f) { (void)p; cb_sent = f; }
void tcp_err(struct tcp_pcb *p, tcp_err_fn f) { (void)p; cb_err = f; }
void tcp_poll(struct tcp_pcb *p, tcp_poll_fn f, u8_t i) { (void)p; (void)i; cb_poll = f; }
void tcp_accept(struct tcp_pcb *p, tcp_accept_fn f) { (void)p; cb_accept = f; }
err_t tcp_bind(struct tcp_pcb *p, const ip_addr_t *a, u16_t port)
{
    (void)p; (void)a; (void)port;
    return ERR_OK;
}
struct tcp_pcb *tcp_listen_with_backlog(struct tcp_pcb *p, u8_t backlog)
{
    (void)backlog;
    CHECK(p == &pcb);
    pcb_live = false;                    /* lwIP frees the pcb it was given */
    return &listen_pcb;
}
err_t tcp_connect(struct tcp_pcb *p, const ip_addr_t *a, u16_t port, tcp_connected_fn f)
{
    (void)p; (void)a; (void)port;
    cb_connected = f;
    return ERR_OK;
}
static void release(void)
{
    CHECK(pcb_live);
    pcb_live = false;
    pcb_closed = true;
}
void tcp_abort(struct tcp_pcb *p) { CHECK(p == &pcb); release(); }
err_t tcp_close(struct tcp_pcb *p) { CHECK(p == &pcb); release(); return ERR_OK; }
err_t tcp_output(struct tcp_pcb *p) { CHECK(p == &pcb && pcb_live); return ERR_OK; }
void tcp_recved(struct tcp_pcb *p, u16_t len)
{
    CHECK(p == &pcb && pcb_live);
    CHECK(len <= window);                /* never more than was delivered */
    window -= len;
}
err_t tcp_write(struct tcp_pcb *p, const void *data, u16_t len, u8_t flags)
{
    (void)flags;
    CHECK(p == &pcb && pcb_live);
    if (len > pcb.snd_buf || to_peer_len + len > BUF)
        return ERR_MEM;
    memcpy(to_peer + to_peer_len, data, len);
    to_peer_len += len;
    pcb.snd_buf -= len;
    return ERR_OK;
}
/* pbuf.c frees out-of-sequence queues of active pcbs under memory pressure: there are none. */
struct tcp_pcb *tcp_active_pcbs;
void tcp_free_ooseq(struct tcp_pcb *p) { (void)p; }
struct net_if *netdev_get(unsigned i) { (void)i; return NULL; }
const ip_addr_t ip_addr_any = IPADDR4_INIT(IPADDR_ANY);
void panic(const char *fmt, ...)
{
    (void)fmt;
    abort();
}

/* ---- The engine's side. -------------------------------------------------------------- */
static struct mig_conn *conn;
static uint8_t engine_sent[BUF], engine_got[BUF];
static size_t engine_sent_len, engine_got_len;
static bool engine_closed, engine_connected;

static void e_recv(void *ctx, const uint8_t *data, size_t n)
{
    (void)ctx;
    CHECK(!engine_closed && engine_got_len + n <= BUF);
    memcpy(engine_got + engine_got_len, data, n);
    engine_got_len += n;
}
static void e_closed(void *ctx, int err)
{
    (void)ctx; (void)err;
    CHECK(!engine_closed);
    engine_closed = true;
    conn = NULL;
}
static void e_connected(void *ctx) { (void)ctx; CHECK(!engine_closed); engine_connected = true; }
static const struct mig_conn_ops e_ops = { .recv = e_recv, .closed = e_closed,
                                           .connected = e_connected };
static struct mig_conn *accepted;
static void *e_accept(struct mig_conn *c, const struct mig_conn_ops **ops)
{
    static int token;
    accepted = c;
    *ops = &e_ops;
    return &token;                       /* any non-NULL ctx */
}

/* ---- The peer: a real mbedTLS endpoint. ------------------------------------------------ */
static mbedtls_ssl_config peer_conf;
static mbedtls_ssl_context peer;
static const char *peer_key;
static uint8_t peer_sent[BUF], peer_got[BUF];
static size_t peer_sent_len, peer_got_len;
static bool tampered;

static int p_send(void *ctx, const unsigned char *b, size_t n)
{
    (void)ctx;
    if (to_ferry_len + n > BUF)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    memcpy(to_ferry + to_ferry_len, b, n);
    to_ferry_len += n;
    return (int)n;
}
static int p_recv(void *ctx, unsigned char *b, size_t n)
{
    (void)ctx;
    if (to_peer_off == to_peer_len)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (n > to_peer_len - to_peer_off)
        n = to_peer_len - to_peer_off;
    memcpy(b, to_peer + to_peer_off, n);
    to_peer_off += n;
    return (int)n;
}
static int p_psk(void *ctx, mbedtls_ssl_context *ssl, const unsigned char *id, size_t n)
{
    uint8_t psk[MIG_TLS_PSK_SIZE];
    (void)ctx;
    if (mig_tls_psk(peer_key, strlen(peer_key), (const char *)id, n, psk))
        return -1;
    return mbedtls_ssl_set_hs_psk(ssl, psk, sizeof(psk));
}

static void peer_setup(bool peer_is_server)
{
    uint8_t psk[MIG_TLS_PSK_SIZE];
    mbedtls_ssl_config_init(&peer_conf);
    CHECK(!mbedtls_ssl_config_defaults(&peer_conf, peer_is_server ? MBEDTLS_SSL_IS_SERVER :
                                       MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                       MBEDTLS_SSL_PRESET_DEFAULT));
    /* ferry's own client configuration brings the random generator; the peer shares it. */
    mbedtls_ssl_conf_rng(&peer_conf, mig_tls_conf(false)->f_rng, mig_tls_conf(false)->p_rng);
    if (peer_is_server) {
        mbedtls_ssl_conf_psk_cb(&peer_conf, p_psk, NULL);
    } else {
        CHECK(!mig_tls_psk(peer_key, strlen(peer_key), "peer", 4, psk));
        CHECK(!mbedtls_ssl_conf_psk(&peer_conf, psk, sizeof(psk), (const unsigned char *)"peer",
                                    4));
    }
    mbedtls_ssl_init(&peer);
    CHECK(!mbedtls_ssl_setup(&peer, &peer_conf));
    mbedtls_ssl_set_bio(&peer, NULL, p_send, p_recv, NULL);
}

/* ---- Driving it. ---------------------------------------------------------------------- */
static void deliver(const uint8_t *data, size_t n);

/* Both ends exchange everything until the handshake is over (or fails), no faults. */
static void handshake(void)
{
    for (int i = 0; i < 16 && pcb_live && peer.state != MBEDTLS_SSL_HANDSHAKE_OVER; i++) {
        (void)mbedtls_ssl_handshake(&peer);
        while (to_ferry_off < to_ferry_len && pcb_live) {
            size_t n = to_ferry_len - to_ferry_off > 60000 ? 60000 : to_ferry_len - to_ferry_off;
            deliver(to_ferry + to_ferry_off, n);
            to_ferry_off += n;
        }
    }
}

static const uint8_t *in;
static size_t in_len, in_off;

static unsigned take(void) { return in_off < in_len ? in[in_off++] : 0; }
static unsigned take16(void) { unsigned v = take(); return v | take() << 8; }

/* Hands ferry `n` bytes as a chain of pbufs of the sizes the input gives. */
static void deliver(const uint8_t *data, size_t n)
{
    struct pbuf *chain = NULL;
    for (size_t off = 0; off < n;) {
        size_t piece = in_off < in_len ? 1 + take() * 8 : 1460;
        if (piece > n - off)
            piece = n - off;
        struct pbuf *q = pbuf_alloc(PBUF_RAW, (u16_t)piece, PBUF_RAM);
        if (!q)
            break;
        memcpy(q->payload, data + off, piece);
        if (chain)
            pbuf_cat(chain, q);
        else
            chain = q;
        off += piece;
    }
    if (!chain)
        return;
    if (!pcb_live || !cb_recv) {
        pbuf_free(chain);
        return;
    }
    window += chain->tot_len;
    if (cb_recv(cb_arg, &pcb, chain, ERR_OK) == ERR_ABRT)
        CHECK(!pcb_live);
}

static void step(unsigned op)
{
    uint8_t buf[4096];
    switch (op % 11) {
    case 0:
        if (peer.state != MBEDTLS_SSL_HANDSHAKE_OVER) {
            (void)mbedtls_ssl_handshake(&peer);
        } else {
            size_t n = take16() % sizeof(buf);
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)(peer_sent_len + i);
            int rc = mbedtls_ssl_write(&peer, buf, n);
            if (rc > 0) {
                memcpy(peer_sent + peer_sent_len, buf, (size_t)rc);
                peer_sent_len += (size_t)rc;
            }
        }
        break;
    case 1: {
        size_t n = take16(), flip = take();
        if (n > to_ferry_len - to_ferry_off)
            n = to_ferry_len - to_ferry_off;
        if (flip & 1 && n) {
            to_ferry[to_ferry_off + flip % n] ^= 0x40;
            tampered = true;
        }
        deliver(to_ferry + to_ferry_off, n);
        to_ferry_off += n;
        break;
    }
    case 2: {
        size_t n = take() % 64;
        if (n > in_len - in_off)
            n = in_len - in_off;
        if (n)
            tampered = true;
        deliver(in + in_off, n);
        in_off += n;
        break;
    }
    case 3:
        if (pcb_live && cb_sent) {
            u16_t len = (u16_t)take16();
            pcb.snd_buf = (u16_t)(pcb.snd_buf + len > TCP_SND_BUF ? TCP_SND_BUF :
                                  pcb.snd_buf + len);
            if (cb_sent(cb_arg, &pcb, len) == ERR_ABRT)
                CHECK(!pcb_live);
        }
        break;
    case 4:
        if (pcb_live && cb_poll && cb_poll(cb_arg, &pcb) == ERR_ABRT)
            CHECK(!pcb_live);
        break;
    case 5:
        pcb.snd_buf = (u16_t)take16();
        pcb.snd_queuelen = (u16_t)(take() % (TCP_SND_QUEUELEN + 1));
        break;
    case 6:
        if (conn) {
            size_t n = take16() % sizeof(buf);
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)(engine_sent_len * 7 + i);
            size_t w = mig_conn_write(conn, buf, n);
            CHECK(w <= n);
            memcpy(engine_sent + engine_sent_len, buf, w);
            engine_sent_len += w;
        }
        break;
    case 7:
        if (conn) {
            mig_conn_close(conn);
            conn = NULL;
            CHECK(!pcb_live);
        }
        break;
    case 8:
        if (pcb_live && cb_recv && cb_recv(cb_arg, &pcb, NULL, ERR_OK) == ERR_ABRT)
            CHECK(!pcb_live);
        break;
    case 9:
        if (pcb_live && cb_err) {
            tcp_err_fn f = cb_err;
            pcb_live = false;            /* lwIP frees the pcb, then tells */
            f(cb_arg, ERR_RST);
        }
        break;
    case 10: {
        int rc = mbedtls_ssl_read(&peer, peer_got + peer_got_len,
                                  BUF - peer_got_len < 16384 ? BUF - peer_got_len : 16384);
        if (rc > 0)
            peer_got_len += (size_t)rc;
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool listening;
    if (size < 1)
        return 0;
    if (!listening) {
        strcpy(hv_config.hostname, "fuzz-host");
        strcpy(hv_config.cluster_key, KEY);
        hv_config.migrate_tls = true;
        mem_init();
        memp_init();
        CHECK(mig_tls_conf(true) != NULL);
        CHECK(mig_listen(MIG_PORT, e_accept) == 0);
        listening = true;
    }
    in = data;
    in_len = size;
    in_off = 1;
    to_peer_len = to_peer_off = to_ferry_len = to_ferry_off = 0;
    engine_sent_len = engine_got_len = peer_sent_len = peer_got_len = 0;
    engine_closed = engine_connected = tampered = false;
    window = 0;
    cb_recv = NULL;
    cb_sent = NULL;
    cb_err = NULL;
    cb_poll = NULL;
    bool bad_key = data[0] & 2;
    peer_key = bad_key ? BAD_KEY : KEY;
    bool ferry_client = data[0] & 1;
    size_t pbufs_before = lwip_stats.memp[MEMP_PBUF_POOL]->used, heap_before = lwip_stats.mem.used;

    if (ferry_client) {
        conn = mig_conn_connect(0x0100000a, MIG_PORT, &e_ops, NULL);
        CHECK(conn && cb_connected);
        peer_setup(true);
        CHECK(cb_connected(cb_arg, &pcb, ERR_OK) != ERR_ABRT || !pcb_live);
    } else {
        struct tcp_pcb *p = tcp_new();
        accepted = NULL;
        CHECK(cb_accept(cb_arg, p, ERR_OK) == ERR_OK);
        conn = accepted;
        CHECK(conn);
        peer_setup(false);
    }
    if (data[0] & 4)
        handshake();
    while (in_off < in_len)
        step(take());

    /* What crossed, crossed intact and in order. */
    CHECK(engine_got_len <= peer_sent_len && !memcmp(engine_got, peer_sent, engine_got_len));
    CHECK(peer_got_len <= engine_sent_len && !memcmp(peer_got, engine_sent, peer_got_len));
    if (bad_key)
        CHECK(!engine_got_len && !engine_connected);
    if (ferry_client && engine_connected)
        CHECK(peer.state == MBEDTLS_SSL_HANDSHAKE_OVER || tampered);

    if (conn)
        mig_conn_close(conn);
    CHECK(!pcb_live);
    mbedtls_ssl_free(&peer);
    mbedtls_ssl_config_free(&peer_conf);
    CHECK(lwip_stats.memp[MEMP_PBUF_POOL]->used == pbufs_before);
    CHECK(lwip_stats.mem.used == heap_before);
    CHECK(mbedtls_memory_buffer_alloc_verify() == 0);
    return 0;
}
