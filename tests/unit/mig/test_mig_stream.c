/*
 * Host tests for hv/mig/mig_stream.c's framing and order: every record type
 * through the encoder and the decoder; the same records however the bytes are
 * chunked; rejection of truncated, reordered, oversized, bit-flipped, unknown
 * and badly framed input. Payload layouts: test_mig_payload.c.
 *
 * A "dst engine" callback plays the target's side of the order: when the
 * source's AUTH_CHALLENGE arrives it reports its own AUTH_CHALLENGE and
 * AUTH_RESPONSE as sent, and ACCEPT after HELLO, as the real engine will.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hv/base/crc32c.h"
#include "hv/mig/mig_stream.h"

#define BUF_SIZE (2u << 20)
#define MAX_RECS 256

static uint8_t sbuf[BUF_SIZE];          /* encoded stream */
static uint8_t tbuf[BUF_SIZE];          /* scratch stream */
static struct mig_enc enc;
static struct mig_decoder dec;
static uint8_t pages[MIG_RAM_MAX_PAGES + 1][MIG_PAGE_SIZE];

struct rec_seen {
    uint16_t type;
    uint32_t len;
    uint32_t crc;               /* of the payload */
};

struct collect {
    struct mig_decoder *d;
    bool respond;               /* play the dst engine's sends */
    bool no_accept;             /* ... but leave HELLO unanswered */
    int pause_after;            /* return 1 from this record number (1-based), 0: never */
    int fail_after;             /* return -EIO from this record number, 0: never */
    unsigned n;
    struct rec_seen r[MAX_RECS];
};

static struct collect col;

static uint64_t rng;
static uint64_t rnd64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int collect_cb(const struct mig_record *r, void *ctx)
{
    struct collect *c = ctx;

    assert_true(c->n < MAX_RECS);
    c->r[c->n].type = r->type;
    c->r[c->n].len = r->len;
    c->r[c->n].crc = crc32c_update(0, r->payload, r->len);
    c->n++;
    if (c->respond && c->d->role == MIG_ROLE_DST) {
        if (r->type == MIG_REC_AUTH_CHALLENGE) {
            assert_int_equal(mig_dec_sent(c->d, MIG_REC_AUTH_CHALLENGE), 0);
            assert_int_equal(mig_dec_sent(c->d, MIG_REC_AUTH_RESPONSE), 0);
        } else if (r->type == MIG_REC_HELLO && !c->no_accept) {
            assert_int_equal(mig_dec_sent(c->d, MIG_REC_ACCEPT), 0);
        }
    }
    if (c->fail_after && (int)c->n == c->fail_after)
        return -EIO;
    if (c->pause_after && (int)c->n == c->pause_after)
        return 1;
    return 0;
}

static void dst_start(void)
{
    mig_dec_init(&dec, MIG_ROLE_DST);
    memset(&col, 0, sizeof(col));
    col.d = &dec;
    col.respond = true;
}

static int feed(const uint8_t *p, size_t n) { return mig_dec_feed(&dec, p, n, collect_cb, &col); }

/* Bytes a successful encoder call added to enc's output. */
#define ENC_ADDED(call) ({ size_t before_ = enc.len; assert_int_equal((call), 0); \
                           enc.len - before_; })

/* ---- stream builders ---- */

static const uint8_t nonce[MIG_AUTH_BYTES] = "0123456789abcdef0123456789abcdef";
static const uint8_t policy_blob[40] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

static struct mig_hello sample_hello(void)
{
    struct mig_hello h = {
        .version = MIG_STREAM_VERSION, .vcpus = 2, .mem_bytes = 64ull << 20,
        .name = "web-1", .policy = policy_blob, .policy_len = sizeof(policy_blob),
        .ndevices = 2, .devices = { { 1, 0, 1 }, { 7, 3, 2 } },
        .nnics = 2, .nics = { { "lan", { 0x52, 0x54, 0, 1, 2, 3 } },
                              { "storage-net_2", { 0x02, 0xfe, 9, 8, 7, 6 } } },
        .ndisks = 1, .disks = { { MIG_DISK_NBD, 16384, "nbd://10.0.0.9:10809/vm-disk" } },
        .streams = 3,
    };
    return h;
}

/* A valid state with a few distinct fields (test_mig_payload.c checks every field). */
static struct vcpu_state sample_vcpu(uint64_t seed)
{
    struct vcpu_state s;

    memset(&s, 0, sizeof(s));
    s.version = VCPU_STATE_VERSION;
    s.rip = 0xffffffff81000000ull + seed;
    s.gpr[GPR_RSP] = seed * 0x1000;
    s.cs.attr = 0xa9b;
    s.tsc = seed << 32;
    return s;
}

static void fill_pages(void)
{
    for (size_t i = 0; i < sizeof(pages); i++)
        ((uint8_t *)pages)[i] = (uint8_t)(i * 7 + i / 4096);
}

static size_t bounds[MAX_RECS];         /* end offsets of the header and each record */
static unsigned nbounds;

static void mark(int rc)
{
    assert_int_equal(rc, 0);
    bounds[nbounds++] = enc.len;
}

/*
 * The source's direction of a whole migration: every source record type.
 * data_pages: pages of data in the pre-copy RAM record.
 */
static size_t build_src_stream(uint8_t *buf, size_t cap, uint32_t data_pages)
{
    struct mig_hello h = sample_hello();
    struct vcpu_state v0 = sample_vcpu(1), v1 = sample_vcpu(2);
    struct mig_dev_id uart = { 1, 0, 1 };
    uint8_t blob[72];

    fill_pages();
    memset(blob, 0x5a, sizeof(blob));
    nbounds = 0;
    mig_enc_init(&enc, buf, cap);
    assert_int_equal(mig_stream_header_put(&enc), 0);
    bounds[nbounds++] = enc.len;
    mark(mig_rec_auth(&enc, MIG_REC_AUTH_CHALLENGE, nonce));
    mark(mig_rec_auth(&enc, MIG_REC_AUTH_RESPONSE, nonce));
    mark(mig_rec_hello(&enc, &h));
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put(&enc, 0x100, data_pages, false, pages), 0);
    assert_int_equal(mig_ram_run_put(&enc, 0x200, 100, true, NULL), 0);
    assert_int_equal(mig_ram_run_put(&enc, 0x400, 1, false, pages[1]), 0);
    mark(mig_rec_end(&enc));
    mark(mig_rec_round_end(&enc, 1, data_pages + 101));
    mark(mig_rec_empty(&enc, MIG_REC_STOP));
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put(&enc, 0x101, 1, false, pages[2]), 0);
    mark(mig_rec_end(&enc));
    mark(mig_rec_vcpu(&enc, 0, &v0));
    mark(mig_rec_vcpu(&enc, 1, &v1));
    mark(mig_rec_device(&enc, &uart, blob, sizeof(blob)));
    mark(mig_rec_tsc(&enc, 0x123456789abcull, 2400000));
    mark(mig_rec_round_end(&enc, 2, 1));
    mark(mig_rec_empty(&enc, MIG_REC_COMMIT));
    return enc.len;
}

