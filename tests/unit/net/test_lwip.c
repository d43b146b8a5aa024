// lwIP port and netif glue, driven through a fake NIC whose tx op captures frames, with time
// driven through a fake net_clock_ms (the shape of lwIP's own NO_SYS test harness).
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/etharp.h"
#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/raw.h"
#include "lwip/stats.h"
#include "lwip/udp.h"
#include "net/net.h"
#include "net/port.h"
#include "fake_env.h"
#include "support.h"

#define ETH_ARP 0x0806
#define ETH_IP  0x0800

static const uint8_t our_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t peer_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t zero_mac[6];
static const uint8_t our_ip[4] = { 10, 0, 0, 1 };
static const uint8_t peer_ip[4] = { 10, 0, 0, 2 };
static const uint8_t other_ip[4] = { 10, 0, 0, 3 };

// The environment net/ needs (clocks, net_rand, net_panic) is tests/unit/fakes/fake_env.c.

// ---- Fake NIC ---------------------------------------------------------------------------------

struct frame {
    size_t len;
    uint8_t b[1536];
};

static struct {
    struct frame f[64];
    unsigned n;
    int fail;   // tx returns -EIO while set
} txq;

static struct net_if nif;

static int fake_tx(void *drv, const void *frame, size_t len)
{
    assert_ptr_equal(drv, &txq);
    assert_in_range(len, NET_ETH_MIN_FRAME, NET_ETH_HLEN + 1500);
    if (txq.fail)
        return -EIO;
    assert_true(txq.n < sizeof(txq.f) / sizeof(txq.f[0]));
    txq.f[txq.n].len = len;
    memcpy(txq.f[txq.n].b, frame, len);
    txq.n++;
    return 0;
}

// Receive buffers the test lends to lwIP (net_if_input_lent), as a driver's pool would.
#define OWN_BUFS (NET_RX_LENT_MAX + 8)
#define OWN_BUF_SIZE 1536

static struct {
    uint8_t (*buf)[OWN_BUF_SIZE];
    bool lent[OWN_BUFS];
    unsigned nlent, released;
} own;

static unsigned own_index(const void *buf)
{
    size_t off = (size_t)((const uint8_t *)buf - own.buf[0]);

    assert_true((const uint8_t *)buf >= own.buf[0] && off < sizeof(own.buf[0]) * OWN_BUFS);
    assert_int_equal(off % OWN_BUF_SIZE, 0);
    return (unsigned)(off / OWN_BUF_SIZE);
}

static bool own_holds(const void *p)
{
    return (const uint8_t *)p >= own.buf[0] && (const uint8_t *)p < own.buf[OWN_BUFS];
}

static void fake_release(void *drv, void *buf)
{
    unsigned i = own_index(buf);

    assert_ptr_equal(drv, &txq);
    assert_true(own.lent[i]);   // exactly once per loan
    own.lent[i] = false;
    own.nlent--;
    own.released++;
}

static const struct net_nic_ops fake_ops = { .tx = fake_tx, .rx_release = fake_release };

// ---- Frame building ---------------------------------------------------------------------------

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

// RFC 1071 Internet checksum; over data that includes a correct checksum it returns 0.
static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum)
{
    for (; n > 1; p += 2, n -= 2)
        sum += (uint32_t)get16(p);
    if (n)
        sum += (uint32_t)p[0] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put_eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
    memcpy(f, dst, 6);
    if (src != f + 6)
        memcpy(f + 6, src, 6);
    put16(f + 12, type);
}

// A wire-format ARP frame: 28-byte payload, zero-padded to the 60-byte minimum.
static size_t build_arp(uint8_t *f, uint16_t op, const uint8_t *eth_dst, const uint8_t *sha,
                        const uint8_t *spa, const uint8_t *tha, const uint8_t *tpa)
{
    uint8_t *a = f + NET_ETH_HLEN;

    memset(f, 0, NET_ETH_MIN_FRAME);
    put_eth(f, eth_dst, sha, ETH_ARP);
    put16(a, 1);            // htype: Ethernet
    put16(a + 2, ETH_IP);   // ptype
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, sha, 6);
    memcpy(a + 14, spa, 4);
    memcpy(a + 18, tha, 6);
    memcpy(a + 24, tpa, 4);
    return NET_ETH_MIN_FRAME;
}

