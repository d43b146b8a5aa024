// net/nbd_proto.c against a scripted server: byte strings built from proto.md, fed whole and
// in pieces. Every input buffer and the engine itself are heap blocks of their exact size, so
// ASan catches any read or write past them.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "net/nbd_proto.h"

#define OPT_REPLY_MAGIC 0x3e889045565a9ull
#define REP_ACK         1u
#define REP_INFO        3u
#define REP_ERR_UNSUP   0x80000001u
#define REP_ERR_POLICY  0x80000002u
#define REP_ERR_UNKNOWN 0x80000006u
#define RW_FLAGS (NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM)

// ---- byte strings -------------------------------------------------------------------------

struct msg { uint8_t b[70000]; size_t n; };

static void m8(struct msg *m, uint8_t v) { m->b[m->n++] = v; }
static void m16(struct msg *m, uint16_t v) { m8(m, v >> 8); m8(m, (uint8_t)v); }
static void m32(struct msg *m, uint32_t v) { m16(m, v >> 16); m16(m, (uint16_t)v); }
static void m64(struct msg *m, uint64_t v) { m32(m, v >> 32); m32(m, (uint32_t)v); }
static void mbytes(struct msg *m, const void *p, size_t n) { memcpy(m->b + m->n, p, n); m->n += n; }

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}
static uint64_t be64(const uint8_t *p) { return be(p, 8); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)be(p, 4); }
static uint16_t be16(const uint8_t *p) { return (uint16_t)be(p, 2); }

static void greeting(struct msg *m, uint16_t flags)
{
    mbytes(m, "NBDMAGIC", 8);
    mbytes(m, "IHAVEOPT", 8);
    m16(m, flags);
}

static void opt_reply(struct msg *m, uint32_t opt, uint32_t type, const void *data, uint32_t len)
{
    m64(m, OPT_REPLY_MAGIC);
    m32(m, opt);
    m32(m, type);
    m32(m, len);
    if (data)
        mbytes(m, data, len);
}

static void info_export(struct msg *m, uint64_t size, uint16_t flags)
{
    opt_reply(m, 7, REP_INFO, NULL, 12);
    m16(m, 0);
    m64(m, size);
    m16(m, flags);
}

static void info_block(struct msg *m, uint32_t min, uint32_t pref, uint32_t max)
{
    opt_reply(m, 7, REP_INFO, NULL, 14);
    m16(m, 3);
    m32(m, min);
    m32(m, pref);
    m32(m, max);
}

static void simple_reply(struct msg *m, uint32_t error, uint64_t handle)
{
    m32(m, 0x67446698);
    m32(m, error);
    m64(m, handle);
}

// ---- the engine's side --------------------------------------------------------------------

static struct {
    int ready;
    struct nbd_export e;
    uint64_t handle[64];
    int status[64];
    unsigned replies;
    uint8_t rdata[4][8192];       // read data by handle (handles 0..3 in the read tests)
    uint32_t next_off[4];
} ev;

static void on_ready(void *ctx, const struct nbd_export *e) { (void)ctx; ev.ready++; ev.e = *e; }

static void on_data(void *ctx, uint64_t h, uint32_t off, const uint8_t *buf, size_t n)
{
    (void)ctx;
    assert_true(h < 4);
    assert_int_equal(off, ev.next_off[h]);             // in order, no gap, no repeat
    assert_true(off + n <= sizeof(ev.rdata[h]));
    memcpy(ev.rdata[h] + off, buf, n);
    ev.next_off[h] = off + (uint32_t)n;
}

static void on_reply(void *ctx, uint64_t h, int status)
{
    (void)ctx;
    assert_true(ev.replies < 64);
    ev.handle[ev.replies] = h;
    ev.status[ev.replies++] = status;
}

static const struct nbd_proto_ops ops = { .ready = on_ready, .data = on_data, .reply = on_reply };

static struct nbd_proto *new_proto(const char *name)
{
    struct nbd_proto *p = malloc(sizeof(*p));
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(nbd_proto_init(p, name, &ops, NULL), 0);
    return p;
}

// Feeds m in pieces of `piece` bytes (0: whole), each its own exact-size heap block.
static long feed(struct nbd_proto *p, const struct msg *m, size_t piece)
{
    size_t step = piece ? piece : m->n;
    for (size_t i = 0; i < m->n; i += step) {
        size_t n = m->n - i < step ? m->n - i : step;
        uint8_t *b = malloc(n);
        memcpy(b, m->b + i, n);
        long r = nbd_proto_in(p, b, n);
        free(b);
        if (r < 0)
            return r;
        assert_int_equal(r, (long)n);
    }
    return (long)m->n;
}