static const uint16_t src_types[] = {
    MIG_REC_AUTH_CHALLENGE, MIG_REC_AUTH_RESPONSE, MIG_REC_HELLO, MIG_REC_RAM,
    MIG_REC_ROUND_END, MIG_REC_STOP, MIG_REC_RAM, MIG_REC_VCPU, MIG_REC_VCPU, MIG_REC_DEVICE,
    MIG_REC_TSC, MIG_REC_ROUND_END, MIG_REC_COMMIT,
};
#define NSRC (sizeof(src_types) / sizeof(src_types[0]))

/* A record with any header fields and a correct CRC (or not). */
static size_t raw_record(uint8_t *p, uint16_t type, uint16_t flags, uint32_t len,
                         const void *payload, bool good_crc)
{
    uint32_t crc;

    p[0] = (uint8_t)type; p[1] = (uint8_t)(type >> 8);
    p[2] = (uint8_t)flags; p[3] = (uint8_t)(flags >> 8);
    for (int i = 0; i < 4; i++)
        p[4 + i] = (uint8_t)(len >> (8 * i));
    if (len)
        memcpy(p + 8, payload, len);
    crc = crc32c_update(0, p, 8 + len) ^ (good_crc ? 0 : 1);
    for (int i = 0; i < 4; i++)
        p[8 + len + i] = (uint8_t)(crc >> (8 * i));
    return 12 + len;
}

/* Feeds the header and records up to and including the HELLO (phase DECIDE, ACCEPT sent). */
static void dst_to_precopy(void)
{
    size_t n = build_src_stream(tbuf, sizeof(tbuf), 1);

    (void)n;
    dst_start();
    assert_int_equal(feed(tbuf, bounds[3]), (int)bounds[3]);
    assert_int_equal(mig_dec_phase(&dec), MIG_PH_PRECOPY);
}

/* ---- tests ---- */

static void test_stream_header(void **state)
{
    uint8_t b[16];

    (void)state;
    mig_enc_init(&enc, b, sizeof(b));
    assert_int_equal(mig_stream_header_put(&enc), 0);
    assert_memory_equal(b, "FERRYMIG\x07\x00\x00\x00", 12);    /* version 7 */
    assert_int_equal(b[12] | b[13] << 8 | b[14] << 16 | (uint32_t)b[15] << 24,
                     crc32c_update(0, b, 12));
    assert_int_equal(mig_stream_header_put(&enc), -ENOSPC);
}

static void test_record_layout(void **state)
{
    uint8_t b[64];
    (void)state;
    mig_enc_init(&enc, b, sizeof(b));
    assert_int_equal(ENC_ADDED(mig_rec_round_end(&enc, 0x01020304, 0x1122334455667788ull)),
                     12 + 16);
    assert_memory_equal(b, "\x21\x00\x00\x00\x10\x00\x00\x00", 8);
    assert_memory_equal(b + 8, "\x04\x03\x02\x01\0\0\0\0\x88\x77\x66\x55\x44\x33\x22\x11", 16);
    assert_int_equal(b[24] | b[25] << 8 | b[26] << 16 | (uint32_t)b[27] << 24,
                     crc32c_update(0, b, 24));
}

/* Every record type, encoded and parsed back. */
static void test_roundtrip_src_records(void **state)
{
    size_t n = build_src_stream(sbuf, sizeof(sbuf), 3);

    (void)state;
    dst_start();
    assert_int_equal(feed(sbuf, n), (int)n);
    assert_int_equal(col.n, NSRC);
    for (unsigned i = 0; i < NSRC; i++) {
        assert_int_equal(col.r[i].type, src_types[i]);
        assert_int_equal(col.r[i].len + 12, bounds[i + 1] - bounds[i]);
        assert_int_equal(col.r[i].crc, crc32c_update(0, sbuf + bounds[i] + 8, col.r[i].len));
    }
    assert_int_equal(mig_dec_phase(&dec), MIG_PH_COMMITTED);
    assert_true(mig_dec_idle(&dec));
    assert_false(mig_dec_done(&dec));
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_COMMIT_ACK), 0);
    assert_true(mig_dec_done(&dec));
    assert_int_equal(dec.records, NSRC);
}

/* A record from bounds[i] in sbuf, as the decoder would deliver it. */
static struct mig_record rec_at(unsigned i)
{
    const uint8_t *p = sbuf + bounds[i];
    struct mig_record r = {
        .type = (uint16_t)(p[0] | p[1] << 8), .len = (uint32_t)(bounds[i + 1] - bounds[i] - 12),
        .payload = p + 8,
    };
    return r;
}

static int ram_seen;
static int ram_cb(uint64_t gfn, uint32_t count, bool zero, const uint8_t *data, void *ctx)
{
    (void)ctx;
    switch (ram_seen++) {
    case 0:
        assert_int_equal(gfn, 0x100);
        assert_int_equal(count, 3);
        assert_false(zero);
        assert_memory_equal(data, pages, 3 * MIG_PAGE_SIZE);
        break;
    case 1:
        assert_int_equal(gfn, 0x200);
        assert_int_equal(count, 100);
        assert_true(zero);
        assert_null(data);
        break;
    case 2:
        assert_int_equal(gfn, 0x400);
        assert_int_equal(count, 1);
        assert_memory_equal(data, pages[1], MIG_PAGE_SIZE);
        break;
    default:
        fail();
    }
    return 0;
}

static void test_parse_src_records(void **state)
{
    struct mig_hello h, want = sample_hello();
    struct vcpu_state v, v1 = sample_vcpu(2);
    struct mig_dev_id id;
    struct mig_record r;
    const uint8_t *b;
    uint32_t u32;
    uint64_t u64;
    size_t n;

    (void)state;
    build_src_stream(sbuf, sizeof(sbuf), 3);
    r = rec_at(1);
    assert_int_equal(mig_parse_auth(&r, &b), 0);
    assert_memory_equal(b, nonce, MIG_AUTH_BYTES);
    r = rec_at(2);
    assert_int_equal(mig_parse_hello(&r, &h), 0);
    assert_int_equal(h.version, MIG_STREAM_VERSION);
    assert_int_equal(h.vcpus, want.vcpus);
    assert_int_equal(h.mem_bytes, want.mem_bytes);
    assert_string_equal(h.name, "web-1");
    assert_int_equal(h.policy_len, sizeof(policy_blob));
    assert_memory_equal(h.policy, policy_blob, sizeof(policy_blob));
    assert_int_equal(h.ndevices, 2);
    assert_memory_equal(h.devices, want.devices, 2 * sizeof(h.devices[0]));
    assert_int_equal(h.nnics, 2);
    assert_string_equal(h.nics[0].sw, "lan");
    assert_string_equal(h.nics[1].sw, "storage-net_2");
    assert_memory_equal(h.nics[1].mac, want.nics[1].mac, 6);
    assert_int_equal(h.ndisks, 1);
    assert_int_equal(h.disks[0].kind, MIG_DISK_NBD);
    assert_int_equal(h.disks[0].sectors, 16384);
    assert_string_equal(h.disks[0].loc, "nbd://10.0.0.9:10809/vm-disk");
    assert_int_equal(r.len, MIG_HELLO_FIXED + sizeof(policy_blob) + 2 * MIG_HELLO_DEV_SIZE + 4 +
                                2 * MIG_HELLO_NIC_SIZE + 4 + MIG_HELLO_DISK_SIZE);
    assert_int_equal(h.streams, 3);
    r = rec_at(3);
    ram_seen = 0;
    const uint8_t *runs;
    size_t rlen;
    uint32_t pass = 9;
    assert_int_equal(mig_parse_ram(&r, &pass, &runs, &rlen), 0);
    assert_int_equal(pass, 0);
    assert_int_equal(mig_ram_parse(runs, rlen, ram_cb, NULL), 0);
    assert_int_equal(ram_seen, 3);
    r = rec_at(4);
    assert_int_equal(mig_parse_round_end(&r, &u32, &u64), 0);
    assert_int_equal(u32, 1);
    assert_int_equal(u64, 104);
    r = rec_at(8);
    assert_int_equal(mig_parse_vcpu(&r, &u32, &v), 0);
    assert_int_equal(u32, 1);
    assert_memory_equal(&v, &v1, sizeof(v));
    r = rec_at(9);
    assert_int_equal(mig_parse_device(&r, &id, &b, &n), 0);
    assert_int_equal(id.type, 1);
    assert_int_equal(id.instance, 0);
    assert_int_equal(id.version, 1);
    assert_int_equal(n, 72);
    assert_int_equal(b[71], 0x5a);
    r = rec_at(10);
    assert_int_equal(mig_parse_tsc(&r, &u64, &u32), 0);
    assert_int_equal(u64, 0x123456789abcull);
    assert_int_equal(u32, 2400000);
    /* A parser refuses a record of another type. */
    assert_int_equal(mig_parse_tsc(&(struct mig_record){ .type = MIG_REC_ROUND_END, .len = 16,
                                                         .payload = r.payload }, &u64, &u32),
                     -EINVAL);
}

