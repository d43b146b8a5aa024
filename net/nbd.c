/*
 * The NBD client over lwIP raw TCP (net/nbd.h). lwIP's callbacks only record what happened
 * (received pbufs go to a ring, errors and the peer's FIN to flags); nbd_poll feeds the ring
 * to the engine, so every callback of the caller runs from nbd_poll, never inside lwIP.
 *
 * A request slot: FREE -> QUEUED (nbd_submit, under the lock) -> WAIT (nbd_poll took it) ->
 * SENT (handed to the engine on this connection) -> FREE when answered. A lost connection
 * turns SENT back into WAIT. Past its deadline a SENT request is reported failed but stays
 * ABANDONED until its reply or the connection's end, so its handle is never reused early.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/log.h"
#include "hv/base/spinlock.h"
#include "hv/base/time.h"
#include "lwip/tcp.h"
#include "net/nbd.h"
#include "net/netdev.h"

#define MS      1000000ull
#define RXQ     64                  /* received pbuf chains not yet fed to the engine */
#define BOUNCE  8192                /* write payload staged for tcp_write */

_Static_assert(NBD_SLOTS <= 256, "a handle's low byte is its slot");

enum { R_FREE, R_QUEUED, R_WAIT, R_SENT, R_ABANDONED };
enum { ST_CONNECTING, ST_HANDSHAKE, ST_READY, ST_DRAINING, ST_BACKOFF, ST_FAILED };
static const char *const state_names[] = { "connecting", "handshake", "ready", "draining",
                                           "reconnecting", "failed" };

struct nbd_req {
    uint8_t state, cmd;
    bool fua, was_sent;
    uint32_t len;
    int rx_err;                     /* rx_data refused: the request's final status */
    uint64_t off, cookie, handle, seq, t_submit, t_sent;
};

struct nbd_client {
    bool used, opening, closing;
    struct nbd_uri uri;
    char name[NBD_URI_MAX + 8];     /* the URI, canonical */
    const struct nbd_client_ops *ops;
    void *ctx;
    struct nbd_export exp;          /* the first handshake's */
    bool have_exp;
    struct spinlock lock;           /* leaf: slot states FREE <-> QUEUED, seq, closing */
    struct nbd_req req[NBD_SLOTS];
    uint64_t seq, hgen;
    /* the connection: control CPU only */
    struct tcp_pcb *pcb;
    struct nbd_proto proto;
    uint8_t st;
    bool connected, fin, lost, shutdown_seen, changed;
    int lwip_err, err;
    struct pbuf *rxq[RXQ];
    unsigned rxh, rxn;
    uint64_t now;                   /* time_ns() at the start of this step */
    uint64_t t_state, backoff_ms, wait_ms;
    char why[NBD_WHY_MAX];          /* the last failure */
    struct nbd_stats stats;
    uint8_t bounce[BOUNCE];
};

static struct nbd_client clients[NBD_CLIENTS];

