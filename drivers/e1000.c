/*
 * Intel 8254x (82540EM, 82545EM): polled, legacy descriptors, one RX and one
 * TX ring of 256 descriptors with a 2 KiB buffer each, no interrupts. Receive
 * buffers come from the NIC's pool (drivers/nic.h): a frame handed up on loan
 * leaves the ring and a spare's address goes into its descriptor.
 * Section numbers are from the PCI/PCI-X Family of Gigabit Ethernet
 * Controllers Software Developer's Manual (8254x SDM, rev. 4.0). Both parts
 * share the registers used here, including the EERD layout (the 82541/82547
 * and 82574 moved its fields, so they are not claimed).
 */
#include <errno.h>
#include <string.h>

#include "drivers/nic.h"
#include "drivers/pci.h"
#include "drivers/pci_bar.h"
#include "hv/base/log.h"
#include "hv/base/mem.h"
#include "hv/base/time.h"

/* Registers (SDM chapter 13) */
#define REG_CTRL   0x0000
#define REG_STATUS 0x0008
#define REG_EERD   0x0014
#define REG_FCAL   0x0028
#define REG_FCAH   0x002c
#define REG_FCT    0x0030
#define REG_ICR    0x00c0
#define REG_IMC    0x00d8
#define REG_RCTL   0x0100
#define REG_FCTTV  0x0170
#define REG_TCTL   0x0400
#define REG_TIPG   0x0410
#define REG_RDBAL  0x2800
#define REG_RDBAH  0x2804
#define REG_RDLEN  0x2808
#define REG_RDH    0x2810
#define REG_RDT    0x2818
#define REG_RDTR   0x2820
#define REG_TDBAL  0x3800
#define REG_TDBAH  0x3804
#define REG_TDLEN  0x3808
#define REG_TDH    0x3810
#define REG_TDT    0x3818
#define REG_MPC    0x4010     /* missed packets (no free descriptor), clear on read */
#define REG_RXCSUM 0x5000
#define REG_MTA    0x5200     /* 128 entries */
#define REG_RAL(i) (0x5400 + 8 * (i))
#define REG_RAH(i) (0x5404 + 8 * (i))

#define CTRL_LRST    (1u << 3)
#define CTRL_ASDE    (1u << 5)
#define CTRL_SLU     (1u << 6)
#define CTRL_ILOS    (1u << 7)
#define CTRL_RST     (1u << 26)
#define CTRL_VME     (1u << 30)
#define CTRL_PHY_RST (1u << 31)
#define STATUS_LU    (1u << 1)
#define EERD_START   (1u << 0)
#define EERD_DONE    (1u << 4)     /* 82540/82545 layout: address in 15:8, data in 31:16 */
#define RAH_AV       (1u << 31)
#define RCTL_EN      (1u << 1)
#define RCTL_UPE     (1u << 3)     /* unicast promiscuous */
#define RCTL_MPE     (1u << 4)     /* multicast promiscuous */
#define RCTL_BAM     (1u << 15)
#define RCTL_SECRC   (1u << 26)    /* BSIZE 00 with BSEX 0: 2048-byte buffers */
#define TCTL_EN      (1u << 1)
#define TCTL_PSP     (1u << 3)
#define TCTL_CT(x)   ((uint32_t)(x) << 4)
#define TCTL_COLD(x) ((uint32_t)(x) << 12)
#define TIPG_COPPER  0x0060200au   /* IPGT 10, IPGR1 8, IPGR2 6 (SDM 13.4.34) */

/* Descriptors (SDM 3.2.3, 3.3.3) */
#define RXD_DD      (1u << 0)
#define RXD_EOP     (1u << 1)
#define RXE_FRAME   0x97           /* CE, SE, SEQ, CXE, RXE; IPE/TCPE are checksum offload only */
#define TXD_EOP     (1u << 0)
#define TXD_IFCS    (1u << 1)
#define TXD_RS      (1u << 3)
#define TXD_DD      (1u << 0)
#define TXD_EC_LC   0x06           /* excess or late collisions: the frame was not sent */

