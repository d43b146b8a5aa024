// net/nbd.c over the real lwIP, talking to a scripted NBD server that lives in the same lwIP
// on its loopback interface (this test builds lwIP with LWIP_HAVE_LOOPIF). Time is the fake
// clock: net_service() below advances it 1 ms per call, so 30 s are 30,000 polls.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_env.h"
#include "lwip/init.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "net/nbd.h"
#include "support.h"

#define DISK  (1u << 20)
#define URI   "nbd://127.0.0.1/disk"

void net_service(void)              // what nbd_open waits with; the core's is net/vswitch.c's
{
    fake_now_ns += 1000000;
    fake_ms++;
    netif_poll_all();
    sys_check_timeouts();
}

static void run_ms(unsigned ms)
{
    while (ms--) {
        net_service();
        nbd_poll();
    }
}

// ---- the server -----------------------------------------------------------------------------

struct sconn { struct tcp_pcb *pcb; uint8_t in[80 * 1024]; size_t have; int phase; };
struct held {
    struct sconn *sc;
    struct tcp_pcb *pcb;
    uint64_t handle, off;
    uint32_t len;
    uint16_t type;
};

static struct {
    struct tcp_pcb *lpcb;
    struct sconn conn[4];
    uint8_t disk[DISK];
    bool hold, unknown_export, refuse;  // refuse: every connection is reset at once
    uint32_t error_once;            // the next request's reply carries this error
    unsigned requests, discs, accepts;
    struct held held[64];
    unsigned nheld;
} srv;

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void put(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void srv_send(struct tcp_pcb *pcb, const void *b, size_t n)
{
    assert_int_equal(tcp_write(pcb, b, (u16_t)n, TCP_WRITE_FLAG_COPY), ERR_OK);
    tcp_output(pcb);
}

static void srv_answer(struct tcp_pcb *pcb, uint64_t handle, uint16_t type, uint64_t off,
                       uint32_t len)
{
    uint8_t r[16];
    uint32_t err = srv.error_once;
    srv.error_once = 0;
    put(r, 0x67446698, 4);
    put(r + 4, err, 4);
    put(r + 8, handle, 8);
    srv_send(pcb, r, 16);
    if (type == NBD_CMD_READ && !err)
        srv_send(pcb, srv.disk + off, len);
}

static void opt_reply(struct tcp_pcb *pcb, uint32_t type, const uint8_t *d, uint32_t len)
{
    uint8_t h[20];
    put(h, 0x3e889045565a9ull, 8);
    put(h + 8, 7, 4);
    put(h + 12, type, 4);
    put(h + 16, len, 4);
    srv_send(pcb, h, 20);
    if (len)
        srv_send(pcb, d, len);
}

// One message from sc->in if complete: its length, 0 if more is needed, -1 after a DISC.
static long srv_message(struct sconn *sc)
{
    uint8_t *b = sc->in;
    if (sc->phase == 0)
        return sc->have >= 4 ? (sc->phase = 1, 4) : 0;
    if (sc->phase == 1) {
        if (sc->have < 16 || sc->have < 16 + be(b + 12, 4))
            return 0;
        assert_int_equal(be(b + 8, 4), 7);                              // NBD_OPT_GO
        if (srv.unknown_export) {
            opt_reply(sc->pcb, 0x80000006u, (const uint8_t *)"who?", 4);
        } else {
            uint8_t info[12] = { 0 };
            put(info + 2, DISK, 8);
            put(info + 10, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
                           NBD_FLAG_SEND_TRIM, 2);
            opt_reply(sc->pcb, 3, info, 12);
            opt_reply(sc->pcb, 1, NULL, 0);
            sc->phase = 2;
        }
        return (long)(16 + be(b + 12, 4));
    }
    if (sc->have < 28)
        return 0;
    uint16_t type = (uint16_t)be(b + 6, 2);
    uint64_t handle = be(b + 8, 8), off = be(b + 16, 8);
    uint32_t len = (uint32_t)be(b + 24, 4), need = 28 + (type == NBD_CMD_WRITE ? len : 0);
    if (sc->have < need)
        return 0;
    assert_int_equal(be(b, 4), 0x25609513);
    if (type == NBD_CMD_DISC) {
        srv.discs++;
        return -1;
    }
    srv.requests++;
    if (type == NBD_CMD_WRITE)
        memcpy(srv.disk + off, b + 28, len);    // done at once: only the reply may be held
    if (srv.hold)
        srv.held[srv.nheld++] = (struct held){ sc, sc->pcb, handle, off, len, type };
    else
        srv_answer(sc->pcb, handle, type, off, len);
    return need;
}

static void srv_err(void *arg, err_t err) { (void)err; ((struct sconn *)arg)->pcb = NULL; }

static err_t srv_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct sconn *sc = arg;
    long n;
    (void)err;
    if (p) {
        assert_true(sc->have + p->tot_len <= sizeof(sc->in));
        pbuf_copy_partial(p, sc->in + sc->have, p->tot_len, 0);
        sc->have += p->tot_len;
        tcp_recved(pcb, p->tot_len);
        pbuf_free(p);
    }
    while (p && (n = srv_message(sc)) > 0) {
        memmove(sc->in, sc->in + n, sc->have - (size_t)n);
        sc->have -= (size_t)n;
    }
    if (!p || n < 0) {                          // the client closed, or sent NBD_CMD_DISC
        tcp_arg(pcb, NULL);
        tcp_recv(pcb, NULL);
        tcp_err(pcb, NULL);
        tcp_close(pcb);
        sc->pcb = NULL;
    }
    return ERR_OK;
}

