/*
 * Host tests for net/vswitch.c: guest ports that capture what the switch delivers, the fake
 * clock for aging, and an uplink over a fake NIC (vsw_fake_nic.c) with the real netdev glue
 * and lwIP on top, so the host port's frames are lwIP's own (its ARP answers and requests).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/udp.h"
#include "net/netdev.h"
#include "net/vswitch.h"
#include "fake_env.h"
#include "support.h"
#include "vsw_fake_nic.h"

static const uint8_t host_mac[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t peer_mac[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x02 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };
static const uint8_t host_ip[4] = { 10, 0, 0, 1 };
static const uint8_t peer_ip[4] = { 10, 0, 0, 2 };
static const uint8_t guest_ip[4] = { 10, 0, 0, 5 };

/* ---- guest ports that keep what they get ---------------------------------------------- */
struct cap {
    unsigned n;
    size_t len[16];
    uint8_t f[16][1536];
};

#define NCAPS 20
static struct cap caps[NCAPS];
static struct vsw_port *ports[NCAPS];

static void cap_deliver(void *ctx, const void *frame, size_t len)
{
    struct cap *c = ctx;
    if (c->n < 16) {
        c->len[c->n] = len;
        memcpy(c->f[c->n], frame, len);
    }
    c->n++;
}

/* Port i of the test on switch sw (its capture is caps[i]). */
static struct vsw_port *add(const char *sw, unsigned i)
{
    char label[32], err[96];
    snprintf(label, sizeof(label), "vm%u.0", i);
    assert_int_equal(vsw_port_add(sw, label, cap_deliver, &caps[i], &ports[i], err,
                                  sizeof(err)), 0);
    return ports[i];
}

static void del(unsigned i)
{
    vsw_port_remove(ports[i]);
    ports[i] = NULL;
}

static void mac(uint8_t m[6], unsigned i)
{
    const uint8_t v[6] = { 0x02, 0, 0, 0, 0, (uint8_t)i };
    memcpy(m, v, 6);
}

/* An Ethernet frame of len bytes whose payload starts with tag. */
static size_t eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint8_t tag, size_t len)
{
    memset(f, tag, len);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x88, f[13] = 0xb5;     /* IEEE local experimental ethertype */
    return len;
}

static void send_from(unsigned i, const uint8_t *dst, const uint8_t *src, uint8_t tag)
{
    uint8_t f[64];
    assert_int_equal(vsw_port_send(ports[i], f, eth(f, dst, src, tag, sizeof(f))), 0);
}

static void send_mac(unsigned i, const uint8_t *dst, unsigned src, uint8_t tag)
{
    uint8_t s[6];
    mac(s, src);
    send_from(i, dst, s, tag);
}

static void send_to(unsigned i, unsigned dst, unsigned src, uint8_t tag)
{
    uint8_t d[6];
    mac(d, dst);
    send_mac(i, d, src, tag);
}

static void reset_caps(void)
{
    memset(caps, 0, sizeof(caps));
}

/* caps[i] got exactly the frames want (a mask of ports), each one frame with tag. */
static void expect(uint32_t want, uint8_t tag)
{
    for (unsigned i = 0; i < NCAPS; i++) {
        if (caps[i].n != (want >> i & 1))
            fail_msg("port %u got %u frames, expected %u", i, caps[i].n, want >> i & 1);
        if (caps[i].n)
            assert_int_equal(caps[i].f[0][20], tag);
    }
    reset_caps();
}

static void info(const char *sw, struct vsw_info *o)
{
    assert_int_equal(vsw_info_find(sw, o), 0);
}

static const struct vsw_port_info *port_info(const struct vsw_info *o, const char *label)
{
    for (unsigned i = 0; i < o->nports; i++)
        if (!strcmp(o->port[i].label, label))
            return &o->port[i];
    fail_msg("no port %s", label);
    return NULL;
}

/* ---- ARP frames for the host port ----------------------------------------------------- */
static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static size_t arp(uint8_t *f, uint16_t op, const uint8_t *dst, const uint8_t *sha,
                  const uint8_t *spa, const uint8_t *tpa)
{
    uint8_t *a = f + 14;
    memset(f, 0, 60);
    memcpy(f, dst, 6);
    memcpy(f + 6, sha, 6);
    put16(f + 12, 0x0806);
    put16(a, 1);
    put16(a + 2, 0x0800);
    a[4] = 6, a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, sha, 6);
    memcpy(a + 14, spa, 4);
    memcpy(a + 24, tpa, 4);
    return 60;
}