// 20-byte IPv4 header with a valid checksum.
static void put_ipv4(uint8_t *ip, uint8_t proto, const uint8_t *src, const uint8_t *dst,
                     size_t payload_len)
{
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + payload_len));
    put16(ip + 4, 0x1234);
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    put16(ip + 10, csum(ip, 20, 0));
}

static size_t build_echo(uint8_t *f, uint16_t id, uint16_t seq, const uint8_t *data, size_t n)
{
    uint8_t *ip = f + NET_ETH_HLEN, *icmp = ip + 20;

    put_eth(f, our_mac, peer_mac, ETH_IP);
    put_ipv4(ip, 1, peer_ip, our_ip, 8 + n);
    icmp[0] = 8;    // echo request
    icmp[1] = 0;
    put16(icmp + 2, 0);
    put16(icmp + 4, id);
    put16(icmp + 6, seq);
    memcpy(icmp + 8, data, n);
    put16(icmp + 2, csum(icmp, 8 + n, 0));
    return NET_ETH_HLEN + 20 + 8 + n;
}

// ---- Helpers ----------------------------------------------------------------------------------

static void txq_reset(void)
{
    txq.n = 0;
    txq.fail = 0;
}

static bool is_arp_request_for(const struct frame *r, const uint8_t *tpa)
{
    const uint8_t *a = r->b + NET_ETH_HLEN;

    return r->len >= 42 && get16(r->b + 12) == ETH_ARP && get16(a + 6) == 1 &&
           !memcmp(r->b, bcast_mac, 6) && !memcmp(a + 8, our_mac, 6) &&
           !memcmp(a + 14, our_ip, 4) && !memcmp(a + 24, tpa, 4);
}

// If lwIP's only output is an ARP request for the peer, answer it; returns whether it did.
static bool answer_peer_arp(void)
{
    uint8_t f[64];

    if (txq.n != 1 || !is_arp_request_for(&txq.f[0], peer_ip))
        return false;
    txq_reset();
    net_if_input(&nif, f, build_arp(f, 2, our_mac, peer_mac, peer_ip, our_mac, our_ip));
    return true;
}

// Sends an echo request from the peer; returns lwIP's only response to it.
static const struct frame *ping(uint16_t id, uint16_t seq, const uint8_t *data, size_t n,
                                bool *arped)
{
    uint8_t f[1536];
    bool a;

    txq_reset();
    net_if_input(&nif, f, build_echo(f, id, seq, data, n));
    a = answer_peer_arp();
    if (arped)
        *arped = a;
    assert_int_equal(txq.n, 1);
    return &txq.f[0];
}

static void check_echo_reply(const struct frame *r, uint16_t id, uint16_t seq,
                             const uint8_t *data, size_t n)
{
    const uint8_t *ip = r->b + NET_ETH_HLEN, *icmp = ip + 20;

    assert_true(r->len >= NET_ETH_HLEN + 20 + 8 + n);
    assert_memory_equal(r->b, peer_mac, 6);
    assert_memory_equal(r->b + 6, our_mac, 6);
    assert_int_equal(get16(r->b + 12), ETH_IP);
    assert_int_equal(ip[0], 0x45);
    assert_int_equal(get16(ip + 2), 20 + 8 + n);
    assert_int_equal(ip[9], 1);
    assert_int_equal(csum(ip, 20, 0), 0);
    assert_memory_equal(ip + 12, our_ip, 4);
    assert_memory_equal(ip + 16, peer_ip, 4);
    assert_int_equal(icmp[0], 0);   // echo reply
    assert_int_equal(icmp[1], 0);
    assert_int_equal(csum(icmp, 8 + n, 0), 0);
    assert_int_equal(get16(icmp + 4), id);
    assert_int_equal(get16(icmp + 6), seq);
    assert_memory_equal(icmp + 8, data, n);
}

