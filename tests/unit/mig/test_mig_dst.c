/*
 * Host tests for hv/mig/mig_dst.c, the migration target, driven as a hostile source would
 * drive it: the real stream codec and authentication on both sides, the real checks
 * (hv/vm/msr.c msr_state_check, arch/x86_64/fpu_check.c), and fakes for what lies below the
 * engine (VMs with RAM in host memory, the TCP connection, the clock). Each test is one
 * attack from issue 14's review or one limit, and what the target must do about it: refuse
 * with the reason, keep nothing of the VM, spend bounded work, give up in bounded time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/fpu.h"
#include "fake_cpuid.h"
#include "fake_env.h"
#include "hv/base/config.h"
#include "hv/base/delta.h"
#include "hv/base/mem.h"
#include "hv/cpu/cpu_baseline.h"
#include "hv/cpu/cpu_policy_codec.h"
#include "hv/dev/machine.h"
#include "hv/mig/mig_auth.h"
#include "hv/mig/mig_devices.h"
#include "hv/mig/mig_int.h"
#include "hv/base/compress.h"
#include "hv/mig/mig_stream.h"
#include "hv/vm/intr.h"
#include "hv/vm/vcpu_ops.h"
#include "hv/vm/vmctl.h"
#include "net/vswitch.h"
#include "support.h"
#include "vcpu_state_sample.h"

#define KEY "ferry-test-cluster-key-0001"
#define MEM (2u << 20)

#include "fake_mig_dst.h"

/* ==== the source the test plays ==== */

struct peer {
    struct mig_conn conn;
    const struct mig_conn_ops *ops;
    void *ctx;
    struct mig_auth auth;
    struct mig_decoder dec;             /* the target's records, as a source reads them */
    size_t out_seen;
    uint16_t got[64];                   /* record types the target sent */
    unsigned ngot;
    char reason[MIG_REASON_MAX + 1];    /* of its REFUSE or ERROR */
    uint16_t features;                  /* its ACCEPT took these */
    uint16_t streams;                   /* ... and granted as many streams, with this token */
    uint8_t token[MIG_JOIN_TOKEN];
    uint32_t pass;                      /* what the next RAM record says */
    uint32_t stopped_us;                /* its COMMIT_ACK says */
    uint8_t my_mac[MIG_AUTH_MAC_SIZE];
};

static uint8_t rec[MIG_REC_MAX_SIZE + MIG_STREAM_HDR_SIZE];
static struct mig_enc enc;

static int on_target_record(const struct mig_record *r, void *ctx)
{
    struct peer *p = ctx;
    const uint8_t *b;
    uint32_t code;
    const char *why;
    size_t n;
    assert_true(p->ngot < 64);
    p->got[p->ngot++] = r->type;
    if (r->type == MIG_REC_AUTH_CHALLENGE) {
        assert_int_equal(mig_parse_auth(r, &b), 0);
        assert_int_equal(mig_auth_response(&p->auth, b, p->my_mac), 0);
    } else if (r->type == MIG_REC_AUTH_RESPONSE) {
        assert_int_equal(mig_parse_auth(r, &b), 0);
        assert_int_equal(mig_auth_verify(&p->auth, b), 0);
    } else if (r->type == MIG_REC_ACCEPT) {
        assert_int_equal(mig_parse_accept(r, &p->features, &p->streams, p->token), 0);
    } else if (r->type == MIG_REC_COMMIT_ACK) {
        assert_int_equal(mig_parse_commit_ack(r, &p->stopped_us), 0);
    } else if (r->type == MIG_REC_REFUSE || r->type == MIG_REC_ERROR) {
        assert_int_equal(mig_parse_reason(r, &code, &why, &n), 0);
        memcpy(p->reason, why, n);
        p->reason[n] = 0;
    }
    return 0;
}

/* Lets the target run its poll and reads what it wrote. */
static void pump(struct peer *p)
{
    mig_dst_poll();
    if (p->conn.out_len > p->out_seen) {
        int rc = mig_dec_feed(&p->dec, p->conn.out + p->out_seen, p->conn.out_len - p->out_seen,
                              on_target_record, p);
        assert_true(rc >= 0);
        p->out_seen = p->conn.out_len;
    }
}

static bool got(const struct peer *p, uint16_t type)
{
    for (unsigned i = 0; i < p->ngot; i++)
        if (p->got[i] == type)
            return true;
    return false;
}

/* Sends what enc holds (records the source's order allows) and lets the target run. */
static void send_enc(struct peer *p)
{
    if (!p->conn.closed) {
        p->conn.received += enc.len;
        p->ops->recv(p->ctx, enc.buf, enc.len);
    }
    mig_enc_reset(&enc);
    pump(p);
}