static bool is_arp(const uint8_t *f, uint16_t op, const uint8_t *dst, const uint8_t *tpa)
{
    return get16(f + 12) == 0x0806 && get16(f + 20) == op && !memcmp(f, dst, 6) &&
           !memcmp(f + 38, tpa, 4);
}

static struct net_if *host_if(void)
{
    return netdev_get(0);
}

/* ---- fixtures ------------------------------------------------------------------------- */
static int group_setup(void **state)
{
    (void)state;
    fnic_init(host_mac);
    net_init();
    netdev_attach_all();
    assert_int_equal(netdev_count(), 1);
    assert_int_equal(netdev_configure(host_if(), "10.0.0.1/24", NULL), 0);
    net_service();                  /* link up: a gratuitous ARP goes out */
    assert_true(netif_is_link_up(&host_if()->netif));
    return 0;
}

static int setup(void **state)
{
    (void)state;
    reset_caps();
    fnic.ntx = 0;
    fnic.tx_full = false;
    unit_log_reset();
    return 0;
}

/* Whatever a test left: its ports go, then every switch. */
static int teardown(void **state)
{
    (void)state;
    struct vsw_info o;
    char err[96];
    for (unsigned i = 0; i < NCAPS; i++)
        if (ports[i])
            del(i);
    for (unsigned i = 0; i < VSW_MAX; i++)
        if (vsw_info_get(i, &o))
            assert_int_equal(vsw_destroy(o.name, err, sizeof(err)), 0);
    assert_false(netdev_claimed(host_if()));
    assert_false(fnic.promisc);
    return 0;
}

