/*
 * Migration stream codec: framing, the conversation order, typed payloads.
 * The wire format is docs/migration-stream.md; keep the two in step.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "hv/base/compress.h"
#include "hv/base/crc32c.h"
#include "hv/base/delta.h"
#include "hv/mig/mig_stream.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void le32(uint8_t *p, uint32_t v) { le16(p, (uint16_t)v); le16(p + 2, (uint16_t)(v >> 16)); }
static void le64(uint8_t *p, uint64_t v) { le32(p, (uint32_t)v); le32(p + 4, (uint32_t)(v >> 32)); }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* ---- record types: name and payload length bounds ---- */

struct mig_type_info {
    const char *name;
    uint32_t min, max;
};

#define ANY MIG_REC_MAX_PAYLOAD
static const struct mig_type_info mig_types[] = {
    [MIG_REC_AUTH_CHALLENGE] = { "AUTH_CHALLENGE", MIG_AUTH_BYTES, MIG_AUTH_BYTES },
    [MIG_REC_AUTH_RESPONSE]  = { "AUTH_RESPONSE", MIG_AUTH_BYTES, MIG_AUTH_BYTES },
    [MIG_REC_JOIN]           = { "JOIN", MIG_JOIN_TOKEN + 8, MIG_JOIN_TOKEN + 8 },
    [MIG_REC_HELLO]          = { "HELLO", MIG_HELLO_FIXED, ANY },
    [MIG_REC_ACCEPT]         = { "ACCEPT", 4 + MIG_JOIN_TOKEN, 4 + MIG_JOIN_TOKEN },
    [MIG_REC_REFUSE]         = { "REFUSE", 4, 4 + MIG_REASON_MAX },
    [MIG_REC_RAM]            = { "RAM", 8 + MIG_RAM_RUN_SIZE, ANY },
    [MIG_REC_ROUND_END]      = { "ROUND_END", 16, 16 },
    [MIG_REC_DISK]           = { "DISK", 8 + MIG_RAM_RUN_SIZE, ANY },
    [MIG_REC_STREAM_END]     = { "STREAM_END", 16, 16 },
    [MIG_REC_STOP]           = { "STOP", 0, 0 },
    [MIG_REC_VCPU]           = { "VCPU", 4 + MIG_VCPU_STATE_SIZE, 4 + MIG_VCPU_STATE_SIZE },
    [MIG_REC_DEVICE]         = { "DEVICE", MIG_DEV_HDR_SIZE + 1,
                                 MIG_DEV_HDR_SIZE + MIG_DEV_RECORD_MAX },
    [MIG_REC_TSC]            = { "TSC", 16, 16 },
    [MIG_REC_XSAVE]          = { "XSAVE", 4 + MIG_XSAVE_MIN, 4 + MIG_XSAVE_MAX },
    [MIG_REC_COMMIT]         = { "COMMIT", 0, 0 },
    [MIG_REC_COMMIT_ACK]     = { "COMMIT_ACK", 8, 8 },
    [MIG_REC_QUERY]          = { "QUERY", 8, 8 + MIG_QUERY_ARG_MAX },
    [MIG_REC_QUERY_REPLY]    = { "QUERY_REPLY", 8, 8 + MIG_QUERY_DATA_MAX },
    [MIG_REC_ERROR]          = { "ERROR", 4, 4 + MIG_REASON_MAX },
};
#undef ANY

static const struct mig_type_info *type_info(uint16_t type)
{
    if (type >= ARRAY_SIZE(mig_types) || !mig_types[type].name)
        return NULL;
    return &mig_types[type];
}

const char *mig_rec_type_name(uint16_t type)
{
    const struct mig_type_info *ti = type_info(type);

    return ti ? ti->name : "?";
}

/* ---- order ---- */

/*
 * The conversation, as seen identically by both hosts: a record of `type`
 * from `from` is allowed in the phases of `phases` and moves to `next`
 * (STAY: no change). Anything else is an order violation. The handshake is
 * strictly alternating, so both hosts see the same sequence of phase changes.
 */
#define PH(p) (1u << MIG_PH_##p)
#define STAY  MIG_PH_COUNT
#define LIVE  (PH(COUNT) - 1 - PH(END))       /* every phase but END */
static const struct mig_order_rule {
    uint16_t phases;
    uint16_t type;
    uint8_t from;       /* enum mig_role */
    uint8_t next;       /* enum mig_phase, or STAY */
} mig_order[] = {
    { PH(AUTH_SRC_NONCE), MIG_REC_AUTH_CHALLENGE, MIG_ROLE_SRC, MIG_PH_AUTH_DST_NONCE },
    { PH(AUTH_DST_NONCE), MIG_REC_AUTH_CHALLENGE, MIG_ROLE_DST, MIG_PH_AUTH_DST_MAC },
    { PH(AUTH_DST_MAC),   MIG_REC_AUTH_RESPONSE,  MIG_ROLE_DST, MIG_PH_AUTH_SRC_MAC },
    { PH(AUTH_SRC_MAC),   MIG_REC_AUTH_RESPONSE,  MIG_ROLE_SRC, MIG_PH_HELLO },
    { PH(HELLO),          MIG_REC_HELLO,          MIG_ROLE_SRC, MIG_PH_DECIDE },
    { PH(DECIDE),         MIG_REC_ACCEPT,         MIG_ROLE_DST, MIG_PH_PRECOPY },
    { PH(DECIDE),         MIG_REC_REFUSE,         MIG_ROLE_DST, MIG_PH_END },
    { PH(PRECOPY) | PH(STOPPED), MIG_REC_RAM,     MIG_ROLE_SRC, STAY },
    { PH(PRECOPY) | PH(STOPPED), MIG_REC_ROUND_END, MIG_ROLE_SRC, STAY },
    { PH(PRECOPY) | PH(STOPPED), MIG_REC_DISK,    MIG_ROLE_SRC, STAY },
    { PH(PRECOPY),        MIG_REC_STOP,           MIG_ROLE_SRC, MIG_PH_STOPPED },
    { PH(STOPPED),        MIG_REC_VCPU,           MIG_ROLE_SRC, STAY },
    { PH(STOPPED),        MIG_REC_DEVICE,         MIG_ROLE_SRC, STAY },
    { PH(STOPPED),        MIG_REC_XSAVE,          MIG_ROLE_SRC, STAY },
    { PH(STOPPED),        MIG_REC_TSC,            MIG_ROLE_SRC, STAY },
    { PH(STOPPED),        MIG_REC_COMMIT,         MIG_ROLE_SRC, MIG_PH_COMMITTED },
    { PH(COMMITTED),      MIG_REC_COMMIT_ACK,     MIG_ROLE_DST, MIG_PH_END },
    { PH(HELLO),          MIG_REC_QUERY,          MIG_ROLE_SRC, MIG_PH_QUERIED },
    { PH(QUERIED),        MIG_REC_QUERY_REPLY,    MIG_ROLE_DST, MIG_PH_END },
    /* Another stream of a migration: JOIN instead of the handshake, pages, its end. */
    { PH(AUTH_SRC_NONCE), MIG_REC_JOIN,           MIG_ROLE_SRC, MIG_PH_JOINED },
    { PH(JOINED),         MIG_REC_RAM,            MIG_ROLE_SRC, STAY },
    { PH(JOINED),         MIG_REC_STREAM_END,     MIG_ROLE_SRC, MIG_PH_END },
    /* Either side may give up with ERROR, except the source once it committed. */
    { LIVE & ~PH(COMMITTED), MIG_REC_ERROR,       MIG_ROLE_SRC, MIG_PH_END },
    { LIVE,               MIG_REC_ERROR,          MIG_ROLE_DST, MIG_PH_END },
};
#undef PH
#undef LIVE

