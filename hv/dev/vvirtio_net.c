/* virtio-net; see hv/dev/vvirtio_net.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"
#include "hv/dev/vvirtio.h"
#include "hv/dev/vvirtio_net.h"

#define VIRTIO_ID_NET           1
#define NET_F_MAC               5
#define NET_F_STATUS            16
#define NET_F_CTRL_VQ           17
#define NET_F_GUEST_ANNOUNCE    21
#define STATUS_LINK_UP          1u
#define STATUS_ANNOUNCE         2u
#define CONFIG_SIZE             12u     /* mac, status, max_virtqueue_pairs, mtu */
#define CTRL_ANNOUNCE           3
#define CTRL_ANNOUNCE_ACK       0
#define CTRL_OK                 0
#define CTRL_ERR                1

enum { Q_RX, Q_TX, Q_CTRL, NQ };

#define REC_SIZE (VVIRTIO_REC_SIZE(NQ) + 16)

struct vnet {
    struct vvirtio v;                   /* first */
    uint8_t mac[6];
    uint16_t status;
    struct vvirtio_net_stats stats;
    struct virtq_chain chain;
    uint8_t frame[VNET_HDR_LEN + VNET_FRAME_MAX];
};

static struct vnet *of(struct vvirtio *v) { return (struct vnet *)v; }

static int config(struct vvirtio *v, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    struct vnet *n = of(v);
    uint8_t c[CONFIG_SIZE] = { 0 };
    if (write)
        return 0;                       /* the MAC is the host's to set (no CTRL_MAC_ADDR) */
    memcpy(c, n->mac, 6);
    c[6] = (uint8_t)n->status;
    c[7] = (uint8_t)(n->status >> 8);
    c[8] = 1;                           /* max_virtqueue_pairs (MQ not offered) */
    c[10] = 1500 & 0xff, c[11] = 1500 >> 8;     /* mtu (MTU not offered) */
    uint64_t r = 0;
    for (unsigned i = 0; i < size; i++)
        r |= (uint64_t)c[off + i] << (8 * i);
    *val = r;
    return 0;
}

static void broke(struct vvirtio *v, struct virtq *q)
{
    if (!q->broken) {
        q->broken = true;
        q->error = VIRTQ_ERR_REQUEST;
    }
    vvirtio_needs_reset(v);
}

/* Transmit: each chain is a header and a frame; the frame is copied out, then returned. */
static void tx(struct vnet *n)
{
    struct vvirtio *v = &n->v;
    struct virtq *q = &v->q[Q_TX];
    for (unsigned budget = 2u * q->size; budget; budget--) {
        int rc = virtq_pop(q, &v->mem, &n->chain);
        if (rc == 0) {
            virtq_set_avail_event(q, &v->mem);
            if ((rc = virtq_pop(q, &v->mem, &n->chain)) == 0)
                break;
        }
        if (rc < 0) {
            vvirtio_needs_reset(v);
            return;
        }
        uint64_t len = n->chain.out_bytes;
        if (len < VNET_HDR_LEN + VNET_FRAME_MIN || len > sizeof(n->frame) ||
            virtq_read(q, &v->mem, &n->chain, 0, n->frame, len) != (long)len) {
            broke(v, q);
            return;
        }
        len -= VNET_HDR_LEN;
        if (dev_net_tx(v->fn.dev, v->fn.dev->instance, n->frame + VNET_HDR_LEN, len)) {
            n->stats.tx_drops++;
        } else {
            n->stats.tx_frames++;
            n->stats.tx_bytes += len;
        }
        if (virtq_push(q, &v->mem, n->chain.head, 0)) {
            broke(v, q);
            return;
        }
        vvirtio_used(v, Q_TX);
    }
    virtq_set_avail_event(q, &v->mem);
}