/* The target's direction: its records, seen by the source's decoder. */
static void test_roundtrip_dst_records(void **state)
{
    size_t n;

    (void)state;
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    assert_int_equal(mig_stream_header_put(&enc), 0);
    assert_int_equal(ENC_ADDED(mig_rec_auth(&enc, MIG_REC_AUTH_CHALLENGE, nonce)), 44);
    assert_int_equal(ENC_ADDED(mig_rec_auth(&enc, MIG_REC_AUTH_RESPONSE, nonce)), 44);
    assert_int_equal(mig_rec_empty(&enc, MIG_REC_ACCEPT), -EMSGSIZE);      /* it has fields */
    assert_int_equal(ENC_ADDED(mig_rec_accept(&enc, MIG_FEAT_LZ4, 1, NULL)), 16 + MIG_JOIN_TOKEN);
    assert_int_equal(ENC_ADDED(mig_rec_commit_ack(&enc, 1500)), 20);
    n = enc.len;

    mig_dec_init(&dec, MIG_ROLE_SRC);
    memset(&col, 0, sizeof(col));
    col.d = &dec;
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_AUTH_CHALLENGE), 0);
    assert_int_equal(feed(sbuf, 16 + 44 + 44), 16 + 44 + 44);
    assert_int_equal(mig_dec_phase(&dec), MIG_PH_AUTH_SRC_MAC);
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_AUTH_RESPONSE), 0);
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_HELLO), 0);
    assert_int_equal(feed(sbuf + 104, 16 + MIG_JOIN_TOKEN), 16 + MIG_JOIN_TOKEN);
    assert_int_equal(mig_dec_phase(&dec), MIG_PH_PRECOPY);
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_RAM), 0);
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_STOP), 0);
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_VCPU), 0);
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_COMMIT), 0);
    assert_int_equal(feed(sbuf + 120 + MIG_JOIN_TOKEN, n - 120 - MIG_JOIN_TOKEN),
                     (int)(n - 120 - MIG_JOIN_TOKEN));
    assert_true(mig_dec_done(&dec));
    assert_int_equal(col.n, 4);
    assert_int_equal(col.r[3].type, MIG_REC_COMMIT_ACK);

}

static void check_same_as_whole(const struct collect *whole)
{
    assert_int_equal(col.n, whole->n);
    assert_memory_equal(col.r, whole->r, whole->n * sizeof(whole->r[0]));
}

/* One byte at a time: records appear exactly when their last byte arrives. */
static void test_feed_byte_by_byte(void **state)
{
    static struct collect whole;
    size_t n = build_src_stream(sbuf, sizeof(sbuf), 2);
    unsigned reached = 0;

    (void)state;
    dst_start();
    assert_int_equal(feed(sbuf, n), (int)n);
    whole = col;
    dst_start();
    for (size_t i = 0; i < n; i++) {
        bool at;

        assert_int_equal(feed(sbuf + i, 1), 1);
        while (reached < nbounds && bounds[reached] <= i + 1)
            reached++;
        assert_int_equal(col.n, reached ? reached - 1 : 0);
        /* Idle exactly at the boundaries: EOF anywhere else is a truncated stream. */
        at = reached && bounds[reached - 1] == i + 1;
        assert_int_equal(mig_dec_idle(&dec), at);
        if (!at)
            assert_int_equal(mig_dec_pending(&dec), i + 1 - (reached ? bounds[reached - 1] : 0));
    }
    check_same_as_whole(&whole);
}

static void test_feed_random_chunks(void **state)
{
    static struct collect whole;
    size_t n = build_src_stream(sbuf, sizeof(sbuf), MIG_RAM_MAX_PAGES - 1);

    (void)state;
    dst_start();
    assert_int_equal(feed(sbuf, n), (int)n);
    whole = col;
    rng = 12345;
    for (int round = 0; round < 50; round++) {
        size_t max = round < 25 ? 64 : 70000;

        dst_start();
        for (size_t i = 0; i < n;) {
            size_t c = 1 + rnd64() % max;

            if (c > n - i)
                c = n - i;
            assert_int_equal(feed(sbuf + i, c), (int)c);
            i += c;
        }
        check_same_as_whole(&whole);
        assert_true(mig_dec_idle(&dec));
        assert_int_equal(mig_dec_phase(&dec), MIG_PH_COMMITTED);
    }
}

static void test_truncated(void **state)
{
    size_t n = build_src_stream(sbuf, sizeof(sbuf), 1);

    (void)state;
    (void)n;
    /* Cut inside the HELLO: two records delivered, the HELLO never. */
    dst_start();
    assert_int_equal(feed(sbuf, bounds[3] - 1), (int)bounds[3] - 1);
    assert_int_equal(col.n, 2);
    assert_false(mig_dec_idle(&dec));
    assert_int_equal(mig_dec_pending(&dec), bounds[3] - 1 - bounds[2]);
    /* Cut inside a record header, and inside the stream header. */
    dst_start();
    assert_int_equal(feed(sbuf, bounds[1] + 5), (int)bounds[1] + 5);
    assert_int_equal(col.n, 1);
    assert_int_equal(mig_dec_pending(&dec), 5);
    dst_start();
    assert_int_equal(feed(sbuf, 15), 15);
    assert_int_equal(col.n, 0);
    assert_false(mig_dec_idle(&dec));
    /* The CRC is the last thing to arrive: all but its last byte delivers nothing. */
    dst_start();
    assert_int_equal(feed(sbuf, bounds[1] - 1), (int)bounds[1] - 1);
    assert_int_equal(col.n, 0);
    assert_int_equal(feed(sbuf + bounds[1] - 1, 1), 1);
    assert_int_equal(col.n, 1);
    assert_true(mig_dec_idle(&dec));
}