static int order_step(struct mig_decoder *d, uint16_t type, uint8_t from)
{
    for (size_t i = 0; i < ARRAY_SIZE(mig_order); i++) {
        const struct mig_order_rule *r = &mig_order[i];

        if (r->type == type && r->from == from && (r->phases & (1u << d->phase))) {
            if (r->next != STAY)
                d->phase = r->next;
            return 0;
        }
    }
    return -EPROTO;
}

const char *mig_phase_name(enum mig_phase p)
{
    static const char *const names[MIG_PH_COUNT] = {
        [MIG_PH_AUTH_SRC_NONCE] = "auth-src-nonce", [MIG_PH_AUTH_DST_NONCE] = "auth-dst-nonce",
        [MIG_PH_AUTH_DST_MAC] = "auth-dst-mac", [MIG_PH_AUTH_SRC_MAC] = "auth-src-mac",
        [MIG_PH_HELLO] = "hello", [MIG_PH_DECIDE] = "decide", [MIG_PH_PRECOPY] = "precopy",
        [MIG_PH_STOPPED] = "stopped", [MIG_PH_COMMITTED] = "committed",
        [MIG_PH_QUERIED] = "queried", [MIG_PH_JOINED] = "joined", [MIG_PH_END] = "end",
    };

    return (unsigned)p < MIG_PH_COUNT ? names[p] : "?";
}

/* ---- encoder ---- */

void mig_enc_init(struct mig_enc *e, void *buf, size_t cap)
{
    memset(e, 0, sizeof(*e));
    e->buf = buf;
    e->cap = cap;
}

void mig_enc_reset(struct mig_enc *e)
{
    if (!e->open)
        e->len = e->pos = 0;
}

int mig_stream_header_put(struct mig_enc *e)
{
    return mig_stream_header_put_as(e, MIG_STREAM_VERSION);
}

int mig_stream_header_put_as(struct mig_enc *e, uint16_t version)
{
    uint8_t *p;

    if (e->open)
        return -EINVAL;
    if (e->cap - e->len < MIG_STREAM_HDR_SIZE)
        return -ENOSPC;
    p = e->buf + e->len;
    memcpy(p, MIG_STREAM_MAGIC, 8);
    le16(p + 8, version);
    le16(p + 10, 0);
    le32(p + 12, crc32c_update(0, p, 12));
    e->len += MIG_STREAM_HDR_SIZE;
    e->pos = e->len;
    return 0;
}

int mig_rec_begin(struct mig_enc *e, uint16_t type)
{
    if (e->open)
        return -EINVAL;
    if (!type_info(type))
        return -ENOMSG;
    if (e->cap - e->len < MIG_REC_OVERHEAD)
        return -ENOSPC;
    le16(e->buf + e->len, type);
    le16(e->buf + e->len + 2, 0);
    le32(e->buf + e->len + 4, 0);
    e->pos = e->len + MIG_REC_HDR_SIZE;
    e->type = type;
    e->open = true;
    e->err = 0;
    return 0;
}

size_t mig_rec_room(const struct mig_enc *e)
{
    size_t used, rec_room, buf_room;

    if (!e->open)
        return 0;
    used = e->pos - e->len - MIG_REC_HDR_SIZE;
    rec_room = MIG_REC_MAX_PAYLOAD - used;
    buf_room = e->cap - e->pos - 4;           /* begin checked the CRC fits */
    return rec_room < buf_room ? rec_room : buf_room;
}

/* 0 if n more payload bytes fit; else the error, without latching it. */
static int enc_fits(const struct mig_enc *e, uint64_t n)
{
    if (!e->open)
        return -EINVAL;
    if (n > MIG_REC_MAX_PAYLOAD - (e->pos - e->len - MIG_REC_HDR_SIZE))
        return -E2BIG;
    if (n > e->cap - e->pos - 4)
        return -ENOSPC;
    return 0;
}

/* Where n payload bytes go, or NULL with the error latched. */
static uint8_t *enc_reserve(struct mig_enc *e, size_t n)
{
    int rc = e->err ? e->err : enc_fits(e, n);
    uint8_t *p;

    if (rc) {
        if (e->open && !e->err)
            e->err = rc;
        return NULL;
    }
    p = e->buf + e->pos;
    e->pos += n;
    return p;
}

static int enc_status(const struct mig_enc *e) { return e->open ? e->err : -EINVAL; }

int mig_put_u8(struct mig_enc *e, uint8_t v)
{
    uint8_t *p = enc_reserve(e, 1);

    if (p)
        *p = v;
    return enc_status(e);
}

int mig_put_u16(struct mig_enc *e, uint16_t v)
{
    uint8_t *p = enc_reserve(e, 2);

    if (p)
        le16(p, v);
    return enc_status(e);
}

int mig_put_u32(struct mig_enc *e, uint32_t v)
{
    uint8_t *p = enc_reserve(e, 4);

    if (p)
        le32(p, v);
    return enc_status(e);
}

int mig_put_u64(struct mig_enc *e, uint64_t v)
{
    uint8_t *p = enc_reserve(e, 8);

    if (p)
        le64(p, v);
    return enc_status(e);
}

int mig_put_bytes(struct mig_enc *e, const void *src, size_t n)
{
    uint8_t *p = enc_reserve(e, n);

    if (p && n)
        memcpy(p, src, n);
    return enc_status(e);
}

int mig_rec_end(struct mig_enc *e)
{
    const struct mig_type_info *ti = type_info(e->type);
    size_t plen;
    int rc;

    if (!e->open)
        return -EINVAL;
    plen = e->pos - e->len - MIG_REC_HDR_SIZE;
    rc = e->err;
    if (!rc && (plen < ti->min || plen > ti->max))
        rc = -EMSGSIZE;
    e->open = false;
    e->err = 0;
    if (rc) {
        e->pos = e->len;
        return rc;
    }
    le32(e->buf + e->len + 4, (uint32_t)plen);
    le32(e->buf + e->pos, crc32c_update(0, e->buf + e->len, e->pos - e->len));
    e->pos += 4;
    e->len = e->pos;
    return 0;
}

/* ---- decoder ---- */