static void ping_ok(uint16_t seq)
{
    uint8_t data[56];

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i + seq);
    check_echo_reply(ping(0x4242, seq, data, sizeof(data), NULL), 0x4242, seq, data,
                     sizeof(data));
}

// Lends buffer i, holding a copy of the frame, to lwIP; returns whether lwIP kept it. A buffer
// not kept must not have been released.
static bool lend(unsigned i, const void *frame, size_t len)
{
    bool kept;

    assert_false(own.lent[i]);
    memcpy(own.buf[i], frame, len < OWN_BUF_SIZE ? len : OWN_BUF_SIZE);
    own.lent[i] = true;
    own.nlent++;
    kept = net_if_input_lent(&nif, own.buf[i], len, own.buf[i]);
    if (!kept) {
        assert_true(own.lent[i]);
        own.lent[i] = false;
        own.nlent--;
    }
    assert_int_equal(net_rx_lent(), own.nlent);
    return kept;
}

// Runs lwIP timers through ms of fake time in 100 ms steps, discarding what they send.
static void advance(uint64_t ms)
{
    for (uint64_t end = fake_ms + ms; fake_ms < end;) {
        fake_ms += 100;
        net_poll();
        txq_reset();
    }
}

static uint32_t ip_be(const uint8_t *a)
{
    uint32_t v;

    memcpy(&v, a, 4);
    return v;
}

// ---- Tests ------------------------------------------------------------------------------------

static void test_arp_reply(void **state)
{
    uint8_t f[64];
    const uint8_t *a;
    const struct frame *r;

    (void)state;
    net_if_input(&nif, f, build_arp(f, 1, bcast_mac, peer_mac, peer_ip, zero_mac, our_ip));
    assert_int_equal(txq.n, 1);
    r = &txq.f[0];
    a = r->b + NET_ETH_HLEN;
    assert_int_equal(r->len, NET_ETH_MIN_FRAME);    // 42 bytes padded by the glue
    assert_memory_equal(r->b, peer_mac, 6);
    assert_memory_equal(r->b + 6, our_mac, 6);
    assert_int_equal(get16(r->b + 12), ETH_ARP);
    assert_int_equal(get16(a), 1);
    assert_int_equal(get16(a + 2), ETH_IP);
    assert_int_equal(a[4], 6);
    assert_int_equal(a[5], 4);
    assert_int_equal(get16(a + 6), 2);
    assert_memory_equal(a + 8, our_mac, 6);
    assert_memory_equal(a + 14, our_ip, 4);
    assert_memory_equal(a + 18, peer_mac, 6);
    assert_memory_equal(a + 24, peer_ip, 4);
    for (size_t i = 42; i < r->len; i++)
        assert_int_equal(r->b[i], 0);
}

static void test_echo_reply(void **state)
{
    (void)state;
    ping_ok(1);
    ping_ok(2);     // peer now resolved: the reply goes out directly
}

static void test_arp_other_ip(void **state)
{
    uint8_t f[64];

    (void)state;
    net_if_input(&nif, f, build_arp(f, 1, bcast_mac, peer_mac, peer_ip, zero_mac, other_ip));
    net_if_input(&nif, f, build_arp(f, 2, bcast_mac, peer_mac, peer_ip, zero_mac, other_ip));
    assert_int_equal(txq.n, 0);
}

