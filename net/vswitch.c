/*
 * Named learning switches (net/vswitch.h). Each switch has a MAC table (a hash of chained
 * entries with a free list, so learning, lookup and forgetting stay O(1) on the forwarding
 * path) and one queue of frames its ports sent: the only state other CPUs touch, under a
 * leaf spinlock. The queue's frame buffers are frames from the allocator, taken at create.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "drivers/nic.h"
#include "hv/base/config.h"
#include "hv/base/log.h"
#include "hv/base/mem.h"
#include "hv/base/spinlock.h"
#include "hv/base/time.h"
#include "net/netdev.h"
#include "net/vswitch.h"

#define BUCKETS      64
#define SLOT_SIZE    1536                        /* a queued frame's buffer */
#define QUEUE_PAGES  (VSW_QUEUE_LEN * SLOT_SIZE / PAGE_SIZE)
#define POLL_BUDGET  64                          /* queued frames forwarded per switch per poll */
#define RX_BUDGET    64                          /* uplink frames per switch per poll */
#define AGE_NS       ((uint64_t)VSW_AGE_S * 1000000000ull)
#define AGE_EVERY_NS 1000000000ull               /* the table is swept once a second */
#define NO_PORT      0xff
#define UPLINK       0                           /* port indexes on a switch with an uplink */
#define HOST         1

_Static_assert(VSW_FRAME_MAX <= SLOT_SIZE, "a frame fits its queue slot");
_Static_assert(VSW_QUEUE_LEN * SLOT_SIZE % PAGE_SIZE == 0, "the queue is whole pages");
_Static_assert(VSW_PORTS_MAX <= 32 && VSW_PORTS_MAX < NO_PORT, "port sets are 32-bit masks");
_Static_assert(VSW_MACS_MAX <= INT16_MAX, "table links are int16_t");
_Static_assert(CONFIG_SWITCH_MAX == VSW_MAX && CONFIG_SWITCH_NAME == VSW_NAME_MAX,
               "ferry.cfg's switch= follows the switch limits");

enum port_kind { PORT_FREE, PORT_GUEST, PORT_HOST, PORT_UPLINK };
static const char *const kind_names[] = { "free", "guest", "host", "uplink" };

struct vsw;

struct vsw_port {
    struct vsw *sw;
    uint8_t kind, index;
    uint32_t gen;                   // queued frames carry it: another value means stale
    char label[32];
    vsw_deliver_fn fn;
    void *ctx;
    uint64_t rx_frames, rx_bytes, rx_drops;    // under the queue lock (guests: any CPU)
    uint64_t tx_frames, tx_bytes, tx_drops;    // control CPU
};

struct mac_entry {
    uint8_t mac[6];
    uint8_t port;                   // NO_PORT: on the free list
    bool fixed;                     // the host port's own MAC: never ages, moves or goes
    int16_t next;                   // bucket chain, or free list
    uint64_t seen_ns;
};

struct qslot {
    uint16_t len;
    uint8_t port;
    uint32_t gen;
};

struct vsw {
    bool used;
    char name[VSW_NAME_MAX];
    struct vsw_port port[VSW_PORTS_MAX];
    uint32_t live;                  // ports in use, as a mask
    struct net_if *nif;             // the uplink's interface (the host port's lwIP side)
    struct nic *nic;                // the uplink NIC; both NULL on an internal switch
    struct mac_entry mac[VSW_MACS_MAX];
    int16_t bucket[BUCKETS], free_mac;
    unsigned nmacs;
    uint64_t next_age_ns;
    struct spinlock qlock;          // leaf: guards the queue and the ports' rx counters
    struct qslot q[VSW_QUEUE_LEN];
    unsigned head, tail;            // free-running; tail - head frames are queued
    uint8_t *qbuf;
    uint64_t qphys;
    uint64_t flooded, filtered, moves, evicted, aged, stale;
};

static struct vsw sws[VSW_MAX];
static uint32_t port_gen;           // never reused: a stale frame cannot match a new port
static uint64_t now_ns;             // time_ns() at the start of this vsw_poll

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= VSW_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static struct vsw *find(const char *name)
{
    for (unsigned i = 0; i < VSW_MAX; i++)
        if (sws[i].used && !strcmp(sws[i].name, name))
            return &sws[i];
    return NULL;
}

