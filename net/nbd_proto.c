/*
 * The NBD client protocol engine (net/nbd_proto.h). Section names in comments are those of
 * proto.md. Every number on the wire is big-endian.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "net/nbd_proto.h"

#define MAGIC_NBD       0x4e42444d41474943ull   /* "NBDMAGIC" */
#define MAGIC_OPT       0x49484156454f5054ull   /* "IHAVEOPT" */
#define MAGIC_OLDSTYLE  0x00420281861253ull     /* cliserv_magic: oldstyle negotiation */
#define MAGIC_OPT_REPLY 0x3e889045565a9ull
#define MAGIC_REQUEST   0x25609513u
#define MAGIC_SIMPLE    0x67446698u
#define MAGIC_STRUCT    0x668e33efu

#define FLAG_FIXED_NEWSTYLE   (1u << 0)         /* handshake flags */
#define FLAG_NO_ZEROES        (1u << 1)
#define FLAG_C_FIXED_NEWSTYLE (1u << 0)         /* client flags */
#define FLAG_C_NO_ZEROES      (1u << 1)
#define CMD_FLAG_FUA          (1u << 0)

#define OPT_EXPORT_NAME 1u
#define OPT_GO          7u
#define REP_ACK         1u
#define REP_INFO        3u
#define REP_ERR         (1u << 31)
#define REP_ERR_UNSUP   (REP_ERR + 1)
#define REP_ERR_UNKNOWN (REP_ERR + 6)
#define INFO_EXPORT     0u
#define INFO_BLOCK_SIZE 3u

#define GREETING_LEN    18u                     /* magic, magic, handshake flags */
#define OPT_HDR_LEN     20u                     /* magic, option, type, length */
#define EXPORT_LEN      10u                     /* size, flags (+ 124 zeroes) */
#define REPLY_HDR_LEN   16u                     /* magic, error, handle */
#define REQ_LEN         28u
#define MSG_SHOWN       80u                     /* server text quoted in why */

_Static_assert(NBD_PROTO_OUT_SIZE >= 4 + 2 * (16 + 4 + NBD_NAME_MAX + 4),
               "the handshake's output (flags, GO, then EXPORT_NAME) always fits");
_Static_assert(NBD_PROTO_OUT_SIZE >= (NBD_PROTO_INFLIGHT + 1) * REQ_LEN,
               "a full table's headers and a DISC fit");
_Static_assert(sizeof(((struct nbd_proto *)0)->hb) >= EXPORT_LEN + 124, "hb holds any header");

enum phase {
    PH_GREETING, PH_OPT_HDR, PH_OPT_DATA, PH_EXPORT_REPLY, PH_REPLY_HDR, PH_READ_DATA, PH_DEAD,
};

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    return put16(put16(p, (uint16_t)(v >> 16)), (uint16_t)v);
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    return put32(put32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

static int fail(struct nbd_proto *p, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct nbd_proto *p, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->why, sizeof(p->why), fmt, ap);
    va_end(ap);
    p->err = err;
    p->phase = PH_DEAD;
    return err;
}

/* Server text for a message: printable ASCII only, at most MSG_SHOWN characters. */
static void printable(char *dst, size_t cap, const uint8_t *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap && i < MSG_SHOWN; i++)
        dst[o++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
    if (n > MSG_SHOWN && o + 4 < cap)
        o += (size_t)snprintf(dst + o, cap - o, "...");
    dst[o] = 0;
}

static bool pow2(uint32_t v) { return v && !(v & (v - 1)); }

int nbd_proto_init(struct nbd_proto *p, const char *export_name, const struct nbd_proto_ops *ops,
                   void *ctx)
{
    static const struct nbd_proto_ops none;
    size_t n = strnlen(export_name, NBD_NAME_MAX + 1);
    memset(p, 0, sizeof(*p));
    p->ops = ops ? ops : &none;
    p->ctx = ctx;
    p->rd = -1;
    p->need = GREETING_LEN;
    if (n > NBD_NAME_MAX)
        return fail(p, -EINVAL, "export name longer than %u bytes", NBD_NAME_MAX);
    memcpy(p->name, export_name, n);
    p->name_len = (uint32_t)n;
    return 0;
}

/* ---- output ------------------------------------------------------------------------------ */

static bool room(struct nbd_proto *p, size_t n)
{
    if (p->out_end + n <= sizeof(p->out))
        return true;
    if (p->out_end - p->out_start + n > sizeof(p->out))
        return false;
    memmove(p->out, p->out + p->out_start, p->out_end - p->out_start);
    p->out_end -= p->out_start;
    p->out_start = 0;
    return true;
}

