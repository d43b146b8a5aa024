// libFuzzer target: the migration source (hv/mig/mig_src.c, started and polled through
// hv/mig/mig.c) facing a hostile target, and the query client (hv/mig/mig_query.c) facing a
// hostile host. Below them, the fake transport and VM of tests/unit/mig/fake_mig_src.c; the
// other end of each connection is tests/fuzz/fuzz_mig_peer.c.
//
// Build (make fuzz does) and run from the repository root:
//   make build/fuzz_mig_src && build/fuzz_mig_src -max_total_time=60 -max_len=4096
//
// Byte 0 picks the mode. Migration (byte 0 < 0xe0): bytes 0-5 configure a VM of one or two
// vCPUs and 2 MiB (maybe 1 MiB more past the hole at 4 GiB, a 2 MiB local disk that moves
// with it or a disk on shared storage, a device, a NIC) and its migration (dirty mode,
// bandwidth limit, auto-converge, downtime, an old stream header, `migrate inject hold-final`,
// no key, no connection, no slot, two or three streams: byte 0 bit 7, byte 5 bit 7);
// mig_start() starts it (or must refuse with nothing left behind) and its connection comes
// up at once (or when the input says; so do further streams, oldest first). The
// test is the target: it answers each AUTH_CHALLENGE with the real handshake
// (hv/mig/mig_auth.c) unless the connection's mode says otherwise (a bad MAC, another version,
// bad magic, the source's own nonce, ERROR, silence, a byte at a time). The rest of the input
// is a list of operations: a target record made by the stream encoder (ACCEPT, REFUSE, ERROR,
// COMMIT_ACK, QUERY_REPLY of any kind and status, AUTH_*, the source's own types, unknown
// types; all well framed with a good CRC), raw bytes, bytes acknowledged, time passing (the
// stall, drain, retry and resolve timeouts fire), the connection closed with or without an
// error, a pending connection coming up (the reconnects that resolve a lost COMMIT_ACK), the
// guest writing pages or disk blocks, failures below (pause, vCPU save, dirty logging, disk
// log, connect, busy devices, a small send window), the operator's status, start and cancel.
// After each, mig_poll() and the target reads what the source wrote. Then the network goes
// silent and simulated minutes pass.
//
// Query (byte 0 >= 0xe0): bytes 1-3 pick the kind, the argument, the reply buffer's size
// (malloc'd to the byte: ASan sees a write past it) and the timeout; mig_query() runs, and
// each time it waits in net_service() the next operation is the host's move (come up with a
// handshake mode, a QUERY_REPLY of any kind, status and size, whole or cut, any other record,
// raw bytes, a close, time, a small window). Once the input is used up, silence until it times
// out.
//
// Checks, beyond the sanitizers and the fakes' own (no use of a closed connection or of a
// destroyed VM, no pause of a paused VM or resume of a running one, no destroy with logging on):
// - the VM is destroyed only after the source took a COMMIT_ACK on the migration's connection
//   or a QUERY_REPLY MIGRATION RUNNING on a connection that asked about this migration;
// - once a whole COMMIT and every further stream's STREAM_END went to the transport (the target
//   may have committed), the guest resumes here only if the target gave it back (REFUSE or
//   ERROR on that connection, or QUERY_REPLY UNKNOWN); a failure before that leaves the guest
//   as it was before the migration: resumed if the source paused it;
// - with several streams, each further one opens with JOIN and ACCEPT's token once ACCEPT
//   granted it, carries only RAM of the chunks it owns (passes never going back) and ends with
//   a STREAM_END counting its pages, after the stop; the target's RAM is compared once COMMIT
//   came and every stream ended. Target records go to the migration's own connection (raw
//   bytes and closes may hit a further stream);
// - the source answers only a target that proved the key, sends HELLO only on its first
//   connection and QUERY only on later ones, naming the first connection's nonce; what it
//   writes is well framed and decodes (while the target kept the order), each record parses;
//   when COMMIT goes the guest is paused, every vCPU's state and XSAVE area (cut to its XCR0),
//   the device and the TSC were sent, and the target's RAM and disk equal the source's;
// - after enough simulated time no migration remains, every connection is closed, the
//   source's frames are freed, dirty and disk logging are off and the throttle is 0;
// - mig_query returns 0 only after a host that proved the key answered, with that reply's
//   status and data (never more than cap bytes), else one of its documented errors with a
//   reason (-ENOSPC only for a reply larger than cap), and its connection is closed.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_cpuid.h"
#include "fake_env.h"
#include "hv/base/config.h"
#include "hv/base/mem.h"
#include "hv/cpu/cpu_policy.h"
#include "hv/mig/mig_int.h"
#include "hv/mig/mig_query.h"
#include "tests/fuzz/fuzz_mig_src.h"