bool vsw_exists(const char *name)
{
    return name && find(name);
}

/* ---- the MAC table ------------------------------------------------------------------- */

static unsigned mac_hash(const uint8_t *m)
{
    uint32_t h = 2166136261u;       // FNV-1a; the low bytes differ most between NICs
    for (unsigned i = 0; i < 6; i++)
        h = (h ^ m[i]) * 16777619u;
    return (h ^ h >> 16) % BUCKETS;
}

static void mac_init(struct vsw *sw)
{
    for (unsigned i = 0; i < BUCKETS; i++)
        sw->bucket[i] = -1;
    for (unsigned i = 0; i < VSW_MACS_MAX; i++) {
        sw->mac[i].port = NO_PORT;
        sw->mac[i].next = i + 1 < VSW_MACS_MAX ? (int16_t)(i + 1) : -1;
    }
    sw->free_mac = 0;
    sw->nmacs = 0;
}

static int mac_find(const struct vsw *sw, const uint8_t *m)
{
    for (int e = sw->bucket[mac_hash(m)]; e >= 0; e = sw->mac[e].next)
        if (!memcmp(sw->mac[e].mac, m, 6))
            return e;
    return -1;
}

static void mac_remove(struct vsw *sw, int e)
{
    int16_t *pp = &sw->bucket[mac_hash(sw->mac[e].mac)];
    while (*pp != e)
        pp = &sw->mac[*pp].next;
    *pp = sw->mac[e].next;
    sw->mac[e].port = NO_PORT;
    sw->mac[e].fixed = false;
    sw->mac[e].next = sw->free_mac;
    sw->free_mac = (int16_t)e;
    sw->nmacs--;
}

/* A free entry; a full table gives up its oldest learned one. */
static int mac_alloc(struct vsw *sw)
{
    if (sw->free_mac < 0) {
        int old = -1;
        for (int e = 0; e < VSW_MACS_MAX; e++)
            if (!sw->mac[e].fixed && (old < 0 || sw->mac[e].seen_ns < sw->mac[old].seen_ns))
                old = e;
        mac_remove(sw, old);
        sw->evicted++;
    }
    int e = sw->free_mac;
    sw->free_mac = sw->mac[e].next;
    return e;
}

static void mac_add(struct vsw *sw, const uint8_t *m, unsigned port, bool fixed)
{
    int e = mac_alloc(sw);
    unsigned h = mac_hash(m);
    memcpy(sw->mac[e].mac, m, 6);
    sw->mac[e].port = (uint8_t)port;
    sw->mac[e].fixed = fixed;
    sw->mac[e].seen_ns = now_ns;
    sw->mac[e].next = sw->bucket[h];
    sw->bucket[h] = (int16_t)e;
    sw->nmacs++;
}

/* The source of a frame from port: learned, refreshed, or moved here at once. */
static void learn(struct vsw *sw, const uint8_t *m, unsigned port)
{
    static const uint8_t zero[6];
    if ((m[0] & 1) || !memcmp(m, zero, 6))
        return;                     // a group or null source is nobody's address
    int e = mac_find(sw, m);
    if (e < 0) {
        mac_add(sw, m, port, false);
        return;
    }
    struct mac_entry *x = &sw->mac[e];
    if (x->fixed)
        return;                     // nobody else may take the host's address
    if (x->port != port) {
        x->port = (uint8_t)port;
        sw->moves++;
    }
    x->seen_ns = now_ns;
}

static void mac_forget_port(struct vsw *sw, unsigned port)
{
    for (int e = 0; e < VSW_MACS_MAX; e++)
        if (sw->mac[e].port == port)
            mac_remove(sw, e);
}

static void mac_age(struct vsw *sw)
{
    if (now_ns < sw->next_age_ns)
        return;
    sw->next_age_ns = now_ns + AGE_EVERY_NS;
    for (int e = 0; e < VSW_MACS_MAX; e++) {
        struct mac_entry *x = &sw->mac[e];
        if (x->port != NO_PORT && !x->fixed && now_ns - x->seen_ns >= AGE_NS) {
            mac_remove(sw, e);
            sw->aged++;
        }
    }
}

