// libFuzzer target: the migration target's record handlers (hv/mig/mig_dst.c) after a real
// handshake, with the fakes of tests/unit/mig/fake_mig_dst.c below it.
//
// Build (make fuzz does) and run from the repository root:
//   make build/fuzz_mig_dst && build/fuzz_mig_dst -max_total_time=10 -max_len=20000
//
// Each input is one connection from an authenticated source that sent a good HELLO (one or
// two vCPUs, 2 MiB, optionally a local disk of 8 blocks) and got ACCEPT; then the input's items
// [type:1][len:2][payload:len][tick:1], each framed as a well-formed record (correct length
// and CRC, so mutations reach the handlers rather than the framing), type taken from the
// source's record types; tick advances the clock by that many seconds and polls the target.
// At the end a COMMIT may follow (input byte 0 bit 1), then an hour passes.
//
// With input byte 0 bit 5 the source asked for two streams on a 4 MiB guest: a second
// connection joins (with ACCEPT's token, or with one byte of it wrong: bit 6), and an item
// whose type byte has bit 7 set goes on it, as RAM or STREAM_END.
//
// Checks, beyond the sanitizers: the target never acknowledges a VM whose vCPU states fail
// the checks the guest's own writes meet (msr_state_check) or whose XSAVE areas fail
// fpu_area_valid; whatever happened, after the hour nothing of a VM that was not acknowledged
// is left (no VM, no frames), and the work on guest RAM stays within one pass over the guest
// plus the data pages sent.
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/fpu.h"
#include "fake_cpuid.h"
#include "fake_env.h"
#include "hv/base/config.h"
#include "hv/cpu/cpu_policy_codec.h"
#include "hv/mig/mig_auth.h"
#include "hv/mig/mig_int.h"
#include "hv/mig/mig_stream.h"
#include "hv/vm/msr.h"
#include "hv/vm/vmctl.h"
#include "tests/unit/mig/fake_mig_dst.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)
#define KEY "ferry-fuzz-cluster-key-0001"

static struct mig_conn conn, conn2;
static const struct mig_conn_ops *ops, *ops2;
static void *ctx, *ctx2;
static struct mig_decoder dec2;         /* the second stream, as the source tracks it */
static uint8_t token[MIG_JOIN_TOKEN];
static struct mig_auth auth;
static struct mig_decoder dec;
static size_t seen;
static bool acked, ended;
static uint8_t my_mac[MIG_AUTH_MAC_SIZE];
static uint8_t rec[MIG_REC_MAX_SIZE + 64];
static uint8_t blob[CPU_POLICY_BLOB_MAX];

static int on_record(const struct mig_record *r, void *c)
{
    const uint8_t *b;
    (void)c;
    if (r->type == MIG_REC_AUTH_CHALLENGE) {
        CHECK(mig_parse_auth(r, &b) == 0);
        CHECK(mig_auth_response(&auth, b, my_mac) == 0);
    } else if (r->type == MIG_REC_AUTH_RESPONSE) {
        CHECK(mig_parse_auth(r, &b) == 0);
        CHECK(mig_auth_verify(&auth, b) == 0);
    } else if (r->type == MIG_REC_ACCEPT) {
        uint16_t f, k;
        CHECK(mig_parse_accept(r, &f, &k, token) == 0);
    } else if (r->type == MIG_REC_COMMIT_ACK) {
        acked = true;
    } else if (r->type == MIG_REC_ERROR || r->type == MIG_REC_REFUSE) {
        ended = true;
    }
    return 0;
}

static void pump(void)
{
    mig_dst_poll();
    if (conn.out_len > seen) {
        CHECK(mig_dec_feed(&dec, conn.out + seen, conn.out_len - seen, on_record, NULL) >= 0);
        seen = conn.out_len;
    }
}

static void send_raw(const uint8_t *p, size_t n)
{
    if (!conn.closed && !ended) {
        conn.received += n;
        ops->recv(ctx, p, n);
    }
    pump();
}

