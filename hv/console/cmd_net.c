/* `pci`, `net`, `net ip`, `net bench`, `ping`, `switch`: devices and the host's network. */
#include <errno.h>
#include <string.h>

#include "hv/base/cmdline.h"
#include "hv/console/commands.h"
#include "hv/mgmt/mgmt.h"
#include "hv/mgmt/mgmt_host.h"
#include "hv/mgmt/mgmt_net.h"

int cmd_pci(struct con *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        con_usage(c, cmd_find("pci"));
        return -EINVAL;
    }
    con_printf(c, "pci: %u functions (%s)\n", mgmt_pci_count(), mgmt_pci_method());
    for (unsigned i = 0; i < mgmt_pci_count(); i++) {
        struct mgmt_pci_fn d;
        mgmt_pci_get(i, &d);
        con_printf(c, "%04x:%02x:%02x.%u %04x:%04x class %02x%02x %s\n", d.segment, d.bus, d.dev,
                   d.fn, d.vendor, d.device, d.class_code, d.subclass,
                   d.driver ? d.driver : "-");
    }
    return 0;
}

static void print_if(struct con *c, unsigned i)
{
    struct mgmt_net_if f;
    mgmt_net_if_get(i, &f);
    con_printf(c, "%s: driver %s mac %02x:%02x:%02x:%02x:%02x:%02x link %s ip %s mask %s gw %s\n",
               f.name, f.driver, f.mac[0], f.mac[1], f.mac[2], f.mac[3], f.mac[4], f.mac[5],
               f.link_up ? "up" : "down", f.ip, f.mask, f.gw);
    con_printf(c, "  rx packets %llu bytes %llu errors %llu drops %llu\n",
               (unsigned long long)f.rx_packets, (unsigned long long)f.rx_bytes,
               (unsigned long long)f.rx_errors, (unsigned long long)f.rx_drops);
    con_printf(c, "  rx buffers %u ring %u spare %u lent %u, frames lent %llu copied %llu\n",
               f.rx_bufs, f.rx_ring, f.rx_spare, f.rx_lent, (unsigned long long)f.rx_frames_lent,
               (unsigned long long)f.rx_frames_copied);
    con_printf(c, "  tx packets %llu bytes %llu errors %llu, doorbells %llu\n",
               (unsigned long long)f.tx_packets, (unsigned long long)f.tx_bytes,
               (unsigned long long)f.tx_errors, (unsigned long long)f.doorbells);
    if (f.vswitch[0])
        con_printf(c, "  uplink of switch %s (promiscuous)\n", f.vswitch);
}

static int parse_addr(struct con *c, const char *s, uint32_t *be)
{
    if (mgmt_ip4_parse(s, be)) {
        con_printf(c, "error: '%s' is not an IPv4 address\n", s);
        return -EINVAL;
    }
    return 0;
}

static int net_bench_cmd(struct con *c, int argc, char **argv)
{
    uint32_t addr;
    uint64_t secs = 5, streams = MGMT_BENCH_STREAMS;
    struct mgmt_bench_result r;
    const char *reason;
    if (parse_addr(c, argv[2], &addr))
        return -EINVAL;
    for (int i = 3; i < argc; i++) {
        if (!strncmp(argv[i], "streams=", 8)) {
            if (cmdline_u64(argv[i] + 8, 1, MGMT_BENCH_STREAMS_MAX, &streams)) {
                con_printf(c, "error: streams must be 1-%u\n", MGMT_BENCH_STREAMS_MAX);
                return -EINVAL;
            }
        } else if (cmdline_u64(argv[i], 1, 600, &secs)) {
            con_puts(c, "error: seconds must be 1-600\n");
            return -EINVAL;
        }
    }
    int rc = mgmt_net_bench(addr, (unsigned)secs, (unsigned)streams, &r, &reason);
    if (rc) {
        con_printf(c, "bench: failed reason=%s\n", reason);
        return rc;
    }
    uint64_t us = r.elapsed_us ? r.elapsed_us : 1;
    uint64_t kbps = r.bytes * 8 * 1000 / us;        /* bits per ms = kbit/s */
    con_printf(c, "bench: mbps=%llu.%llu bytes=%llu seconds=%llu.%03llu streams=%llu\n",
               (unsigned long long)(kbps / 1000), (unsigned long long)(kbps % 1000 / 100),
               (unsigned long long)r.bytes, (unsigned long long)(us / 1000000),
               (unsigned long long)(us / 1000 % 1000), (unsigned long long)streams);
    return 0;
}