static void sent(struct peer *p, uint16_t type) { assert_int_equal(mig_dec_sent(&p->dec, type), 0); }

static void connect_peer(struct peer *p, uint32_t addr)
{
    memset(p, 0, sizeof(*p));
    p->conn.peer = addr;
    p->ctx = mig_dst_accept(&p->conn, &p->ops);
    mig_dec_init(&p->dec, MIG_ROLE_SRC);
}

/* Connects and authenticates: the target's challenge and answer are checked. */
static void handshake(struct peer *p, uint32_t addr)
{
    uint8_t nonce[32];
    connect_peer(p, addr);
    assert_non_null(p->ctx);
    for (unsigned i = 0; i < 32; i++)
        nonce[i] = (uint8_t)(0x10 + i);
    assert_int_equal(mig_auth_init(&p->auth, (const uint8_t *)KEY, strlen(KEY), true, nonce), 0);
    assert_int_equal(mig_auth_challenge(&p->auth, nonce), 0);
    mig_enc_init(&enc, rec, sizeof(rec));
    assert_int_equal(mig_stream_header_put(&enc), 0);
    assert_int_equal(mig_rec_auth(&enc, MIG_REC_AUTH_CHALLENGE, nonce), 0);
    sent(p, MIG_REC_AUTH_CHALLENGE);
    send_enc(p);
    assert_true(mig_auth_ok(&p->auth));
    assert_int_equal(mig_rec_auth(&enc, MIG_REC_AUTH_RESPONSE, p->my_mac), 0);
    sent(p, MIG_REC_AUTH_RESPONSE);
    send_enc(p);
}

static uint8_t policy_blob[CPU_POLICY_BLOB_MAX];

static uint16_t hello_features;         /* what the next HELLO offers */
static uint16_t hello_streams;          /* ... and asks for (0: 1) */
static uint64_t hello_mem;              /* ... for a guest of (0: MEM) */

static void hello(struct peer *p, unsigned vcpus, struct mig_hello *h)
{
    int n = cpu_policy_serialize(&host_policy, policy_blob, sizeof(policy_blob));
    assert_true(n > 0);
    memset(h, 0, sizeof(*h));
    h->version = MIG_STREAM_VERSION;
    h->vcpus = vcpus;
    h->mem_bytes = hello_mem ? hello_mem : MEM;
    strcpy(h->name, "vm1");
    h->policy = policy_blob;
    h->policy_len = (uint32_t)n;
    h->features = hello_features;
    h->streams = hello_streams ? hello_streams : 1;
    assert_int_equal(mig_rec_hello(&enc, h), 0);
    sent(p, MIG_REC_HELLO);
    send_enc(p);
}

/* A connection through HELLO, accepted. */
static void accepted(struct peer *p, unsigned vcpus)
{
    struct mig_hello h;
    handshake(p, 0x0100000a);
    hello(p, vcpus, &h);
    assert_true(got(p, MIG_REC_ACCEPT));
    assert_non_null(vm_find("vm1"));
}

static void ram(struct peer *p, uint64_t gfn, uint32_t count, bool zero, const void *data)
{
    assert_int_equal(mig_rec_ram_begin(&enc, p->pass), 0);
    assert_int_equal(mig_ram_run_put(&enc, gfn, count, zero, data), 0);
    assert_int_equal(mig_rec_end(&enc), 0);
    sent(p, MIG_REC_RAM);
    send_enc(p);
}

static uint8_t xsave[1024] __attribute__((aligned(64)));

static void good_xsave(void)
{
    uint32_t mxcsr = 0x1f80;
    uint64_t bv = 0x7;
    memset(xsave, 0, sizeof(xsave));
    memcpy(xsave + 24, &mxcsr, 4);
    memcpy(xsave + 512, &bv, 8);
    xsave[600] = 0x42;                          /* some AVX state */
}

/* STOP, the vCPUs' states and areas, TSC, COMMIT. */
static void finish(struct peer *p, unsigned vcpus, const struct vcpu_state *s)
{
    assert_int_equal(mig_rec_empty(&enc, MIG_REC_STOP), 0);
    sent(p, MIG_REC_STOP);
    for (unsigned i = 0; i < vcpus; i++) {
        assert_int_equal(mig_rec_vcpu(&enc, i, s), 0);
        sent(p, MIG_REC_VCPU);
        assert_int_equal(mig_rec_xsave(&enc, i, xsave, 832), 0);
        sent(p, MIG_REC_XSAVE);
    }
    assert_int_equal(mig_rec_tsc(&enc, 1000, 2000000), 0);
    sent(p, MIG_REC_TSC);
    assert_int_equal(mig_rec_empty(&enc, MIG_REC_COMMIT), 0);
    sent(p, MIG_REC_COMMIT);
    send_enc(p);
    pump(p);
}