/* ---- forwarding ---------------------------------------------------------------------- */

/* Copies a frame into the queue as port p's. Any CPU for a guest port. */
static int enqueue(struct vsw_port *p, const void *frame, size_t len)
{
    struct vsw *sw = p->sw;
    int rc = 0;
    spin_lock(&sw->qlock);
    if (p->kind == PORT_FREE) {
        rc = -EINVAL;               // removed meanwhile: nothing to count it on
    } else if (len < NET_ETH_HLEN || len > VSW_FRAME_MAX) {
        p->rx_drops++;
        rc = -EINVAL;
    } else if (sw->tail - sw->head == VSW_QUEUE_LEN) {
        p->rx_drops++;
        rc = -ENOSPC;
    } else {
        unsigned i = sw->tail % VSW_QUEUE_LEN;
        memcpy(sw->qbuf + (size_t)i * SLOT_SIZE, frame, len);
        sw->q[i] = (struct qslot){ .len = (uint16_t)len, .port = p->index, .gen = p->gen };
        sw->tail++;
        p->rx_frames++;
        p->rx_bytes += len;
    }
    spin_unlock(&sw->qlock);
    return rc;
}

int vsw_port_send(struct vsw_port *p, const void *frame, size_t len)
{
    if (!p || !frame || p->kind != PORT_GUEST)
        return -EINVAL;
    return enqueue(p, frame, len);
}

/* What lwIP transmits on the uplink's interface (netdev_claim): the host port sends it. */
static int host_tx(void *ctx, const void *frame, size_t len)
{
    struct vsw *sw = ctx;
    return enqueue(&sw->port[HOST], frame, len);
}

/* The ports a frame from src goes to, as a mask; learns its source on the way. */
static uint32_t destinations(struct vsw *sw, unsigned src, const uint8_t *f)
{
    uint32_t others = sw->live & ~(1u << src);
    learn(sw, f + 6, src);
    if (f[0] & 1) {
        sw->flooded++;
        return others;
    }
    int e = mac_find(sw, f);
    if (e < 0) {
        sw->flooded++;
        // The host port has one address, a fixed entry: an unknown unicast is not for it.
        return sw->nif ? others & ~(1u << HOST) : others;
    }
    if (sw->mac[e].port == src) {
        sw->filtered++;
        return 0;
    }
    return 1u << sw->mac[e].port;
}

/* To the wire: guests may send runts (virtio-net pads nothing); IEEE 802.3 4.2.3.3 pads. */
static int uplink_tx(struct vsw *sw, const uint8_t *f, size_t len)
{
    static uint8_t pad[NET_ETH_MIN_FRAME];
    if (len < NET_ETH_MIN_FRAME) {
        memcpy(pad, f, len);
        memset(pad + len, 0, NET_ETH_MIN_FRAME - len);
        f = pad;
        len = NET_ETH_MIN_FRAME;
    }
    return sw->nic->ops->tx(sw->nic, f, len);
}

static void to_port(struct vsw *sw, struct vsw_port *p, const uint8_t *f, size_t len)
{
    if (p->kind == PORT_UPLINK && uplink_tx(sw, f, len) < 0) {
        p->tx_drops++;              // ring full (or a length the NIC refuses)
        return;
    }
    if (p->kind == PORT_GUEST)
        p->fn(p->ctx, f, len);
    p->tx_frames++;
    p->tx_bytes += len;
}

/*
 * Hands a frame from port src to the ports it goes to, the host port last: lwIP may write
 * into a frame it receives. b: the uplink's receive buffer holding the frame, or NULL; lwIP
 * may keep b when lend is set (drivers/nic.h), and the result says whether it did.
 */
static bool forward(struct vsw *sw, unsigned src, const uint8_t *f, size_t len,
                    struct nic_rxbuf *b, bool lend)
{
    uint32_t to = destinations(sw, src, f);
    bool host = sw->nif && (to & 1u << HOST);
    if (sw->nif)
        to &= ~(1u << HOST);
    while (to) {
        unsigned i = (unsigned)__builtin_ctz(to);
        to &= to - 1;
        to_port(sw, &sw->port[i], f, len);
    }
    if (!host)
        return false;
    sw->port[HOST].tx_frames++;
    sw->port[HOST].tx_bytes += len;
    if (b)
        return netdev_input(sw->nif, b, lend);      // zero copy when lent, as without a switch
    net_if_input(sw->nif, f, len);
    return false;
}

