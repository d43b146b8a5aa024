/*
 * NICs into lwIP: one struct net_if per registered struct nic, frames in
 * by polling each driver from the control loop, frames out through the
 * driver's tx. IPv4 comes from ferry.cfg (`ip=`, `gateway=`) for the first
 * interface, or from `net ip` at run time; `ip=dhcp` starts lwIP's client.
 * A virtual switch may claim an interface's NIC as its uplink (netdev_claim):
 * then the switch polls the NIC and stands between it and lwIP.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/nic.h"
#include "hv/base/log.h"
#include "lwip/dhcp.h"
#include "lwip/ip4_addr.h"
#include "net/netdev.h"

struct netdev {
    struct net_if nif;          // netdev_get hands out &nif; its drv is this struct
    struct nic *nic;
    net_tx_fn claim_tx;         // set while a switch holds the NIC (netdev_claim)
    void *claim_ctx;
};

static struct netdev ifs[NIC_MAX];
static unsigned nifs;

static struct netdev *of(const struct net_if *nif)
{
    return (struct netdev *)((const char *)nif - offsetof(struct netdev, nif));
}

// What lwIP transmits: to the NIC, or into the switch that holds it.
static int nic_tx(void *drv, const void *frame, size_t len)
{
    struct netdev *d = drv;
    if (d->claim_tx)
        return d->claim_tx(d->claim_ctx, frame, len);
    return d->nic->ops->tx(d->nic, frame, len);
}

static void nic_rx_release(void *drv, void *buf)
{
    (void)drv;
    nic_rxbuf_release(buf);
}

static const struct net_nic_ops nic_glue_ops = { .tx = nic_tx, .rx_release = nic_rx_release };

// drivers/nic.h: a lent buffer goes to lwIP as it is; otherwise the frame is copied.
bool netdev_input(struct net_if *nif, struct nic_rxbuf *b, bool lend)
{
    if (lend)
        return net_if_input_lent(nif, b->frame, b->len, b);
    net_if_input(nif, b->frame, b->len);
    return false;
}

static bool deliver(void *ctx, struct nic_rxbuf *b, bool lend)
{
    return netdev_input(ctx, b, lend);
}

void netdev_attach_all(void)
{
    for (unsigned i = 0; i < nic_count() && nifs < NIC_MAX; i++) {
        struct nic *n = nic_get(i);
        struct netdev *d = &ifs[nifs];
        if (net_if_add(&d->nif, n->name, n->mac, &nic_glue_ops, d)) {
            log_err("net", "%s: cannot attach to lwIP", n->name);
            continue;
        }
        strncpy(d->nif.name, n->name, sizeof(d->nif.name) - 1);
        d->nic = n;
        d->claim_tx = NULL;
        nifs++;
    }
}

void netdev_poll(void)
{
    for (unsigned i = 0; i < nifs; i++) {
        struct nic *n = ifs[i].nic;
        bool up = n->ops->link_up(n);
        if (up != netif_is_link_up(&ifs[i].nif.netif)) {
            net_if_set_link(&ifs[i].nif, up);
            log_info("net", "%s: link %s", n->name, up ? "up" : "down");
        }
        if (!ifs[i].claim_tx)      // a switch's uplink: the switch polls it (vsw_poll)
            n->ops->rx_poll(n, deliver, &ifs[i].nif, 64);
    }
}

void netdev_flush(void)
{
    for (unsigned i = 0; i < nifs; i++)
        if (ifs[i].nic->ops->flush)
            ifs[i].nic->ops->flush(ifs[i].nic);
}

unsigned netdev_count(void) { return nifs; }
struct net_if *netdev_get(unsigned i) { return i < nifs ? &ifs[i].nif : NULL; }

struct net_if *netdev_find(const char *name)
{
    for (unsigned i = 0; i < nifs; i++)
        if (!strcmp(ifs[i].nif.name, name))
            return &ifs[i].nif;
    return NULL;
}

struct nic *netdev_nic(const struct net_if *nif)
{
    return of(nif)->nic;
}

int netdev_claim(struct net_if *nif, net_tx_fn host_tx, void *ctx)
{
    struct netdev *d = of(nif);
    if (!host_tx)
        return -EINVAL;
    if (d->claim_tx)
        return -EBUSY;
    d->claim_ctx = ctx;
    d->claim_tx = host_tx;
    return 0;
}

void netdev_unclaim(struct net_if *nif)
{
    struct netdev *d = of(nif);
    d->claim_tx = NULL;
    d->claim_ctx = NULL;
}

bool netdev_claimed(const struct net_if *nif)
{
    return of(nif)->claim_tx != NULL;
}

int netdev_parse_cidr(const char *s, uint32_t *addr_be, uint32_t *mask_be)
{
    char buf[32];
    const char *slash = strchr(s, '/');
    unsigned prefix = 24;
    if (slash) {
        size_t n = slash - s;
        if (n >= sizeof(buf))
            return -EINVAL;
        memcpy(buf, s, n);
        buf[n] = 0;
        char *end;
        unsigned long p = strtoul(slash + 1, &end, 10);
        if (*end || slash[1] == 0 || p < 1 || p > 32)
            return -EINVAL;
        prefix = (unsigned)p;
    } else {
        if (strlen(s) >= sizeof(buf))
            return -EINVAL;
        strcpy(buf, s);
    }
    ip4_addr_t a;
    if (!ip4addr_aton(buf, &a))
        return -EINVAL;
    *addr_be = ip4_addr_get_u32(&a);
    *mask_be = lwip_htonl(prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix));
    return 0;
}

int netdev_configure(struct net_if *nif, const char *ip, const char *gw)
{
    if (!strcmp(ip, "dhcp"))
        return dhcp_start(&nif->netif) == ERR_OK ? 0 : -EIO;
    uint32_t a, m, g = 0;
    ip4_addr_t gwa;
    if (netdev_parse_cidr(ip, &a, &m))
        return -EINVAL;
    if (gw && *gw) {
        if (!ip4addr_aton(gw, &gwa))
            return -EINVAL;
        g = ip4_addr_get_u32(&gwa);
    }
    dhcp_stop(&nif->netif);
    return net_if_set_ipv4(nif, a, m, g);
}
