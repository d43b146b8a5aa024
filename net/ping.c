#include <errno.h>
#include <string.h>

#include "hv/base/time.h"
#include "lwip/inet_chksum.h"
#include "lwip/ip.h"
#include "lwip/prot/icmp.h"
#include "lwip/raw.h"
#include "net/netdev.h"
#include "net/ping.h"

#define PING_ID 0xfe77
#define PING_DATA 56

struct ping_wait { unsigned seq; bool got; unsigned bytes, ttl; };

static u8_t ping_recv(void *arg, struct raw_pcb *pcb, struct pbuf *p, const ip_addr_t *addr)
{
    struct ping_wait *w = arg;
    struct icmp_echo_hdr echo;
    (void)pcb;
    (void)addr;
    if (p->tot_len < IP_HLEN + sizeof(echo))
        return 0;
    uint8_t vhl;
    pbuf_copy_partial(p, &vhl, 1, 0);
    unsigned hlen = (vhl & 0xf) * 4;
    uint8_t ttl;
    pbuf_copy_partial(p, &ttl, 1, 8);
    if (p->tot_len < hlen + sizeof(echo) ||
        pbuf_copy_partial(p, &echo, sizeof(echo), hlen) != sizeof(echo))
        return 0;
    if (echo.type != ICMP_ER || lwip_ntohs(echo.id) != PING_ID || lwip_ntohs(echo.seqno) != w->seq)
        return 0;
    w->got = true;
    w->bytes = p->tot_len - hlen;
    w->ttl = ttl;
    pbuf_free(p);
    return 1;
}

static int send_echo(struct raw_pcb *pcb, const ip_addr_t *to, unsigned seq)
{
    struct pbuf *p = pbuf_alloc(PBUF_IP, sizeof(struct icmp_echo_hdr) + PING_DATA, PBUF_RAM);
    if (!p)
        return -ENOMEM;
    struct icmp_echo_hdr *e = p->payload;
    e->type = ICMP_ECHO;
    e->code = 0;
    e->chksum = 0;
    e->id = lwip_htons(PING_ID);
    e->seqno = lwip_htons((u16_t)seq);
    for (unsigned i = 0; i < PING_DATA; i++)
        ((uint8_t *)(e + 1))[i] = (uint8_t)i;
    e->chksum = inet_chksum(e, p->len);
    raw_sendto(pcb, p, to);
    pbuf_free(p);
    return 0;
}

int net_ping(uint32_t addr_be, unsigned count, unsigned timeout_ms, ping_reply_fn reply,
             ping_lost_fn lost, void *ctx, struct ping_result *res)
{
    struct ping_wait w = { 0 };
    ip_addr_t to;
    struct raw_pcb *pcb = raw_new(IP_PROTO_ICMP);
    if (!pcb)
        return -ENOMEM;
    ip_addr_set_ip4_u32(&to, addr_be);
    raw_recv(pcb, ping_recv, &w);
    raw_bind(pcb, IP_ADDR_ANY);
    memset(res, 0, sizeof(*res));
    for (unsigned seq = 1; seq <= count; seq++) {
        w = (struct ping_wait){ .seq = seq };
        uint64_t t0 = time_ns();
        if (send_echo(pcb, &to, seq))
            break;
        res->sent++;
        while (!w.got && time_ns() - t0 < (uint64_t)timeout_ms * 1000000)
            net_service();
        uint64_t rtt = (time_ns() - t0) / 1000;
        if (!w.got) {
            lost(ctx, seq);
            continue;
        }
        res->received++;
        res->sum_us += rtt;
        res->min_us = res->received == 1 || rtt < res->min_us ? rtt : res->min_us;
        res->max_us = rtt > res->max_us ? rtt : res->max_us;
        reply(ctx, seq, w.bytes, rtt, w.ttl);
        /* A small gap so a burst does not look like a flood to the other side. */
        for (uint64_t t1 = time_ns(); time_ns() - t1 < 100000000ull && seq < count;)
            net_service();
    }
    raw_remove(pcb);
    return 0;
}