int cmd_net(struct con *c, int argc, char **argv)
{
    if (argc == 1) {
        if (!mgmt_net_if_count())
            con_puts(c, "no network interfaces\n");
        for (unsigned i = 0; i < mgmt_net_if_count(); i++)
            print_if(c, i);
        return 0;
    }
    if ((argc == 4 || argc == 6) && !strcmp(argv[1], "ip")) {
        int i = mgmt_net_if_find(argv[2]);
        if (i < 0) {
            con_printf(c, "error: no interface '%s'\n", argv[2]);
            return -ENOENT;
        }
        if (argc == 6 && strcmp(argv[4], "gw")) {
            con_usage(c, cmd_find("net"));
            return -EINVAL;
        }
        if (mgmt_net_if_configure((unsigned)i, argv[3], argc == 6 ? argv[5] : NULL)) {
            con_printf(c, "error: bad address '%s' (a.b.c.d/prefix or dhcp)\n", argv[3]);
            return -EINVAL;
        }
        print_if(c, (unsigned)i);
        return 0;
    }
    if (argc >= 3 && argc <= 5 && !strcmp(argv[1], "bench"))
        return net_bench_cmd(c, argc, argv);
    con_usage(c, cmd_find("net"));
    return -EINVAL;
}

static void ping_reply(void *ctx, unsigned seq, unsigned bytes, uint64_t rtt_us, unsigned ttl)
{
    con_printf(ctx, "reply seq=%u bytes=%u ttl=%u time=%llu.%03llu ms\n", seq, bytes, ttl,
               (unsigned long long)(rtt_us / 1000), (unsigned long long)(rtt_us % 1000));
}

static void ping_lost(void *ctx, unsigned seq)
{
    con_printf(ctx, "timeout seq=%u\n", seq);
}

int cmd_ping(struct con *c, int argc, char **argv)
{
    uint32_t addr;
    uint64_t count = 4;
    struct mgmt_ping_result r;
    if (argc < 2 || argc > 3) {
        con_usage(c, cmd_find("ping"));
        return -EINVAL;
    }
    if (parse_addr(c, argv[1], &addr))
        return -EINVAL;
    if (argc == 3 && cmdline_u64(argv[2], 1, 1000, &count)) {
        con_puts(c, "error: count must be 1-1000\n");
        return -EINVAL;
    }
    if (mgmt_net_ping(addr, (unsigned)count, 1000, ping_reply, ping_lost, c, &r)) {
        con_puts(c, "error: out of memory\n");
        return -ENOMEM;
    }
    uint64_t avg = r.received ? r.sum_us / r.received : 0;
    con_printf(c, "ping: sent=%u received=%u loss=%u%% min=%llu.%03llu avg=%llu.%03llu "
               "max=%llu.%03llu ms\n", r.sent, r.received,
               r.sent ? (r.sent - r.received) * 100 / r.sent : 0,
               (unsigned long long)(r.min_us / 1000), (unsigned long long)(r.min_us % 1000),
               (unsigned long long)(avg / 1000), (unsigned long long)(avg % 1000),
               (unsigned long long)(r.max_us / 1000), (unsigned long long)(r.max_us % 1000));
    return r.received ? 0 : -ETIMEDOUT;
}

/* ---- switch ---------------------------------------------------------------------------- */

