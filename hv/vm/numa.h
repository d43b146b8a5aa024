/*
 * NUMA placement: which node(s) a new or incoming VM's memory and vCPUs go
 * to. numa_place() is a pure function of a snapshot of the host (free memory
 * and guest-capable CPUs per node, vCPUs already placed, SLIT distances), so
 * the host tests drive it with made-up machines; numa_snapshot() takes the
 * real one. The rules:
 *   - node=N pins: the VM goes to N or is refused (with spanning on, what
 *     does not fit N spills to the nodes nearest N).
 *   - Otherwise a node that can hold all of the VM: enough free memory and
 *     at least one CPU that runs guests. Among those the least loaded wins:
 *     fewest vCPUs per guest CPU after placing this VM, then the most free
 *     memory, then the smallest SLIT distance to the preferred node (node 0,
 *     the console's), then the lowest index.
 *   - No node fits: with spanning off (the default, numa_spanning=off) the
 *     VM is refused with the reason; with it on the memory is split: the
 *     node with the most free memory first, then the others nearest first
 *     (SLIT from that node), each giving what it has; vCPUs go to the first.
 * Memory is counted in 2 MiB units: a VM's RAM chunks are 2 MiB aligned.
 */
#ifndef HV_NUMA_H
#define HV_NUMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NUMA_MAX_NODES 16
#define NUMA_MAX_PARTS 4            /* = VM_MAX_CHUNKS */
#define NUMA_UNIT (2ull << 20)

struct numa_host {
    unsigned nnodes;
    uint64_t free_bytes[NUMA_MAX_NODES];
    unsigned guest_cpus[NUMA_MAX_NODES];    /* CPUs on the node that run guests */
    unsigned vcpus[NUMA_MAX_NODES];         /* vCPUs already placed on them */
    uint8_t dist[NUMA_MAX_NODES][NUMA_MAX_NODES];  /* SLIT; 10 local */
};

struct numa_request {
    uint64_t mem_bytes;             /* a multiple of NUMA_UNIT */
    unsigned vcpus;
    int node;                       /* -1: any; else pinned */
    bool spanning;
};

struct numa_placement {
    unsigned nparts;
    struct { unsigned node; uint64_t bytes; } part[NUMA_MAX_PARTS];
    unsigned cpu_node;              /* where the vCPUs run */
};

/* 0 and *out, or -ENOMEM / -EINVAL with a one-line reason in err. */
int numa_place(const struct numa_host *h, const struct numa_request *r,
               struct numa_placement *out, char *err, size_t errlen);

/* This host now (hv/vm/numa_host.c; not in the host tests). */
void numa_snapshot(struct numa_host *h);

#endif