/* nic_rx_fn for the uplink's receive ring. */
static bool uplink_rx(void *ctx, struct nic_rxbuf *b, bool lend)
{
    struct vsw *sw = ctx;
    struct vsw_port *u = &sw->port[UPLINK];
    if (b->len < NET_ETH_HLEN || b->len > VSW_FRAME_MAX) {
        u->rx_drops++;              // drivers hand up no such frame; be sure anyway
        return false;
    }
    u->rx_frames++;
    u->rx_bytes += b->len;
    return forward(sw, UPLINK, b->frame, b->len, b, lend);
}

/* Forwards up to POLL_BUDGET queued frames. The slot at head stays the consumer's while it
 * is forwarded (producers wait for head to move), so no lock is held across a delivery. */
static void drain(struct vsw *sw)
{
    for (unsigned n = 0; n < POLL_BUDGET; n++) {
        spin_lock(&sw->qlock);
        bool empty = sw->head == sw->tail;
        struct qslot s = sw->q[sw->head % VSW_QUEUE_LEN];
        spin_unlock(&sw->qlock);
        if (empty)
            return;
        struct vsw_port *p = &sw->port[s.port];
        if (p->kind != PORT_FREE && p->gen == s.gen)
            forward(sw, s.port, sw->qbuf + (size_t)(sw->head % VSW_QUEUE_LEN) * SLOT_SIZE,
                    s.len, NULL, false);
        else
            sw->stale++;
        spin_lock(&sw->qlock);
        sw->head++;
        spin_unlock(&sw->qlock);
    }
}

void vsw_poll(void)
{
    static bool busy;
    if (busy)
        return;                     // a deliver fn that serviced the network: not again
    busy = true;
    now_ns = time_ns();
    for (unsigned i = 0; i < VSW_MAX; i++) {
        struct vsw *sw = &sws[i];
        if (!sw->used)
            continue;
        if (sw->nic)
            sw->nic->ops->rx_poll(sw->nic, uplink_rx, sw, RX_BUDGET);
        drain(sw);
        mac_age(sw);
    }
    busy = false;
}

void net_service(void)
{
    netdev_poll();
    vsw_poll();
    net_poll();
    netdev_flush();
}

/* ---- switches and ports -------------------------------------------------------------- */

static struct vsw_port *port_init(struct vsw *sw, unsigned i, enum port_kind kind,
                                  const char *label)
{
    struct vsw_port *p = &sw->port[i];
    memset(p, 0, sizeof(*p));
    p->sw = sw;
    p->index = (uint8_t)i;
    p->gen = ++port_gen;
    snprintf(p->label, sizeof(p->label), "%s", label);
    spin_lock(&sw->qlock);
    p->kind = (uint8_t)kind;
    spin_unlock(&sw->qlock);
    sw->live |= 1u << i;
    return p;
}

/* The uplink's checks: an interface no other switch holds, whose NIC can go promiscuous. */
static int check_uplink(const char *uplink, struct net_if **nifp, char *err, size_t errlen)
{
    struct net_if *nif = netdev_find(uplink);
    if (!nif)
        return fail(err, errlen, -ENODEV, "no network interface '%s' (see net)", uplink);
    for (unsigned i = 0; i < VSW_MAX; i++)
        if (sws[i].used && sws[i].nif == nif)
            return fail(err, errlen, -EBUSY, "%s is already the uplink of switch %s", uplink,
                        sws[i].name);
    if (netdev_claimed(nif))
        return fail(err, errlen, -EBUSY, "%s is in use", uplink);
    struct nic *n = netdev_nic(nif);
    if (!n->ops->set_promisc)
        return fail(err, errlen, -ENOTSUP, "%s (%s) cannot receive in promiscuous mode", uplink,
                    n->driver);
    *nifp = nif;
    return 0;
}