// Everything the engine has to send; write payload bytes become 0xee.
static size_t drain(struct nbd_proto *p, uint8_t *dst, size_t cap)
{
    struct nbd_out o;
    size_t n = 0;
    while (nbd_proto_out(p, &o)) {
        assert_true(n + o.len <= cap);
        if (o.payload)
            memset(dst + n, 0xee, o.len);
        else
            memcpy(dst + n, o.buf, o.len);
        n += o.len;
        nbd_proto_sent(p, o.len);
    }
    return n;
}

static void expect_go(struct nbd_proto *p, uint32_t cflags, const char *name)
{
    uint8_t out[1024];
    size_t n = drain(p, out, sizeof(out)), nl = strlen(name);
    assert_int_equal(n, 4 + 16 + 4 + nl + 4);
    assert_int_equal(be32(out), cflags);
    assert_memory_equal(out + 4, "IHAVEOPT", 8);
    assert_int_equal(be32(out + 12), 7);                // NBD_OPT_GO
    assert_int_equal(be32(out + 16), 4 + nl + 4);
    assert_int_equal(be32(out + 20), nl);
    assert_memory_equal(out + 24, name, nl);
    assert_int_equal(be16(out + 24 + nl), 1);           // one information request...
    assert_int_equal(be16(out + 26 + nl), 3);           // ...NBD_INFO_BLOCK_SIZE
}

// A connection in the transmission phase with the given export.
static struct nbd_proto *ready_proto(uint64_t size, uint16_t flags)
{
    struct nbd_proto *p = new_proto("disk");
    struct msg *m = calloc(1, sizeof(*m));
    greeting(m, 3);
    info_export(m, size, flags);
    opt_reply(m, 7, REP_ACK, NULL, 0);
    assert_int_equal(feed(p, m, 0), (long)m->n);
    assert_int_equal(ev.ready, 1);
    uint8_t out[1024];
    drain(p, out, sizeof(out));
    free(m);
    return p;
}

static long expect_fail(struct nbd_proto *p, struct msg *m, int err, const char *why_part)
{
    long r = feed(p, m, 0);
    assert_int_equal(r, err);
    assert_non_null(strstr(p->why, why_part));
    // Dead from now on: same error, nothing to send.
    struct nbd_out o;
    assert_int_equal(nbd_proto_in(p, (const uint8_t *)"x", 1), err);
    assert_false(nbd_proto_out(p, &o));
    return r;
}

// ---- handshake ----------------------------------------------------------------------------

static void test_go_handshake(void **state)
{
    (void)state;
    for (size_t piece = 0; piece <= 1; piece++) {           // whole, then byte by byte
        struct nbd_proto *p = new_proto("vm-disk0");
        struct msg *m = calloc(1, sizeof(*m)), *r = calloc(1, sizeof(*r));
        greeting(m, 3);                                      // FIXED_NEWSTYLE | NO_ZEROES
        assert_int_equal(feed(p, m, piece), (long)m->n);
        expect_go(p, 3, "vm-disk0");
        opt_reply(r, 7, REP_INFO, "\x00\x01" "vm-disk0", 10);   // NBD_INFO_NAME: skipped
        info_block(r, 512, 4096, 1 << 20);
        info_export(r, 1 << 30, RW_FLAGS | NBD_FLAG_ROTATIONAL);
        opt_reply(r, 7, REP_INFO, "\x00\x2a" "??", 4);          // unknown type: skipped
        assert_int_equal(feed(p, r, piece), (long)r->n);
        assert_int_equal(ev.ready, 0);
        m->n = 0;
        opt_reply(m, 7, REP_ACK, NULL, 0);
        assert_int_equal(feed(p, m, piece), (long)m->n);
        assert_int_equal(ev.ready, 1);
        assert_true(nbd_proto_ready(p));
        assert_int_equal(ev.e.size, 1 << 30);
        assert_int_equal(ev.e.flags, RW_FLAGS | NBD_FLAG_ROTATIONAL);
        assert_int_equal(ev.e.min_block, 512);
        assert_int_equal(ev.e.max_payload, 1 << 20);
        free(m), free(r), free(p);
    }
}

