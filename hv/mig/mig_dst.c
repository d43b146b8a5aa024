/* The target side of a live migration (see hv/mig/mig.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/fpu.h"
#include "hv/base/config.h"
#include "hv/cpu/cpu_baseline.h"
#include "hv/cpu/cpu_policy_codec.h"
#include "hv/base/log.h"
#include "hv/base/time.h"
#include "hv/base/mem.h"
#include "hv/mig/mig_auth.h"
#include "hv/dev/machine.h"
#include "hv/mig/mig_devices.h"
#include "hv/mig/mig_stream.h"
#include "hv/mig/mig_int.h"
#include "hv/vm/intr.h"
#include "hv/vm/msr.h"
#include "hv/vm/vcpu_ops.h"
#include "hv/vm/vmctl.h"
#include "net/vswitch.h"

/* D_JOINED: another stream of a migration (it opened with JOIN); the migration itself is the
 * D_STREAM connection its `main` points to. */
enum dst_state { D_IDLE, D_AUTH, D_HELLO, D_STREAM, D_JOINED, D_DONE };

struct dst_mig {
    enum dst_state st;
    struct mig_conn *conn;
    struct mig_auth auth;
    struct mig_decoder dec;
    struct mig_enc enc;
    uint8_t out[MIG_QUERY_DATA_MAX + 512];   /* a QUERY_REPLY with a CPU policy fits */
    size_t out_len, out_off;
    struct vm *vm;
    char name[VM_NAME_MAX];
    unsigned vcpus_got;             /* distinct vCPUs whose state arrived (vcpu_seen) */
    uint64_t vcpu_seen[(MIG_MAX_VCPUS + 63) / 64];
    bool commit, failed;
    unsigned hold_s;                /* `migrate inject hold-commit` armed when it was accepted */
    uint64_t hold_until;            /* ...: the commit waits till then */
    uint64_t out_hold_until;        /* `migrate inject hold-accept`: nothing sent till then */
    uint64_t bytes, pages;
    uint32_t round;
    char why[120];                  /* why a record was refused: sent back in ERROR */
    uint8_t src_nonce[MIG_AUTH_NONCE_SIZE];   /* the migration's identity (its QUERY arg) */
    bool query;                     /* a query, not a migration: reply and end */
    uint32_t peer;                  /* the source's address (network order) */
    uint64_t t_start, last_rx;      /* accepted; last bytes received (deadlines) */
    uint64_t t_stop_rx;             /* STOP arrived: the guest stopped (for COMMIT_ACK) */
    uint16_t features;              /* MIG_FEAT_* taken in ACCEPT */
    uint8_t *unpack;                /* LZ4, DELTA: a record's rebuilt pages (frames) */
    /*
     * Bounded work: within a RAM or DISK record, runs ascend without overlapping (the *_next
     * fields); a zero run zeroes only the pages that may hold data (ram_held, disk_held), so
     * all the zeroing a stream causes is at most one pass over the skeleton plus the data it
     * sent. ram_held starts all set (the skeleton's content is not known to be zero), the
     * blank disk's all clear.
     */
    uint64_t *ram_held, ram_held_pages, ram_run_next;
    /* storage=copy: the local disk's blocks that arrived at least once (all must, by COMMIT)
     * and those holding data; one allocation of disk_bits_pages */
    uint64_t *disk_got, *disk_held, disk_bits_pages, disk_blocks, disk_blocks_got,
        disk_run_next;
    /*
     * Streams (docs/migration-stream.md, "Streams"). The migration's first connection holds
     * how many were granted, the token each JOIN must carry and the joined ones; it takes
     * COMMIT only once every other stream ended (commit_rx: COMMIT arrived, not yet checked).
     * A joined connection has `main` (cleared if the migration goes first), its index, the
     * newest pass it carried and the pages its runs carried (STREAM_END must agree). The
     * first keeps the pass each stream ended at: the stop's, checked with COMMIT.
     */
    uint16_t streams, joined_mask, streams_ended;
    uint32_t end_pass[MIG_STREAMS_MAX];
    uint8_t token[MIG_JOIN_TOKEN];
    struct dst_mig *joined[MIG_STREAMS_MAX];
    bool commit_rx;
    struct dst_mig *main;
    uint16_t stream;
    uint32_t pass;
    uint64_t stream_pages;
    bool ended;
};

/*
 * Incoming connections: at most MIG_DST_CONNS at once, MIG_DST_PER_PEER from one address.
 * One that sent nothing within MIG_DST_SILENT_NS, or has not authenticated and sent HELLO
 * within MIG_DST_HANDSHAKE_NS, is closed, and only migrations past HELLO count against
 * migrate_incoming_max: silent connections cannot refuse real migrations for long. (A peer
 * that speaks gets longer than a silent one because its TLS key exchange costs it compute:
 * milliseconds on hardware, seconds on a busy emulated host.) A migration whose source sends
 * nothing for MIG_DST_STALL_NS is discarded with its skeleton (the source gave up after 10 s).
 */
#define MIG_DST_PER_PEER    4
#define MIG_DST_SILENT_NS   (5ull * 1000000000)
#define MIG_DST_HANDSHAKE_NS (30ull * 1000000000)
#define MIG_DST_STALL_NS    (30ull * 1000000000)
static struct dst_mig *incoming[MIG_DST_CONNS];

/* Migrations that committed here, newest last: what QUERY MIGRATION looks up besides the VMs
 * that run here (each knows the migration it arrived by). */
#define DST_COMMITTED_KEEP 256
static struct {
    uint8_t nonce[MIG_AUTH_NONCE_SIZE];
    bool used;
} committed[DST_COMMITTED_KEEP];
static unsigned committed_next;

/* The migration a connection carries (itself, or the one it joined); NULL if that is gone. */
static struct dst_mig *mig_of(struct dst_mig *c) { return c->st == D_JOINED ? c->main : c; }

/* Test hooks (`migrate inject`): lose the next COMMIT_ACK or COMMIT, or hold the COMMIT of the
 * next migration accepted for hold_s seconds before the VM starts, or its ACCEPT. */
static enum mig_fault fault;
static unsigned fault_hold_s;

void mig_dst_inject(enum mig_fault f, unsigned hold_s)
{
    fault = f;
    fault_hold_s = hold_s;
}

