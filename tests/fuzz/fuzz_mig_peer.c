// The other end of each connection of tests/fuzz/fuzz_mig_src.c (see fuzz_mig_src.h): the
// target of the migration, or the host mig_query asks. It reads what the engine wrote as a
// target would (framing and CRC checked, every record checked against what the source may
// send), answers each handshake as its mode says, and makes the records the input asks for.
// What it sends is also framed as the engine frames it, to know what the engine was told.
#include <string.h>

#include "arch/x86_64/fpu.h"
#include "hv/base/crc32c.h"
#include "hv/base/mem.h"
#include "tests/fuzz/fuzz_mig_src.h"

struct peer peers[FAKE_CONNS_MAX];
unsigned deliveries;

static struct mig_decoder decs[FAKE_CONNS_MAX];     /* each connection's, as a target reads */
static uint8_t rec[MIG_REC_MAX_SIZE + MIG_STREAM_HDR_SIZE];
static uint8_t unpack[MIG_RAM_MAX_PAGES * MIG_PAGE_SIZE];   /* a RAM record's LZ4 and DELTA runs */

/*
 * What the peer sent on each connection, framed as the engine frames it (header, lengths,
 * CRC): the records in it are what the engine was told. A QUERY_REPLY's fields are kept.
 */
static struct shadow {
    uint8_t *buf;
    size_t fill, cap;
    bool header, broken;
} shadows[FAKE_CONNS_MAX];

struct told {
    uint16_t type, flags;
    bool reply;                 /* a QUERY_REPLY that parses... */
    uint16_t features;          /* an ACCEPT's */
    uint16_t streams;           /* ... and the streams it granted */
    uint32_t kind, status;      /* ...saying this */
};

static uint32_t rd32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

void peer_reset(void)
{
    for (unsigned i = 0; i < FAKE_CONNS_MAX; i++) {
        peers[i] = (struct peer){ .ordered = true };
        mig_dec_init(&decs[i], MIG_ROLE_DST);
        shadows[i].fill = 0;
        shadows[i].header = shadows[i].broken = false;
    }
}

struct mig_conn *newest_main(void)
{
    for (unsigned i = fake_nconns; i-- > 0;)    /* (further streams have their own ops) */
        if (!fake_conns[i]->dead && fake_conns[i]->ops == fake_conns[0]->ops)
            return fake_conns[i];
    return NULL;
}

struct mig_conn *newest_live(void)
{
    for (unsigned i = fake_nconns; i-- > 0;)
        if (!fake_conns[i]->dead)
            return fake_conns[i];
    return NULL;
}

/* A told record whose fields are in t. */
static void tell(struct told *t, const struct mig_record *r)
{
    const uint8_t *data;
    size_t n;
    *t = (struct told){ .type = r->type, .flags = r->flags };
    if (r->type == MIG_REC_ACCEPT && mig_parse_accept(r, &t->features, &t->streams, NULL))
        t->features = 0, t->streams = 1;
    t->reply = !r->flags && r->type == MIG_REC_QUERY_REPLY &&
               !mig_parse_query_reply(r, &t->kind, &t->status, &data, &n);
    if (t->reply && !qs.last_reply) {
        qs.last_reply = true;                   /* the first reply of this move */
        qs.kind_got = t->kind;
        qs.status = t->status;
        qs.n = n;
        memcpy(qs.data, data, n);
    }
}

/* Adds what the peer sends on c; the whole records that completes, up to max, into t. */
static unsigned shadow_take(struct mig_conn *c, const uint8_t *p, size_t n, struct told *t,
                            unsigned max)
{
    struct shadow *s = &shadows[c->id];
    unsigned nt = 0;
    if (s->broken)
        return 0;                               /* the engine hung up or stopped reading */
    if (s->fill + n > s->cap) {
        s->cap = (s->fill + n) * 2;
        s->buf = realloc(s->buf, s->cap);
        CHECK(s->buf);
    }
    memcpy(s->buf + s->fill, p, n);
    s->fill += n;
    for (size_t used;; memmove(s->buf, s->buf + used, s->fill - used), s->fill -= used) {
        if (!s->header) {
            if (s->fill < MIG_STREAM_HDR_SIZE)
                return nt;
            s->header = true;
            used = MIG_STREAM_HDR_SIZE;
            continue;
        }
        uint32_t len = s->fill >= MIG_REC_HDR_SIZE ? rd32(s->buf + 4) : 0;
        s->broken = len > MIG_REC_MAX_PAYLOAD;
        if (s->broken || s->fill < MIG_REC_OVERHEAD + (size_t)len)
            return nt;
        struct mig_record r = { .type = rd16(s->buf), .flags = rd16(s->buf + 2), .len = len,
                                .payload = s->buf + MIG_REC_HDR_SIZE };
        s->broken = rd32(r.payload + len) != crc32c_update(0, s->buf, MIG_REC_HDR_SIZE + len);
        if (s->broken)
            return nt;
        CHECK(nt < max);
        tell(&t[nt++], &r);
        used = MIG_REC_OVERHEAD + len;
    }
}

