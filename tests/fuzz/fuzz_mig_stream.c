// libFuzzer target: arbitrary bytes into the migration stream decoder (hv/mig/mig_stream.c), and
// every delivered record through its payload parser.
//
// Build and run from the repository root:
//   F="-std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I."
//   clang $F tests/fuzz/fuzz_mig_stream.c hv/mig/mig_stream.c hv/base/crc32c.c -o build/fuzz_mig_stream
//   mkdir -p build/fuzz_corpus_mig
//   build/fuzz_mig_stream -max_total_time=10 -max_len=20000 build/fuzz_corpus_mig
//
// Input: [ctl:1][bytes]. ctl bit 0: the decoder is the source's (reads what a target sends)
// instead of the target's. Bit 1 clear: the bytes are the stream as is; with bit 2 set, the
// stream header is made valid and the CRC of every complete record fixed first, so mutations
// get past the CRC to the type, order and payload checks. Bit 1 set: the bytes are items
// [sel:1][len:2][payload:len] that become records of type known_types[sel % 14] (sel >= 0xf0:
// an unknown type) with a valid header and CRC, after a valid stream header; bit 2 then puts
// the peer's side of the handshake first, so the items start in the RAM phase. Bits 3-7 seed
// the chunk sizes.
//
// Checks, beyond the sanitizers: the same bytes whole and in chunks give the same records and
// the same result; the engine replies the harness plays are always legal in the phase the
// records put it in; records keep their length bounds; a payload that parses re-encodes to
// the same bytes (the encoding is canonical); RAM runs stay inside the payload and below
// MIG_GFN_LIMIT.
//
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hv/base/crc32c.h"
#include "hv/mig/mig_stream.h"

struct run {
    struct mig_decoder *d;
    uint32_t hash;          // over every delivered record
    unsigned records;
};

static struct mig_decoder dec_whole, dec_chunks;
static uint8_t copy[1 << 20];
static uint8_t reenc[MIG_REC_MAX_SIZE];

#define CHECK(c) do { if (!(c)) abort(); } while (0)

// A parsed payload encodes back to exactly the bytes it came from.
static void same_bytes(const struct mig_record *r, const struct mig_enc *e, int rc)
{
    CHECK(rc == 0 && e->len == MIG_REC_OVERHEAD + (size_t)r->len);
    CHECK(!memcmp(reenc + MIG_REC_HDR_SIZE, r->payload, r->len));
}

static uint8_t scratch[MIG_RAM_MAX_PAGES * MIG_PAGE_SIZE];

// Pages come from the payload, or (LZ4 runs) from the scratch the record expanded into.
static int ram_run(uint64_t gfn, uint32_t count, bool zero, const uint8_t *data, void *ctx)
{
    const struct mig_record *r = ctx;

    CHECK(count && gfn < MIG_GFN_LIMIT && count <= MIG_GFN_LIMIT - gfn);
    CHECK(zero == !data);
    if (data)
        CHECK((data >= r->payload &&
               data + (uint64_t)count * MIG_PAGE_SIZE <= r->payload + r->len) ||
              (data >= scratch && data + (uint64_t)count * MIG_PAGE_SIZE <= scratch +
               sizeof(scratch)));
    return 0;
}

// DELTA bases: every page below 2^20 reads as this one (the rest is not the target's).
static uint8_t base[MIG_PAGE_SIZE];
static const uint8_t *base_page(uint64_t gfn, void *ctx)
{
    (void)ctx;
    return gfn < (1u << 20) ? base : NULL;
}

// A RAM payload: as on a stream without LZ4, with it, and with LZ4 and DELTA (what one takes,
// each that takes more takes the same way).
static void ram_both(const uint8_t *p, size_t n, const struct mig_record *r)
{
    int plain = mig_ram_parse(p, n, ram_run, (void *)r);
    int lz4 = mig_ram_parse_lz4(p, n, ram_run, (void *)r, scratch);
    int all = mig_ram_parse_ex(p, n, ram_run, (void *)r, scratch, true, base_page, NULL);
    CHECK(plain != 0 || lz4 == 0);
    CHECK(lz4 != 0 || all == 0);
}