/* ---- switches --------------------------------------------------------------------------- */
static void test_create_and_refusals(void **state)
{
    (void)state;
    char err[96], name[8];
    assert_false(vsw_exists("lan"));
    assert_int_equal(vsw_create("lan", NULL, err, sizeof(err)), 0);
    assert_true(vsw_exists("lan"));
    assert_int_equal(vsw_create("lan", "", err, sizeof(err)), -EEXIST);
    assert_int_equal(vsw_create("", NULL, err, sizeof(err)), -EINVAL);
    assert_int_equal(vsw_create("0123456789abcdef", NULL, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "bad switch name"));
    assert_int_equal(vsw_create("a.b", NULL, err, sizeof(err)), -EINVAL);
    assert_int_equal(vsw_create("a b", NULL, err, sizeof(err)), -EINVAL);
    assert_int_equal(vsw_create("0123456789abc_-", "none", err, sizeof(err)), 0);
    assert_int_equal(vsw_create("x", "eth9", err, sizeof(err)), -ENODEV);
    assert_string_equal(err, "no network interface 'eth9' (see net)");
    assert_int_equal(vsw_create("up1", "eth0", err, sizeof(err)), 0);
    assert_true(fnic.promisc);
    assert_true(netdev_claimed(host_if()));
    assert_int_equal(vsw_create("up2", "eth0", err, sizeof(err)), -EBUSY);
    assert_string_equal(err, "eth0 is already the uplink of switch up1");
    for (unsigned i = 3; i < VSW_MAX; i++) {
        snprintf(name, sizeof(name), "s%u", i);
        assert_int_equal(vsw_create(name, NULL, err, sizeof(err)), 0);
    }
    assert_int_equal(vsw_create("one-more", NULL, err, sizeof(err)), -ENOSPC);
    assert_string_equal(err, "there are 8 switches already (the most)");
    assert_int_equal(vsw_destroy("nope", err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "no switch named 'nope'");
    assert_int_equal(vsw_destroy("up1", err, sizeof(err)), 0);
    assert_false(fnic.promisc);
    assert_false(netdev_claimed(host_if()));
    assert_int_equal(vsw_create("one-more", NULL, err, sizeof(err)), 0);
}

static void test_destroy_refused_while_ports(void **state)
{
    (void)state;
    char err[96];
    assert_int_equal(vsw_create("lan", NULL, err, sizeof(err)), 0);
    add("lan", 1);
    add("lan", 2);
    assert_int_equal(vsw_destroy("lan", err, sizeof(err)), -EBUSY);
    assert_string_equal(err, "switch lan has 2 guest ports attached (vm1.0 vm2.0)");
    del(1);
    assert_int_equal(vsw_destroy("lan", err, sizeof(err)), -EBUSY);
    assert_string_equal(err, "switch lan has 1 guest port attached (vm2.0)");
    del(2);
    assert_int_equal(vsw_destroy("lan", err, sizeof(err)), 0);
    assert_false(vsw_exists("lan"));
}

static void test_ports_full(void **state)
{
    (void)state;
    char err[96];
    struct vsw_port *p;
    assert_int_equal(vsw_create("lan", NULL, err, sizeof(err)), 0);
    assert_int_equal(vsw_create("up", "eth0", err, sizeof(err)), 0);
    for (unsigned i = 0; i < VSW_PORTS_MAX; i++)
        add("lan", i);
    assert_int_equal(vsw_port_add("lan", "x", cap_deliver, &caps[0], &p, err, sizeof(err)),
                     -ENOSPC);
    assert_string_equal(err, "switch lan has no free port (16 at most)");
    for (unsigned i = 0; i < VSW_PORTS_MAX; i++)
        del(i);
    for (unsigned i = 0; i < VSW_PORTS_MAX - 2; i++)       /* the uplink and host take two */
        add("up", i);
    assert_int_equal(vsw_port_add("up", "x", cap_deliver, &caps[0], &p, err, sizeof(err)),
                     -ENOSPC);
    assert_int_equal(vsw_port_add("nope", "x", cap_deliver, &caps[0], &p, err, sizeof(err)),
                     -ENOENT);
    assert_string_equal(err, "no switch named 'nope'");
}

/* ---- forwarding ------------------------------------------------------------------------- */
static void test_learning_and_flooding(void **state)
{
    (void)state;
    char err[96];
    struct vsw_info o;
    assert_int_equal(vsw_create("lan", NULL, err, sizeof(err)), 0);
    for (unsigned i = 1; i <= 3; i++)
        add("lan", i);
    send_mac(1, bcast, 1, 0xa1);            /* broadcast: everyone but the sender */
    vsw_poll();
    expect(1u << 2 | 1u << 3, 0xa1);
    send_to(2, 1, 2, 0xa2);                 /* to a learned MAC: that port only */
    vsw_poll();
    expect(1u << 1, 0xa2);
    send_to(3, 9, 3, 0xa3);                 /* unknown unicast: flooded, not back */
    vsw_poll();
    expect(1u << 1 | 1u << 2, 0xa3);
    send_to(1, 2, 1, 0xa4);
    send_to(1, 3, 1, 0xa5);
    vsw_poll();
    assert_int_equal(caps[2].n, 1);
    assert_int_equal(caps[3].n, 1);
    assert_int_equal(caps[2].f[0][20], 0xa4);
    assert_int_equal(caps[3].f[0][20], 0xa5);
    reset_caps();
    send_mac(2, mcast, 2, 0xa6);            /* multicast floods too */
    vsw_poll();
    expect(1u << 1 | 1u << 3, 0xa6);
    info("lan", &o);
    assert_int_equal(o.nports, 3);
    assert_int_equal(o.nmacs, 3);
    assert_int_equal(o.flooded, 3);
    assert_int_equal(o.queued, 0);
    const struct vsw_port_info *p1 = port_info(&o, "vm1.0");
    assert_string_equal(p1->kind, "guest");
    assert_int_equal(p1->macs, 1);
    assert_int_equal(p1->rx_frames, 3);
    assert_int_equal(p1->rx_bytes, 3 * 64);
    assert_int_equal(p1->tx_frames, 3);     /* 0xa2, 0xa3, 0xa6 */
    assert_int_equal(p1->tx_bytes, 3 * 64);
    assert_int_equal(p1->drops, 0);
}

/* A frame to a MAC that lives on its own source port goes nowhere, never back. */
static void test_no_echo_to_source(void **state)
{
    (void)state;
    char err[96];
    struct vsw_info o;
    assert_int_equal(vsw_create("lan", NULL, err, sizeof(err)), 0);
    add("lan", 1);
    add("lan", 2);
    send_mac(1, bcast, 1, 0xb1);
    vsw_poll();
    reset_caps();
    send_to(1, 1, 7, 0xb2);                 /* from 7 (also on port 1) to 1 */
    vsw_poll();
    expect(0, 0);
    info("lan", &o);
    assert_int_equal(o.filtered, 1);
    assert_int_equal(port_info(&o, "vm1.0")->macs, 2);
}

/* Group or null source addresses are not learned. */
static void test_group_source_not_learned(void **state)
{
    (void)state;
    char err[96];
    struct vsw_info o;
    static const uint8_t zero[6];
    assert_int_equal(vsw_create("lan", NULL, err, sizeof(err)), 0);
    add("lan", 1);
    add("lan", 2);
    send_from(1, bcast, mcast, 0xc1);
    send_from(1, bcast, zero, 0xc2);
    vsw_poll();
    info("lan", &o);
    assert_int_equal(o.nmacs, 0);
    assert_int_equal(caps[2].n, 2);
}

static void test_aging(void **state)
{
    (void)state;
    char err[96];
    struct vsw_info o;
    assert_int_equal(vsw_create("lan", NULL, err, sizeof(err)), 0);
    for (unsigned i = 1; i <= 3; i++)
        add("lan", i);
    send_mac(1, bcast, 1, 0xd1);
    vsw_poll();
    reset_caps();
    fake_now_ns += (VSW_AGE_S - 1) * 1000000000ull;
    vsw_poll();
    send_to(2, 1, 2, 0xd2);
    vsw_poll();
    expect(1u << 1, 0xd2);                  /* still known */
    fake_now_ns += 2 * 1000000000ull;       /* 301 s since port 1 last sent */
    vsw_poll();
    info("lan", &o);
    assert_int_equal(o.aged, 1);
    assert_int_equal(o.nmacs, 1);           /* port 2's, 2 s old */
    send_to(2, 1, 2, 0xd3);
    vsw_poll();
    expect(1u << 1 | 1u << 3, 0xd3);        /* forgotten: flooded */
    /* Traffic from a MAC keeps it. */
    for (unsigned i = 0; i < 4; i++) {
        fake_now_ns += (VSW_AGE_S / 2) * 1000000000ull;
        send_to(2, 3, 2, 0xd4);
        vsw_poll();
    }
    info("lan", &o);
    assert_int_equal(o.aged, 1);
}

/* A MAC heard on another port moves at once: how a migrated guest's RARP re-points it. */
static void test_mac_move(void **state)
{
    (void)state;
    char err[96];
    struct vsw_info o;
    assert_int_equal(vsw_create("lan", NULL, err, sizeof(err)), 0);
    for (unsigned i = 1; i <= 3; i++)
        add("lan", i);
    send_mac(1, bcast, 5, 0xe1);
    vsw_poll();
    reset_caps();
    send_to(3, 5, 3, 0xe2);
    vsw_poll();
    expect(1u << 1, 0xe2);
    send_mac(2, bcast, 5, 0xe3);            /* MAC 5 now behind port 2 */
    vsw_poll();
    expect(1u << 1 | 1u << 3, 0xe3);
    send_to(3, 5, 3, 0xe4);
    vsw_poll();
    expect(1u << 2, 0xe4);
    info("lan", &o);
    assert_int_equal(o.moves, 1);
    assert_int_equal(port_info(&o, "vm1.0")->macs, 0);
    assert_int_equal(port_info(&o, "vm2.0")->macs, 1);
}

static void test_switches_isolated(void **state)
{
    (void)state;
    char err[96];
    assert_int_equal(vsw_create("red", NULL, err, sizeof(err)), 0);
    assert_int_equal(vsw_create("blue", NULL, err, sizeof(err)), 0);
    add("red", 1);
    add("red", 2);
    add("blue", 3);
    add("blue", 4);
    send_mac(3, bcast, 3, 0xf1);
    vsw_poll();
    expect(1u << 4, 0xf1);
    send_mac(1, bcast, 1, 0xf2);
    vsw_poll();
    expect(1u << 2, 0xf2);
    send_to(1, 3, 1, 0xf3);                 /* MAC 3 is known on blue only: red floods */
    vsw_poll();
    expect(1u << 2, 0xf3);
}

static void test_queue_full_and_bad_lengths(void **state)
{
    (void)state;
    char err[96];
    struct vsw_info o;
    uint8_t f[VSW_FRAME_MAX + 1];
    assert_int_equal(vsw_create("lan", NULL, err, sizeof(err)), 0);
    add("lan", 1);
    add("lan", 2);
    eth(f, bcast, (const uint8_t[6]){ 2, 0, 0, 0, 0, 1 }, 0x11, sizeof(f));
    for (unsigned i = 0; i < VSW_QUEUE_LEN; i++)
        assert_int_equal(vsw_port_send(ports[1], f, 64), 0);
    assert_int_equal(vsw_port_send(ports[1], f, 64), -ENOSPC);
    info("lan", &o);
    assert_int_equal(o.queued, VSW_QUEUE_LEN);
    assert_int_equal(port_info(&o, "vm1.0")->drops, 1);
    assert_int_equal(port_info(&o, "vm1.0")->rx_frames, VSW_QUEUE_LEN);
    vsw_poll();                             /* bounded per call */
    assert_true(caps[2].n > 0 && caps[2].n < VSW_QUEUE_LEN);
    for (unsigned i = 0; i < VSW_QUEUE_LEN; i++)
        vsw_poll();
    assert_int_equal(caps[2].n, VSW_QUEUE_LEN);
    reset_caps();
    assert_int_equal(vsw_port_send(ports[1], f, 13), -EINVAL);
    assert_int_equal(vsw_port_send(ports[1], f, VSW_FRAME_MAX + 1), -EINVAL);
    assert_int_equal(vsw_port_send(ports[1], f, 14), 0);
    assert_int_equal(vsw_port_send(ports[1], f, VSW_FRAME_MAX), 0);
    vsw_poll();
    assert_int_equal(caps[2].n, 2);
    assert_int_equal(caps[2].len[0], 14);
    assert_int_equal(caps[2].len[1], VSW_FRAME_MAX);
    assert_memory_equal(caps[2].f[1], f, VSW_FRAME_MAX);
    info("lan", &o);
    assert_int_equal(port_info(&o, "vm1.0")->drops, 3);
}

/* Frames still queued from a removed port are dropped; a new port in its slot is not them. */
static void test_port_removed_with_frames_queued(void **state)
{
    (void)state;
    char err[96];
    struct vsw_info o;
    assert_int_equal(vsw_create("lan", NULL, err, sizeof(err)), 0);
    add("lan", 1);
    add("lan", 2);
    send_mac(1, bcast, 1, 0x21);
    send_mac(2, bcast, 2, 0x22);
    vsw_poll();
    reset_caps();
    info("lan", &o);
    assert_int_equal(o.nmacs, 2);
    for (unsigned i = 0; i < 3; i++)
        send_to(1, 2, 1, 0x23);
    del(1);
    info("lan", &o);
    assert_int_equal(o.nmacs, 1);           /* MAC 1 forgotten with its port */
    assert_int_equal(o.queued, 3);
    add("lan", 3);                          /* takes port 1's slot */
    send_to(3, 2, 3, 0x24);
    vsw_poll();
    expect(1u << 2, 0x24);                  /* only the new port's frame went */
    info("lan", &o);
    assert_int_equal(o.stale, 3);
    assert_int_equal(port_info(&o, "vm3.0")->rx_frames, 1);
    send_to(2, 1, 2, 0x25);                 /* MAC 1 is unknown now: flooded to port 3 */
    vsw_poll();
    expect(1u << 3, 0x25);
}

/* ---- the uplink and the host port ----------------------------------------------------- */
static void test_uplink_wire_to_guests_and_host(void **state)
{
    (void)state;
    char err[96];
    uint8_t f[60], gmac[6];
    struct vsw_info o;
    struct net_if *nif = host_if();
    mac(gmac, 1);
    assert_int_equal(vsw_create("lan", "eth0", err, sizeof(err)), 0);
    add("lan", 1);
    uint64_t lent = fnic.nic.rxpool.lent, host_rx = nif->rx_packets;
    /* The peer asks for the host's address: the guest sees the broadcast, lwIP answers. */
    fnic_wire(f, arp(f, 1, bcast, peer_mac, peer_ip, host_ip));
    net_service();
    assert_int_equal(caps[1].n, 1);
    assert_true(is_arp(caps[1].f[0], 1, bcast, host_ip));
    assert_int_equal(nif->rx_packets, host_rx + 1);
    assert_int_equal(fnic.nic.rxpool.lent, lent + 1);       /* to lwIP without a copy */
    assert_int_equal(fnic.ntx, 1);
    assert_true(is_arp(fnic.tx[0].b, 2, peer_mac, peer_ip));
    assert_int_equal(caps[1].n, 1);         /* the reply went to the wire only */
    /* The guest announces itself; then unicast to it from the wire reaches it alone. */
    send_mac(1, bcast, 1, 0x31);
    fnic.ntx = 0;
    net_service();
    assert_int_equal(fnic.ntx, 1);
    assert_int_equal(fnic.tx[0].b[20], 0x31);
    reset_caps();
    host_rx = nif->rx_packets;
    fnic_wire(f, eth(f, gmac, peer_mac, 0x32, 60));
    net_service();
    expect(1u << 1, 0x32);
    assert_int_equal(nif->rx_packets, host_rx);
    /* Unknown unicast from the wire: to the guest, not to the host's one address. */
    fnic_wire(f, eth(f, (const uint8_t[6]){ 2, 9, 9, 9, 9, 9 }, peer_mac, 0x33, 60));
    fnic.ntx = 0;
    net_service();
    expect(1u << 1, 0x33);
    assert_int_equal(nif->rx_packets, host_rx);
    assert_int_equal(fnic.ntx, 0);          /* never back out of the uplink */
    info("lan", &o);
    assert_string_equal(o.uplink, "eth0");
    assert_string_equal(o.port[0].kind, "uplink");
    assert_string_equal(o.port[0].label, "eth0");
    assert_string_equal(o.port[1].kind, "host");
    assert_int_equal(o.port[0].rx_frames, 3);
    assert_int_equal(o.port[1].macs, 1);    /* the host's own, fixed */
    assert_int_equal(o.port[1].tx_frames, 2);       /* the ARP request and the guest's hello */
}

static void test_uplink_host_to_wire_and_guests(void **state)
{
    (void)state;
    char err[96];
    uint8_t f[60], gmac[6];
    struct net_if *nif = host_if();
    mac(gmac, 1);
    assert_int_equal(vsw_create("lan", "eth0", err, sizeof(err)), 0);
    add("lan", 1);
    /* lwIP sends to an address it does not know: its ARP request reaches wire and guest. */
    struct udp_pcb *pcb = udp_new();
    struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, 8, PBUF_RAM);
    ip_addr_t to;
    IP_ADDR4(&to, 10, 0, 0, 3);
    assert_int_equal(udp_sendto(pcb, p, &to, 9), ERR_OK);
    pbuf_free(p);
    udp_remove(pcb);
    assert_int_equal(fnic.ntx, 0);          /* queued in the switch until it is serviced */
    net_service();
    assert_int_equal(fnic.ntx, 1);
    assert_true(is_arp(fnic.tx[0].b, 1, bcast, (const uint8_t[4]){ 10, 0, 0, 3 }));
    assert_int_equal(caps[1].n, 1);
    assert_memory_equal(caps[1].f[0], fnic.tx[0].b, 60);
    reset_caps();
    fnic.ntx = 0;
    /* The guest asks for the host: the request floods, the answer comes to the guest only. */
    uint64_t tx = nif->tx_packets;
    assert_int_equal(vsw_port_send(ports[1], f, arp(f, 1, bcast, gmac, guest_ip, host_ip)), 0);
    net_service();
    assert_int_equal(nif->tx_packets, tx + 1);
    assert_int_equal(fnic.ntx, 1);          /* the request, flooded */
    assert_true(is_arp(fnic.tx[0].b, 1, bcast, host_ip));
    net_service();
    assert_int_equal(caps[1].n, 1);
    assert_true(is_arp(caps[1].f[0], 2, gmac, guest_ip));
    assert_int_equal(fnic.ntx, 1);
}