/* Control: class, command, data; the device writes one ack byte. */
static void ctrl(struct vnet *n)
{
    struct vvirtio *v = &n->v;
    struct virtq *q = &v->q[Q_CTRL];
    for (unsigned budget = q->size; budget; budget--) {
        uint8_t cmd[2], ack = CTRL_ERR;
        int rc = virtq_pop(q, &v->mem, &n->chain);
        if (rc == 0)
            break;
        if (rc < 0) {
            vvirtio_needs_reset(v);
            return;
        }
        if (n->chain.out_bytes < 2 || n->chain.in_bytes < 1 ||
            virtq_read(q, &v->mem, &n->chain, 0, cmd, 2) != 2) {
            broke(v, q);
            return;
        }
        if (cmd[0] == CTRL_ANNOUNCE && cmd[1] == CTRL_ANNOUNCE_ACK &&
            vvirtio_has(v, NET_F_GUEST_ANNOUNCE)) {
            n->status &= (uint16_t)~STATUS_ANNOUNCE;
            ack = CTRL_OK;
        }
        if (virtq_write(q, &v->mem, &n->chain, n->chain.in_bytes - 1, &ack, 1) != 1 ||
            virtq_push(q, &v->mem, n->chain.head, 1)) {
            broke(v, q);
            return;
        }
        vvirtio_used(v, Q_CTRL);
    }
}

static void notify(struct vvirtio *v, unsigned q)
{
    if (q == Q_TX)
        tx(of(v));
    else if (q == Q_CTRL)
        ctrl(of(v));
    /* Q_RX: the driver posted buffers; frames take them as they come. */
}

int vvirtio_net_rx(struct device *d, const void *frame, size_t len)
{
    struct vnet *n = d->state;
    struct vvirtio *v = &n->v;
    struct virtq *q = &v->q[Q_RX];
    static const uint8_t hdr[VNET_HDR_LEN] = { [10] = 1 };     /* num_buffers = 1 */
    if (len < VNET_FRAME_MIN || len > VNET_FRAME_MAX)
        return -EINVAL;
    int rc = vvirtio_queue_live(v, Q_RX) ? virtq_pop(q, &v->mem, &n->chain) : 0;
    if (rc <= 0) {
        if (rc < 0)
            vvirtio_needs_reset(v);
        n->stats.rx_drops++;
        return -EAGAIN;
    }
    if (n->chain.out_bytes || n->chain.in_bytes < VNET_HDR_LEN + len) {
        /* Linux posts write-only buffers for whole frames: anything else is the driver's
         * error (a short buffer would need mergeable buffers, which are not offered). */
        broke(v, q);
        n->stats.rx_drops++;
        return -EAGAIN;
    }
    if (virtq_write(q, &v->mem, &n->chain, 0, hdr, VNET_HDR_LEN) != VNET_HDR_LEN ||
        virtq_write(q, &v->mem, &n->chain, VNET_HDR_LEN, frame, len) != (long)len ||
        virtq_push(q, &v->mem, n->chain.head, (uint32_t)(VNET_HDR_LEN + len))) {
        vvirtio_needs_reset(v);
        n->stats.rx_drops++;
        return -EAGAIN;
    }
    n->stats.rx_frames++;
    n->stats.rx_bytes += len;
    vvirtio_used(v, Q_RX);
    return 0;
}

bool vvirtio_net_announce(struct device *d)
{
    struct vnet *n = d->state;
    struct vvirtio *v = &n->v;
    if (!vvirtio_has(v, NET_F_GUEST_ANNOUNCE) || !(v->status & VIRTIO_S_DRIVER_OK))
        return false;
    n->status |= STATUS_ANNOUNCE;
    n->stats.announces++;
    vvirtio_config_changed(v);
    return true;
}

void vvirtio_net_stats(const struct device *d, struct vvirtio_net_stats *out)
{
    *out = ((const struct vnet *)d->state)->stats;
}

void vvirtio_net_mac(const struct device *d, uint8_t mac[6])
{
    memcpy(mac, ((const struct vnet *)d->state)->mac, 6);
}