/* A bitmap of n bits in frames (all set or all clear); NULL without memory. */
static uint64_t *bits_alloc(uint64_t n, unsigned node, bool ones, uint64_t *pages)
{
    uint64_t words = n / 64 + 1;
    *pages = (words * 8 + PAGE_SIZE - 1) / PAGE_SIZE;
    uint64_t pa = frame_alloc(node, *pages, 1, FRAME_ZERO);
    if (!pa)
        return NULL;
    uint64_t *b = phys_to_virt(pa);
    if (ones)
        memset(b, 0xff, words * 8);
    return b;
}

/* Sets bits [first, first + n) of b, word by word; how many were clear. */
/* The bits of word i / 64 that [i, end) covers; *next: where the next word's part starts. */
static uint64_t word_mask(uint64_t i, uint64_t end, uint64_t *next)
{
    unsigned lo = i % 64;
    uint64_t take = 64 - lo < end - i ? 64 - lo : end - i;
    *next = i + take;
    return (take == 64 ? ~0ull : ((1ull << take) - 1)) << lo;
}

static uint64_t bits_set(uint64_t *b, uint64_t first, uint64_t n)
{
    uint64_t added = 0;
    for (uint64_t i = first, next; i < first + n; i = next) {
        uint64_t mask = word_mask(i, first + n, &next);
        added += (uint64_t)__builtin_popcountll(mask & ~b[i / 64]);
        b[i / 64] |= mask;
    }
    return added;
}