static void test_malformed(void **state)
{
    uint8_t f[1600] = { 0 }, data[56] = { 0 };
    uint64_t rx_errors = nif.rx_errors;
    struct stats_proto ip = lwip_stats.ip;
    size_t n;

    (void)state;
    ping_ok(3);     // resolve the peer so a wrongly accepted packet would answer directly
    txq_reset();
    n = build_echo(f, 7, 7, data, sizeof(data));
    for (size_t len = 0; len < NET_ETH_HLEN; len++)
        net_if_input(&nif, f, len);
    assert_int_equal(nif.rx_errors, rx_errors + NET_ETH_HLEN);
    net_if_input(&nif, f, NET_ETH_MAX_FRAME + 1);
    assert_int_equal(nif.rx_errors, rx_errors + NET_ETH_HLEN + 1);

    net_if_input(&nif, f, NET_ETH_HLEN + 10);                       // truncated IPv4 header
    net_if_input(&nif, f, n - 1);                                   // total length > frame
    assert_int_equal(lwip_stats.ip.lenerr, ip.lenerr + 2);
    f[NET_ETH_HLEN + 10] ^= 0x01;                                   // bad IP checksum
    net_if_input(&nif, f, n);
    assert_int_equal(lwip_stats.ip.chkerr, ip.chkerr + 1);
    f[NET_ETH_HLEN + 10] ^= 0x01;
    f[n - 1] ^= 0x01;                                               // bad ICMP checksum
    net_if_input(&nif, f, n);
    assert_int_equal(txq.n, 0);

    net_if_input(&nif, f, NET_ETH_MAX_FRAME);   // longest length accepted; still a bad ICMP sum
    assert_int_equal(nif.rx_errors, rx_errors + NET_ETH_HLEN + 1);
    assert_int_equal(txq.n, 0);
    ping_ok(4);
}

// Random IPv4 header (valid checksum) plus, sometimes, a valid transport checksum, so the
// random rest reaches ICMP, UDP and TCP input rather than dying in ip4_input.
static void random_ipv4(uint8_t *f, size_t len, uint64_t *rng)
{
    static const uint8_t protos[] = { 1, 6, 17, 1, 6, 17, 2, 47 };
    uint8_t *ip = f + NET_ETH_HLEN, *l4 = ip + 20, *ck;
    uint32_t r = fake_rng_next(rng), pseudo;
    size_t plen = len - NET_ETH_HLEN - 20;
    uint8_t proto = protos[r & 7], src[4], dst[4];

    memcpy(src, ip + 12, 4);
    memcpy(dst, ip + 16, 4);
    if (r & 16) {   // a neighbour lwIP will try to answer, never the peer (keeps its ARP entry)
        memcpy(src, other_ip, 4);
        src[3] = (uint8_t)(r >> 8) == peer_ip[3] ? 200 : (uint8_t)(r >> 8);
    }
    put_eth(f, r & 8 ? our_mac : bcast_mac, f + 6, ETH_IP);
    put_ipv4(ip, proto, src, r & 32 ? our_ip : dst, plen);
    if (r & 64)     // fragment: random offset and MF
        put16(ip + 6, (uint16_t)(fake_rng_next(rng) & 0x3fff));
    if (r & 128)
        put16(ip + 2, (uint16_t)(fake_rng_next(rng) % 1600));
    put16(ip + 10, 0);
    put16(ip + 10, csum(ip, 20, 0));
    if (!(r & 256) || (ip[6] & 0x3f) || ip[7] || plen < 20)
        return;

    ck = proto == 6 ? l4 + 16 : proto == 17 ? l4 + 6 : l4 + 2;
    pseudo = get16(ip + 12) + get16(ip + 14) + get16(ip + 16) + get16(ip + 18) + proto +
             (uint32_t)plen;
    if (proto == 17)
        put16(l4 + 4, (uint16_t)plen);
    put16(ck, 0);
    put16(ck, csum(l4, plen, proto == 1 ? 0 : pseudo));
}

static unsigned own_free_index(void)
{
    for (unsigned i = 0; i < OWN_BUFS; i++)
        if (!own.lent[i])
            return i;
    fail_msg("every test buffer is lent");
    return 0;
}