/* One line for the switch (starting with its name), one per port, one per MAC. */
static void print_switch(struct con *c, const struct mgmt_switch *s)
{
    con_printf(c, "%s: uplink %s ports %u macs %u queued %u/%u flooded %llu filtered %llu "
               "moves %llu evicted %llu aged %llu stale %llu\n", s->name,
               s->uplink[0] ? s->uplink : "none", s->nports, s->nmacs, s->queued, s->queue_len,
               (unsigned long long)s->flooded, (unsigned long long)s->filtered,
               (unsigned long long)s->moves, (unsigned long long)s->evicted,
               (unsigned long long)s->aged, (unsigned long long)s->stale);
    for (unsigned i = 0; i < s->nports; i++) {
        const struct mgmt_switch_port *p = &s->port[i];
        con_printf(c, "  port %s kind %s macs %u rx %llu frames %llu bytes tx %llu frames "
                   "%llu bytes drops %llu\n", p->label[0] ? p->label : "-", p->kind, p->macs,
                   (unsigned long long)p->rx_frames, (unsigned long long)p->rx_bytes,
                   (unsigned long long)p->tx_frames, (unsigned long long)p->tx_bytes,
                   (unsigned long long)p->drops);
    }
    struct mgmt_switch_mac m;
    for (unsigned i = 0; !mgmt_switch_mac(s->name, i, &m); i++) {
        con_printf(c, "  mac %02x:%02x:%02x:%02x:%02x:%02x port %s ", m.mac[0], m.mac[1],
                   m.mac[2], m.mac[3], m.mac[4], m.mac[5], m.port);
        if (m.fixed)
            con_puts(c, "fixed\n");
        else
            con_printf(c, "idle %llus\n", (unsigned long long)(m.idle_ms / 1000));
    }
}

static int switch_list(struct con *c, int argc, char **argv)
{
    struct mgmt_switch s;
    char err[96];
    if (argc == 3) {
        if (mgmt_switch_find(argv[2], &s, err, sizeof(err))) {
            con_printf(c, "error: %s\n", err);
            return -ENOENT;
        }
        print_switch(c, &s);
        return 0;
    }
    unsigned n = 0;
    for (unsigned i = 0; i < MGMT_SWITCH_SLOTS; i++)
        if (mgmt_switch_get(i, &s)) {
            print_switch(c, &s);
            n++;
        }
    if (!n)
        con_puts(c, "no switches\n");
    return 0;
}

static int switch_create(struct con *c, int argc, char **argv)
{
    const char *uplink = NULL;
    char err[96];
    if (argc == 4) {
        if (strncmp(argv[3], "uplink=", 7)) {
            con_printf(c, "error: bad option '%s' (uplink=IF or uplink=none)\n", argv[3]);
            return -EINVAL;
        }
        uplink = argv[3] + 7;
        if (!*uplink) {
            con_puts(c, "error: uplink= needs an interface (see net), or none\n");
            return -EINVAL;
        }
    }
    int rc = mgmt_switch_create(argv[2], uplink, err, sizeof(err));
    if (rc) {
        con_printf(c, "error: %s\n", err);
        return rc;
    }
    con_printf(c, "switch %s: ok\n", argv[2]);
    return 0;
}

int cmd_switch(struct con *c, int argc, char **argv)
{
    char err[96];
    if (argc >= 2 && !strcmp(argv[1], "list") && argc <= 3)
        return switch_list(c, argc, argv);
    if (argc >= 3 && argc <= 4 && !strcmp(argv[1], "create"))
        return switch_create(c, argc, argv);
    if (argc == 3 && !strcmp(argv[1], "destroy")) {
        int rc = mgmt_switch_destroy(argv[2], err, sizeof(err));
        if (rc) {
            con_printf(c, "error: %s\n", err);
            return rc;
        }
        con_printf(c, "switch %s: ok\n", argv[2]);
        return 0;
    }
    con_usage(c, cmd_find("switch"));
    return -EINVAL;
}