/* PCI command register (PCI Local Bus Spec 3.0 6.2.2) */
#define PCI_COMMAND      0x04
#define CMD_MASTER       0x0004
#define CMD_INTX_DISABLE 0x0400

#define NDESC      256
#define TX_TELL_BATCH 32    /* frames queued before the tail moves anyway */
#define BUF_SIZE   2048
#define MIN_FRAME  14
#define MAX_FRAME  (NIC_MTU_FRAME + 4)    /* one VLAN tag; the FCS is stripped (SECRC) */
#define MMIO_SIZE  0x20000                /* BAR0: 128 KiB of registers */

struct rx_desc {
    uint64_t addr;
    uint16_t len, csum;
    uint8_t status, errors;
    uint16_t special;
};

struct tx_desc {
    uint64_t addr;
    uint16_t len;
    uint8_t cso, cmd, status, css;
    uint16_t special;
};

_Static_assert(sizeof(struct rx_desc) == 16, "legacy RX descriptor is 16 bytes");
_Static_assert(sizeof(struct tx_desc) == 16, "legacy TX descriptor is 16 bytes");

/* One DMA block per NIC: RX ring, TX ring (a page each), then the TX buffers. */
#define DMA_PAGES (2 + NDESC * BUF_SIZE / PAGE_SIZE)
#define RX_BUFS   (3 * NDESC)             /* the ring plus twice as many spares */

struct e1000 {
    struct nic nic;
    volatile uint8_t *regs;
    volatile struct rx_desc *rx;
    volatile struct tx_desc *tx;
    uint8_t *tx_buf;
    struct nic_rxbuf *rx_slot[NDESC];      /* the buffer each RX descriptor holds */
    unsigned rx_next;              /* next descriptor the NIC hands back */
    unsigned tx_tail, tx_clean;    /* next free; oldest in flight (tx_clean == tx_tail: idle) */
    unsigned tx_told;              /* TDT as last written: the NIC owns tx_clean..tx_told */
    bool rx_skip;                  /* dropping the rest of a frame that spans descriptors */
};

static struct e1000 e1000s[NIC_MAX];
static unsigned ne1000;

/* Compiler barrier: x86 keeps stores (and loads) to write-back memory and UC MMIO in order. */
static inline void dma_barrier(void) { __asm__ volatile("" ::: "memory"); }

static uint32_t rd32(const struct e1000 *e, unsigned r)
{
    return *(volatile uint32_t *)(e->regs + r);
}

static void wr32(const struct e1000 *e, unsigned r, uint32_t v)
{
    *(volatile uint32_t *)(e->regs + r) = v;
}

/* One 16-bit EEPROM word through EERD, or -1 on timeout. */
static int eeprom_read(const struct e1000 *e, unsigned word)
{
    wr32(e, REG_EERD, (word & 0xff) << 8 | EERD_START);
    for (int i = 0; i < 10000; i++) {
        uint32_t v = rd32(e, REG_EERD);
        if (v & EERD_DONE)
            return (int)(v >> 16);
        time_delay_us(1);
    }
    return -1;
}

/* RAL0/RAH0 when the firmware or the emulator filled them (AV), else EEPROM words 0-2. */
static int read_mac(struct e1000 *e, uint8_t mac[6])
{
    uint32_t lo = rd32(e, REG_RAL(0)), hi = rd32(e, REG_RAH(0));
    if (!(hi & RAH_AV)) {
        int w0 = eeprom_read(e, 0), w1 = eeprom_read(e, 1), w2 = eeprom_read(e, 2);
        if (w0 < 0 || w1 < 0 || w2 < 0)
            return -EIO;
        lo = (uint32_t)w0 | (uint32_t)w1 << 16;
        hi = (uint32_t)w2;
    }
    for (unsigned i = 0; i < 4; i++)
        mac[i] = lo >> (8 * i);
    mac[4] = hi;
    mac[5] = hi >> 8;
    static const uint8_t zero[6];
    if (!memcmp(mac, zero, 6) || (mac[0] & 1))
        return -EINVAL;
    /* The unicast filter matches RA0: make sure it holds this address and is valid. */
    wr32(e, REG_RAL(0), lo);
    wr32(e, REG_RAH(0), (hi & 0xffff) | RAH_AV);
    return 0;
}