/* A guest cannot take the host's address; the uplink's full ring counts as drops. */
static void test_uplink_fixed_host_mac_and_tx_drops(void **state)
{
    (void)state;
    char err[96];
    uint8_t f[60];
    struct vsw_info o;
    struct net_if *nif = host_if();
    assert_int_equal(vsw_create("lan", "eth0", err, sizeof(err)), 0);
    add("lan", 1);
    send_from(1, bcast, host_mac, 0x41);
    net_service();
    info("lan", &o);
    assert_int_equal(o.moves, 0);
    uint64_t host_rx = nif->rx_packets;
    fnic_wire(f, arp(f, 1, host_mac, peer_mac, peer_ip, host_ip));
    reset_caps();
    net_service();
    assert_int_equal(nif->rx_packets, host_rx + 1);
    assert_int_equal(caps[1].n, 0);
    fnic.tx_full = true;
    send_mac(1, bcast, 1, 0x42);
    net_service();
    info("lan", &o);
    assert_string_equal(o.port[0].kind, "uplink");
    assert_int_equal(o.port[0].drops, 1);
}

/* A guest's runt goes to the wire padded to the minimum frame, to other guests as it is. */
static void test_uplink_pads_runts(void **state)
{
    (void)state;
    char err[96];
    uint8_t f[20], src[6];
    static const uint8_t zero[40];
    mac(src, 1);
    assert_int_equal(vsw_create("lan", "eth0", err, sizeof(err)), 0);
    add("lan", 1);
    add("lan", 2);
    assert_int_equal(vsw_port_send(ports[1], f, eth(f, bcast, src, 0x45, sizeof(f))), 0);
    net_service();
    assert_int_equal(fnic.ntx, 1);
    assert_int_equal(fnic.tx[0].len, 60);
    assert_memory_equal(fnic.tx[0].b, f, sizeof(f));
    assert_memory_equal(fnic.tx[0].b + sizeof(f), zero, sizeof(zero));
    assert_int_equal(caps[2].n, 1);
    assert_int_equal(caps[2].len[0], sizeof(f));
}