struct order_case {
    const char *what;
    uint16_t types[8];       /* source records to feed after reaching `start` */
    int start;               /* 0: fresh; 1: after HELLO+ACCEPT (precopy); 2: stopped; */
                             /* 3: fresh, the target never answers HELLO */
    int fail_at;             /* index in types that must fail */
};

static const struct order_case order_cases[] = {
    { "HELLO before auth", { MIG_REC_HELLO }, 0, 0 },
    { "AUTH_RESPONSE first", { MIG_REC_AUTH_RESPONSE }, 0, 0 },
    { "two challenges", { MIG_REC_AUTH_CHALLENGE, MIG_REC_AUTH_CHALLENGE }, 0, 1 },
    { "RAM before auth", { MIG_REC_AUTH_CHALLENGE, MIG_REC_AUTH_RESPONSE, MIG_REC_RAM }, 0, 2 },
    { "RAM before ACCEPT",
      { MIG_REC_AUTH_CHALLENGE, MIG_REC_AUTH_RESPONSE, MIG_REC_HELLO, MIG_REC_RAM }, 3, 3 },
    { "ROUND_END before ACCEPT",
      { MIG_REC_AUTH_CHALLENGE, MIG_REC_AUTH_RESPONSE, MIG_REC_HELLO, MIG_REC_ROUND_END }, 3, 3 },
    { "DISK before ACCEPT",
      { MIG_REC_AUTH_CHALLENGE, MIG_REC_AUTH_RESPONSE, MIG_REC_HELLO, MIG_REC_DISK }, 3, 3 },
    { "DISK after COMMIT", { MIG_REC_DISK, MIG_REC_COMMIT, MIG_REC_DISK }, 2, 2 },
    { "VCPU before STOP", { MIG_REC_RAM, MIG_REC_VCPU }, 1, 1 },
    { "DEVICE before STOP", { MIG_REC_DEVICE }, 1, 0 },
    { "TSC before STOP", { MIG_REC_ROUND_END, MIG_REC_TSC }, 1, 1 },
    { "COMMIT before STOP", { MIG_REC_COMMIT }, 1, 0 },
    { "HELLO twice", { MIG_REC_HELLO }, 1, 0 },
    { "STOP twice", { MIG_REC_STOP }, 2, 0 },
    { "RAM after COMMIT", { MIG_REC_COMMIT, MIG_REC_RAM }, 2, 1 },
    { "ERROR after COMMIT", { MIG_REC_COMMIT, MIG_REC_ERROR }, 2, 1 },
    { "COMMIT twice", { MIG_REC_COMMIT, MIG_REC_COMMIT }, 2, 1 },
    { "ACCEPT from the source", { MIG_REC_ACCEPT }, 1, 0 },
    { "COMMIT_ACK from the source", { MIG_REC_COMMIT, MIG_REC_COMMIT_ACK }, 2, 1 },
    { "anything after ERROR", { MIG_REC_ERROR, MIG_REC_RAM }, 1, 1 },
    { "QUERY before auth", { MIG_REC_AUTH_CHALLENGE, MIG_REC_QUERY }, 0, 1 },
    /* Another stream: JOIN only first, then RAM and one STREAM_END, nothing else. */
    { "JOIN after auth", { MIG_REC_AUTH_CHALLENGE, MIG_REC_JOIN }, 0, 1 },
    { "JOIN in a migration", { MIG_REC_JOIN }, 1, 0 },
    { "JOIN twice", { MIG_REC_JOIN, MIG_REC_JOIN }, 0, 1 },
    { "HELLO on a joined stream", { MIG_REC_JOIN, MIG_REC_RAM, MIG_REC_HELLO }, 0, 2 },
    { "STOP on a joined stream", { MIG_REC_JOIN, MIG_REC_STOP }, 0, 1 },
    { "COMMIT on a joined stream", { MIG_REC_JOIN, MIG_REC_COMMIT }, 0, 1 },
    { "DISK on a joined stream", { MIG_REC_JOIN, MIG_REC_DISK }, 0, 1 },
    { "RAM after STREAM_END", { MIG_REC_JOIN, MIG_REC_RAM, MIG_REC_STREAM_END, MIG_REC_RAM },
      0, 3 },
    { "STREAM_END on the first stream", { MIG_REC_RAM, MIG_REC_STREAM_END }, 1, 1 },
    { "STREAM_END after STOP", { MIG_REC_STREAM_END }, 2, 0 },
    { "HELLO after QUERY",
      { MIG_REC_AUTH_CHALLENGE, MIG_REC_AUTH_RESPONSE, MIG_REC_QUERY, MIG_REC_HELLO }, 0, 3 },
    { "QUERY twice",
      { MIG_REC_AUTH_CHALLENGE, MIG_REC_AUTH_RESPONSE, MIG_REC_QUERY, MIG_REC_QUERY }, 0, 3 },
    { "QUERY_REPLY from the source",
      { MIG_REC_AUTH_CHALLENGE, MIG_REC_AUTH_RESPONSE, MIG_REC_QUERY, MIG_REC_QUERY_REPLY },
      0, 3 },
    { "QUERY during pre-copy", { MIG_REC_QUERY }, 1, 0 },
};

/* A well-formed record of each type, whatever its place. */
static size_t any_record(uint8_t *p, uint16_t type)
{
    struct mig_hello h = sample_hello();
    struct vcpu_state v = sample_vcpu(3);
    struct mig_dev_id id = { 1, 0, 1 };
    int n;

    mig_enc_init(&enc, p, 1u << 20);
    switch (type) {
    case MIG_REC_AUTH_CHALLENGE:
    case MIG_REC_AUTH_RESPONSE: n = mig_rec_auth(&enc, type, nonce); break;
    case MIG_REC_HELLO: n = mig_rec_hello(&enc, &h); break;
    case MIG_REC_RAM:
        mig_rec_ram_begin(&enc, 0);
        mig_ram_run_put(&enc, 5, 1, true, NULL);
        n = mig_rec_end(&enc);
        break;
    case MIG_REC_ROUND_END: n = mig_rec_round_end(&enc, 1, 1); break;
    case MIG_REC_DISK:
        mig_rec_disk_begin(&enc, 0);
        mig_ram_run_put(&enc, 0, 2, true, NULL);
        n = mig_rec_end(&enc);
        break;
    case MIG_REC_VCPU: n = mig_rec_vcpu(&enc, 0, &v); break;
    case MIG_REC_DEVICE: n = mig_rec_device(&enc, &id, "ab", 2); break;
    case MIG_REC_TSC: n = mig_rec_tsc(&enc, 1, 1); break;
    case MIG_REC_ACCEPT: n = mig_rec_accept(&enc, 0, 1, NULL); break;
    case MIG_REC_JOIN: n = mig_rec_join(&enc, nonce, 1); break;
    case MIG_REC_STREAM_END: n = mig_rec_stream_end(&enc, 1, 1); break;
    case MIG_REC_COMMIT_ACK: n = mig_rec_commit_ack(&enc, 1); break;
    case MIG_REC_QUERY: n = mig_rec_query(&enc, MIG_QUERY_CPU, NULL, 0); break;
    case MIG_REC_QUERY_REPLY: n = mig_rec_query_reply(&enc, MIG_QUERY_CPU, 0, "x", 1); break;
    case MIG_REC_REFUSE:
    case MIG_REC_ERROR: n = mig_rec_reason(&enc, type, 1, "bad"); break;
    default: n = mig_rec_empty(&enc, type); break;
    }
    assert_int_equal(n, 0);
    return enc.len;
}