static err_t srv_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    static const uint8_t greeting[18] = "NBDMAGICIHAVEOPT\0\3";
    struct sconn *sc = NULL;
    (void)arg, (void)err;
    if (srv.refuse) {
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    for (int i = 0; i < 4 && !sc; i++)
        sc = srv.conn[i].pcb ? NULL : &srv.conn[i];
    assert_non_null(sc);
    sc->pcb = pcb;
    sc->have = 0;
    sc->phase = 0;
    srv.accepts++;
    tcp_arg(pcb, sc);
    tcp_recv(pcb, srv_recv);
    tcp_err(pcb, srv_err);
    tcp_nagle_disable(pcb);
    srv_send(pcb, greeting, sizeof(greeting));
    return ERR_OK;
}

// One listener for the whole run: lwIP (without SO_REUSE) cannot bind the port again while
// the server's side of an earlier connection waits in TIME_WAIT. "Down" resets connections.
static void srv_listen(void)
{
    struct tcp_pcb *pcb = tcp_new();
    assert_int_equal(tcp_bind(pcb, IP_ADDR_ANY, NBD_PORT), ERR_OK);
    srv.lpcb = tcp_listen(pcb);
    tcp_accept(srv.lpcb, srv_accept);
}

static void srv_drop_all(void)
{
    for (int i = 0; i < 4; i++)
        if (srv.conn[i].pcb) {
            tcp_arg(srv.conn[i].pcb, NULL);
            tcp_err(srv.conn[i].pcb, NULL);
            tcp_abort(srv.conn[i].pcb);
            srv.conn[i].pcb = NULL;
        }
}

static void srv_release(void)       // answers what was held, on connections still there
{
    for (unsigned i = 0; i < srv.nheld; i++) {
        struct held *h = &srv.held[i];
        if (h->sc->pcb == h->pcb)
            srv_answer(h->pcb, h->handle, h->type, h->off, h->len);
    }
    srv.nheld = 0;
}

// ---- the client's callbacks -----------------------------------------------------------------

static struct treq { uint8_t buf[8192]; uint32_t len; int status, done; } *tr;

static int tx_data(void *ctx, uint64_t cookie, uint32_t off, void *dst, uint32_t n)
{
    (void)ctx;
    assert_true(off + n <= tr[cookie].len);
    memcpy(dst, tr[cookie].buf + off, n);
    return 0;
}