/* Appends n bytes the caller checked room() for. */
static uint8_t *append(struct nbd_proto *p, size_t n)
{
    uint8_t *at = p->out + p->out_end;
    p->out_end += n;
    p->tail_pos += n;
    return at;
}

bool nbd_proto_out(struct nbd_proto *p, struct nbd_out *o)
{
    size_t limit = p->out_end - p->out_start;
    memset(o, 0, sizeof(*o));
    if (p->err)
        return false;
    if (p->nmarks) {
        const struct nbd_proto_mark *m = &p->mark[p->mark_head];
        if (p->tx_pos >= m->pos) {
            o->payload = true;
            o->handle = m->handle;
            o->off = (uint32_t)(p->tx_pos - m->pos);
            o->len = m->len - o->off;
            return true;
        }
        limit = (size_t)(m->pos - p->tx_pos);   /* engine bytes before that payload */
    }
    o->buf = p->out + p->out_start;
    o->len = limit;
    return limit != 0;
}

void nbd_proto_sent(struct nbd_proto *p, size_t n)
{
    struct nbd_out o;
    if (!nbd_proto_out(p, &o))
        return;
    if (n > o.len)
        n = o.len;                              /* more than was offered: a caller bug */
    p->tx_pos += n;
    if (o.payload) {
        if (n == o.len) {
            p->mark_head = (p->mark_head + 1) % NBD_PROTO_INFLIGHT;
            p->nmarks--;
        }
        return;
    }
    p->out_start += n;
    if (p->out_start == p->out_end)
        p->out_start = p->out_end = 0;
}

/* Option haggling: IHAVEOPT, option, length, data. */
static void send_option(struct nbd_proto *p, uint32_t opt)
{
    bool go = opt == OPT_GO;
    uint32_t len = go ? 4 + p->name_len + 2 + 2 : p->name_len;
    uint8_t *b = append(p, 16 + len);           /* fits: see the _Static_assert */
    b = put32(put32(put64(b, MAGIC_OPT), opt), len);
    if (go)
        b = put32(b, p->name_len);
    memcpy(b, p->name, p->name_len);
    b += p->name_len;
    if (go)
        put16(put16(b, 1), INFO_BLOCK_SIZE);    /* one information request */
    p->opt = opt;
}

/* ---- handshake --------------------------------------------------------------------------- */

static void expect(struct nbd_proto *p, enum phase ph, uint32_t need)
{
    p->phase = ph;
    p->need = need;
    p->have = 0;
}

static int on_greeting(struct nbd_proto *p)
{
    uint64_t m1 = get64(p->hb), m2 = get64(p->hb + 8);
    uint16_t flags = get16(p->hb + 16);
    if (m1 != MAGIC_NBD)
        return fail(p, -EPROTO, "not an NBD server (bad magic 0x%016llx)", (unsigned long long)m1);
    if (m2 == MAGIC_OLDSTYLE)
        return fail(p, -EPROTO, "oldstyle NBD server (not supported)");
    if (m2 != MAGIC_OPT)
        return fail(p, -EPROTO, "bad handshake magic 0x%016llx", (unsigned long long)m2);
    if (!(flags & FLAG_FIXED_NEWSTYLE))
        return fail(p, -EPROTO, "server is not fixed-newstyle (handshake flags 0x%04x)", flags);
    p->no_zeroes = flags & FLAG_NO_ZEROES;
    put32(append(p, 4), FLAG_C_FIXED_NEWSTYLE | (p->no_zeroes ? FLAG_C_NO_ZEROES : 0));
    send_option(p, OPT_GO);
    p->exp = (struct nbd_export){ .min_block = 512, .pref_block = 4096,
                                  .max_payload = NBD_MAX_PAYLOAD_DEFAULT };
    expect(p, PH_OPT_HDR, OPT_HDR_LEN);
    return 0;
}

static int enter_transmission(struct nbd_proto *p)
{
    const struct nbd_export *e = &p->exp;
    if (!(e->flags & NBD_FLAG_HAS_FLAGS))
        return fail(p, -EPROTO, "transmission flags 0x%04x lack HAS_FLAGS", e->flags);
    if (!e->size || e->size % 512)
        return fail(p, -EPROTO, "export size %llu is not a non-zero multiple of 512",
                    (unsigned long long)e->size);
    expect(p, PH_REPLY_HDR, REPLY_HDR_LEN);
    if (p->ops->ready)
        p->ops->ready(p->ctx, e);
    return 0;
}

