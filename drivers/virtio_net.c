/*
 * virtio-net (virtio spec 5.1) on the modern PCI transport: receive queue 0, transmit
 * queue 1, split rings of up to 256 entries, one descriptor per frame. No offloads and no
 * mergeable buffers, so a received frame arrives whole in one buffer behind the header,
 * and a transmitted one goes out as header + frame in one buffer (VERSION_1 implies
 * ANY_LAYOUT, 6.3). Polled from the control plane; interrupts are suppressed. Receive
 * buffers come from the NIC's pool (drivers/nic.h): a frame handed up on loan leaves the
 * queue and its descriptor is re-posted with a spare's address.
 */
#include <errno.h>
#include <string.h>

#include "drivers/nic.h"
#include "drivers/virtio_pci.h"
#include "hv/base/log.h"
#include "hv/base/mem.h"
#include "hv/base/time.h"

#define VIRTIO_NET_DEV_TRANSITIONAL 0x1000
#define VIRTIO_NET_DEV_MODERN       0x1041

#define VIRTIO_NET_F_MAC    5
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1

/* struct virtio_net_config (5.1.4): mac[6], then le16 status. */
#define NET_CFG_MAC    0
#define NET_CFG_STATUS 6

#define RXQ 0
#define TXQ 1
#define QSIZE 256
#define BUF_SIZE 2048                   /* one buffer per descriptor, two per page */
#define TX_KICK_BATCH 32                /* frames published before the doorbell rings anyway */
#define ETH_HLEN 14
#define LINK_POLL_NS 20000000ull        /* status is re-read at most every 20 ms */

/* 5.1.6: with VIRTIO_F_VERSION_1 the header always has num_buffers (12 bytes); the 10-byte
 * form is legacy without MRG_RXBUF only. All zero on transmit: no checksum, no GSO. */
struct virtio_net_hdr {
    uint8_t flags, gso_type;
    uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};
_Static_assert(sizeof(struct virtio_net_hdr) == 12, "virtio_net_hdr is 12 bytes");
#define HDR_LEN ((uint32_t)sizeof(struct virtio_net_hdr))
/* 5.1.6.3.1: without MRG_RXBUF or GSO, receive buffers of at least 1526 bytes. */
#define RX_LEN (HDR_LEN + NIC_MTU_FRAME)
_Static_assert(RX_LEN <= BUF_SIZE, "receive buffer fits its slot");

struct vnet {
    struct nic nic;
    struct vp_dev vp;
    struct virtq rxq, txq;
    uint8_t *tx_buf;                    /* slot i belongs to transmit descriptor i */
    uint64_t buf_phys, buf_pages;       /* the transmit buffers */
    struct nic_rxbuf *rx_slot[QSIZE];   /* the buffer receive descriptor i holds */
    uint16_t tx_free[QSIZE];            /* stack of idle transmit descriptors */
    bool tx_busy[QSIZE];
    unsigned tx_nfree;
    unsigned tx_unkicked;               /* published since the last notify (or its check) */
    bool has_status, link, bad_logged;
    uint64_t link_read_ns;
};

static struct vnet vnets[NIC_MAX];
static unsigned nvnets;

/* Reports a device that breaks the ring protocol once per NIC; the frames are counted. */
static void ring_error(struct vnet *v, const char *q, int id, uint32_t len)
{
    if (!v->bad_logged)
        log_err("virtio", "%s: device returned bad %s entry (id %d len %u)", v->nic.name, q,
                id, len);
    v->bad_logged = true;
}

static void tx_reclaim(struct vnet *v)
{
    uint32_t len;
    int id;
    while ((id = virtq_pop_used(&v->txq, &len)) >= 0) {
        if ((unsigned)id >= v->txq.size || !v->tx_busy[id]) {
            ring_error(v, "tx", id, len);
            v->nic.tx_errors++;
            continue;
        }
        v->tx_busy[id] = false;
        v->tx_free[v->tx_nfree++] = id;
    }
}

/*
 * The transmit doorbell, once for everything published since the last: a notify is a trap
 * (QEMU takes its global lock for it), and with one per frame a stream of TCP segments paid
 * one per frame, as QEMU's transmit bottom half re-enables notifications after each short
 * flush. The stack flushes once per poll pass (vnet_flush); a full batch or ring rings now.
 */
static void tx_kick(struct vnet *v)
{
    if (!v->tx_unkicked)
        return;
    v->tx_unkicked = 0;
    if (virtq_want_notify(&v->txq)) {
        vp_notify(&v->vp, &v->txq);
        v->nic.doorbells++;
    }
}

static void vnet_flush(struct nic *n)
{
    tx_kick(n->priv);
}