static void test_order_violations(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(order_cases) / sizeof(order_cases[0]); c++) {
        const struct order_case *oc = &order_cases[c];
        uint8_t hdr[16];

        if (oc->start == 1 || oc->start == 2) {
            dst_to_precopy();
            if (oc->start == 2) {
                size_t n = any_record(sbuf, MIG_REC_STOP);
                assert_int_equal(feed(sbuf, n), (int)n);
            }
        } else {
            dst_start();
            col.no_accept = oc->start == 3;
            mig_enc_init(&enc, hdr, sizeof(hdr));
            mig_stream_header_put(&enc);
            assert_int_equal(feed(hdr, 16), 16);
        }
        for (int i = 0; i <= oc->fail_at; i++) {
            size_t n = any_record(sbuf, oc->types[i]);
            unsigned before = col.n;
            int rc = feed(sbuf, n);

            if (i < oc->fail_at) {
                if (rc != (int)n)
                    fail_msg("%s: record %d refused (%d)", oc->what, i, rc);
                continue;
            }
            if (rc != -EPROTO)
                fail_msg("%s: got %d, want -EPROTO", oc->what, rc);
            assert_int_equal(col.n, before);              /* no callback */
            /* Bytes after the end are refused before they are a record. */
            assert_int_equal(dec.bad_type,
                             i && (oc->types[i - 1] == MIG_REC_ERROR ||
                                   oc->types[i - 1] == MIG_REC_STREAM_END) ? 0 : oc->types[i]);
            /* Sticky: good input afterwards gets the same error. */
            assert_int_equal(feed(sbuf, n), -EPROTO);
            assert_int_equal(mig_dec_sent(&dec, MIG_REC_ERROR), -EPROTO);
        }
    }
}

static void test_order_own_sends(void **state)
{
    uint8_t *b = tbuf;
    size_t n;

    (void)state;
    dst_start();
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_ACCEPT), -EPROTO);   /* before HELLO */
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_AUTH_CHALLENGE), -EPROTO); /* src goes first */
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_RAM), -EPROTO);      /* not a dst record */
    /* The engine's own mistakes leave the decoder usable. */
    dst_to_precopy();
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_COMMIT_ACK), -EPROTO); /* before COMMIT */
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_ERROR), 0);           /* giving up */
    assert_true(mig_dec_done(&dec));
    /* Whatever arrives after the end is refused, without a callback. */
    n = any_record(b, MIG_REC_RAM);
    assert_int_equal(feed(b, n), -EPROTO);

    /* The source's view: REFUSE ends it; an ERROR from the target is allowed any time. */
    mig_dec_init(&dec, MIG_ROLE_SRC);
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_AUTH_CHALLENGE), 0);
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    mig_stream_header_put(&enc);
    mig_rec_reason(&enc, MIG_REC_ERROR, 1, "no cluster key");
    memset(&col, 0, sizeof(col));
    assert_int_equal(feed(sbuf, enc.len), (int)enc.len);
    assert_true(mig_dec_done(&dec));
    assert_int_equal(col.n, 1);
}

static void test_oversized(void **state)
{
    uint8_t b[32];
    uint32_t lens[] = { MIG_REC_MAX_PAYLOAD + 1, 0x80000000u, 0xffffffffu };

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        dst_start();
        mig_enc_init(&enc, b, sizeof(b));
        mig_stream_header_put(&enc);
        raw_record(b + 16, MIG_REC_AUTH_CHALLENGE, 0, 0, NULL, true);
        for (int k = 0; k < 4; k++)
            b[16 + 4 + k] = (uint8_t)(lens[i] >> (8 * k));
        /* Refused as soon as the 8 header bytes are in, not after 4 GiB. */
        assert_int_equal(feed(b, 16 + 7), 16 + 7);
        assert_int_equal(feed(b + 23, 1), -E2BIG);
        assert_int_equal(col.n, 0);
    }

    /* The largest payload passes, one byte more does not even encode. */
    dst_to_precopy();
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put(&enc, 0, MIG_RAM_MAX_PAGES, false, pages), 0);
    while (mig_rec_room(&enc) >= MIG_RAM_RUN_SIZE)
        assert_int_equal(mig_ram_run_put(&enc, 1000, 1, true, NULL), 0);
    assert_int_equal(mig_put_u64(&enc, 0), 0);          /* (the pass takes 8 of the bytes) */
    assert_int_equal(mig_rec_room(&enc), 0);
    assert_int_equal(mig_put_u8(&enc, 0), -E2BIG);
    assert_int_equal(mig_rec_end(&enc), -E2BIG);
    assert_int_equal(enc.len, 0);                           /* dropped */
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put(&enc, 0, MIG_RAM_MAX_PAGES, false, pages), 0);
    while (mig_rec_room(&enc) >= MIG_RAM_RUN_SIZE)
        assert_int_equal(mig_ram_run_put(&enc, 1000, 1, true, NULL), 0);
    assert_int_equal(mig_put_u64(&enc, 0), 0);
    assert_int_equal(ENC_ADDED(mig_rec_end(&enc)), MIG_REC_MAX_SIZE);
    assert_int_equal(feed(sbuf, enc.len), (int)enc.len);
    assert_int_equal(col.r[col.n - 1].len, MIG_REC_MAX_PAYLOAD);
}

static uint8_t flipped_trail[300 * 1024];

