// libFuzzer target: arbitrary server bytes into the NBD client engine (net/nbd_proto.c) from
// every phase.
//
// Build and run from the repository root:
//   clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//       tests/fuzz/fuzz_nbd.c net/nbd_proto.c -o build/fuzz_nbd
//   mkdir -p build/fuzz_corpus_nbd
//   build/fuzz_nbd -max_total_time=10 -max_len=70000 build/fuzz_corpus_nbd
//
// Input: [ctl:1][bytes]. ctl bits 0-1, where the bytes start: 0 the greeting; 1 the replies to
// NBD_OPT_GO (bit 7: the server offered NO_ZEROES); 2 the transmission phase with six requests
// in flight (reads of 512, 4096 and 65536 bytes, a write, a flush, a trim); 3 the reply to the
// NBD_OPT_EXPORT_NAME fallback. Bits 2-4 pick the piece size the bytes are fed in; bit 5: each
// completed read is asked again from inside the reply callback (the same handle); bit 6: the
// bytes are items [type:1][len:1][data:len], each made an option reply to NBD_OPT_GO with a
// valid header and a type from a table (info, ack, errors, unknown), so mutations reach what
// the replies carry.
//
// Checks, beyond the sanitizers: fed whole or in pieces, the same bytes give the same events
// and the same result; read data arrives in order within the request's length and a read
// completes only with all of it; every handle completes at most once per request; the engine
// only asks for payload of a write in flight, within its length; once failed it stays failed
// with a reason.
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/nbd_proto.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)
#define NH 8

struct world {
    struct nbd_proto p;
    struct { uint64_t off; uint32_t len, got; uint8_t cmd; bool live; } r[NH];
    bool reissue;
    int ready;
    uint64_t hash;
};

static struct world w_whole, w_pieces;

static void mix(struct world *w, uint64_t v) { w->hash = (w->hash ^ v) * 0x100000001b3ull; }

static void drain(struct world *w)
{
    struct nbd_out o;
    while (nbd_proto_out(&w->p, &o)) {
        CHECK(o.len > 0);
        if (o.payload) {
            CHECK(o.handle < NH && w->r[o.handle].live && w->r[o.handle].cmd == NBD_CMD_WRITE);
            CHECK((uint64_t)o.off + o.len <= w->r[o.handle].len);
        } else {
            CHECK(o.buf >= w->p.out && o.buf + o.len <= w->p.out + sizeof(w->p.out));
        }
        nbd_proto_sent(&w->p, o.len);
    }
}

static int issue(struct world *w, uint64_t h, enum nbd_cmd cmd, uint64_t off, uint32_t len)
{
    int rc = nbd_proto_request(&w->p, cmd, h, off, len, false);
    if (!rc) {
        w->r[h].off = off;
        w->r[h].len = len;
        w->r[h].got = 0;
        w->r[h].cmd = (uint8_t)cmd;
        w->r[h].live = true;
    }
    drain(w);
    return rc;
}

static void on_ready(void *ctx, const struct nbd_export *e)
{
    struct world *w = ctx;
    CHECK(!w->ready++);
    CHECK(e->size && e->size % 512 == 0 && (e->flags & NBD_FLAG_HAS_FLAGS));
    CHECK(e->min_block && !(e->min_block & (e->min_block - 1)) && e->min_block <= 65536);
    mix(w, e->size);
    mix(w, e->flags);
}

static void on_data(void *ctx, uint64_t h, uint32_t off, const uint8_t *buf, size_t n)
{
    struct world *w = ctx;
    CHECK(h < NH && w->r[h].live && w->r[h].cmd == NBD_CMD_READ);
    CHECK(off == w->r[h].got && n > 0 && n <= w->r[h].len - off);
    w->r[h].got += (uint32_t)n;
    for (size_t i = 0; i < n; i++)
        mix(w, buf[i]);
}

static void on_reply(void *ctx, uint64_t h, int status)
{
    struct world *w = ctx;
    CHECK(h < NH && w->r[h].live && status <= 0);
    CHECK(w->r[h].cmd != NBD_CMD_READ || status || w->r[h].got == w->r[h].len);
    w->r[h].live = false;
    mix(w, h);
    mix(w, (uint64_t)(int64_t)status);
    if (w->reissue && w->r[h].cmd == NBD_CMD_READ)
        CHECK(issue(w, h, NBD_CMD_READ, w->r[h].off, w->r[h].len) == 0);
}

static size_t opt_reply(uint8_t *b, size_t n, uint32_t type, uint32_t len);