/* What the source was told on c, and whether it took it (it hangs up on what it refuses). */
static void account(const struct mig_conn *c, const struct told *t, bool took)
{
    if (run.query_mode || t->flags)
        return;
    if (c->id == 0 && (t->type == MIG_REC_REFUSE || t->type == MIG_REC_ERROR))
        run.gave_back = true;
    if (!took)
        return;
    if (t->type == MIG_REC_COMMIT_ACK && peers[c->id].hello)
        run.allowed = true;
    if (t->type == MIG_REC_ACCEPT)
        peers[c->id].lz4 = t->features & MIG_FEAT_LZ4;
    if (t->type == MIG_REC_ACCEPT)
        peers[c->id].delta = t->features & MIG_FEAT_DELTA;
    if (t->type == MIG_REC_ACCEPT && c->id == 0)
        run.streams = t->streams;
    if (t->reply && t->kind == MIG_QUERY_MIGRATION && peers[c->id].query) {
        run.allowed |= t->status == MIG_QSTAT_RUNNING;
        run.gave_back |= t->status == MIG_QSTAT_UNKNOWN;
    }
}

static void deliver(struct mig_conn *c, const uint8_t *p, size_t n, bool bytewise)
{
    struct told t[64];
    for (size_t i = 0, k = bytewise ? 1 : n; i < n && !c->dead; i += k) {
        unsigned nt = shadow_take(c, p + i, k, t, 64);
        fake_conn_recv(c, p + i, k);
        for (unsigned j = 0; j < nt; j++)
            account(c, &t[j], !c->dead);
    }
    deliveries++;
}

/* What the peer sends is in order by its own reckoning (else the engine must hang up): after
 * its stream header, in the conversation's order. */
static void sent(struct mig_conn *c, uint16_t type)
{
    if (!peers[c->id].greeted || mig_dec_sent(&decs[c->id], type))
        peers[c->id].ordered = false;
}

void peer_raw(struct mig_conn *c, const uint8_t *p, size_t n)
{
    peers[c->id].ordered = false;
    deliver(c, p, n, false);
}

/* The peer's half of the handshake, as its mode says. */
static void answer(struct mig_conn *c, const uint8_t ns[MIG_AUTH_NONCE_SIZE])
{
    struct peer *p = &peers[c->id];
    uint8_t nd[MIG_AUTH_NONCE_SIZE], mac[MIG_AUTH_MAC_SIZE];
    struct mig_enc e;
    p->answered = true;
    if (p->mode == HS_SILENT)
        return;
    for (unsigned i = 0; i < sizeof(nd); i++)
        nd[i] = (uint8_t)(0xa0 + c->id + 7 * i);
    if (p->mode == HS_REFLECT)
        memcpy(nd, ns, sizeof(nd));
    mig_enc_init(&e, rec, sizeof(rec));
    if (p->mode == HS_VERSION)
        CHECK(mig_stream_header_put_as(&e, MIG_STREAM_VERSION + 1) == 0);
    else
        CHECK(mig_stream_header_put(&e) == 0);
    if (p->mode == HS_MAGIC)
        rec[3] ^= 0x20;
    p->greeted = true;
    if (p->mode == HS_ERROR) {
        CHECK(mig_rec_reason(&e, MIG_REC_ERROR, 3, "no room for it") == 0);
        sent(c, MIG_REC_ERROR);
        deliver(c, rec, e.len, false);
        return;
    }
    CHECK(mig_auth_init(&p->auth, (const uint8_t *)KEY, strlen(KEY), false, nd) == 0);
    CHECK(mig_auth_challenge(&p->auth, nd) == 0);
    if (p->mode == HS_REFLECT)
        memset(mac, 0x11, sizeof(mac));         /* our own check refuses the engine's nonce */
    else
        CHECK(mig_auth_response(&p->auth, ns, mac) == 0);
    if (p->mode == HS_BAD_MAC)
        mac[7] ^= 1;
    CHECK(mig_rec_auth(&e, MIG_REC_AUTH_CHALLENGE, nd) == 0);
    CHECK(mig_rec_auth(&e, MIG_REC_AUTH_RESPONSE, mac) == 0);
    sent(c, MIG_REC_AUTH_CHALLENGE);
    sent(c, MIG_REC_AUTH_RESPONSE);
    deliver(c, rec, e.len, p->mode == HS_BYTES);
}

