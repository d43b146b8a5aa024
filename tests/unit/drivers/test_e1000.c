/*
 * Host tests for drivers/e1000.c's receive path and its zero-copy hand-up to lwIP, end to end:
 * a fake 82540EM (registers in host memory, descriptor rings reached through phys_to_virt like
 * DMA) under the real driver, the receive pool (drivers/nic_rxpool.c), net/netdev.c's glue and
 * lwIP (net/net.c). The fake device asserts that it only ever writes a frame into a buffer
 * that sits in its descriptor (never a lent or spare one) and that it always has a descriptor
 * to write into.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/e1000.c"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "lwip/udp.h"
#include "net/net.h"
#include "net/netdev.h"
#include "net/port.h"
#include "fake_env.h"
#include "support.h"

static const uint8_t our_mac[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t peer_mac[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x02 };
static const uint8_t our_ip[4] = { 10, 0, 0, 1 };
static const uint8_t peer_ip[4] = { 10, 0, 0, 2 };

/* ---- the fake 82540EM -------------------------------------------------------------- */
static struct {
    uint8_t *regs;
    uint16_t pci_cmd;
    unsigned rdh, tdh;
    unsigned ntx;
    uint8_t tx[64][1536];
    size_t tx_len[64];
} fe;

static uint32_t *reg(unsigned r) { return (uint32_t *)(fe.regs + r); }

/* The reset completes by the time the driver reads the clock. */
uint64_t time_ns(void)
{
    *reg(REG_CTRL) &= ~CTRL_RST;
    return fake_now_ns += 1000;
}

void time_delay_us(uint64_t us) { fake_now_ns += us * 1000; }

uint16_t pci_read16(const struct pci_dev *d, unsigned off)
{
    (void)d;
    assert_int_equal(off, PCI_COMMAND);
    return fe.pci_cmd;
}

void pci_write16(const struct pci_dev *d, unsigned off, uint16_t v)
{
    (void)d;
    assert_int_equal(off, PCI_COMMAND);
    fe.pci_cmd = v;
}

void pci_enable(const struct pci_dev *d, bool mem, bool io, bool master)
{
    (void)d, (void)io;
    fe.pci_cmd |= (mem ? 2 : 0) | (master ? CMD_MASTER : 0);
}

bool pci_bar_mapped(const struct pci_bar *b) { return b->base != 0; }

static struct e1000 *dev(void) { return &e1000s[0]; }

static volatile struct rx_desc *fe_rx_ring(void)
{
    return phys_to_virt((uint64_t)*reg(REG_RDBAH) << 32 | *reg(REG_RDBAL));
}

static const struct nic_rxbuf *buf_at(uint64_t pa)
{
    const struct nic_rxpool *p = &dev()->nic.rxpool;
    for (unsigned k = 0; k < p->nbufs; k++)
        if (p->bufs[k].pa == pa)
            return &p->bufs[k];
    return NULL;
}

/* Receives a frame as the hardware does: into the buffer at RDH, if RDH != RDT (SDM 3.2.6). */
static void fe_rx_status(const void *frame, uint16_t len, uint8_t status, uint8_t errors)
{
    assert_true(*reg(REG_RCTL) & RCTL_EN);
    assert_true(fe.pci_cmd & CMD_MASTER);
    assert_int_not_equal(fe.rdh, *reg(REG_RDT));    /* the driver keeps the ring stocked */
    volatile struct rx_desc *d = &fe_rx_ring()[fe.rdh];
    const struct nic_rxbuf *b = buf_at(d->addr);
    assert_non_null(b);
    assert_int_equal(b->state, NIC_RXBUF_RING);     /* never a lent or spare buffer */
    memcpy(phys_to_virt(d->addr), frame, len < BUF_SIZE ? len : BUF_SIZE);
    d->len = len;
    d->errors = errors;
    d->status = status;
    fe.rdh = (fe.rdh + 1) % NDESC;
}

static void fe_rx(const void *frame, uint16_t len)
{
    fe_rx_status(frame, len, RXD_DD | RXD_EOP, 0);
}

