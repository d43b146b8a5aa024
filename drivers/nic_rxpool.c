/*
 * Receive buffer pools shared by the NIC drivers: a fixed set of DMA buffers per NIC, lent
 * to the layer above without copying while a spare can take the lender's place in the ring
 * (the ownership rule is in drivers/nic.h). Single-threaded: only the BSP calls these.
 */
#include <errno.h>
#include <string.h>

#include "drivers/nic.h"
#include "hv/base/log.h"
#include "hv/base/mem.h"

int nic_rxpool_init(struct nic_rxpool *p, unsigned nbufs, unsigned buf_size)
{
    /* Buffers stay inside one page each, so a device never sees one cross a page. */
    if (!nbufs || !buf_size || PAGE_SIZE % buf_size)
        return -EINVAL;
    uint64_t data = (uint64_t)nbufs * buf_size;
    uint64_t meta = (uint64_t)nbufs * (sizeof(struct nic_rxbuf) + sizeof(struct nic_rxbuf *));
    memset(p, 0, sizeof(*p));
    p->pages = (data + meta + PAGE_SIZE - 1) / PAGE_SIZE;
    p->phys = frame_alloc(0, p->pages, 1, FRAME_ZERO);
    if (!p->phys) {
        p->pages = 0;
        return -ENOMEM;
    }
    uint8_t *va = phys_to_virt(p->phys);
    p->bufs = (struct nic_rxbuf *)(va + data);
    p->spare = (struct nic_rxbuf **)(p->bufs + nbufs);
    p->nbufs = nbufs;
    p->buf_size = buf_size;
    /* Stacked so that take() hands out buffer 0, 1, 2, ... first. */
    for (unsigned i = 0; i < nbufs; i++) {
        struct nic_rxbuf *b = &p->bufs[i];
        b->va = va + (size_t)i * buf_size;
        b->pa = p->phys + (uint64_t)i * buf_size;
        b->pool = p;
        b->state = NIC_RXBUF_SPARE;
        p->spare[nbufs - 1 - i] = b;
    }
    p->nspare = nbufs;
    return 0;
}

int nic_rxpool_destroy(struct nic_rxpool *p)
{
    if (p->nlent)
        return -EBUSY;
    if (p->pages)
        frame_free(p->phys, p->pages);
    memset(p, 0, sizeof(*p));
    return 0;
}

struct nic_rxbuf *nic_rxpool_take(struct nic_rxpool *p)
{
    if (!p->nspare)
        return NULL;
    struct nic_rxbuf *b = p->spare[--p->nspare];
    b->state = NIC_RXBUF_RING;
    return b;
}

void nic_rxbuf_release(struct nic_rxbuf *b)
{
    struct nic_rxpool *p = b->pool;
    /* A second release, or one of a buffer never lent, would put a buffer the device may be
     * writing into the spare stack twice: refuse it and say so once. */
    if (b->state != NIC_RXBUF_LENT) {
        if (!p->bad_release_logged)
            log_err("nic", "release of a receive buffer that is not lent (state %u)", b->state);
        p->bad_release_logged = true;
        return;
    }
    b->state = NIC_RXBUF_SPARE;
    b->frame = NULL;
    p->nlent--;
    p->spare[p->nspare++] = b;
}

struct nic_rxbuf *nic_rx_hand_up(struct nic_rxpool *p, struct nic_rxbuf *b, unsigned off,
                                 unsigned len, nic_rx_fn deliver, void *ctx)
{
    /* The replacement is taken first: a consumer that frees the frame before returning puts
     * b back among the spares, and b may then be the next descriptor's replacement. */
    struct nic_rxbuf *spare = nic_rxpool_take(p);
    b->frame = b->va + off;
    b->len = (uint16_t)len;
    if (!spare) {
        p->short_spare++;
        (void)deliver(ctx, b, false);   /* must copy; the buffer stays in the ring */
        b->frame = NULL;
        return b;
    }
    b->state = NIC_RXBUF_LENT;
    p->nlent++;
    /* Released during the call counts as kept whatever deliver says: b is a spare by now. */
    if (deliver(ctx, b, true) || b->state != NIC_RXBUF_LENT) {
        p->lent++;
        return spare;
    }
    b->state = NIC_RXBUF_RING;
    b->frame = NULL;
    p->nlent--;
    spare->state = NIC_RXBUF_SPARE;
    p->spare[p->nspare++] = spare;
    return b;
}