/* ---- what the engine writes, as the peer reads it ---- */

static uint8_t *t_page(uint64_t gfn)
{
    if (gfn < LOW_PAGES)
        return run.t_ram + gfn * PAGE_SIZE;
    CHECK(gfn >= (VM_HIGH_RAM >> 12) && gfn < fake_vm.gfn_end);     /* never the hole */
    return run.t_ram + (LOW_PAGES + gfn - (VM_HIGH_RAM >> 12)) * PAGE_SIZE;
}

/* A run on the stream ctx (its peer): with several streams, within one chunk that stream owns. */
static int ram_run(uint64_t gfn, uint32_t count, bool zero, const uint8_t *data, void *ctx)
{
    struct peer *p = ctx;
    CHECK(gfn + count <= fake_vm.gfn_end);
    if (run.streams > 1)
        CHECK(mig_stream_owner(gfn, run.streams) == p->lane &&
              gfn / MIG_STREAM_CHUNK == (gfn + count - 1) / MIG_STREAM_CHUNK);
    p->pages += count;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t *t = t_page(gfn + i);
        if (zero)
            memset(t, 0, PAGE_SIZE);
        else
            memcpy(t, data + (size_t)i * PAGE_SIZE, PAGE_SIZE);
    }
    return 0;
}

/* A DELTA page's base: the target's copy, as the runs before rebuilt it. */
static const uint8_t *held_page(uint64_t gfn, void *ctx)
{
    (void)ctx;
    return gfn < fake_vm.gfn_end ? t_page(gfn) : NULL;
}

static int disk_run(uint64_t b, uint32_t count, bool zero, const uint8_t *data, void *ctx)
{
    (void)ctx;
    CHECK(run.disk_copy && b < DISK_BLOCKS && count <= DISK_BLOCKS - b);
    if (zero)
        memset(run.t_disk + b * MIG_DISK_BLOCK, 0, (size_t)count * MIG_DISK_BLOCK);
    else
        memcpy(run.t_disk + b * MIG_DISK_BLOCK, data, (size_t)count * MIG_DISK_BLOCK);
    return 0;
}

static void src_auth(struct mig_conn *c, const struct mig_record *r)
{
    struct peer *p = &peers[c->id];
    const uint8_t *b;
    CHECK(mig_parse_auth(r, &b) == 0);
    if (r->type == MIG_REC_AUTH_CHALLENGE) {
        if (!run.query_mode && c->id == 0) {
            memcpy(run.nonce, b, sizeof(run.nonce));
            run.have_nonce = true;
        }
        if (!p->answered)
            answer(c, b);
        return;
    }
    /* The engine answers only a peer whose answer it checked. */
    CHECK(p->answered && (p->mode == HS_OK || p->mode == HS_BYTES));
    CHECK(mig_auth_verify(&p->auth, b) == 0);
    p->authed = true;
}

static void src_query(struct mig_conn *c, const struct mig_record *r)
{
    uint32_t kind;
    const uint8_t *arg;
    size_t n;
    CHECK(peers[c->id].authed && mig_parse_query(r, &kind, &arg, &n) == 0);
    if (run.query_mode) {
        CHECK(kind == qs.kind && n == qs.argn && !memcmp(arg, qs.arg, n));
    } else {
        /* Only when resolving, about this migration. */
        CHECK(c->id > 0 && run.have_nonce && kind == MIG_QUERY_MIGRATION);
        CHECK(n == sizeof(run.nonce) && !memcmp(arg, run.nonce, n));
    }
    peers[c->id].query = true;
}

static void src_hello(struct mig_conn *c, const struct mig_record *r)
{
    static struct mig_hello h;
    CHECK(!run.query_mode && c->id == 0 && peers[0].authed);
    CHECK(mig_parse_hello(r, &h) == 0);
    CHECK(h.vcpus == fake_vm.nvcpus && h.mem_bytes == fake_vm.mem_size);
    CHECK(!strcmp(h.name, fake_vm.name) && h.nnics == fake_vm.nnics);
    CHECK(h.ndisks == (run.disk_copy || fake_vm.disk_net ? 1 : 0));
    CHECK(h.ndevices == fake_vm.devs.ndevs);
    CHECK(h.streams == run.streams_asked);
    peers[0].hello = true;
}