/* SDM chapter 14: reset, then link up with auto-speed detection, no flow control. */
static int reset_mac(struct e1000 *e)
{
    wr32(e, REG_IMC, 0xffffffffu);
    wr32(e, REG_CTRL, rd32(e, REG_CTRL) | CTRL_RST);
    time_delay_us(10);    /* at least 1 us before the register may be read again */
    uint64_t deadline = time_ns() + 10 * 1000 * 1000;
    while (rd32(e, REG_CTRL) & CTRL_RST)
        if (time_ns() > deadline)
            return -ETIMEDOUT;
    wr32(e, REG_IMC, 0xffffffffu);    /* whatever the reset restored: polled, never interrupts */
    (void)rd32(e, REG_ICR);           /* clears pending causes */
    uint32_t ctrl = rd32(e, REG_CTRL);
    ctrl &= ~(CTRL_LRST | CTRL_ILOS | CTRL_VME | CTRL_PHY_RST);
    wr32(e, REG_CTRL, ctrl | CTRL_SLU | CTRL_ASDE);
    wr32(e, REG_FCAL, 0);
    wr32(e, REG_FCAH, 0);
    wr32(e, REG_FCT, 0);
    wr32(e, REG_FCTTV, 0);
    return 0;
}

/* SDM chapter 14: receive, then transmit initialization. */
static void setup_rings(struct e1000 *e)
{
    for (unsigned i = 0; i < 128; i++)
        wr32(e, REG_MTA + 4 * i, 0);
    for (unsigned i = 1; i < 16; i++)
        wr32(e, REG_RAH(i), 0);

    for (unsigned i = 0; i < NDESC; i++) {
        e->rx[i] = (struct rx_desc){ .addr = e->rx_slot[i]->pa };
        e->tx[i] = (struct tx_desc){ .addr = virt_to_phys(e->tx_buf + i * BUF_SIZE) };
    }
    dma_barrier();
    uint64_t rx_pa = virt_to_phys((const void *)e->rx), tx_pa = virt_to_phys((const void *)e->tx);
    wr32(e, REG_RDBAL, (uint32_t)rx_pa);
    wr32(e, REG_RDBAH, (uint32_t)(rx_pa >> 32));
    wr32(e, REG_RDLEN, NDESC * sizeof(struct rx_desc));
    wr32(e, REG_RDH, 0);
    wr32(e, REG_RDT, NDESC - 1);    /* one descriptor stays with us: head == tail means none */
    wr32(e, REG_RDTR, 0);
    wr32(e, REG_RXCSUM, 0);
    wr32(e, REG_RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC);

    wr32(e, REG_TDBAL, (uint32_t)tx_pa);
    wr32(e, REG_TDBAH, (uint32_t)(tx_pa >> 32));
    wr32(e, REG_TDLEN, NDESC * sizeof(struct tx_desc));
    wr32(e, REG_TDH, 0);
    wr32(e, REG_TDT, 0);
    wr32(e, REG_TIPG, TIPG_COPPER);
    wr32(e, REG_TCTL, TCTL_EN | TCTL_PSP | TCTL_CT(0x10) | TCTL_COLD(0x40));
    e->rx_next = e->tx_tail = e->tx_clean = e->tx_told = 0;
    e->rx_skip = false;
}

