/*
 * TCP throughput between ferry hosts (console `net bench`). Every host
 * answers on TCP port 5001 by discarding what it receives; the client
 * sends for a number of seconds and counts the bytes the peer acknowledged.
 */
#ifndef NET_BENCH_H
#define NET_BENCH_H

#include <stdint.h>

#define NET_BENCH_PORT 5001

struct bench_result { uint64_t bytes, elapsed_us; int error; };

int net_bench_listen(void);
/* 0 and *res, or -ECONNREFUSED / -ETIMEDOUT / -ENOMEM. */
int net_bench_run(uint32_t addr_be, unsigned seconds, struct bench_result *res);
uint64_t net_bench_bytes_received(void);

#endif
