// libFuzzer target: arbitrary frames through net_if_input_lent() (zero copy) and
// net_if_input() (copied) into lwIP (ARP, IPv4 with reassembly, ICMP, UDP, and TCP with a
// listening port), with timers driven by the input.
//
// Build and run from the repository root:
//   L=build/third_party/lwip/src
//   S="$L/core/*.c $L/core/ipv4/*.c $L/netif/ethernet.c net/net.c net/sys_arch.c"
//   F="-std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. -Itests/unit/fakes -Inet -I$L/include"
//   clang $F tests/fuzz/fuzz_netif.c tests/unit/fakes/support.c tests/unit/fakes/fake_env.c $S -o build/fuzz_netif
//   mkdir -p build/fuzz_corpus && build/fuzz_netif -max_total_time=10 build/fuzz_corpus
//
// Input, as in lwIP's own test/fuzz: records of [ctl:1][len:2, big endian][frame:len].
// ctl bit 3 addresses the frame to us (MAC, and IPv4 destination), bit 0 fixes the IPv4
// header checksum, bit 1 the ICMP/UDP/TCP checksum (so mutations get past checksum checks,
// which stay on as in the core); bit 2 then advances the clock by (ctl >> 4) * 100 ms and
// runs the timers. lwIP state carries over between inputs.
// Frames of even length go in a buffer lent from a small pool, as a driver's would (lwIP may
// keep it across inputs: reassembly, out-of-order TCP); odd ones, and even ones when every
// buffer is lent, are copied. A buffer released twice, or never lent, or a count of lent
// buffers that disagrees with net_rx_lent(), aborts.
//
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/tcp.h"
#include "lwip/udp.h"
#include "net/net.h"
#include "net/port.h"

#include "fake_env.h"

static const uint8_t our_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t our_ip[4] = { 10, 0, 0, 1 };
static struct net_if nif;

#define LEND_BUFS 32
static uint8_t lend_buf[LEND_BUFS][2048];
static bool lend_out[LEND_BUFS];
static unsigned lend_count;

static void fuzz_rx_release(void *drv, void *buf)
{
    size_t i = (size_t)((uint8_t (*)[2048])buf - lend_buf);

    (void)drv;
    if (i >= LEND_BUFS || buf != lend_buf[i] || !lend_out[i])
        abort();
    lend_out[i] = false;
    lend_count--;
}

// Lends a free buffer holding the frame to lwIP; false if none is free.
static bool lend_frame(const uint8_t *frame, size_t len)
{
    unsigned i = 0;

    while (i < LEND_BUFS && lend_out[i])
        i++;
    if (i == LEND_BUFS || len > sizeof(lend_buf[i]))
        return false;
    memcpy(lend_buf[i], frame, len);
    lend_out[i] = true;
    lend_count++;
    if (!net_if_input_lent(&nif, lend_buf[i], len, lend_buf[i])) {
        if (!lend_out[i])   // not kept, yet released
            abort();
        lend_out[i] = false;
        lend_count--;
    }
    if (net_rx_lent() != lend_count)
        abort();
    return true;
}

static int fuzz_tx(void *drv, const void *frame, size_t len)
{
    (void)drv;
    (void)frame;
    (void)len;
    return 0;
}

static const struct net_nic_ops fuzz_ops = { .tx = fuzz_tx, .rx_release = fuzz_rx_release };

static err_t fuzz_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    (void)arg;
    (void)err;
    if (!p) {
        if (tcp_close(pcb) == ERR_OK)
            return ERR_OK;
        tcp_abort(pcb);
        return ERR_ABRT;
    }
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
}

static err_t fuzz_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)arg;
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    tcp_recv(pcb, fuzz_recv);
    return ERR_OK;
}

static void fuzz_udp_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                          u16_t port)
{
    (void)arg;
    (void)pcb;
    (void)addr;
    (void)port;
    pbuf_free(p);
}

static void fuzz_setup(void)
{
    struct tcp_pcb *tpcb;
    struct udp_pcb *upcb;

    net_init();
    if (net_if_add(&nif, "fz", our_mac, &fuzz_ops, NULL) ||
        net_if_set_ipv4(&nif, lwip_htonl(0x0a000001), lwip_htonl(0xffffff00), 0))
        abort();
    net_if_set_link(&nif, true);
    tpcb = tcp_new();
    if (!tpcb || tcp_bind(tpcb, IP_ADDR_ANY, 7) != ERR_OK || !(tpcb = tcp_listen(tpcb)))
        abort();
    tcp_accept(tpcb, fuzz_accept);
    upcb = udp_new();
    if (!upcb || udp_bind(upcb, IP_ADDR_ANY, 7) != ERR_OK)
        abort();
    udp_recv(upcb, fuzz_udp_recv, NULL);
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum)
{
    for (; n > 1; p += 2, n -= 2)
        sum += get16(p);
    if (n)
        sum += (uint32_t)p[0] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

// Applies the rewrites selected by ctl to an Ethernet/IPv4 frame, where lengths allow.
static void fix_frame(uint8_t *f, size_t len, uint8_t ctl)
{
    uint8_t *ip = f + NET_ETH_HLEN, *l4, *ck;
    size_t hlen, tot, plen;
    uint32_t pseudo;

    if ((ctl & 8) && len >= 6)
        memcpy(f, our_mac, 6);
    if (len < NET_ETH_HLEN + 20 || get16(f + 12) != 0x0800)
        return;
    if (ctl & 8)
        memcpy(ip + 16, our_ip, 4);
    hlen = (size_t)(ip[0] & 0xf) * 4;
    tot = get16(ip + 2);
    if (hlen < 20 || NET_ETH_HLEN + hlen > len)
        return;
    if ((ctl & 2) && tot >= hlen && NET_ETH_HLEN + tot <= len && !(ip[6] & 0x3f) && !ip[7]) {
        l4 = ip + hlen;
        plen = tot - hlen;
        ck = ip[9] == 6 ? l4 + 16 : ip[9] == 17 ? l4 + 6 : l4 + 2;
        if (ck + 2 <= l4 + plen) {
            pseudo = get16(ip + 12) + get16(ip + 14) + get16(ip + 16) + get16(ip + 18) +
                     ip[9] + (uint32_t)plen;
            put16(ck, 0);
            put16(ck, csum(l4, plen, ip[9] == 1 ? 0 : pseudo));
        }
    }
    if (ctl & 1) {
        put16(ip + 10, 0);
        put16(ip + 10, csum(ip, hlen, 0));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    static uint8_t buf[2048];

    if (!ready) {
        fuzz_setup();
        ready = true;
    }
    while (size >= 3) {
        uint8_t ctl = data[0];
        size_t len = get16(data + 1);

        data += 3;
        size -= 3;
        if (len > size)
            len = size;
        if (len <= sizeof(buf)) {
            memcpy(buf, data, len);
            fix_frame(buf, len, ctl);
            if (len % 2 || !lend_frame(buf, len))
                net_if_input(&nif, buf, len);
        } else {
            net_if_input(&nif, data, len);
        }
        data += len;
        size -= len;
        if (ctl & 4) {
            fake_ms += (uint64_t)(ctl >> 4) * 100;
            net_poll();
        }
    }
    return 0;
}