/* Sends what the driver queued, keeping a copy of the frames. */
static void fe_tx(void)
{
    volatile struct tx_desc *ring = phys_to_virt((uint64_t)*reg(REG_TDBAH) << 32 |
                                                 *reg(REG_TDBAL));
    while (fe.tdh != *reg(REG_TDT)) {
        volatile struct tx_desc *d = &ring[fe.tdh];
        if (fe.ntx < 64) {
            memcpy(fe.tx[fe.ntx], phys_to_virt(d->addr), d->len);
            fe.tx_len[fe.ntx++] = d->len;
        }
        d->status = TXD_DD;
        fe.tdh = (fe.tdh + 1) % NDESC;
    }
}

/* ---- frames ------------------------------------------------------------------------ */
static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint16_t csum(const uint8_t *p, size_t n)
{
    uint32_t sum = 0;
    for (; n > 1; p += 2, n -= 2)
        sum += get16(p);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static size_t build_arp_request(uint8_t *f)
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint8_t *a = f + 14;
    memset(f, 0, 60);
    memcpy(f, bcast, 6);
    memcpy(f + 6, peer_mac, 6);
    put16(f + 12, 0x0806);
    put16(a, 1);
    put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, 1);
    memcpy(a + 8, peer_mac, 6);
    memcpy(a + 14, peer_ip, 4);
    memcpy(a + 24, our_ip, 4);
    return 60;
}

/* UDP from the peer to our port 7, no checksum; the payload starts with seq. */
static size_t build_udp(uint8_t *f, uint32_t seq, size_t n)
{
    uint8_t *ip = f + 14, *udp = ip + 20;
    memcpy(f, our_mac, 6);
    memcpy(f + 6, peer_mac, 6);
    put16(f + 12, 0x0800);
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(28 + n));
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, peer_ip, 4);
    memcpy(ip + 16, our_ip, 4);
    put16(ip + 10, csum(ip, 20));
    put16(udp, 4242);
    put16(udp + 2, 7);
    put16(udp + 4, (uint16_t)(8 + n));
    put16(udp + 6, 0);
    memset(udp + 8, (uint8_t)seq, n);
    memcpy(udp + 8, &seq, 4);
    return 14 + 28 + n;
}

/* ---- a UDP receiver that holds what it gets, like a slow application or TCP's queue ---- */
static struct {
    struct pbuf *p[1024];
    unsigned n;
    uint32_t next_seq;
} held;

static void hold_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                     u16_t port)
{
    (void)arg, (void)pcb, (void)addr, (void)port;
    uint32_t seq;
    assert_true(held.n < 1024);
    assert_true(p->len >= 4);
    memcpy(&seq, p->payload, 4);
    assert_int_equal(seq, held.next_seq);
    held.next_seq++;
    held.p[held.n++] = p;
}

static void free_held(void)
{
    while (held.n)
        pbuf_free(held.p[--held.n]);
}

static bool in_pool(const void *payload)
{
    const struct nic_rxpool *p = &dev()->nic.rxpool;
    const uint8_t *base = phys_to_virt(p->phys);
    return (const uint8_t *)payload >= base &&
           (const uint8_t *)payload < base + (size_t)p->nbufs * p->buf_size;
}

/* ---- invariants -------------------------------------------------------------------- */
/* Every descriptor holds its own ring buffer; ring + spare + lent == total. */
static void check_rx_buffers(unsigned lent)
{
    struct e1000 *e = dev();
    const struct nic_rxpool *p = &e->nic.rxpool;
    static bool seen[RX_BUFS];
    unsigned counts[3] = { 0 };
    memset(seen, 0, sizeof(seen));
    for (unsigned i = 0; i < NDESC; i++) {
        const struct nic_rxbuf *b = e->rx_slot[i];
        unsigned k = (unsigned)(b - p->bufs);
        assert_true(k < p->nbufs && !seen[k]);
        seen[k] = true;
        assert_int_equal(b->state, NIC_RXBUF_RING);
        assert_int_equal(e->rx[i].addr, b->pa);
    }
    for (unsigned k = 0; k < p->nbufs; k++)
        counts[p->bufs[k].state]++;
    assert_int_equal(counts[NIC_RXBUF_RING], NDESC);
    assert_int_equal(counts[NIC_RXBUF_SPARE], p->nspare);
    assert_int_equal(counts[NIC_RXBUF_LENT], p->nlent);
    assert_int_equal(p->nlent, lent);
    assert_int_equal(net_rx_lent(), lent);
    /* Only the descriptor the driver has not handed back yet is outside the hardware's. */
    assert_int_equal(*reg(REG_RDT), (e->rx_next + NDESC - 1) % NDESC);
}