static int rx_data(void *ctx, uint64_t cookie, uint32_t off, const void *src, uint32_t n)
{
    (void)ctx;
    assert_true(off + n <= tr[cookie].len);
    memcpy(tr[cookie].buf + off, src, n);
    return 0;
}

static int done_count;
static void done(void *ctx, uint64_t cookie, int status)
{
    (void)ctx;
    tr[cookie].done++;
    tr[cookie].status = status;
    __atomic_add_fetch(&done_count, 1, __ATOMIC_RELAXED);
}

static const struct nbd_client_ops cops = { .tx_data = tx_data, .rx_data = rx_data, .done = done };

static int submit(struct nbd_client *c, uint64_t cookie, enum nbd_cmd cmd, uint64_t off,
                  uint32_t len, uint8_t fill)
{
    tr[cookie].len = len;
    memset(tr[cookie].buf, fill, len);
    return nbd_submit(c, cmd, off, len, false, cookie);
}

static bool run_until_done(int n, unsigned max_ms)
{
    while (__atomic_load_n(&done_count, __ATOMIC_RELAXED) < n && max_ms--)
        run_ms(1);
    return done_count >= n;
}

static struct nbd_client *open_ok(void)
{
    struct nbd_client *c;
    char why[200];
    int rc = nbd_open(URI, &cops, NULL, &c, why, sizeof(why));
    if (rc)
        fail_msg("nbd_open: %d %s", rc, why);
    return c;
}

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++)
        assert_null(srv.conn[i].pcb);           // the last test's connections are gone
    struct tcp_pcb *l = srv.lpcb;
    memset(&srv, 0, sizeof(srv));
    srv.lpcb = l;
    tr = calloc(512, sizeof(*tr));
    done_count = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    srv_drop_all();
    run_ms(10);
    free(tr);
    return 0;
}

// ---- tests ----------------------------------------------------------------------------------