static void dev_reset(struct vvirtio *v)
{
    of(v)->status = STATUS_LINK_UP;
}

static const struct vvirtio_ops ops = {
    .notify = notify,
    .config = config,
    .reset = dev_reset,
};

static int vnet_create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    const struct vvirtio_net_cfg *c = cfg;
    struct vnet *n = d->state;
    if (!c || (c->mac[0] & 1)) {
        snprintf(err, errlen, "virtio-net: no MAC, or a multicast one");
        return -EINVAL;
    }
    memcpy(n->mac, c->mac, 6);
    n->status = STATUS_LINK_UP;
    return vvirtio_init(&n->v, d, &ops, VIRTIO_ID_NET, 0x020000,
                        1ull << NET_F_MAC | 1ull << NET_F_STATUS | 1ull << NET_F_CTRL_VQ |
                        1ull << NET_F_GUEST_ANNOUNCE, NQ, VNET_QUEUE_SIZE, CONFIG_SIZE, err,
                        errlen);
}

static void vnet_destroy(struct device *d)
{
    vvirtio_destroy(&((struct vnet *)d->state)->v);
}

static void vnet_reset(struct device *d)
{
    struct vnet *n = d->state;
    vvirtio_reset(&n->v);
    pcifn_reset(&n->v.fn);
}

static void vnet_save(const struct device *d, uint8_t *rec)
{
    const struct vnet *n = d->state;
    vvirtio_save(&n->v, &rec);
    memcpy(rec, n->mac, 6);
    rec += 6;
    devrec_put16(&rec, n->status);
    for (unsigned i = 0; i < 8; i++)
        devrec_put8(&rec, 0);
}

static int vnet_check(const struct device *d, const uint8_t *rec, char *why, size_t len)
{
    const struct vnet *n = d->state;
    int rc = vvirtio_check(&n->v, rec, why, len);
    if (rc)
        return rc;
    rec += VVIRTIO_REC_SIZE(NQ);
    if (memcmp(rec, n->mac, 6)) {
        snprintf(why, len, "virtio-net: the record's MAC is not this NIC's");
        return -EINVAL;
    }
    rec += 6;
    uint16_t status = devrec_get16(&rec);
    if (status & ~(STATUS_LINK_UP | STATUS_ANNOUNCE)) {
        snprintf(why, len, "virtio-net: status 0x%x has reserved bits", status);
        return -EINVAL;
    }
    return 0;
}

static void vnet_load(struct device *d, const uint8_t *rec)
{
    struct vnet *n = d->state;
    vvirtio_load(&n->v, &rec);
    rec += 6;
    n->status = devrec_get16(&rec);
}

static void vnet_show(const struct device *d, char *buf, size_t n)
{
    const struct vnet *x = d->state;
    int k = vvirtio_show(&x->v, buf, n);
    if (k >= 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, "; mac %02x:%02x:%02x:%02x:%02x:%02x rx %llu drops %llu "
                 "tx %llu drops %llu announces %llu%s", x->mac[0], x->mac[1], x->mac[2],
                 x->mac[3], x->mac[4], x->mac[5], (unsigned long long)x->stats.rx_frames,
                 (unsigned long long)x->stats.rx_drops, (unsigned long long)x->stats.tx_frames,
                 (unsigned long long)x->stats.tx_drops, (unsigned long long)x->stats.announces,
                 x->status & STATUS_ANNOUNCE ? " (unacknowledged)" : "");
}

const struct dev_type vvirtio_net_type = {
    .name = "virtio-net",
    .id = DEV_ID_VIRTIO_NET,
    .version = 1,
    .record_size = REC_SIZE,
    .state_size = sizeof(struct vnet),
    .create = vnet_create,
    .reset = vnet_reset,
    .save = vnet_save,
    .check = vnet_check,
    .load = vnet_load,
    .destroy = vnet_destroy,
    .show = vnet_show,
};