void mig_dec_init(struct mig_decoder *d, enum mig_role self)
{
    d->role = (uint8_t)self;
    d->phase = MIG_PH_AUTH_SRC_NONCE;
    d->have_header = false;
    d->peer_version = 0;
    d->err = 0;
    d->bad_type = 0;
    d->fill = 0;
    d->records = 0;
    d->bytes = 0;
}

static int dec_fail(struct mig_decoder *d, int err)
{
    d->err = err;
    return err;
}

static int dec_stream_header(struct mig_decoder *d)
{
    if (memcmp(d->buf, MIG_STREAM_MAGIC, 8))
        return -EINVAL;
    if (rd32(d->buf + 12) != crc32c_update(0, d->buf, 12))
        return -EBADMSG;
    d->peer_version = rd16(d->buf + 8);
    if (d->peer_version != MIG_STREAM_VERSION || rd16(d->buf + 10))
        return -EPROTONOSUPPORT;
    d->have_header = true;
    d->fill = 0;
    return 0;
}

/* A whole record is in buf: check it, advance the phase, deliver it. */
static int dec_record(struct mig_decoder *d, mig_record_fn cb, void *ctx)
{
    struct mig_record r = {
        .type = rd16(d->buf), .flags = rd16(d->buf + 2), .len = rd32(d->buf + 4),
        .payload = d->buf + MIG_REC_HDR_SIZE,
    };
    const struct mig_type_info *ti;
    uint8_t peer = d->role == MIG_ROLE_SRC ? MIG_ROLE_DST : MIG_ROLE_SRC;

    /* CRC first: a flipped type or length bit is corruption, not a protocol error. */
    if (rd32(r.payload + r.len) != crc32c_update(0, d->buf, MIG_REC_HDR_SIZE + r.len))
        return -EBADMSG;
    d->bad_type = r.type;
    if (r.flags)
        return -EPROTONOSUPPORT;
    ti = type_info(r.type);
    if (!ti)
        return -ENOMSG;
    if (r.len < ti->min || r.len > ti->max)
        return -EMSGSIZE;
    if (order_step(d, r.type, peer))
        return -EPROTO;
    d->fill = 0;
    d->records++;
    return cb ? cb(&r, ctx) : 0;
}

int mig_dec_feed(struct mig_decoder *d, const uint8_t *buf, size_t n, mig_record_fn cb,
                 void *ctx)
{
    size_t used = 0, want, take;
    int rc;

    if (d->err)
        return d->err;
    if (n > INT32_MAX)
        n = INT32_MAX;          /* the count must fit the return value */
    while (used < n) {
        if (d->phase == MIG_PH_END) {
            d->bad_type = 0;            /* not a record yet: just bytes after the end */
            return dec_fail(d, -EPROTO);
        }
        if (!d->have_header)
            want = MIG_STREAM_HDR_SIZE;
        else if (d->fill < MIG_REC_HDR_SIZE)
            want = MIG_REC_HDR_SIZE;
        else
            want = MIG_REC_OVERHEAD + (size_t)rd32(d->buf + 4);
        take = want - d->fill < n - used ? want - d->fill : n - used;
        memcpy(d->buf + d->fill, buf + used, take);
        d->fill += (uint32_t)take;
        used += take;
        d->bytes += take;
        if (d->fill < want)
            break;
        if (!d->have_header) {
            rc = dec_stream_header(d);
        } else if (d->fill == MIG_REC_HDR_SIZE) {
            /* Reject a huge length now instead of waiting for its bytes. */
            rc = rd32(d->buf + 4) > MIG_REC_MAX_PAYLOAD ? -E2BIG : 0;
        } else {
            rc = dec_record(d, cb, ctx);
            if (rc > 0)
                break;
        }
        if (rc < 0)
            return dec_fail(d, rc);
    }
    return (int)used;
}

int mig_dec_sent(struct mig_decoder *d, uint16_t type)
{
    if (d->err)
        return d->err;
    return order_step(d, type, d->role);
}

bool mig_dec_idle(const struct mig_decoder *d) { return d->fill == 0; }
size_t mig_dec_pending(const struct mig_decoder *d) { return d->fill; }
bool mig_dec_done(const struct mig_decoder *d) { return d->phase == MIG_PH_END; }
enum mig_phase mig_dec_phase(const struct mig_decoder *d) { return (enum mig_phase)d->phase; }

/* ---- payload reader ---- */

void mig_rd_init(struct mig_rd *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
    r->bad = false;
}