/* The target refused, kept nothing (no VM, no frames) and hung up; why holds want. */
static void refused(struct peer *p, const char *want)
{
    pump(p);
    pump(p);
    assert_true(got(p, MIG_REC_ERROR) || got(p, MIG_REC_REFUSE));
    if (!strstr(p->reason, want))
        fail_msg("reason '%s' lacks '%s'", p->reason, want);
    assert_false(got(p, MIG_REC_COMMIT_ACK));
    assert_null(vm_find("vm1"));
    assert_true(p->conn.closed);
    assert_int_equal(fake_frames_out, 0);
}

static uint8_t pages[2][4096];

static int setup(void **state)
{
    (void)state;
    struct fake_host h = { .t = intel_avx512_host, .n = intel_avx512_host_len };
    assert_int_equal(cpu_policy_from_host(&host_policy, fake_cpuid, &h), 0);
    config_defaults(&hv_config);
    strcpy(hv_config.cluster_key, KEY);
    memset(pages[0], 0x5a, 4096);
    memset(pages[1], 0xa5, 4096);
    good_xsave();
    start_fails = 0;
    fake_now_ns = 1000000;
    hello_features = 0;
    hello_streams = 0;
    hello_mem = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fake_now_ns += 3600ull * 1000000000;        /* every deadline passes: all slots free */
    mig_dst_poll();
    mig_dst_poll();
    for (unsigned i = 0; i < VM_MAX; i++)
        if (vms[i].state != VM_EMPTY)
            vm_destroy(&vms[i], NULL, 0);
    return 0;
}

/* ==== tests ==== */

/* Offered LZ4, the target takes it: compressed runs land as the pages they expand to, next to
 * raw and zero runs; one that does not expand to its pages exactly is refused with nothing
 * of it applied. COMMIT_ACK says how long the guest was stopped here (STOP to start). */
static void test_lz4_pages(void **state)
{
    static uint8_t src[8 * 4096], block[8 * 4096];
    static struct compress_state st;
    struct peer p;
    (void)state;
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i % 97 < 30 ? i * 13 : i / 4096 + 3);
    size_t clen = compress_block(&st, src, sizeof(src), block, sizeof(src) - 1);
    assert_true(clen > 0);
    hello_features = MIG_FEAT_LZ4;
    accepted(&p, 1);
    assert_int_equal(p.features, MIG_FEAT_LZ4);
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put(&enc, 0, 1, false, pages[0]), 0);
    assert_int_equal(mig_ram_run_put_lz4(&enc, 4, 8, block, (uint32_t)clen), 0);
    assert_int_equal(mig_ram_run_put(&enc, 12, 500, true, NULL), 0);
    assert_int_equal(mig_rec_end(&enc), 0);
    sent(&p, MIG_REC_RAM);
    send_enc(&p);
    struct vm *vm = vm_find("vm1");
    uint8_t *r = vm_ram[vm - vms];
    assert_memory_equal(r, pages[0], 4096);
    assert_memory_equal(r + 4 * 4096, src, sizeof(src));
    struct vcpu_state s = vcpu_state_sample();
    assert_int_equal(mig_rec_empty(&enc, MIG_REC_STOP), 0);
    sent(&p, MIG_REC_STOP);
    send_enc(&p);
    fake_now_ns += 250000000;                   /* the stop-and-copy takes 250 ms */
    assert_int_equal(mig_rec_vcpu(&enc, 0, &s), 0);
    sent(&p, MIG_REC_VCPU);
    assert_int_equal(mig_rec_xsave(&enc, 0, xsave, 832), 0);
    sent(&p, MIG_REC_XSAVE);
    assert_int_equal(mig_rec_tsc(&enc, 1000, 2000000), 0);
    sent(&p, MIG_REC_TSC);
    assert_int_equal(mig_rec_empty(&enc, MIG_REC_COMMIT), 0);
    sent(&p, MIG_REC_COMMIT);
    send_enc(&p);
    pump(&p);
    assert_true(got(&p, MIG_REC_COMMIT_ACK));
    assert_int_equal(p.stopped_us, 250000);
    assert_int_equal(vm->state, VM_RUNNING);

    /* A block one page short of its run: the migration is refused (that no run of such a
     * record is applied is mig_ram_parse_lz4's, tests/unit/mig/test_mig_payload.c). */
    struct peer q;
    vm_destroy(vm, NULL, 0);
    accepted(&q, 1);
    clen = compress_block(&st, src, 7 * 4096, block, sizeof(src) - 1);
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put(&enc, 0, 1, false, pages[0]), 0);
    assert_int_equal(mig_ram_run_put_lz4(&enc, 4, 8, block, (uint32_t)clen), 0);
    assert_int_equal(mig_rec_end(&enc), 0);
    sent(&q, MIG_REC_RAM);
    send_enc(&q);
    refused(&q, "RAM record refused (-22)");
}