static void test_uri(void **state)
{
    (void)state;
    struct nbd_uri u;
    char why[200];
    assert_int_equal(nbd_parse_uri("nbd://10.1.2.3/vm-disk_0", &u, why, sizeof(why)), 0);
    assert_int_equal(u.addr_be, lwip_htonl(0x0a010203));
    assert_int_equal(u.port, 10809);
    assert_string_equal(u.export_name, "vm-disk_0");
    assert_int_equal(nbd_parse_uri("nbd://192.168.0.1:2000/a", &u, why, sizeof(why)), 0);
    assert_int_equal(u.port, 2000);
    const char *bad[][2] = {
        { "nfs://1.2.3.4/a", "not nbd://" }, { "nbd://1.2.3/a", "bad IPv4" },
        { "nbd://1.2.3.256/a", "bad IPv4" }, { "nbd://1.2.3.4.5/a", "no export name" },
        { "nbd://a.b.c.d/x", "bad IPv4" }, { "nbd://1.2.3.4:0/a", "bad port" },
        { "nbd://1.2.3.4:65536/a", "bad port" }, { "nbd://1.2.3.4:/a", "bad port" },
        { "nbd://1.2.3.4", "no export name" }, { "nbd://1.2.3.4/", "no export name" },
        { "nbd://1.2.3.4:80", "no export name" }, { "nbd://1.2.3.4/a b", "character 2" },
        { "nbd://1.2.3.4/a\x7f", "not printable" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = 0;
        assert_int_equal(nbd_parse_uri(bad[i][0], &u, why, sizeof(why)), -EINVAL);
        if (!strstr(why, bad[i][1]))
            fail_msg("%s: \"%s\" lacks \"%s\"", bad[i][0], why, bad[i][1]);
    }
    char longname[300] = "nbd://1.2.3.4/";
    memset(longname + 14, 'x', 256);
    assert_int_equal(nbd_parse_uri(longname, &u, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "longer than 255"));
    longname[14 + 255] = 0;
    assert_int_equal(nbd_parse_uri(longname, &u, why, sizeof(why)), 0);
}

static void test_open_and_io(void **state)
{
    (void)state;
    struct nbd_client *c = open_ok();
    struct nbd_stats s;
    char line[512];
    assert_int_equal(nbd_export_of(c)->size, DISK);
    assert_string_equal(nbd_state(c), "ready");
    assert_int_equal(submit(c, 0, NBD_CMD_WRITE, 4096, 8192, 0x5a), 0);
    assert_int_equal(nbd_submit(c, NBD_CMD_WRITE, 0, 512, true, 1), 0);   // FUA
    tr[1].len = 512;
    memset(tr[1].buf, 0x11, 512);
    assert_true(run_until_done(2, 1000));
    assert_int_equal(submit(c, 2, NBD_CMD_READ, 4096 - 512, 8192, 0), 0);
    assert_int_equal(submit(c, 3, NBD_CMD_FLUSH, 0, 0, 0), 0);
    assert_int_equal(submit(c, 4, NBD_CMD_TRIM, 65536, 4096, 0), 0);
    assert_true(run_until_done(5, 1000));
    for (int i = 0; i < 5; i++) {
        assert_int_equal(tr[i].done, 1);
        assert_int_equal(tr[i].status, 0);
    }
    for (uint32_t i = 0; i < 8192; i++)
        assert_int_equal(tr[2].buf[i], i < 512 ? 0 : 0x5a);
    assert_int_equal(srv.disk[0], 0x11);
    // Refused at submit: past the end, unaligned, DISC.
    assert_int_equal(nbd_submit(c, NBD_CMD_READ, DISK, 512, false, 9), -EINVAL);
    assert_int_equal(nbd_submit(c, NBD_CMD_READ, 1, 512, false, 9), -EINVAL);
    assert_int_equal(nbd_submit(c, NBD_CMD_DISC, 0, 0, false, 9), -EINVAL);
    nbd_get_stats(c, &s);
    assert_int_equal(s.reads, 1);
    assert_int_equal(s.writes, 2);
    assert_int_equal(s.flushes, 1);
    assert_int_equal(s.trims, 1);
    assert_int_equal(s.bytes_written, 8192 + 512);
    assert_int_equal(s.held + s.errors + s.disconnects + s.reconnects, 0);
    nbd_describe(c, line, sizeof(line));
    assert_non_null(strstr(line, "nbd://127.0.0.1:10809/disk ready size 1048576 rw flush fua "
                                 "trim held 0 reads 1 writes 2"));
    nbd_close(c);
    run_ms(5);
    assert_int_equal(srv.discs, 1);             // a soft disconnect
}

static void test_open_failures(void **state)
{
    (void)state;
    struct nbd_client *c;
    char why[200];
    assert_int_equal(nbd_open("nbd://127.0.0.1:10810/disk", &cops, NULL, &c, why, sizeof(why)),
                     -ECONNREFUSED);
    assert_non_null(strstr(why, "connection refused"));
    assert_null(c);
    srv.unknown_export = true;
    assert_int_equal(nbd_open(URI, &cops, NULL, &c, why, sizeof(why)), -ENOENT);
    assert_non_null(strstr(why, "no such export \"disk\": who?"));
    assert_int_equal(nbd_open("nbd://127.0.0.1/", &cops, NULL, &c, why, sizeof(why)), -EINVAL);
    assert_int_equal(nbd_open("nbd://10.9.9.9/x", &cops, NULL, &c, why, sizeof(why)),
                     -EHOSTUNREACH);              // no route: only the loopback interface
}

// The connection dies with six requests unanswered: all are sent again, each done once.
static void test_reconnect_resends(void **state)
{
    (void)state;
    struct nbd_client *c = open_ok();
    struct nbd_stats s;
    srv.hold = true;
    for (int i = 0; i < 4; i++)
        assert_int_equal(submit(c, (uint64_t)i, NBD_CMD_WRITE, (uint64_t)i * 8192, 8192,
                                (uint8_t)(0x40 + i)), 0);
    memset(srv.disk + 65536, 0x77, 4096);
    assert_int_equal(submit(c, 4, NBD_CMD_READ, 65536, 4096, 0), 0);
    assert_int_equal(submit(c, 5, NBD_CMD_READ, 65536, 512, 0), 0);
    run_ms(50);
    assert_int_equal(srv.nheld, 6);
    assert_int_equal(done_count, 0);
    srv_drop_all();
    srv.hold = false;
    srv.nheld = 0;
    assert_true(run_until_done(6, 2000));
    run_ms(100);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(tr[i].done, 1);
        assert_int_equal(tr[i].status, 0);
    }
    for (uint32_t i = 0; i < 4 * 8192; i++)
        assert_int_equal(srv.disk[i], 0x40 + i / 8192);
    assert_int_equal(tr[4].buf[4095], 0x77);
    nbd_get_stats(c, &s);
    assert_int_equal(s.disconnects, 1);
    assert_int_equal(s.reconnects, 1);
    assert_int_equal(s.resent, 6);
    assert_int_equal(srv.accepts, 2);
    nbd_close(c);
}