/* A migrated guest's RARP arrives from the wire: its MAC moves to the uplink. */
static void test_uplink_rarp_moves_guest_mac(void **state)
{
    (void)state;
    char err[96];
    uint8_t f[60], gmac[6];
    struct vsw_info o;
    mac(gmac, 1);
    assert_int_equal(vsw_create("lan", "eth0", err, sizeof(err)), 0);
    add("lan", 1);
    add("lan", 2);
    send_mac(1, bcast, 1, 0x51);
    net_service();
    reset_caps();
    fnic.ntx = 0;
    fnic_wire(f, eth(f, bcast, gmac, 0x52, 60));    /* the guest, now on another host */
    net_service();
    expect(1u << 1 | 1u << 2, 0x52);
    send_mac(2, gmac, 2, 0x53);
    net_service();
    expect(0, 0);
    assert_int_equal(fnic.ntx, 1);
    assert_int_equal(fnic.tx[0].b[20], 0x53);
    info("lan", &o);
    assert_int_equal(o.moves, 1);
}

/* Destroying the switch gives the NIC back to lwIP as it was. */
static void test_uplink_given_back(void **state)
{
    (void)state;
    char err[96];
    uint8_t f[60];
    struct net_if *nif = host_if();
    assert_int_equal(vsw_create("lan", "eth0", err, sizeof(err)), 0);
    assert_int_equal(fnic.promisc_calls % 2, 1);
    assert_int_equal(vsw_destroy("lan", err, sizeof(err)), 0);
    assert_false(fnic.promisc);
    uint64_t host_rx = nif->rx_packets, lent = fnic.nic.rxpool.lent;
    fnic_wire(f, arp(f, 1, bcast, peer_mac, peer_ip, host_ip));
    net_service();
    assert_int_equal(nif->rx_packets, host_rx + 1);
    assert_int_equal(fnic.nic.rxpool.lent, lent + 1);
    assert_int_equal(fnic.ntx, 1);          /* lwIP's reply, straight to the NIC */
    assert_true(is_arp(fnic.tx[0].b, 2, peer_mac, peer_ip));
}