int vsw_create(const char *name, const char *uplink, char *err, size_t errlen)
{
    struct net_if *nif = NULL;
    struct vsw *sw = NULL;
    if (!name || !valid_name(name))
        return fail(err, errlen, -EINVAL, "bad switch name '%s' (1-%d letters, digits, '-' "
                    "or '_')", name ? name : "", VSW_NAME_MAX - 1);
    if (find(name))
        return fail(err, errlen, -EEXIST, "a switch named %s exists", name);
    for (unsigned i = 0; i < VSW_MAX && !sw; i++)
        if (!sws[i].used)
            sw = &sws[i];
    if (!sw)
        return fail(err, errlen, -ENOSPC, "there are %d switches already (the most)", VSW_MAX);
    if (uplink && uplink[0] && strcmp(uplink, "none")) {
        int rc = check_uplink(uplink, &nif, err, errlen);
        if (rc)
            return rc;
    }
    uint64_t qphys = frame_alloc(0, QUEUE_PAGES, 1, FRAME_ZERO);
    if (!qphys)
        return fail(err, errlen, -ENOMEM, "out of memory for the switch's queue");
    struct nic *n = nif ? netdev_nic(nif) : NULL;
    int rc = n ? n->ops->set_promisc(n, true) : 0;
    if (rc) {
        frame_free(qphys, QUEUE_PAGES);
        return fail(err, errlen, -EIO, "%s: cannot enter promiscuous mode (%d)", uplink, rc);
    }
    memset(sw, 0, sizeof(*sw));
    snprintf(sw->name, sizeof(sw->name), "%s", name);
    sw->qphys = qphys;
    sw->qbuf = phys_to_virt(qphys);
    mac_init(sw);
    now_ns = time_ns();
    if (nif) {
        sw->nif = nif;
        sw->nic = n;
        port_init(sw, UPLINK, PORT_UPLINK, nif->name);
        port_init(sw, HOST, PORT_HOST, "host");
        mac_add(sw, nif->mac, HOST, true);
        netdev_claim(nif, host_tx, sw);     // cannot fail: check_uplink saw it free
    }
    sw->used = true;
    log_info("vsw", "switch %s created (%s%s)", name, nif ? "uplink " : "internal",
             nif ? nif->name : "");
    return 0;
}

int vsw_destroy(const char *name, char *err, size_t errlen)
{
    struct vsw *sw = name ? find(name) : NULL;
    if (!sw)
        return fail(err, errlen, -ENOENT, "no switch named '%s'", name ? name : "");
    char labels[96] = "";
    unsigned guests = 0;
    for (unsigned i = 0; i < VSW_PORTS_MAX; i++) {
        if (sw->port[i].kind != PORT_GUEST)
            continue;
        size_t l = strlen(labels);
        if (l + 1 < sizeof(labels))
            snprintf(labels + l, sizeof(labels) - l, "%s%s", guests ? " " : "",
                     sw->port[i].label);
        guests++;
    }
    if (guests)
        return fail(err, errlen, -EBUSY, "switch %s has %u guest port%s attached (%s)", name,
                    guests, guests == 1 ? "" : "s", labels);
    if (sw->nif) {
        netdev_unclaim(sw->nif);            // lwIP transmits to the NIC again
        int rc = sw->nic->ops->set_promisc(sw->nic, false);
        if (rc)
            log_warn("vsw", "%s: cannot leave promiscuous mode (%d)", sw->nif->name, rc);
    }
    frame_free(sw->qphys, QUEUE_PAGES);     // what the host port had queued goes with it
    log_info("vsw", "switch %s destroyed", sw->name);
    memset(sw, 0, sizeof(*sw));
    return 0;
}

int vsw_port_add(const char *swname, const char *label, vsw_deliver_fn fn, void *ctx,
                 struct vsw_port **out, char *err, size_t errlen)
{
    struct vsw *sw = swname ? find(swname) : NULL;
    if (!sw)
        return fail(err, errlen, -ENOENT, "no switch named '%s'", swname ? swname : "");
    if (!fn || !out)
        return fail(err, errlen, -EINVAL, "no delivery function");
    for (unsigned i = 0; i < VSW_PORTS_MAX; i++) {
        if (sw->port[i].kind != PORT_FREE || (sw->nif && (i == UPLINK || i == HOST)))
            continue;
        struct vsw_port *p = port_init(sw, i, PORT_GUEST, label ? label : "");
        p->fn = fn;
        p->ctx = ctx;
        *out = p;
        return 0;
    }
    return fail(err, errlen, -ENOSPC, "switch %s has no free port (%d at most)", sw->name,
                VSW_PORTS_MAX);
}

