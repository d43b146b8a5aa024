/*
 * The source side of a live migration (see hv/mig/mig.h). Each outgoing
 * migration owns a struct src_mig, allocated from the frame allocator when
 * it starts (with the VM's two dirty bitmaps) and freed by the poll loop
 * once it has ended; callbacks only mark it ended, never free it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/fpu.h"
#include "hv/base/compress.h"
#include "hv/base/config.h"
#include "hv/base/delta.h"
#include "hv/cpu/cpu_policy_codec.h"
#include "hv/vm/dirty.h"
#include "hv/base/log.h"
#include "hv/base/mem.h"
#include "hv/mig/mig_auth.h"
#include "hv/mig/mig_devices.h"
#include "hv/mig/mig_policy.h"
#include "hv/mig/mig_stream.h"
#include "hv/mig/mig_int.h"
#include "hv/base/time.h"
#include "hv/vm/vmctl.h"
#include "net/mig_transport.h"

/*
 * S_RESOLVE, S_QUERY: the connection died after COMMIT and before COMMIT_ACK. The source
 * reconnects (S_CONNECT, S_AUTH with resolving set) and asks the target with a QUERY
 * whether that migration committed, for up to MIGRATE_RESOLVE_NS.
 */
/* S_DISK: storage=copy's first pass over the local disk (and its rounds of written blocks),
 * before memory. */
enum src_state { S_IDLE, S_CONNECT, S_AUTH, S_HELLO, S_DISK, S_RAM, S_DRAIN, S_FINAL, S_COMMIT,
                 S_RESOLVE, S_QUERY, S_DONE };

#define MIGRATE_RESOLVE_NS (30ull * 1000000000)
#define MIGRATE_RETRY_NS   (2ull * 1000000000)

#define DELTA_MAX (PAGE_SIZE / 2)     /* a longer delta goes as the page */
#define XB_SLOTS_MAX 16384u            /* 64 MiB of cache at most */
#define XB_SLOTS_MIN 256u

struct src_mig;

/*
 * streams=N: stream k (1..N-1) is a connection of its own, opened once ACCEPT granted it,
 * that carries the RAM of the chunks k owns (mig_stream_owner) from its own cursor, each
 * record built into its own buffer, and ends with STREAM_END once the last pages after the
 * stop went. The first stream (the migration's connection) carries chunk owner 0's pages and
 * everything else.
 */
struct src_lane {
    struct src_mig *s;
    struct mig_conn *conn;
    uint16_t index;
    bool up;                        /* connected (TLS done): JOIN queued, pages may follow */
    bool end_sent;                  /* STREAM_END queued */
    struct mig_enc enc;
    size_t rec_len, rec_off;
    uint64_t cursor, pages;
    uint8_t rec[MIG_REC_MAX_SIZE + MIG_STREAM_HDR_SIZE];
};

struct src_mig {
    enum src_state st;
    struct vm *vm;
    struct mig_conn *conn;
    struct mig_auth auth;
    struct mig_decoder dec;
    struct mig_enc enc;
    uint8_t rec[MIG_REC_MAX_SIZE + MIG_STREAM_HDR_SIZE];
    size_t rec_len, rec_off;
    uint64_t *bitmap, *final_bits;  /* pages to send this round; the last harvest */
    uint64_t bitmap_pages;          /* frames holding both bitmaps */
    uint64_t cursor, npages;
    uint32_t round, downtime_ms, final_step, throttle, throttle_max, timeout_s;
    uint64_t t_challenge, rtt_ns;   /* our challenge sent; the peer's answer's round trip */
    uint64_t t_precopy;             /* memory's first round began */
    enum dirty_mode dirty_mode;
    bool paused, got_peer_nonce, authed, accepted, acked;
    uint8_t peer_nonce[MIG_AUTH_NONCE_SIZE], my_mac[MIG_AUTH_MAC_SIZE];
    uint64_t t_start, t_stop, t_round, round_bytes, bytes, pages, zero_pages;
    uint64_t last_progress;     /* the peer acknowledged data or sent a record */
    size_t last_unacked, last_acked;
    /* Progress (for the bar and `migrate status`). */
    uint64_t round_total, round_sent;    /* pages to send in this round, sent so far */
    uint64_t bw, dirty_rate, expect_ms;  /* last round: bytes/s sent, bytes/s dirtied */
    /* bandwidth= : a token bucket refilled at limit bytes/s */
    uint64_t limit, tokens, t_tokens;
    /* Resolving a lost COMMIT_ACK: this migration's identity is its first challenge nonce. */
    uint32_t addr;
    uint16_t port;
    bool resolving, have_mig_nonce, got_reply;
    uint8_t mig_nonce[MIG_AUTH_NONCE_SIZE];
    uint32_t reply_status;
    uint64_t resolve_until, retry_at;
    unsigned hold_s;            /* `migrate inject hold-final` armed when it started */
    uint64_t hold_until;        /* ...: paused, nothing sent until then */
    char commit_reason[120];
    uint8_t policy[CPU_POLICY_BLOB_MAX];    /* the VM's CPU policy, as HELLO carries it */
    uint8_t xsave[MIG_XSAVE_MAX];           /* a vCPU's XSAVE area or a device record, as sent */
    char reason[160];
    /*
     * storage=copy: the local disk moves too. Every block goes first (S_DISK), with rounds of
     * the blocks written meanwhile until few are left; then memory, each round also carrying
     * the blocks written since the last; the last ones after the guest stopped. disk_log is
     * the device's write log (vm_disk_log), disk_bits the blocks still to send.
     */
    bool disk_copy, disk_logging;
    uint64_t *disk_log, *disk_bits;
    uint64_t disk_blocks, disk_words, disk_log_pages, disk_cursor, disk_sent;
    uint32_t disk_rounds;
    /*
     * compress=: LZ4 is offered in HELLO unless off, and used once ACCEPT takes it. With auto,
     * each round's measurements decide whether the next compresses (mig_policy_compress_pays);
     * while it does not, every COMPRESS_PROBE-th run still goes through the compressor, so the
     * measurement stays current.
     */
    enum mig_compress compress;
    uint16_t offered;               /* MIG_FEAT_*: in HELLO; ACCEPT may take no more */
    bool lz4, lz4_now;              /* taken by the target; compressing this round */
    uint32_t lz4_probe;
    uint64_t z_in, z_out, z_ns;     /* this round: into the compressor, out of it, its time */
    uint64_t data_raw, data_wire, lz4_pages;   /* non-zero page data sent: raw, on the wire */
    uint32_t stopped_us;            /* COMMIT_ACK: the guest's stop as the target saw it */
    struct compress_state zst;
    uint8_t zbuf[MIG_RAM_MAX_PAGES * PAGE_SIZE];
    /*
     * delta=on (MIG_FEAT_DELTA taken): a page sent before goes as its change since then
     * (MIG_RAM_DELTA) when that takes at most DELTA_MAX bytes. The cache is direct-mapped:
     * slot (page % xb_slots) holds exactly the bytes last sent for page xb_tag[slot] - 1
     * (0: none). A data run is copied out of the guest once (xb_snap), and the record and
     * the cache both take that copy, so a guest writing meanwhile cannot make what the
     * target holds differ from what the cache says it holds.
     */
    bool delta;
    uint8_t *xb_cache;
    uint64_t *xb_tag;
    uint64_t xb_slots, xb_frames;
    uint64_t delta_pages;
    uint8_t xb_snap[MIG_RAM_MAX_PAGES * PAGE_SIZE];
    uint8_t xb_body[MIG_RAM_MAX_PAGES * (2 + DELTA_MAX)];
    /* streams=: asked for in HELLO, granted by ACCEPT (with the token JOIN carries) */
    uint16_t streams_asked, streams;
    uint8_t token[MIG_JOIN_TOKEN];
    struct src_lane *lanes[MIG_STREAMS_MAX];     /* [0] unused: the first stream is s itself */
};

#define COMPRESS_PROBE 16

_Static_assert(MIG_DISK_BLOCK == PAGE_SIZE, "a disk block is a host page of the disk");

/* The disk pass ends (memory starts) once a round leaves at most this many written blocks,
 * or after DISK_ROUNDS_MAX rounds: what is left goes with memory's rounds. */
#define DISK_CONVERGED_BLOCKS 256
#define DISK_ROUNDS_MAX       16

/* How long stop-and-copy waits for devices' requests to finish (under the stall limit). */
#define MIGRATE_DRAIN_NS (8ull * 1000000000)

static struct src_mig *outgoing[MIGRATE_SLOTS];