static void poll(void)
{
    netdev_poll();
    netdev_flush();
    fe_tx();
}

/* ---- fixtures ---------------------------------------------------------------------- */
static struct pci_dev pdev;
static struct udp_pcb *pcb;

static int group_setup(void **state)
{
    (void)state;
    fe.regs = aligned_alloc(PAGE_SIZE, MMIO_SIZE);
    assert_non_null(fe.regs);
    memset(fe.regs, 0, MMIO_SIZE);
    *reg(REG_RAL(0)) = our_mac[0] | our_mac[1] << 8 | our_mac[2] << 16 | (uint32_t)our_mac[3] << 24;
    *reg(REG_RAH(0)) = our_mac[4] | our_mac[5] << 8 | RAH_AV;
    *reg(REG_STATUS) = STATUS_LU;
    pdev.vendor = 0x8086;
    pdev.device = 0x100e;
    pdev.bar[0] = (struct pci_bar){ .base = virt_to_phys(fe.regs), .size = MMIO_SIZE };
    assert_int_equal(e1000_probe(&pdev), 0);
    assert_ptr_equal(fake_nic, &dev()->nic);
    net_init();
    netdev_attach_all();
    assert_int_equal(netdev_count(), 1);
    assert_int_equal(netdev_configure(netdev_get(0), "10.0.0.1/24", NULL), 0);
    poll();                                 /* link up: a gratuitous ARP goes out */
    assert_true(netif_is_link_up(&netdev_get(0)->netif));
    pcb = udp_new();
    assert_non_null(pcb);
    assert_int_equal(udp_bind(pcb, IP_ADDR_ANY, 7), ERR_OK);
    udp_recv(pcb, hold_udp, NULL);
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    fe.ntx = 0;
    held.n = 0;
    held.next_seq = 0;
    unit_log_reset();
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    free_held();
    check_rx_buffers(0);                    /* nothing leaked, whatever the test did */
    return 0;
}

/* ---- tests ------------------------------------------------------------------------- */
static void test_probe_stocks_the_ring(void **state)
{
    (void)state;
    const struct nic_rxpool *p = &dev()->nic.rxpool;
    assert_int_equal(p->nbufs, 3 * NDESC);
    assert_int_equal(p->nspare, 2 * NDESC);
    assert_int_equal(*reg(REG_RDLEN), NDESC * 16);
    check_rx_buffers(0);
}