static void test_mac_table_listing(void **state)
{
    (void)state;
    char err[96], name[VSW_NAME_MAX];
    struct vsw_mac_info m;
    assert_int_equal(vsw_create("lan", "eth0", err, sizeof(err)), 0);
    assert_true(vsw_uplink_of("eth0", name));
    assert_string_equal(name, "lan");
    assert_false(vsw_uplink_of("eth1", name));
    add("lan", 1);
    send_mac(1, bcast, 1, 0x61);
    net_service();
    fake_now_ns += 3 * 1000000000ull;
    unsigned n = 0, fixed = 0;
    while (vsw_mac_get("lan", n, &m) == 0) {
        if (m.fixed) {
            fixed++;
            assert_memory_equal(m.mac, host_mac, 6);
            assert_string_equal(m.port, "host");
        } else {
            assert_string_equal(m.port, "vm1.0");
            assert_int_equal(m.idle_ms, 3000);
        }
        n++;
    }
    assert_int_equal(n, 2);
    assert_int_equal(fixed, 1);
    assert_int_equal(vsw_mac_get("lan", n, &m), -ERANGE);
    assert_int_equal(vsw_mac_get("nope", 0, &m), -ENOENT);
}

/* A full table makes room by forgetting its oldest learned MAC. */
static void test_table_full_evicts_oldest(void **state)
{
    (void)state;
    char err[96];
    struct vsw_info o;
    uint8_t s[6] = { 0x02, 0x10, 0, 0, 0, 0 };
    assert_int_equal(vsw_create("lan", NULL, err, sizeof(err)), 0);
    add("lan", 1);
    add("lan", 2);
    for (unsigned i = 0; i < VSW_MACS_MAX + 1; i++) {
        s[4] = (uint8_t)(i >> 8), s[5] = (uint8_t)i;
        send_from(1, bcast, s, 0x71);
        vsw_poll();
        fake_now_ns += 1000;
    }
    info("lan", &o);
    assert_int_equal(o.nmacs, VSW_MACS_MAX);
    assert_int_equal(o.evicted, 1);
    reset_caps();
    s[4] = 0, s[5] = 0;                     /* the first one learned is gone: flooded */
    send_from(2, s, (const uint8_t[6]){ 2, 0, 0, 0, 0, 2 }, 0x72);
    vsw_poll();
    assert_int_equal(caps[1].n, 1);
    info("lan", &o);
    assert_int_equal(o.evicted, 2);         /* port 2's MAC took another's place */
}