// Random frames, copied by net_if_input or lent with net_if_input_lent.
static void random_frames(bool lent, uint64_t rng)
{
    uint8_t f[1600];

    for (int i = 0; i < 5000; i++) {
        size_t len = fake_rng_next(&rng) % (sizeof(f) + 1);
        uint32_t kind = fake_rng_next(&rng) % 4;

        for (size_t j = 0; j < len; j++)
            f[j] = (uint8_t)fake_rng_next(&rng);
        if (kind == 1 && len >= 42) {
            // Random sender in our subnet, never the peer (keeps its ARP entry).
            uint8_t sha[6], tha[6], spa[4] = { 10, 0, 0, f[40] == peer_ip[3] ? 99 : f[40] };

            memcpy(sha, f + 22, 6);
            memcpy(tha, f + 32, 6);
            build_arp(f, f[20] & 3, f[0] & 1 ? bcast_mac : our_mac, sha, spa, tha,
                      f[41] & 1 ? our_ip : other_ip);
        } else if (kind >= 2 && len >= NET_ETH_HLEN + 20) {
            random_ipv4(f, len, &rng);
        }
        if (lent)
            lend(own_free_index(), f, len);
        else
            net_if_input(&nif, f, len);
        for (unsigned j = 0; j < txq.n; j++)
            assert_memory_equal(txq.f[j].b + 6, our_mac, 6);
        txq_reset();
        if (i % 50 == 0)
            advance(100);
    }
    // Let ARP queues and IP reassembly time out; then nothing may stay allocated.
    advance(60 * 1000);
    txq_reset();
    assert_int_equal(lwip_stats.memp[MEMP_PBUF_POOL]->used, 0);
    assert_int_equal(lwip_stats.mem.used, 0);
    assert_int_equal(own.nlent, 0);     // every lent buffer came back, each exactly once
    assert_int_equal(net_rx_lent(), 0);
    ping_ok(5);
}

static void test_random_frames(void **state)
{
    (void)state;
    random_frames(false, 0x9e3779b97f4a7c15ull);
}

static void test_lent_random_frames(void **state)
{
    unsigned released = own.released;

    (void)state;
    random_frames(true, 0x6a09e667f3bcc908ull);
    assert_true(own.released > released + 1000);
}

static void test_arp_ageing(void **state)
{
    uint8_t data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    bool arped;

    (void)state;
    ping_ok(6);
    ping(1, 1, data, sizeof(data), &arped);
    assert_false(arped);
    advance((ARP_MAXAGE + 2) * 1000ull);     // ARP_MAXAGE counts 1 s ARP timer ticks
    txq_reset();
    check_echo_reply(ping(1, 2, data, sizeof(data), &arped), 1, 2, data, sizeof(data));
    assert_true(arped);
}

static void test_tx_gathers_chain(void **state)
{
    struct raw_pcb *pcb = raw_new(253);
    struct pbuf *a = pbuf_alloc(PBUF_RAW, 100, PBUF_RAM);
    struct pbuf *b = pbuf_alloc(PBUF_RAW, 300, PBUF_RAM);
    ip_addr_t dst = IPADDR4_INIT(ip_be(peer_ip));
    const struct frame *r;

    (void)state;
    assert_non_null(pcb);
    assert_non_null(a);
    assert_non_null(b);
    memset(a->payload, 0xaa, a->len);
    memset(b->payload, 0xbb, b->len);
    pbuf_cat(a, b);
    // No header room in a: lwIP prepends a header pbuf, so the frame is a 3-pbuf chain.
    assert_int_equal(raw_sendto(pcb, a, &dst), ERR_OK);
    answer_peer_arp();
    assert_int_equal(txq.n, 1);
    r = &txq.f[0];
    assert_int_equal(r->len, NET_ETH_HLEN + 20 + 400);
    assert_memory_equal(r->b, peer_mac, 6);
    assert_int_equal(r->b[NET_ETH_HLEN + 9], 253);
    assert_int_equal(csum(r->b + NET_ETH_HLEN, 20, 0), 0);
    for (size_t i = 0; i < 400; i++)
        assert_int_equal(r->b[NET_ETH_HLEN + 20 + i], i < 100 ? 0xaa : 0xbb);
    pbuf_free(a);
    raw_remove(pcb);
}