static int vnet_tx(struct nic *n, const void *frame, size_t len)
{
    struct vnet *v = n->priv;
    if (len < ETH_HLEN || len > NIC_MTU_FRAME) {
        n->tx_errors++;
        return -EINVAL;
    }
    tx_reclaim(v);
    if (!v->tx_nfree) {
        tx_kick(v);                     /* the device must drain the ring to make room */
        return -EAGAIN;
    }
    uint16_t id = v->tx_free[--v->tx_nfree];
    uint8_t *slot = v->tx_buf + (size_t)id * BUF_SIZE;
    memset(slot, 0, HDR_LEN);
    memcpy(slot + HDR_LEN, frame, len);
    v->txq.desc[id].len = HDR_LEN + len;
    v->tx_busy[id] = true;
    virtq_post(&v->txq, id);
    virtq_publish(&v->txq);
    if (++v->tx_unkicked >= TX_KICK_BATCH)
        tx_kick(v);
    n->tx_packets++;
    n->tx_bytes += len;
    return 0;
}

static int vnet_rx_poll(struct nic *n, nic_rx_fn deliver, void *ctx, int budget)
{
    struct vnet *v = n->priv;
    int delivered = 0, id;
    unsigned reposted = 0;
    uint32_t len;

    for (int i = 0; i < budget && (id = virtq_pop_used(&v->rxq, &len)) >= 0; i++) {
        if ((unsigned)id >= v->rxq.size) {
            ring_error(v, "rx", id, len);   /* not ours to repost */
            n->rx_errors++;
            continue;
        }
        if (len < HDR_LEN + ETH_HLEN || len > RX_LEN) {
            if (len > RX_LEN)
                ring_error(v, "rx", id, len);
            n->rx_errors++;
        } else {
            v->rx_slot[id] = nic_rx_hand_up(&n->rxpool, v->rx_slot[id], HDR_LEN, len - HDR_LEN,
                                            deliver, ctx);
            n->rx_packets++;
            n->rx_bytes += len - HDR_LEN;
            delivered++;
        }
        /* The descriptor's buffer may be a spare now (the frame was lent). */
        v->rxq.desc[id].addr = v->rx_slot[id]->pa;
        v->rxq.desc[id].len = RX_LEN;
        virtq_post(&v->rxq, id);
        reposted++;
    }
    if (reposted) {
        virtq_publish(&v->rxq);
        if (virtq_want_notify(&v->rxq)) {
            vp_notify(&v->vp, &v->rxq);
            n->doorbells++;
        }
    }
    return delivered;
}

static bool read_link(struct vnet *v)
{
    v->link_read_ns = time_ns();
    v->link = vp_read(&v->vp, VP_R_DEVICE, NET_CFG_STATUS, 2) & VIRTIO_NET_S_LINK_UP;
    return v->link;
}

/* Without VIRTIO_NET_F_STATUS the link is assumed up (5.1.4). */
static bool vnet_link_up(struct nic *n)
{
    struct vnet *v = n->priv;
    if (!v->has_status)
        return true;
    /* Through the PCI_CFG window this is four configuration accesses: not every poll. */
    if (time_ns() - v->link_read_ns < LINK_POLL_NS)
        return v->link;
    return read_link(v);
}

/*
 * Receive filtering is a control-queue command (5.1.6.5.1, VIRTIO_NET_F_CTRL_RX), which this
 * driver does not negotiate. Without it the device filters nothing: QEMU's virtio-net starts
 * promiscuous (virtio_net_reset: "for compatibility") and only a CTRL_RX command turns that
 * off. So there is nothing to switch, either way.
 */
static int vnet_set_promisc(struct nic *n, bool on)
{
    (void)n, (void)on;
    return 0;
}

static const struct nic_ops vnet_ops = {
    .tx = vnet_tx,
    .rx_poll = vnet_rx_poll,
    .link_up = vnet_link_up,
    .set_promisc = vnet_set_promisc,
    .flush = vnet_flush,
};

static void read_mac(struct vnet *v)
{
    struct vp_dev *vp = &v->vp;
    if (!(vp->features & (1ull << VIRTIO_NET_F_MAC))) {
        /* 5.1.5: without VIRTIO_NET_F_MAC the driver makes one up: locally administered,
         * from the PCI address and the clock so two hosts on one segment differ. */
        uint64_t t = time_ns() >> 10;
        const struct pci_dev *d = vp->pci;
        uint8_t mac[6] = { 0x02, 0xfe, d->bus, (uint8_t)(d->dev << 3 | d->fn), (uint8_t)t,
                           (uint8_t)(t >> 8) };
        memcpy(v->nic.mac, mac, 6);
        log_warn("virtio", "%s: device gives no MAC address; using a generated one", vp->tag);
        return;
    }
    uint8_t gen;
    unsigned tries = 0;
    do {
        gen = vp_generation(vp);
        for (unsigned i = 0; i < 6; i++)
            v->nic.mac[i] = vp_read(vp, VP_R_DEVICE, NET_CFG_MAC + i, 1);
    } while (gen != vp_generation(vp) && ++tries < 8);
}

