/* See vsw_fake_nic.h. */
#include <errno.h>
#include <string.h>

#include "vsw_fake_nic.h"

struct fnic fnic;

static int fnic_tx(struct nic *n, const void *frame, size_t len)
{
    (void)n;
    if (fnic.tx_full)
        return -EAGAIN;
    if (fnic.ntx < FNIC_FRAMES) {
        fnic.tx[fnic.ntx].len = len;
        memcpy(fnic.tx[fnic.ntx].b, frame, len);
        fnic.ntx++;
    }
    return 0;
}

static int fnic_rx_poll(struct nic *n, nic_rx_fn deliver, void *ctx, int budget)
{
    int done = 0;
    while (done < budget && fnic.wire_head != fnic.wire_tail) {
        struct fnic_frame *f = &fnic.wire[fnic.wire_head++ % FNIC_FRAMES];
        unsigned k = fnic.next_slot++ % 8;
        struct nic_rxbuf *b = fnic.slot[k];
        memcpy(b->va, f->b, f->len);
        fnic.slot[k] = nic_rx_hand_up(&n->rxpool, b, 0, (unsigned)f->len, deliver, ctx);
        done++;
    }
    return done;
}

static bool fnic_link_up(struct nic *n)
{
    (void)n;
    return true;
}

static int fnic_set_promisc(struct nic *n, bool on)
{
    (void)n;
    fnic.promisc = on;
    fnic.promisc_calls++;
    return 0;
}

static const struct nic_ops fnic_ops = {
    .tx = fnic_tx,
    .rx_poll = fnic_rx_poll,
    .link_up = fnic_link_up,
    .set_promisc = fnic_set_promisc,
};

void fnic_init(const uint8_t mac[6])
{
    memset(&fnic, 0, sizeof(fnic));
    memcpy(fnic.nic.mac, mac, 6);
    fnic.nic.driver = "fake";
    fnic.nic.ops = &fnic_ops;
    fnic.nic.priv = &fnic;
    nic_rxpool_init(&fnic.nic.rxpool, 24, 2048);
    for (unsigned i = 0; i < 8; i++)
        fnic.slot[i] = nic_rxpool_take(&fnic.nic.rxpool);
    nic_register(&fnic.nic);
}

void fnic_wire(const void *frame, size_t len)
{
    struct fnic_frame *f = &fnic.wire[fnic.wire_tail++ % FNIC_FRAMES];
    f->len = len;
    memcpy(f->b, frame, len);
}