void vsw_port_remove(struct vsw_port *p)
{
    if (!p || p->kind != PORT_GUEST) {
        log_err("vsw", "removing a port that is not a guest's");
        return;
    }
    struct vsw *sw = p->sw;
    spin_lock(&sw->qlock);
    p->kind = PORT_FREE;            // its queued frames are stale from now (drain)
    spin_unlock(&sw->qlock);
    sw->live &= ~(1u << p->index);
    mac_forget_port(sw, p->index);
}

/* ---- queries ------------------------------------------------------------------------- */

static void info_of(struct vsw *sw, struct vsw_info *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->name, sizeof(o->name), "%s", sw->name);
    if (sw->nif)
        snprintf(o->uplink, sizeof(o->uplink), "%s", sw->nif->name);
    o->nmacs = sw->nmacs;
    unsigned macs[VSW_PORTS_MAX] = { 0 };
    for (unsigned e = 0; e < VSW_MACS_MAX; e++)
        if (sw->mac[e].port != NO_PORT)
            macs[sw->mac[e].port]++;
    spin_lock(&sw->qlock);          // the guests' rx counters move on other CPUs
    o->queued = sw->tail - sw->head;
    for (unsigned i = 0; i < VSW_PORTS_MAX; i++) {
        struct vsw_port *p = &sw->port[i];
        if (p->kind == PORT_FREE)
            continue;
        struct vsw_port_info *pi = &o->port[o->nports++];
        pi->rx_frames = p->rx_frames;
        pi->rx_bytes = p->rx_bytes;
        pi->drops = p->rx_drops;
    }
    spin_unlock(&sw->qlock);
    for (unsigned i = 0, k = 0; i < VSW_PORTS_MAX; i++) {
        struct vsw_port *p = &sw->port[i];
        if (p->kind == PORT_FREE)
            continue;
        struct vsw_port_info *pi = &o->port[k++];
        snprintf(pi->label, sizeof(pi->label), "%s", p->label);
        snprintf(pi->kind, sizeof(pi->kind), "%s", kind_names[p->kind]);
        pi->tx_frames = p->tx_frames;
        pi->tx_bytes = p->tx_bytes;
        pi->drops += p->tx_drops;
        pi->macs = macs[i];
    }
    o->flooded = sw->flooded;
    o->filtered = sw->filtered;
    o->moves = sw->moves;
    o->evicted = sw->evicted;
    o->aged = sw->aged;
    o->stale = sw->stale;
}

bool vsw_info_get(unsigned i, struct vsw_info *out)
{
    if (i >= VSW_MAX || !sws[i].used)
        return false;
    info_of(&sws[i], out);
    return true;
}

int vsw_info_find(const char *name, struct vsw_info *out)
{
    struct vsw *sw = name ? find(name) : NULL;
    if (!sw)
        return -ENOENT;
    info_of(sw, out);
    return 0;
}

int vsw_mac_get(const char *swname, unsigned i, struct vsw_mac_info *out)
{
    struct vsw *sw = swname ? find(swname) : NULL;
    if (!sw)
        return -ENOENT;
    for (unsigned e = 0; e < VSW_MACS_MAX; e++) {
        const struct mac_entry *x = &sw->mac[e];
        if (x->port == NO_PORT || i--)
            continue;
        memset(out, 0, sizeof(*out));
        memcpy(out->mac, x->mac, 6);
        out->fixed = x->fixed;
        snprintf(out->port, sizeof(out->port), "%s", sw->port[x->port].label);
        uint64_t t = time_ns();
        out->idle_ms = t > x->seen_ns ? (t - x->seen_ns) / 1000000 : 0;
        return 0;
    }
    return -ERANGE;
}

bool vsw_uplink_of(const char *ifname, char name[VSW_NAME_MAX])
{
    for (unsigned i = 0; i < VSW_MAX; i++)
        if (sws[i].used && sws[i].nif && !strcmp(sws[i].nif->name, ifname)) {
            snprintf(name, VSW_NAME_MAX, "%s", sws[i].name);
            return true;
        }
    return false;
}