/* Frees the descriptors the NIC is done with; RS on every one makes it report each. */
static void tx_reclaim(struct e1000 *e)
{
    while (e->tx_clean != e->tx_tail) {
        uint8_t st = e->tx[e->tx_clean].status;
        if (!(st & TXD_DD))
            break;
        if (st & TXD_EC_LC)
            e->nic.tx_errors++;
        e->tx_clean = (e->tx_clean + 1) % NDESC;
    }
}

/* The tail write, once for every frame queued since the last (a trap in an emulator, an
 * uncached write on hardware): on the stack's flush, a full batch or a full ring. */
static void tx_tell(struct e1000 *e)
{
    if (e->tx_told == e->tx_tail)
        return;
    dma_barrier();    /* descriptors and buffers before the tail moves */
    wr32(e, REG_TDT, e->tx_tail);
    e->tx_told = e->tx_tail;
    e->nic.doorbells++;
}

static void e1000_flush(struct nic *n)
{
    tx_tell(n->priv);
}

static int e1000_tx(struct nic *n, const void *frame, size_t len)
{
    struct e1000 *e = n->priv;
    if (len < MIN_FRAME || len > MAX_FRAME) {
        n->tx_errors++;
        return -EINVAL;
    }
    tx_reclaim(e);
    unsigned i = e->tx_tail, next = (i + 1) % NDESC;
    if (next == e->tx_clean) {
        tx_tell(e);                 /* the NIC must drain the ring to make room */
        return -EAGAIN;
    }
    memcpy(e->tx_buf + i * BUF_SIZE, frame, len);
    volatile struct tx_desc *d = &e->tx[i];
    d->len = (uint16_t)len;
    d->cso = 0;
    d->css = 0;
    d->special = 0;
    d->status = 0;
    d->cmd = TXD_EOP | TXD_IFCS | TXD_RS;
    e->tx_tail = next;
    if ((e->tx_tail - e->tx_told + NDESC) % NDESC >= TX_TELL_BATCH)
        tx_tell(e);
    n->tx_packets++;
    n->tx_bytes += len;
    return 0;
}

static int e1000_rx_poll(struct nic *n, nic_rx_fn deliver, void *ctx, int budget)
{
    struct e1000 *e = n->priv;
    int delivered = 0;
    unsigned seen = 0;
    /* Bounded by the ring too: bad frames do not count against the budget. */
    while (delivered < budget && seen < NDESC) {
        unsigned i = e->rx_next;
        volatile struct rx_desc *d = &e->rx[i];
        uint8_t st = d->status;
        if (!(st & RXD_DD))
            break;
        dma_barrier();    /* the rest of the descriptor only after DD */
        uint16_t len = d->len;
        uint8_t err = d->errors;
        if (!(st & RXD_EOP)) {
            if (!e->rx_skip)
                n->rx_errors++;     /* longer than a buffer: cannot happen without LPE */
            e->rx_skip = true;
        } else if (e->rx_skip) {
            e->rx_skip = false;
        } else if ((err & RXE_FRAME) || len < MIN_FRAME || len > MAX_FRAME) {
            n->rx_errors++;
        } else {
            struct nic_rxbuf *b = nic_rx_hand_up(&n->rxpool, e->rx_slot[i], 0, len, deliver, ctx);
            if (b != e->rx_slot[i]) {
                /* Lent: the spare takes its place before RDT hands the descriptor back. */
                e->rx_slot[i] = b;
                d->addr = b->pa;
            }
            n->rx_packets++;
            n->rx_bytes += len;
            delivered++;
        }
        d->status = 0;
        d->errors = 0;
        e->rx_next = (i + 1) % NDESC;
        seen++;
    }
    if (seen) {
        dma_barrier();
        /* Hands back everything up to the last descriptor taken, which we keep. */
        wr32(e, REG_RDT, (e->rx_next + NDESC - 1) % NDESC);
        n->doorbells++;
    }
    n->rx_drops += rd32(e, REG_MPC);
    return delivered;
}