/* The tail moves once for frames queued together: on flush, a full batch or a full ring. */
static void test_tx_tail_batched(void **state)
{
    (void)state;
    struct nic *n = &dev()->nic;
    uint8_t f[60] = { 0 };
    uint32_t tdt = *reg(REG_TDT);
    uint64_t bells = n->doorbells;
    for (int i = 0; i < 5; i++)
        assert_int_equal(n->ops->tx(n, f, sizeof(f)), 0);
    assert_int_equal(*reg(REG_TDT), tdt);               /* not told yet */
    netdev_flush();
    assert_int_equal(*reg(REG_TDT), (tdt + 5) % NDESC);
    assert_int_equal(n->doorbells, bells + 1);
    netdev_flush();                                     /* nothing new: no write */
    assert_int_equal(n->doorbells, bells + 1);
    fe_tx();
    assert_int_equal(fe.ntx, 5);
    for (int i = 0; i < TX_TELL_BATCH; i++)
        assert_int_equal(n->ops->tx(n, f, sizeof(f)), 0);
    assert_int_equal(*reg(REG_TDT), (tdt + 5 + TX_TELL_BATCH) % NDESC);
    assert_int_equal(n->doorbells, bells + 2);
    fe_tx();
    /* A full ring (one descriptor always stays free) tells what it holds, then -EAGAIN. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(n->ops->tx(n, f, sizeof(f)), 0);
    netdev_flush();
    for (int i = 0; i < NDESC - 1 - 3; i++)
        assert_int_equal(n->ops->tx(n, f, sizeof(f)), 0);
    uint64_t before = n->doorbells;
    assert_int_not_equal(*reg(REG_TDT), dev()->tx_tail);
    assert_int_equal(n->ops->tx(n, f, sizeof(f)), -EAGAIN);
    assert_int_equal(*reg(REG_TDT), dev()->tx_tail);
    assert_int_equal(n->doorbells, before + 1);
    fe_tx();
    fe.ntx = 0;
}

/* lwIP answers an ARP request and frees it inside the call: the buffer is a spare again. */
static void test_arp_lent_and_back(void **state)
{
    (void)state;
    struct nic *n = &dev()->nic;
    struct net_if *nif = netdev_get(0);
    uint64_t lent = n->rxpool.lent, rx = nif->rx_packets;
    uint8_t f[60];
    fe_rx(f, (uint16_t)build_arp_request(f));
    poll();
    assert_int_equal(n->rxpool.lent, lent + 1);
    assert_int_equal(nif->rx_packets, rx + 1);
    assert_int_equal(fe.ntx, 1);
    assert_int_equal(get16(fe.tx[0] + 12), 0x0806);
    assert_int_equal(get16(fe.tx[0] + 20), 2);      /* a reply */
    assert_memory_equal(fe.tx[0], peer_mac, 6);
    check_rx_buffers(0);
}

/* Held pbufs point into the DMA buffers; pbuf_free gives each buffer back. */
static void test_udp_held_then_freed(void **state)
{
    (void)state;
    uint8_t f[1514];
    for (uint32_t i = 0; i < 5; i++)
        fe_rx(f, (uint16_t)build_udp(f, i, 100 + i));
    poll();
    assert_int_equal(held.n, 5);
    for (unsigned i = 0; i < 5; i++) {
        assert_true(in_pool(held.p[i]->payload));
        assert_int_equal(held.p[i]->tot_len, 100 + i);
    }
    check_rx_buffers(5);
    pbuf_free(held.p[2]);
    held.p[2] = held.p[--held.n];
    check_rx_buffers(4);
    free_held();
    check_rx_buffers(0);
}

/* lwIP holds more than the spares: later frames are copied, the ring never runs dry. */
static void test_spares_exhausted_copies(void **state)
{
    (void)state;
    struct nic *n = &dev()->nic;
    struct net_if *nif = netdev_get(0);
    uint64_t copied = n->rxpool.short_spare, drops = nif->rx_drops + n->rx_drops;
    uint8_t f[1514];
    uint32_t seq = 0;
    while (seq < 700) {
        for (unsigned i = 0; i < 100 && seq < 700; i++, seq++)
            fe_rx(f, (uint16_t)build_udp(f, seq, 64 + seq % 1000));
        poll();
        poll();         /* the budget is 64 a poll */
        check_rx_buffers(seq < 2 * NDESC ? seq : 2 * NDESC);
    }
    assert_int_equal(held.n, 700);
    for (unsigned i = 0; i < 700; i++)
        assert_int_equal(in_pool(held.p[i]->payload), i < 2 * NDESC);
    assert_int_equal(n->rxpool.short_spare, copied + 700 - 2 * NDESC);
    assert_int_equal(lwip_stats.memp[MEMP_PBUF_POOL]->used, 700 - 2 * NDESC);
    assert_int_equal(nif->rx_drops + n->rx_drops, drops);
    free_held();
    assert_int_equal(lwip_stats.memp[MEMP_PBUF_POOL]->used, 0);
    check_rx_buffers(0);
    /* Lending resumes. */
    fe_rx(f, (uint16_t)build_udp(f, 700, 64));
    held.next_seq = 700;
    poll();
    assert_true(in_pool(held.p[0]->payload));
}

/* Errored, truncated, oversized and multi-descriptor frames stay in their descriptor. */
static void test_bad_frames_keep_their_buffer(void **state)
{
    (void)state;
    struct e1000 *e = dev();
    struct nic *n = &e->nic;
    uint64_t errors = n->rx_errors, rx = netdev_get(0)->rx_packets, lent = n->rxpool.lent;
    uint64_t addr[NDESC];
    uint8_t f[BUF_SIZE] = { 0 };
    size_t len = build_udp(f, 0, 100);
    for (unsigned i = 0; i < NDESC; i++)
        addr[i] = e->rx[i].addr;
    fe_rx_status(f, (uint16_t)len, RXD_DD | RXD_EOP, 0x01);     /* CRC error */
    fe_rx_status(f, 13, RXD_DD | RXD_EOP, 0);                   /* shorter than a header */
    fe_rx_status(f, MAX_FRAME + 1, RXD_DD | RXD_EOP, 0);        /* longer than allowed */
    fe_rx_status(f, BUF_SIZE, RXD_DD, 0);                       /* spans two buffers */
    fe_rx_status(f, 100, RXD_DD | RXD_EOP, 0);
    poll();
    assert_int_equal(n->rx_errors, errors + 4);
    assert_int_equal(netdev_get(0)->rx_packets, rx);
    assert_int_equal(n->rxpool.lent, lent);
    assert_int_equal(held.n, 0);
    for (unsigned i = 0; i < NDESC; i++)
        assert_int_equal(e->rx[i].addr, addr[i]);
    check_rx_buffers(0);
}

/* Many frames of every kind, a receiver that frees at random, timers running: at the end
 * every buffer is back. */
static void test_many_frames_no_leak(void **state)
{
    (void)state;
    struct nic *n = &dev()->nic;
    uint64_t r = 0x9e3779b97f4a7c15ull;
    uint8_t f[1514];
    uint32_t useq = 0;
    uint64_t short_spare = n->rxpool.short_spare;
    for (int round = 0; round < 400; round++) {
        for (unsigned i = 0; i < 60; i++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            size_t len;
            switch (r % 4) {
            case 0:
                len = build_arp_request(f);
                break;
            case 1:
                len = build_udp(f, useq++, (r >> 8) % 1400 + 4);
                break;
            case 2:     /* an IPv4 fragment lwIP keeps until reassembly gives up */
                len = build_udp(f, 0, 64);
                put16(f + 14 + 6, 0x2000);
                put16(f + 14 + 4, (uint16_t)(r >> 16));
                put16(f + 14 + 10, 0);
                put16(f + 14 + 10, csum(f + 14, 20));
                break;
            default:    /* noise */
                len = 14 + (r >> 8) % 1500;
                for (size_t j = 0; j < len; j++)
                    f[j] = (uint8_t)(r >> (j % 56));
                break;
            }
            fe_rx(f, (uint16_t)len);
        }
        poll();
        poll();
        unsigned frees = (unsigned)((r >> 20) % 26);    /* fewer than arrive, on average */
        for (unsigned i = 0; i < frees && held.n; i++) {
            unsigned k = (unsigned)((r >> 30) + i) % held.n;
            pbuf_free(held.p[k]);
            held.p[k] = held.p[--held.n];
        }
        if (held.n > 900)
            free_held();
        fake_ms += 250;
        net_poll();
        netdev_flush();
        fe_tx();
        fe.ntx = 0;
        check_rx_buffers(n->rxpool.nlent);
    }
    assert_true(n->rxpool.lent > 10000);
    assert_true(n->rxpool.short_spare > short_spare);   /* the spares ran out at times */
    free_held();
    fake_ms += 60 * 1000;                   /* reassembly and ARP queues time out */
    for (int i = 0; i < 70; i++) {
        fake_ms += 1000;
        net_poll();
    }
    netdev_flush();
    fe_tx();
    check_rx_buffers(0);
    assert_int_equal(lwip_stats.memp[MEMP_PBUF_POOL]->used, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_probe_stocks_the_ring), T(test_tx_tail_batched), T(test_arp_lent_and_back), T(test_udp_held_then_freed),
        T(test_spares_exhausted_copies), T(test_bad_frames_keep_their_buffer),
        T(test_many_frames_no_leak),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