static int on_block_size(struct nbd_proto *p, const uint8_t *d)
{
    uint32_t min = get32(d + 2), pref = get32(d + 6), max = get32(d + 10);
    if (!pow2(min) || min > 65536 || !pow2(pref) || pref < min || max < pref)
        return fail(p, -EPROTO, "bad block sizes min %u preferred %u max %u", min, pref, max);
    p->exp.min_block = min;
    p->exp.pref_block = pref;
    p->exp.max_payload = max;
    return 0;
}

static int on_info(struct nbd_proto *p, const uint8_t *d, uint32_t len)
{
    if (len < 2)
        return fail(p, -EPROTO, "NBD_REP_INFO of %u bytes", len);
    switch (get16(d)) {
    case INFO_EXPORT:
        if (len != 12)
            return fail(p, -EPROTO, "NBD_INFO_EXPORT of %u bytes", len);
        p->exp.size = get64(d + 2);
        p->exp.flags = get16(d + 10);
        p->got_export = true;
        return 0;
    case INFO_BLOCK_SIZE:
        if (len != 14)
            return fail(p, -EPROTO, "NBD_INFO_BLOCK_SIZE of %u bytes", len);
        return on_block_size(p, d);
    default:
        return 0;                               /* "MUST ignore [types] it does not recognize" */
    }
}

static const char *rep_err_name(uint32_t t)
{
    static const char *const names[] = { "error", "unsupported", "policy", "invalid",
                                         "platform", "TLS required", "unknown export",
                                         "shutting down", "block size required", "too big" };
    uint32_t i = t - REP_ERR;
    return i < sizeof(names) / sizeof(names[0]) ? names[i] : "error";
}

static int on_rep_error(struct nbd_proto *p, const uint8_t *d, uint32_t len)
{
    char msg[MSG_SHOWN + 8];
    printable(msg, sizeof(msg), d, len);
    if (p->opt_type == REP_ERR_UNSUP) {
        /* proto.md NBD_OPT_GO: "clients SHOULD be prepared to also handle NBD_REP_ERR_UNSUP
         * by falling back to using NBD_OPT_EXPORT_NAME" */
        p->got_export = false;
        p->exp = (struct nbd_export){ .min_block = 512, .pref_block = 4096,
                                      .max_payload = NBD_MAX_PAYLOAD_DEFAULT };
        send_option(p, OPT_EXPORT_NAME);
        expect(p, PH_EXPORT_REPLY, EXPORT_LEN + (p->no_zeroes ? 0 : 124));
        return 0;
    }
    if (p->opt_type == REP_ERR_UNKNOWN)
        return fail(p, -ENOENT, "no such export \"%s\"%s%s", p->name, *msg ? ": " : "", msg);
    return fail(p, -ECONNREFUSED, "server refused export \"%s\": %s (0x%x)%s%s", p->name,
                rep_err_name(p->opt_type), p->opt_type, *msg ? ": " : "", msg);
}

static int on_opt_reply(struct nbd_proto *p)
{
    const uint8_t *d = p->hb + OPT_HDR_LEN;
    uint32_t len = p->opt_len;
    expect(p, PH_OPT_HDR, OPT_HDR_LEN);
    if (p->opt_type & REP_ERR)
        return on_rep_error(p, d, len);
    if (p->opt_type == REP_INFO)
        return on_info(p, d, len);
    if (p->opt_type != REP_ACK)
        return fail(p, -EPROTO, "unexpected option reply type 0x%x", p->opt_type);
    if (len)
        return fail(p, -EPROTO, "NBD_REP_ACK with %u bytes of data", len);
    if (!p->got_export)
        return fail(p, -EPROTO, "NBD_REP_ACK without NBD_INFO_EXPORT");
    return enter_transmission(p);
}

static int on_opt_hdr(struct nbd_proto *p)
{
    uint64_t magic = get64(p->hb);
    uint32_t opt = get32(p->hb + 8);
    if (magic != MAGIC_OPT_REPLY)
        return fail(p, -EPROTO, "bad option reply magic 0x%016llx", (unsigned long long)magic);
    if (opt != p->opt)
        return fail(p, -EPROTO, "reply to option %u, expected %u", opt, p->opt);
    p->opt_type = get32(p->hb + 12);
    p->opt_len = get32(p->hb + 16);
    p->opt_got = 0;
    if (p->opt_len > NBD_OPT_REPLY_MAX)
        return fail(p, -EPROTO, "option reply of %u bytes (limit %u)", p->opt_len,
                    NBD_OPT_REPLY_MAX);
    if (!p->opt_len)
        return on_opt_reply(p);
    p->phase = PH_OPT_DATA;
    return 0;
}