/* A page sent twice, the second time as a delta: the target rebuilds it from its copy. A
 * delta for a page past the VM's memory is refused; without DELTA taken, so are deltas. */
static void test_delta_pages(void **state)
{
    static uint8_t now[4096], body[2 + 2048];
    struct peer p;
    (void)state;
    hello_features = MIG_FEAT_LZ4 | MIG_FEAT_DELTA;
    accepted(&p, 1);
    assert_int_equal(p.features, MIG_FEAT_LZ4 | MIG_FEAT_DELTA);
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put(&enc, 5, 1, false, pages[1]), 0);
    assert_int_equal(mig_rec_end(&enc), 0);
    sent(&p, MIG_REC_RAM);
    send_enc(&p);
    memcpy(now, pages[1], 4096);
    now[0] ^= 1;
    now[2000] ^= 0xff;
    int d = delta_encode(pages[1], now, body + 2, 2048);
    assert_true(d > 0 && d < 16);
    body[0] = (uint8_t)d;
    body[1] = 0;
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put_delta(&enc, 5, 1, body, 2 + (uint32_t)d), 0);
    assert_int_equal(mig_rec_end(&enc), 0);
    sent(&p, MIG_REC_RAM);
    send_enc(&p);
    struct vm *vm = vm_find("vm1");
    assert_memory_equal(vm_ram[vm - vms] + 5 * 4096, now, 4096);
    /* Past the guest's memory (pages the VM does not have): refused, nothing applied. */
    uint64_t past = vm->gfn_end;
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put_delta(&enc, past, 1, body, 2 + (uint32_t)d), 0);
    assert_int_equal(mig_rec_end(&enc), 0);
    sent(&p, MIG_REC_RAM);
    send_enc(&p);
    refused(&p, "RAM record refused (-22)");
    vm_destroy(vm, NULL, 0);

    struct peer q;
    hello_features = 0;
    accepted(&q, 1);
    assert_int_equal(q.features, 0);
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put_delta(&enc, 5, 1, body, 2 + (uint32_t)d), 0);
    assert_int_equal(mig_rec_end(&enc), 0);
    sent(&q, MIG_REC_RAM);
    send_enc(&q);
    refused(&q, "RAM record refused (-22)");
}

/* Not offered, LZ4 runs are a protocol error. */
static void test_lz4_not_offered(void **state)
{
    static uint8_t block[4096];
    static struct compress_state st;
    struct peer p;
    (void)state;
    accepted(&p, 1);
    assert_int_equal(p.features, 0);
    size_t clen = compress_block(&st, pages[0], 4096, block, 4095);
    assert_true(clen > 0);
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put_lz4(&enc, 4, 1, block, (uint32_t)clen), 0);
    assert_int_equal(mig_rec_end(&enc), 0);
    sent(&p, MIG_REC_RAM);
    send_enc(&p);
    refused(&p, "RAM record refused (-22)");
}

/* The whole conversation a good source has: the VM runs here, acknowledged, its RAM and vCPU
 * state as sent. */
static void test_good_migration(void **state)
{
    struct peer p;
    (void)state;
    accepted(&p, 2);
    ram(&p, 0, 1, false, pages[0]);
    ram(&p, 1, 511, true, NULL);
    struct vcpu_state s = vcpu_state_sample();
    finish(&p, 2, &s);
    assert_true(got(&p, MIG_REC_COMMIT_ACK));
    struct vm *vm = vm_find("vm1");
    assert_non_null(vm);
    assert_int_equal(vm->state, VM_RUNNING);
    assert_int_equal(vm->migration, VM_MIG_NONE);
    assert_true(vm->arrived);
    uint8_t *r = vm_ram[vm - vms];
    assert_memory_equal(r, pages[0], 4096);
    for (size_t i = 4096; i < MEM; i++)
        if (r[i])
            fail_msg("byte 0x%zx is 0x%02x after a zero run", i, r[i]);
    assert_int_equal(vm->vcpus[1].init.lstar, s.lstar);
    assert_int_equal(((uint8_t *)vm->vcpus[1].xsave)[600], 0x42);
}