static void check_payload(const struct mig_record *r)
{
    struct mig_enc e;
    struct mig_hello h;
    struct vcpu_state s;
    struct mig_dev_id id;
    const uint8_t *b;
    const char *why;
    uint32_t u32;
    uint64_t u64;
    size_t n;

    mig_enc_init(&e, reenc, sizeof(reenc));
    switch (r->type) {
    case MIG_REC_AUTH_CHALLENGE:
    case MIG_REC_AUTH_RESPONSE:
        CHECK(mig_parse_auth(r, &b) == 0);
        break;
    case MIG_REC_HELLO:
        if (mig_parse_hello(r, &h) == 0)
            same_bytes(r, &e, mig_rec_hello(&e, &h));
        break;
    case MIG_REC_REFUSE:
    case MIG_REC_ERROR:
        if (mig_parse_reason(r, &u32, &why, &n) == 0) {
            char text[MIG_REASON_MAX + 1];

            memcpy(text, why, n);
            text[n] = 0;
            same_bytes(r, &e, mig_rec_reason(&e, r->type, u32, text));
        }
        break;
    case MIG_REC_RAM: {
        const uint8_t *runs;
        if (mig_parse_ram(r, &u32, &runs, &n) == 0) {
            CHECK(runs == r->payload + 8 && n == r->len - 8);
            ram_both(runs, n, r);
        }
        break;
    }
    case MIG_REC_JOIN: {
        uint16_t k;
        if (mig_parse_join(r, &b, &k) == 0)
            same_bytes(r, &e, mig_rec_join(&e, b, k));
        break;
    }
    case MIG_REC_STREAM_END:
        if (mig_parse_stream_end(r, &u32, &u64) == 0)
            same_bytes(r, &e, mig_rec_stream_end(&e, u32, u64));
        break;
    case MIG_REC_DISK: {
        uint16_t inst;
        const uint8_t *runs;
        if (mig_parse_disk(r, &inst, &runs, &n) == 0) {
            CHECK(runs == r->payload + 8 && n == r->len - 8);
            ram_both(runs, n, r);
        }
        break;
    }
    case MIG_REC_ROUND_END:
        if (mig_parse_round_end(r, &u32, &u64) == 0)
            same_bytes(r, &e, mig_rec_round_end(&e, u32, u64));
        break;
    case MIG_REC_VCPU:
        if (mig_parse_vcpu(r, &u32, &s) == 0)
            same_bytes(r, &e, mig_rec_vcpu(&e, u32, &s));
        break;
    case MIG_REC_DEVICE:
        if (mig_parse_device(r, &id, &b, &n) == 0)
            same_bytes(r, &e, mig_rec_device(&e, &id, b, n));
        break;
    case MIG_REC_XSAVE:
        if (mig_parse_xsave(r, &u32, &b, &n) == 0)
            same_bytes(r, &e, mig_rec_xsave(&e, u32, b, n));
        break;
    case MIG_REC_TSC:
        if (mig_parse_tsc(r, &u64, &u32) == 0)
            same_bytes(r, &e, mig_rec_tsc(&e, u64, u32));
        break;
    case MIG_REC_ACCEPT: {
        uint16_t f, k;
        uint8_t tok[MIG_JOIN_TOKEN];
        if (mig_parse_accept(r, &f, &k, tok) == 0)
            same_bytes(r, &e, mig_rec_accept(&e, f, k, tok));
        break;
    }
    case MIG_REC_COMMIT_ACK:
        if (mig_parse_commit_ack(r, &u32) == 0)
            same_bytes(r, &e, mig_rec_commit_ack(&e, u32));
        break;
    default:
        CHECK(r->len == 0);                 // STOP, COMMIT
    }
}