static int say(char *buf, size_t n, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int say(char *buf, size_t n, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (buf && n)
        vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- the URI ----------------------------------------------------------------------------- */

static const char *number(const char *s, unsigned long max, unsigned long *v)
{
    const char *p = s;
    unsigned long x = 0;
    while (*p >= '0' && *p <= '9' && p - s < 6)
        x = x * 10 + (unsigned long)(*p++ - '0');
    if (p == s || p - s > 5 || x > max)
        return NULL;
    *v = x;
    return p;
}

int nbd_parse_uri(const char *uri, struct nbd_uri *out, char *why, size_t whylen)
{
    const char *p = uri + 6, *q;
    unsigned long v;
    uint32_t a = 0;
    memset(out, 0, sizeof(*out));
    if (strncmp(uri, "nbd://", 6))
        return say(why, whylen, -EINVAL, "\"%.40s\" is not nbd://ADDR[:PORT]/EXPORT", uri);
    for (int i = 0; i < 4; i++) {
        q = number(p, 255, &v);
        if (!q || (i < 3 && *q != '.'))
            return say(why, whylen, -EINVAL, "nbd: bad IPv4 address in \"%.40s\"", uri);
        a = a << 8 | (uint32_t)v;
        p = i < 3 ? q + 1 : q;
    }
    out->port = NBD_PORT;
    if (*p == ':') {
        q = number(p + 1, 65535, &v);
        if (!q || !v)
            return say(why, whylen, -EINVAL, "nbd: bad port in \"%.40s\" (1-65535)", uri);
        out->port = (uint16_t)v;
        p = q;
    }
    if (*p != '/' || !p[1])
        return say(why, whylen, -EINVAL, "nbd: no export name in \"%.40s\" "
                   "(nbd://ADDR[:PORT]/EXPORT)", uri);
    size_t n = strnlen(++p, NBD_NAME_MAX + 1);
    if (n > NBD_NAME_MAX)
        return say(why, whylen, -EINVAL, "nbd: export name longer than %u", NBD_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if (p[i] <= ' ' || p[i] >= 0x7f)
            return say(why, whylen, -EINVAL, "nbd: export name character %zu (0x%02x) is "
                       "not printable ASCII", i + 1, (unsigned char)p[i]);
    memcpy(out->export_name, p, n);
    out->addr_be = lwip_htonl(a);
    return 0;
}

/* ---- lwIP side: record only -------------------------------------------------------------- */

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct nbd_client *c = arg;
    (void)pcb;
    if (err != ERR_OK) {
        if (p)
            pbuf_free(p);
        return ERR_OK;
    }
    if (!p) {
        c->fin = true;
        return ERR_OK;
    }
    if (c->rxn == RXQ)
        return ERR_MEM;                         /* lwIP keeps it and offers it again */
    c->rxq[(c->rxh + c->rxn++) % RXQ] = p;
    return ERR_OK;
}

static void on_err(void *arg, err_t err)
{
    struct nbd_client *c = arg;
    c->pcb = NULL;                              /* lwIP has freed it */
    c->lost = true;
    c->lwip_err = err;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct nbd_client *c = arg;
    (void)pcb;
    c->connected = err == ERR_OK;
    return ERR_OK;
}

/* ---- slots ------------------------------------------------------------------------------- */

static void slot_free(struct nbd_client *c, struct nbd_req *r)
{
    spin_lock(&c->lock);
    r->state = R_FREE;
    spin_unlock(&c->lock);
}

static void report(struct nbd_client *c, uint64_t cookie, uint8_t cmd, uint32_t len, int status)
{
    struct nbd_stats *s = &c->stats;
    if (status)
        s->errors++;
    else if (cmd == NBD_CMD_READ)
        s->reads++, s->bytes_read += len;
    else if (cmd == NBD_CMD_WRITE)
        s->writes++, s->bytes_written += len;
    else
        cmd == NBD_CMD_FLUSH ? s->flushes++ : s->trims++;
    c->ops->done(c->ctx, cookie, status);
}

static void finish(struct nbd_client *c, struct nbd_req *r, int status)
{
    struct nbd_req copy = *r;
    slot_free(c, r);                            /* free first: done() may submit again */
    report(c, copy.cookie, copy.cmd, copy.len, status);
}

static struct nbd_req *by_handle(struct nbd_client *c, uint64_t handle)
{
    struct nbd_req *r = &c->req[handle & 0xff];
    if ((handle & 0xff) >= NBD_SLOTS || r->handle != handle ||
        (r->state != R_SENT && r->state != R_ABANDONED))
        return NULL;
    return r;
}

/* ---- engine events ----------------------------------------------------------------------- */

static void pr_ready(void *ctx, const struct nbd_export *e)
{
    struct nbd_client *c = ctx;
    const struct nbd_export *o = &c->exp;
    uint16_t cmds = NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM;
    if (c->have_exp && (e->size != o->size || (e->flags & ~o->flags & NBD_FLAG_READ_ONLY) ||
                        (o->flags & ~e->flags & cmds) || e->min_block > o->min_block ||
                        e->max_payload < o->max_payload)) {
        c->changed = true;                      /* nbd_poll drops the connection */
        return;
    }
    if (c->have_exp) {
        c->stats.reconnects++;
        log_info("nbd", "%s: reconnected", c->name);
    }
    c->exp = *e;
    c->have_exp = true;
    c->st = ST_READY;
    c->t_state = c->now;
}

static void pr_data(void *ctx, uint64_t handle, uint32_t off, const uint8_t *buf, size_t n)
{
    struct nbd_client *c = ctx;
    struct nbd_req *r = by_handle(c, handle);
    if (r && r->state == R_SENT && !r->rx_err)
        r->rx_err = c->ops->rx_data(c->ctx, r->cookie, off, buf, (uint32_t)n);
}

static void pr_reply(void *ctx, uint64_t handle, int status)
{
    struct nbd_client *c = ctx;
    struct nbd_req *r = by_handle(c, handle);
    if (!r)
        return;
    if (r->state == R_ABANDONED) {
        slot_free(c, r);                        /* already reported failed */
    } else if (status == NBD_STATUS_SHUTDOWN) {
        r->state = R_WAIT;                      /* not its fault: send it again elsewhere */
        c->shutdown_seen = true;
    } else {
        if (!status)
            c->backoff_ms = NBD_BACKOFF_MIN_MS;
        finish(c, r, r->rx_err ? r->rx_err : status);
    }
}

static const struct nbd_proto_ops proto_ops = {
    .ready = pr_ready, .data = pr_data, .reply = pr_reply,
};

/* ---- the connection ---------------------------------------------------------------------- */

static void conn_drop(struct nbd_client *c, bool graceful)
{
    if (c->pcb) {
        tcp_arg(c->pcb, NULL);
        tcp_recv(c->pcb, NULL);
        tcp_err(c->pcb, NULL);
        if (!graceful || tcp_close(c->pcb) != ERR_OK)
            tcp_abort(c->pcb);
        c->pcb = NULL;
    }
    for (; c->rxn; c->rxn--, c->rxh = (c->rxh + 1) % RXQ)
        pbuf_free(c->rxq[c->rxh]);
    c->rxh = 0;
    c->connected = c->fin = c->lost = c->shutdown_seen = c->changed = false;
}

static void conn_lost(struct nbd_client *c, int err, bool graceful, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void conn_lost(struct nbd_client *c, int err, bool graceful, const char *fmt, ...)
{
    bool was_ready = c->st == ST_READY || c->st == ST_DRAINING;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
    c->err = err;
    conn_drop(c, graceful);
    for (int i = 0; i < NBD_SLOTS; i++) {
        if (c->req[i].state == R_SENT)
            c->req[i].state = R_WAIT;
        else if (c->req[i].state == R_ABANDONED)
            slot_free(c, &c->req[i]);
    }
    if (was_ready)
        c->stats.disconnects++;
    if (c->opening) {
        c->st = ST_FAILED;
        return;
    }
    if (was_ready)
        log_warn("nbd", "%s: %s; reconnecting", c->name, c->why);
    else
        log_dbg("nbd", "%s: %s; trying again in %llu ms", c->name, c->why,
                (unsigned long long)c->backoff_ms);
    c->st = ST_BACKOFF;
    c->t_state = c->now;
    c->wait_ms = c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > NBD_BACKOFF_MAX_MS ? NBD_BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static void conn_start(struct nbd_client *c)
{
    struct tcp_pcb *pcb = tcp_new();
    ip_addr_t to;
    err_t e;
    c->st = ST_CONNECTING;
    c->t_state = c->now;
    nbd_proto_init(&c->proto, c->uri.export_name, &proto_ops, c);   /* the name was checked */
    if (!pcb) {
        conn_lost(c, -ENOMEM, false, "out of TCP connections");
        return;
    }
    c->pcb = pcb;
    tcp_arg(pcb, c);
    tcp_recv(pcb, on_recv);
    tcp_err(pcb, on_err);
    tcp_nagle_disable(pcb);                     /* proto.md: both sides SHOULD */
    ip_addr_set_ip4_u32(&to, c->uri.addr_be);
    e = tcp_connect(pcb, &to, c->uri.port, on_connected);
    if (e != ERR_OK)
        conn_lost(c, -EHOSTUNREACH, false, "cannot connect (lwIP error %d)", e);
}

/* Feeds what lwIP received to the engine. */
static void conn_feed(struct nbd_client *c)
{
    while (c->rxn && c->pcb) {
        struct pbuf *p = c->rxq[c->rxh];
        long rc = 0;
        c->rxh = (c->rxh + 1) % RXQ;
        c->rxn--;
        for (struct pbuf *q = p; q && rc >= 0; q = q->next)
            rc = nbd_proto_in(&c->proto, q->payload, q->len);
        tcp_recved(c->pcb, p->tot_len);
        pbuf_free(p);
        if (rc < 0) {
            conn_lost(c, (int)rc, rc != -EPROTO, "%s", c->proto.why);
            return;
        }
    }
}

/* Hands the engine's output to TCP as far as the send buffer allows. */
static void conn_push(struct nbd_client *c)
{
    struct nbd_out o;
    bool wrote = false;
    while (c->pcb && nbd_proto_out(&c->proto, &o)) {
        size_t n = tcp_sndqueuelen(c->pcb) >= TCP_SND_QUEUELEN - 4 ? 0 : tcp_sndbuf(c->pcb);
        const void *src = o.buf;
        n = n < o.len ? n : o.len;
        n = n < BOUNCE ? n : BOUNCE;
        if (!n)
            break;
        if (o.payload) {
            struct nbd_req *r = by_handle(c, o.handle);
            int rc = r && r->state == R_SENT ?
                     c->ops->tx_data(c->ctx, r->cookie, o.off, c->bounce, (uint32_t)n) : -EIO;
            if (rc) {
                if (r)
                    finish(c, r, rc);
                conn_lost(c, -EIO, false, "write data unavailable (%d) mid-request", rc);
                return;
            }
            src = c->bounce;
        }
        if (tcp_write(c->pcb, src, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
            break;
        nbd_proto_sent(&c->proto, n);
        wrote = true;
    }
    if (wrote)
        tcp_output(c->pcb);
}

/* Sends waiting requests, oldest first, while the engine takes them. */
static void send_waiting(struct nbd_client *c, uint64_t now)
{
    for (;;) {
        struct nbd_req *r = NULL;
        for (int i = 0; i < NBD_SLOTS; i++)
            if (c->req[i].state == R_WAIT && (!r || c->req[i].seq < r->seq))
                r = &c->req[i];
        if (!r)
            return;
        uint64_t h = ++c->hgen << 8 | (uint64_t)(r - c->req);
        int rc = nbd_proto_request(&c->proto, r->cmd, h, r->off, r->len, r->fua);
        if (rc == -EAGAIN)
            return;
        if (rc) {                               /* checked at submit: cannot happen */
            finish(c, r, -EIO);
            continue;
        }
        r->handle = h;
        r->state = R_SENT;
        r->t_sent = now;
        c->stats.resent += r->was_sent;
        r->was_sent = true;
    }
}

static void check_times(struct nbd_client *c, uint64_t now)
{
    uint64_t in_state = now - c->t_state;
    if (c->st == ST_CONNECTING && in_state > NBD_CONNECT_TIMEOUT_MS * MS)
        conn_lost(c, -ETIMEDOUT, false, "connection timed out");
    else if (c->st == ST_HANDSHAKE && in_state > NBD_HANDSHAKE_TIMEOUT_MS * MS)
        conn_lost(c, -ETIMEDOUT, false, "handshake timed out");
    else if (c->st == ST_DRAINING && in_state > NBD_HANDSHAKE_TIMEOUT_MS * MS)
        conn_lost(c, -ETIMEDOUT, false, "server still connected after NBD_CMD_DISC");
    for (int i = 0; i < NBD_SLOTS; i++)
        if (c->req[i].state == R_SENT && now - c->req[i].t_sent > NBD_REQ_TIMEOUT_MS * MS) {
            c->stats.timeouts++;
            conn_lost(c, -ETIMEDOUT, false, "no reply in %u s", NBD_REQ_TIMEOUT_MS / 1000);
            break;
        }
    for (int i = 0; i < NBD_SLOTS; i++) {
        struct nbd_req *r = &c->req[i];
        /* t_submit is the submitting CPU's clock, which may read a little ahead of this
         * one's: a request from "the future" is not late. */
        if ((r->state != R_WAIT && r->state != R_SENT) || now <= r->t_submit ||
            now - r->t_submit <= NBD_DEADLINE_MS * MS)
            continue;
        log_warn("nbd", "%s: request (type %u, offset %llu, %u bytes) failed after %u s",
                 c->name, r->cmd, (unsigned long long)r->off, r->len, NBD_DEADLINE_MS / 1000);
        if (r->state == R_SENT && nbd_proto_unsent(&c->proto, r->handle))
            conn_lost(c, -ETIMEDOUT, false, "request past its deadline while being sent");
        if (r->state == R_SENT) {
            r->state = R_ABANDONED;             /* its handle stays taken until answered */
            report(c, r->cookie, r->cmd, r->len, -EIO);
        } else {
            finish(c, r, -EIO);
        }
    }
}

static void client_step(struct nbd_client *c)
{
    uint64_t now = c->now = time_ns();          /* one clock per step: t_state <= now */
    spin_lock(&c->lock);
    for (int i = 0; i < NBD_SLOTS; i++)
        if (c->req[i].state == R_QUEUED)
            c->req[i].state = R_WAIT;
    spin_unlock(&c->lock);
    conn_feed(c);
    if (c->lost)
        conn_lost(c, c->st == ST_CONNECTING ? -ECONNREFUSED : -ECONNRESET, false,
                  "connection %s (lwIP error %d)",
                  c->st == ST_CONNECTING ? "refused" : "lost", c->lwip_err);
    else if (c->changed)
        conn_lost(c, -EPROTO, true, "the export changed (size, flags or block sizes)");
    else if (c->fin && c->pcb && !c->rxn) {
        int rc = nbd_proto_eof(&c->proto);
        conn_lost(c, rc ? rc : -ECONNRESET, true, "%s",
                  rc ? c->proto.why : "server closed the connection");
    } else if (c->st == ST_CONNECTING && c->connected) {
        c->st = ST_HANDSHAKE;
        c->t_state = now;
    }
    if (c->shutdown_seen && c->st == ST_READY) {
        nbd_proto_request(&c->proto, NBD_CMD_DISC, 0, 0, 0, false);  /* proto.md: MUST */
        c->st = ST_DRAINING;
        c->t_state = now;
    }
    check_times(c, now);
    if (c->st == ST_BACKOFF && now - c->t_state >= c->wait_ms * MS)
        conn_start(c);
    if (c->st == ST_READY)
        send_waiting(c, now);
    conn_push(c);
}

void nbd_poll(void)
{
    for (int i = 0; i < NBD_CLIENTS; i++)
        if (clients[i].used)
            client_step(&clients[i]);
}

/* ---- the API ----------------------------------------------------------------------------- */

int nbd_open(const char *uri, const struct nbd_client_ops *ops, void *ctx,
             struct nbd_client **out, char *why, size_t whylen)
{
    struct nbd_client *c = NULL;
    struct nbd_uri u;
    int rc = nbd_parse_uri(uri, &u, why, whylen);
    *out = NULL;
    if (rc)
        return rc;
    if (!ops || !ops->tx_data || !ops->rx_data || !ops->done)
        return say(why, whylen, -EINVAL, "nbd: no data callbacks");
    for (int i = 0; i < NBD_CLIENTS && !c; i++)
        c = clients[i].used ? NULL : &clients[i];
    if (!c)
        return say(why, whylen, -ENOSPC, "nbd: all %d clients in use", NBD_CLIENTS);
    memset(c, 0, sizeof(*c));
    c->used = c->opening = true;
    c->uri = u;
    c->ops = ops;
    c->ctx = ctx;
    c->backoff_ms = NBD_BACKOFF_MIN_MS;
    c->now = time_ns();
    const uint8_t *a = (const uint8_t *)&u.addr_be;
    snprintf(c->name, sizeof(c->name), "nbd://%u.%u.%u.%u:%u/%s", a[0], a[1], a[2], a[3],
             u.port, u.export_name);
    conn_start(c);
    while (c->st == ST_CONNECTING || c->st == ST_HANDSHAKE) {
        net_service();
        nbd_poll();
    }
    if (c->st == ST_READY && c->exp.min_block > 512)
        conn_lost(c, -EINVAL, true, "the export's minimum block is %u bytes, above a sector",
                  c->exp.min_block);
    if (c->st != ST_READY) {
        rc = say(why, whylen, c->err, "%s: %s", c->name, c->why);
        conn_drop(c, true);
        c->used = false;
        return rc;
    }
    c->opening = false;
    log_info("nbd", "%s: %llu bytes%s", c->name, (unsigned long long)c->exp.size,
             c->exp.flags & NBD_FLAG_READ_ONLY ? ", read-only" : "");
    *out = c;
    return 0;
}

const struct nbd_export *nbd_export_of(const struct nbd_client *c) { return &c->exp; }

int nbd_submit(struct nbd_client *c, enum nbd_cmd cmd, uint64_t off, uint32_t len, bool fua,
               uint64_t cookie)
{
    uint64_t now = time_ns();
    int rc = cmd == NBD_CMD_DISC ? -EINVAL : nbd_proto_check(&c->exp, cmd, off, len, fua);
    if (rc)
        return rc;
    rc = -EAGAIN;
    spin_lock(&c->lock);
    for (int i = 0; i < NBD_SLOTS && rc == -EAGAIN && !c->closing; i++) {
        struct nbd_req *r = &c->req[i];
        if (r->state != R_FREE)
            continue;
        *r = (struct nbd_req){ .state = R_QUEUED, .cmd = (uint8_t)cmd, .fua = fua, .len = len,
                               .off = off, .cookie = cookie, .seq = c->seq++,
                               .t_submit = now };
        rc = 0;
    }
    if (c->closing)
        rc = -ENODEV;
    spin_unlock(&c->lock);
    return rc;
}

void nbd_close(struct nbd_client *c)
{
    unsigned left = 0;
    spin_lock(&c->lock);
    c->closing = true;
    for (int i = 0; i < NBD_SLOTS; i++)
        left += c->req[i].state != R_FREE && c->req[i].state != R_ABANDONED;
    spin_unlock(&c->lock);
    if (left)
        log_warn("nbd", "%s: closed with %u requests outstanding", c->name, left);
    if (c->st == ST_READY && nbd_proto_request(&c->proto, NBD_CMD_DISC, 0, 0, 0, false) == 0)
        conn_push(c);
    conn_drop(c, c->st == ST_READY);
    c->used = false;
}

void nbd_get_stats(const struct nbd_client *c, struct nbd_stats *out)
{
    struct nbd_client *m = (struct nbd_client *)c;     /* the lock only */
    *out = c->stats;
    out->held = 0;
    spin_lock(&m->lock);
    for (int i = 0; i < NBD_SLOTS; i++)
        out->held += c->req[i].state != R_FREE && c->req[i].state != R_ABANDONED;
    spin_unlock(&m->lock);
}

const char *nbd_state(const struct nbd_client *c) { return state_names[c->st]; }

int nbd_describe(const struct nbd_client *c, char *buf, size_t n)
{
    struct nbd_stats s;
    uint16_t f = c->exp.flags;
    nbd_get_stats(c, &s);
    return snprintf(buf, n, "%s %s size %llu %s%s%s%s held %u reads %llu writes %llu "
                    "flushes %llu trims %llu read %llu written %llu errors %llu timeouts %llu "
                    "disconnects %llu reconnects %llu resent %llu%s%s", c->name, nbd_state(c),
                    (unsigned long long)c->exp.size, f & NBD_FLAG_READ_ONLY ? "ro" : "rw",
                    f & NBD_FLAG_SEND_FLUSH ? " flush" : "", f & NBD_FLAG_SEND_FUA ? " fua" : "",
                    f & NBD_FLAG_SEND_TRIM ? " trim" : "", s.held,
                    (unsigned long long)s.reads, (unsigned long long)s.writes,
                    (unsigned long long)s.flushes, (unsigned long long)s.trims,
                    (unsigned long long)s.bytes_read, (unsigned long long)s.bytes_written,
                    (unsigned long long)s.errors, (unsigned long long)s.timeouts,
                    (unsigned long long)s.disconnects, (unsigned long long)s.reconnects,
                    (unsigned long long)s.resent, c->why[0] ? " last error: " : "", c->why);
}