/* Guests on other CPUs send while the control CPU forwards: nothing lost, nothing twice. */
#define SENDERS 4
#define PER_SENDER 5000

struct sender {
    pthread_t t;
    unsigned index;
    unsigned ok, full;
};

static unsigned senders_done;

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    uint8_t f[64], src[6];
    mac(src, 10 + s->index);
    for (unsigned i = 0; i < PER_SENDER; i++) {
        eth(f, bcast, src, (uint8_t)s->index, sizeof(f));
        memcpy(f + 16, &i, sizeof(i));
        int rc;
        while ((rc = vsw_port_send(ports[1 + s->index], f, sizeof(f))) == -ENOSPC) {
            s->full++;              // a guest's NIC would retry later; this one at once
            sched_yield();
        }
        if (rc)
            abort();
        s->ok++;
    }
    __atomic_add_fetch(&senders_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* The receiving port checks it gets each sender's frames once each, in order. */
static uint32_t next_seq[SENDERS];
static unsigned seq_errors, received;

static void seq_deliver(void *ctx, const void *frame, size_t len)
{
    (void)ctx;
    const uint8_t *f = frame;
    uint32_t seq;
    unsigned who = f[20];
    memcpy(&seq, f + 16, sizeof(seq));
    if (len != 64 || who >= SENDERS || seq != next_seq[who])
        seq_errors++;
    else
        next_seq[who] = seq + 1;
    received++;
}

static void test_senders_on_other_cpus(void **state)
{
    (void)state;
    char err[96];
    struct sender s[SENDERS];
    struct vsw_info o;
    assert_int_equal(vsw_create("lan", NULL, err, sizeof(err)), 0);
    assert_int_equal(vsw_port_add("lan", "sink", seq_deliver, NULL, &ports[0], err,
                                  sizeof(err)), 0);
    for (unsigned i = 0; i < SENDERS; i++)
        add("lan", 1 + i);
    for (unsigned i = 0; i < SENDERS; i++) {
        s[i] = (struct sender){ .index = i };
        assert_int_equal(pthread_create(&s[i].t, NULL, sender_main, &s[i]), 0);
    }
    while (__atomic_load_n(&senders_done, __ATOMIC_ACQUIRE) < SENDERS)
        vsw_poll();
    for (unsigned i = 0; i < SENDERS; i++)
        pthread_join(s[i].t, NULL);
    for (unsigned i = 0; i < 2 * VSW_QUEUE_LEN; i++)
        vsw_poll();
    unsigned ok = 0;
    info("lan", &o);
    for (unsigned i = 0; i < SENDERS; i++) {
        char label[16];
        snprintf(label, sizeof(label), "vm%u.0", 1 + i);
        const struct vsw_port_info *pi = port_info(&o, label);
        assert_int_equal(s[i].ok, PER_SENDER);
        assert_int_equal(next_seq[i], PER_SENDER);
        assert_int_equal(pi->rx_frames, s[i].ok);
        assert_int_equal(pi->drops, s[i].full);
        ok += s[i].ok;
    }
    assert_int_equal(seq_errors, 0);
    assert_int_equal(received, ok);
    assert_int_equal(port_info(&o, "sink")->tx_frames, ok);
    assert_int_equal(o.queued, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_create_and_refusals),
        T(test_destroy_refused_while_ports),
        T(test_ports_full),
        T(test_learning_and_flooding),
        T(test_no_echo_to_source),
        T(test_group_source_not_learned),
        T(test_aging),
        T(test_mac_move),
        T(test_switches_isolated),
        T(test_queue_full_and_bad_lengths),
        T(test_port_removed_with_frames_queued),
        T(test_uplink_wire_to_guests_and_host),
        T(test_uplink_host_to_wire_and_guests),
        T(test_uplink_fixed_host_mac_and_tx_drops),
        T(test_uplink_pads_runts),
        T(test_uplink_rarp_moves_guest_mac),
        T(test_uplink_given_back),
        T(test_mac_table_listing),
        T(test_table_full_evicts_oldest),
        T(test_senders_on_other_cpus),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
