#include <errno.h>
#include <string.h>

#include "lwip/tcp.h"
#include "net/mig_transport.h"

#define MIG_CONNS 24         /* MIGRATE_SLOTS outgoing, MIG_DST_CONNS incoming, some spare */

struct mig_conn {
    struct tcp_pcb *pcb;
    const struct mig_conn_ops *ops;
    void *ctx;
    size_t unacked;
    bool used;
};

static struct mig_conn conns[MIG_CONNS];
static mig_accept_fn accept_fn;

static struct mig_conn *conn_alloc(void)
{
    for (unsigned i = 0; i < MIG_CONNS; i++)
        if (!conns[i].used) {
            memset(&conns[i], 0, sizeof(conns[i]));
            conns[i].used = true;
            return &conns[i];
        }
    return NULL;
}

static void conn_release(struct mig_conn *c, int err)
{
    const struct mig_conn_ops *ops = c->ops;
    void *ctx = c->ctx;
    c->pcb = NULL;
    c->used = false;
    if (ops && ops->closed)
        ops->closed(ctx, err);
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct mig_conn *c = arg;
    if (!p || err != ERR_OK) {
        if (p)
            pbuf_free(p);
        tcp_arg(pcb, NULL);
        tcp_recv(pcb, NULL);
        tcp_sent(pcb, NULL);
        tcp_err(pcb, NULL);
        if (tcp_close(pcb) != ERR_OK)
            tcp_abort(pcb);
        conn_release(c, 0);
        return p ? ERR_OK : ERR_OK;
    }
    for (struct pbuf *q = p; q; q = q->next)
        if (c->ops && c->ops->recv)
            c->ops->recv(c->ctx, q->payload, q->len);
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    struct mig_conn *c = arg;
    (void)pcb;
    c->unacked -= len < c->unacked ? len : c->unacked;
    return ERR_OK;
}

static void on_err(void *arg, err_t err)
{
    struct mig_conn *c = arg;
    (void)err;
    if (c)
        conn_release(c, -ECONNRESET);      /* lwIP has freed the pcb */
}

static void setup(struct mig_conn *c, struct tcp_pcb *pcb)
{
    c->pcb = pcb;
    tcp_arg(pcb, c);
    tcp_recv(pcb, on_recv);
    tcp_sent(pcb, on_sent);
    tcp_err(pcb, on_err);
    tcp_nagle_disable(pcb);
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct mig_conn *c = arg;
    (void)pcb;
    if (err == ERR_OK && c->ops->connected)
        c->ops->connected(c->ctx);
    return ERR_OK;
}

struct mig_conn *mig_conn_connect(uint32_t addr_be, uint16_t port, const struct mig_conn_ops *ops,
                                  void *ctx)
{
    struct mig_conn *c = conn_alloc();
    struct tcp_pcb *pcb = c ? tcp_new() : NULL;
    ip_addr_t to;
    if (!pcb) {
        if (c)
            c->used = false;
        return NULL;
    }
    c->ops = ops;
    c->ctx = ctx;
    setup(c, pcb);
    ip_addr_set_ip4_u32(&to, addr_be);
    if (tcp_connect(pcb, &to, port, on_connected) != ERR_OK) {
        tcp_arg(pcb, NULL);
        tcp_abort(pcb);
        c->used = false;
        return NULL;
    }
    return c;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)arg;
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    struct mig_conn *c = conn_alloc();
    if (!c) {
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    setup(c, pcb);
    c->ctx = accept_fn(c, &c->ops);
    if (!c->ctx) {
        tcp_arg(pcb, NULL);
        tcp_abort(pcb);
        c->used = false;
        return ERR_ABRT;
    }
    return ERR_OK;
}

int mig_listen(uint16_t port, mig_accept_fn accept)
{
    struct tcp_pcb *pcb = tcp_new();
    if (!pcb)
        return -ENOMEM;
    if (tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
        tcp_close(pcb);
        return -EADDRINUSE;
    }
    struct tcp_pcb *l = tcp_listen(pcb);
    if (!l)
        return -ENOMEM;
    accept_fn = accept;
    tcp_accept(l, on_accept);
    return 0;
}

size_t mig_conn_write(struct mig_conn *c, const void *data, size_t n)
{
    if (!c || !c->pcb)
        return 0;
    size_t room = tcp_sndbuf(c->pcb);
    if (tcp_sndqueuelen(c->pcb) >= TCP_SND_QUEUELEN - 4)
        room = 0;
    if (n > room)
        n = room;
    if (n > 0xffff)
        n = 0xffff;
    if (!n || tcp_write(c->pcb, data, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
        return 0;
    c->unacked += n;
    tcp_output(c->pcb);
    return n;
}

uint32_t mig_conn_peer(const struct mig_conn *c)
{
    return c && c->pcb ? ip4_addr_get_u32(ip_2_ip4(&c->pcb->remote_ip)) : 0;
}

size_t mig_conn_unacked(const struct mig_conn *c) { return c ? c->unacked : 0; }

void mig_conn_close(struct mig_conn *c)
{
    if (!c || !c->used)
        return;
    if (c->pcb) {
        tcp_arg(c->pcb, NULL);
        tcp_recv(c->pcb, NULL);
        tcp_sent(c->pcb, NULL);
        tcp_err(c->pcb, NULL);
        if (tcp_close(c->pcb) != ERR_OK)
            tcp_abort(c->pcb);
    }
    c->pcb = NULL;
    c->used = false;
}