static int on_export_reply(struct nbd_proto *p)
{
    p->exp.size = get64(p->hb);
    p->exp.flags = get16(p->hb + 8);            /* the 124 zeroes, if sent, are ignored */
    return enter_transmission(p);
}

/* ---- transmission ------------------------------------------------------------------------ */

static int find(const struct nbd_proto *p, uint64_t handle)
{
    for (int i = 0; i < NBD_PROTO_INFLIGHT; i++)
        if (p->req[i].used && p->req[i].handle == handle)
            return i;
    return -1;
}

/* proto.md "Error values"; the host's errno numbers need not be Linux's. */
static int nbd_errno(uint32_t e)
{
    switch (e) {
    case 0: return 0;
    case 1: return -EPERM;
    case 5: return -EIO;
    case 12: return -ENOMEM;
    case 22: return -EINVAL;
    case 28: return -ENOSPC;
    case 75: return -EOVERFLOW;
    case 95: return -ENOTSUP;
    case 108: return NBD_STATUS_SHUTDOWN;
    default: return -EINVAL;                    /* "as if it had been NBD_EINVAL" */
    }
}

static void complete(struct nbd_proto *p, int i, int status)
{
    uint64_t handle = p->req[i].handle;
    p->req[i].used = false;                     /* free before the callback: it may reuse it */
    p->inflight--;
    expect(p, PH_REPLY_HDR, REPLY_HDR_LEN);
    if (p->ops->reply)
        p->ops->reply(p->ctx, handle, status);
}

static int on_reply_hdr(struct nbd_proto *p)
{
    uint32_t magic = get32(p->hb), error = get32(p->hb + 4);
    uint64_t handle = get64(p->hb + 8);
    int i;
    if (magic == MAGIC_STRUCT)
        return fail(p, -EPROTO, "structured reply, never negotiated");
    if (magic != MAGIC_SIMPLE)
        return fail(p, -EPROTO, "bad reply magic 0x%08x", magic);
    i = find(p, handle);
    if (i < 0)
        return fail(p, -EPROTO, "reply for unknown handle 0x%llx", (unsigned long long)handle);
    if (p->tx_pos < p->req[i].end)
        return fail(p, -EPROTO, "reply for handle 0x%llx before its request was sent",
                    (unsigned long long)handle);
    if (p->req[i].cmd == NBD_CMD_READ && !error) {
        p->phase = PH_READ_DATA;                /* "length bytes of data" follow */
        p->rd = i;
        p->rd_off = 0;
        return 0;
    }
    complete(p, i, nbd_errno(error));
    return 0;
}

int nbd_proto_check(const struct nbd_export *e, enum nbd_cmd cmd, uint64_t off, uint32_t len,
                    bool fua)
{
    bool ro = e->flags & NBD_FLAG_READ_ONLY;
    uint32_t align = e->min_block ? e->min_block : 1;
    if (fua && (!(e->flags & NBD_FLAG_SEND_FUA) || (cmd != NBD_CMD_WRITE && cmd != NBD_CMD_TRIM)))
        return -EINVAL;
    switch (cmd) {
    case NBD_CMD_READ:
    case NBD_CMD_WRITE:
        if (len > e->max_payload || (cmd == NBD_CMD_WRITE && ro))
            return -EINVAL;
        break;
    case NBD_CMD_TRIM:
        if (!(e->flags & NBD_FLAG_SEND_TRIM) || ro)
            return -EINVAL;
        break;
    case NBD_CMD_FLUSH:
        return e->flags & NBD_FLAG_SEND_FLUSH && !off && !len ? 0 : -EINVAL;
    case NBD_CMD_DISC:
        return !off && !len ? 0 : -EINVAL;
    default:
        return -EINVAL;
    }
    if (!len || off > e->size || len > e->size - off || off % align || len % align)
        return -EINVAL;
    return 0;
}

