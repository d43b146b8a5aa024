/* The host's network over net/ and drivers/nic.h: interfaces, addresses, ping, bench, and the
 * virtual switches. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "drivers/nic.h"
#include "hv/mgmt/mgmt_net.h"
#include "lwip/ip4_addr.h"
#include "net/nbd.h"
#include "net/bench.h"
#include "net/netdev.h"
#include "net/ping.h"
#include "net/vswitch.h"

_Static_assert(sizeof(((struct net_if *)0)->name) < sizeof(((struct mgmt_net_if *)0)->name),
               "interface name too long");
_Static_assert(MGMT_SWITCH_SLOTS == VSW_MAX && MGMT_SWITCH_PORTS == VSW_PORTS_MAX &&
               sizeof(((struct mgmt_switch *)0)->name) == VSW_NAME_MAX &&
               sizeof(((struct mgmt_switch *)0)->uplink) ==
               sizeof(((struct vsw_info *)0)->uplink) &&
               sizeof(((struct mgmt_net_if *)0)->vswitch) == VSW_NAME_MAX,
               "struct mgmt_switch mirrors struct vsw_info");

unsigned mgmt_net_if_count(void)
{
    return netdev_count();
}

void mgmt_net_if_get(unsigned i, struct mgmt_net_if *o)
{
    struct net_if *nif = netdev_get(i);
    struct nic *n = netdev_nic(nif);

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
    o->doorbells = n->doorbells;
    vsw_uplink_of(nif->name, o->vswitch);
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

int mgmt_net_bench(uint32_t addr_be, unsigned seconds, unsigned streams,
                   struct mgmt_bench_result *r, const char **reason)
{
    struct bench_result br;
    int rc = net_bench_run(addr_be, seconds, streams, &br);
    if (rc) {
        *reason = rc == -ECONNREFUSED ? "connection refused" : rc == -ETIMEDOUT ? "no answer"
                  : rc == -ECONNRESET ? "connection reset" : "out of memory";
        return rc;
    }
    r->bytes = br.bytes;
    r->elapsed_us = br.elapsed_us;
    return 0;
}

int mgmt_switch_create(const char *name, const char *uplink, char *err, size_t errlen)
{
    return vsw_create(name, uplink, err, errlen);
}

int mgmt_switch_destroy(const char *name, char *err, size_t errlen)
{
    return vsw_destroy(name, err, errlen);
}

static void switch_copy(const struct vsw_info *v, struct mgmt_switch *o)
{
    memset(o, 0, sizeof(*o));
    memcpy(o->name, v->name, sizeof(o->name));
    memcpy(o->uplink, v->uplink, sizeof(o->uplink));
    o->nports = v->nports;
    o->nmacs = v->nmacs;
    o->queued = v->queued;
    o->queue_len = VSW_QUEUE_LEN;
    o->flooded = v->flooded;
    o->filtered = v->filtered;
    o->moves = v->moves;
    o->evicted = v->evicted;
    o->aged = v->aged;
    o->stale = v->stale;
    for (unsigned i = 0; i < v->nports; i++) {
        const struct vsw_port_info *p = &v->port[i];
        struct mgmt_switch_port *q = &o->port[i];
        memcpy(q->label, p->label, sizeof(q->label));
        memcpy(q->kind, p->kind, sizeof(q->kind));
        q->rx_frames = p->rx_frames;
        q->rx_bytes = p->rx_bytes;
        q->tx_frames = p->tx_frames;
        q->tx_bytes = p->tx_bytes;
        q->drops = p->drops;
        q->macs = p->macs;
    }
}

bool mgmt_switch_get(unsigned slot, struct mgmt_switch *out)
{
    struct vsw_info v;
    if (!vsw_info_get(slot, &v))
        return false;
    switch_copy(&v, out);
    return true;
}

int mgmt_switch_find(const char *name, struct mgmt_switch *out, char *err, size_t errlen)
{
    struct vsw_info v;
    if (vsw_info_find(name, &v)) {
        snprintf(err, errlen, "no switch named '%s'", name);
        return -ENOENT;
    }
    switch_copy(&v, out);
    return 0;
}

int mgmt_switch_mac(const char *name, unsigned i, struct mgmt_switch_mac *out)
{
    struct vsw_mac_info m;
    int rc = vsw_mac_get(name, i, &m);
    if (rc)
        return rc;
    memcpy(out->mac, m.mac, sizeof(out->mac));
    out->fixed = m.fixed;
    memcpy(out->port, m.port, sizeof(out->port));
    out->idle_ms = m.idle_ms;
    return 0;
}

void mgmt_net_service(void)
{
    net_service();
    nbd_poll();                         /* guests' network disks (hv/mgmt/mgmt_disk.c) */
    netdev_flush();                     /* what nbd_poll sent */
}