/* Review item 1: a vCPU state with a value the host's WRMSR would #GP on, or the entry
 * refuse, is refused before COMMIT_ACK; the VM stays the source's. */
static void test_bad_msr_refused(void **state)
{
    struct peer p;
    (void)state;
    const uint64_t bad[] = { 0x0000800000000000ull, 1ull << 32 };
    for (unsigned k = 0; k < 2; k++) {
        accepted(&p, 1);
        struct vcpu_state s = vcpu_state_sample();
        if (k == 0)
            s.lstar = bad[0];
        else
            s.tsc_aux = bad[1];
        finish(&p, 1, &s);
        refused(&p, k == 0 ? "LSTAR" : "TSC_AUX");
    }
}

/* Review item 1: an XSAVE area XRSTOR would #GP on (MXCSR, the header's reserved bytes,
 * XSTATE_BV past the vCPU's components). */
static void test_bad_xsave_refused(void **state)
{
    struct peer p;
    (void)state;
    const char *want[] = { "MXCSR", "header byte", "XSTATE_BV" };
    for (unsigned k = 0; k < 3; k++) {
        good_xsave();
        if (k == 0)
            memset(xsave + 24, 0xff, 4);
        else if (k == 1)
            xsave[540] = 1;
        else
            xsave[512] = 0xff;                  /* MPX and AVX-512 for an AVX vCPU */
        accepted(&p, 1);
        struct vcpu_state s = vcpu_state_sample();
        finish(&p, 1, &s);
        refused(&p, want[k]);
    }
}

/* Review item 5: one record per vCPU exactly, and every vCPU's; an XSAVE only after its
 * vCPU's state. */
static void test_incomplete_or_doubled_vcpus(void **state)
{
    struct peer p;
    struct vcpu_state s = vcpu_state_sample();
    (void)state;
    accepted(&p, 2);
    finish(&p, 1, &s);                          /* vCPU 1 never sent */
    refused(&p, "state of 1 of 2 vCPUs");

    accepted(&p, 2);
    assert_int_equal(mig_rec_empty(&enc, MIG_REC_STOP), 0);
    sent(&p, MIG_REC_STOP);
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(mig_rec_vcpu(&enc, 0, &s), 0);
        sent(&p, MIG_REC_VCPU);
    }
    send_enc(&p);
    refused(&p, "sent twice");

    accepted(&p, 1);
    assert_int_equal(mig_rec_empty(&enc, MIG_REC_STOP), 0);
    sent(&p, MIG_REC_STOP);
    assert_int_equal(mig_rec_xsave(&enc, 0, xsave, 832), 0);
    sent(&p, MIG_REC_XSAVE);
    send_enc(&p);
    refused(&p, "before its state");
}

/* Review item 4: a small record cannot make the target work on the whole guest again and
 * again. Runs must ascend; a zero run only touches pages that may hold data. */
static void test_zero_runs_bounded(void **state)
{
    struct peer p;
    (void)state;
    accepted(&p, 1);
    page_lookups = 0;
    ram(&p, 0, 512, true, NULL);                /* first pass: the skeleton's pages */
    assert_int_equal(page_lookups, 512);
    page_lookups = 0;
    for (unsigned i = 0; i < 100; i++)          /* again and again: nothing left to zero */
        ram(&p, 0, 512, true, NULL);
    assert_int_equal(page_lookups, 0);
    ram(&p, 7, 1, false, pages[1]);             /* data: that page may be zeroed once more */
    page_lookups = 0;
    ram(&p, 0, 512, true, NULL);
    assert_int_equal(page_lookups, 1);
    assert_false(got(&p, MIG_REC_ERROR));
    /* Runs out of order (each covering the guest) in one record: refused. */
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put(&enc, 0, 512, true, NULL), 0);
    assert_int_equal(mig_ram_run_put(&enc, 0, 512, true, NULL), 0);
    assert_int_equal(mig_rec_end(&enc), 0);
    sent(&p, MIG_REC_RAM);
    send_enc(&p);
    refused(&p, "out of order");
}

/* RAM past the guest's memory. */
static void test_ram_out_of_range(void **state)
{
    struct peer p;
    (void)state;
    accepted(&p, 1);
    ram(&p, 511, 2, true, NULL);
    refused(&p, "past the VM's memory");
}

/* Review item 3: silent connections close after the handshake deadline, at most four come
 * from one address, and they do not count against migrate_incoming_max. */