/* The guest's state after STOP: each vCPU's, its XSAVE area cut to what its XCR0 can hold. */
static void src_state(const struct mig_record *r)
{
    static struct vcpu_state vs;
    uint32_t i;
    uint64_t tsc, bv;
    const uint8_t *p;
    size_t n;
    struct mig_dev_id id;
    if (r->type == MIG_REC_VCPU) {
        CHECK(mig_parse_vcpu(r, &i, &vs) == 0 && i < fake_vm.nvcpus);
        run.vcpus_sent |= 1u << i;
    } else if (r->type == MIG_REC_XSAVE) {
        CHECK(mig_parse_xsave(r, &i, &p, &n) == 0 && i < fake_vm.nvcpus);
        uint64_t mask = (fake_vm.policy.xcr0_mask | fake_vm.vcpus[i].xcr0 | 3) &
                        fpu_xcr0_supported();
        memcpy(&bv, p + 512, 8);
        CHECK(n == fpu_area_size_for(mask) && !(bv & ~mask));
        run.xsaves_sent |= 1u << i;
    } else if (r->type == MIG_REC_DEVICE) {
        CHECK(mig_parse_device(r, &id, &p, &n) == 0 && fake_vm.devs.ndevs);
        run.devices_sent++;
    } else if (r->type == MIG_REC_TSC) {
        CHECK(mig_parse_tsc(r, &tsc, &i) == 0);
        run.tsc_sent = true;
    } else {
        CHECK(r->type == MIG_REC_ROUND_END && mig_parse_round_end(r, &i, &tsc) == 0);
    }
}

/* COMMIT came and every further stream ended: RAM and disk here as they are there. */
static void complete(void)
{
    if (!run.commit_seen || run.lanes_ended + 1 < run.streams)
        return;
    CHECK(!memcmp(run.t_ram, fake_ram, run.ram_bytes));
    CHECK(!run.disk_copy || !memcmp(run.t_disk, run.disk, run.disk_bytes));
}

/* COMMIT: the guest paused, all of its state sent (its pages, once every stream ended). */
static void src_commit(void)
{
    unsigned all = (1u << fake_vm.nvcpus) - 1;
    CHECK(fake_vm.state == VM_PAUSED || fake_destroys);
    CHECK(run.vcpus_sent == all && run.xsaves_sent == all && run.tsc_sent);
    CHECK(run.devices_sent == fake_vm.devs.ndevs);
    run.commit_sent = run.commit_seen = true;
    complete();
}

/* JOIN opens a further stream: only once ACCEPT granted it, with its token, each index once. */
static void src_join(struct mig_conn *c, const struct mig_record *r)
{
    const uint8_t *tok;
    uint16_t k;
    CHECK(!run.query_mode && c->id > 0 && peers[0].hello && run.streams > 1);
    CHECK(mig_parse_join(r, &tok, &k) == 0 && k < run.streams);
    CHECK(!memcmp(tok, run.token, MIG_JOIN_TOKEN));
    for (unsigned i = 1; i < fake_nconns; i++)
        CHECK(i == c->id || peers[i].lane != k);
    peers[c->id].lane = k;
    peers[c->id].hello = true;
}

/* STREAM_END: after the stop, counting exactly the pages the stream carried. */
static void src_stream_end(struct mig_conn *c, const struct mig_record *r)
{
    uint32_t pass;
    uint64_t pages;
    struct peer *p = &peers[c->id];
    CHECK(p->lane && !p->ended && mig_parse_stream_end(r, &pass, &pages) == 0);
    CHECK(pages == p->pages && pass >= p->pass);
    CHECK(fake_vm.state == VM_PAUSED || fake_destroys);
    p->ended = true;
    run.lanes_ended++;
    complete();
}