static void test_counters(void **state)
{
    static struct pbuf *held[PBUF_POOL_SIZE + 1];
    uint8_t f[64] = { 0 };
    struct net_if copy = nif;
    size_t n = 0;

    (void)state;
    txq.fail = 1;
    net_if_input(&nif, f, build_arp(f, 1, bcast_mac, peer_mac, peer_ip, zero_mac, our_ip));
    assert_int_equal(nif.tx_errors, copy.tx_errors + 1);
    assert_int_equal(nif.tx_packets, copy.tx_packets);
    txq_reset();
    net_if_input(&nif, f, sizeof(f));
    assert_int_equal(nif.tx_packets, copy.tx_packets + 1);
    assert_int_equal(nif.tx_bytes, copy.tx_bytes + NET_ETH_MIN_FRAME);
    assert_int_equal(nif.rx_packets, copy.rx_packets + 2);
    assert_int_equal(nif.rx_bytes, copy.rx_bytes + NET_ETH_MIN_FRAME + sizeof(f));

    while (n < PBUF_POOL_SIZE + 1 && (held[n] = pbuf_alloc(PBUF_RAW, 64, PBUF_POOL)))
        n++;
    net_if_input(&nif, f, sizeof(f));
    assert_int_equal(nif.rx_drops, copy.rx_drops + 1);
    while (n)
        pbuf_free(held[--n]);
}

// ---- Lent receive buffers ------------------------------------------------------------------

static struct {
    struct pbuf *p[OWN_BUFS];
    unsigned n;
} held;

static void hold_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                     u16_t port)
{
    (void)arg, (void)pcb, (void)addr, (void)port;
    assert_true(held.n < OWN_BUFS);
    held.p[held.n++] = p;
}

static struct udp_pcb *udp_holder(void)
{
    struct udp_pcb *pcb = udp_new();

    assert_non_null(pcb);
    assert_int_equal(udp_bind(pcb, IP_ADDR_ANY, 7), ERR_OK);
    udp_recv(pcb, hold_udp, NULL);
    held.n = 0;
    return pcb;
}

// A UDP datagram from the peer to our port 7, without a checksum (0: none, RFC 768).
static size_t build_udp(uint8_t *f, const void *data, size_t n)
{
    uint8_t *ip = f + NET_ETH_HLEN, *udp = ip + 20;

    put_eth(f, our_mac, peer_mac, ETH_IP);
    put_ipv4(ip, 17, peer_ip, our_ip, 8 + n);
    put16(udp, 4242);
    put16(udp + 2, 7);
    put16(udp + 4, (uint16_t)(8 + n));
    put16(udp + 6, 0);
    memcpy(udp + 8, data, n);
    return NET_ETH_HLEN + 20 + 8 + n;
}

// Fragment of the IPv4 packet in frame `whole`: payload bytes [off, off + n).
static size_t build_frag(uint8_t *f, const uint8_t *whole, size_t off, size_t n, bool more)
{
    uint8_t *ip = f + NET_ETH_HLEN;

    memcpy(f, whole, NET_ETH_HLEN + 20);
    memcpy(ip + 20, whole + NET_ETH_HLEN + 20 + off, n);
    put16(ip + 2, (uint16_t)(20 + n));
    put16(ip + 6, (uint16_t)((more ? 0x2000 : 0) | off / 8));
    put16(ip + 10, 0);
    put16(ip + 10, csum(ip, 20, 0));
    return NET_ETH_HLEN + 20 + n;
}

// An ARP request or an echo request is answered and freed inside the input call: the buffer
// comes back before net_if_input_lent returns.
static void test_lent_released_in_call(void **state)
{
    uint8_t f[1536], data[56];
    unsigned released = own.released;
    uint64_t rx = nif.rx_packets, rx_bytes = nif.rx_bytes;

    (void)state;
    assert_true(lend(0, f, build_arp(f, 1, bcast_mac, peer_mac, peer_ip, zero_mac, our_ip)));
    assert_int_equal(own.released, released + 1);
    assert_int_equal(nif.rx_packets, rx + 1);
    assert_int_equal(nif.rx_bytes, rx_bytes + NET_ETH_MIN_FRAME);
    assert_int_equal(txq.n, 1);
    assert_int_equal(get16(txq.f[0].b + 12), ETH_ARP);

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(3 * i);
    txq_reset();
    assert_true(lend(1, f, build_echo(f, 0x77, 1, data, sizeof(data))));
    answer_peer_arp();
    assert_int_equal(txq.n, 1);
    check_echo_reply(&txq.f[0], 0x77, 1, data, sizeof(data));
    assert_int_equal(own.nlent, 0);
}