// A reply 10 s late: the connection is dropped and the request goes again.
static void test_timeout_resends(void **state)
{
    (void)state;
    struct nbd_client *c = open_ok();
    struct nbd_stats s;
    srv.hold = true;
    memset(srv.disk, 0x99, 512);
    assert_int_equal(submit(c, 0, NBD_CMD_READ, 0, 512, 0), 0);
    run_ms(NBD_REQ_TIMEOUT_MS - 100);
    nbd_get_stats(c, &s);
    assert_int_equal(s.timeouts, 0);
    run_ms(200);
    nbd_get_stats(c, &s);
    assert_int_equal(s.timeouts, 1);
    srv.hold = false;
    srv.nheld = 0;
    assert_true(run_until_done(1, 2000));
    assert_int_equal(tr[0].status, 0);
    assert_int_equal(tr[0].buf[0], 0x99);
    nbd_get_stats(c, &s);
    assert_int_equal(s.resent, 1);
    nbd_close(c);
}

// No server for 30 s: the request fails with -EIO once; the client comes back by itself.
static void test_deadline_then_recovery(void **state)
{
    (void)state;
    struct nbd_client *c = open_ok();
    struct nbd_stats s;
    srv.refuse = true;
    srv_drop_all();
    assert_int_equal(submit(c, 0, NBD_CMD_WRITE, 0, 512, 1), 0);
    run_ms(NBD_DEADLINE_MS - 500);
    assert_int_equal(tr[0].done, 0);
    assert_string_equal(nbd_state(c), "reconnecting");
    run_ms(1000);
    assert_int_equal(tr[0].done, 1);
    assert_int_equal(tr[0].status, -EIO);
    srv.refuse = false;
    run_ms(NBD_BACKOFF_MAX_MS + 100);
    assert_string_equal(nbd_state(c), "ready");
    assert_int_equal(submit(c, 1, NBD_CMD_READ, 0, 512, 0xff), 0);
    assert_true(run_until_done(2, 1000));
    assert_int_equal(tr[1].status, 0);
    assert_int_equal(tr[0].done, 1);
    nbd_get_stats(c, &s);
    assert_int_equal(s.errors, 1);
    assert_int_equal(s.reconnects, 1);
    nbd_close(c);
}

