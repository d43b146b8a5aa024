/* The source side of a live migration (see hv/migrate.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/fpu.h"
#include "hv/config.h"
#include "hv/dirty.h"
#include "hv/log.h"
#include "hv/mem.h"
#include "hv/mig_auth.h"
#include "hv/mig_policy.h"
#include "hv/mig_stream.h"
#include "hv/migrate_int.h"
#include "hv/time.h"
#include "hv/vmctl.h"
#include "net/mig_transport.h"

enum src_state { S_IDLE, S_CONNECT, S_AUTH, S_HELLO, S_RAM, S_FINAL, S_COMMIT, S_DONE };

static struct {
    enum src_state st;
    struct vm *vm;
    struct mig_conn *conn;
    struct mig_auth auth;
    struct mig_decoder dec;
    struct mig_enc enc;
    uint8_t rec[MIG_REC_MAX_SIZE + MIG_STREAM_HDR_SIZE];
    size_t rec_len, rec_off;
    uint64_t bitmap[(4096ull << 20) / PAGE_SIZE / 64];
    uint64_t cursor, npages;
    uint32_t round, downtime_ms, final_step;
    enum dirty_mode dirty_mode;
    bool paused, got_peer_nonce, authed, accepted, acked;
    uint8_t peer_nonce[MIG_AUTH_NONCE_SIZE], my_mac[MIG_AUTH_MAC_SIZE];
    uint64_t t_start, t_stop, t_round, round_bytes, bytes, pages, zero_pages;
    uint64_t last_progress;     /* the peer acknowledged data or sent a record */
    size_t last_unacked;
    char reason[160];
} s;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;
    char err[120];
    if (s.st == S_IDLE || s.st == S_DONE)
        return;
    va_start(ap, fmt);
    vsnprintf(s.reason, sizeof(s.reason), fmt, ap);
    va_end(ap);
    static const char *const phase[] = { "idle", "connect", "auth", "hello", "precopy", "stop",
                                         "commit", "done" };
    mig_conn_close(s.conn);
    s.conn = NULL;
    if (s.vm->dirty_on)
        vm_dirty_stop(s.vm);
    if (s.paused)
        vm_resume(s.vm, err, sizeof(err));       /* the guest goes on here */
    migrate_say("migrate: failed vm=%s phase=%s reason=%s", s.vm->name, phase[s.st], s.reason);
    s.st = S_IDLE;
}

/* Encodes one record (or the header) with fn into s.rec; it is sent by flush(). */
static int emit_begin(void)
{
    mig_enc_init(&s.enc, s.rec, sizeof(s.rec));
    return 0;
}

static int emit_end(uint16_t type)
{
    if (type && mig_dec_sent(&s.dec, type)) {
        fail("protocol order (%s)", mig_rec_type_name(type));
        return -EPROTO;
    }
    s.rec_len = s.enc.len;
    s.rec_off = 0;
    return 0;
}

static bool flush(void)
{
    while (s.rec_off < s.rec_len) {
        size_t n = mig_conn_write(s.conn, s.rec + s.rec_off, s.rec_len - s.rec_off);
        if (!n)
            return false;
        s.rec_off += n;
        s.bytes += n;
        s.round_bytes += n;
    }
    return true;
}

static bool page_zero(const uint64_t *p)
{
    for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
        if (p[i])
            return false;
    return true;
}

/* One RAM record from the bitmap at the cursor; false when the round is exhausted. */
static bool emit_ram(void)
{
    uint8_t *ram = phys_to_virt(s.vm->chunks[0].hpa);
    unsigned in_rec = 0;
    while (s.cursor < s.npages && !(s.bitmap[s.cursor / 64] >> (s.cursor % 64) & 1))
        s.cursor++;
    if (s.cursor >= s.npages)
        return false;                 /* the round is over */
    emit_begin();
    mig_rec_begin(&s.enc, MIG_REC_RAM);
    while (s.cursor < s.npages && in_rec < MIG_RAM_MAX_PAGES) {
        uint64_t p = s.cursor;
        if (!(s.bitmap[p / 64] >> (p % 64) & 1)) {
            s.cursor++;
            continue;
        }
        bool zero = page_zero((const uint64_t *)(ram + p * PAGE_SIZE));
        uint32_t n = 1;
        while (p + n < s.npages && (s.bitmap[(p + n) / 64] >> ((p + n) % 64) & 1) &&
               page_zero((const uint64_t *)(ram + (p + n) * PAGE_SIZE)) == zero &&
               (zero || in_rec + n < MIG_RAM_MAX_PAGES) && n < 4096)
            n++;
        if (mig_ram_run_put(&s.enc, p, n, zero, ram + p * PAGE_SIZE))
            break;                    /* record full */
        s.cursor += n;
        s.pages += n;
        if (zero)
            s.zero_pages += n;
        else
            in_rec += n;
    }
    if (mig_rec_end(&s.enc) < 0) {
        fail("cannot encode RAM");
        return false;
    }
    return !emit_end(MIG_REC_RAM);
}