static void test_no_zeroes_and_export_name_fallback(void **state)
{
    (void)state;
    for (int nz = 0; nz <= 1; nz++) {
        struct nbd_proto *p = new_proto("d");
        struct msg *m = calloc(1, sizeof(*m));
        uint8_t out[1024];
        greeting(m, nz ? 3 : 1);
        feed(p, m, 0);
        expect_go(p, nz ? 3 : 1, "d");                  // C_NO_ZEROES only when offered
        m->n = 0;
        opt_reply(m, 7, REP_ERR_UNSUP, "no GO here", 10);
        assert_int_equal(feed(p, m, 0), (long)m->n);
        size_t n = drain(p, out, sizeof(out));          // NBD_OPT_EXPORT_NAME "d"
        assert_int_equal(n, 17);
        assert_memory_equal(out, "IHAVEOPT", 8);
        assert_int_equal(be32(out + 8), 1);
        assert_int_equal(be32(out + 12), 1);
        assert_int_equal(out[16], 'd');
        m->n = 0;
        m64(m, 8192);
        m16(m, NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY);
        if (!nz)
            for (int i = 0; i < 124; i++)
                m8(m, 0);
        m->n--;                                         // one byte short: not ready yet
        assert_int_equal(feed(p, m, 1), (long)m->n);
        assert_int_equal(ev.ready, 0);
        assert_int_equal(nbd_proto_in(p, m->b + m->n, 1), 1);
        assert_int_equal(ev.ready, 1);
        assert_int_equal(ev.e.size, 8192);
        assert_int_equal(ev.e.min_block, 512);          // proto.md's defaults
        assert_int_equal(ev.e.max_payload, NBD_MAX_PAYLOAD_DEFAULT);
        free(m), free(p);
    }
}

static void test_unknown_export_and_refusals(void **state)
{
    (void)state;
    struct nbd_proto *p = new_proto("nope");
    struct msg *m = calloc(1, sizeof(*m));
    greeting(m, 1);
    opt_reply(m, 7, REP_ERR_UNKNOWN, "not here", 8);
    expect_fail(p, m, -ENOENT, "no such export \"nope\": not here");
    free(p);

    // Another error: the server's text, printable and bounded.
    p = new_proto("x");
    m->n = 0;
    greeting(m, 1);
    uint8_t text[300];
    memset(text, 'A', sizeof(text));
    text[0] = '\n', text[1] = 0x1b, text[2] = 0xc3;
    opt_reply(m, 7, REP_ERR_POLICY, text, sizeof(text));
    expect_fail(p, m, -ECONNREFUSED, "policy");
    assert_non_null(strstr(p->why, ": ???AAAA"));
    assert_non_null(strstr(p->why, "A..."));
    for (const char *c = p->why; *c; c++)
        assert_true(*c >= 0x20 && *c < 0x7f);
    free(p);

    // EXPORT_NAME refused the only way it can be: the server hangs up.
    p = new_proto("gone");
    m->n = 0;
    greeting(m, 1);
    opt_reply(m, 7, REP_ERR_UNSUP, NULL, 0);
    feed(p, m, 0);
    assert_int_equal(nbd_proto_eof(p), -ENOENT);
    assert_non_null(strstr(p->why, "gone"));
    free(p), free(m);
}

