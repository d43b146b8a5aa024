/* ICMP echo from the host (console `ping`), over lwIP's raw API. */
#ifndef NET_PING_H
#define NET_PING_H

#include <stdint.h>

struct ping_result { unsigned sent, received; uint64_t min_us, max_us, sum_us; };
typedef void (*ping_reply_fn)(void *ctx, unsigned seq, unsigned bytes, uint64_t rtt_us, unsigned ttl);
typedef void (*ping_lost_fn)(void *ctx, unsigned seq);

/* Sends count echo requests to addr (network order), one after the other, waiting up to
 * timeout_ms for each reply while keeping the network serviced. 0, or -ENOMEM. */
int net_ping(uint32_t addr_be, unsigned count, unsigned timeout_ms, ping_reply_fn reply,
             ping_lost_fn lost, void *ctx, struct ping_result *res);

#endif
