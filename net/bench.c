#include <errno.h>
#include <string.h>

#include "hv/base/time.h"
#include "lwip/tcp.h"
#include "net/bench.h"
#include "net/netdev.h"

#define CHUNK 8192

static const uint8_t pattern[CHUNK];       /* zeros: what is sent does not matter */
static uint64_t received_total;

/* ---- server: discard ---- */

static err_t srv_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    (void)arg;
    if (!p || err != ERR_OK) {
        if (p)
            pbuf_free(p);
        tcp_arg(pcb, NULL);
        tcp_recv(pcb, NULL);
        if (tcp_close(pcb) != ERR_OK)
            tcp_abort(pcb);
        return p ? ERR_OK : ERR_OK;
    }
    received_total += p->tot_len;
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
}

static err_t srv_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)arg;
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    tcp_recv(pcb, srv_recv);
    return ERR_OK;
}

int net_bench_listen(void)
{
    struct tcp_pcb *pcb = tcp_new();
    if (!pcb)
        return -ENOMEM;
    if (tcp_bind(pcb, IP_ANY_TYPE, NET_BENCH_PORT) != ERR_OK) {
        tcp_close(pcb);
        return -EADDRINUSE;
    }
    struct tcp_pcb *l = tcp_listen(pcb);
    if (!l)
        return -ENOMEM;
    tcp_accept(l, srv_accept);
    return 0;
}

uint64_t net_bench_bytes_received(void) { return received_total; }

/* ---- client: send for a while ---- */

struct client { uint64_t acked; bool connected, failed, stop; };

static void fill(struct tcp_pcb *pcb, struct client *c)
{
    while (!c->stop && tcp_sndbuf(pcb) >= CHUNK && tcp_sndqueuelen(pcb) < TCP_SND_QUEUELEN - 4)
        if (tcp_write(pcb, pattern, CHUNK, 0) != ERR_OK)
            break;
    tcp_output(pcb);
}

static err_t cl_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    struct client *c = arg;
    c->acked += len;
    fill(pcb, c);
    return ERR_OK;
}

static err_t cl_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct client *c = arg;
    if (err != ERR_OK) {
        c->failed = true;
        return err;
    }
    c->connected = true;
    fill(pcb, c);
    return ERR_OK;
}

static void cl_err(void *arg, err_t err)
{
    struct client *c = arg;
    (void)err;
    c->failed = true;           /* the pcb is already freed by lwIP */
}

static void cl_close(struct tcp_pcb *pcb)
{
    tcp_arg(pcb, NULL);
    tcp_sent(pcb, NULL);
    tcp_err(pcb, NULL);
    if (tcp_close(pcb) != ERR_OK)
        tcp_abort(pcb);
}

int net_bench_run(uint32_t addr_be, unsigned seconds, unsigned streams,
                  struct bench_result *res)
{
    struct client c[NET_BENCH_STREAMS_MAX];
    struct tcp_pcb *pcb[NET_BENCH_STREAMS_MAX];
    ip_addr_t to;
    unsigned n = 0, up = 0;
    int rc = 0;
    memset(res, 0, sizeof(*res));
    memset(c, 0, sizeof(c));
    if (!streams || streams > NET_BENCH_STREAMS_MAX)
        return -EINVAL;
    ip_addr_set_ip4_u32(&to, addr_be);
    for (; n < streams; n++) {
        if (!(pcb[n] = tcp_new())) {
            rc = -ENOMEM;
            break;
        }
        tcp_arg(pcb[n], &c[n]);
        tcp_sent(pcb[n], cl_sent);
        tcp_err(pcb[n], cl_err);
        if (tcp_connect(pcb[n], &to, NET_BENCH_PORT, cl_connected) != ERR_OK) {
            tcp_abort(pcb[n]);
            rc = -ECONNREFUSED;
            break;
        }
    }
    uint64_t t0 = time_ns();
    while (!rc && up < n && time_ns() - t0 < 5000000000ull) {
        net_service();
        up = 0;
        for (unsigned i = 0; i < n; i++) {
            if (c[i].failed)
                rc = -ECONNREFUSED;
            up += c[i].connected;
        }
    }
    if (!rc && up < n)
        rc = -ETIMEDOUT;
    uint64_t start = time_ns(), acked0 = 0, acked = 0;
    for (unsigned i = 0; i < n; i++)
        acked0 += c[i].acked;
    while (!rc && time_ns() - start < (uint64_t)seconds * 1000000000ull) {
        net_service();
        for (unsigned i = 0; i < n; i++)
            if (c[i].failed)
                rc = -ECONNRESET;
    }
    res->elapsed_us = (time_ns() - start) / 1000;
    for (unsigned i = 0; i < n; i++) {
        acked += c[i].acked;
        c[i].stop = true;
        if (!c[i].failed)           /* a failed one's pcb is already freed by lwIP */
            cl_close(pcb[i]);
    }
    res->bytes = acked - acked0;
    res->error = rc;
    return rc;
}