// Plays the engine of the decoder's side, so the fuzzer can reach every phase.
static int on_record(const struct mig_record *r, void *ctx)
{
    struct run *run = ctx;
    struct mig_decoder *d = run->d;
    uint8_t hdr[8] = { (uint8_t)r->type, (uint8_t)(r->type >> 8), 0, 0, (uint8_t)r->len,
                       (uint8_t)(r->len >> 8), (uint8_t)(r->len >> 16), (uint8_t)(r->len >> 24) };

    CHECK(r->flags == 0 && r->len <= MIG_REC_MAX_PAYLOAD);
    run->hash = crc32c_update(crc32c_update(run->hash, hdr, 8), r->payload, r->len);
    run->records++;
    check_payload(r);
    if (d->role == MIG_ROLE_DST) {
        if (r->type == MIG_REC_AUTH_CHALLENGE) {
            CHECK(mig_dec_sent(d, MIG_REC_AUTH_CHALLENGE) == 0);
            CHECK(mig_dec_sent(d, MIG_REC_AUTH_RESPONSE) == 0);
        } else if (r->type == MIG_REC_HELLO) {
            CHECK(mig_dec_sent(d, MIG_REC_ACCEPT) == 0);
        }
    } else if (r->type == MIG_REC_AUTH_RESPONSE) {
        CHECK(mig_dec_sent(d, MIG_REC_AUTH_RESPONSE) == 0);
        CHECK(mig_dec_sent(d, MIG_REC_HELLO) == 0);
    } else if (r->type == MIG_REC_ACCEPT) {
        CHECK(mig_dec_sent(d, MIG_REC_RAM) == 0);
        CHECK(mig_dec_sent(d, MIG_REC_STOP) == 0);
        CHECK(mig_dec_sent(d, MIG_REC_VCPU) == 0);
        CHECK(mig_dec_sent(d, MIG_REC_COMMIT) == 0);
    }
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static const uint16_t known_types[] = {
    MIG_REC_AUTH_CHALLENGE, MIG_REC_AUTH_RESPONSE, MIG_REC_HELLO, MIG_REC_ACCEPT,
    MIG_REC_REFUSE, MIG_REC_RAM, MIG_REC_ROUND_END, MIG_REC_DISK, MIG_REC_STOP, MIG_REC_VCPU,
    MIG_REC_DEVICE, MIG_REC_XSAVE, MIG_REC_TSC, MIG_REC_COMMIT, MIG_REC_COMMIT_ACK, MIG_REC_ERROR,
    MIG_REC_JOIN, MIG_REC_STREAM_END,
};

// The peer's opening: the source's AUTH_CHALLENGE, AUTH_RESPONSE and a HELLO, or the
// target's AUTH_CHALLENGE, AUTH_RESPONSE and ACCEPT.
static void opening(struct mig_enc *e, enum mig_role self)
{
    static const uint8_t nonce[MIG_AUTH_BYTES] = "fuzz-nonce-fuzz-nonce-fuzz-nonc";
    struct mig_hello h = { .version = MIG_STREAM_VERSION, .streams = 2, .vcpus = 2,
                           .mem_bytes = 1 << 24,
                           .name = "fuzz", .ndevices = 1, .devices = { { 1, 0, 1 } } };

    mig_rec_auth(e, MIG_REC_AUTH_CHALLENGE, nonce);
    mig_rec_auth(e, MIG_REC_AUTH_RESPONSE, nonce);
    if (self == MIG_ROLE_DST)
        mig_rec_hello(e, &h);
    else
        mig_rec_accept(e, MIG_FEAT_LZ4, 2, nonce);
}

// Items to records; returns the stream's length.
static size_t build_items(const uint8_t *p, size_t n, bool open, enum mig_role self)
{
    struct mig_enc e;
    size_t off = 0;

    mig_enc_init(&e, copy, sizeof(copy));
    mig_stream_header_put(&e);
    if (open)
        opening(&e, self);
    while (n - off >= 3) {
        uint8_t sel = p[off];
        size_t len = p[off + 1] | p[off + 2] << 8;
        uint16_t type = sel >= 0xf0 ? 0x100 + sel : known_types[sel % 14];
        uint8_t *r = copy + e.len;

        off += 3;
        if (len > n - off)
            len = n - off;
        if (e.cap - e.len < MIG_REC_OVERHEAD + len)
            break;
        // Framed by hand: the encoder would refuse bad lengths and unknown types.
        r[0] = (uint8_t)type;
        r[1] = (uint8_t)(type >> 8);
        r[2] = r[3] = 0;
        put32(r + 4, (uint32_t)len);
        memcpy(r + 8, p + off, len);
        put32(r + 8 + len, crc32c_update(0, r, 8 + len));
        e.len += MIG_REC_OVERHEAD + len;
        off += len;
    }
    return e.len;
}

static void fix_crcs(uint8_t *p, size_t n)
{
    size_t off = MIG_STREAM_HDR_SIZE;

    if (n < MIG_STREAM_HDR_SIZE)
        return;
    memcpy(p, "FERRYMIG\x01\x00\x00\x00", 12);
    put32(p + 12, crc32c_update(0, p, 12));
    while (n - off >= MIG_REC_OVERHEAD) {
        uint32_t len = p[off + 4] | p[off + 5] << 8 | p[off + 6] << 16 | (uint32_t)p[off + 7] << 24;

        if (len > n - off - MIG_REC_OVERHEAD)
            break;
        put32(p + off + 8 + len, crc32c_update(0, p + off, 8 + (size_t)len));
        off += MIG_REC_OVERHEAD + len;
    }
}

static int start(struct mig_decoder *d, struct run *run, enum mig_role role)
{
    memset(run, 0, sizeof(*run));
    run->d = d;
    mig_dec_init(d, role);
    if (role == MIG_ROLE_SRC)
        CHECK(mig_dec_sent(d, MIG_REC_AUTH_CHALLENGE) == 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run whole, chunks;
    enum mig_role role;
    uint32_t seed;
    size_t n, off = 0;
    int rc_whole, rc = 0;

    if (size < 1 || size - 1 > sizeof(copy) / 2)
        return 0;
    role = data[0] & 1 ? MIG_ROLE_SRC : MIG_ROLE_DST;
    if (data[0] & 2) {
        n = build_items(data + 1, size - 1, data[0] & 4, role);
    } else {
        n = size - 1;
        memcpy(copy, data + 1, n);
        if (data[0] & 4)
            fix_crcs(copy, n);
    }
    seed = data[0] >> 3;

    start(&dec_whole, &whole, role);
    rc_whole = mig_dec_feed(&dec_whole, copy, n, on_record, &whole);
    CHECK(rc_whole < 0 || (size_t)rc_whole == n);

    start(&dec_chunks, &chunks, role);
    while (off < n) {
        size_t c;

        seed = seed * 1103515245u + 12345u;
        c = 1 + (seed >> 16) % (seed & 0x100 ? 4096 : 17);
        if (c > n - off)
            c = n - off;
        rc = mig_dec_feed(&dec_chunks, copy + off, c, on_record, &chunks);
        if (rc < 0)
            break;
        CHECK((size_t)rc == c);
        off += c;
    }
    CHECK(whole.records == chunks.records && whole.hash == chunks.hash);
    CHECK(rc_whole < 0 ? rc == rc_whole : rc >= 0);
    CHECK(dec_whole.phase == dec_chunks.phase && dec_whole.fill == dec_chunks.fill);
    CHECK(mig_dec_idle(&dec_whole) == (mig_dec_pending(&dec_whole) == 0));
    return 0;
}