static bool e1000_link_up(struct nic *n)
{
    return rd32(n->priv, REG_STATUS) & STATUS_LU;
}

/* SDM 13.4.22: UPE and MPE pass every unicast and multicast frame, past RA0 and the MTA. */
static int e1000_set_promisc(struct nic *n, bool on)
{
    struct e1000 *e = n->priv;
    uint32_t rctl = rd32(e, REG_RCTL);
    wr32(e, REG_RCTL, on ? rctl | RCTL_UPE | RCTL_MPE : rctl & ~(RCTL_UPE | RCTL_MPE));
    return 0;
}

static const struct nic_ops e1000_ops = {
    .tx = e1000_tx,
    .rx_poll = e1000_rx_poll,
    .link_up = e1000_link_up,
    .set_promisc = e1000_set_promisc,
    .flush = e1000_flush,
};

int e1000_probe(struct pci_dev *d)
{
    if (d->vendor != 0x8086 || (d->device != 0x100e && d->device != 0x100f))
        return -ENODEV;
    const struct pci_bar *b = &d->bar[0];
    if (b->io || b->size < MMIO_SIZE || !b->base) {
        log_err("e1000", "%02x:%02x.%u: BAR0 is not an assigned 128 KiB memory BAR", d->bus,
                d->dev, d->fn);
        return -ENXIO;
    }
    if (!pci_bar_mapped(b)) {
        log_err("e1000", "%02x:%02x.%u: BAR0 at %#llx is beyond the direct map (4 GiB): "
                "device not used", d->bus, d->dev, d->fn, (unsigned long long)b->base);
        return -ERANGE;
    }
    if (nic_count() == NIC_MAX) {    /* so nic_register below cannot fail */
        log_err("e1000", "%02x:%02x.%u: no room for another NIC", d->bus, d->dev, d->fn);
        return -ENOSPC;
    }
    uint64_t pa = frame_alloc(0, DMA_PAGES, 1, FRAME_ZERO);
    if (!pa)
        return -ENOMEM;

    struct e1000 *e = &e1000s[ne1000];
    memset(e, 0, sizeof(*e));
    uint8_t *dma = phys_to_virt(pa);
    e->regs = phys_to_virt(b->base);
    e->rx = (volatile struct rx_desc *)dma;
    e->tx = (volatile struct tx_desc *)(dma + PAGE_SIZE);
    e->tx_buf = dma + 2 * PAGE_SIZE;
    if (nic_rxpool_init(&e->nic.rxpool, RX_BUFS, BUF_SIZE)) {
        frame_free(pa, DMA_PAGES);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < NDESC; i++)
        e->rx_slot[i] = nic_rxpool_take(&e->nic.rxpool);

    /* No DMA until the rings are ours: whatever firmware left running stops with the reset. */
    uint16_t cmd = pci_read16(d, PCI_COMMAND);
    pci_write16(d, PCI_COMMAND, (uint16_t)((cmd & ~CMD_MASTER) | CMD_INTX_DISABLE));
    pci_enable(d, true, false, false);
    int rc = reset_mac(e);
    if (!rc)
        rc = read_mac(e, e->nic.mac);
    if (rc) {
        log_err("e1000", "%02x:%02x.%u: %s", d->bus, d->dev, d->fn,
                rc == -ETIMEDOUT ? "reset did not complete" :
                rc == -EIO ? "EEPROM read timed out" : "no valid MAC address");
        nic_rxpool_destroy(&e->nic.rxpool);
        frame_free(pa, DMA_PAGES);
        return rc;
    }
    pci_enable(d, true, false, true);
    setup_rings(e);

    e->nic.driver = "e1000";
    e->nic.ops = &e1000_ops;
    e->nic.priv = e;
    e->nic.pci = d;
    nic_register(&e->nic);
    ne1000++;
    d->driver = "e1000";
    return 0;
}