/* By enum src_state. */
static const char *const phase_names[] = { "idle", "connect", "auth", "hello", "disk",
                                           "precopy", "stop", "stop", "commit", "commit",
                                           "commit", "done" };

static void disk_log_off(struct src_mig *s)
{
    if (s->disk_logging)
        vm_disk_log(s->vm, NULL);
    s->disk_logging = false;
}

static void fail(struct src_mig *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The other streams' connections close (their buffers stay until the migration is freed). */
static void lanes_close(struct src_mig *s)
{
    for (unsigned k = 1; k < MIG_STREAMS_MAX; k++)
        if (s->lanes[k] && s->lanes[k]->conn) {
            mig_conn_close(s->lanes[k]->conn);
            s->lanes[k]->conn = NULL;
        }
}

/* Every further stream's STREAM_END was taken whole by the transport. */
static bool lanes_ended(const struct src_mig *s)
{
    for (unsigned k = 1; k < s->streams; k++) {
        const struct src_lane *l = s->lanes[k];
        if (!l || !l->end_sent || l->rec_off < l->rec_len)
            return false;
    }
    return true;
}

/*
 * Ends the migration and says why. Before COMMIT the guest resumes here (the target discards
 * its skeleton when the connection goes). After COMMIT was sent and before the target's ACK
 * arrived, the target may already run the guest: resuming here could run it twice, so the
 * guest stays paused on this host and the operator decides (see docs/migration-stream.md).
 * "Sent" is all of COMMIT taken by the transport, and every stream's STREAM_END: the target
 * cannot commit on a part of them.
 */
static void fail(struct src_mig *s, const char *fmt, ...)
{
    va_list ap;
    char err[120];
    if (s->st == S_IDLE || s->st == S_DONE)
        return;
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
    va_end(ap);
    mig_conn_close(s->conn);
    s->conn = NULL;
    lanes_close(s);
    if (s->vm->dirty_on)
        vm_dirty_stop(s->vm);
    disk_log_off(s);
    s->vm->throttle_pct = 0;
    if ((s->st == S_COMMIT && s->rec_off >= s->rec_len && lanes_ended(s)) || s->resolving) {
        uint64_t now = time_ns();
        if (!s->resolving) {              /* ask the target whether it committed */
            snprintf(s->commit_reason, sizeof(s->commit_reason), "%s", s->reason);
            s->resolving = true;
            s->resolve_until = now + MIGRATE_RESOLVE_NS;
            log_warn("migrate", "vm %s: %s after COMMIT; asking the target whether it runs it",
                     s->vm->name, s->reason);
        }
        if (now < s->resolve_until) {
            s->retry_at = now + MIGRATE_RETRY_NS;
            s->st = S_RESOLVE;
            return;
        }
        s->vm->migration = VM_MIG_NONE;
        mig_say("migrate: failed vm=%s phase=commit reason=%s, and the target did not "
                    "answer (%s); it may run it: vm kept paused here (check the target, then "
                    "vm resume or vm destroy)", s->vm->name, s->commit_reason, s->reason);
    } else {
        s->vm->migration = VM_MIG_NONE;
        if (s->paused)
            vm_resume(s->vm, err, sizeof(err));       /* the guest goes on here */
        mig_say("migrate: failed vm=%s phase=%s reason=%s", s->vm->name,
                    phase_names[s->st], s->reason);
    }
    s->st = S_IDLE;
}

/* Encodes one record (or the header) into s->rec; it is sent by flush(). */
static bool old_stream;                 /* `migrate inject old-stream` */

void mig_src_inject_old_stream(void) { old_stream = true; }

static unsigned hold_final_s;           /* `migrate inject hold-final`: seconds, 0 unarmed */

void mig_src_inject_hold(unsigned hold_s) { hold_final_s = hold_s; }

static void emit_begin(struct src_mig *s)
{
    mig_enc_init(&s->enc, s->rec, sizeof(s->rec));
}

static int emit_end(struct src_mig *s, uint16_t type)
{
    if (type && mig_dec_sent(&s->dec, type)) {
        fail(s, "protocol order (%s)", mig_rec_type_name(type));
        return -EPROTO;
    }
    s->rec_len = s->enc.len;
    s->rec_off = 0;
    return 0;
}

/* bandwidth=: how many bytes may go now (SIZE_MAX without a limit). */
static size_t allowance(struct src_mig *s)
{
    /* The guest is paused from stop-and-copy on: capping then only lengthens the downtime. */
    if (!s->limit || s->st >= S_FINAL)
        return SIZE_MAX;
    uint64_t now = time_ns(), us = (now - s->t_tokens) / 1000;
    if (us > 1000000)
        us = 1000000;
    s->tokens += s->limit * us / 1000000;
    s->t_tokens = now;
    uint64_t burst = s->limit / 20 > 16384 ? s->limit / 20 : 16384;   /* 50 ms */
    if (s->tokens > burst)
        s->tokens = burst;
    return (size_t)s->tokens;
}

/* What is queued in buf from *off to len goes out on conn as far as the transport (and
 * bandwidth=) take it: true once all of it went. */
static bool send_queued(struct src_mig *s, struct mig_conn *conn, const uint8_t *buf,
                        size_t *off, size_t len)
{
    while (*off < len) {
        size_t want = len - *off, may = allowance(s);
        if (!may)
            return false;
        size_t n = mig_conn_write(conn, buf + *off, want < may ? want : may);
        if (!n)
            return false;
        if (s->limit && s->st < S_FINAL)
            s->tokens -= n;
        *off += n;
        s->bytes += n;
        s->round_bytes += n;
    }
    return true;
}

static bool flush(struct src_mig *s)
{
    return send_queued(s, s->conn, s->rec, &s->rec_off, s->rec_len);
}

static bool page_zero(const uint64_t *p)
{
    for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
        if (p[i])
            return false;
    return true;
}

static bool bit(const struct src_mig *s, uint64_t p)
{
    return s->bitmap[p / 64] >> (p % 64) & 1;
}

/* The first page at or after p to send this round (npages if none), a word at a time: a
 * sparse round over a large guest (or the hole below 4 GiB) costs a word per 64 pages. */
static uint64_t next_bit(const struct src_mig *s, uint64_t p)
{
    while (p < s->npages) {
        uint64_t w = s->bitmap[p / 64] >> (p % 64);
        if (w) {
            p += (uint64_t)__builtin_ctzll(w);
            return p < s->npages ? p : s->npages;
        }
        p = (p / 64 + 1) * 64;
    }
    return s->npages;
}

/* A run of n pages of data at no (a page or block number): as an LZ4 block when compression
 * is on (or probing) and the block comes out smaller, else raw. Fits like mig_ram_run_put. */
static int put_data(struct src_mig *s, struct mig_enc *e, uint64_t no, uint32_t n,
                    const uint8_t *data)
{
    size_t raw = (size_t)n * PAGE_SIZE, c = 0;
    int rc;
    if (s->lz4 && (s->lz4_now || s->lz4_probe++ % COMPRESS_PROBE == 0)) {
        uint64_t t = time_ns();
        c = compress_block(&s->zst, data, raw, s->zbuf, raw - 1);
        s->z_ns += time_ns() - t;
        s->z_in += raw;
        s->z_out += c ? c + 4 : raw;
    }
    rc = c ? mig_ram_run_put_lz4(e, no, n, s->zbuf, (uint32_t)c)
           : mig_ram_run_put(e, no, n, false, data);
    if (!rc) {
        s->data_raw += raw;
        s->data_wire += c ? c + 4 : raw;
        s->lz4_pages += c ? n : 0;
    }
    return rc;
}

/* The cache slot page no maps to (it holds the page if its tag is no + 1). */
static uint64_t xb_slot(const struct src_mig *s, uint64_t no) { return no % s->xb_slots; }

static void xb_keep(struct src_mig *s, uint64_t no, const uint8_t *sent)
{
    uint64_t slot = xb_slot(s, no);
    memcpy(s->xb_cache + slot * PAGE_SIZE, sent, PAGE_SIZE);
    s->xb_tag[slot] = no + 1;
}

/* Zero pages went as flags: their slots no longer say what the target holds. */
static void xb_forget(struct src_mig *s, uint64_t no, uint32_t n)
{
    for (uint32_t i = 0; s->delta && i < n; i++)
        if (s->xb_tag[xb_slot(s, no + i)] == no + i + 1)
            s->xb_tag[xb_slot(s, no + i)] = 0;
}

/*
 * A run of n data pages of guest RAM from page no (host-contiguous at data) into the open
 * record: how many went in (fewer than n when the record filled; 0: none). Without deltas the run goes as put_data makes it. With them,
 * the run is copied out once; each page whose slot holds it goes as a delta when that is
 * short, the rest as data (LZ4 or raw); the cache then takes the copy of each page sent.
 */
static int put_pages(struct src_mig *s, struct mig_enc *e, uint64_t no, uint32_t n,
                     const uint8_t *data)
{
    /* Round 0 keeps every page too (unlike QEMU's bulk stage): the first resend can then be
     * a delta already. Side by side on two QEMU TCG hosts, a 56 MiB round 0 went at 0.95 of
     * its delta=off rate with the copies this costs (noise is about as large). */
    if (!s->delta)
        return put_data(s, e, no, n, data) ? 0 : (int)n;
    memcpy(s->xb_snap, data, (size_t)n * PAGE_SIZE);
    uint32_t done = 0;
    int carried = -2;               /* the page a stretch broke at, encoded already (-1: raw) */
    while (done < n) {
        /* The longest stretch from done whose pages all go the same way. */
        uint32_t k = 0, body = 0;
        bool as_delta = false;
        for (; done + k < n; k++) {
            uint64_t p = no + done + k, slot = xb_slot(s, p);
            const uint8_t *now = s->xb_snap + (size_t)(done + k) * PAGE_SIZE;
            int dlen = -1;
            if (!k && carried > -2)
                dlen = carried;     /* (its delta, if any, is where this stretch's first goes) */
            else if (s->xb_tag[slot] == p + 1)
                dlen = delta_encode(s->xb_cache + slot * PAGE_SIZE, now,
                                    s->xb_body + body + 2, DELTA_MAX);
            carried = -2;
            if (k && (dlen >= 0) != as_delta) {
                /* A raw stretch ends at a delta encoded at body 0 (a raw stretch takes no
                 * body), just where the next stretch's first entry goes; a delta stretch ends
                 * at a page that has none. Either way the next stretch starts from it. */
                carried = dlen;
                break;
            }
            as_delta = dlen >= 0;
            if (as_delta) {
                s->xb_body[body] = (uint8_t)dlen;
                s->xb_body[body + 1] = (uint8_t)(dlen >> 8);
                body += 2 + (uint32_t)dlen;
            }
        }
        const uint8_t *pages = s->xb_snap + (size_t)done * PAGE_SIZE;
        if (as_delta) {
            if (mig_ram_run_put_delta(e, no + done, k, s->xb_body, body))
                break;
            s->data_raw += (uint64_t)k * PAGE_SIZE;
            s->data_wire += body;
            s->delta_pages += k;
        } else if (put_data(s, e, no + done, k, pages)) {
            break;
        }
        for (uint32_t i = 0; i < k; i++)
            xb_keep(s, no + done + i, pages + (size_t)i * PAGE_SIZE);
        done += k;
    }
    return (int)done;
}

/* The first page at or after p to send this round that stream k owns (npages if none). */
static uint64_t next_owned(const struct src_mig *s, uint64_t p, unsigned k)
{
    while ((p = next_bit(s, p)) < s->npages) {
        unsigned n = s->streams;
        if (mig_stream_owner(p, n) == k)
            return p;
        uint64_t c = p / MIG_STREAM_CHUNK + 1;      /* the next chunk k owns */
        c += (k + n - (unsigned)(c % n)) % n;
        p = c * MIG_STREAM_CHUNK;
    }
    return s->npages;
}

/*
 * One RAM record of the pages stream k owns, from *cursor on, into e: 1, or 0 when this round
 * has none left for k, or -1 (failed). *sent grows by the pages it holds.
 */
static int ram_record(struct src_mig *s, struct mig_enc *e, uint64_t *cursor, unsigned k,
                      uint64_t *sent)
{
    unsigned in_rec = 0;
    *cursor = next_owned(s, *cursor, k);
    if (*cursor >= s->npages)
        return 0;                     /* the round is over for k */
    mig_rec_ram_begin(e, s->round);
    while ((*cursor = next_owned(s, *cursor, k)) < s->npages && in_rec < MIG_RAM_MAX_PAGES) {
        uint64_t p = *cursor;
        uint8_t *first = vm_page(s->vm, p);
        bool zero = page_zero((const uint64_t *)first);
        uint32_t n = 1;
        /* A run's data is contiguous in host memory: it ends where a RAM chunk does (and,
         * with several streams, where a stream's chunk does). */
        while (p + n < s->npages && bit(s, p + n) && vm_page(s->vm, p + n) == first + n * PAGE_SIZE &&
               page_zero((const uint64_t *)(first + n * PAGE_SIZE)) == zero &&
               (zero || in_rec + n < MIG_RAM_MAX_PAGES) && n < 4096 &&
               (s->streams == 1 || (p + n) % MIG_STREAM_CHUNK))
            n++;
        uint32_t put = n;
        if (zero) {
            if (mig_ram_run_put(e, p, n, true, NULL))
                break;                /* record full */
            xb_forget(s, p, n);
        } else {
            put = (uint32_t)put_pages(s, e, p, n, first);
        }
        *cursor += put;
        *sent += put;
        s->pages += put;
        s->round_sent += put;
        if (zero)
            s->zero_pages += put;
        else
            in_rec += put;
        if (put < n)
            break;                    /* record full */
    }
    if (mig_rec_end(e) < 0) {
        fail(s, "cannot encode RAM");
        return -1;
    }
    return 1;
}

/* One RAM record of the first stream's pages; false when the round is exhausted for it. */
static bool emit_ram(struct src_mig *s)
{
    uint64_t sent = 0;
    emit_begin(s);
    if (ram_record(s, &s->enc, &s->cursor, 0, &sent) <= 0)
        return false;
    return !emit_end(s, MIG_REC_RAM);
}

static bool disk_bit(const struct src_mig *s, uint64_t b)
{
    return s->disk_bits[b / 64] >> (b % 64) & 1;
}

/* Adds the blocks written since the last take to those to send; their count. */
static uint64_t disk_take(struct src_mig *s)
{
    uint64_t n = 0;
    for (uint64_t w = 0; w < s->disk_words; w++) {
        s->disk_bits[w] |= __atomic_exchange_n(&s->disk_log[w], 0, __ATOMIC_ACQUIRE);
        n += __builtin_popcountll(s->disk_bits[w]);
    }
    s->disk_cursor = 0;
    return n;
}

/* One DISK record of blocks still to send, from the cursor; false when none is left. A block
 * the guest writes while it is read here was logged after the write: it goes again. */
static bool emit_disk(struct src_mig *s)
{
    unsigned in_rec = 0;
    while (s->disk_cursor < s->disk_blocks && !(s->disk_bits[s->disk_cursor / 64] >>
                                                 (s->disk_cursor % 64)))
        s->disk_cursor = (s->disk_cursor / 64 + 1) * 64;        /* the rest of a clear word */
    while (s->disk_cursor < s->disk_blocks && !disk_bit(s, s->disk_cursor))
        s->disk_cursor++;
    if (s->disk_cursor >= s->disk_blocks)
        return false;
    const uint8_t *disk = phys_to_virt(s->vm->disk_hpa);
    emit_begin(s);
    mig_rec_disk_begin(&s->enc, 0);
    while (s->disk_cursor < s->disk_blocks && in_rec < MIG_RAM_MAX_PAGES) {
        uint64_t b = s->disk_cursor;
        if (!disk_bit(s, b)) {
            s->disk_cursor++;
            continue;
        }
        const uint8_t *first = disk + b * MIG_DISK_BLOCK;
        bool zero = page_zero((const uint64_t *)first);
        uint32_t n = 1;
        while (b + n < s->disk_blocks && disk_bit(s, b + n) &&
               page_zero((const uint64_t *)(first + n * MIG_DISK_BLOCK)) == zero &&
               (zero || in_rec + n < MIG_RAM_MAX_PAGES) && n < 4096)
            n++;
        if (zero ? mig_ram_run_put(&s->enc, b, n, true, NULL) : put_data(s, &s->enc, b, n, first))
            break;                    /* record full */
        for (uint32_t i = 0; i < n; i++)
            s->disk_bits[(b + i) / 64] &= ~(1ull << ((b + i) % 64));
        s->disk_cursor += n;
        s->disk_sent += n;
        s->round_sent += n;
        if (!zero)
            in_rec += n;
    }
    if (mig_rec_end(&s->enc) < 0) {
        fail(s, "cannot encode DISK");
        return false;
    }
    return !emit_end(s, MIG_REC_DISK);
}

static void emit_simple(struct src_mig *s, uint16_t type)
{
    emit_begin(s);
    mig_rec_empty(&s->enc, type);
    emit_end(s, type);
}

static uint64_t pages_for(uint64_t bytes) { return (bytes + PAGE_SIZE - 1) / PAGE_SIZE; }

/* The delta cache: as many slots as the guest has pages, up to XB_SLOTS_MAX, fewer if
 * memory is short; without any, pages go whole (the target took deltas, none come). */
static void xb_alloc(struct src_mig *s)
{
    uint64_t slots = s->npages < XB_SLOTS_MAX ? s->npages : XB_SLOTS_MAX;
    for (; slots >= XB_SLOTS_MIN; slots /= 2) {
        uint64_t frames = slots + pages_for(slots * 8);
        uint64_t pa = frame_alloc(s->vm->node, frames, 1, FRAME_ZERO);
        if (!pa)
            continue;
        s->xb_cache = phys_to_virt(pa);
        s->xb_tag = (uint64_t *)(s->xb_cache + slots * PAGE_SIZE);
        s->xb_slots = slots;
        s->xb_frames = frames;
        s->delta = true;
        return;
    }
    log_warn("migrate", "vm %s: no memory for a delta cache: pages sent again go whole",
             s->vm->name);
}

static int on_record(const struct mig_record *r, void *ctx)
{
    struct src_mig *s = ctx;
    const uint8_t *b;
    uint32_t code;
    const char *why;
    size_t why_len;
    switch (r->type) {
    case MIG_REC_AUTH_CHALLENGE:
        if (mig_parse_auth(r, &b))
            return -EBADMSG;
        memcpy(s->peer_nonce, b, MIG_AUTH_NONCE_SIZE);
        if (mig_auth_response(&s->auth, s->peer_nonce, s->my_mac))
            return -EACCES;
        s->got_peer_nonce = true;
        return 0;
    case MIG_REC_AUTH_RESPONSE:
        if (mig_parse_auth(r, &b) || mig_auth_verify(&s->auth, b))
            return -EACCES;
        s->authed = true;
        s->rtt_ns = time_ns() - s->t_challenge;  /* the commit's round trip, estimated */
        return 0;
    case MIG_REC_ACCEPT: {
        uint16_t taken;
        /* The target may take only what HELLO offered, grant no more streams than asked. */
        if (mig_parse_accept(r, &taken, &s->streams, s->token) || (taken & ~s->offered) ||
            s->streams > s->streams_asked)
            return -EBADMSG;
        s->lz4 = s->lz4_now = taken & MIG_FEAT_LZ4;
        if (taken & MIG_FEAT_DELTA)
            xb_alloc(s);
        s->accepted = true;
        return 0;
    }
    case MIG_REC_REFUSE:
    case MIG_REC_ERROR:
        if (mig_parse_reason(r, &code, &why, &why_len))
            why = "?", why_len = 1;
        /* The target discarded the VM (it says so only before it runs it): resume here. */
        if (s->st == S_COMMIT)
            s->st = S_FINAL;
        if (r->type == MIG_REC_REFUSE && why_len > 12 && !memcmp(why, "cpu missing=", 12))
            fail(s, "%.*s", (int)why_len, why);        /* reason=cpu missing=avx2,bmi2 */
        else
            fail(s, "%s: %.*s", r->type == MIG_REC_REFUSE ? "target refused" : "target error",
                 (int)why_len, why);
        return -ECANCELED;
    case MIG_REC_COMMIT_ACK:
        if (mig_parse_commit_ack(r, &s->stopped_us))
            return -EBADMSG;
        s->acked = true;
        return 0;
    case MIG_REC_QUERY_REPLY: {
        uint32_t kind;
        const uint8_t *data;
        size_t n;
        if (mig_parse_query_reply(r, &kind, &s->reply_status, &data, &n) ||
            kind != MIG_QUERY_MIGRATION)
            return -EBADMSG;
        s->got_reply = true;
        return 0;
    }
    default:
        return -EPROTO;
    }
}

static void src_recv(void *ctx, const uint8_t *data, size_t n)
{
    struct src_mig *s = ctx;
    s->last_progress = time_ns();
    while (n && s->st != S_IDLE) {
        int used = mig_dec_feed(&s->dec, data, n, on_record, s);
        if (used < 0) {
            if (s->st != S_IDLE && used == -EACCES)
                fail(s, "authentication failed (is cluster_key the same on both hosts?)");
            else if (s->st != S_IDLE && used == -EPROTONOSUPPORT && s->dec.peer_version &&
                     s->dec.peer_version != MIG_STREAM_VERSION)
                fail(s, "version: the target speaks migration stream version %u, this host %u",
                     s->dec.peer_version, MIG_STREAM_VERSION);
            else if (s->st != S_IDLE)
                fail(s, "bad stream from target (%d)", used);
            return;
        }
        if (!used)
            return;
        data += used;
        n -= (size_t)used;
    }
}

static void src_closed(void *ctx, int err)
{
    struct src_mig *s = ctx;
    s->conn = NULL;
    if (s->st != S_IDLE && s->st != S_DONE && s->st != S_RESOLVE &&
        !(s->st == S_COMMIT && s->acked) && !(s->st == S_QUERY && s->got_reply))
        fail(s, "%s", err ? mig_conn_strerror(err) : "target closed the connection");
}

static void src_connected(void *ctx)
{
    struct src_mig *s = ctx;
    uint8_t nonce[MIG_AUTH_NONCE_SIZE];
    mig_new_nonce(nonce);
    if (!s->have_mig_nonce) {
        memcpy(s->mig_nonce, nonce, sizeof(nonce));
        s->have_mig_nonce = true;
    }
    if (mig_auth_init(&s->auth, (const uint8_t *)hv_config.cluster_key,
                      strlen(hv_config.cluster_key), true, nonce) ||
        mig_auth_challenge(&s->auth, nonce)) {
        fail(s, "cannot start authentication");
        return;
    }
    emit_begin(s);
    if (old_stream)                         /* test hook: speak as the last release */
        mig_stream_header_put_as(&s->enc, MIG_STREAM_VERSION - 1);
    else
        mig_stream_header_put(&s->enc);
    old_stream = false;
    mig_rec_auth(&s->enc, MIG_REC_AUTH_CHALLENGE, nonce);
    emit_end(s, MIG_REC_AUTH_CHALLENGE);
    s->t_challenge = time_ns();
    s->st = S_AUTH;
}

/*
 * The target acknowledged data: while pages are what is left of this round, the next records
 * go now (the transport calls this from lwIP's receive path). Only records: every decision
 * (a round's end, the stop, the commit) waits for the poll.
 */
static void src_writable(void *ctx)
{
    struct src_mig *s = ctx;
    for (unsigned budget = 0; budget < 8; budget++) {
        if ((s->st != S_RAM && s->st != S_FINAL) || s->disk_copy || !flush(s))
            return;
        if (time_ns() < s->hold_until || s->cursor >= s->npages || !emit_ram(s))
            return;
    }
}

static const struct mig_conn_ops src_ops = {
    .recv = src_recv, .closed = src_closed, .connected = src_connected,
    .writable = src_writable,
};

/* ---- the other streams ---- */

static void lane_recv(void *ctx, const uint8_t *data, size_t n)
{
    struct src_lane *l = ctx;
    (void)data;
    if (n)
        fail(l->s, "the target sent %lu bytes on stream %u, which carries pages one way",
             (unsigned long)n, l->index);
}

static void lane_closed(void *ctx, int err)
{
    struct src_lane *l = ctx;
    l->conn = NULL;
    /* After its STREAM_END went whole, a stream has nothing more to say. */
    if (!(l->end_sent && l->rec_off >= l->rec_len))
        fail(l->s, "stream %u: %s", l->index,
             err ? mig_conn_strerror(err) : "target closed the connection");
}

static void lane_connected(void *ctx)
{
    struct src_lane *l = ctx;
    mig_enc_init(&l->enc, l->rec, sizeof(l->rec));
    mig_stream_header_put(&l->enc);
    mig_rec_join(&l->enc, l->s->token, l->index);
    l->rec_len = l->enc.len;
    l->rec_off = 0;
    l->up = true;
}

static void lane_pump(struct src_mig *s, struct src_lane *l);

static void lane_writable(void *ctx)
{
    struct src_lane *l = ctx;
    lane_pump(l->s, l);
}

static const struct mig_conn_ops lane_ops = {
    .recv = lane_recv, .closed = lane_closed, .connected = lane_connected,
    .writable = lane_writable,
};

static uint64_t pages_for(uint64_t bytes);

/* ACCEPT granted streams 1..streams-1: a connection each, JOIN first. 0 or -ENOMEM. */
static int lanes_open(struct src_mig *s)
{
    for (unsigned k = 1; k < s->streams; k++) {
        uint64_t pa = frame_alloc(s->vm->node, pages_for(sizeof(struct src_lane)), 1,
                                  FRAME_ZERO);
        if (!pa)
            return -ENOMEM;
        struct src_lane *l = phys_to_virt(pa);
        l->s = s;
        l->index = (uint16_t)k;
        s->lanes[k] = l;
        l->conn = mig_conn_connect(s->addr, s->port, &lane_ops, l);
        if (!l->conn)
            return -ENOMEM;
    }
    return 0;
}

/* What stream l has queued goes out as far as the transport (and bandwidth=) take it. */
static bool lane_flush(struct src_mig *s, struct src_lane *l)
{
    return send_queued(s, l->conn, l->rec, &l->rec_off, l->rec_len);
}

/*
 * Moves stream l on: sends what it has queued, then builds its next RAM record of this round
 * (or of the last pages, after the stop), then, once those are out, its STREAM_END.
 */
static void lane_pump(struct src_mig *s, struct src_lane *l)
{
    for (unsigned budget = 0; budget < 16 && s->st != S_IDLE; budget++) {
        if (!lane_flush(s, l) || !l->up)
            return;
        if (s->st != S_RAM && s->st != S_FINAL && s->st != S_COMMIT)
            return;
        if (s->st != S_RAM && time_ns() < s->hold_until)
            return;
        if (l->cursor < s->npages) {
            mig_enc_init(&l->enc, l->rec, sizeof(l->rec));
            int rc = ram_record(s, &l->enc, &l->cursor, l->index, &l->pages);
            if (rc < 0)
                return;
            if (rc) {
                l->rec_len = l->enc.len;
                l->rec_off = 0;
                continue;
            }
        }
        if (s->st == S_RAM || l->end_sent)
            return;
        mig_enc_init(&l->enc, l->rec, sizeof(l->rec));
        if (mig_rec_stream_end(&l->enc, s->round, l->pages)) {
            fail(s, "cannot encode STREAM_END");
            return;
        }
        l->rec_len = l->enc.len;
        l->rec_off = 0;
        l->end_sent = true;
    }
}

/* Every other stream sent all of this round's pages it owns. */
static bool lanes_done(const struct src_mig *s)
{
    for (unsigned k = 1; k < s->streams; k++) {
        const struct src_lane *l = s->lanes[k];
        if (!l || !l->up || l->cursor < s->npages || l->rec_off < l->rec_len)
            return false;
    }
    return true;
}

static void lanes_rewind(struct src_mig *s)
{
    for (unsigned k = 1; k < MIG_STREAMS_MAX; k++)
        if (s->lanes[k])
            s->lanes[k]->cursor = 0;
}

static void src_free(struct src_mig *s)
{
    lanes_close(s);
    for (unsigned k = 1; k < MIG_STREAMS_MAX; k++)
        if (s->lanes[k])
            frame_free(virt_to_phys(s->lanes[k]), pages_for(sizeof(struct src_lane)));
    if (s->xb_cache)
        frame_free(virt_to_phys(s->xb_cache), s->xb_frames);
    if (s->disk_log)
        frame_free(virt_to_phys(s->disk_log), s->disk_log_pages);
    if (s->bitmap)
        frame_free(virt_to_phys(s->bitmap), s->bitmap_pages);
    frame_free(virt_to_phys(s), pages_for(sizeof(*s)));
}

int mig_src_start(struct vm *vm, uint32_t addr, const struct mig_opts *o, char *err,
                      size_t errlen)
{
    unsigned active = 0, slot = MIGRATE_SLOTS;
    for (unsigned i = 0; i < MIGRATE_SLOTS; i++)
        if (outgoing[i])
            active++;
        else if (slot == MIGRATE_SLOTS)
            slot = i;
    if (vm->migration != VM_MIG_NONE) {
        snprintf(err, errlen, "vm %s is already migrating", vm->name);
        return -EBUSY;
    }
    if (active >= hv_config.migrate_outgoing_max || slot == MIGRATE_SLOTS) {
        snprintf(err, errlen, "%u outgoing migrations under way (migrate_outgoing_max=%u)",
                 active, hv_config.migrate_outgoing_max);
        return -EBUSY;
    }
    if (vm->state != VM_RUNNING && vm->state != VM_PAUSED) {
        snprintf(err, errlen, "vm %s is %s", vm->name, vm_state_name(vm->state));
        return -EINVAL;
    }
    if (o->dirty_mode != DIRTY_AUTO && !(vm_dirty_modes() & DIRTY_MODE_BIT(o->dirty_mode))) {
        snprintf(err, errlen, "dirty mode '%s' is not available on this CPU",
                 dirty_mode_name(o->dirty_mode));
        return -ENOTSUP;
    }
    uint64_t pa = frame_alloc(vm->node, pages_for(sizeof(struct src_mig)), 1, FRAME_ZERO);
    uint64_t words = vm->gfn_end / 64 + 1;
    uint64_t bpages = pages_for(2 * words * 8);
    uint64_t bpa = pa ? frame_alloc(vm->node, bpages, 1, FRAME_ZERO) : 0;
    if (!bpa) {
        if (pa)
            frame_free(pa, pages_for(sizeof(struct src_mig)));
        snprintf(err, errlen, "no memory for the migration's state");
        return -ENOMEM;
    }
    struct src_mig *s = phys_to_virt(pa);
    if (o->storage_copy && vm->disk_pages) {
        uint64_t blocks = vm->disk_pages;       /* MIG_DISK_BLOCK == PAGE_SIZE */
        uint64_t dwords = blocks / 64 + 1, dpages = pages_for(2 * dwords * 8);
        uint64_t dpa = blocks ? frame_alloc(vm->node, dpages, 1, FRAME_ZERO) : 0;
        if (!dpa) {
            frame_free(bpa, bpages);
            frame_free(pa, pages_for(sizeof(struct src_mig)));
            snprintf(err, errlen, "no memory for the disk's write log");
            return -ENOMEM;
        }
        s->disk_copy = true;
        s->disk_log = phys_to_virt(dpa);
        s->disk_bits = s->disk_log + dwords;
        s->disk_words = dwords;
        s->disk_blocks = blocks;
        s->disk_log_pages = dpages;
    }
    s->bitmap = phys_to_virt(bpa);
    s->final_bits = s->bitmap + words;
    s->bitmap_pages = bpages;
    mig_dec_init(&s->dec, MIG_ROLE_SRC);
    s->vm = vm;
    s->npages = vm->gfn_end;                /* frame numbers, the hole's bits never set */
    /* The defaults resolved once: what the policy decides with is what the lines report. */
    s->downtime_ms = o->downtime_ms ? o->downtime_ms : MIG_POLICY_DOWNTIME_MS;
    s->throttle_max = o->throttle_max;
    s->timeout_s = o->timeout_s ? o->timeout_s : MIG_POLICY_TIMEOUT_S;
    s->dirty_mode = o->dirty_mode;
    s->compress = o->compress;
    s->offered = (o->compress == MIG_COMPRESS_OFF ? 0 : MIG_FEAT_LZ4) |
                 (o->no_delta ? 0 : MIG_FEAT_DELTA);
    s->streams_asked = o->streams ? o->streams : 1;
    s->streams = 1;
    s->limit = (uint64_t)o->bandwidth_mbps * 1000000 / 8;
    s->t_start = s->last_progress = s->t_tokens = time_ns();
    s->addr = addr;
    s->port = o->port;
    s->st = S_CONNECT;
    s->conn = mig_conn_connect(addr, o->port, &src_ops, s);
    if (!s->conn) {
        src_free(s);
        snprintf(err, errlen, "no connection resources");
        return -ENOMEM;
    }
    vm->migration = VM_MIG_OUT;
    outgoing[slot] = s;
    s->hold_s = hold_final_s;
    hold_final_s = 0;
    return 0;
}

static uint64_t count_bits(const struct src_mig *s)
{
    uint64_t n = 0;
    for (uint64_t w = 0; w < s->npages / 64; w++)
        n += __builtin_popcountll(s->bitmap[w]);
    return n;
}

static void start_round(struct src_mig *s)
{
    uint64_t words = s->npages / 64;
    if (s->round == 0) {
        for (uint64_t w = 0; w < words; w++)
            s->bitmap[w] = ~0ull;
        vm_bitmap_ram_only(s->vm, s->bitmap);
    } else {
        vm_dirty_harvest(s->vm, s->bitmap);
    }
    s->cursor = 0;
    lanes_rewind(s);
    s->round_bytes = 0;
    s->round_sent = 0;
    s->round_total = count_bits(s) + (s->disk_copy ? disk_take(s) : 0);
    s->t_round = time_ns();
}

/* A vCPU's XSAVE area as stop-and-copy sends it: only the components the VM's XCR0 mask (and
 * the vCPU's XCR0, x87 and SSE) can hold, as this CPU lays them out. Its length; *mask: those
 * components. */
static size_t xsave_mask_len(const struct vm *vm, uint64_t vcpu_xcr0, uint64_t *mask)
{
    uint64_t m = (vm->policy.xcr0_mask | vcpu_xcr0 | 0x3) & fpu_xcr0_supported();
    if (mask)
        *mask = m;
    return fpu_area_size_for(m);
}

/* bytes per second over ns without overflow for any guest size ferry runs (< 1 TiB). */
static uint64_t per_second(uint64_t bytes, uint64_t ns)
{
    uint64_t us = ns / 1000 + 1;
    return bytes * 1000000 / us;
}

/* End of a pre-copy round: decide whether to go on or stop and copy. */
static void round_done(struct src_mig *s)
{
    char err[120];
    uint64_t ns = time_ns() - s->t_round;
    emit_begin(s);
    mig_rec_round_end(&s->enc, s->round, s->pages);
    emit_end(s, MIG_REC_ROUND_END);
    s->bw = per_second(s->round_bytes, ns);
    /* compress=auto: does the compressor beat the link? (The link's rate is what it carried
     * while the sender was not compressing.) */
    if (s->lz4 && s->compress == MIG_COMPRESS_AUTO && s->z_in) {
        struct mig_compress_in c = {
            .in_bytes = s->z_in, .out_bytes = s->z_out, .ns = s->z_ns,
            .bandwidth = per_second(s->round_bytes, ns > s->z_ns ? ns - s->z_ns : 1) };
        bool pays = mig_policy_compress_pays(&c);
        if (pays != s->lz4_now)
            log_info("migrate", "vm %s: compression %s: %llu KiB -> %llu KiB in %llu ms, link "
                     "%llu KiB/s", s->vm->name, pays ? "pays again, on" : "does not pay, off",
                     (unsigned long long)(s->z_in >> 10), (unsigned long long)(s->z_out >> 10),
                     (unsigned long long)(s->z_ns / 1000000),
                     (unsigned long long)(c.bandwidth >> 10));
        s->lz4_now = pays;
    }
    s->z_in = s->z_out = s->z_ns = 0;
    s->round++;
    start_round(s);                  /* harvests what the guest wrote meanwhile */
    uint64_t dirty = s->round_total;
    s->dirty_rate = per_second(dirty * PAGE_SIZE, ns);
    /* After the pause: each vCPU's state and XSAVE area (as stop-and-copy cuts it), the
     * devices' records (1 KiB each, a bound), then COMMIT and its acknowledgement. */
    uint64_t fixed = (uint64_t)s->vm->nvcpus * (sizeof(struct vcpu_state) +
                                                xsave_mask_len(s->vm, 0, NULL)) +
                     (uint64_t)s->vm->devs.ndevs * 1024;
    struct mig_policy_in in = { .remaining_bytes = dirty * PAGE_SIZE, .bandwidth = s->bw,
                                .dirty_rate = s->dirty_rate,
                                .downtime_ms = s->downtime_ms,
                                .round = s->round,
                                .throttle_pct = s->throttle, .throttle_max = s->throttle_max,
                                .fixed_bytes = fixed, .rtt_ms = (uint32_t)(s->rtt_ns / 1000000),
                                .elapsed_ms = (time_ns() - s->t_precopy) / 1000000,
                                .timeout_s = s->timeout_s };
    enum mig_decision d = mig_policy_decide(&in, &s->expect_ms);
    if (d == MIG_CONTINUE)
        return;
    if (d == MIG_FAIL_NO_CONVERGENCE) {
        fail(s, "no-convergence expected_ms=%llu budget_ms=%u dirty_kibps=%llu "
             "sent_kibps=%llu throttle=%u after %u s", (unsigned long long)s->expect_ms,
             s->downtime_ms,
             (unsigned long long)(s->dirty_rate >> 10), (unsigned long long)(s->bw >> 10),
             s->throttle, s->timeout_s);
        return;
    }
    if (d == MIG_THROTTLE) {
        s->throttle = mig_policy_next_throttle(&in);
        __atomic_store_n(&s->vm->throttle_pct, s->throttle, __ATOMIC_RELAXED);
        log_info("migrate", "vm %s: dirtying %llu KiB/s vs %llu KiB/s sent: throttled to %u%%",
                 s->vm->name, (unsigned long long)(s->dirty_rate >> 10),
                 (unsigned long long)(s->bw >> 10), s->throttle);
        return;
    }
    log_info("migrate", "vm %s: %s after round %u: %llu dirty pages, expected downtime %llu ms",
             s->vm->name, mig_decision_name(d), s->round, (unsigned long long)dirty,
             (unsigned long long)s->expect_ms);
    /* Stop and copy: pause, let devices finish what they have out, take the last dirty pages,
     * then state. */
    s->t_stop = time_ns();
    if (s->vm->state == VM_RUNNING) {
        if (vm_pause(s->vm, err, sizeof(err))) {
            fail(s, "cannot pause: %s", err);
            return;
        }
        s->paused = true;
    }
    s->st = S_DRAIN;
}

/*
 * The guest is paused. Requests a device has out (a disk's at network storage) finish first:
 * each completes exactly once, here, and what it wrote into guest RAM (read data, status,
 * used entries) is in the final harvest that follows, before the device's state is taken. A
 * storage that does not answer in time fails the migration (the guest resumes here).
 */
static void drained(struct src_mig *s)
{
    if (dev_set_busy(&s->vm->devs)) {
        if (time_ns() - s->t_stop > MIGRATE_DRAIN_NS)
            fail(s, "device requests still in flight after %llu s",
                 MIGRATE_DRAIN_NS / 1000000000);
        return;
    }
    /* Merge the final harvest into the pending bitmap (pages not yet sent this round stay). */
    vm_dirty_harvest(s->vm, s->final_bits);
    for (uint64_t w = 0; w < s->npages / 64; w++)
        s->bitmap[w] |= s->final_bits[w];
    s->cursor = 0;
    lanes_rewind(s);
    s->round_total = count_bits(s) + (s->disk_copy ? disk_take(s) : 0);
    disk_log_off(s);                    /* the guest is stopped: nothing writes any more */
    s->round_sent = 0;
    if (vm_save_vcpus(s->vm)) {
        fail(s, "cannot read vcpu state");
        return;
    }
    emit_simple(s, MIG_REC_STOP);
    s->st = S_FINAL;
    if (s->hold_s) {
        s->hold_until = time_ns() + s->hold_s * 1000000000ull;
        log_warn("migrate", "vm %s: injected fault: holding at stop-and-copy for %u s (guest "
                 "paused, final pages and state not sent)", s->vm->name, s->hold_s);
    }
}

/* Memory's pre-copy begins: dirty logging, then the first round (every page). */
static int start_memory(struct src_mig *s)
{
    if (vm_dirty_start(s->vm, s->dirty_mode)) {
        fail(s, "cannot start dirty logging");
        return -EIO;
    }
    s->t_precopy = time_ns();
    start_round(s);
    s->st = S_RAM;
    return 0;
}

/* A pass over the disk's blocks is over: another over those written meanwhile, or memory. */
static void disk_round_done(struct src_mig *s)
{
    uint64_t ns = time_ns() - s->t_round, left;
    s->bw = per_second(s->round_bytes, ns);
    s->disk_rounds++;
    left = disk_take(s);
    log_info("migrate", "vm %s: disk round %u: %llu blocks written meanwhile", s->vm->name,
             s->disk_rounds, (unsigned long long)left);
    if (left > DISK_CONVERGED_BLOCKS && s->disk_rounds < DISK_ROUNDS_MAX) {
        s->round_total = left;
        s->round_sent = s->round_bytes = 0;
        s->t_round = time_ns();
        return;
    }
    start_memory(s);                    /* the blocks left go with its rounds */
}

static void send_hello(struct src_mig *s)
{
    struct mig_hello h = { .version = MIG_STREAM_VERSION, .vcpus = s->vm->nvcpus,
                           .mem_bytes = s->vm->mem_size,
                           .features = s->offered, .streams = s->streams_asked };
    strncpy(h.name, s->vm->name, sizeof(h.name) - 1);
    int n = cpu_policy_serialize(&s->vm->policy, s->policy, sizeof(s->policy));
    if (n < 0) {
        fail(s, "cannot encode the CPU policy (%d)", n);
        return;
    }
    h.policy = s->policy;
    h.policy_len = (uint32_t)n;
    if (mig_devices_hello(&s->vm->devs, &h)) {
        fail(s, "more than %u devices", MIG_MAX_DEVICES);
        return;
    }
    _Static_assert(VM_NICS_MAX <= MIG_MAX_NICS && VM_SWITCH_MAX == MIG_SWITCH_MAX,
                   "NIC limits differ");
    _Static_assert(VM_DISK_MAX <= MIG_DISK_LOC_MAX, "disk location sizes differ");
    if (s->vm->disk_net) {              /* shared storage: the target reaches it itself */
        h.ndisks = 1;
        h.disks[0].kind = MIG_DISK_NBD;
        h.disks[0].sectors = s->vm->disk_sectors;
        memcpy(h.disks[0].loc, s->vm->disk, VM_DISK_MAX);
    } else if (s->disk_copy) {          /* the target makes an empty one; DISK records fill it */
        h.ndisks = 1;
        h.disks[0].kind = MIG_DISK_LOCAL;
        h.disks[0].sectors = s->vm->disk_sectors;
        memcpy(h.disks[0].loc, s->vm->disk, VM_DISK_MAX);
    }
    h.nnics = (uint16_t)s->vm->nnics;
    for (unsigned i = 0; i < s->vm->nnics; i++) {
        memcpy(h.nics[i].sw, s->vm->nics[i].sw, MIG_SWITCH_MAX);
        memcpy(h.nics[i].mac, s->vm->nics[i].mac, 6);
    }
    emit_begin(s);
    mig_rec_auth(&s->enc, MIG_REC_AUTH_RESPONSE, s->my_mac);
    if (mig_dec_sent(&s->dec, MIG_REC_AUTH_RESPONSE)) {
        fail(s, "protocol order (auth)");
        return;
    }
    mig_rec_hello(&s->enc, &h);
    emit_end(s, MIG_REC_HELLO);
    s->st = S_HELLO;
}

/* Stop-and-copy, after the last RAM: ROUND_END, vCPUs, their XSAVE areas, devices, TSC, COMMIT. */
static void final_step(struct src_mig *s)
{
    struct vm *vm = s->vm;
    unsigned n = vm->nvcpus, ndev = vm->devs.ndevs, k = s->final_step++;
    emit_begin(s);
    if (k == 0) {
        vm_saved_tsc_align(vm);
        mig_rec_round_end(&s->enc, s->round, s->pages);
        emit_end(s, MIG_REC_ROUND_END);
    } else if (k <= n) {
        mig_rec_vcpu(&s->enc, k - 1, &vm->vcpus[k - 1].saved);
        emit_end(s, MIG_REC_VCPU);
    } else if (k <= 2 * n) {
        /*
         * Only what the VM's XCR0 can hold: hosts' area sizes differ (docs/migration-stream.md).
         * XSAVE ran with the host's full mask, so XSTATE_BV may name components the guest cannot
         * enable (and some CPUs set it for components still in their init state): cut it too.
         */
        struct vcpu *v = &vm->vcpus[k - n - 1];
        uint64_t mask, bv;
        size_t len = xsave_mask_len(vm, v->xcr0, &mask);
        if (len > sizeof(s->xsave) || len < 576) {
            fail(s, "XSAVE area of %lu bytes", (unsigned long)len);
            return;
        }
        memcpy(s->xsave, v->xsave, len);
        memcpy(&bv, s->xsave + 512, 8);
        bv &= mask;
        memcpy(s->xsave + 512, &bv, 8);
        mig_rec_xsave(&s->enc, k - n - 1, s->xsave, len);
        emit_end(s, MIG_REC_XSAVE);
    } else if (k <= 2 * n + ndev) {
        /* Every device the same way (hv/mig/mig_devices.c); s->xsave is free scratch now. The
         * vCPUs are stopped, so nobody polls the device clocks: bring them up to now first
         * (a timer's edge due since the last entry lands in the PIC's saved state). */
        if (k == 2 * n + 1)
            mig_devices_poll(&vm->devs);
        if (mig_devices_put(&s->enc, vm->devs.devs[k - 2 * n - 1], s->xsave)) {
            fail(s, "cannot encode the state of a device");
            return;
        }
        emit_end(s, MIG_REC_DEVICE);
    } else if (k == 2 * n + ndev + 1) {
        mig_rec_tsc(&s->enc, vm->vcpus[0].saved.tsc, (uint32_t)time_tsc_khz());
        emit_end(s, MIG_REC_TSC);
    } else {
        mig_rec_empty(&s->enc, MIG_REC_COMMIT);
        emit_end(s, MIG_REC_COMMIT);
        s->st = S_COMMIT;
    }
}

static void finish(struct src_mig *s)
{
    char err[120];
    uint64_t now = time_ns(), total_ms = (now - s->t_start) / 1000000;
    uint64_t down_ms = (now - s->t_stop) / 1000000, us = (now - s->t_start) / 1000 + 1;
    uint64_t kbps = s->bytes * 8 * 1000 / us;
    char name[VM_NAME_MAX];
    const char *mode = dirty_mode_name(s->vm->dirty_mode);
    strcpy(name, s->vm->name);
    mig_conn_close(s->conn);
    s->conn = NULL;
    lanes_close(s);
    s->paused = false;
    s->st = S_DONE;
    vm_dirty_stop(s->vm);
    disk_log_off(s);
    s->vm->migration = VM_MIG_NONE;
    s->vm->throttle_pct = 0;
    vm_destroy(s->vm, err, sizeof(err));
    char disk[64] = "", target[40] = "";
    if (s->acked)           /* (a migration confirmed by query has no figure from the target) */
        snprintf(target, sizeof(target), " target_downtime_ms=%u", s->stopped_us / 1000);
    /* Page data's compression: its raw bytes over what they took on the wire. */
    uint64_t ratio = s->data_wire ? s->data_raw * 100 / s->data_wire : 100;
    char comp[100];
    snprintf(comp, sizeof(comp), " compress=%s ratio=%llu.%02llu lz4_pages=%llu delta_pages=%llu",
             s->lz4 ? "lz4" : "off", (unsigned long long)(ratio / 100),
             (unsigned long long)(ratio % 100), (unsigned long long)s->lz4_pages,
             (unsigned long long)s->delta_pages);
    if (s->disk_copy)
        snprintf(disk, sizeof(disk), " disk_blocks=%llu disk_rounds=%u",
                 (unsigned long long)s->disk_sent, s->disk_rounds);
    mig_say("migrate: done vm=%s total_ms=%llu downtime_ms=%llu%s budget_ms=%u rounds=%u "
                "pages=%llu zero_pages=%llu bytes=%llu mbps=%llu.%llu streams=%u throttle=%u%s "
                "dirty=%s%s%s",
                name, (unsigned long long)total_ms, (unsigned long long)down_ms, target,
                s->downtime_ms, s->round,
                (unsigned long long)s->pages, (unsigned long long)s->zero_pages,
                (unsigned long long)s->bytes, (unsigned long long)(kbps / 1000),
                (unsigned long long)(kbps % 1000 / 100), s->streams, s->throttle, comp, mode, disk,
                s->resolving ? " confirmed=query" : "");
}

/* Reconnects to ask about the migration whose COMMIT_ACK was lost. */
static void resolve_retry(struct src_mig *s)
{
    if (time_ns() < s->retry_at)
        return;
    mig_dec_init(&s->dec, MIG_ROLE_SRC);
    s->got_peer_nonce = s->authed = s->got_reply = false;
    s->rec_len = s->rec_off = 0;
    s->last_progress = time_ns();
    s->last_unacked = s->last_acked = 0;
    s->st = S_CONNECT;
    s->conn = mig_conn_connect(s->addr, s->port, &src_ops, s);
    if (!s->conn)
        fail(s, "no connection resources");
}

static void send_query(struct src_mig *s)
{
    emit_begin(s);
    mig_rec_auth(&s->enc, MIG_REC_AUTH_RESPONSE, s->my_mac);
    if (mig_dec_sent(&s->dec, MIG_REC_AUTH_RESPONSE)) {
        fail(s, "protocol order (auth)");
        return;
    }
    mig_rec_query(&s->enc, MIG_QUERY_MIGRATION, s->mig_nonce, sizeof(s->mig_nonce));
    emit_end(s, MIG_REC_QUERY);
    s->st = S_QUERY;
}

/* The target's answer: it runs the VM (ours goes), it never committed (ours resumes), or ask again. */
static void resolved(struct src_mig *s)
{
    char err[120];
    if (s->reply_status == MIG_QSTAT_RUNNING) {
        finish(s);
        return;
    }
    if (s->reply_status != MIG_QSTAT_UNKNOWN) {
        fail(s, "the target is still receiving it");     /* BUSY: retried */
        return;
    }
    mig_conn_close(s->conn);
    s->conn = NULL;
    s->vm->migration = VM_MIG_NONE;
    if (s->paused)
        vm_resume(s->vm, err, sizeof(err));
    mig_say("migrate: failed vm=%s phase=commit reason=%s; the target never committed it: "
                "resumed here", s->vm->name, s->commit_reason);
    s->st = S_IDLE;
}

#define MIGRATE_STALL_NS (10ull * 1000000000)

/*
 * A target that dies takes TCP minutes to notice: give up after 10 s without progress. Our own
 * bandwidth limit holding a record back is no stall; an empty bucket is not that when nothing
 * waits for it (connecting, awaiting a reply) or the limit is off (from stop-and-copy on).
 */
static bool stalled(struct src_mig *s)
{
    size_t un = mig_conn_unacked(s->conn), acked = mig_conn_acked(s->conn);
    uint64_t now = time_ns();
    bool queued = s->rec_off < s->rec_len;
    for (unsigned k = 1; k < s->streams && s->lanes[k]; k++) {   /* every stream counts */
        un += mig_conn_unacked(s->lanes[k]->conn);
        acked += mig_conn_acked(s->lanes[k]->conn);
        queued |= s->lanes[k]->rec_off < s->lanes[k]->rec_len;
    }
    /* Progress: the target acknowledged something since the last look (the bytes it left
     * unacknowledged need not shrink: the source refills what it acknowledged). */
    bool limited = s->limit && !s->tokens && s->st < S_FINAL && queued;
    if (acked != s->last_acked || un < s->last_unacked ||
        (un == 0 && !queued && s->st == S_RAM && lanes_done(s)) || limited ||
        now < s->hold_until)
        s->last_progress = now;
    s->last_unacked = un;
    s->last_acked = acked;
    if (now - s->last_progress < MIGRATE_STALL_NS)
        return false;
    fail(s, "no progress from the target for %llu s", MIGRATE_STALL_NS / 1000000000);
    return true;
}

static void poll_one(struct src_mig *s)
{
    if (s->st == S_RESOLVE) {
        resolve_retry(s);
        return;
    }
    if (s->st != S_IDLE && s->st != S_DONE && stalled(s))
        return;
    for (unsigned k = 1; k < s->streams && s->lanes[k]; k++)
        lane_pump(s, s->lanes[k]);
    for (unsigned budget = 0; budget < 32; budget++) {
        if (s->st == S_IDLE || s->st == S_DONE || s->st == S_CONNECT || s->st == S_RESOLVE ||
            !flush(s))
            return;
        switch (s->st) {
        case S_AUTH:
            if (!s->authed)
                return;
            if (s->resolving)
                send_query(s);
            else
                send_hello(s);
            break;
        case S_QUERY:
            if (s->got_reply)
                resolved(s);
            return;
        case S_HELLO:
            if (!s->accepted)
                return;
            if (lanes_open(s)) {
                fail(s, "no connection resources for %u streams", s->streams);
                return;
            }
            if (s->disk_copy) {
                if (vm_disk_log(s->vm, s->disk_log)) {
                    fail(s, "cannot log the disk's writes");
                    return;
                }
                s->disk_logging = true;
                for (uint64_t b = 0; b < s->disk_blocks; b++)
                    s->disk_bits[b / 64] |= 1ull << (b % 64);
                s->round_total = s->disk_blocks;
                s->round_sent = s->round_bytes = 0;
                s->t_round = time_ns();
                s->st = S_DISK;
                break;
            }
            if (start_memory(s))
                return;
            break;
        case S_DISK:
            if (emit_disk(s) || s->st != S_DISK)
                break;
            disk_round_done(s);
            break;
        case S_RAM:
            if (s->disk_copy && emit_disk(s))
                break;
            if (s->st == S_RAM && !emit_ram(s) && s->st == S_RAM) {
                if (!lanes_done(s))
                    return;             /* the other streams finish the round */
                round_done(s);
            }
            break;
        case S_DRAIN:
            drained(s);
            if (s->st == S_DRAIN)
                return;                 /* again on the next pass */
            break;
        case S_FINAL:
            if (time_ns() < s->hold_until)
                return;
            if (s->disk_copy && emit_disk(s))
                break;
            if (s->st == S_FINAL && s->cursor < s->npages && emit_ram(s))
                break;
            if (s->st != S_FINAL)
                break;
            s->cursor = s->npages;
            final_step(s);
            break;
        case S_COMMIT:
            if (s->acked)
                finish(s);
            return;
        default:
            return;
        }
    }
}

void mig_src_poll(void)
{
    for (unsigned i = 0; i < MIGRATE_SLOTS; i++) {
        struct src_mig *s = outgoing[i];
        if (!s)
            continue;
        poll_one(s);
        if (s->st == S_IDLE || s->st == S_DONE) {
            outgoing[i] = NULL;
            src_free(s);
        }
    }
}

static struct src_mig *find(const struct vm *vm)
{
    for (unsigned i = 0; i < MIGRATE_SLOTS; i++)
        if (outgoing[i] && outgoing[i]->vm == vm)
            return outgoing[i];
    return NULL;
}

int mig_src_cancel(struct vm *vm)
{
    struct src_mig *s = find(vm);
    if (!s || s->st == S_IDLE || s->st == S_DONE)
        return -ENOENT;
    if (s->st >= S_COMMIT || s->resolving)
        return -EBUSY;                  /* the target may own it already */
    fail(s, "cancelled");
    return 0;
}

int mig_src_set_downtime(struct vm *vm, uint32_t downtime_ms)
{
    struct src_mig *s = find(vm);
    if (!s || s->st == S_IDLE || s->st == S_DONE)
        return -ENOENT;
    s->downtime_ms = downtime_ms;       /* the control loop's: read at the next round's end */
    log_info("migrate", "vm %s: downtime budget now %u ms", vm->name, downtime_ms);
    return 0;
}

/* "round 3 42% 7.5 MiB/s dirty 1.2 MiB/s downtime~210ms": mibps with one decimal. */
static int fmt_mibps(char *b, size_t n, uint64_t bytes_per_s)
{
    uint64_t tenths = bytes_per_s * 10 / (1024 * 1024);
    return snprintf(b, n, "%llu.%llu", (unsigned long long)(tenths / 10),
                    (unsigned long long)(tenths % 10));
}

int mig_src_info(unsigned i, struct mig_src_info *info)
{
    struct src_mig *s = i < MIGRATE_SLOTS ? outgoing[i] : NULL;
    if (!s || s->st == S_IDLE || s->st == S_DONE)
        return -ENOENT;
    static const char *const n[] = { "idle", "connecting", "authenticating", "hello",
                                     "disk-copy", "precopy", "stop-and-copy", "stop-and-copy",
                                     "commit", "resolving", "resolving", "done" };
    uint64_t now = time_ns();
    memset(info, 0, sizeof(*info));
    info->vm = s->vm->name;
    info->state = n[s->st];
    info->round = s->round;
    info->pages = s->pages;
    info->bytes = s->bytes;
    info->percent = s->round_total ? (uint32_t)(s->round_sent * 100 / s->round_total) : 0;
    if (s->st == S_COMMIT)
        info->percent = 100;
    /* This round's rate once it has run a little, else the last round's. */
    uint64_t rns = now - s->t_round;
    info->bw = rns > 200000000ull ? per_second(s->round_bytes, rns) : s->bw;
    info->dirty_rate = s->dirty_rate;
    info->expect_ms = s->expect_ms;
    info->elapsed_ms = (now - s->t_start) / 1000000;
    info->throttle = s->throttle;
    info->streams = s->streams;
    info->dirty = s->vm->dirty_on ? dirty_mode_name(s->vm->dirty_mode) : "-";
    return 0;
}

void mig_src_bar(const struct mig_src_info *in, char *b, size_t n)
{
    char bw[24], dr[24], bar[21];
    unsigned fill = in->percent / 5;
    for (unsigned k = 0; k < 20; k++)
        bar[k] = k < fill ? '#' : '.';
    bar[20] = 0;
    fmt_mibps(bw, sizeof(bw), in->bw);
    fmt_mibps(dr, sizeof(dr), in->dirty_rate);
    snprintf(b, n, "[migrate %s %s r%u [%s] %3u%% %s MiB/s dirty %s MiB/s downtime~%llums%s]",
             in->vm, in->state, in->round, bar, in->percent, bw, dr,
             (unsigned long long)in->expect_ms, in->throttle ? " throttled" : "");
}