#define PER_PEER 4
static void test_silent_connections(void **state)
{
    static struct peer s[PER_PEER + 1], p;
    (void)state;
    hv_config.migrate_incoming_max = 1;
    for (unsigned i = 0; i <= PER_PEER; i++)
        connect_peer(&s[i], 0x0200000a);
    for (unsigned i = 0; i < PER_PEER; i++)
        assert_non_null(s[i].ctx);
    assert_null(s[PER_PEER].ctx);               /* one more from that address */
    accepted(&p, 1);                            /* another address: a real migration */
    fake_now_ns += 4ull * 1000000000;
    mig_dst_poll();
    for (unsigned i = 0; i < PER_PEER; i++)
        assert_false(s[i].conn.closed);
    fake_now_ns += 2ull * 1000000000;
    mig_dst_poll();
    for (unsigned i = 0; i < PER_PEER; i++)
        assert_true(s[i].conn.closed);          /* no authentication within 5 s */
    assert_false(p.conn.closed);                /* the migration goes on */
    assert_non_null(vm_find("vm1"));
}

/* Review item 3: a source that goes silent (dead host: no FIN, no RST) leaves no skeleton
 * behind; nor does one that authenticates and never sends HELLO. */
static void test_abandoned_migration_freed(void **state)
{
    struct peer p;
    (void)state;
    accepted(&p, 1);
    ram(&p, 0, 1, false, pages[0]);
    fake_now_ns += 29ull * 1000000000;
    pump(&p);
    assert_non_null(vm_find("vm1"));
    fake_now_ns += 2ull * 1000000000;
    pump(&p);
    assert_null(vm_find("vm1"));
    assert_true(p.conn.closed);
    assert_int_equal(fake_frames_out, 0);

    /* A peer that spoke (its TLS key exchange may take seconds on a slow host) has 30 s to
     * authenticate and send HELLO, not the 5 s of a silent one. */
    handshake(&p, 0x0100000a);
    fake_now_ns += 6ull * 1000000000;
    pump(&p);
    assert_false(p.conn.closed);
    fake_now_ns += 25ull * 1000000000;
    pump(&p);
    assert_true(p.conn.closed);
}

/* `migrate cancel VM` on the target ends an incoming migration: ERROR, nothing kept. */
static void test_cancel_on_target(void **state)
{
    struct peer p;
    (void)state;
    accepted(&p, 1);
    assert_int_equal(mig_dst_cancel(vm_find("vm1")), 0);
    refused(&p, "cancelled on the target");
}

/* Only a VM that starts is acknowledged: a start that fails is an ERROR to the source. */
static void test_start_failure_not_acknowledged(void **state)
{
    struct peer p;
    struct vcpu_state s = vcpu_state_sample();
    (void)state;
    accepted(&p, 1);
    start_fails = 1;
    finish(&p, 1, &s);
    refused(&p, "no vCPU could be placed");
}

/* A local disk (storage=copy): every block must arrive before COMMIT; runs stay in the
 * disk and ascend. */
static void test_local_disk_blocks(void **state)
{
    struct peer p;
    struct mig_hello h;
    struct vcpu_state s = vcpu_state_sample();
    (void)state;
    for (unsigned k = 0; k < 2; k++) {
        handshake(&p, 0x0100000a);
        int n = cpu_policy_serialize(&host_policy, policy_blob, sizeof(policy_blob));
        memset(&h, 0, sizeof(h));
        h.version = MIG_STREAM_VERSION;
        h.streams = 1;
        h.vcpus = 1;
        h.mem_bytes = MEM;
        strcpy(h.name, "vm1");
        h.policy = policy_blob;
        h.policy_len = (uint32_t)n;
        h.ndisks = 1;
        h.disks[0].kind = MIG_DISK_LOCAL;
        h.disks[0].sectors = 64;                /* 8 blocks */
        strcpy(h.disks[0].loc, "disk.img");
        assert_int_equal(mig_rec_hello(&enc, &h), 0);
        sent(&p, MIG_REC_HELLO);
        send_enc(&p);
        assert_true(got(&p, MIG_REC_ACCEPT));
        struct vm *vm = vm_find("vm1");
        assert_int_equal(vm->disk_pages, 8);
        assert_int_equal(mig_rec_disk_begin(&enc, 0), 0);
        assert_int_equal(mig_ram_run_put(&enc, 0, 1, false, pages[1]), 0);
        assert_int_equal(mig_ram_run_put(&enc, 1, k ? 7 : 6, true, NULL), 0);
        assert_int_equal(mig_rec_end(&enc), 0);
        sent(&p, MIG_REC_DISK);
        send_enc(&p);
        finish(&p, 1, &s);
        if (k == 0) {
            refused(&p, "7 of the disk's 8 blocks received");
            continue;
        }
        assert_true(got(&p, MIG_REC_COMMIT_ACK));
        assert_memory_equal(phys_to_virt(vm->disk_hpa), pages[1], 4096);
    }
    teardown(NULL);
    /* A run past the disk's end. */
    handshake(&p, 0x0100000a);
    hello(&p, 1, &h);
    assert_int_equal(mig_rec_disk_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put(&enc, 0, 1, true, NULL), 0);
    assert_int_equal(mig_rec_end(&enc), 0);
    sent(&p, MIG_REC_DISK);
    send_enc(&p);
    refused(&p, "did not name as local");
}