static void emit_simple(uint16_t type)
{
    emit_begin();
    mig_rec_empty(&s.enc, type);
    emit_end(type);
}

static int on_record(const struct mig_record *r, void *ctx)
{
    const uint8_t *b;
    uint32_t code;
    const char *why;
    size_t why_len;
    (void)ctx;
    switch (r->type) {
    case MIG_REC_AUTH_CHALLENGE:
        if (mig_parse_auth(r, &b))
            return -EBADMSG;
        memcpy(s.peer_nonce, b, MIG_AUTH_NONCE_SIZE);
        if (mig_auth_response(&s.auth, s.peer_nonce, s.my_mac))
            return -EACCES;
        s.got_peer_nonce = true;
        return 0;
    case MIG_REC_AUTH_RESPONSE:
        if (mig_parse_auth(r, &b) || mig_auth_verify(&s.auth, b))
            return -EACCES;
        s.authed = true;
        return 0;
    case MIG_REC_ACCEPT:
        s.accepted = true;
        return 0;
    case MIG_REC_REFUSE:
    case MIG_REC_ERROR:
        if (mig_parse_reason(r, &code, &why, &why_len))
            why = "?", why_len = 1;
        fail("%s: %.*s", r->type == MIG_REC_REFUSE ? "target refused" : "target error",
             (int)why_len, why);
        return -ECANCELED;
    case MIG_REC_COMMIT_ACK:
        s.acked = true;
        return 0;
    default:
        return -EPROTO;
    }
}