int nbd_proto_request(struct nbd_proto *p, enum nbd_cmd cmd, uint64_t handle, uint64_t off,
                      uint32_t len, bool fua)
{
    int rc, slot = -1;
    if (p->err)
        return p->err;
    if (!nbd_proto_ready(p) || p->disc)
        return -ENOTCONN;
    rc = nbd_proto_check(&p->exp, cmd, off, len, fua);
    if (rc)
        return rc;
    if (cmd != NBD_CMD_DISC) {
        if (find(p, handle) >= 0)
            return -EEXIST;
        for (int i = 0; i < NBD_PROTO_INFLIGHT && slot < 0; i++)
            if (!p->req[i].used)
                slot = i;
        if (slot < 0)
            return -EAGAIN;
    }
    if (!room(p, REQ_LEN))
        return -EAGAIN;
    uint8_t *b = append(p, REQ_LEN);
    b = put16(put32(b, MAGIC_REQUEST), fua ? CMD_FLAG_FUA : 0);
    put32(put64(put64(put16(b, (uint16_t)cmd), handle), off), len);
    if (cmd == NBD_CMD_DISC) {
        p->disc = true;                         /* "MUST NOT send anything ... after" */
        return 0;
    }
    if (cmd == NBD_CMD_WRITE) {
        struct nbd_proto_mark *m = &p->mark[(p->mark_head + p->nmarks) % NBD_PROTO_INFLIGHT];
        *m = (struct nbd_proto_mark){ .pos = p->tail_pos, .handle = handle, .len = len };
        p->nmarks++;                            /* <= inflight: a reply needs its payload sent */
        p->tail_pos += len;
    }
    p->req[slot] = (struct nbd_proto_req){ .handle = handle, .end = p->tail_pos, .len = len,
                                           .cmd = (uint8_t)cmd, .used = true };
    p->inflight++;
    return 0;
}

/* ---- input ------------------------------------------------------------------------------- */

static int on_header(struct nbd_proto *p)
{
    switch (p->phase) {
    case PH_GREETING: return on_greeting(p);
    case PH_OPT_HDR: return on_opt_hdr(p);
    case PH_EXPORT_REPLY: return on_export_reply(p);
    case PH_REPLY_HDR: return on_reply_hdr(p);
    default: return fail(p, -EPROTO, "internal: header in phase %u", p->phase);
    }
}

/* Takes up to n bytes of the current phase's unit; returns how many, or an error. */
static long step(struct nbd_proto *p, const uint8_t *b, size_t n)
{
    size_t take;
    int rc = 0;
    switch (p->phase) {
    case PH_OPT_DATA: {
        uint32_t keep = p->opt_got < NBD_OPT_KEEP ? NBD_OPT_KEEP - p->opt_got : 0;
        take = n < p->opt_len - p->opt_got ? n : p->opt_len - p->opt_got;
        memcpy(p->hb + OPT_HDR_LEN + p->opt_got, b, take < keep ? take : keep);
        p->opt_got += (uint32_t)take;
        if (p->opt_got == p->opt_len)
            rc = on_opt_reply(p);
        break;
    }
    case PH_READ_DATA: {
        struct nbd_proto_req *r = &p->req[p->rd];
        uint32_t off = p->rd_off;
        take = n < r->len - off ? n : r->len - off;
        p->rd_off += (uint32_t)take;
        if (p->ops->data)
            p->ops->data(p->ctx, r->handle, off, b, take);
        if (p->rd_off == r->len)
            complete(p, p->rd, 0);
        break;
    }
    case PH_DEAD:
        return p->err;
    default:
        take = n < p->need - p->have ? n : p->need - p->have;
        memcpy(p->hb + p->have, b, take);
        p->have += (uint32_t)take;
        if (p->have == p->need)
            rc = on_header(p);
        break;
    }
    return rc ? rc : (long)take;
}

long nbd_proto_in(struct nbd_proto *p, const uint8_t *buf, size_t n)
{
    size_t i = 0;
    if (p->err)
        return p->err;
    while (i < n) {
        long r = step(p, buf + i, n - i);
        if (r < 0)
            return r;
        i += (size_t)r;
    }
    return (long)n;
}

int nbd_proto_eof(struct nbd_proto *p)
{
    if (p->err)
        return p->err;
    if (p->phase == PH_EXPORT_REPLY)            /* "it MUST terminate the session" */
        return fail(p, -ENOENT, "server closed the connection after NBD_OPT_EXPORT_NAME "
                    "(no export \"%s\"?)", p->name);
    if (p->disc && !p->inflight && p->phase == PH_REPLY_HDR && !p->have)
        return 0;
    if (nbd_proto_ready(p))
        return fail(p, -ECONNRESET, "server closed the connection with %u requests in flight",
                    p->inflight);
    return fail(p, -ECONNRESET, "server closed the connection during the handshake");
}

bool nbd_proto_ready(const struct nbd_proto *p)
{
    return !p->err && (p->phase == PH_REPLY_HDR || p->phase == PH_READ_DATA);
}

unsigned nbd_proto_inflight(const struct nbd_proto *p) { return p->inflight; }

bool nbd_proto_unsent(const struct nbd_proto *p, uint64_t handle)
{
    int i = find(p, handle);
    return i >= 0 && p->tx_pos < p->req[i].end;
}