/* ==== several streams ==== */

/* Another connection from addr that asks to be stream k of the migration with token tok. */
static void join(struct peer *l, uint32_t addr, const uint8_t *tok, uint16_t k)
{
    connect_peer(l, addr);
    assert_non_null(l->ctx);
    mig_enc_init(&enc, rec, sizeof(rec));
    assert_int_equal(mig_stream_header_put(&enc), 0);
    assert_int_equal(mig_rec_join(&enc, tok, k), 0);
    sent(l, MIG_REC_JOIN);
    send_enc(l);
}

static void stream_end(struct peer *l, uint32_t pass, uint64_t pages)
{
    assert_int_equal(mig_rec_stream_end(&enc, pass, pages), 0);
    sent(l, MIG_REC_STREAM_END);
    send_enc(l);
}

/* The first stream's ROUND_END: the stop-and-copy is at this pass. */
static void round_end(struct peer *p, uint32_t pass, uint64_t pages)
{
    assert_int_equal(mig_rec_round_end(&enc, pass, pages), 0);
    sent(p, MIG_REC_ROUND_END);
    send_enc(p);
}

/* streams=2 on a 4 MiB guest: a second connection joins with ACCEPT's token (a stranger's
 * token, another host's address, a second stream 1 are turned away without harm) and carries
 * the second 2 MiB chunk. COMMIT waits for its STREAM_END, and pages it brought after the
 * first stream's COMMIT are in the VM that starts. */
static void test_streams_join_and_commit(void **state)
{
    static struct peer p, l, bad;
    uint8_t wrong[MIG_JOIN_TOKEN];
    (void)state;
    hello_streams = 2;
    hello_mem = 4u << 20;
    accepted(&p, 1);
    assert_int_equal(p.streams, 2);
    memcpy(wrong, p.token, sizeof(wrong));
    wrong[5] ^= 1;
    join(&bad, 0x0100000a, wrong, 1);
    assert_true(bad.conn.closed);
    join(&bad, 0x0200000a, p.token, 1);         /* the token, from another host */
    assert_true(bad.conn.closed);
    join(&bad, 0x0100000a, p.token, 2);         /* a stream it was not granted */
    assert_true(bad.conn.closed);
    join(&l, 0x0100000a, p.token, 1);
    assert_false(l.conn.closed);
    join(&bad, 0x0100000a, p.token, 1);         /* stream 1 again */
    assert_true(bad.conn.closed);
    ram(&p, 0, 1, false, pages[0]);             /* chunk 0: the first stream's */
    ram(&l, 512, 1, false, pages[1]);           /* chunk 1: stream 1's */
    l.pass = 1;
    ram(&l, 513, 1, false, pages[0]);
    struct vcpu_state s = vcpu_state_sample();
    round_end(&p, 1, 4);                        /* the stop, at pass 1 */
    finish(&p, 1, &s);
    assert_false(got(&p, MIG_REC_COMMIT_ACK));  /* stream 1 has not ended */
    struct vm *vm = vm_find("vm1");
    assert_non_null(vm);
    assert_int_not_equal(vm->state, VM_RUNNING);
    ram(&l, 514, 1, false, pages[1]);
    stream_end(&l, 1, 3);
    pump(&p);
    assert_true(got(&p, MIG_REC_COMMIT_ACK));
    assert_int_equal(vm->state, VM_RUNNING);
    uint8_t *r = vm_ram[vm - vms];
    assert_memory_equal(r, pages[0], 4096);
    assert_memory_equal(r + 512 * 4096, pages[1], 4096);
    assert_memory_equal(r + 513 * 4096, pages[0], 4096);
    assert_memory_equal(r + 514 * 4096, pages[1], 4096);
}

/* From one address: four connections that are not streams of a migration, and one more for
 * each stream its migrations were granted that has not joined yet. */