// Sent late, past its deadline while the server holds it: failed once, the late reply ignored.
static void test_abandoned_reply_ignored(void **state)
{
    (void)state;
    struct nbd_client *c = open_ok();
    srv.refuse = true;
    srv_drop_all();
    assert_int_equal(submit(c, 0, NBD_CMD_READ, 0, 512, 0), 0);
    run_ms(NBD_DEADLINE_MS - 5000);
    srv.hold = true;
    srv.refuse = false;
    run_ms(4000);
    assert_int_equal(srv.nheld, 1);             // sent on the new connection, not answered
    run_ms(1500);
    assert_int_equal(tr[0].done, 1);
    assert_int_equal(tr[0].status, -EIO);
    srv_release();
    run_ms(100);
    assert_int_equal(tr[0].done, 1);
    assert_string_equal(nbd_state(c), "ready");  // the late reply was no protocol error
    assert_int_equal(submit(c, 1, NBD_CMD_READ, 0, 512, 0), 0);
    srv.hold = false;
    assert_true(run_until_done(2, 1000));
    nbd_close(c);
}

// The server's own error is final; NBD_ESHUTDOWN is not: DISC, reconnect, send again.
static void test_server_errors(void **state)
{
    (void)state;
    struct nbd_client *c = open_ok();
    struct nbd_stats s;
    srv.error_once = 28;
    assert_int_equal(submit(c, 0, NBD_CMD_WRITE, 0, 512, 1), 0);
    assert_true(run_until_done(1, 1000));
    assert_int_equal(tr[0].status, -ENOSPC);
    assert_int_equal(srv.requests, 1);
    srv.error_once = 108;
    assert_int_equal(submit(c, 1, NBD_CMD_WRITE, 0, 512, 2), 0);
    assert_true(run_until_done(2, 2000));
    assert_int_equal(tr[1].status, 0);
    assert_int_equal(tr[1].done, 1);
    assert_int_equal(srv.discs, 1);
    assert_int_equal(srv.requests, 3);
    nbd_get_stats(c, &s);
    assert_int_equal(s.reconnects, 1);
    assert_int_equal(s.errors, 1);
    nbd_close(c);
}

// nbd_submit from another thread while this one polls.
static struct nbd_client *thread_client;
static void *submitter(void *arg)
{
    (void)arg;
    for (uint64_t i = 0; i < 400; i++) {
        tr[i].len = 512;
        while (nbd_submit(thread_client, NBD_CMD_READ, (i % 64) * 512, 512, false, i) == -EAGAIN)
            ;
    }
    return NULL;
}

// A request submitted on a CPU whose clock reads a little ahead of the control CPU's (each CPU
// reads its own TSC) is not taken for one 2^64 ns old: it completes normally.
static void test_submitter_clock_ahead(void **state)
{
    (void)state;
    struct nbd_client *c = open_ok();
    struct nbd_stats s;
    fake_now_ns += 5000000;                     // the submitter's clock, 5 ms ahead
    assert_int_equal(submit(c, 0, NBD_CMD_READ, 0, 4096, 0), 0);
    fake_now_ns -= 5000000;
    assert_true(run_until_done(1, 1000));
    assert_int_equal(tr[0].status, 0);
    nbd_get_stats(c, &s);
    assert_int_equal(s.errors + s.timeouts + s.disconnects, 0);
    nbd_close(c);
    run_ms(5);
}

static void test_submit_from_another_thread(void **state)
{
    (void)state;
    pthread_t t;
    struct timespec t0, t1;
    thread_client = open_ok();
    assert_int_equal(pthread_create(&t, NULL, submitter, NULL), 0);
    // Fake time flies here, so wait on the host's clock: the thread runs at its own pace.
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        run_ms(1);
        clock_gettime(CLOCK_MONOTONIC, &t1);
    } while (__atomic_load_n(&done_count, __ATOMIC_RELAXED) < 400 && t1.tv_sec - t0.tv_sec < 60);
    pthread_join(t, NULL);
    assert_int_equal(done_count, 400);
    for (int i = 0; i < 400; i++)
        assert_int_equal(tr[i].done, 1);
    nbd_close(thread_client);
}

int main(void)
{
    lwip_init();
    srv_listen();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri),
        cmocka_unit_test_setup_teardown(test_open_and_io, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_resends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_resends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_then_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandoned_reply_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_from_another_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submitter_clock_ahead, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