// Frames items as option replies (bit 6): returns the framed length in out.
static size_t frame(const uint8_t *d, size_t n, uint8_t *out, size_t cap)
{
    static const uint32_t types[8] = { 3, 3, 3, 1, 0x80000001u, 0x80000006u, 0x80000002u, 2 };
    size_t o = 0;
    for (size_t i = 0; i + 2 <= n; ) {
        uint8_t t = d[i], l = d[i + 1];
        size_t k = n - i - 2 < l ? n - i - 2 : l;
        if (o + 20 + k > cap)
            break;
        o = opt_reply(out, o, t < 0xf0 ? types[t & 7] : (uint32_t)t << 8, (uint32_t)k);
        memcpy(out + o, d + i + 2, k);
        o += k;
        i += 2 + k;
    }
    return o;
}

static const struct nbd_proto_ops ops = { .ready = on_ready, .data = on_data, .reply = on_reply };

static size_t put(uint8_t *b, size_t n, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        b[n++] = (uint8_t)(v >> (8 * i));
    return n;
}

static size_t opt_reply(uint8_t *b, size_t n, uint32_t type, uint32_t len)
{
    n = put(b, n, 0x3e889045565a9ull, 8);
    n = put(b, n, 7, 4);
    n = put(b, n, type, 4);
    return put(b, n, len, 4);
}

static void feed_ok(struct world *w, const uint8_t *b, size_t n)
{
    CHECK(nbd_proto_in(&w->p, b, n) == (long)n);
    drain(w);
}

static void setup(struct world *w, uint8_t ctl)
{
    uint8_t b[128];
    size_t n = 0;
    memset(w, 0, sizeof(*w));
    w->reissue = ctl & 0x20;
    CHECK(nbd_proto_init(&w->p, "fuzz", &ops, w) == 0);
    if ((ctl & 3) == 0)
        return;
    memcpy(b, "NBDMAGICIHAVEOPT", 16);
    n = put(b, 16, ctl & 0x80 ? 3 : 1, 2);
    feed_ok(w, b, n);
    if ((ctl & 3) == 1)
        return;
    if ((ctl & 3) == 3) {
        feed_ok(w, b, opt_reply(b, 0, 0x80000001u, 0));    // NBD_REP_ERR_UNSUP
        return;
    }
    n = opt_reply(b, 0, 3, 12);                             // NBD_INFO_EXPORT: 1 MiB, all flags
    n = put(b, n, 0, 2);
    n = put(b, n, 1 << 20, 8);
    n = put(b, n, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
                  NBD_FLAG_SEND_TRIM, 2);
    n = opt_reply(b, n, 1, 0);                              // NBD_REP_ACK
    feed_ok(w, b, n);
    CHECK(w->ready == 1);
    CHECK(issue(w, 0, NBD_CMD_READ, 0, 512) == 0);
    CHECK(issue(w, 1, NBD_CMD_READ, 512, 4096) == 0);
    CHECK(issue(w, 2, NBD_CMD_WRITE, 8192, 1024) == 0);
    CHECK(issue(w, 3, NBD_CMD_FLUSH, 0, 0) == 0);
    CHECK(issue(w, 4, NBD_CMD_TRIM, 0, 512) == 0);
    CHECK(issue(w, 5, NBD_CMD_READ, 65536, 65536) == 0);
}

static long run(struct world *w, const uint8_t *d, size_t n, size_t piece)
{
    long r = (long)n;
    for (size_t i = 0; i < n && r >= 0; i += piece) {
        size_t k = n - i < piece ? n - i : piece;
        long got = nbd_proto_in(&w->p, d + i, k);
        CHECK(got < 0 || got == (long)k);
        r = got < 0 ? got : r;
        drain(w);
    }
    if (r < 0) {
        CHECK(w->p.err == r && w->p.why[0]);
        CHECK(nbd_proto_in(&w->p, d, 1) == r);             // n > 0: something failed
        CHECK(!nbd_proto_ready(&w->p));
    }
    unsigned live = 0;
    for (int h = 0; h < NH; h++)
        live += w->r[h].live;
    CHECK(live == nbd_proto_inflight(&w->p));
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t pieces[8] = { 1, 2, 3, 7, 16, 64, 1000, 1 << 20 };
    if (size < 1)
        return 0;
    static uint8_t framed[1 << 20];
    uint8_t ctl = data[0];
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    if (ctl & 0x40) {
        n = frame(d, n, framed, sizeof(framed));
        d = framed;
    }
    setup(&w_whole, ctl);
    setup(&w_pieces, ctl);
    long a = run(&w_whole, d, n, 1 << 20);
    long b = run(&w_pieces, d, n, pieces[(ctl >> 2) & 7]);
    CHECK(a == b && w_whole.hash == w_pieces.hash && w_whole.ready == w_pieces.ready);
    CHECK(nbd_proto_eof(&w_whole.p) <= 0);
    return 0;
}