// Each hostile handshake ends in -EPROTO with a reason.
static void test_hostile_handshakes(void **state)
{
    (void)state;
    struct { const char *why; int kind; } cases[] = {
        { "not an NBD server", 0 }, { "oldstyle", 1 }, { "bad handshake magic", 2 },
        { "not fixed-newstyle", 3 }, { "bad option reply magic", 4 },
        { "reply to option 1, expected 7", 5 }, { "option reply of 65537 bytes", 6 },
        { "NBD_REP_ACK without NBD_INFO_EXPORT", 7 }, { "NBD_INFO_EXPORT of 13 bytes", 8 },
        { "bad block sizes", 9 }, { "not a non-zero multiple of 512", 10 },
        { "lack HAS_FLAGS", 11 }, { "unexpected option reply type 0x2", 12 },
        { "NBD_REP_ACK with 1 bytes", 13 }, { "NBD_REP_INFO of 1 bytes", 14 },
        { "not a non-zero multiple of 512", 15 },
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct nbd_proto *p = new_proto("e");
        struct msg *m = calloc(1, sizeof(*m));
        int k = cases[c].kind;
        if (k == 0)
            mbytes(m, "NBDMAGIX" "IHAVEOPT\0\1", 18);
        else if (k == 1)
            mbytes(m, "NBDMAGIC" "\x00\x00\x42\x02\x81\x86\x12\x53" "\0\1", 18);
        else if (k == 2)
            mbytes(m, "NBDMAGIC" "IHAVEOPX\0\1", 18);
        else
            greeting(m, k == 3 ? 2 : 1);
        if (k == 4)
            m64(m, OPT_REPLY_MAGIC + 1), m32(m, 7), m32(m, 1), m32(m, 0);
        if (k == 5)
            opt_reply(m, 1, REP_ACK, NULL, 0);
        if (k == 6) {
            opt_reply(m, 7, REP_INFO, NULL, 65537);
            m16(m, 9);
        }
        if (k == 7)
            opt_reply(m, 7, REP_ACK, NULL, 0);
        if (k == 8)
            opt_reply(m, 7, REP_INFO, "\0\0" "0123456789a", 13);
        if (k == 9)
            info_block(m, 512, 256, 1 << 20);
        if (k == 10 || k == 11) {
            info_export(m, k == 10 ? 1000 : 4096, k == 11 ? 0 : NBD_FLAG_HAS_FLAGS);
            opt_reply(m, 7, REP_ACK, NULL, 0);
        }
        if (k == 12)
            opt_reply(m, 7, 2, "\0\0\0\0", 4);
        if (k == 13)
            opt_reply(m, 7, REP_ACK, "x", 1);
        if (k == 14)
            opt_reply(m, 7, REP_INFO, "x", 1);
        if (k == 15) {
            info_export(m, 0, NBD_FLAG_HAS_FLAGS);
            opt_reply(m, 7, REP_ACK, NULL, 0);
        }
        expect_fail(p, m, -EPROTO, cases[c].why);
        assert_int_equal(ev.ready, 0);
        free(p), free(m);
    }
}

// A long option reply of an unknown info type is skipped without being kept.
static void test_long_option_reply_skipped(void **state)
{
    (void)state;
    struct nbd_proto *p = new_proto("big");
    struct msg *m = calloc(1, sizeof(*m));
    greeting(m, 1);
    opt_reply(m, 7, REP_INFO, NULL, NBD_OPT_REPLY_MAX);
    m16(m, 2);                                           // NBD_INFO_DESCRIPTION
    memset(m->b + m->n, 'z', NBD_OPT_REPLY_MAX - 2);
    m->n += NBD_OPT_REPLY_MAX - 2;
    info_export(m, 4096, NBD_FLAG_HAS_FLAGS);
    opt_reply(m, 7, REP_ACK, NULL, 0);
    assert_int_equal(feed(p, m, 1000), (long)m->n);
    assert_int_equal(ev.ready, 1);
    free(p), free(m);
}

// ---- transmission -------------------------------------------------------------------------

static void put_req_check(const uint8_t *b, uint16_t fl, uint16_t type, uint64_t h, uint64_t off,
                          uint32_t len)
{
    assert_int_equal(be32(b), 0x25609513);
    assert_int_equal(be16(b + 4), fl);
    assert_int_equal(be16(b + 6), type);
    assert_int_equal(be64(b + 8), h);
    assert_int_equal(be64(b + 16), off);
    assert_int_equal(be32(b + 24), len);
}