static void src_record(struct mig_conn *c, const struct mig_record *r)
{
    const uint8_t *p;
    size_t n;
    uint16_t inst;
    if (r->type == MIG_REC_AUTH_CHALLENGE || r->type == MIG_REC_AUTH_RESPONSE) {
        src_auth(c, r);
        return;
    }
    if (r->type == MIG_REC_HELLO) {
        src_hello(c, r);
        return;
    }
    if (r->type == MIG_REC_QUERY) {
        src_query(c, r);
        return;
    }
    if (r->type == MIG_REC_JOIN) {
        src_join(c, r);
        return;
    }
    CHECK(peers[c->id].hello);                  /* the rest only after HELLO (or JOIN) */
    /* A further stream carries RAM and its end only, with the first stream's features. */
    struct peer *f = &peers[peers[c->id].lane ? 0 : c->id];
    CHECK(!peers[c->id].lane || r->type == MIG_REC_RAM || r->type == MIG_REC_STREAM_END);
    if (r->type == MIG_REC_STREAM_END) {
        src_stream_end(c, r);
        return;
    }
    if (r->type == MIG_REC_COMMIT) {
        src_commit();
    } else if (r->type == MIG_REC_RAM) {
        /* LZ4 and DELTA runs only where the ACCEPT the source took said so; deltas rebuild
         * pages from the copy the runs before gave this peer, so a source whose cache
         * differed from what it sent leaves pages that differ from the guest's. */
        uint32_t pass;
        CHECK(mig_parse_ram(r, &pass, &p, &n) == 0 && pass >= peers[c->id].pass);
        peers[c->id].pass = pass;               /* passes never go back */
        CHECK(mig_ram_parse_ex(p, n, ram_run, &peers[c->id], unpack, f->lz4,
                               f->delta ? held_page : NULL, NULL) == 0);
    } else if (r->type == MIG_REC_DISK) {
        CHECK(mig_parse_disk(r, &inst, &p, &n) == 0 && inst == 0);
        CHECK(mig_ram_parse_lz4(p, n, disk_run, NULL, peers[c->id].lz4 ? unpack : NULL) == 0);
    } else if (r->type == MIG_REC_STOP) {
        CHECK(fake_pauses || run.initial == VM_PAUSED);     /* it paused the guest */
    } else {
        src_state(r);
    }
}

/* The whole records the engine wrote on c: framing and CRC checked, each handled. */
static void peer_read(struct mig_conn *c)
{
    struct peer *p = &peers[c->id];
    if (!p->header) {
        if (c->out_len < MIG_STREAM_HDR_SIZE)
            return;
        uint16_t v = rd16(c->out + 8);
        CHECK(!memcmp(c->out, MIG_STREAM_MAGIC, 8) && !rd16(c->out + 10));
        CHECK(rd32(c->out + 12) == crc32c_update(0, c->out, 12));
        CHECK(v == MIG_STREAM_VERSION || (run.old_stream && c->id == 0 &&
                                          v == MIG_STREAM_VERSION - 1));
        p->ordered &= v == MIG_STREAM_VERSION;
        if (p->ordered)
            CHECK(mig_dec_feed(&decs[c->id], c->out, MIG_STREAM_HDR_SIZE, NULL, NULL) ==
                  MIG_STREAM_HDR_SIZE);
        p->header = true;
        fake_conn_consume(c, MIG_STREAM_HDR_SIZE);
    }
    while (c->out_len >= MIG_REC_HDR_SIZE) {
        struct mig_record r = { .type = rd16(c->out), .flags = rd16(c->out + 2),
                                .len = rd32(c->out + 4), .payload = c->out + MIG_REC_HDR_SIZE };
        size_t size = MIG_REC_OVERHEAD + (size_t)r.len;
        CHECK(r.len <= MIG_REC_MAX_PAYLOAD && !r.flags);
        if (c->out_len < size)
            return;
        CHECK(rd32(r.payload + r.len) == crc32c_update(0, c->out, MIG_REC_HDR_SIZE + r.len));
        if (p->ordered)                         /* before the peer answers it */
            CHECK(mig_dec_feed(&decs[c->id], c->out, size, NULL, NULL) == (int)size);
        src_record(c, &r);
        fake_conn_consume(c, size);
    }
}

void peer_read_all(void)
{
    for (unsigned i = 0; i < fake_nconns; i++)
        if (fake_conns[i]->out_len)
            peer_read(fake_conns[i]);
}

/* ---- the peer's records ---- */

/* A reason, maybe in REFUSE's "cpu missing=..." form. */
static void reason(char *t, size_t cap)
{
    size_t n = 0, len = u8() % 48;
    if (u8() & 1)
        n = (size_t)snprintf(t, cap, "cpu missing=");
    while (n < len && n + 1 < cap)
        t[n++] = (char)(' ' + u8() % 95);
    t[n] = 0;
}