// A frame lwIP keeps (a UDP receiver holds its pbuf) stays in the lent buffer, uncopied, and
// the buffer comes back when the last reference goes.
static void test_lent_held_until_pbuf_free(void **state)
{
    struct udp_pcb *pcb = udp_holder();
    uint8_t f[128];
    unsigned released = own.released;
    struct pbuf *p;

    (void)state;
    assert_true(lend(2, f, build_udp(f, "zero copy", 9)));
    assert_int_equal(held.n, 1);
    p = held.p[0];
    assert_true(own.lent[2]);
    assert_ptr_equal(p->payload, own.buf[2] + NET_ETH_HLEN + 20 + 8);
    assert_int_equal(p->tot_len, 9);
    assert_memory_equal(p->payload, "zero copy", 9);
    pbuf_ref(p);
    pbuf_free(p);
    assert_true(own.lent[2]);           // one reference left
    assert_int_equal(own.released, released);
    pbuf_free(p);
    assert_false(own.lent[2]);
    assert_int_equal(own.released, released + 1);
    assert_int_equal(net_rx_lent(), 0);
    udp_remove(pcb);
}

// Bad lengths are refused with the buffer still the caller's; frames lwIP drops come back.
static void test_lent_bad_frames(void **state)
{
    uint8_t f[1536] = { 0 }, data[56] = { 0 };
    uint64_t rx_errors = nif.rx_errors;
    struct stats_proto ip = lwip_stats.ip;
    unsigned released = own.released;
    size_t n;

    (void)state;
    n = build_echo(f, 8, 8, data, sizeof(data));
    for (size_t len = 0; len < NET_ETH_HLEN; len++)
        assert_false(lend(3, f, len));
    assert_false(lend(3, f, NET_ETH_MAX_FRAME + 1));
    assert_int_equal(nif.rx_errors, rx_errors + NET_ETH_HLEN + 1);
    assert_int_equal(own.released, released);

    assert_true(lend(3, f, NET_ETH_HLEN + 10));                    // truncated IPv4 header
    assert_true(lend(4, f, n - 1));                                 // total length > frame
    f[NET_ETH_HLEN + 10] ^= 0x01;                                   // bad IP checksum
    assert_true(lend(5, f, n));
    assert_int_equal(lwip_stats.ip.lenerr, ip.lenerr + 2);
    assert_int_equal(lwip_stats.ip.chkerr, ip.chkerr + 1);
    assert_int_equal(own.released, released + 3);
    assert_int_equal(own.nlent, 0);
    assert_int_equal(nif.rx_errors, rx_errors + NET_ETH_HLEN + 1);
}

// With every wrapper in use the frame is copied into a pool pbuf and the buffer not kept.
static void test_lent_refs_exhausted(void **state)
{
    struct udp_pcb *pcb = udp_holder();
    uint8_t f[128];
    size_t n = build_udp(f, "x", 1);
    uint64_t drops = nif.rx_drops;

    (void)state;
    for (unsigned i = 0; i < NET_RX_LENT_MAX; i++)
        assert_true(lend(i, f, n));
    assert_int_equal(net_rx_lent(), NET_RX_LENT_MAX);
    assert_false(lend(NET_RX_LENT_MAX, f, n));
    assert_int_equal(held.n, NET_RX_LENT_MAX + 1);
    assert_true(own_holds(held.p[0]->payload));
    assert_false(own_holds(held.p[NET_RX_LENT_MAX]->payload));     // the copy
    assert_memory_equal(held.p[NET_RX_LENT_MAX]->payload, "x", 1);
    assert_int_equal(nif.rx_drops, drops);
    pbuf_free(held.p[5]);                                           // one wrapper free again
    assert_true(lend(5, f, n));
    held.p[5] = held.p[--held.n];
    while (held.n)
        pbuf_free(held.p[--held.n]);
    assert_int_equal(own.nlent, 0);
    assert_int_equal(net_rx_lent(), 0);
    assert_int_equal(lwip_stats.memp[MEMP_PBUF_POOL]->used, 0);
    udp_remove(pcb);
}