static void test_requests_out_of_order(void **state)
{
    (void)state;
    struct nbd_proto *p = ready_proto(1 << 20, RW_FLAGS);
    struct msg *m = calloc(1, sizeof(*m));
    uint8_t out[8192];
    struct nbd_out o;
    assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, 1, 4096, 2048, false), 0);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_WRITE, 2, 0, 1024, true), 0);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_FLUSH, 3, 0, 0, false), 0);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, 0, 0, 512, false), 0);
    assert_int_equal(nbd_proto_inflight(p), 4);
    // The write's header, then its payload by reference (sent in two pieces), then the rest.
    assert_true(nbd_proto_out(p, &o));
    assert_false(o.payload);
    assert_int_equal(o.len, 56);
    put_req_check(o.buf, 0, 0, 1, 4096, 2048);
    put_req_check(o.buf + 28, 1, 1, 2, 0, 1024);
    nbd_proto_sent(p, 56);
    assert_true(nbd_proto_out(p, &o));
    assert_true(o.payload && o.handle == 2 && o.off == 0 && o.len == 1024);
    nbd_proto_sent(p, 1000);
    assert_true(nbd_proto_unsent(p, 2));
    // A reply for the write now would be for a request the server cannot have read.
    assert_true(nbd_proto_out(p, &o));
    assert_true(o.payload && o.off == 1000 && o.len == 24);
    nbd_proto_sent(p, 24);
    assert_false(nbd_proto_unsent(p, 2));
    size_t n = drain(p, out, sizeof(out));
    assert_int_equal(n, 56);
    put_req_check(out, 0, 3, 3, 0, 0);
    put_req_check(out + 28, 0, 0, 0, 0, 512);

    // Replies: flush, write, then the reads, data in 1-byte pieces.
    simple_reply(m, 0, 3);
    simple_reply(m, 0, 2);
    simple_reply(m, 0, 1);
    for (int i = 0; i < 2048; i++)
        m8(m, (uint8_t)(i * 7));
    simple_reply(m, 0, 0);
    for (int i = 0; i < 512; i++)
        m8(m, (uint8_t)~i);
    assert_int_equal(feed(p, m, 1), (long)m->n);
    assert_int_equal(ev.replies, 4);
    uint64_t order[] = { 3, 2, 1, 0 };
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ev.handle[i], order[i]);
        assert_int_equal(ev.status[i], 0);
    }
    assert_int_equal(ev.next_off[1], 2048);
    assert_int_equal(ev.next_off[0], 512);
    for (int i = 0; i < 2048; i++)
        assert_int_equal(ev.rdata[1][i], (uint8_t)(i * 7));
    for (int i = 0; i < 512; i++)
        assert_int_equal(ev.rdata[0][i], (uint8_t)~i);
    assert_int_equal(nbd_proto_inflight(p), 0);
    // Handles are free again; DISC ends the connection's requests.
    assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, 1, 0, 512, false), 0);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_DISC, 99, 0, 0, false), 0);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, 2, 0, 512, false), -ENOTCONN);
    assert_int_equal(nbd_proto_eof(p), -ECONNRESET);    // the read never got its reply
    free(p), free(m);
}

static void test_errors_and_clean_eof(void **state)
{
    (void)state;
    struct nbd_proto *p = ready_proto(1 << 20, RW_FLAGS);
    struct msg *m = calloc(1, sizeof(*m));
    uint8_t out[4096];
    for (uint64_t h = 0; h < 4; h++)
        assert_int_equal(nbd_proto_request(p, h == 3 ? NBD_CMD_WRITE : NBD_CMD_READ, h, 0, 512,
                                           false), 0);
    drain(p, out, sizeof(out));
    simple_reply(m, 28, 3);        // ENOSPC
    simple_reply(m, 5, 0);         // a failed read: no data follows
    simple_reply(m, 108, 1);       // ESHUTDOWN
    simple_reply(m, 4242, 2);      // unknown: EINVAL
    assert_int_equal(feed(p, m, 0), (long)m->n);
    int want[] = { -ENOSPC, -EIO, NBD_STATUS_SHUTDOWN, -EINVAL };
    for (int i = 0; i < 4; i++)
        assert_int_equal(ev.status[i], want[i]);
    assert_int_equal(ev.next_off[0], 0);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_DISC, 7, 0, 0, false), 0);
    assert_int_equal(nbd_proto_eof(p), 0);              // the answer to DISC
    free(p), free(m);
}

static void test_hostile_replies(void **state)
{
    (void)state;
    const char *why[] = { "unknown handle", "bad reply magic", "structured reply",
                          "before its request was sent", "unknown handle" };
    for (int k = 0; k < 5; k++) {
        struct nbd_proto *p = ready_proto(1 << 20, RW_FLAGS);
        struct msg *m = calloc(1, sizeof(*m));
        uint8_t out[4096];
        assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, 1, 0, 512, false), 0);
        if (k != 3)
            drain(p, out, sizeof(out));
        if (k == 0)
            simple_reply(m, 0, 2);
        if (k == 1)
            m32(m, 0x67446699), m32(m, 0), m64(m, 1);
        if (k == 2)
            m32(m, 0x668e33ef), m32(m, 0), m64(m, 1);
        if (k == 3)
            simple_reply(m, 0, 1);
        if (k == 4) {                                   // the read's data, then one more reply
            simple_reply(m, 0, 1);
            memset(m->b + m->n, 0, 512);
            m->n += 512;
            simple_reply(m, 0, 1);
        }
        expect_fail(p, m, -EPROTO, why[k]);
        free(p), free(m);
    }
}

