/*
 * TCP throughput between ferry hosts (console `net bench`). Every host
 * answers on TCP port 5001 by discarding what it receives; the client
 * sends for a number of seconds over one or more connections at once and
 * counts the bytes the peer acknowledged on all of them: what the link
 * carries, rather than what one connection's window lets through.
 */
#ifndef NET_BENCH_H
#define NET_BENCH_H

#include <stdint.h>

#define NET_BENCH_PORT 5001
#define NET_BENCH_STREAMS_MAX 8

struct bench_result { uint64_t bytes, elapsed_us; int error; };

int net_bench_listen(void);
/* streams: 1..NET_BENCH_STREAMS_MAX connections. 0 and *res, or -EINVAL / -ECONNREFUSED /
 * -ETIMEDOUT / -ENOMEM / -ECONNRESET (a connection failed during the run). */
int net_bench_run(uint32_t addr_be, unsigned seconds, unsigned streams,
                  struct bench_result *res);
uint64_t net_bench_bytes_received(void);

#endif
