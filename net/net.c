// lwIP bring-up, timer polling and the Ethernet netif glue for NIC drivers.
#include <errno.h>
#include <string.h>

#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/pbuf.h"
#include "lwip/timeouts.h"
#include "net/net.h"
#include "netif/ethernet.h"

// Gather buffer for chained pbufs and padded runts. Single-threaded, and tx ops may not
// re-enter the stack, so one buffer serves every interface.
static uint8_t net_tx_buf[1536];

void net_init(void)
{
    static bool done;

    if (done)
        return;
    lwip_init();
    done = true;
}

void net_poll(void)
{
    sys_check_timeouts();
}

static err_t net_if_linkoutput(struct netif *netif, struct pbuf *p)
{
    struct net_if *nif = netif->state;
    const void *frame = p->payload;
    size_t len = p->tot_len;

    if (len > sizeof(net_tx_buf)) {
        nif->tx_errors++;
        return ERR_BUF;
    }
    if (p->next || len < NET_ETH_MIN_FRAME) {
        pbuf_copy_partial(p, net_tx_buf, p->tot_len, 0);
        if (len < NET_ETH_MIN_FRAME) {
            // IEEE 802.3 4.2.3.3: pad to the minimum size; not every NIC does it for us.
            memset(net_tx_buf + len, 0, NET_ETH_MIN_FRAME - len);
            len = NET_ETH_MIN_FRAME;
        }
        frame = net_tx_buf;
    }
    if (nif->ops->tx(nif->drv, frame, len) < 0) {
        nif->tx_errors++;
        return ERR_IF;
    }
    nif->tx_packets++;
    nif->tx_bytes += len;
    return ERR_OK;
}

static err_t net_if_netif_init(struct netif *netif)
{
    struct net_if *nif = netif->state;

    netif->name[0] = nif->name[0];
    netif->name[1] = nif->name[1] ? nif->name[1] : '0';
    netif->output = etharp_output;
    netif->linkoutput = net_if_linkoutput;
    netif->mtu = 1500;
    netif->hwaddr_len = ETH_HWADDR_LEN;
    memcpy(netif->hwaddr, nif->mac, ETH_HWADDR_LEN);
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    return ERR_OK;
}

int net_if_add(struct net_if *nif, const char *name, const uint8_t mac[6],
               const struct net_nic_ops *ops, void *drv)
{
    if (!name || !name[0] || !ops || !ops->tx)
        return -EINVAL;
    memset(nif, 0, sizeof(*nif));
    strncpy(nif->name, name, sizeof(nif->name) - 1);
    memcpy(nif->mac, mac, sizeof(nif->mac));
    nif->ops = ops;
    nif->drv = drv;
    if (!netif_add(&nif->netif, NULL, NULL, NULL, nif, net_if_netif_init, ethernet_input))
        return -EINVAL;
    if (!netif_default)
        netif_set_default(&nif->netif);
    netif_set_up(&nif->netif);
    return 0;
}

int net_if_set_ipv4(struct net_if *nif, uint32_t addr_be, uint32_t mask_be, uint32_t gw_be)
{
    uint32_t host = ~lwip_ntohl(mask_be);
    ip4_addr_t addr = { .addr = addr_be }, mask = { .addr = mask_be }, gw = { .addr = gw_be };

    if (host & (host + 1))  // host bits must be a run of low ones
        return -EINVAL;
    netif_set_addr(&nif->netif, &addr, &mask, &gw);
    return 0;
}

void net_if_input(struct net_if *nif, const void *frame, size_t len)
{
    struct pbuf *p;

    if (len < NET_ETH_HLEN || len > NET_ETH_MAX_FRAME) {
        nif->rx_errors++;
        return;
    }
    p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
    if (!p) {
        nif->rx_drops++;
        return;
    }
    pbuf_take(p, frame, (u16_t)len);
    nif->rx_packets++;
    nif->rx_bytes += len;
    // On error the pbuf is still ours (lwIP frees it only on ERR_OK).
    if (nif->netif.input(p, &nif->netif) != ERR_OK) {
        pbuf_free(p);
        nif->rx_drops++;
    }
}

void net_if_set_link(struct net_if *nif, bool up)
{
    if (up)
        netif_set_link_up(&nif->netif);
    else
        netif_set_link_down(&nif->netif);
}