static void src_recv(void *ctx, const uint8_t *data, size_t n)
{
    (void)ctx;
    s.last_progress = time_ns();
    while (n && s.st != S_IDLE) {
        int used = mig_dec_feed(&s.dec, data, n, on_record, NULL);
        if (used < 0) {
            if (s.st != S_IDLE && used == -EACCES)
                fail("authentication failed (is cluster_key the same on both hosts?)");
            else if (s.st != S_IDLE)
                fail("bad stream from target (%d)", used);
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
    (void)ctx;
    s.conn = NULL;
    if (s.st != S_IDLE && s.st != S_DONE && !(s.st == S_COMMIT && s.acked))
        fail(err ? "connection lost" : "target closed the connection");
}

static void src_connected(void *ctx)
{
    uint8_t nonce[MIG_AUTH_NONCE_SIZE];
    (void)ctx;
    migrate_nonce(nonce);
    if (mig_auth_init(&s.auth, (const uint8_t *)hv_config.cluster_key,
                      strlen(hv_config.cluster_key), true, nonce) ||
        mig_auth_challenge(&s.auth, nonce)) {
        fail("cannot start authentication");
        return;
    }
    emit_begin();
    mig_stream_header_put(&s.enc);
    mig_rec_auth(&s.enc, MIG_REC_AUTH_CHALLENGE, nonce);
    emit_end(MIG_REC_AUTH_CHALLENGE);
    s.st = S_AUTH;
}

static const struct mig_conn_ops src_ops = {
    .recv = src_recv, .closed = src_closed, .connected = src_connected,
};

int migrate_src_start(struct vm *vm, uint32_t addr, const struct migrate_opts *o, char *err,
                      size_t errlen)
{
    if (s.st != S_IDLE && s.st != S_DONE) {
        snprintf(err, errlen, "a migration of vm %s is under way", s.vm->name);
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
    memset(&s.dec, 0, sizeof(s.dec));
    mig_dec_init(&s.dec, MIG_ROLE_SRC);
    s.vm = vm;
    s.npages = vm->mem_size / PAGE_SIZE;
    s.downtime_ms = o->downtime_ms;
    s.dirty_mode = o->dirty_mode;
    s.paused = vm->state == VM_PAUSED ? false : false;
    s.got_peer_nonce = s.authed = s.accepted = s.acked = false;
    s.rec_len = s.rec_off = 0;
    s.round = s.final_step = 0;
    s.bytes = s.pages = s.zero_pages = 0;
    s.t_start = s.last_progress = time_ns();
    s.last_unacked = 0;
    s.st = S_CONNECT;
    s.conn = mig_conn_connect(addr, o->port, &src_ops, NULL);
    if (!s.conn) {
        s.st = S_IDLE;
        snprintf(err, errlen, "no connection resources");
        return -ENOMEM;
    }
    return 0;
}

static void start_round(void)
{
    uint64_t words = s.npages / 64;
    if (s.round == 0) {
        for (uint64_t w = 0; w < words; w++)
            s.bitmap[w] = ~0ull;
    } else {
        vm_dirty_harvest(s.vm, s.bitmap);
    }
    s.cursor = 0;
    s.round_bytes = 0;
    s.t_round = time_ns();
}

static uint64_t count_bits(void)
{
    uint64_t n = 0;
    for (uint64_t w = 0; w < s.npages / 64; w++)
        n += __builtin_popcountll(s.bitmap[w]);
    return n;
}

/* End of a pre-copy round: decide whether to go on or stop and copy. */
static void round_done(void)
{
    char err[120];
    uint64_t ns = time_ns() - s.t_round + 1;
    uint64_t bw = s.round_bytes * 1000000000ull / ns;
    emit_begin();
    mig_rec_round_end(&s.enc, s.round, s.pages);
    emit_end(MIG_REC_ROUND_END);
    s.round++;
    start_round();                  /* harvests what the guest wrote meanwhile */
    uint64_t dirty = count_bits();
    struct mig_policy_in in = { .remaining_bytes = dirty * PAGE_SIZE, .bandwidth = bw,
                                .dirty_rate = dirty * PAGE_SIZE * 1000000000ull / ns,
                                .downtime_ms = s.downtime_ms, .round = s.round };
    uint64_t expect_ms;
    if (mig_policy_decide(&in, &expect_ms) == MIG_CONTINUE)
        return;
    /* Stop and copy: pause, take the last dirty pages, then state. */
    s.t_stop = time_ns();
    if (vm_pause(s.vm, err, sizeof(err))) {
        fail("cannot pause: %s", err);
        return;
    }
    s.paused = true;
    /* Merge the final harvest into the pending bitmap (pages not yet sent this round stay). */
    static uint64_t final_bits[(4096ull << 20) / PAGE_SIZE / 64];
    vm_dirty_harvest(s.vm, final_bits);
    for (uint64_t w = 0; w < s.npages / 64; w++)
        s.bitmap[w] |= final_bits[w];
    s.cursor = 0;
    if (vm_save_vcpus(s.vm)) {
        fail("cannot read vcpu state");
        return;
    }
    emit_simple(MIG_REC_STOP);
    s.st = S_FINAL;
}

static void send_hello(void)
{
    struct mig_hello h = { .version = MIG_STREAM_VERSION, .vcpus = s.vm->nvcpus,
                           .mem_bytes = s.vm->mem_size, .ndevices = 1 };
    strncpy(h.name, s.vm->name, sizeof(h.name) - 1);
    h.policy = (const uint8_t *)s.vm->policy.vendor;
    h.policy_len = 12;
    h.devices[0] = (struct mig_dev_id){ MIG_DEV_UART16550, 0 };
    emit_begin();
    mig_rec_auth(&s.enc, MIG_REC_AUTH_RESPONSE, s.my_mac);
    if (mig_dec_sent(&s.dec, MIG_REC_AUTH_RESPONSE)) {
        fail("protocol order (auth)");
        return;
    }
    mig_rec_hello(&s.enc, &h);
    emit_end(MIG_REC_HELLO);
    s.st = S_HELLO;
}

/* Stop-and-copy, after the last RAM: ROUND_END, vCPUs, FPU, UART, TSC, COMMIT. */
static void final_step(void)
{
    struct vm *vm = s.vm;
    unsigned n = vm->nvcpus, k = s.final_step++;
    emit_begin();
    if (k == 0) {
        mig_rec_round_end(&s.enc, s.round, s.pages);
        emit_end(MIG_REC_ROUND_END);
    } else if (k <= n) {
        mig_rec_vcpu(&s.enc, k - 1, &vm->vcpus[k - 1].saved);
        emit_end(MIG_REC_VCPU);
    } else if (k <= 2 * n) {
        struct mig_dev_id id = { MIGRATE_DEV_XSAVE, (uint16_t)(k - n - 1) };
        mig_rec_device(&s.enc, &id, vm->vcpus[k - n - 1].xsave, fpu_area_size());
        emit_end(MIG_REC_DEVICE);
    } else if (k == 2 * n + 1) {
        struct uart_dev_state us;
        struct mig_dev_id id = { MIG_DEV_UART16550, 0 };
        uart_dev_save(&vm->uart, &us);
        mig_rec_device(&s.enc, &id, &us, sizeof(us));
        emit_end(MIG_REC_DEVICE);
    } else if (k == 2 * n + 2) {
        mig_rec_tsc(&s.enc, vm->vcpus[0].saved.tsc, (uint32_t)time_tsc_khz());
        emit_end(MIG_REC_TSC);
    } else {
        mig_rec_empty(&s.enc, MIG_REC_COMMIT);
        emit_end(MIG_REC_COMMIT);
        s.st = S_COMMIT;
    }
}

static void finish(void)
{
    char err[120];
    uint64_t now = time_ns(), total_ms = (now - s.t_start) / 1000000;
    uint64_t down_ms = (now - s.t_stop) / 1000000, us = (now - s.t_start) / 1000 + 1;
    uint64_t kbps = s.bytes * 8 * 1000 / us;
    char name[VM_NAME_MAX];
    const char *mode = dirty_mode_name(s.vm->dirty_mode);
    strcpy(name, s.vm->name);
    mig_conn_close(s.conn);
    s.conn = NULL;
    s.paused = false;
    s.st = S_DONE;
    vm_dirty_stop(s.vm);
    vm_destroy(s.vm, err, sizeof(err));
    migrate_say("migrate: done vm=%s total_ms=%llu downtime_ms=%llu rounds=%u pages=%llu "
                "zero_pages=%llu bytes=%llu mbps=%llu.%llu dirty=%s", name,
                (unsigned long long)total_ms,
                (unsigned long long)down_ms, s.round, (unsigned long long)s.pages,
                (unsigned long long)s.zero_pages, (unsigned long long)s.bytes,
                (unsigned long long)(kbps / 1000), (unsigned long long)(kbps % 1000 / 100), mode);
}

#define MIGRATE_STALL_NS (10ull * 1000000000)

/* A target that dies takes TCP minutes to notice: give up after 10 s without progress. */
static bool stalled(void)
{
    size_t un = mig_conn_unacked(s.conn);
    uint64_t now = time_ns();
    if (un < s.last_unacked || (un == 0 && s.rec_off >= s.rec_len && s.st == S_RAM))
        s.last_progress = now;
    s.last_unacked = un;
    if (now - s.last_progress < MIGRATE_STALL_NS)
        return false;
    fail("no progress from the target for %llu s", MIGRATE_STALL_NS / 1000000000);
    return true;
}

void migrate_src_poll(void)
{
    char err[120];
    if (s.st != S_IDLE && s.st != S_DONE && stalled())
        return;
    for (unsigned budget = 0; budget < 32; budget++) {
        if (s.st == S_IDLE || s.st == S_DONE || s.st == S_CONNECT || !flush())
            return;
        switch (s.st) {
        case S_AUTH:
            if (!s.authed)
                return;
            send_hello();
            break;
        case S_HELLO:
            if (!s.accepted)
                return;
            if (vm_dirty_start(s.vm, s.dirty_mode)) {
                fail("cannot start dirty logging");
                return;
            }
            start_round();
            s.st = S_RAM;
            break;
        case S_RAM:
            if (!emit_ram() && s.st == S_RAM)
                round_done();
            break;
        case S_FINAL:
            if (s.cursor < s.npages && emit_ram())
                break;
            s.cursor = s.npages;
            final_step();
            break;
        case S_COMMIT:
            if (s.acked)
                finish();
            return;
        default:
            return;
        }
    }
    (void)err;
}

int migrate_src_cancel(struct vm *vm)
{
    if (s.st == S_IDLE || s.st == S_DONE || s.vm != vm)
        return -ENOENT;
    if (s.st == S_COMMIT)
        return -EBUSY;                  /* the target may own it already */
    fail("cancelled");
    return 0;
}

const char *migrate_src_state(struct vm **vm, uint32_t *round, uint64_t *pages)
{
    static const char *const n[] = { "idle", "connecting", "authenticating", "hello", "precopy",
                                     "stop-and-copy", "commit", "done" };
    *vm = s.vm;
    *round = s.round;
    *pages = s.pages;
    return n[s.st];
}