/* A record well framed by hand: any type, any length up to 255, a good CRC. */
static size_t raw_record(uint16_t type, uint16_t flags)
{
    size_t len = u8();
    rec[0] = (uint8_t)type, rec[1] = (uint8_t)(type >> 8);
    rec[2] = (uint8_t)flags, rec[3] = (uint8_t)(flags >> 8);
    rec[4] = (uint8_t)len, rec[5] = rec[6] = rec[7] = 0;
    for (size_t i = 0; i < len; i++)
        rec[MIG_REC_HDR_SIZE + i] = u8();
    uint32_t crc = crc32c_update(0, rec, MIG_REC_HDR_SIZE + len);
    for (unsigned i = 0; i < 4; i++)
        rec[MIG_REC_HDR_SIZE + len + i] = (uint8_t)(crc >> 8 * i);
    return MIG_REC_OVERHEAD + len;
}

/* A QUERY_REPLY: the asked kind or another, any status, up to 4095 bytes of data. */
static void query_reply(struct mig_enc *e, uint32_t want)
{
    static uint8_t data[MIG_QUERY_DATA_MAX];
    uint8_t b = u8();
    size_t n = b & 4 ? (size_t)(u8() << 4 | (b >> 4)) : b >> 4;
    uint32_t kind = b & 1 ? want : b & 2 ? (want ^ 3) : u8();
    uint32_t status = u8() % 6;
    for (size_t i = 0; i < n; i++)
        data[i] = u8();
    CHECK(mig_rec_query_reply(e, kind, status, data, n) == 0);
}

void peer_reply_cut(struct mig_conn *c)
{
    struct mig_enc e;
    mig_enc_init(&e, rec, sizeof(rec));
    query_reply(&e, qs.kind);
    deliver(c, rec, u8() % e.len, false);
}

static const uint16_t src_types[] = {
    MIG_REC_HELLO, MIG_REC_RAM, MIG_REC_ROUND_END, MIG_REC_DISK, MIG_REC_STOP, MIG_REC_VCPU,
    MIG_REC_DEVICE, MIG_REC_TSC, MIG_REC_XSAVE, MIG_REC_COMMIT, MIG_REC_QUERY,
};

void peer_record(struct mig_conn *c)
{
    struct mig_enc e;
    char t[64];
    uint16_t type;
    uint8_t b[MIG_AUTH_BYTES];
    mig_enc_init(&e, rec, sizeof(rec));
    switch (u8() % 10) {
    case 0: {
        /* The features in the low bits; with several streams asked for, the high ones grant
         * 1 + (b >> 4) % asked. */
        uint8_t f = u8();
        uint16_t k = run.streams_asked > 1 ? (uint16_t)(1 + (f >> 4) % run.streams_asked) : 1;
        type = MIG_REC_ACCEPT;
        for (unsigned i = 0; i < MIG_JOIN_TOKEN; i++)
            run.token[i] = (uint8_t)(0x33 + 5 * i);
        CHECK(mig_rec_accept(&e, f & MIG_FEAT_ALL, k, run.token) == 0);
        break;
    }
    case 1:
        type = MIG_REC_COMMIT_ACK;
        CHECK(mig_rec_commit_ack(&e, (uint32_t)u8() << 16) == 0);
        break;
    case 2:
    case 3:
        b[0] = u8();
        type = b[0] & 1 ? MIG_REC_REFUSE : MIG_REC_ERROR;
        if (b[0] & 2) {
            e.len = raw_record(type, 0);        /* any bytes: an unprintable reason */
            break;
        }
        reason(t, sizeof(t));
        CHECK(mig_rec_reason(&e, type, b[0] >> 2, t) == 0);
        break;
    case 4:
    case 5:
        type = MIG_REC_QUERY_REPLY;
        query_reply(&e, run.query_mode ? qs.kind : MIG_QUERY_MIGRATION);
        break;
    case 6:
        type = u8() & 1 ? MIG_REC_AUTH_CHALLENGE : MIG_REC_AUTH_RESPONSE;
        for (unsigned i = 0; i < sizeof(b); i++)
            b[i] = u8();
        CHECK(mig_rec_auth(&e, type, b) == 0);
        break;
    case 7:                                     /* the source's own */
        type = src_types[u8() % (sizeof(src_types) / sizeof(src_types[0]))];
        e.len = raw_record(type, 0);
        break;
    default:                                    /* any type, maybe flags */
        type = (uint16_t)(u8() | u8() << 8);
        e.len = raw_record(type, u8() == 0xff);
        peer_raw(c, rec, e.len);
        return;
    }
    sent(c, type);
    deliver(c, rec, e.len, false);
}