// Sends up to budget bytes into out + *got; a write's payload bytes become its handle.
static void send_some(struct nbd_proto *p, uint8_t *out, size_t *got, size_t budget)
{
    struct nbd_out o;
    while (budget && nbd_proto_out(p, &o)) {
        size_t n = o.len < budget ? o.len : budget;
        if (o.payload)
            memset(out + *got, (uint8_t)o.handle, n);
        else
            memcpy(out + *got, o.buf, n);
        nbd_proto_sent(p, n);
        *got += n;
        budget -= n;
    }
}

// Output sent in odd pieces while requests come and go: the buffer compacts, and the stream
// stays exactly the requests' headers with each write's payload after its header.
static void test_output_stream_compacts(void **state)
{
    (void)state;
    struct nbd_proto *p = ready_proto(1 << 20, RW_FLAGS);
    struct msg *m = calloc(1, sizeof(*m));
    uint8_t *out = malloc(1 << 20);
    size_t got = 0, want = 0;
    uint64_t next = 0, answered = 0;
    for (int round = 0; round < 80; round++) {
        // Queue as many as the table takes: two reads, then a 1 KiB write, and so on.
        while (nbd_proto_request(p, next % 3 ? NBD_CMD_READ : NBD_CMD_WRITE, next,
                                 (next % 64) * 512, next % 3 ? 512 : 1024, false) == 0) {
            want += 28 + (next % 3 ? 0 : 1024);
            next++;
        }
        send_some(p, out, &got, 300);          // then answer every request fully sent
        for (; answered < next && !nbd_proto_unsent(p, answered); answered++) {
            m->n = 0;
            simple_reply(m, answered % 3 ? 5 : 0, answered);   // reads fail: no data
            assert_int_equal(feed(p, m, 0), (long)m->n);
        }
    }
    send_some(p, out, &got, SIZE_MAX);
    assert_int_equal(got, want);
    size_t at = 0;
    for (uint64_t h = 0; h < next; h++) {
        put_req_check(out + at, 0, h % 3 ? 0 : 1, h, (h % 64) * 512, h % 3 ? 512 : 1024);
        at += 28;
        for (unsigned i = 0; !(h % 3) && i < 1024; i++)
            assert_int_equal(out[at++], (uint8_t)h);
    }
    assert_true(next > 50);
    free(out), free(m), free(p);
}

static void test_refused_locally(void **state)
{
    (void)state;
    struct nbd_proto *p = new_proto("x");
    assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, 1, 0, 512, false), -ENOTCONN);
    free(p);
    p = ready_proto(1 << 20, NBD_FLAG_HAS_FLAGS);       // no flush, FUA or trim
    assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, 1, (1 << 20) - 512, 1024, false), -EINVAL);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, 1, UINT64_MAX - 511, 512, false),
                     -EINVAL);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, 1, 0, 0, false), -EINVAL);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, 1, 100, 512, false), -EINVAL);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, 1, 512, 100, false), -EINVAL);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_WRITE, 1, 0, 512, true), -EINVAL);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_FLUSH, 1, 0, 0, false), -EINVAL);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_TRIM, 1, 0, 512, false), -EINVAL);
    assert_int_equal(nbd_proto_request(p, 9, 1, 0, 512, false), -EINVAL);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, 1, 0, (32 << 20) + 512, false), -EINVAL);
    // A full table, and a handle in flight.
    for (uint64_t h = 0; h < NBD_PROTO_INFLIGHT; h++)
        assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, h, 0, 512, false), 0);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, 100, 0, 512, false), -EAGAIN);
    free(p);
    p = ready_proto(1 << 20, NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_TRIM);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, 5, 0, 512, false), 0);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_READ, 5, 512, 512, false), -EEXIST);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_WRITE, 6, 0, 512, false), -EINVAL);
    assert_int_equal(nbd_proto_request(p, NBD_CMD_TRIM, 6, 0, 512, false), -EINVAL);
    assert_int_equal(nbd_proto_inflight(p), 1);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_handshake),
        cmocka_unit_test(test_no_zeroes_and_export_name_fallback),
        cmocka_unit_test(test_unknown_export_and_refusals),
        cmocka_unit_test(test_hostile_handshakes),
        cmocka_unit_test(test_long_option_reply_skipped),
        cmocka_unit_test(test_requests_out_of_order),
        cmocka_unit_test(test_errors_and_clean_eof),
        cmocka_unit_test(test_hostile_replies),
        cmocka_unit_test(test_output_stream_compacts),
        cmocka_unit_test(test_refused_locally),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