const uint8_t *mig_get_bytes(struct mig_rd *r, size_t n)
{
    const uint8_t *p;

    if (r->bad || n > r->len - r->off) {
        r->bad = true;
        return NULL;
    }
    p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t mig_get_u8(struct mig_rd *r)
{
    const uint8_t *p = mig_get_bytes(r, 1);

    return p ? *p : 0;
}

uint16_t mig_get_u16(struct mig_rd *r)
{
    const uint8_t *p = mig_get_bytes(r, 2);

    return p ? rd16(p) : 0;
}

uint32_t mig_get_u32(struct mig_rd *r)
{
    const uint8_t *p = mig_get_bytes(r, 4);

    return p ? rd32(p) : 0;
}

uint64_t mig_get_u64(struct mig_rd *r)
{
    const uint8_t *p = mig_get_bytes(r, 8);

    return p ? rd64(p) : 0;
}

bool mig_rd_done(const struct mig_rd *r) { return !r->bad && r->off == r->len; }

/* ---- vCPU state ---- */

/*
 * The wire layout of struct vcpu_state, in order: each field little-endian at
 * its own width, reserved fields left out. Changing this table changes the
 * format: bump MIG_VCPU_STATE_FORMAT and fix MIG_VCPU_STATE_SIZE and the doc.
 */
struct vcpu_field {
    uint16_t off;
    uint8_t size;
};

#define VF(m)   { offsetof(struct vcpu_state, m), sizeof(((struct vcpu_state *)0)->m) }
#define VSEG(s) VF(s.sel), VF(s.attr), VF(s.limit), VF(s.base)
#define VDT(t)  VF(t.base), VF(t.limit)
static const struct vcpu_field vcpu_fields[] = {
    VF(activity),
    VF(gpr[GPR_RAX]), VF(gpr[GPR_RCX]), VF(gpr[GPR_RDX]), VF(gpr[GPR_RBX]),
    VF(gpr[GPR_RSP]), VF(gpr[GPR_RBP]), VF(gpr[GPR_RSI]), VF(gpr[GPR_RDI]),
    VF(gpr[GPR_R8]), VF(gpr[GPR_R9]), VF(gpr[GPR_R10]), VF(gpr[GPR_R11]),
    VF(gpr[GPR_R12]), VF(gpr[GPR_R13]), VF(gpr[GPR_R14]), VF(gpr[GPR_R15]),
    VF(rip), VF(rflags), VF(cr0), VF(cr2), VF(cr3), VF(cr4), VF(cr8), VF(dr7),
    VF(efer), VF(pat), VF(xcr0),
    VSEG(es), VSEG(cs), VSEG(ss), VSEG(ds), VSEG(fs), VSEG(gs), VSEG(ldtr), VSEG(tr),
    VDT(gdtr), VDT(idtr),
    VF(sysenter_cs), VF(sysenter_esp), VF(sysenter_eip),
    VF(star), VF(lstar), VF(cstar), VF(sfmask), VF(kernel_gs_base),
    VF(tsc), VF(tsc_aux),
    VF(interruptibility),
    VF(pending.type), VF(pending.vector), VF(pending.has_error), VF(pending.error),
};
#undef VF
#undef VSEG
#undef VDT
_Static_assert(GPR_COUNT == 16, "vcpu_fields lists 16 GPRs");

int mig_put_vcpu_state(struct mig_enc *e, const struct vcpu_state *s)
{
    const uint8_t *base = (const uint8_t *)s;

    mig_put_u32(e, MIG_VCPU_STATE_FORMAT);
    for (size_t i = 0; i < ARRAY_SIZE(vcpu_fields); i++) {
        const void *f = base + vcpu_fields[i].off;

        switch (vcpu_fields[i].size) {
        case 1: mig_put_u8(e, *(const uint8_t *)f); break;
        case 2: mig_put_u16(e, *(const uint16_t *)f); break;
        case 4: mig_put_u32(e, *(const uint32_t *)f); break;
        default: mig_put_u64(e, *(const uint64_t *)f); break;
        }
    }
    return enc_status(e);
}

static bool vcpu_state_valid(const struct vcpu_state *s)
{
    const struct seg *segs[] = { &s->es, &s->cs, &s->ss, &s->ds, &s->fs, &s->gs, &s->ldtr,
                                 &s->tr };

    for (size_t i = 0; i < ARRAY_SIZE(segs); i++)
        if (segs[i]->attr & ~(0xfffu | SEG_UNUSABLE))
            return false;
    return s->activity <= ACT_WAIT_SIPI &&
           !(s->interruptibility & ~(uint32_t)(INTR_STI | INTR_MOVSS | INTR_NMI)) &&
           s->pending.type <= EVENT_SOFTINT && s->pending.has_error <= 1 &&
           /* an event a CPU could deliver: an NMI is vector 2, an exception one of the 32,
            * and only an exception pushes an error code */
           (s->pending.type != EVENT_NMI || s->pending.vector == 2) &&
           (s->pending.type != EVENT_EXCEPTION || s->pending.vector < 32) &&
           (!s->pending.has_error || s->pending.type == EVENT_EXCEPTION) &&
           (s->pending.type != EVENT_NONE || (!s->pending.vector && !s->pending.has_error &&
                                              !s->pending.error));
}

int mig_get_vcpu_state(struct mig_rd *r, struct vcpu_state *out)
{
    struct vcpu_state s;
    uint8_t *base = (uint8_t *)&s;

    memset(&s, 0, sizeof(s));
    if (mig_get_u32(r) != MIG_VCPU_STATE_FORMAT)
        return -EINVAL;
    for (size_t i = 0; i < ARRAY_SIZE(vcpu_fields); i++) {
        void *f = base + vcpu_fields[i].off;

        switch (vcpu_fields[i].size) {
        case 1: *(uint8_t *)f = mig_get_u8(r); break;
        case 2: *(uint16_t *)f = mig_get_u16(r); break;
        case 4: *(uint32_t *)f = mig_get_u32(r); break;
        default: *(uint64_t *)f = mig_get_u64(r); break;
        }
    }
    if (r->bad || !vcpu_state_valid(&s))
        return -EINVAL;
    s.version = VCPU_STATE_VERSION;
    *out = s;
    return 0;
}

/* ---- typed records ---- */

int mig_rec_empty(struct mig_enc *e, uint16_t type)
{
    int rc = mig_rec_begin(e, type);

    return rc ? rc : mig_rec_end(e);
}

int mig_rec_accept(struct mig_enc *e, uint16_t features, uint16_t streams,
                   const uint8_t token[MIG_JOIN_TOKEN])
{
    static const uint8_t none[MIG_JOIN_TOKEN];
    int rc;

    if ((features & ~MIG_FEAT_ALL) || !streams || streams > MIG_STREAMS_MAX)
        return -EINVAL;
    rc = mig_rec_begin(e, MIG_REC_ACCEPT);
    if (rc)
        return rc;
    mig_put_u16(e, features);
    mig_put_u16(e, streams);
    mig_put_bytes(e, token ? token : none, MIG_JOIN_TOKEN);
    return mig_rec_end(e);
}

int mig_parse_accept(const struct mig_record *r, uint16_t *features, uint16_t *streams,
                     uint8_t token[MIG_JOIN_TOKEN])
{
    uint16_t n;

    if (r->type != MIG_REC_ACCEPT || r->len != 4 + MIG_JOIN_TOKEN ||
        (rd16(r->payload) & ~MIG_FEAT_ALL))
        return -EINVAL;
    n = rd16(r->payload + 2);
    if (!n || n > MIG_STREAMS_MAX)
        return -EINVAL;
    *features = rd16(r->payload);
    *streams = n;
    if (token)
        memcpy(token, r->payload + 4, MIG_JOIN_TOKEN);
    return 0;
}

int mig_rec_join(struct mig_enc *e, const uint8_t token[MIG_JOIN_TOKEN], uint16_t stream)
{
    int rc;

    if (!token || !stream || stream >= MIG_STREAMS_MAX)
        return -EINVAL;
    rc = mig_rec_begin(e, MIG_REC_JOIN);
    if (rc)
        return rc;
    mig_put_bytes(e, token, MIG_JOIN_TOKEN);
    mig_put_u16(e, stream);
    mig_put_u16(e, 0);
    mig_put_u32(e, 0);
    return mig_rec_end(e);
}

int mig_parse_join(const struct mig_record *r, const uint8_t **token, uint16_t *stream)
{
    const uint8_t *p = r->payload;
    uint16_t n;

    if (r->type != MIG_REC_JOIN || r->len != MIG_JOIN_TOKEN + 8)
        return -EINVAL;
    n = rd16(p + MIG_JOIN_TOKEN);
    if (!n || n >= MIG_STREAMS_MAX || rd16(p + MIG_JOIN_TOKEN + 2) || rd32(p + MIG_JOIN_TOKEN + 4))
        return -EINVAL;
    *token = p;
    *stream = n;
    return 0;
}

/* ROUND_END and STREAM_END: a round or pass u32, reserved u32, pages u64. */
static int rec_round_pages(struct mig_enc *e, uint16_t type, uint32_t round, uint64_t pages)
{
    int rc = mig_rec_begin(e, type);

    if (rc)
        return rc;
    mig_put_u32(e, round);
    mig_put_u32(e, 0);
    mig_put_u64(e, pages);
    return mig_rec_end(e);
}

static int parse_round_pages(const struct mig_record *r, uint16_t type, uint32_t *round,
                             uint64_t *pages)
{
    if (r->type != type || r->len != 16 || rd32(r->payload + 4))
        return -EINVAL;
    *round = rd32(r->payload);
    *pages = rd64(r->payload + 8);
    return 0;
}

int mig_rec_stream_end(struct mig_enc *e, uint32_t pass, uint64_t pages)
{
    return rec_round_pages(e, MIG_REC_STREAM_END, pass, pages);
}

int mig_parse_stream_end(const struct mig_record *r, uint32_t *pass, uint64_t *pages)
{
    return parse_round_pages(r, MIG_REC_STREAM_END, pass, pages);
}

int mig_rec_commit_ack(struct mig_enc *e, uint32_t stopped_us)
{
    int rc = mig_rec_begin(e, MIG_REC_COMMIT_ACK);

    if (rc)
        return rc;
    mig_put_u32(e, stopped_us);
    mig_put_u32(e, 0);
    return mig_rec_end(e);
}

int mig_parse_commit_ack(const struct mig_record *r, uint32_t *stopped_us)
{
    if (r->type != MIG_REC_COMMIT_ACK || r->len != 8 || rd32(r->payload + 4))
        return -EINVAL;
    *stopped_us = rd32(r->payload);
    return 0;
}

int mig_rec_auth(struct mig_enc *e, uint16_t type, const uint8_t b[MIG_AUTH_BYTES])
{
    int rc;

    if (type != MIG_REC_AUTH_CHALLENGE && type != MIG_REC_AUTH_RESPONSE)
        return -EINVAL;
    rc = mig_rec_begin(e, type);
    if (rc)
        return rc;
    mig_put_bytes(e, b, MIG_AUTH_BYTES);
    return mig_rec_end(e);
}

/* A VM name: 1..MIG_NAME_MAX-1 printable non-space characters, NUL-padded. */
static bool name_valid(const char *name)
{
    size_t n = 0;

    while (n < MIG_NAME_MAX && name[n])
        if (name[n] <= ' ' || name[n++] > '~')
            return false;
    if (n == 0 || n == MIG_NAME_MAX)
        return false;
    while (n < MIG_NAME_MAX)
        if (name[n++])
            return false;
    return true;
}

static bool hello_valid(const struct mig_hello *h)
{
    return h->version == MIG_STREAM_VERSION && h->vcpus >= 1 && h->vcpus <= MIG_MAX_VCPUS &&
           h->mem_bytes && !(h->mem_bytes % MIG_PAGE_SIZE) &&
           h->mem_bytes / MIG_PAGE_SIZE <= MIG_GFN_LIMIT && h->ndevices <= MIG_MAX_DEVICES &&
           h->policy_len <= MIG_POLICY_MAX && h->nnics <= MIG_MAX_NICS &&
           h->ndisks <= MIG_MAX_DISKS && !(h->features & ~MIG_FEAT_ALL) && h->streams >= 1 &&
           h->streams <= MIG_STREAMS_MAX;
}

/* A disk: a size, a location of printable non-space characters NUL-padded to the end of its
 * field; a shared disk's (NBD) starts with nbd://, a local disk's is a name that does not. */
static bool disk_valid(const struct mig_disk *d)
{
    size_t len = strnlen(d->loc, MIG_DISK_LOC_MAX);
    bool prefix = !strncmp(d->loc, "nbd://", 6);
    if ((d->kind != MIG_DISK_NBD && d->kind != MIG_DISK_LOCAL) || !d->sectors ||
        d->sectors >= (1ull << 55) || len == MIG_DISK_LOC_MAX || !len ||
        (d->kind == MIG_DISK_NBD ? !prefix || len <= 6 : prefix))
        return false;
    for (size_t i = 0; i < MIG_DISK_LOC_MAX; i++)
        if (i < len ? d->loc[i] <= ' ' || d->loc[i] > '~' : d->loc[i] != 0)
            return false;
    return true;
}

/* A switch name: 1-15 letters, digits, '-' or '_', NULs to the end of its field; a MAC:
 * unicast, not all zeros. */
static bool nic_valid(const struct mig_nic *n)
{
    size_t len = strnlen(n->sw, MIG_SWITCH_MAX);
    if (!len || len == MIG_SWITCH_MAX)
        return false;
    for (size_t i = 0; i < MIG_SWITCH_MAX; i++) {
        char c = n->sw[i];
        bool ok = i >= len ? c == 0 : (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                      (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok)
            return false;
    }
    uint8_t any = 0;
    for (unsigned i = 0; i < 6; i++)
        any |= n->mac[i];
    return any && !(n->mac[0] & 1);
}

int mig_rec_hello(struct mig_enc *e, const struct mig_hello *h)
{
    char name[MIG_NAME_MAX] = { 0 };
    int rc;

    strncpy(name, h->name, MIG_NAME_MAX);
    if (!hello_valid(h) || !name_valid(name) || (h->policy_len && !h->policy))
        return -EINVAL;
    rc = mig_rec_begin(e, MIG_REC_HELLO);
    if (rc)
        return rc;
    mig_put_u16(e, h->version);
    mig_put_u16(e, h->features);
    mig_put_u32(e, h->vcpus);
    mig_put_u64(e, h->mem_bytes);
    mig_put_bytes(e, name, MIG_NAME_MAX);
    mig_put_u32(e, h->policy_len);
    mig_put_u16(e, h->ndevices);
    mig_put_u16(e, h->streams);
    mig_put_bytes(e, h->policy, h->policy_len);
    for (unsigned i = 0; i < h->ndevices; i++) {
        mig_put_u16(e, h->devices[i].type);
        mig_put_u16(e, h->devices[i].instance);
        mig_put_u16(e, h->devices[i].version);
        mig_put_u16(e, 0);
    }
    mig_put_u16(e, h->nnics);
    mig_put_u16(e, 0);
    for (unsigned i = 0; i < h->nnics; i++) {
        struct mig_nic n;
        memset(&n, 0, sizeof(n));
        strncpy(n.sw, h->nics[i].sw, MIG_SWITCH_MAX - 1);
        memcpy(n.mac, h->nics[i].mac, 6);
        if (!nic_valid(&n))
            return -EINVAL;
        mig_put_bytes(e, n.sw, MIG_SWITCH_MAX);
        mig_put_bytes(e, n.mac, 6);
        mig_put_u16(e, 0);
    }
    mig_put_u16(e, h->ndisks);
    mig_put_u16(e, 0);
    for (unsigned i = 0; i < h->ndisks; i++) {
        struct mig_disk d;
        memset(&d, 0, sizeof(d));
        d.kind = h->disks[i].kind;
        d.sectors = h->disks[i].sectors;
        strncpy(d.loc, h->disks[i].loc, MIG_DISK_LOC_MAX - 1);
        if (!disk_valid(&d))
            return -EINVAL;
        mig_put_u8(e, d.kind);
        for (unsigned k = 0; k < 7; k++)
            mig_put_u8(e, 0);
        mig_put_u64(e, d.sectors);
        mig_put_bytes(e, d.loc, MIG_DISK_LOC_MAX);
    }
    return mig_rec_end(e);
}

int mig_rec_reason(struct mig_enc *e, uint16_t type, uint32_t code, const char *reason)
{
    size_t n = reason ? strnlen(reason, MIG_REASON_MAX) : 0;
    int rc;

    if (type != MIG_REC_REFUSE && type != MIG_REC_ERROR)
        return -EINVAL;
    rc = mig_rec_begin(e, type);
    if (rc)
        return rc;
    mig_put_u32(e, code);
    /* Longer reasons are cut; anything unprintable goes out as '?'. */
    for (size_t i = 0; i < n; i++)
        mig_put_u8(e, reason[i] >= ' ' && reason[i] <= '~' ? (uint8_t)reason[i] : '?');
    return mig_rec_end(e);
}

int mig_rec_query(struct mig_enc *e, uint32_t kind, const void *arg, size_t n)
{
    int rc;
    if (n > MIG_QUERY_ARG_MAX || (n && !arg))
        return -EINVAL;
    if ((rc = mig_rec_begin(e, MIG_REC_QUERY)))
        return rc;
    mig_put_u32(e, kind);
    mig_put_u32(e, 0);
    mig_put_bytes(e, arg, n);
    return mig_rec_end(e);
}

int mig_rec_query_reply(struct mig_enc *e, uint32_t kind, uint32_t status, const void *data,
                        size_t n)
{
    int rc;
    if (n > MIG_QUERY_DATA_MAX || (n && !data))
        return -EINVAL;
    if ((rc = mig_rec_begin(e, MIG_REC_QUERY_REPLY)))
        return rc;
    mig_put_u32(e, kind);
    mig_put_u32(e, status);
    mig_put_bytes(e, data, n);
    return mig_rec_end(e);
}

int mig_parse_query(const struct mig_record *r, uint32_t *kind, const uint8_t **arg, size_t *n)
{
    if (r->type != MIG_REC_QUERY || r->len < 8 || r->len > 8 + MIG_QUERY_ARG_MAX ||
        rd32(r->payload + 4))
        return -EINVAL;
    *kind = rd32(r->payload);
    *arg = r->payload + 8;
    *n = r->len - 8;
    return 0;
}

int mig_parse_query_reply(const struct mig_record *r, uint32_t *kind, uint32_t *status,
                          const uint8_t **data, size_t *n)
{
    if (r->type != MIG_REC_QUERY_REPLY || r->len < 8 || r->len > 8 + MIG_QUERY_DATA_MAX)
        return -EINVAL;
    *kind = rd32(r->payload);
    *status = rd32(r->payload + 4);
    *data = r->payload + 8;
    *n = r->len - 8;
    return 0;
}

int mig_rec_round_end(struct mig_enc *e, uint32_t round, uint64_t pages)
{
    return rec_round_pages(e, MIG_REC_ROUND_END, round, pages);
}

int mig_rec_tsc(struct mig_enc *e, uint64_t tsc, uint32_t tsc_khz)
{
    int rc = mig_rec_begin(e, MIG_REC_TSC);

    if (rc)
        return rc;
    mig_put_u64(e, tsc);
    mig_put_u32(e, tsc_khz);
    mig_put_u32(e, 0);
    return mig_rec_end(e);
}

int mig_rec_vcpu(struct mig_enc *e, uint32_t index, const struct vcpu_state *s)
{
    int rc;

    if (index >= MIG_MAX_VCPUS)
        return -EINVAL;
    rc = mig_rec_begin(e, MIG_REC_VCPU);
    if (rc)
        return rc;
    mig_put_u32(e, index);
    mig_put_vcpu_state(e, s);
    return mig_rec_end(e);
}

int mig_rec_device(struct mig_enc *e, const struct mig_dev_id *id, const void *blob, size_t n)
{
    int rc;

    if (!id->type || !id->version || !n || n > MIG_DEV_RECORD_MAX || !blob)
        return -EINVAL;
    rc = mig_rec_begin(e, MIG_REC_DEVICE);
    if (rc)
        return rc;
    mig_put_u16(e, id->type);
    mig_put_u16(e, id->instance);
    mig_put_u16(e, id->version);
    mig_put_u16(e, 0);
    mig_put_bytes(e, blob, n);
    return mig_rec_end(e);
}

int mig_rec_xsave(struct mig_enc *e, uint32_t vcpu, const void *area, size_t n)
{
    int rc;

    if (vcpu >= MIG_MAX_VCPUS || n < MIG_XSAVE_MIN || n > MIG_XSAVE_MAX || !area)
        return -EINVAL;
    rc = mig_rec_begin(e, MIG_REC_XSAVE);
    if (rc)
        return rc;
    mig_put_u32(e, vcpu);
    mig_put_bytes(e, area, n);
    return mig_rec_end(e);
}

/* ---- parsers ---- */

int mig_parse_auth(const struct mig_record *r, const uint8_t **b)
{
    if ((r->type != MIG_REC_AUTH_CHALLENGE && r->type != MIG_REC_AUTH_RESPONSE) ||
        r->len != MIG_AUTH_BYTES)
        return -EINVAL;
    *b = r->payload;
    return 0;
}

int mig_parse_hello(const struct mig_record *r, struct mig_hello *out)
{
    struct mig_hello h;
    struct mig_rd rd;
    const uint8_t *name;

    if (r->type != MIG_REC_HELLO)
        return -EINVAL;
    memset(&h, 0, sizeof(h));
    mig_rd_init(&rd, r->payload, r->len);
    h.version = mig_get_u16(&rd);
    h.features = mig_get_u16(&rd);
    h.vcpus = mig_get_u32(&rd);
    h.mem_bytes = mig_get_u64(&rd);
    name = mig_get_bytes(&rd, MIG_NAME_MAX);
    if (name)
        memcpy(h.name, name, MIG_NAME_MAX);
    h.policy_len = mig_get_u32(&rd);
    h.ndevices = mig_get_u16(&rd);
    h.streams = mig_get_u16(&rd);
    if (rd.bad || !hello_valid(&h) || !name_valid(h.name))
        return -EINVAL;
    h.policy = mig_get_bytes(&rd, h.policy_len);
    for (unsigned i = 0; i < h.ndevices; i++) {
        h.devices[i].type = mig_get_u16(&rd);
        h.devices[i].instance = mig_get_u16(&rd);
        h.devices[i].version = mig_get_u16(&rd);
        if (mig_get_u16(&rd) || !h.devices[i].type || !h.devices[i].version)
            return -EINVAL;
    }
    h.nnics = mig_get_u16(&rd);
    if (mig_get_u16(&rd) || h.nnics > MIG_MAX_NICS)
        return -EINVAL;
    for (unsigned i = 0; i < h.nnics; i++) {
        const uint8_t *sw = mig_get_bytes(&rd, MIG_SWITCH_MAX), *mac = mig_get_bytes(&rd, 6);
        if (!sw || !mac)
            return -EINVAL;
        memcpy(h.nics[i].sw, sw, MIG_SWITCH_MAX);
        memcpy(h.nics[i].mac, mac, 6);
        if (mig_get_u16(&rd) || !nic_valid(&h.nics[i]))
            return -EINVAL;
    }
    h.ndisks = mig_get_u16(&rd);
    if (mig_get_u16(&rd) || h.ndisks > MIG_MAX_DISKS)
        return -EINVAL;
    for (unsigned i = 0; i < h.ndisks; i++) {
        struct mig_disk *d = &h.disks[i];
        d->kind = mig_get_u8(&rd);
        uint8_t any = 0;
        for (unsigned k = 0; k < 7; k++)
            any |= mig_get_u8(&rd);
        d->sectors = mig_get_u64(&rd);
        const uint8_t *loc = mig_get_bytes(&rd, MIG_DISK_LOC_MAX);
        if (!loc || any)
            return -EINVAL;
        memcpy(d->loc, loc, MIG_DISK_LOC_MAX);
        if (!disk_valid(d))
            return -EINVAL;
    }
    if (!mig_rd_done(&rd))
        return -EINVAL;
    *out = h;
    return 0;
}

int mig_parse_reason(const struct mig_record *r, uint32_t *code, const char **reason,
                     size_t *len)
{
    size_t n;

    if ((r->type != MIG_REC_REFUSE && r->type != MIG_REC_ERROR) || r->len < 4 ||
        r->len > 4 + MIG_REASON_MAX)
        return -EINVAL;
    n = r->len - 4;
    for (size_t i = 0; i < n; i++)
        if (r->payload[4 + i] < ' ' || r->payload[4 + i] > '~')
            return -EINVAL;
    *code = rd32(r->payload);
    *reason = (const char *)r->payload + 4;
    *len = n;
    return 0;
}

int mig_parse_round_end(const struct mig_record *r, uint32_t *round, uint64_t *pages)
{
    return parse_round_pages(r, MIG_REC_ROUND_END, round, pages);
}

int mig_parse_tsc(const struct mig_record *r, uint64_t *tsc, uint32_t *tsc_khz)
{
    if (r->type != MIG_REC_TSC || r->len != 16 || rd32(r->payload + 12))
        return -EINVAL;
    *tsc = rd64(r->payload);
    *tsc_khz = rd32(r->payload + 8);
    return 0;
}

int mig_parse_vcpu(const struct mig_record *r, uint32_t *index, struct vcpu_state *s)
{
    struct vcpu_state tmp;
    struct mig_rd rd;
    uint32_t i;

    if (r->type != MIG_REC_VCPU)
        return -EINVAL;
    mig_rd_init(&rd, r->payload, r->len);
    i = mig_get_u32(&rd);
    if (i >= MIG_MAX_VCPUS || mig_get_vcpu_state(&rd, &tmp) || !mig_rd_done(&rd))
        return -EINVAL;
    *index = i;
    *s = tmp;
    return 0;
}

int mig_parse_device(const struct mig_record *r, struct mig_dev_id *id, const uint8_t **blob,
                     size_t *n)
{
    if (r->type != MIG_REC_DEVICE || r->len <= MIG_DEV_HDR_SIZE ||
        r->len > MIG_DEV_HDR_SIZE + MIG_DEV_RECORD_MAX || !rd16(r->payload) ||
        !rd16(r->payload + 4) || rd16(r->payload + 6))
        return -EINVAL;
    id->type = rd16(r->payload);
    id->instance = rd16(r->payload + 2);
    id->version = rd16(r->payload + 4);
    *blob = r->payload + MIG_DEV_HDR_SIZE;
    *n = r->len - MIG_DEV_HDR_SIZE;
    return 0;
}

int mig_parse_xsave(const struct mig_record *r, uint32_t *vcpu, const uint8_t **area,
                    size_t *n)
{
    if (r->type != MIG_REC_XSAVE || r->len < 4 + MIG_XSAVE_MIN || r->len > 4 + MIG_XSAVE_MAX ||
        rd32(r->payload) >= MIG_MAX_VCPUS)
        return -EINVAL;
    *vcpu = rd32(r->payload);
    *area = r->payload + 4;
    *n = r->len - 4;
    return 0;
}

/* ---- RAM runs ---- */

static bool run_valid(uint64_t gfn, uint32_t count)
{
    return count && gfn < MIG_GFN_LIMIT && count <= MIG_GFN_LIMIT - gfn;
}

int mig_ram_run_put(struct mig_enc *e, uint64_t gfn, uint32_t count, bool zero,
                    const void *pages)
{
    uint64_t data = zero ? 0 : (uint64_t)count * MIG_PAGE_SIZE;
    int rc;

    if (!e->open || (e->type != MIG_REC_RAM && e->type != MIG_REC_DISK) || e->err ||
        !run_valid(gfn, count) || (!zero && !pages))
        return -EINVAL;
    rc = enc_fits(e, MIG_RAM_RUN_SIZE + data);
    if (rc)
        return rc;
    mig_put_u64(e, gfn);
    mig_put_u32(e, count);
    mig_put_u32(e, zero ? MIG_RAM_ZERO : 0);
    mig_put_bytes(e, pages, (size_t)data);
    return enc_status(e);
}

int mig_ram_run_put_lz4(struct mig_enc *e, uint64_t gfn, uint32_t count, const void *block,
                        uint32_t clen)
{
    int rc;

    if (!e->open || (e->type != MIG_REC_RAM && e->type != MIG_REC_DISK) || e->err ||
        !run_valid(gfn, count) || count > MIG_RAM_MAX_PAGES || !block || !clen ||
        clen >= count * MIG_PAGE_SIZE)
        return -EINVAL;
    rc = enc_fits(e, MIG_RAM_RUN_SIZE + 4 + (uint64_t)clen);
    if (rc)
        return rc;
    mig_put_u64(e, gfn);
    mig_put_u32(e, count);
    mig_put_u32(e, MIG_RAM_LZ4);
    mig_put_u32(e, clen);
    mig_put_bytes(e, block, clen);
    return enc_status(e);
}

int mig_ram_run_put_delta(struct mig_enc *e, uint64_t gfn, uint32_t count, const void *body,
                          uint32_t body_len)
{
    const uint8_t *b = body;
    uint32_t off = 0;
    int rc;

    if (!e->open || e->type != MIG_REC_RAM || e->err || !run_valid(gfn, count) ||
        count > MIG_RAM_MAX_PAGES || !body)
        return -EINVAL;
    for (uint32_t i = 0; i < count; i++) {
        if (body_len - off < 2 || rd16(b + off) >= MIG_PAGE_SIZE ||
            rd16(b + off) > body_len - off - 2)
            return -EINVAL;
        off += 2 + rd16(b + off);
    }
    if (off != body_len)
        return -EINVAL;
    rc = enc_fits(e, MIG_RAM_RUN_SIZE + (uint64_t)body_len);
    if (rc)
        return rc;
    mig_put_u64(e, gfn);
    mig_put_u32(e, count);
    mig_put_u32(e, MIG_RAM_DELTA);
    mig_put_bytes(e, body, body_len);
    return enc_status(e);
}

/*
 * One pass over a RAM payload's runs. The validating pass (cb NULL) checks every run and
 * rebuilds each LZ4 run (a stream with LZ4: lz4) and DELTA run (a stream with deltas: page)
 * into scratch, in order; the delivering pass hands out the rebuilt pages from the same
 * places.
 */
struct ram_walk {
    mig_ram_run_fn cb;
    void *ctx;
    uint8_t *scratch;
    bool lz4;
    mig_ram_page_fn page;
    void *page_ctx;
};

/* A DELTA run's entries from p (len bytes left): rebuilt into out on the validating pass.
 * The bytes they take, or 0 if malformed. */
static size_t delta_run(const struct ram_walk *w, uint64_t gfn, uint32_t count,
                        const uint8_t *p, size_t len, uint8_t *out, bool check)
{
    size_t off = 0;
    for (uint32_t i = 0; i < count; i++, out += MIG_PAGE_SIZE) {
        if (len - off < 2)
            return 0;
        size_t dlen = rd16(p + off);
        off += 2;
        if (dlen >= MIG_PAGE_SIZE || dlen > len - off)
            return 0;
        if (check) {
            const uint8_t *old = w->page(gfn + i, w->page_ctx);
            if (!old)
                return 0;
            memcpy(out, old, MIG_PAGE_SIZE);
            if (delta_apply(out, p + off, dlen))
                return 0;
        }
        off += dlen;
    }
    return off;                       /* at least 2 per page: never 0 */
}

static int ram_walk(const uint8_t *p, size_t len, const struct ram_walk *w, bool deliver)
{
    size_t off = 0, packed = 0;       /* pages rebuilt in scratch so far */
    const uint32_t known = MIG_RAM_ZERO | MIG_RAM_LZ4 | MIG_RAM_DELTA;
    int rc;

    if (!len)
        return -EINVAL;
    while (off < len) {
        uint64_t gfn, data;
        uint32_t count, flags, clen = 0;
        const uint8_t *pages;

        if (len - off < MIG_RAM_RUN_SIZE)
            return -EINVAL;
        gfn = rd64(p + off);
        count = rd32(p + off + 8);
        flags = rd32(p + off + 12);
        off += MIG_RAM_RUN_SIZE;
        /* One encoding per run; each only where the stream took it. */
        if (!run_valid(gfn, count) || (flags & ~known) || (flags & (flags - 1)) ||
            ((flags & MIG_RAM_LZ4) && !w->lz4) || ((flags & MIG_RAM_DELTA) && !w->page))
            return -EINVAL;
        if (flags & (MIG_RAM_LZ4 | MIG_RAM_DELTA)) {
            if (count > MIG_RAM_MAX_PAGES - packed)
                return -EINVAL;
            pages = w->scratch + packed * MIG_PAGE_SIZE;
            packed += count;
        }
        if (flags & MIG_RAM_LZ4) {
            if (len - off < 4)
                return -EINVAL;
            clen = rd32(p + off);
            off += 4;
            if (!clen || clen >= count * MIG_PAGE_SIZE || clen > len - off)
                return -EINVAL;
            if (!deliver && decompress_block(p + off, clen, (uint8_t *)pages,
                                             (size_t)count * MIG_PAGE_SIZE))
                return -EINVAL;
            data = clen;
        } else if (flags & MIG_RAM_DELTA) {
            data = delta_run(w, gfn, count, p + off, len - off, (uint8_t *)pages, !deliver);
            if (!data)
                return -EINVAL;
        } else {
            /* A zero run has no data: bytes after it are the next run's header. */
            data = flags & MIG_RAM_ZERO ? 0 : (uint64_t)count * MIG_PAGE_SIZE;
            if (data > len - off)
                return -EINVAL;
            pages = data ? p + off : NULL;
        }
        if (deliver) {
            rc = w->cb(gfn, count, flags & MIG_RAM_ZERO, pages, w->ctx);
            if (rc)
                return rc;
        }
        off += (size_t)data;
    }
    return 0;
}

int mig_ram_parse(const uint8_t *payload, size_t len, mig_ram_run_fn run_cb, void *ctx)
{
    return mig_ram_parse_ex(payload, len, run_cb, ctx, NULL, false, NULL, NULL);
}

int mig_ram_parse_lz4(const uint8_t *payload, size_t len, mig_ram_run_fn run_cb, void *ctx,
                      uint8_t *scratch)
{
    return mig_ram_parse_ex(payload, len, run_cb, ctx, scratch, scratch != NULL, NULL, NULL);
}

int mig_ram_parse_ex(const uint8_t *payload, size_t len, mig_ram_run_fn run_cb, void *ctx,
                     uint8_t *scratch, bool lz4, mig_ram_page_fn page, void *page_ctx)
{
    struct ram_walk w = { .cb = run_cb, .ctx = ctx, .scratch = scratch,
                          .lz4 = lz4 && scratch, .page = scratch ? page : NULL,
                          .page_ctx = page_ctx };
    int rc = ram_walk(payload, len, &w, false);

    if (rc || !run_cb)
        return rc;
    return ram_walk(payload, len, &w, true);
}

int mig_rec_disk_begin(struct mig_enc *e, uint16_t inst)
{
    int rc = mig_rec_begin(e, MIG_REC_DISK);
    if (rc)
        return rc;
    mig_put_u16(e, inst);
    mig_put_u16(e, 0);
    mig_put_u32(e, 0);
    return enc_status(e);
}

int mig_rec_ram_begin(struct mig_enc *e, uint32_t pass)
{
    int rc = mig_rec_begin(e, MIG_REC_RAM);
    if (rc)
        return rc;
    mig_put_u32(e, pass);
    mig_put_u32(e, 0);
    return enc_status(e);
}

int mig_parse_ram(const struct mig_record *r, uint32_t *pass, const uint8_t **runs,
                  size_t *len)
{
    if (r->type != MIG_REC_RAM || r->len < 8 + MIG_RAM_RUN_SIZE || rd32(r->payload + 4))
        return -EINVAL;
    *pass = rd32(r->payload);
    *runs = r->payload + 8;
    *len = r->len - 8;
    return 0;
}

int mig_parse_disk(const struct mig_record *r, uint16_t *inst, const uint8_t **runs,
                   size_t *len)
{
    if (r->type != MIG_REC_DISK || r->len < 8 + MIG_RAM_RUN_SIZE || rd16(r->payload + 2) ||
        rd32(r->payload + 4))
        return -EINVAL;
    *inst = rd16(r->payload);
    *runs = r->payload + 8;
    *len = r->len - 8;
    return 0;
}