const uint8_t *in;
size_t in_len, in_off;
struct fuzz_run run;
struct fuzz_query qs;
static bool report;

/* ---- operations of both modes ---- */

static void op_connect(void)
{
    struct mig_conn *c = NULL;
    uint8_t b = u8();
    for (unsigned i = 0; i < fake_nconns && !c; i++)     /* the oldest still coming up */
        if (!fake_conns[i]->dead && !fake_conns[i]->up)
            c = fake_conns[i];
    if (!c)
        return;
    peers[c->id].mode = b < 128 ? HS_OK : (uint8_t)((b - 128) % HS_COUNT);
    fake_conn_connected(c);
}

static void op_close(void)
{
    static const int errs[] = { 0, -ECONNRESET, -EACCES, -EPROTO, -ETIMEDOUT };
    uint8_t b = u8();
    struct mig_conn *c = b & 0x80 ? newest_live() : newest_main();
    if (c)
        fake_conn_drop(c, errs[b % (sizeof(errs) / sizeof(errs[0]))]);
}

static void op_time(void)
{
    uint8_t b = u8();
    fake_now_ns += b < 100 ? b * 10 * MS : b < 200 ? (b - 100) * SEC : (b - 200) * 100 * MS;
}

static void op_raw(void)
{
    struct mig_conn *c = newest_live();
    uint8_t buf[64];
    size_t n = u8() % sizeof(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = u8();
    if (c && c->up)
        peer_raw(c, buf, n);
}

static void op_record(void)
{
    struct mig_conn *c = newest_main();
    if (c && c->up)
        peer_record(c);
    else
        in_off += 4;                    /* keep the rest of the input meaning much the same */
}

/* ---- migration mode ---- */

/* The target may have committed: a whole COMMIT and every further stream's STREAM_END went. */
static bool could_commit(void)
{
    return run.commit_sent && run.lanes_ended + 1 >= run.streams;
}

static void check_step(void)
{
    CHECK(!fake_destroys || run.allowed);
    if (fake_resumes != run.resumes) {
        CHECK(!could_commit() || run.gave_back);
        run.resumes = fake_resumes;
    }
}

/* The source's turn, then the target reads; again while the target answered something. */
static void step(void)
{
    for (unsigned i = 0; i < 4; i++) {
        unsigned d = deliveries;
        mig_poll();
        peer_read_all();
        check_step();
        if (d == deliveries)
            break;
    }
}

/* The guest (while it runs) writes v into bytes [at, at + len) of pages [i, i + n) of its
 * RAM (a few bytes or whole pages: sent again, as deltas or whole), logged if logging is on. */
static void guest_pages(void)
{
    uint64_t pages = run.ram_bytes / PAGE_SIZE, i = (uint64_t)(u8() | u8() << 8) % pages;
    uint64_t n = 1 + u8() % 128;
    uint8_t v = u8(), shape = u8();
    size_t at = shape & 0x80 ? (size_t)(shape & 0x7f) * 32 : 0;
    size_t len = shape & 0x80 ? 1 + (size_t)u8() * 4 : PAGE_SIZE;
    if (len > PAGE_SIZE - at)
        len = PAGE_SIZE - at;
    for (; n && i < pages && fake_vm.state == VM_RUNNING; n--, i++) {
        uint64_t gfn = i < LOW_PAGES ? i : (VM_HIGH_RAM >> 12) + i - LOW_PAGES;
        memset(fake_ram + i * PAGE_SIZE + at, v, len);
        if (fake_vm.dirty_on)
            fake_dirty[gfn / 64] |= 1ull << (gfn % 64);
    }
}

/* ...or blocks [b, b + n) of its local disk (the disk's write log is virtio-blk's, atomic). */
static void guest_disk(void)
{
    uint64_t b = u8() * 2u % DISK_BLOCKS, n = 1 + u8();
    uint8_t v = u8();
    for (; n && b < DISK_BLOCKS && fake_vm.state == VM_RUNNING && fake_vm.disk_pages; n--, b++) {
        memset(run.disk + b * MIG_DISK_BLOCK, v, MIG_DISK_BLOCK);
        if (fake_disk_log)
            __atomic_or_fetch(&fake_disk_log[b / 64], 1ull << (b % 64), __ATOMIC_RELEASE);
    }
}

static void op_faults(void)
{
    uint8_t b = u8();
    struct mig_conn *c = newest_live();
    fake_dev_busy = b & 1;
    fake_pause_fails = b & 2;
    fake_save_fails = b & 4;
    fake_dirty_fails = b & 8;
    fake_disk_log_fails = b & 16;
    fake_connect_fails = b & 32;
    if (b & 64)
        fake_window = (size_t)(u8() + 1) * 64;
    if (b & 128)
        fake_window = 1 << 20;
    if (c)
        c->window = fake_window;
}

static void status_line(void *ctx, const char *line)
{
    (void)ctx;
    CHECK(strlen(line) < 320);
}

/* The operator: status lines, a second start of the VM's migration, a cancel. */
static void op_operator(void)
{
    struct mig_opts o = { .port = MIG_PORT, .storage_copy = true };
    char buf[200];
    uint8_t b = u8() % 3;
    if (b == 0) {
        mig_status(status_line, NULL);
        mig_progress(buf, sizeof(buf));
        while (mig_message(buf, sizeof(buf)))
            ;
    } else if (b == 1 && fake_vm.migration == VM_MIG_OUT) {
        CHECK(mig_start(&fake_vm, 0x0400000a, &o, buf, sizeof(buf)) == -EBUSY);
    } else if (b == 2 && fake_vm.state != VM_EMPTY && mig_cancel(&fake_vm) == 0) {
        CHECK(fake_vm.migration == VM_MIG_NONE && fake_vm.state == run.initial);
    }
}

static void op_ack(void)
{
    struct mig_conn *c = newest_main();
    uint8_t b = u8();
    if (c)
        fake_conn_ack(c, b < 128 ? b : (size_t)(b - 127) * 512);
}

static void migration_op(void)
{
    switch (u8() % 12) {
    case 0: case 1: op_record(); break;
    case 2: op_ack(); break;
    case 3: op_time(); break;
    case 4: op_close(); break;
    case 5: op_connect(); break;
    case 6: guest_pages(); break;
    case 7: guest_disk(); break;
    case 8: op_raw(); break;
    case 9: op_faults(); break;
    case 10: op_operator(); break;
    default:
        for (unsigned i = 0; i < fake_nconns; i++)      /* everything arrived, everywhere */
            if (!fake_conns[i]->dead)
                fake_conn_ack(fake_conns[i], SIZE_MAX);
        break;
    }
}

/* ---- setting up ---- */

static struct cpu_policy policy;
static void *xsave[2];
static struct device *devs[1] = { &fake_device };

static void init_once(void)
{
    static bool ready;
    size_t ram = (LOW_PAGES + HIGH_PAGES) * PAGE_SIZE;
    if (ready)
        return;
    struct fake_host h = { .t = intel_avx512_host, .n = intel_avx512_host_len };
    CHECK(cpu_policy_from_host(&policy, fake_cpuid, &h) == 0);
    fake_ram = aligned_alloc(PAGE_SIZE, ram);
    fake_dirty = calloc(((VM_HIGH_RAM >> 12) + HIGH_PAGES) / 64 + 1, 8);
    run.t_ram = malloc(ram);
    run.disk = aligned_alloc(PAGE_SIZE, DISK_BLOCKS * MIG_DISK_BLOCK);
    run.t_disk = malloc(DISK_BLOCKS * MIG_DISK_BLOCK);
    for (unsigned i = 0; i < 2; i++)
        xsave[i] = aligned_alloc(64, 4096);
    CHECK(fake_ram && fake_dirty && run.t_ram && run.disk && run.t_disk && xsave[0] && xsave[1]);
    ready = true;
}

static void reset(void)
{
    uint8_t *t_ram = run.t_ram, *t_disk = run.t_disk, *disk = run.disk;
    config_defaults(&hv_config);
    strcpy(hv_config.cluster_key, KEY);
    fake_now_ns = 1000 * SEC;
    fake_pause_fails = fake_save_fails = fake_dirty_fails = fake_disk_log_fails = false;
    fake_dev_busy = fake_connect_fails = false;
    fake_window = 1 << 20;
    fake_net_service = NULL;
    fake_pauses = fake_resumes = fake_destroys = 0;
    fake_disk_log = NULL;
    peer_reset();
    memset(&run, 0, sizeof(run));
    run.t_ram = t_ram, run.t_disk = t_disk, run.disk = disk;
    memset(&qs, 0, sizeof(qs));
}

/* Config bytes 0, 1 and 4 (see the top): the VM and the RAM, disk and copies. */
static void setup_vm(uint8_t b0, uint8_t b1, uint8_t b4)
{
    struct vm *vm = &fake_vm;
    bool hole = (b0 & 2) && (b4 & 2);           /* slow (a gigabyte-wide bitmap): rarer */
    memset(vm, 0, sizeof(*vm));
    strcpy(vm->name, "vm1");
    vm->state = b1 & 16 ? VM_PAUSED : b1 & 128 ? VM_CREATED : VM_RUNNING;
    vm->nvcpus = 1 + (b0 & 1);
    vm->low_end = LOW_PAGES * PAGE_SIZE;
    vm->mem_size = (LOW_PAGES + (hole ? HIGH_PAGES : 0)) * PAGE_SIZE;
    vm->gfn_end = hole ? (VM_HIGH_RAM >> 12) + HIGH_PAGES : LOW_PAGES;
    vm->policy = policy;
    for (unsigned k = 0; k < vm->nvcpus; k++) {
        vm->vcpus[k].vm = vm;
        vm->vcpus[k].index = k;
        vm->vcpus[k].xcr0 = b4 & 1 ? 0xe7 : 1;
        vm->vcpus[k].xsave = xsave[k];
        memset(xsave[k], 0x3c, 4096);           /* XSTATE_BV names components past XCR0 */
    }
    if (b0 & 4) {
        vm->disk_pages = DISK_BLOCKS;
        vm->disk_hpa = virt_to_phys(run.disk);
        vm->disk_sectors = DISK_BLOCKS * (MIG_DISK_BLOCK / 512);
        strcpy(vm->disk, "disk.img");
    }
    if (b0 & 16) {
        vm->devs.devs = devs;
        vm->devs.ndevs = 1;
    }
    if ((b4 & 4) && !vm->disk_pages) {          /* on shared storage: HELLO names it */
        vm->disk_net = &vm->disk_net;
        vm->disk_sectors = 1 << 20;
        strcpy(vm->disk, "nbd://10.0.0.9/vm1");
    }
    if (b4 & 8) {
        vm->nnics = 1;
        strcpy(vm->nics[0].sw, "lan");
        memcpy(vm->nics[0].mac, "\x52\x54\x00\x12\x34\x56", 6);
    }
    run.initial = vm->state;
    run.ram_bytes = vm->mem_size;
    run.disk_bytes = DISK_BLOCKS * MIG_DISK_BLOCK;
    memset(fake_ram, 0, run.ram_bytes);
    for (uint64_t i = 0; i < run.ram_bytes / PAGE_SIZE; i += 61)
        memset(fake_ram + i * PAGE_SIZE, (int)(i | 1), PAGE_SIZE);
    memset(run.disk, 0, run.disk_bytes);
    memset(run.disk + 5 * MIG_DISK_BLOCK, 0x77, 3 * MIG_DISK_BLOCK);
    memset(run.t_ram, 0xee, run.ram_bytes);     /* a skeleton's memory is not known to be zero */
    memset(run.t_disk, 0xee, run.disk_bytes);
}

static bool migrating(void)
{
    struct mig_src_info info;
    for (unsigned i = 0; i < MIGRATE_SLOTS; i++)
        if (!mig_src_info(i, &info))
            return true;
    return false;
}

/* After the input, the network goes silent and minutes pass: everything must have ended. */
static void finish_run(void)
{
    for (unsigned i = 0; i < 400 && migrating(); i++) {
        fake_now_ns += SEC / 2;
        step();
    }
    mig_poll();                                 /* an ended migration is freed here */
    CHECK(!migrating());
    /* FUZZ_MIG_SRC_REPORT=1: the source's result lines (make fuzz checks its seeds' with it). */
    char msg[MIG_MESSAGE_MAX];
    while (mig_message(msg, sizeof(msg)))
        if (report)
            fprintf(stderr, "%s\n", msg);
    CHECK(fake_frames_out == 0);
    CHECK(fake_conns_reset());                  /* every connection was closed */
    if (!fake_destroys) {
        CHECK(fake_vm.migration == VM_MIG_NONE && !fake_vm.dirty_on && !fake_disk_log);
        CHECK(fake_vm.throttle_pct == 0);
        CHECK(could_commit() || fake_vm.state == run.initial);
    }
}

static void migration_mode(void)
{
    uint8_t b0 = u8(), b1 = u8(), b2 = u8(), b3 = u8(), b4 = u8(), b5 = u8();
    char err[160] = "";
    struct mig_opts o = {
        .downtime_ms = b2 * 4u, .bandwidth_mbps = b1 & 4 ? 1 + (b4 >> 4) : 0,
        .throttle_max = b1 & 8 ? 90 : 0, .port = MIG_PORT, .dirty_mode = b1 & 3,
        .storage_copy = !(b0 & 8), .no_delta = b0 & 32, .compress = b0 & 64 ? MIG_COMPRESS_OFF
                                                                          : MIG_COMPRESS_AUTO,
        .streams = b0 & 128 ? (b5 & 128 ? 3 : 2) : 1,
    };
    run.streams_asked = o.streams;
    run.streams = 1;
    setup_vm(b0, b1, b4);
    run.disk_copy = fake_vm.disk_pages && o.storage_copy;
    run.old_stream = b1 & 32;
    if (b1 & 64)
        strcpy(hv_config.cluster_key, "short");
    if (b5 % 32 && b5 % 32 <= MIG_HOLD_MAX_S)
        mig_inject(MIGRATE_FAULT_HOLD_FINAL, b5 % 32);     /* `migrate inject hold-final` */
    if (b5 & 64)
        hv_config.migrate_outgoing_max = 0;
    fake_connect_fails = b5 & 32;
    int rc = mig_start(&fake_vm, 0x0200000a, &o, err, sizeof(err));
    mig_src_inject_hold(0);                     /* not left armed for the next run */
    fake_connect_fails = false;
    if (rc) {
        CHECK(rc < 0 && err[0] && fake_vm.migration == VM_MIG_NONE);
        CHECK(fake_nconns == 0 && fake_frames_out == 0);
        return;
    }
    CHECK(fake_nconns == 1 && fake_vm.migration == VM_MIG_OUT);
    peers[0].mode = b3 < 160 ? HS_OK : (uint8_t)((b3 - 160) % HS_COUNT);
    if (b3 < 0xf8) {                            /* else it comes up when the input says */
        if (run.old_stream)
            mig_inject(MIGRATE_FAULT_OLD_STREAM, 0);    /* src_connected takes it at once */
        fake_conn_connected(fake_conns[0]);
    } else {
        run.old_stream = false;
    }
    step();
    while (more()) {
        migration_op();
        step();
    }
    finish_run();
}

/* ---- query mode ---- */

/* net_service() while mig_query waits: the host reads what came, then makes its next move. */
static void query_service(void)
{
    struct mig_conn *c = fake_nconns ? fake_conns[0] : NULL;
    peer_read_all();
    qs.last_reply = false;
    if (!more()) {
        fake_now_ns += 100 * MS;                /* silence */
        return;
    }
    switch (u8() % 8) {
    case 0: op_connect(); break;
    case 1: case 2: op_record(); break;
    case 3: op_raw(); break;
    case 4: op_close(); break;
    case 5: op_time(); break;
    case 6:                                     /* a reply cut short */
        if (c && !c->dead && c->up)
            peer_reply_cut(c);
        break;
    default:                                    /* a send window of a few bytes */
        if (c && !c->dead)
            c->window = 1 + u8() % 64;
        break;
    }
}

static void query_mode(void)
{
    uint8_t b1 = u8(), b2 = u8(), b3 = u8();
    size_t cap = b1 < 200 ? (size_t)b1 * 21 : MIG_QUERY_DATA_MAX - 40 + (b1 - 200);
    uint32_t timeout_ms = 200 + b3 * 40u, status = 0xdead;
    size_t n = 0xdead;
    char err[120];
    run.query_mode = true;
    qs.kind = b2 & 1 ? MIG_QUERY_CPU : MIG_QUERY_MIGRATION;
    qs.argn = (b2 >> 1) % (MIG_QUERY_ARG_MAX + 1);
    for (size_t i = 0; i < qs.argn; i++)
        qs.arg[i] = (uint8_t)(i * 13 + b2);
    if (b2 >= 0xfe)
        strcpy(hv_config.cluster_key, "short");
    fake_connect_fails = b3 == 0xff;
    uint8_t *data = malloc(cap);                /* to the byte: ASan sees a write past cap */
    CHECK(data);
    memset(err, 'x', sizeof(err));
    fake_net_service = query_service;
    uint64_t t0 = fake_now_ns;
    int rc = mig_query(0x0300000a, MIG_PORT, qs.kind, qs.argn ? qs.arg : NULL, qs.argn, &status,
                       data, cap, &n, timeout_ms, err, sizeof(err));
    fake_net_service = NULL;
    CHECK(rc == 0 || rc == -EACCES || rc == -ETIMEDOUT || rc == -ECONNREFUSED || rc == -EPROTO ||
          rc == -ENOSPC || rc == -ENOMEM);    /* hv/mig/mig_query.h's */
    if (rc == 0) {
        /* An answer from a host that proved the key, as it gave it. */
        CHECK(fake_nconns == 1 && peers[0].answered);
        CHECK(peers[0].mode == HS_OK || peers[0].mode == HS_BYTES);
        CHECK(qs.last_reply && qs.kind_got == qs.kind && status == qs.status);
        CHECK(n == qs.n && n <= cap && !memcmp(data, qs.data, n));
    } else {
        CHECK(memchr(err, 0, sizeof(err)) && err[0]);     /* a reason */
        CHECK(rc != -ENOSPC || (qs.last_reply && qs.n > cap));
        CHECK(rc != -ETIMEDOUT || fake_now_ns - t0 > timeout_ms * MS);
    }
    free(data);
    CHECK(fake_conns_reset());                  /* its connection was closed */
    CHECK(!migrating() && fake_frames_out == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    report = getenv("FUZZ_MIG_SRC_REPORT") != NULL;
    init_once();
    reset();
    in = data, in_len = size, in_off = 0;
    if (size < 1)
        return 0;
    if (data[0] >= 0xe0) {
        in_off = 1;
        query_mode();
    } else {
        migration_mode();
    }
    return 0;
}