static const char *ip4(uint32_t be, char buf[16])
{
    const uint8_t *b = (const uint8_t *)&be;
    snprintf(buf, 16, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
    return buf;
}

/* Streams a migration was granted that have not joined yet: slots are kept for them. */
static unsigned unjoined(const struct dst_mig *m)
{
    if (m->st != D_STREAM || m->failed || m->streams < 2)
        return 0;
    return m->streams - 1u - (unsigned)__builtin_popcount(m->joined_mask);
}

/*
 * The slots: how many are free, and how many of those are kept for streams not yet joined,
 * of migrations from peer (kept_same) and from other addresses (kept_other); *same counts
 * peer's connections that are not joined streams. Returns a free slot's index, or
 * MIG_DST_CONNS.
 */
static unsigned slots(uint32_t peer, unsigned *nfree, unsigned *kept_same,
                      unsigned *kept_other, unsigned *same)
{
    unsigned slot = MIG_DST_CONNS;
    *nfree = *kept_same = *kept_other = *same = 0;
    for (unsigned i = 0; i < MIG_DST_CONNS; i++) {
        struct dst_mig *m = incoming[i];
        if (!m) {
            if (slot == MIG_DST_CONNS)
                slot = i;
            ++*nfree;
            continue;
        }
        if (m->peer != peer) {
            *kept_other += unjoined(m);
            continue;
        }
        *kept_same += unjoined(m);
        if (m->st != D_JOINED)
            ++*same;
    }
    return slot;
}

/* Calls fn for each set bit in [first, first + n) of b, clearing it, word by word. */
static int bits_take(uint64_t *b, uint64_t first, uint64_t n, int (*fn)(void *, uint64_t),
                     void *ctx)
{
    for (uint64_t i = first, next; i < first + n; i = next) {
        uint64_t mask = word_mask(i, first + n, &next);
        uint64_t w = b[i / 64] & mask;
        b[i / 64] &= ~mask;
        while (w) {
            int rc = fn(ctx, i / 64 * 64 + (uint64_t)__builtin_ctzll(w));
            if (rc)
                return rc;
            w &= w - 1;
        }
    }
    return 0;
}

#define UNPACK_PAGES (MIG_RAM_MAX_PAGES * MIG_PAGE_SIZE / PAGE_SIZE)

static void free_bits(struct dst_mig *d)
{
    if (d->unpack)
        frame_free(virt_to_phys(d->unpack), UNPACK_PAGES);
    d->unpack = NULL;
    if (d->disk_got)
        frame_free(virt_to_phys(d->disk_got), d->disk_bits_pages);
    if (d->ram_held)
        frame_free(virt_to_phys(d->ram_held), d->ram_held_pages);
    d->disk_got = d->disk_held = d->ram_held = NULL;
}

static void dst_reset(struct dst_mig *d)
{
    char err[120];
    if (d->vm)
        vm_destroy(d->vm, err, sizeof(err));   /* the skeleton never ran */
    d->vm = NULL;
    if (d->conn)
        mig_conn_close(d->conn);
    d->conn = NULL;
    d->st = D_IDLE;
}

static void send_rec(struct dst_mig *d, uint16_t type)
{
    mig_dec_sent(&d->dec, type);
    d->out_len = d->enc.len;
}

static void refuse(struct dst_mig *d, uint16_t type, const char *why)
{
    mig_enc_init(&d->enc, d->out + d->out_len, sizeof(d->out) - d->out_len);
    mig_rec_reason(&d->enc, type, 1, why);
    mig_dec_sent(&d->dec, type);
    d->out_len += d->enc.len;
    log_warn("migrate", "incoming %s %s: %s", d->name[0] ? "vm" : "stream", d->name, why);
    d->failed = true;
}

static int accept_hello(struct dst_mig *d, const struct mig_record *r)
{
    struct mig_hello h;
    char err[160];
    if (mig_parse_hello(r, &h))
        return -EBADMSG;
    strncpy(d->name, h.name, sizeof(d->name) - 1);
    unsigned reserved = 0;
    for (unsigned i = 0; i < MIG_DST_CONNS; i++)
        if (incoming[i] && incoming[i] != d && incoming[i]->st == D_STREAM)
            reserved++;
    if (reserved >= hv_config.migrate_incoming_max) {
        snprintf(err, sizeof(err), "busy: migrate_incoming_max=%u incoming migrations at once",
                 hv_config.migrate_incoming_max);
        refuse(d, MIG_REC_REFUSE, err);
        return 0;
    }
    /* The VM keeps its exact CPU (vendor, family, features): this host must offer all of it. */
    static struct cpu_policy vmpol, hostpol;
    static char missing[200];
    if (cpu_policy_deserialize(&vmpol, h.policy, h.policy_len)) {
        refuse(d, MIG_REC_REFUSE, "bad CPU policy in HELLO");
        return 0;
    }
    if (vm_host_policy(&hostpol)) {
        refuse(d, MIG_REC_REFUSE, "this host's CPUID does not fit a CPU policy");
        return 0;
    }
    if (cpu_policy_check_host(&vmpol, &hostpol, missing, sizeof(missing))) {
        snprintf(err, sizeof(err), "cpu missing=%.140s", missing);
        refuse(d, MIG_REC_REFUSE, err);
        return 0;
    }
    /* Every device must be one this host can load, at the record version the VM uses, and
     * the list must be the machine the skeleton gets. */
    if (mig_devices_known(&h, err, sizeof(err)) ||
        mig_devices_match(&machine_ferry_min, &h, err, sizeof(err))) {
        refuse(d, MIG_REC_REFUSE, err);
        return 0;
    }
    /* Each NIC's switch must exist here (every host names its switches the same way). */
    for (unsigned i = 0; i < h.nnics; i++)
        if (!vsw_exists(h.nics[i].sw)) {
            snprintf(err, sizeof(err), "switch missing=%s", h.nics[i].sw);
            refuse(d, MIG_REC_REFUSE, err);
            return 0;
        }
    struct vm_config cfg = { .mem_mib = h.mem_bytes >> 20, .cpus = h.vcpus, .node = -1,
                             .policy = &vmpol };
    if (h.mem_bytes % (2ull << 20) || h.vcpus > VM_MAX_VCPUS || h.ndisks > 1) {
        refuse(d, MIG_REC_REFUSE, "unsupported VM shape");
        return 0;
    }
    if (h.nnics > VM_NICS_MAX) {
        refuse(d, MIG_REC_REFUSE, "more NICs than a VM here may have");
        return 0;
    }
    /* A local disk (storage=copy) is made here, empty, with the VM; DISK records fill it. */
    if (h.ndisks && h.disks[0].kind == MIG_DISK_LOCAL) {
        memcpy(cfg.disk, h.disks[0].loc, VM_DISK_MAX - 1);
        cfg.disk_sectors = h.disks[0].sectors;
        cfg.disk_blank = true;
    }
    /* A shared disk must answer from here, with the same size, before anything is reserved;
     * the connection made to check is the one the VM keeps. (The check waits for the
     * storage's handshake: seconds at most, NBD_CONNECT_TIMEOUT_MS + its handshake's.) */
    if (h.ndisks && h.disks[0].kind == MIG_DISK_NBD) {
        const struct vm_disk_hooks *dh = vm_disk_hooks();
        char why[120];
        uint64_t sectors = 0;
        if (!dh || dh->open(h.disks[0].loc, &cfg.disk_net, &sectors, why, sizeof(why))) {
            snprintf(err, sizeof(err), "disk unreachable=%.80s: %.60s", h.disks[0].loc,
                     dh ? why : "no network disks in this build");
            refuse(d, MIG_REC_REFUSE, err);
            return 0;
        }
        if (sectors != h.disks[0].sectors) {
            dh->close(cfg.disk_net);
            snprintf(err, sizeof(err), "disk size=%.80s: %llu sectors here, the VM's has %llu",
                     h.disks[0].loc, (unsigned long long)sectors,
                     (unsigned long long)h.disks[0].sectors);
            refuse(d, MIG_REC_REFUSE, err);
            return 0;
        }
        memcpy(cfg.disk, h.disks[0].loc, VM_DISK_MAX - 1);
        cfg.disk_sectors = sectors;
    }
    cfg.nnics = h.nnics;
    for (unsigned i = 0; i < h.nnics; i++) {
        memcpy(cfg.nics[i].sw, h.nics[i].sw, VM_SWITCH_MAX);
        memcpy(cfg.nics[i].mac, h.nics[i].mac, 6);
    }
    strcpy(cfg.name, d->name);
    /* An empty image: a skeleton. It owns cfg.disk_net from here, even failing. */
    if (vm_create(&cfg, err, sizeof(err))) {
        refuse(d, MIG_REC_REFUSE, err);
        return 0;
    }
    d->vm = vm_find(d->name);
    d->vm->migration = VM_MIG_IN;
    if (!(d->ram_held = bits_alloc(d->vm->gfn_end, d->vm->node, true, &d->ram_held_pages))) {
        refuse(d, MIG_REC_REFUSE, "no memory to track the VM's pages");
        return 0;                       /* the skeleton goes with the connection */
    }
    if (cfg.disk_blank) {
        d->disk_blocks = d->vm->disk_pages;
        if (!(d->disk_got = bits_alloc(2 * (d->disk_blocks / 64 + 1) * 64, d->vm->node, false,
                                       &d->disk_bits_pages))) {
            refuse(d, MIG_REC_REFUSE, "no memory to track the disk's blocks");
            return 0;
        }
        d->disk_held = d->disk_got + d->disk_blocks / 64 + 1;
    }
    /* Every feature offered is taken; LZ4 and DELTA need room to rebuild a record's pages
     * in (without it, neither is taken). */
    d->features = h.features & MIG_FEAT_ALL;
    if (d->features) {
        uint64_t pa = frame_alloc(d->vm->node, UNPACK_PAGES, 1, FRAME_ZERO);
        if (!pa)
            d->features = 0;
        else
            d->unpack = phys_to_virt(pa);
    }
    /* The streams asked for are granted as far as free slots allow, leaving
     * MIG_DST_PER_PEER for others (slots are then kept for them until they join); the
     * others join with a token that only this connection has seen. */
    unsigned nfree, kept_same, kept_other, same;
    slots(d->peer, &nfree, &kept_same, &kept_other, &same);
    unsigned spare = nfree >= kept_same + kept_other + MIG_DST_PER_PEER ?
            nfree - kept_same - kept_other - MIG_DST_PER_PEER : 0;
    d->streams = h.streams - 1u > spare ? (uint16_t)(1 + spare) : h.streams;
    if (d->streams > 1)
        mig_new_nonce(d->token);
    mig_enc_init(&d->enc, d->out + d->out_len, sizeof(d->out) - d->out_len);
    mig_rec_accept(&d->enc, d->features, d->streams, d->token);
    mig_dec_sent(&d->dec, MIG_REC_ACCEPT);
    d->out_len += d->enc.len;
    d->st = D_STREAM;
    if (fault == MIGRATE_FAULT_HOLD_COMMIT) {      /* this migration's COMMIT will wait */
        fault = MIGRATE_FAULT_NONE;
        d->hold_s = fault_hold_s;
    } else if (fault == MIGRATE_FAULT_HOLD_ACCEPT) {
        fault = MIGRATE_FAULT_NONE;
        d->out_hold_until = time_ns() + fault_hold_s * 1000000000ull;
        log_warn("migrate", "incoming %s: injected fault: holding ACCEPT for %u s (reserved, "
                 "the source not answered)", d->name, fault_hold_s);
    }
    return 0;
}

/*
 * A source of another stream version: answer with our stream header and an ERROR saying
 * so (both framings are the same in every version), then close. Nothing was reserved.
 */
static void refuse_version(struct dst_mig *d)
{
    char why[120];
    snprintf(why, sizeof(why), "version: this host speaks migration stream version %u, the "
             "source %u", MIG_STREAM_VERSION, d->dec.peer_version);
    mig_enc_init(&d->enc, d->out, sizeof(d->out));
    mig_stream_header_put(&d->enc);
    mig_rec_reason(&d->enc, MIG_REC_ERROR, 1, why);
    d->out_len = d->enc.len;
    d->out_off = 0;
    log_warn("migrate", "incoming stream refused: %s", why);
    d->failed = true;
}

static int zero_ram_page(void *ctx, uint64_t gfn)
{
    uint8_t *p = vm_page(((struct dst_mig *)ctx)->vm, gfn);
    if (!p)
        return -ERANGE;                         /* the hole's bits stay set: never RAM */
    memset(p, 0, PAGE_SIZE);
    return 0;
}

/* A DELTA page's base: the skeleton's copy (what earlier records wrote, else zeros). */
static const uint8_t *held_page(uint64_t gfn, void *ctx)
{
    struct dst_mig *d = mig_of(ctx);
    return d && d->vm && gfn < d->vm->gfn_end ? vm_page(d->vm, gfn) : NULL;
}

/* A RAM record's run, on connection c (ctx) of migration d. */
static int ram_run(uint64_t gfn, uint32_t count, bool zero, const uint8_t *data, void *ctx)
{
    struct dst_mig *c = ctx, *d = mig_of(c);
    struct vm *vm = d ? d->vm : NULL;
    if (!vm)
        return -EPROTO;
    d->pages += count;
    if (gfn < c->ram_run_next || gfn >= vm->gfn_end || count > vm->gfn_end - gfn) {
        snprintf(c->why, sizeof(c->why), "RAM run of pages 0x%llx+%u: out of order or past "
                 "the VM's memory", (unsigned long long)gfn, count);
        return -ERANGE;                         /* and each page must be RAM: vm_page below */
    }
    /* Each page on the stream that owns its chunk: then its copies arrive in order. */
    if (d->streams > 1 && (mig_stream_owner(gfn, d->streams) != c->stream ||
                           gfn / MIG_STREAM_CHUNK != (gfn + count - 1) / MIG_STREAM_CHUNK)) {
        snprintf(c->why, sizeof(c->why), "RAM run of pages 0x%llx+%u on stream %u, which "
                 "does not own them all", (unsigned long long)gfn, count, c->stream);
        return -EPROTO;
    }
    c->ram_run_next = gfn + count;
    c->stream_pages += count;
    if (zero)                                   /* only pages that may hold data */
        return bits_take(d->ram_held, gfn, count, zero_ram_page, d);
    for (uint32_t i = 0; i < count; i++) {      /* RAM may be split across nodes */
        uint8_t *dst = vm_page(vm, gfn + i);
        if (!dst)
            return -ERANGE;
        memcpy(dst, data + (size_t)i * PAGE_SIZE, PAGE_SIZE);
    }
    bits_set(d->ram_held, gfn, count);
    return 0;
}

static int zero_disk_block(void *ctx, uint64_t blk)
{
    struct dst_mig *d = ctx;
    memset((uint8_t *)phys_to_virt(d->vm->disk_hpa) + blk * MIG_DISK_BLOCK, 0, MIG_DISK_BLOCK);
    return 0;
}

/* A DISK record's run: within the disk, after the record's previous run (so a record's work is
 * bounded by the disk's size), data or zeros into the disk's blocks. */
static int disk_run(uint64_t blk, uint32_t count, bool zero, const uint8_t *data, void *ctx)
{
    struct dst_mig *d = ctx;
    if (blk < d->disk_run_next || blk >= d->disk_blocks || count > d->disk_blocks - blk) {
        snprintf(d->why, sizeof(d->why), "DISK run of blocks %llu+%u: out of order or past "
                 "the disk's %llu", (unsigned long long)blk, count,
                 (unsigned long long)d->disk_blocks);
        return -ERANGE;
    }
    d->disk_run_next = blk + count;
    d->disk_blocks_got += bits_set(d->disk_got, blk, count);
    if (zero)                                   /* only blocks that hold data */
        return bits_take(d->disk_held, blk, count, zero_disk_block, d);
    memcpy((uint8_t *)phys_to_virt(d->vm->disk_hpa) + blk * MIG_DISK_BLOCK, data,
           (size_t)count * MIG_DISK_BLOCK);
    bits_set(d->disk_held, blk, count);
    return 0;
}

static int on_disk(struct dst_mig *d, const struct mig_record *r)
{
    uint16_t inst;
    const uint8_t *runs;
    size_t len;
    if (mig_parse_disk(r, &inst, &runs, &len))
        return -EBADMSG;
    if (!d->disk_got || inst != 0) {
        snprintf(d->why, sizeof(d->why), "DISK record for disk %u, which HELLO did not name as "
                 "local", inst);
        return -EPROTO;
    }
    d->disk_run_next = 0;
    return mig_ram_parse_lz4(runs, len, disk_run, d,
                             d->features & MIG_FEAT_LZ4 ? d->unpack : NULL);
}

/* A vCPU's XSAVE area: vCPU state, not a device (it stays with the vCPU on every host). */
static int on_xsave(struct dst_mig *d, const struct mig_record *r)
{
    uint32_t idx;
    const uint8_t *blob;
    size_t n;
    if (mig_parse_xsave(r, &idx, &blob, &n))
        return -EBADMSG;
    if (idx >= d->vm->nvcpus || !d->vm->vcpus[idx].xsave) {
        snprintf(d->why, sizeof(d->why), "XSAVE record for vCPU %u of %u", idx, d->vm->nvcpus);
        return -EINVAL;
    }
    /* After the vCPU's state (its XCR0): the components the guest may hold are those its CPU
     * policy offers and its XCR0 enabled, as the source cut them. */
    if (!(d->vcpu_seen[idx / 64] & (1ull << (idx % 64)))) {
        snprintf(d->why, sizeof(d->why), "XSAVE record for vCPU %u before its state", idx);
        return -EPROTO;
    }
    struct vcpu *v = &d->vm->vcpus[idx];
    uint64_t mask = (d->vm->policy.xcr0_mask | v->xcr0 | 0x3) & fpu_xcr0_supported();
    char why[100];
    if (fpu_area_check(blob, n, mask, why, sizeof(why))) {
        snprintf(d->why, sizeof(d->why), "vCPU %u: %s", idx, why);
        return -EINVAL;
    }
    uint8_t *x = d->vm->vcpus[idx].xsave;
    memcpy(x, blob, n);
    memset(x + n, 0, fpu_area_size() - n);      /* components not in XSTATE_BV: init */
    return 0;
}

static int handle(struct dst_mig *d, const struct mig_record *r);

/*
 * COMMIT arrived and every stream ended: all of the RAM and the state is here. Whether it is
 * whole and can run: 0 (d->commit set), or an error with d->why.
 */
static int commit_check(struct dst_mig *d)
{
    /* Each stream ended after the stop: its last pages are the stopped guest's. */
    for (unsigned k = 1; k < d->streams; k++)
        if (d->end_pass[k] != d->round) {
            snprintf(d->why, sizeof(d->why), "stream %u ended at pass %u; the stop was at "
                     "pass %u", k, d->end_pass[k], d->round);
            return -EPROTO;
        }
    if (d->vcpus_got != d->vm->nvcpus) {
        snprintf(d->why, sizeof(d->why), "state of %u of %u vCPUs received", d->vcpus_got,
                 d->vm->nvcpus);
        return -EPROTO;
    }
    if (d->disk_got && d->disk_blocks_got != d->disk_blocks) {
        snprintf(d->why, sizeof(d->why), "%llu of the disk's %llu blocks received",
                 (unsigned long long)d->disk_blocks_got,
                 (unsigned long long)d->disk_blocks);
        return -EPROTO;
    }
    /* Each vCPU as this backend will load it, by the checks its VM entry makes (VT-x:
     * SDM 26.3.1, the PAE PDPTEs from the RAM as it is now): a state that cannot enter is
     * refused before COMMIT_ACK. */
    for (unsigned i = 0; hv_ops && hv_ops->vcpu_state_check && i < d->vm->nvcpus; i++) {
        char why[sizeof(d->why) - 24];
        if (hv_ops->vcpu_state_check(d->vm, &d->vm->vcpus[i].init, why, sizeof(why))) {
            snprintf(d->why, sizeof(d->why), "vCPU %u: %s", i, why);
            return -EINVAL;
        }
    }
    /* Every device's record arrived and passed its check: only now is any loaded. */
    if (mig_devices_commit(&d->vm->devs, d->why, sizeof(d->why)))
        return -EPROTO;
    if (fault == MIGRATE_FAULT_LOSE_COMMIT) {      /* as if it never arrived */
        fault = MIGRATE_FAULT_NONE;
        log_warn("migrate", "incoming %s: injected fault: COMMIT lost", d->name);
        d->failed = true;
        return 0;
    }
    if (d->hold_s) {
        d->hold_until = time_ns() + d->hold_s * 1000000000ull;
        log_warn("migrate", "incoming %s: injected fault: holding COMMIT for %u s (not "
                 "started, not acknowledged)", d->name, d->hold_s);
    }
    d->commit = true;
    return 0;
}

/* Two tokens compared in constant time. */
static bool token_eq(const uint8_t *a, const uint8_t *b)
{
    uint8_t diff = 0;
    for (unsigned i = 0; i < MIG_JOIN_TOKEN; i++)
        diff |= a[i] ^ b[i];
    return !diff;
}

/*
 * JOIN, the first record of a connection: it becomes stream k of the migration whose ACCEPT
 * carried the token, if that migration is still receiving, granted more than k streams, has
 * no stream k yet, and came from the same address (under TLS, the same authenticated host
 * name). Anything else is refused like a failed authentication: the connection just closes.
 */
static int on_join(struct dst_mig *c, const struct mig_record *r)
{
    const uint8_t *tok;
    uint16_t k;
    if (mig_parse_join(r, &tok, &k))
        return -EBADMSG;
    for (unsigned i = 0; i < MIG_DST_CONNS; i++) {
        struct dst_mig *m = incoming[i];
        if (!m || m == c || m->st != D_STREAM || m->failed || m->streams <= k ||
            (m->joined_mask & 1u << k) || m->peer != c->peer || !token_eq(m->token, tok))
            continue;
        const char *mn = mig_conn_peer_name(m->conn), *cn = mig_conn_peer_name(c->conn);
        if (!((!mn && !cn) || (mn && cn && !strcmp(mn, cn))))
            continue;
        m->joined[k] = c;
        m->joined_mask |= (uint16_t)(1u << k);
        c->main = m;
        c->stream = k;
        c->st = D_JOINED;
        memcpy(c->name, m->name, sizeof(c->name));
        return 0;
    }
    char a[16];
    log_warn("migrate", "connection from %s asked to join stream %u of a migration it does not "
             "belong to: closed", ip4(c->peer, a), k);
    return -EACCES;
}

/* A RAM record on connection c: its pass never goes back on c; its runs go to the VM. */
static int on_ram(struct dst_mig *c, const struct mig_record *r)
{
    struct dst_mig *d = mig_of(c);
    uint32_t pass;
    const uint8_t *runs;
    size_t len;
    if (!d || !d->vm || mig_parse_ram(r, &pass, &runs, &len))
        return -EBADMSG;
    if (pass < c->pass) {
        snprintf(c->why, sizeof(c->why), "RAM record of pass %u after pass %u on stream %u",
                 pass, c->pass, c->stream);
        return -EPROTO;
    }
    c->pass = pass;
    c->ram_run_next = 0;
    return mig_ram_parse_ex(runs, len, ram_run, c, d->unpack, d->features & MIG_FEAT_LZ4,
                            d->features & MIG_FEAT_DELTA ? held_page : NULL, c);
}

/* STREAM_END on a joined stream: it carried exactly the pages it says. */
static int on_stream_end(struct dst_mig *c, const struct mig_record *r)
{
    uint32_t pass;
    uint64_t pages;
    if (!c->main || mig_parse_stream_end(r, &pass, &pages))
        return -EBADMSG;
    if (pages != c->stream_pages || pass < c->pass) {
        snprintf(c->why, sizeof(c->why), "stream %u ended at pass %u with %llu pages; %llu "
                 "arrived, the last of pass %u", c->stream, pass, (unsigned long long)pages,
                 (unsigned long long)c->stream_pages, c->pass);
        return -EPROTO;
    }
    c->ended = true;
    c->main->end_pass[c->stream] = pass;
    c->main->streams_ended++;
    return 0;
}

/* QUERY instead of HELLO: answer and end the conversation. */
static int on_query(struct dst_mig *d, const struct mig_record *r)
{
    uint32_t kind, status = MIG_QSTAT_UNSUPPORTED;
    const uint8_t *arg;
    size_t n;
    if (mig_parse_query(r, &kind, &arg, &n))
        return -EBADMSG;
    static uint8_t blob[CPU_POLICY_BLOB_MAX];
    static struct cpu_policy hostpol;
    int len = 0;
    if (kind == MIG_QUERY_CPU && n == 0) {          /* for `cpu baseline compute` */
        status = MIG_QSTAT_UNKNOWN;
        if (!vm_host_policy(&hostpol) &&
            (len = cpu_policy_serialize(&hostpol, blob, sizeof(blob))) > 0)
            status = MIG_QSTAT_OK;
        else
            len = 0;
    }
    if (kind == MIG_QUERY_MIGRATION && n == MIG_AUTH_NONCE_SIZE) {
        status = MIG_QSTAT_UNKNOWN;
        for (unsigned i = 0; i < DST_COMMITTED_KEEP; i++)
            if (committed[i].used && !memcmp(committed[i].nonce, arg, n))
                status = MIG_QSTAT_RUNNING;
        for (unsigned i = 0; i < VM_MAX; i++)
            if (vms[i].state != VM_EMPTY && vms[i].arrived && !memcmp(vms[i].arrival, arg, n))
                status = MIG_QSTAT_RUNNING;
        for (unsigned i = 0; i < MIG_DST_CONNS; i++)
            if (incoming[i] && incoming[i] != d && !incoming[i]->query &&
                incoming[i]->st != D_IDLE && incoming[i]->st != D_DONE &&
                !memcmp(incoming[i]->src_nonce, arg, n))
                status = MIG_QSTAT_BUSY;
    }
    log_info("migrate", "query %u answered %u", kind, status);
    mig_enc_init(&d->enc, d->out + d->out_len, sizeof(d->out) - d->out_len);
    if (mig_rec_query_reply(&d->enc, kind, status, len ? blob : NULL, (size_t)len))
        return -ENOSPC;
    mig_dec_sent(&d->dec, MIG_REC_QUERY_REPLY);
    d->out_len += d->enc.len;
    d->query = true;
    d->failed = true;               /* nothing more: flushed, then closed */
    return 0;
}

static int on_record(const struct mig_record *r, void *ctx)
{
    struct dst_mig *d = ctx;
    int rc = handle(d, r);
    if (rc && !d->why[0])
        snprintf(d->why, sizeof(d->why), "%s record refused (%d)", mig_rec_type_name(r->type),
                 rc);
    if (rc)
        log_warn("migrate", "incoming %s: %s", d->name, d->why);
    return rc;
}

static int handle(struct dst_mig *d, const struct mig_record *r)
{
    const uint8_t *b;
    uint8_t mac[MIG_AUTH_MAC_SIZE], nonce[MIG_AUTH_NONCE_SIZE];
    uint32_t idx;
    struct vcpu_state st;
    switch (r->type) {
    case MIG_REC_AUTH_CHALLENGE:
        if (mig_parse_auth(r, &b))
            return -EBADMSG;
        memcpy(d->src_nonce, b, sizeof(d->src_nonce));
        mig_new_nonce(nonce);
        if (mig_auth_init(&d->auth, (const uint8_t *)hv_config.cluster_key,
                          strlen(hv_config.cluster_key), false, nonce) ||
            mig_auth_challenge(&d->auth, nonce) || mig_auth_response(&d->auth, b, mac))
            return -EACCES;
        mig_enc_init(&d->enc, d->out, sizeof(d->out));
        mig_stream_header_put(&d->enc);
        mig_rec_auth(&d->enc, MIG_REC_AUTH_CHALLENGE, nonce);
        mig_dec_sent(&d->dec, MIG_REC_AUTH_CHALLENGE);
        mig_rec_auth(&d->enc, MIG_REC_AUTH_RESPONSE, mac);
        send_rec(d, MIG_REC_AUTH_RESPONSE);
        d->out_off = 0;
        return 0;
    case MIG_REC_AUTH_RESPONSE:
        if (mig_parse_auth(r, &b) || mig_auth_verify(&d->auth, b)) {
            log_warn("migrate", "incoming connection failed authentication (cluster_key?)");
            return -EACCES;
        }
        d->st = D_HELLO;
        return 0;
    case MIG_REC_HELLO:
        return accept_hello(d, r);
    case MIG_REC_JOIN:
        return on_join(d, r);
    case MIG_REC_RAM:
        return on_ram(d, r);
    case MIG_REC_STREAM_END:
        return on_stream_end(d, r);
    case MIG_REC_ROUND_END:
        return mig_parse_round_end(r, &d->round, &d->pages);
    case MIG_REC_DISK:
        return on_disk(d, r);
    case MIG_REC_STOP:
        d->t_stop_rx = time_ns();
        return 0;
    case MIG_REC_TSC:
        return 0;
    case MIG_REC_VCPU:
        if (mig_parse_vcpu(r, &idx, &st) || idx >= d->vm->nvcpus)
            return -EBADMSG;
        /* XCR0 = x87 alone is every CPU's (and a guest without XSAVE never changes it). */
        if (st.xcr0 > 1 && ((st.xcr0 & ~fpu_xcr0_supported()) ||
                            !cpu_policy_xcr0_ok(&d->vm->policy, st.xcr0))) {
            snprintf(d->why, sizeof(d->why), "the guest's XCR0 0x%llx does not fit its CPU "
                     "policy on this host", (unsigned long long)st.xcr0);
            return -EINVAL;
        }
        if (d->vcpu_seen[idx / 64] & (1ull << (idx % 64))) {
            snprintf(d->why, sizeof(d->why), "vCPU %u state sent twice", idx);
            return -EINVAL;
        }
        /* Every value as the guest's own writes are checked: nothing reaches the host's WRMSR
         * or the entry that would fault there. */
        if (msr_state_check(&d->vm->policy, &st, d->why, sizeof(d->why)))
            return -EINVAL;
        d->vcpu_seen[idx / 64] |= 1ull << (idx % 64);
        d->vm->vcpus[idx].init = st;
        d->vm->vcpus[idx].xcr0 = st.xcr0 ? st.xcr0 : 1;
        vcpu_init_loaded(&d->vm->vcpus[idx]);   /* one TSC for all; an AP waiting for SIPI waits */
        d->vcpus_got++;
        return 0;
    case MIG_REC_XSAVE:
        return on_xsave(d, r);
    case MIG_REC_DEVICE:
        return mig_devices_stage(&d->vm->devs, r, d->why, sizeof(d->why));
    case MIG_REC_COMMIT:
        d->commit_rx = true;            /* checked once every stream ended (poll_one) */
        return 0;
    case MIG_REC_QUERY:
        return on_query(d, r);
    default:
        return -EPROTO;
    }
}

/* A joined stream failed: so did its migration (the source hears why on the first stream). */
static void stream_failed(struct dst_mig *c, const char *why)
{
    char msg[sizeof(c->why)];
    if (c->st != D_JOINED || !c->main || c->main->failed)
        return;
    snprintf(msg, sizeof(msg), "stream %u: %s", c->stream, why);
    c->main->commit = c->main->commit_rx = false;
    refuse(c->main, MIG_REC_ERROR, msg);
}

static void dst_recv(void *ctx, const uint8_t *data, size_t n)
{
    struct dst_mig *d = ctx;
    d->bytes += n;
    d->last_rx = time_ns();
    if (d->st == D_JOINED && d->main) {
        d->main->bytes += n;
        d->main->last_rx = d->last_rx;
    }
    while (n && d->st != D_IDLE && !d->failed) {
        int used = mig_dec_feed(&d->dec, data, n, on_record, d);
        if (used <= 0) {
            if (used == -EPROTONOSUPPORT && d->st == D_AUTH && d->dec.peer_version &&
                d->dec.peer_version != MIG_STREAM_VERSION) {
                refuse_version(d);
                return;
            }
            if (used < 0) {
                log_warn("migrate", "incoming %s: stream error %d, discarded", d->name, used);
                /* An authenticated source learns why (on its first stream); others just lose
                 * the connection. */
                if (d->st == D_JOINED)
                    stream_failed(d, d->why[0] ? d->why : "bad stream");
                else if (d->st >= D_HELLO && used != -EACCES)
                    refuse(d, MIG_REC_ERROR, d->why[0] ? d->why : "bad stream");
                d->failed = true;
            }
            return;
        }
        data += used;
        n -= (size_t)used;
    }
}

static void dst_closed(void *ctx, int err)
{
    struct dst_mig *d = ctx;
    (void)err;
    d->conn = NULL;
    if (d->st == D_JOINED && !d->ended)
        stream_failed(d, "closed before its end");
    if (d->st == D_STREAM)
        log_warn("migrate", "incoming %s: connection closed before commit, discarded", d->name);
    else if (d->st == D_AUTH || d->st == D_HELLO)   /* (a failed TLS handshake was logged) */
        log_info("migrate", "connection closed before its migration began");
    if (d->st != D_DONE && d->st != D_IDLE)
        dst_reset(d);
}

static const struct mig_conn_ops dst_ops = { .recv = dst_recv, .closed = dst_closed };

static uint64_t dst_pages(void) { return (sizeof(struct dst_mig) + PAGE_SIZE - 1) / PAGE_SIZE; }


/*
 * A new connection from peer: refused (NULL) when no slot is free but those kept for the
 * streams other hosts' migrations were granted, or when the peer has MIG_DST_PER_PEER open
 * that are not streams of a migration, plus one for each stream its migrations here were
 * granted that has not joined yet (so a host cannot hold more silent connections than it
 * could use, nor take the slots another host's streams will join in).
 */
void *mig_dst_accept(struct mig_conn *c, const struct mig_conn_ops **ops)
{
    unsigned nfree, kept_same, kept_other, same;
    uint32_t peer = mig_conn_peer(c);
    char a[16];
    unsigned slot = slots(peer, &nfree, &kept_same, &kept_other, &same);
    bool crowded = same >= MIG_DST_PER_PEER + kept_same;
    if (nfree <= kept_other || crowded) {
        log_warn("migrate", "incoming connection from %s dropped: %s", ip4(peer, a),
                 crowded ? "it has as many open as one host may" :
                 nfree ? "the free slots are kept for streams granted to migrations" :
                         "every slot is in use");
        return NULL;
    }
    uint64_t pa = frame_alloc(0, dst_pages(), 1, FRAME_ZERO);
    if (!pa) {
        log_warn("migrate", "incoming connection refused: no memory for its state");
        return NULL;
    }
    struct dst_mig *d = phys_to_virt(pa);
    mig_dec_init(&d->dec, MIG_ROLE_DST);
    d->conn = c;
    d->peer = peer;
    d->t_start = d->last_rx = time_ns();
    d->st = D_AUTH;
    *ops = &dst_ops;
    incoming[slot] = d;
    return d;
}

int mig_dst_cancel(struct vm *vm)
{
    for (unsigned i = 0; i < MIG_DST_CONNS; i++) {
        struct dst_mig *d = incoming[i];
        /* Also after COMMIT, until the VM starts (poll_one, on this same loop): the source,
         * told or not, resumes its copy, for this host never ran it. */
        if (d && d->vm == vm && d->st == D_STREAM && !d->failed) {
            d->commit = d->commit_rx = false;
            refuse(d, MIG_REC_ERROR, "cancelled on the target");
            return 0;                   /* flushed, then discarded with its skeleton */
        }
    }
    return -ENOENT;
}

/* Deadlines: the handshake for a new connection, progress for a migration. */
static bool overdue(struct dst_mig *d)
{
    uint64_t now = time_ns();
    char a[16];
    uint64_t limit = mig_conn_received(d->conn) ? MIG_DST_HANDSHAKE_NS : MIG_DST_SILENT_NS;
    if ((d->st == D_AUTH || d->st == D_HELLO) && !d->failed && now - d->t_start > limit) {
        log_warn("migrate", "incoming connection from %s: no %s within %llu s, closed",
                 ip4(d->peer, a), d->st == D_AUTH ? "authentication" : "HELLO",
                 (unsigned long long)(limit / 1000000000));
        return true;
    }
    if (d->st == D_STREAM && !d->failed && now - d->last_rx > MIG_DST_STALL_NS) {
        log_warn("migrate", "incoming %s from %s: nothing received for %llu s, discarded",
                 d->name, ip4(d->peer, a), MIG_DST_STALL_NS / 1000000000);
        return true;
    }
    return false;
}

static void poll_one(struct dst_mig *d)
{
    char err[120];
    if (d->st == D_IDLE || d->st == D_DONE)
        return;
    if (d->st == D_JOINED) {            /* its migration's deadlines are its own */
        if (!d->main || d->failed)
            dst_reset(d);
        return;
    }
    if (overdue(d)) {
        dst_reset(d);
        return;
    }
    while (d->out_off < d->out_len && time_ns() >= d->out_hold_until) {
        size_t n = mig_conn_write(d->conn, d->out + d->out_off, d->out_len - d->out_off);
        if (!n)
            return;
        d->out_off += n;
    }
    if (d->out_off < d->out_len)
        return;                         /* held (hold-accept): the rest on a later pass */
    d->out_len = d->out_off = 0;
    if (d->failed) {
        dst_reset(d);
        return;
    }
    if (d->commit_rx && d->streams_ended + 1 >= d->streams) {
        d->commit_rx = false;
        if (commit_check(d)) {
            refuse(d, MIG_REC_ERROR, d->why);
            return;                     /* flushed, then discarded */
        }
    }
    if (d->commit && time_ns() >= d->hold_until) {
        /* The VM starts before it is acknowledged: only a VM that runs here is (a start that
         * fails is an ERROR, and the source resumes its copy). */
        d->commit = false;
        if (vm_start(d->vm, err, sizeof(err))) {
            refuse(d, MIG_REC_ERROR, err);
            return;                     /* flushed, then discarded */
        }
        unsigned slot = committed_next;
        memcpy(committed[slot].nonce, d->src_nonce, sizeof(d->src_nonce));
        committed[slot].used = true;
        committed_next = (committed_next + 1) % DST_COMMITTED_KEEP;
        uint64_t stopped_us = (time_ns() - d->t_stop_rx) / 1000;
        if (stopped_us > UINT32_MAX)
            stopped_us = UINT32_MAX;
        mig_enc_init(&d->enc, d->out, sizeof(d->out));
        mig_rec_commit_ack(&d->enc, (uint32_t)stopped_us);
        mig_dec_sent(&d->dec, MIG_REC_COMMIT_ACK);
        if (fault == MIGRATE_FAULT_LOSE_ACK) {
            fault = MIGRATE_FAULT_NONE;
            log_warn("migrate", "incoming %s: injected fault: COMMIT_ACK lost", d->name);
            mig_conn_close(d->conn);
            d->conn = NULL;
        } else {
            mig_conn_write(d->conn, d->out, d->enc.len);
        }
        struct vm *vm = d->vm;
        _Static_assert(sizeof(vm->arrival) == sizeof(d->src_nonce), "nonce sizes differ");
        memcpy(vm->arrival, d->src_nonce, sizeof(vm->arrival));
        vm->arrived = true;
        d->vm = NULL;
        d->st = D_DONE;
        vm->migration = VM_MIG_NONE;
        vm_nics_announce(vm);
        mig_say("migrate: incoming vm=%s running stopped_ms=%llu", vm->name,
                (unsigned long long)(stopped_us / 1000));
    }
}

void mig_dst_poll(void)
{
    for (unsigned i = 0; i < MIG_DST_CONNS; i++) {
        struct dst_mig *d = incoming[i];
        if (!d)
            continue;
        poll_one(d);
        if (d->st == D_IDLE || d->st == D_DONE) {
            /* Its streams go with a migration; a stream leaves its migration. */
            for (unsigned k = 1; k < MIG_STREAMS_MAX; k++)
                if (d->joined[k])
                    d->joined[k]->main = NULL;
            if (d->main && d->main->joined[d->stream] == d)
                d->main->joined[d->stream] = NULL;
            if (d->conn)
                mig_conn_close(d->conn);
            incoming[i] = NULL;
            free_bits(d);
            frame_free(virt_to_phys(d), dst_pages());
        }
    }
}

int mig_dst_info(unsigned i, struct mig_dst_info *info)
{
    static const char *const n[] = { "idle", "authenticating", "hello", "receiving", "stream",
                                     "done" };
    struct dst_mig *d = i < MIG_DST_CONNS ? incoming[i] : NULL;
    if (!d || d->st == D_IDLE || d->st == D_DONE || d->st == D_JOINED)  /* (in its migration) */
        return -ENOENT;
    memset(info, 0, sizeof(*info));
    info->vm = d->name[0] ? d->name : "-";
    info->state = n[d->st];
    info->bytes = d->bytes;
    info->pages = d->pages;
    info->round = d->round;
    return 0;
}