/* Transmit buffers, and the receive pool: the ring plus twice as many spares. */
static int alloc_buffers(struct vnet *v)
{
    uint64_t bytes = (uint64_t)v->txq.size * BUF_SIZE;
    v->buf_pages = (bytes + PAGE_SIZE - 1) / PAGE_SIZE;
    v->buf_phys = frame_alloc(0, v->buf_pages, 1, FRAME_ZERO);
    if (!v->buf_phys) {
        v->buf_pages = 0;
        return -ENOMEM;
    }
    v->tx_buf = phys_to_virt(v->buf_phys);
    if (nic_rxpool_init(&v->nic.rxpool, 3u * v->rxq.size, BUF_SIZE)) {
        frame_free(v->buf_phys, v->buf_pages);
        v->buf_pages = 0;
        return -ENOMEM;
    }

    for (uint16_t i = 0; i < v->rxq.size; i++) {
        v->rx_slot[i] = nic_rxpool_take(&v->nic.rxpool);
        v->rxq.desc[i] = (struct virtq_desc){
            .addr = v->rx_slot[i]->pa, .len = RX_LEN, .flags = VIRTQ_DESC_F_WRITE,
        };
        virtq_post(&v->rxq, i);
    }
    virtq_publish(&v->rxq);
    for (uint16_t i = 0; i < v->txq.size; i++) {
        v->txq.desc[i] = (struct virtq_desc){ .addr = v->buf_phys + (uint64_t)i * BUF_SIZE };
        v->tx_free[v->txq.size - 1 - i] = i;    /* hands out 0, 1, 2, ... first */
    }
    v->tx_nfree = v->txq.size;
    return 0;
}

/* 3.1.1 steps 4-8 after vp_open's reset, ACKNOWLEDGE and DRIVER. */
static int vnet_setup(struct vnet *v)
{
    struct vp_dev *vp = &v->vp;
    uint32_t cfg_len = vp->r[VP_R_DEVICE].len;
    /* ACCESS_PLATFORM: ferry leaves any IOMMU off, so platform DMA addresses are the
     * physical ones the rings hold; a device that insists on it may refuse the driver. */
    uint64_t want = (cfg_len >= 6 ? 1ull << VIRTIO_NET_F_MAC : 0) |
                    (cfg_len >= 8 ? 1ull << VIRTIO_NET_F_STATUS : 0) |
                    1ull << VIRTIO_F_ACCESS_PLATFORM;
    int rc = vp_negotiate(vp, want, 1ull << VIRTIO_F_VERSION_1);
    if (!rc)
        rc = vp_queue_setup(vp, RXQ, QSIZE, &v->rxq);
    if (!rc)
        rc = vp_queue_setup(vp, TXQ, QSIZE, &v->txq);
    if (!rc)
        rc = alloc_buffers(v);
    if (rc)
        return rc;
    read_mac(v);
    v->has_status = vp->features & (1ull << VIRTIO_NET_F_STATUS);
    vp_driver_ok(vp);
    /* 3.1.1: no notification before DRIVER_OK; now the device may take the rx buffers. */
    vp_notify(vp, &v->rxq);
    if (v->has_status)
        read_link(v);
    return 0;
}

int virtio_net_probe(struct pci_dev *d)
{
    if (d->vendor != VIRTIO_PCI_VENDOR ||
        (d->device != VIRTIO_NET_DEV_MODERN && d->device != VIRTIO_NET_DEV_TRANSITIONAL))
        return -ENODEV;
    if (nvnets == NIC_MAX) {
        log_warn("virtio", "%02x:%02x.%u: more than %d NICs, left alone", d->bus, d->dev,
                 d->fn, NIC_MAX);
        return -ENOSPC;
    }
    struct vnet *v = &vnets[nvnets];
    memset(v, 0, sizeof(*v));
    int rc = vp_open(d, &v->vp);
    if (rc)
        return rc;      /* -ENODEV for a legacy-only device: vp_open said why */
    v->nic.driver = "virtio-net";
    v->nic.ops = &vnet_ops;
    v->nic.priv = v;
    v->nic.pci = d;
    rc = vnet_setup(v);
    if (!rc)
        rc = nic_register(&v->nic);
    if (rc) {
        struct virtq *const qs[] = { &v->rxq, &v->txq };
        if (!vp_abandon(&v->vp, qs, 2) && v->buf_pages) {
            frame_free(v->buf_phys, v->buf_pages);
            nic_rxpool_destroy(&v->nic.rxpool);
        }
        return rc;
    }
    d->driver = "virtio-net";
    nvnets++;
    log_info("virtio", "%s: %s rx %u tx %u entries, features %#llx, link %s", v->vp.tag,
             v->nic.name, v->rxq.size, v->txq.size, (unsigned long long)v->vp.features,
             vnet_link_up(&v->nic) ? "up" : "down");
    return 0;
}
