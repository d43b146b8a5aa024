/* The host's network over net/ and drivers/nic.h: interfaces, addresses, ping, bench. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "drivers/nic.h"
#include "hv/mgmt/mgmt_net.h"
#include "lwip/ip4_addr.h"
#include "net/bench.h"
#include "net/netdev.h"
#include "net/ping.h"

_Static_assert(sizeof(((struct net_if *)0)->name) < sizeof(((struct mgmt_net_if *)0)->name),
               "interface name too long");

unsigned mgmt_net_if_count(void)
{
    return netdev_count();
}

void mgmt_net_if_get(unsigned i, struct mgmt_net_if *o)
{
    struct net_if *nif = netdev_get(i);
    struct nic *n = nif->drv;

    memset(o, 0, sizeof(*o));
    snprintf(o->name, sizeof(o->name), "%.*s", (int)sizeof(nif->name), nif->name);
    o->driver = n->driver;
    memcpy(o->mac, n->mac, sizeof(o->mac));
    o->link_up = netif_is_link_up(&nif->netif);
    ip4addr_ntoa_r(netif_ip4_addr(&nif->netif), o->ip, sizeof(o->ip));
    ip4addr_ntoa_r(netif_ip4_netmask(&nif->netif), o->mask, sizeof(o->mask));
    ip4addr_ntoa_r(netif_ip4_gw(&nif->netif), o->gw, sizeof(o->gw));
    o->rx_packets = nif->rx_packets;
    o->rx_bytes = nif->rx_bytes;
    o->rx_errors = nif->rx_errors + n->rx_errors;
    o->rx_drops = nif->rx_drops + n->rx_drops;
    o->rx_bufs = n->rxpool.nbufs;
    o->rx_ring = n->rxpool.nbufs - n->rxpool.nspare - n->rxpool.nlent;
    o->rx_spare = n->rxpool.nspare;
    o->rx_lent = n->rxpool.nlent;
    o->rx_frames_lent = n->rxpool.lent;
    o->rx_frames_copied = n->rxpool.short_spare;
    o->tx_packets = nif->tx_packets;
    o->tx_bytes = nif->tx_bytes;
    o->tx_errors = nif->tx_errors + n->tx_errors;
}

int mgmt_net_if_find(const char *name)
{
    struct net_if *nif = netdev_find(name);
    for (unsigned i = 0; nif && i < netdev_count(); i++)
        if (netdev_get(i) == nif)
            return (int)i;
    return -ENOENT;
}

int mgmt_net_if_configure(unsigned i, const char *addr, const char *gw)
{
    return netdev_configure(netdev_get(i), addr, gw) ? -EINVAL : 0;
}

int mgmt_net_ping(uint32_t addr_be, unsigned count, unsigned timeout_ms, mgmt_ping_reply_fn reply,
                  mgmt_ping_lost_fn lost, void *ctx, struct mgmt_ping_result *r)
{
    struct ping_result pr;
    int rc = net_ping(addr_be, count, timeout_ms, reply, lost, ctx, &pr);
    if (rc)
        return -ENOMEM;
    *r = (struct mgmt_ping_result){ .sent = pr.sent, .received = pr.received,
                                    .min_us = pr.min_us, .max_us = pr.max_us,
                                    .sum_us = pr.sum_us };
    return 0;
}

int mgmt_net_bench(uint32_t addr_be, unsigned seconds, struct mgmt_bench_result *r,
                   const char **reason)
{
    struct bench_result br;
    int rc = net_bench_run(addr_be, seconds, &br);
    if (rc) {
        *reason = rc == -ECONNREFUSED ? "connection refused" : rc == -ETIMEDOUT ? "no answer"
                  : rc == -ECONNRESET ? "connection reset" : "out of memory";
        return rc;
    }
    r->bytes = br.bytes;
    r->elapsed_us = br.elapsed_us;
    return 0;
}

void mgmt_net_service(void)
{
    net_service();
}