/* Every bit of a small record: caught, never delivered. */
static void test_bit_flips(void **state)
{
    uint8_t b[16 + 44];
    unsigned e2big = 0;

    (void)state;
    mig_enc_init(&enc, b, sizeof(b));
    mig_stream_header_put(&enc);
    assert_int_equal(ENC_ADDED(mig_rec_auth(&enc, MIG_REC_AUTH_CHALLENGE, nonce)), 44);
    for (unsigned bit = 0; bit < 44 * 8; bit++) {
        int rc;

        b[16 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        dst_start();
        rc = feed(b, sizeof(b));
        if (rc == (int)sizeof(b)) {
            /* A longer length: the record waits for more bytes, which then fail the CRC. */
            assert_true(bit >= 32 && bit < 64);
            assert_false(mig_dec_idle(&dec));
            rc = feed(flipped_trail, sizeof(flipped_trail));
        }
        if (rc == -E2BIG) {
            assert_true(bit >= 32 + 19 && bit < 64);      /* length above the maximum */
            e2big++;
        } else if (rc != -EBADMSG) {
            fail_msg("bit %u: %d", bit, rc);
        }
        assert_int_equal(col.n, 0);
        b[16 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(e2big, 32 - 19);
    dst_start();
    assert_int_equal(feed(b, sizeof(b)), (int)sizeof(b));     /* unflipped: fine */
    assert_int_equal(col.n, 1);

    /* The stream header: magic bits -EINVAL, the rest -EBADMSG. */
    for (unsigned bit = 0; bit < 16 * 8; bit++) {
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        dst_start();
        assert_int_equal(feed(b, sizeof(b)), bit < 64 ? -EINVAL : -EBADMSG);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}

/* Sampled bits of a record with a page of data, in the middle of a stream. */
static void test_bit_flips_ram(void **state)
{
    size_t n = build_src_stream(sbuf, sizeof(sbuf), 1);
    size_t start = bounds[3], len = bounds[4] - bounds[3];

    (void)state;
    rng = 99;
    for (int i = 0; i < 300; i++) {
        size_t bit = rnd64() % (len * 8);
        int rc;

        if (bit >= 32 && bit < 64)
            continue;                                   /* length: covered above */
        sbuf[start + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        dst_start();
        rc = feed(sbuf, n);
        assert_int_equal(rc, -EBADMSG);
        assert_int_equal(col.n, 3);                    /* everything before it */
        sbuf[start + bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}

static void test_unknown_and_malformed(void **state)
{
    static const struct { uint16_t type, flags; uint32_t len; int want; } cases[] = {
        { 0x99, 0, 0, -ENOMSG },
        { 0, 0, 0, -ENOMSG },
        { 0xffff, 0, 4, -ENOMSG },
        { MIG_REC_AUTH_CHALLENGE, 1, 32, -EPROTONOSUPPORT },
        { MIG_REC_AUTH_CHALLENGE, 0, 31, -EMSGSIZE },
        { MIG_REC_AUTH_CHALLENGE, 0, 33, -EMSGSIZE },
        { MIG_REC_STOP, 0, 4, -EMSGSIZE },
        { MIG_REC_ERROR, 0, 3, -EMSGSIZE },
        { MIG_REC_ERROR, 0, 5 + MIG_REASON_MAX, -EMSGSIZE },
    };
    static uint8_t zeros[1024];
    uint8_t b[2048];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n;

        dst_start();
        mig_enc_init(&enc, b, sizeof(b));
        mig_stream_header_put(&enc);
        n = 16 + raw_record(b + 16, cases[i].type, cases[i].flags, cases[i].len, zeros, true);
        assert_int_equal(feed(b, n), cases[i].want);
        assert_int_equal(col.n, 0);
    }
    mig_enc_init(&enc, b, sizeof(b));
    assert_int_equal(mig_rec_begin(&enc, 0x99), -ENOMSG);
    assert_int_equal(mig_rec_begin(&enc, MIG_REC_STOP), 0);
    assert_int_equal(mig_put_u32(&enc, 0), 0);
    assert_int_equal(mig_rec_end(&enc), -EMSGSIZE);        /* STOP has no payload */
    assert_int_equal(enc.len, 0);
}

static void test_bad_stream_header(void **state)
{
    uint8_t b[16];

    (void)state;
    mig_enc_init(&enc, b, sizeof(b));
    mig_stream_header_put(&enc);
    memcpy(b, "FERRYMIX", 8);
    dst_start();
    assert_int_equal(feed(b, 16), -EINVAL);
    assert_int_equal(feed(b, 16), -EINVAL);                 /* sticky */

    memcpy(b, "FERRYMIG", 8);
    b[8] = 1;                           /* an old peer: version 1, valid CRC */
    {
        uint32_t crc = crc32c_update(0, b, 12);
        for (int i = 0; i < 4; i++)
            b[12 + i] = (uint8_t)(crc >> (8 * i));
    }
    dst_start();
    assert_int_equal(feed(b, 16), -EPROTONOSUPPORT);
    assert_int_equal(dec.peer_version, 1);      /* what the engine names in its refusal */
    b[8] = MIG_STREAM_VERSION;
    b[10] = 1;                                              /* flags */
    {
        uint32_t crc = crc32c_update(0, b, 12);
        for (int i = 0; i < 4; i++)
            b[12 + i] = (uint8_t)(crc >> (8 * i));
    }
    dst_start();
    assert_int_equal(feed(b, 16), -EPROTONOSUPPORT);
    /* Version checked after the CRC: a damaged header is damage, not another version. */
    b[10] = 0;
    dst_start();
    assert_int_equal(feed(b, 16), -EBADMSG);
}

static void test_encoder_misuse(void **state)
{
    uint8_t b[40];

    (void)state;
    mig_enc_init(&enc, b, sizeof(b));
    assert_int_equal(mig_put_u8(&enc, 1), -EINVAL);
    assert_int_equal(mig_rec_end(&enc), -EINVAL);
    assert_int_equal(mig_rec_begin(&enc, MIG_REC_DEVICE), 0);
    assert_int_equal(mig_rec_begin(&enc, MIG_REC_DEVICE), -EINVAL);
    assert_int_equal(mig_stream_header_put(&enc), -EINVAL);
    assert_int_equal(mig_put_u64(&enc, 1), 0);
    assert_int_equal(mig_put_bytes(&enc, nonce, 20), 0);
    assert_int_equal(mig_put_u64(&enc, 1), -ENOSPC);        /* 36 of 40 used: no room */
    assert_int_equal(mig_put_u8(&enc, 1), -ENOSPC);         /* latched */
    assert_int_equal(mig_rec_end(&enc), -ENOSPC);
    assert_int_equal(enc.len, 0);
    assert_int_equal(enc.pos, 0);
    /* The buffer is usable again; reset drops finished output. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(ENC_ADDED(mig_rec_empty(&enc, MIG_REC_STOP)), 12);
    assert_int_equal(mig_rec_empty(&enc, MIG_REC_STOP), -ENOSPC);
    mig_enc_reset(&enc);
    assert_int_equal(enc.len, 0);
}

static void test_callback_pause_and_error(void **state)
{
    size_t n = build_src_stream(sbuf, sizeof(sbuf), 1);
    int rc;

    (void)state;
    dst_start();
    col.pause_after = 3;
    rc = feed(sbuf, n);
    assert_int_equal(rc, (int)bounds[3]);               /* stopped after the HELLO */
    assert_int_equal(col.n, 3);
    col.pause_after = 0;
    assert_int_equal(feed(sbuf + rc, n - rc), (int)(n - rc));
    assert_int_equal(col.n, NSRC);

    dst_start();
    col.fail_after = 2;
    assert_int_equal(feed(sbuf, n), -EIO);
    assert_int_equal(col.n, 2);
    assert_int_equal(feed(sbuf, n), -EIO);
}

static int query_cb(const struct mig_record *r, void *ctx)
{
    struct mig_record *out = ctx;
    *out = *r;
    return 0;
}

static void test_query(void **state)
{
    static uint8_t big[MIG_QUERY_DATA_MAX + 1];
    struct mig_decoder q;
    struct mig_record r;
    uint32_t kind, status;
    const uint8_t *p;
    size_t n, len;

    (void)state;
    /* The target's view: handshake, QUERY, its QUERY_REPLY ends the conversation. */
    dst_start();
    mig_enc_init(&enc, tbuf, sizeof(tbuf));
    mig_stream_header_put(&enc);
    mig_rec_auth(&enc, MIG_REC_AUTH_CHALLENGE, nonce);
    assert_int_equal(feed(tbuf, enc.len), (int)enc.len);
    len = any_record(tbuf, MIG_REC_AUTH_RESPONSE);
    assert_int_equal(feed(tbuf, len), (int)len);
    mig_enc_init(&enc, tbuf, sizeof(tbuf));
    assert_int_equal(mig_rec_query(&enc, MIG_QUERY_MIGRATION, nonce, sizeof(nonce)), 0);
    assert_int_equal(feed(tbuf, enc.len), (int)enc.len);
    assert_int_equal(mig_dec_phase(&dec), MIG_PH_QUERIED);
    assert_int_equal(col.r[col.n - 1].type, MIG_REC_QUERY);
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_ACCEPT), -EPROTO);
    assert_int_equal(mig_dec_sent(&dec, MIG_REC_QUERY_REPLY), 0);
    assert_true(mig_dec_done(&dec));
    /* Codec: round trips and bounds. */
    mig_enc_init(&enc, tbuf, sizeof(tbuf));
    assert_int_equal(mig_rec_query(&enc, MIG_QUERY_MIGRATION, nonce, 32), 0);
    mig_dec_init(&q, MIG_ROLE_DST);
    q.phase = MIG_PH_HELLO;
    memset(&r, 0, sizeof(r));
    uint8_t hdr[16];
    struct mig_enc he;
    mig_enc_init(&he, hdr, sizeof(hdr));
    mig_stream_header_put(&he);
    assert_int_equal(mig_dec_feed(&q, hdr, 16, query_cb, &r), 16);
    assert_int_equal(mig_dec_feed(&q, tbuf, enc.len, query_cb, &r), (int)enc.len);
    assert_int_equal(mig_parse_query(&r, &kind, &p, &n), 0);
    assert_int_equal(kind, MIG_QUERY_MIGRATION);
    assert_int_equal(n, 32);
    assert_memory_equal(p, nonce, 32);
    assert_int_equal(mig_parse_query_reply(&r, &kind, &status, &p, &n), -EINVAL);
    mig_enc_init(&enc, tbuf, sizeof(tbuf));
    assert_int_equal(mig_rec_query(&enc, 1, big, MIG_QUERY_ARG_MAX + 1), -EINVAL);
    assert_int_equal(mig_rec_query_reply(&enc, 1, 0, big, MIG_QUERY_DATA_MAX + 1), -EINVAL);
    assert_int_equal(mig_rec_query_reply(&enc, 1, 0, NULL, 3), -EINVAL);
    /* A reply as the source parses it. */
    r.type = MIG_REC_QUERY_REPLY;
    uint8_t payload[12] = { 2, 0, 0, 0, 3, 0, 0, 0, 'a', 'b', 'c', 'd' };
    r.payload = payload;
    r.len = sizeof(payload);
    assert_int_equal(mig_parse_query_reply(&r, &kind, &status, &p, &n), 0);
    assert_int_equal(kind, 2);
    assert_int_equal(status, MIG_QSTAT_BUSY);
    assert_int_equal(n, 4);
    r.len = 7;
    assert_int_equal(mig_parse_query_reply(&r, &kind, &status, &p, &n), -EINVAL);
    /* A nonzero reserved word in QUERY is malformed. */
    r.type = MIG_REC_QUERY;
    r.len = 8;
    payload[4] = 1;
    assert_int_equal(mig_parse_query(&r, &kind, &p, &n), -EINVAL);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(mig_rec_type_name(MIG_REC_COMMIT_ACK), "COMMIT_ACK");
    assert_string_equal(mig_rec_type_name(0x55), "?");
    assert_string_equal(mig_phase_name(MIG_PH_STOPPED), "stopped");
    assert_string_equal(mig_phase_name(MIG_PH_COUNT), "?");
}

/* HELLO's NICs: a switch name of 1-15 allowed characters NUL-padded, a unicast non-zero MAC,
 * reserved zero, at most MIG_MAX_NICS; anything else is refused by the parser, and the
 * encoder will not write it. */
static void test_hello_nics_and_disks(void **state)
{
    static uint8_t buf[4096];
    struct mig_enc e;
    struct mig_hello h = sample_hello(), out;
    (void)state;

    mig_enc_init(&e, buf, sizeof(buf));
    assert_int_equal(mig_rec_hello(&e, &h), 0);
    struct mig_record r = { .type = MIG_REC_HELLO, .len = (uint32_t)(e.len - 12),
                            .payload = buf + 8 };
    assert_int_equal(mig_parse_hello(&r, &out), 0);
    assert_int_equal(out.nnics, 2);
    /* The NICs come before the disks: 4 + 2 * 24 bytes, then 4 + 144. */
    uint8_t *nics = buf + 8 + r.len - 4 - MIG_HELLO_DISK_SIZE - 2 * MIG_HELLO_NIC_SIZE;
    uint8_t *disk = buf + 8 + r.len - MIG_HELLO_DISK_SIZE;
    struct { unsigned off; uint8_t val; } bad[] = {
        { 0, 0 },                               /* an empty switch name */
        { 1, ' ' },                             /* a space in it */
        { 2, '.' },                             /* a dot */
        { 4, 'x' },                             /* a byte after its NUL */
        { 16, 0x01 },                           /* a multicast MAC */
        { 22, 1 },                              /* reserved */
        { MIG_HELLO_NIC_SIZE + 15, 'z' },       /* the second name fills its field: no NUL */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t was = nics[bad[i].off];
        nics[bad[i].off] = bad[i].val;
        assert_int_equal(mig_parse_hello(&r, &out), -EINVAL);
        nics[bad[i].off] = was;
    }
    uint8_t mac0[6];
    memcpy(mac0, nics + 16, 6);
    memset(nics + 16, 0, 6);                    /* an all-zero MAC */
    assert_int_equal(mig_parse_hello(&r, &out), -EINVAL);
    memcpy(nics + 16, mac0, 6);
    nics[-4] = MIG_MAX_NICS + 1;                /* more NICs than allowed (and than sent) */
    assert_int_equal(mig_parse_hello(&r, &out), -EINVAL);
    nics[-4] = 3;                               /* one more than sent: truncated */
    assert_int_equal(mig_parse_hello(&r, &out), -EINVAL);
    nics[-4] = 2;
    assert_int_equal(mig_parse_hello(&r, &out), 0);

    /* The disk: kind, reserved, a zero size, a location that is not nbd://, has a space, runs
     * to the end of its field, or has a byte after its NUL. */
    struct { unsigned off; uint8_t val; } dbad[] = {
        { 0, 2 }, { 3, 1 }, { 16, 'h' }, { 16 + 10, ' ' }, { 16 + 40, 'x' },
        { 16 + MIG_DISK_LOC_MAX - 1, 'x' },
    };
    for (unsigned i = 0; i < sizeof(dbad) / sizeof(dbad[0]); i++) {
        uint8_t was = disk[dbad[i].off];
        disk[dbad[i].off] = dbad[i].val;
        assert_int_equal(mig_parse_hello(&r, &out), -EINVAL);
        disk[dbad[i].off] = was;
    }
    uint8_t size0[8];
    memcpy(size0, disk + 8, 8);
    memset(disk + 8, 0, 8);
    assert_int_equal(mig_parse_hello(&r, &out), -EINVAL);
    memcpy(disk + 8, size0, 8);
    disk[-4] = MIG_MAX_DISKS + 1;
    assert_int_equal(mig_parse_hello(&r, &out), -EINVAL);
    disk[-4] = 1;
    assert_int_equal(mig_parse_hello(&r, &out), 0);

    /* The encoder refuses what the parser would. */
    struct mig_hello b = sample_hello();
    strcpy(b.nics[1].sw, "no spaces");
    mig_enc_init(&e, buf, sizeof(buf));
    assert_int_not_equal(mig_rec_hello(&e, &b), 0);
    b = sample_hello();
    b.nics[0].mac[0] = 0x01;
    mig_enc_init(&e, buf, sizeof(buf));
    assert_int_not_equal(mig_rec_hello(&e, &b), 0);
    b = sample_hello();
    strcpy(b.disks[0].loc, "file:///etc/passwd");
    mig_enc_init(&e, buf, sizeof(buf));
    assert_int_not_equal(mig_rec_hello(&e, &b), 0);
    b = sample_hello();
    b.nnics = MIG_MAX_NICS + 1;
    mig_enc_init(&e, buf, sizeof(buf));
    assert_int_not_equal(mig_rec_hello(&e, &b), 0);
}

/* What mig_ram_parse hands out of a DISK record's runs. */
struct disk_runs { unsigned n; uint64_t blk[4]; uint32_t count[4]; bool zero[4]; uint32_t crc[4]; };

static int disk_run_cb(uint64_t blk, uint32_t count, bool zero, const uint8_t *data, void *ctx)
{
    struct disk_runs *d = ctx;
    assert_true(d->n < 4);
    d->blk[d->n] = blk;
    d->count[d->n] = count;
    d->zero[d->n] = zero;
    d->crc[d->n] = data ? crc32c_update(0, data, (size_t)count * MIG_DISK_BLOCK) : 0;
    d->n++;
    return 0;
}

/* storage=copy: a DISK record (header, runs of blocks in the RAM layout) through the decoder,
 * a HELLO naming a local disk, and what the parsers refuse. */
static void test_disk_records(void **state)
{
    static uint8_t buf[MIG_REC_MAX_SIZE];
    struct mig_enc e;
    (void)state;
    fill_pages();
    dst_to_precopy();
    mig_enc_init(&e, buf, sizeof(buf));
    assert_int_equal(mig_rec_disk_begin(&e, 0), 0);
    assert_int_equal(mig_ram_run_put(&e, 0, 3, false, pages), 0);
    assert_int_equal(mig_ram_run_put(&e, 3, 4093, true, NULL), 0);
    assert_int_equal(mig_ram_run_put(&e, 9000, 1, false, pages[5]), 0);
    assert_int_equal(mig_rec_end(&e), 0);
    unsigned before = col.n;
    assert_int_equal(feed(buf, e.len), (int)e.len);
    assert_int_equal(col.n, before + 1);
    assert_int_equal(col.r[before].type, MIG_REC_DISK);
    struct mig_record r = { .type = MIG_REC_DISK, .len = (uint32_t)(e.len - 12),
                            .payload = buf + 8 };
    uint16_t inst = 9;
    const uint8_t *runs;
    size_t len;
    assert_int_equal(mig_parse_disk(&r, &inst, &runs, &len), 0);
    assert_int_equal(inst, 0);
    assert_int_equal(len, r.len - 8);
    struct disk_runs got = { 0 };
    assert_int_equal(mig_ram_parse(runs, len, disk_run_cb, &got), 0);
    assert_int_equal(got.n, 3);
    assert_int_equal(got.blk[0], 0);
    assert_int_equal(got.count[0], 3);
    assert_false(got.zero[0]);
    assert_int_equal(got.crc[0], crc32c_update(0, pages, 3 * MIG_PAGE_SIZE));
    assert_int_equal(got.blk[1], 3);
    assert_int_equal(got.count[1], 4093);
    assert_true(got.zero[1]);
    assert_int_equal(got.blk[2], 9000);
    assert_int_equal(got.crc[2], crc32c_update(0, pages[5], MIG_PAGE_SIZE));
    /* Reserved header bytes, another record's type, no runs at all. */
    for (unsigned off = 2; off < 8; off++) {
        buf[8 + off] ^= 1;
        assert_int_equal(mig_parse_disk(&r, &inst, &runs, &len), -EINVAL);
        buf[8 + off] ^= 1;
    }
    r.type = MIG_REC_RAM;
    assert_int_equal(mig_parse_disk(&r, &inst, &runs, &len), -EINVAL);
    r.type = MIG_REC_DISK;
    r.len = 8;
    assert_int_equal(mig_parse_disk(&r, &inst, &runs, &len), -EINVAL);
    /* A DISK record without runs is refused by the decoder as a size its type cannot have. */
    mig_enc_init(&e, buf, sizeof(buf));
    assert_int_equal(mig_rec_disk_begin(&e, 0), 0);
    assert_int_equal(mig_rec_end(&e), -EMSGSIZE);
    /* Runs go only into RAM or DISK records. */
    mig_enc_init(&e, buf, sizeof(buf));
    assert_int_equal(mig_rec_begin(&e, MIG_REC_DEVICE), 0);
    assert_int_equal(mig_ram_run_put(&e, 0, 1, true, NULL), -EINVAL);

    /* HELLO with a local disk: its name, not an nbd:// location; and neither kind may wear the
     * other's location. */
    struct mig_hello h = sample_hello(), out;
    h.disks[0].kind = MIG_DISK_LOCAL;
    strcpy(h.disks[0].loc, "disk.img");
    mig_enc_init(&e, buf, sizeof(buf));
    assert_int_equal(mig_rec_hello(&e, &h), 0);
    r = (struct mig_record){ .type = MIG_REC_HELLO, .len = (uint32_t)(e.len - 12),
                             .payload = buf + 8 };
    assert_int_equal(mig_parse_hello(&r, &out), 0);
    assert_int_equal(out.disks[0].kind, MIG_DISK_LOCAL);
    assert_string_equal(out.disks[0].loc, "disk.img");
    assert_int_equal(out.disks[0].sectors, 16384);
    uint8_t *disk = buf + 8 + r.len - MIG_HELLO_DISK_SIZE;
    disk[0] = 3;                                        /* no such kind */
    assert_int_equal(mig_parse_hello(&r, &out), -EINVAL);
    disk[0] = MIG_DISK_NBD;                             /* NBD with a name for a location */
    assert_int_equal(mig_parse_hello(&r, &out), -EINVAL);
    disk[0] = MIG_DISK_LOCAL;
    disk[16] = 0;                                       /* an empty name */
    assert_int_equal(mig_parse_hello(&r, &out), -EINVAL);
    h.disks[0].kind = MIG_DISK_LOCAL;
    strcpy(h.disks[0].loc, "nbd://10.0.0.1/x");        /* local, but named like a share */
    mig_enc_init(&e, buf, sizeof(buf));
    assert_int_not_equal(mig_rec_hello(&e, &h), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_header),
        cmocka_unit_test(test_record_layout),
        cmocka_unit_test(test_roundtrip_src_records),
        cmocka_unit_test(test_parse_src_records),
        cmocka_unit_test(test_roundtrip_dst_records),
        cmocka_unit_test(test_feed_byte_by_byte),
        cmocka_unit_test(test_feed_random_chunks),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_order_violations),
        cmocka_unit_test(test_order_own_sends),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_bit_flips_ram),
        cmocka_unit_test(test_unknown_and_malformed),
        cmocka_unit_test(test_bad_stream_header),
        cmocka_unit_test(test_encoder_misuse),
        cmocka_unit_test(test_callback_pause_and_error),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_hello_nics_and_disks),
        cmocka_unit_test(test_disk_records),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
