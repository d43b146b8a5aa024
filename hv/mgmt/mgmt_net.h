/* The host's network: interfaces and their counters, addresses, ping, TCP throughput, and
 * the virtual switches (net/vswitch.h) guests' NICs and the host share. */
#ifndef HV_MGMT_NET_H
#define HV_MGMT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mgmt_net_if {
    char name[16];
    const char *driver;
    uint8_t mac[6];
    bool link_up;
    char ip[16], mask[16], gw[16];
    uint64_t rx_packets, rx_bytes, rx_errors, rx_drops;         /* stack and driver summed */
    unsigned rx_bufs, rx_ring, rx_spare, rx_lent;               /* the driver's RX pool */
    uint64_t rx_frames_lent, rx_frames_copied;
    uint64_t tx_packets, tx_bytes, tx_errors, doorbells;
    char vswitch[16];               /* the switch this is the uplink of, or "" */
};
unsigned mgmt_net_if_count(void);
void mgmt_net_if_get(unsigned i, struct mgmt_net_if *out);
int mgmt_net_if_find(const char *name);                     /* index, or -ENOENT */
/* addr "a.b.c.d/prefix" or "dhcp"; gw may be NULL: 0 or -EINVAL. */
int mgmt_net_if_configure(unsigned i, const char *addr, const char *gw);

struct mgmt_ping_result { unsigned sent, received; uint64_t min_us, max_us, sum_us; };
typedef void (*mgmt_ping_reply_fn)(void *ctx, unsigned seq, unsigned bytes, uint64_t rtt_us,
                                   unsigned ttl);
typedef void (*mgmt_ping_lost_fn)(void *ctx, unsigned seq);
/* Blocks (servicing the network) until count echoes were answered or timed out; the callbacks
 * report each as it happens. 0 or -ENOMEM. */
int mgmt_net_ping(uint32_t addr_be, unsigned count, unsigned timeout_ms, mgmt_ping_reply_fn reply,
                  mgmt_ping_lost_fn lost, void *ctx, struct mgmt_ping_result *r);

/* TCP throughput to another ferry host's bench port over streams connections at once (1 to
 * MGMT_BENCH_STREAMS_MAX); on failure *reason says why. */
#define MGMT_BENCH_STREAMS_MAX 8
#define MGMT_BENCH_STREAMS     4      /* the default: enough windows to fill the link */
struct mgmt_bench_result { uint64_t bytes, elapsed_us; };
int mgmt_net_bench(uint32_t addr_be, unsigned seconds, unsigned streams,
                   struct mgmt_bench_result *r, const char **reason);

/* Virtual switches: the data of struct vsw_info / vsw_mac_info (net/vswitch.h) for the
 * console, which sees no net/ header. Errors come as -errno with a reason in err. */
#define MGMT_SWITCH_SLOTS 8             /* = VSW_MAX */
#define MGMT_SWITCH_PORTS 16            /* = VSW_PORTS_MAX */
struct mgmt_switch_port {
    char label[32], kind[8];            /* kind: "uplink", "host" or "guest" */
    uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes, drops;
    unsigned macs;
};
struct mgmt_switch {
    char name[16], uplink[8];           /* uplink "" on an internal switch */
    unsigned nports, nmacs, queued, queue_len;
    uint64_t flooded, filtered, moves, evicted, aged, stale;
    struct mgmt_switch_port port[MGMT_SWITCH_PORTS];
};
struct mgmt_switch_mac {
    uint8_t mac[6];
    bool fixed;
    char port[32];
    uint64_t idle_ms;
};
/* uplink: NULL, "" or "none" for an internal switch. */
int mgmt_switch_create(const char *name, const char *uplink, char *err, size_t errlen);
int mgmt_switch_destroy(const char *name, char *err, size_t errlen);
bool mgmt_switch_get(unsigned slot, struct mgmt_switch *out);  /* slot < MGMT_SWITCH_SLOTS */
int mgmt_switch_find(const char *name, struct mgmt_switch *out, char *err, size_t errlen);
/* Entry i of a switch's MAC table: 0, or -ERANGE past the last (-ENOENT: no switch). */
int mgmt_switch_mac(const char *name, unsigned i, struct mgmt_switch_mac *out);

void mgmt_net_service(void);            /* the control loop's network step */

#endif