static void test_streams_room_per_address(void **state)
{
    static struct peer p, s[6];
    (void)state;
    hello_streams = 3;
    hello_mem = 6u << 20;
    accepted(&p, 1);                            /* 1 of 4, and 2 streams to come */
    for (unsigned i = 0; i < 5; i++)
        connect_peer(&s[i], 0x0100000a);
    for (unsigned i = 0; i < 5; i++)
        assert_non_null(s[i].ctx);
    connect_peer(&s[5], 0x0100000a);
    assert_null(s[5].ctx);
    /* s[0] joins as stream 1: it no longer counts, and neither does the room it took. */
    mig_enc_init(&enc, rec, sizeof(rec));
    assert_int_equal(mig_stream_header_put(&enc), 0);
    assert_int_equal(mig_rec_join(&enc, p.token, 1), 0);
    sent(&s[0], MIG_REC_JOIN);
    send_enc(&s[0]);
    assert_false(s[0].conn.closed);
    connect_peer(&s[5], 0x0100000a);
    assert_null(s[5].ctx);
    connect_peer(&s[5], 0x0200000a);            /* another host has its own four */
    assert_non_null(s[5].ctx);
}

/* Streams are granted as far as free slots allow (MIG_DST_PER_PEER left for others), and the
 * slots of granted streams are kept: other hosts cannot take them, and the streams join. */
static void test_streams_granted_as_slots_allow(void **state)
{
    static struct peer p, l[3], other[29];
    (void)state;
    for (unsigned i = 0; i < 24; i++)           /* six other hosts, four connections each */
        connect_peer(&other[i], 0x0a + ((2u + i / 4) << 24));
    hello_streams = 8;
    hello_mem = 16u << 20;
    accepted(&p, 1);                            /* 7 slots free: 3 more streams, 4 left */
    assert_int_equal(p.streams, 4);
    for (unsigned i = 24; i < 28; i++) {        /* a seventh host takes the 4 left */
        connect_peer(&other[i], 0x0a + (8u << 24));
        assert_non_null(other[i].ctx);
    }
    connect_peer(&other[28], 0x0a + (9u << 24));  /* the 3 free slots are the streams' */
    assert_null(other[28].ctx);
    for (uint16_t k = 1; k < 4; k++) {
        join(&l[k - 1], 0x0100000a, p.token, k);
        assert_false(l[k - 1].conn.closed);
    }
}

/* A stream that misbehaves fails the whole migration, with the reason on the first stream,
 * and leaves nothing behind: pages of a chunk it does not own (or a run across two chunks),
 * a pass that goes back, an end that miscounts, a connection lost before its end, an end
 * before the stop (found with COMMIT). */
static void test_stream_misbehaves(void **state)
{
    static struct peer p, l;
    static const char *const want[] = {
        "does not own", "does not own them all", "after pass 3", "ended at pass",
        "stream 1: closed before its end", "stream 1 ended at pass 0; the stop was at pass 1",
    };
    (void)state;
    for (unsigned c = 0; c < sizeof(want) / sizeof(want[0]); c++) {
        hello_streams = 2;
        hello_mem = 4u << 20;
        accepted(&p, 1);
        join(&l, 0x0100000a, p.token, 1);
        switch (c) {
        case 0: ram(&l, 0, 1, false, pages[0]); break;
        case 1: ram(&p, 511, 2, true, NULL); break;
        case 2:
            l.pass = 3;
            ram(&l, 512, 1, false, pages[0]);
            l.pass = 2;
            ram(&l, 513, 1, false, pages[0]);
            break;
        case 3:
            ram(&l, 512, 2, true, NULL);
            stream_end(&l, 0, 5);
            break;
        case 4:
            l.conn.closed = true;
            l.ops->closed(l.ctx, -ECONNRESET);
            break;
        default: {                              /* it ended before the stop */
            struct vcpu_state s = vcpu_state_sample();
            ram(&l, 512, 1, false, pages[0]);
            stream_end(&l, 0, 1);
            round_end(&p, 1, 2);
            finish(&p, 1, &s);
            break;
        }
        }
        pump(&p);
        refused(&p, want[c]);
        assert_true(l.conn.closed);
    }
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_good_migration),
        T(test_lz4_pages),
        T(test_lz4_not_offered),
        T(test_delta_pages),
        T(test_bad_msr_refused),
        T(test_bad_xsave_refused),
        T(test_incomplete_or_doubled_vcpus),
        T(test_zero_runs_bounded),
        T(test_ram_out_of_range),
        T(test_silent_connections),
        T(test_abandoned_migration_freed),
        T(test_cancel_on_target),
        T(test_start_failure_not_acknowledged),
        T(test_local_disk_blocks),
        T(test_streams_join_and_commit),
        T(test_stream_misbehaves),
        T(test_streams_room_per_address),
        T(test_streams_granted_as_slots_allow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