static void send(struct mig_enc *e, uint16_t type)
{
    if (mig_dec_sent(&dec, type))
        return;                         /* our own order says no: the target would too */
    send_raw(e->buf, e->len);
    mig_enc_reset(e);
}

/* On the second stream; the target never writes there. */
static void send2(struct mig_enc *e, uint16_t type)
{
    if (!mig_dec_sent(&dec2, type) && !conn2.closed && ctx2) {
        conn2.received += e->len;
        ops2->recv(ctx2, e->buf, e->len);
    }
    mig_enc_reset(e);
    pump();
    CHECK(conn2.out_len == 0);
}

static const uint16_t types2[] = { MIG_REC_RAM, MIG_REC_RAM, MIG_REC_RAM, MIG_REC_STREAM_END };

static const uint16_t types[] = {
    MIG_REC_RAM, MIG_REC_ROUND_END, MIG_REC_DISK, MIG_REC_STOP, MIG_REC_VCPU, MIG_REC_XSAVE,
    MIG_REC_DEVICE, MIG_REC_TSC, MIG_REC_COMMIT,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct mig_enc e;
    if (!ready) {
        struct fake_host h = { .t = intel_avx512_host, .n = intel_avx512_host_len };
        CHECK(cpu_policy_from_host(&host_policy, fake_cpuid, &h) == 0);
        config_defaults(&hv_config);
        strcpy(hv_config.cluster_key, KEY);
        ready = true;
    }
    if (size < 1)
        return 0;
    memset(&conn, 0, sizeof(conn));
    memset(&conn2, 0, sizeof(conn2));
    memset(token, 0, sizeof(token));
    ctx2 = NULL;
    seen = 0;
    acked = ended = false;
    start_fails = 0;
    conn.peer = 0x0100000a;
    ctx = mig_dst_accept(&conn, &ops);
    CHECK(ctx);
    mig_dec_init(&dec, MIG_ROLE_SRC);

    uint8_t nonce[32];
    for (unsigned i = 0; i < 32; i++)
        nonce[i] = (uint8_t)(0x10 + i);
    CHECK(mig_auth_init(&auth, (const uint8_t *)KEY, strlen(KEY), true, nonce) == 0);
    CHECK(mig_auth_challenge(&auth, nonce) == 0);
    mig_enc_init(&e, rec, sizeof(rec));
    CHECK(mig_stream_header_put(&e) == 0);
    CHECK(mig_rec_auth(&e, MIG_REC_AUTH_CHALLENGE, nonce) == 0);
    send(&e, MIG_REC_AUTH_CHALLENGE);
    CHECK(mig_auth_ok(&auth));
    CHECK(mig_rec_auth(&e, MIG_REC_AUTH_RESPONSE, my_mac) == 0);
    send(&e, MIG_REC_AUTH_RESPONSE);

    struct mig_hello h;
    memset(&h, 0, sizeof(h));
    h.version = MIG_STREAM_VERSION;
    bool two = data[0] & 32;
    h.streams = two ? 2 : 1;
    h.vcpus = 1 + (data[0] & 1);
    h.mem_bytes = (two ? 4u : 2u) << 20;
    strcpy(h.name, "vm1");
    bool lz4 = data[0] & 8;             /* RAM and DISK runs may be LZ4 blocks */
    bool delta = data[0] & 16;          /* RAM runs may be page deltas */
    h.features = (lz4 ? MIG_FEAT_LZ4 : 0) | (delta ? MIG_FEAT_DELTA : 0);
    int n = cpu_policy_serialize(&host_policy, blob, sizeof(blob));
    CHECK(n > 0);
    h.policy = blob;
    h.policy_len = (uint32_t)n;
    if (data[0] & 4) {
        h.ndisks = 1;
        h.disks[0].kind = MIG_DISK_LOCAL;
        h.disks[0].sectors = 64;
        strcpy(h.disks[0].loc, "disk.img");
    }
    CHECK(mig_rec_hello(&e, &h) == 0);
    send(&e, MIG_REC_HELLO);
    struct vm *vm = NULL;
    for (unsigned i = 0; i < VM_MAX; i++)
        if (vms[i].state != VM_EMPTY && !strcmp(vms[i].name, "vm1"))
            vm = &vms[i];
    CHECK(vm);
    if (two) {
        conn2.peer = conn.peer;
        ctx2 = mig_dst_accept(&conn2, &ops2);
        CHECK(ctx2);
        mig_dec_init(&dec2, MIG_ROLE_SRC);
        if (data[0] & 64)
            token[size % MIG_JOIN_TOKEN] ^= 1;
        mig_enc_init(&e, rec, sizeof(rec));
        CHECK(mig_stream_header_put(&e) == 0);
        CHECK(mig_rec_join(&e, token, 1) == 0);
        send2(&e, MIG_REC_JOIN);
        CHECK(conn2.closed == !!(data[0] & 64));    /* a wrong token is turned away */
    }
    page_lookups = 0;
    uint64_t data_pages = 0;

    size_t off = 1;
    while (off + 4 <= size && !ended && !conn.closed) {
        bool second = two && (data[off] & 0x80);
        uint16_t type = second ? types2[data[off] % 4]
                               : types[data[off] % (sizeof(types) / sizeof(types[0]))];
        size_t len = (size_t)(data[off + 1] | data[off + 2] << 8);
        off += 3;
        if (len > size - off)
            len = size - off;
        /* A record's pages: its raw data, or (LZ4, DELTA) up to a record's worth rebuilt,
         * each DELTA page looked up once more for its base. */
        if (type == MIG_REC_RAM)
            data_pages += len / 4096 + 1 + (lz4 || delta ? MIG_RAM_MAX_PAGES : 0);
        if (mig_rec_begin(&e, type) || mig_put_bytes(&e, data + off, len) || mig_rec_end(&e)) {
            mig_enc_reset(&e);          /* a length the type cannot have: not a record */
            off += len;
            continue;
        }
        off += len;
        if (second)
            send2(&e, type);
        else
            send(&e, type);
        if (off < size) {
            fake_now_ns += (uint64_t)data[off] * 1000000000ull;
            off++;
            pump();
        }
    }
    if ((data[0] & 2) && !ended && !conn.closed) {
        CHECK(mig_rec_empty(&e, MIG_REC_COMMIT) == 0);
        send(&e, MIG_REC_COMMIT);
    }
    pump();
    pump();
    /* Bounded work: one pass over the guest (512 or 1024 pages) plus the data pages that came
     * (LZ4 and DELTA: at most MIG_RAM_MAX_PAGES more per record, whatever its size). */
    CHECK(page_lookups <= (two ? 1024 : 512) + 2 * data_pages);
    if (acked) {
        char why[160];
        CHECK(vm->state == VM_RUNNING);
        /* Never before the second stream joined and ended. */
        CHECK(!two || (mig_dec_done(&dec2) && !(data[0] & 64)));
        for (unsigned i = 0; i < vm->nvcpus; i++) {
            struct vcpu *v = &vm->vcpus[i];
            uint64_t mask = (vm->policy.xcr0_mask | v->xcr0 | 3) & fpu_xcr0_supported();
            CHECK(msr_state_check(&vm->policy, &v->init, why, sizeof(why)) == 0);
            CHECK(fpu_area_check(v->xsave, fpu_area_size(), mask, why, sizeof(why)) == 0);
        }
    }
    fake_now_ns += 3600ull * 1000000000ull;     /* every deadline passes */
    pump();
    pump();
    if (acked) {
        char err[8];
        vm_destroy(vm, err, sizeof(err));
    }
    for (unsigned i = 0; i < VM_MAX; i++)
        CHECK(vms[i].state == VM_EMPTY);        /* nothing of an unacknowledged VM is left */
    CHECK(fake_frames_out == 0);
    return 0;
}
