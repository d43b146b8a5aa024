/* NUMA placement decisions (see hv/vm/numa.h): pure, host-testable. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/vm/numa.h"

static uint64_t units(uint64_t bytes) { return bytes / NUMA_UNIT; }

static uint8_t dist(const struct numa_host *h, unsigned a, unsigned b)
{
    return h->dist[a][b] ? h->dist[a][b] : (a == b ? 10 : 20);
}

/* -1, 0 or 1: is node a a better home than b for r (both hold all of it)? */
static int better(const struct numa_host *h, const struct numa_request *r, unsigned a, unsigned b)
{
    /* Load after placing: (vcpus + r) / cpus, compared without division. */
    uint64_t la = (uint64_t)(h->vcpus[a] + r->vcpus) * h->guest_cpus[b];
    uint64_t lb = (uint64_t)(h->vcpus[b] + r->vcpus) * h->guest_cpus[a];
    if (la != lb)
        return la < lb ? 1 : -1;
    if (units(h->free_bytes[a]) != units(h->free_bytes[b]))
        return units(h->free_bytes[a]) > units(h->free_bytes[b]) ? 1 : -1;
    if (dist(h, 0, a) != dist(h, 0, b))
        return dist(h, 0, a) < dist(h, 0, b) ? 1 : -1;
    return a < b ? 1 : -1;
}

/* Fills out from start, then the other nodes nearest start first; false if it cannot. */
static bool spill(const struct numa_host *h, uint64_t need, unsigned start,
                  struct numa_placement *out)
{
    bool used[NUMA_MAX_NODES] = { false };
    unsigned node = start;
    out->nparts = 0;
    out->cpu_node = start;
    while (need) {
        uint64_t take = units(h->free_bytes[node]) < need ? units(h->free_bytes[node]) : need;
        if (take) {
            if (out->nparts == NUMA_MAX_PARTS)
                return false;
            out->part[out->nparts].node = node;
            out->part[out->nparts++].bytes = take * NUMA_UNIT;
            need -= take;
        }
        used[node] = true;
        unsigned next = NUMA_MAX_NODES;
        for (unsigned n = 0; n < h->nnodes; n++)
            if (!used[n] && (next == NUMA_MAX_NODES || dist(h, start, n) < dist(h, start, next)))
                next = n;
        if (need && next == NUMA_MAX_NODES)
            return false;
        node = next;
    }
    return true;
}

static uint64_t total_free_units(const struct numa_host *h)
{
    uint64_t t = 0;
    for (unsigned n = 0; n < h->nnodes; n++)
        t += units(h->free_bytes[n]);
    return t;
}

int numa_place(const struct numa_host *h, const struct numa_request *r,
               struct numa_placement *out, char *err, size_t errlen)
{
    uint64_t need = units(r->mem_bytes);
    memset(out, 0, sizeof(*out));
    if (!h->nnodes || h->nnodes > NUMA_MAX_NODES || !need || r->mem_bytes % NUMA_UNIT) {
        snprintf(err, errlen, "bad placement request");
        return -EINVAL;
    }
    if (r->node >= 0) {
        unsigned n = (unsigned)r->node;
        if (n >= h->nnodes) {
            snprintf(err, errlen, "no node %u (this host has %u)", n, h->nnodes);
            return -EINVAL;
        }
        if (units(h->free_bytes[n]) >= need) {
            out->nparts = 1;
            out->part[0].node = n;
            out->part[0].bytes = r->mem_bytes;
            out->cpu_node = n;
            return 0;
        }
        if (r->spanning && spill(h, need, n, out))
            return 0;
        snprintf(err, errlen, "node %u has %llu MiB free, the VM needs %llu MiB%s", n,
                 (unsigned long long)(h->free_bytes[n] >> 20),
                 (unsigned long long)(r->mem_bytes >> 20),
                 r->spanning ? " (with the nearest nodes too)" : " (numa_spanning=off)");
        return -ENOMEM;
    }
    unsigned best = NUMA_MAX_NODES, most = 0;
    for (unsigned n = 0; n < h->nnodes; n++) {
        if (units(h->free_bytes[n]) > units(h->free_bytes[most]))
            most = n;
        if (units(h->free_bytes[n]) < need || !h->guest_cpus[n])
            continue;
        if (best == NUMA_MAX_NODES || better(h, r, n, best) > 0)
            best = n;
    }
    if (best != NUMA_MAX_NODES) {
        out->nparts = 1;
        out->part[0].node = best;
        out->part[0].bytes = r->mem_bytes;
        out->cpu_node = best;
        return 0;
    }
    if (r->spanning && total_free_units(h) >= need) {
        /* Start where most memory is free and guests can run. */
        unsigned start = NUMA_MAX_NODES;
        for (unsigned n = 0; n < h->nnodes; n++)
            if (h->guest_cpus[n] && (start == NUMA_MAX_NODES ||
                                     units(h->free_bytes[n]) > units(h->free_bytes[start])))
                start = n;
        if (start != NUMA_MAX_NODES && spill(h, need, start, out))
            return 0;
    }
    if (h->nnodes == 1)
        snprintf(err, errlen, "not enough free memory: the VM needs %llu MiB, this host has "
                 "%llu MiB free in 2 MiB units", (unsigned long long)(r->mem_bytes >> 20),
                 (unsigned long long)(h->free_bytes[0] >> 20));
    else if (r->spanning)
        snprintf(err, errlen, "the VM needs %llu MiB; all nodes together have %llu MiB free "
                 "in 2 MiB units", (unsigned long long)(r->mem_bytes >> 20),
                 (unsigned long long)(total_free_units(h) * 2));
    else
        snprintf(err, errlen, "the VM (%llu MiB) fits no single NUMA node (most free: node %u "
                 "with %llu MiB) and numa_spanning=off",
                 (unsigned long long)(r->mem_bytes >> 20), most,
                 (unsigned long long)(h->free_bytes[most] >> 20));
    return -ENOMEM;
}
