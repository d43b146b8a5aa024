// lwIP bring-up, timer polling and the Ethernet netif glue for NIC drivers.
#include <errno.h>
#include <string.h>

#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/memp.h"
#include "lwip/pbuf.h"
#include "lwip/timeouts.h"
#include "net/net.h"
#include "netif/ethernet.h"

// Gather buffer for chained pbufs and padded runts. Single-threaded, and tx ops may not
// re-enter the stack, so one buffer serves every interface.
static uint8_t net_tx_buf[1536];

// A frame lwIP holds in a buffer lent by a driver; pbuf_free ends the loan (net_rx_ref_free).
struct net_rx_ref {
    struct pbuf_custom pc;      // first: lwIP hands the struct pbuf back
    struct net_if *nif;
    void *buf;
};

LWIP_MEMPOOL_DECLARE(NET_RX_REF, NET_RX_LENT_MAX, sizeof(struct net_rx_ref), "NET_RX_REF")
static unsigned net_rx_refs;

void net_init(void)
{
    static bool done;

    if (done)
        return;
    lwip_init();
    LWIP_MEMPOOL_INIT(NET_RX_REF);
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

static void net_rx_ref_free(struct pbuf *p)
{
    struct net_rx_ref *r = (struct net_rx_ref *)p;
    struct net_if *nif = r->nif;
    void *buf = r->buf;

    LWIP_MEMPOOL_FREE(NET_RX_REF, r);
    net_rx_refs--;
    nif->ops->rx_release(nif->drv, buf);
}

bool net_if_input_lent(struct net_if *nif, void *frame, size_t len, void *buf)
{
    struct net_rx_ref *r;
    struct pbuf *p;

    if (len < NET_ETH_HLEN || len > NET_ETH_MAX_FRAME) {
        nif->rx_errors++;
        return false;
    }
    r = nif->ops->rx_release ? LWIP_MEMPOOL_ALLOC(NET_RX_REF) : NULL;
    if (!r) {
        net_if_input(nif, frame, len);
        return false;
    }
    r->nif = nif;
    r->buf = buf;
    r->pc.custom_free_function = net_rx_ref_free;
    // PBUF_REF: lwIP adds no headers in front of the frame (an echo reply is built in a pbuf
    // of its own), and it may write into the frame, which is ours until the release.
    p = pbuf_alloced_custom(PBUF_RAW, (u16_t)len, PBUF_REF, &r->pc, frame, (u16_t)len);
    if (!p) {   // cannot happen: the frame fills its "buffer" exactly and needs no header room
        LWIP_MEMPOOL_FREE(NET_RX_REF, r);
        net_if_input(nif, frame, len);
        return false;
    }
    net_rx_refs++;
    nif->rx_packets++;
    nif->rx_bytes += len;
    // On error the pbuf is still ours (lwIP frees it only on ERR_OK): freeing it releases buf.
    if (nif->netif.input(p, &nif->netif) != ERR_OK) {
        pbuf_free(p);
        nif->rx_drops++;
    }
    return true;
}

unsigned net_rx_lent(void) { return net_rx_refs; }

void net_if_set_link(struct net_if *nif, bool up)
{
    if (up)
        netif_set_link_up(&nif->netif);
    else
        netif_set_link_down(&nif->netif);
}