// IP reassembly keeps a first fragment (and its buffer) until the rest comes or it times out.
static void test_lent_fragments_held(void **state)
{
    uint8_t whole[1536], f[1536], data[200];
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i ^ 0x5a);
    ping_ok(8);                         // the peer is resolved: the reply goes out at once
    txq_reset();
    n = build_echo(whole, 0x99, 1, data, sizeof(data)) - NET_ETH_HLEN - 20;    // 208 bytes
    assert_true(lend(6, f, build_frag(f, whole, 0, 104, true)));
    assert_true(own.lent[6]);
    advance((IP_REASS_MAXAGE + 2) * 1000ull);
    assert_false(own.lent[6]);          // given up: the fragment went back
    txq_reset();

    assert_true(lend(6, f, build_frag(f, whole, 0, 104, true)));
    assert_true(own.lent[6]);
    assert_true(lend(7, f, build_frag(f, whole, 104, n - 104, false)));
    assert_int_equal(own.nlent, 0);     // reassembled, answered from a copy, both freed
    assert_int_equal(txq.n, 1);
    check_echo_reply(&txq.f[0], 0x99, 1, data, sizeof(data));
}

static void test_config_errors(void **state)
{
    struct net_if bad;

    (void)state;
    assert_int_equal(net_if_set_ipv4(&nif, ip_be(our_ip), lwip_htonl(0xff00ff00), 0), -EINVAL);
    assert_int_equal(net_if_add(&bad, "", our_mac, &fake_ops, NULL), -EINVAL);
    assert_int_equal(net_if_add(&bad, "x0", our_mac, NULL, NULL), -EINVAL);
    assert_int_equal(nif.netif.name[0], 'e');
    assert_int_equal(nif.netif.name[1], '0');
    assert_ptr_equal(netif_default, &nif.netif);
    ping_ok(7);     // the failed mask change left the address alone
}

// ---- Fixtures ---------------------------------------------------------------------------------

static int group_setup(void **state)
{
    (void)state;
    own.buf = calloc(OWN_BUFS + 1, OWN_BUF_SIZE);    // one past the end for own_holds
    assert_non_null(own.buf);
    net_init();
    net_init();     // idempotent
    assert_int_equal(net_if_add(&nif, "e0", our_mac, &fake_ops, &txq), 0);
    assert_int_equal(net_if_set_ipv4(&nif, ip_be(our_ip), lwip_htonl(0xffffff00), 0), 0);
    net_if_set_link(&nif, true);
    // Link-up announces the address with a gratuitous ARP.
    assert_int_equal(txq.n, 1);
    assert_true(is_arp_request_for(&txq.f[0], our_ip));
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    txq_reset();
    return 0;
}

int main(void)
{
    fake_rng = 0x243f6a8885a308d3ull;   /* the sequence this file was written against */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_arp_reply, test_setup),
        cmocka_unit_test_setup(test_echo_reply, test_setup),
        cmocka_unit_test_setup(test_arp_other_ip, test_setup),
        cmocka_unit_test_setup(test_malformed, test_setup),
        cmocka_unit_test_setup(test_tx_gathers_chain, test_setup),
        cmocka_unit_test_setup(test_counters, test_setup),
        cmocka_unit_test_setup(test_config_errors, test_setup),
        cmocka_unit_test_setup(test_lent_released_in_call, test_setup),
        cmocka_unit_test_setup(test_lent_held_until_pbuf_free, test_setup),
        cmocka_unit_test_setup(test_lent_bad_frames, test_setup),
        cmocka_unit_test_setup(test_lent_refs_exhausted, test_setup),
        cmocka_unit_test_setup(test_lent_fragments_held, test_setup),
        cmocka_unit_test_setup(test_random_frames, test_setup),
        cmocka_unit_test_setup(test_lent_random_frames, test_setup),
        cmocka_unit_test_setup(test_arp_ageing, test_setup),
    };

    return cmocka_run_group_tests(tests, group_setup, NULL);
}
