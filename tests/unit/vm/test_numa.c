/*
 * Host tests for hv/vm/numa.c: placement on made-up machines (free memory, guest CPUs, vCPUs
 * already placed, SLIT), pinning, spanning on and off, and the refusal reasons.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hv/vm/numa.h"

#define MiB (1ull << 20)

/* n nodes, free MiB and guest CPUs each, SLIT 10 local / 20 remote unless set. */
static struct numa_host machine(unsigned n, const uint64_t *free_mib, const unsigned *cpus)
{
    struct numa_host h = { .nnodes = n };
    for (unsigned i = 0; i < n; i++) {
        h.free_bytes[i] = free_mib[i] * MiB;
        h.guest_cpus[i] = cpus[i];
        for (unsigned j = 0; j < n; j++)
            h.dist[i][j] = i == j ? 10 : 20;
    }
    return h;
}

static int place(const struct numa_host *h, uint64_t mib, unsigned vcpus, int node, bool span,
                 struct numa_placement *p, char *err)
{
    struct numa_request r = { mib * MiB, vcpus, node, span };
    return numa_place(h, &r, p, err, 200);
}

static void assert_one(const struct numa_placement *p, unsigned node, uint64_t mib)
{
    assert_int_equal(p->nparts, 1);
    assert_int_equal(p->part[0].node, node);
    assert_int_equal(p->part[0].bytes, mib * MiB);
    assert_int_equal(p->cpu_node, node);
}

static void test_picks_the_node_that_fits(void **state)
{
    /* Unequal nodes: 300 MiB and 100 MiB free, two guest CPUs each. */
    struct numa_host h = machine(2, (uint64_t[]){ 300, 100 }, (unsigned[]){ 2, 2 });
    struct numa_placement p;
    char err[200];
    (void)state;
    assert_int_equal(place(&h, 200, 1, -1, false, &p, err), 0);
    assert_one(&p, 0, 200);
    h = machine(2, (uint64_t[]){ 100, 300 }, (unsigned[]){ 2, 2 });
    assert_int_equal(place(&h, 200, 1, -1, false, &p, err), 0);
    assert_one(&p, 1, 200);
    /* Exactly the free amount fits. */
    assert_int_equal(place(&h, 300, 1, -1, false, &p, err), 0);
    assert_one(&p, 1, 300);
}

static void test_least_loaded_then_free_then_distance(void **state)
{
    struct numa_host h = machine(3, (uint64_t[]){ 500, 500, 500 }, (unsigned[]){ 1, 2, 2 });
    struct numa_placement p;
    char err[200];
    (void)state;
    /* Node 0 has one guest CPU, the others two: fewer vCPUs per CPU on 1 or 2; equal free
     * memory and distance from node 0, so the lower index. */
    assert_int_equal(place(&h, 64, 2, -1, false, &p, err), 0);
    assert_one(&p, 1, 64);
    h.vcpus[1] = 3;
    assert_int_equal(place(&h, 64, 2, -1, false, &p, err), 0);
    assert_one(&p, 2, 64);
    /* Same load: more free memory wins. */
    h.vcpus[1] = 0;
    h.free_bytes[2] = 600 * MiB;
    assert_int_equal(place(&h, 64, 2, -1, false, &p, err), 0);
    assert_one(&p, 2, 64);
    /* Same load and memory: nearer to node 0 (SLIT) wins. */
    h.free_bytes[2] = 500 * MiB;
    h.dist[0][1] = 31;
    h.dist[0][2] = 21;
    assert_int_equal(place(&h, 64, 2, -1, false, &p, err), 0);
    assert_one(&p, 2, 64);
    /* Differences below 2 MiB do not count as more free memory. */
    h.dist[0][1] = h.dist[0][2] = 20;
    h.free_bytes[1] = 500 * MiB + 1024 * 1024;
    assert_int_equal(place(&h, 64, 2, -1, false, &p, err), 0);
    assert_one(&p, 1, 64);
}

static void test_nodes_without_guest_cpus_are_skipped(void **state)
{
    struct numa_host h = machine(2, (uint64_t[]){ 900, 100 }, (unsigned[]){ 0, 1 });
    struct numa_placement p;
    char err[200];
    (void)state;
    assert_int_equal(place(&h, 64, 1, -1, false, &p, err), 0);
    assert_one(&p, 1, 64);
    /* Only the CPU-less node has the memory: refused without spanning. */
    assert_int_equal(place(&h, 200, 1, -1, false, &p, err), -ENOMEM);
}

static void test_pinning(void **state)
{
    struct numa_host h = machine(2, (uint64_t[]){ 300, 100 }, (unsigned[]){ 2, 2 });
    struct numa_placement p;
    char err[200];
    (void)state;
    assert_int_equal(place(&h, 64, 1, 1, false, &p, err), 0);
    assert_one(&p, 1, 64);
    assert_int_equal(place(&h, 200, 1, 1, false, &p, err), -ENOMEM);
    assert_non_null(strstr(err, "node 1 has 100 MiB free"));
    assert_non_null(strstr(err, "numa_spanning=off"));
    assert_int_equal(place(&h, 64, 1, 2, false, &p, err), -EINVAL);
    assert_non_null(strstr(err, "no node 2"));
    /* Pinned with spanning: node 1 first, the rest from the nearest. */
    assert_int_equal(place(&h, 200, 1, 1, true, &p, err), 0);
    assert_int_equal(p.nparts, 2);
    assert_int_equal(p.part[0].node, 1);
    assert_int_equal(p.part[0].bytes, 100 * MiB);
    assert_int_equal(p.part[1].node, 0);
    assert_int_equal(p.part[1].bytes, 100 * MiB);
    assert_int_equal(p.cpu_node, 1);
}

static void test_spanning_off_refuses(void **state)
{
    struct numa_host h = machine(2, (uint64_t[]){ 300, 200 }, (unsigned[]){ 2, 2 });
    struct numa_placement p;
    char err[200];
    (void)state;
    assert_int_equal(place(&h, 400, 1, -1, false, &p, err), -ENOMEM);
    assert_string_equal(err, "the VM (400 MiB) fits no single NUMA node (most free: node 0 "
                             "with 300 MiB) and numa_spanning=off");
    assert_int_equal(p.nparts, 0);
}

static void test_spanning_on_nearest_first(void **state)
{
    /* Four nodes; node 2 has the most memory; from 2, node 3 is nearest, then 0, then 1. */
    struct numa_host h = machine(4, (uint64_t[]){ 100, 100, 300, 100 },
                                 (unsigned[]){ 1, 1, 1, 1 });
    struct numa_placement p;
    char err[200];
    (void)state;
    h.dist[2][3] = 12;
    h.dist[2][0] = 16;
    h.dist[2][1] = 30;
    assert_int_equal(place(&h, 500, 2, -1, true, &p, err), 0);
    assert_int_equal(p.nparts, 3);
    assert_int_equal(p.cpu_node, 2);
    assert_int_equal(p.part[0].node, 2);
    assert_int_equal(p.part[0].bytes, 300 * MiB);
    assert_int_equal(p.part[1].node, 3);
    assert_int_equal(p.part[1].bytes, 100 * MiB);
    assert_int_equal(p.part[2].node, 0);
    assert_int_equal(p.part[2].bytes, 100 * MiB);
    /* Fits one node: spanning on changes nothing. */
    assert_int_equal(place(&h, 200, 2, -1, true, &p, err), 0);
    assert_one(&p, 2, 200);
    /* More than everything. */
    assert_int_equal(place(&h, 602, 2, -1, true, &p, err), -ENOMEM);
    assert_non_null(strstr(err, "all nodes together have 600 MiB free"));
}

static void test_spanning_part_limit_and_units(void **state)
{
    /* Five nodes of 100 MiB: 450 MiB needs five parts, more than a VM has chunks. */
    struct numa_host h = machine(5, (uint64_t[]){ 100, 100, 100, 100, 100 },
                                 (unsigned[]){ 1, 1, 1, 1, 1 });
    struct numa_placement p;
    char err[200];
    (void)state;
    assert_int_equal(place(&h, 450, 1, -1, true, &p, err), -ENOMEM);
    assert_int_equal(place(&h, 400, 1, -1, true, &p, err), 0);
    assert_int_equal(p.nparts, 4);
    /* Free memory counts in whole 2 MiB units. */
    h = machine(2, (uint64_t[]){ 3, 3 }, (unsigned[]){ 1, 1 });
    assert_int_equal(place(&h, 4, 1, -1, false, &p, err), -ENOMEM);
    assert_int_equal(place(&h, 4, 1, -1, true, &p, err), 0);
    assert_int_equal(p.nparts, 2);
    assert_int_equal(p.part[0].bytes + p.part[1].bytes, 4 * MiB);
}

static void test_bad_requests(void **state)
{
    struct numa_host h = machine(1, (uint64_t[]){ 300 }, (unsigned[]){ 1 });
    struct numa_placement p;
    char err[200];
    struct numa_request odd = { 3 * MiB, 1, -1, false };
    (void)state;
    assert_int_equal(place(&h, 302, 1, -1, false, &p, err), -ENOMEM);
    assert_string_equal(err, "not enough free memory: the VM needs 302 MiB, this host has 300 "
                             "MiB free in 2 MiB units");
    assert_int_equal(place(&h, 0, 1, -1, false, &p, err), -EINVAL);
    assert_int_equal(numa_place(&h, &odd, &p, err, sizeof(err)), -EINVAL);
    h.nnodes = 0;
    assert_int_equal(place(&h, 2, 1, -1, false, &p, err), -EINVAL);
    h.nnodes = NUMA_MAX_NODES + 1;
    assert_int_equal(place(&h, 2, 1, -1, false, &p, err), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_picks_the_node_that_fits),
        cmocka_unit_test(test_least_loaded_then_free_then_distance),
        cmocka_unit_test(test_nodes_without_guest_cpus_are_skipped),
        cmocka_unit_test(test_pinning),
        cmocka_unit_test(test_spanning_off_refuses),
        cmocka_unit_test(test_spanning_on_nearest_first),
        cmocka_unit_test(test_spanning_part_limit_and_units),
        cmocka_unit_test(test_bad_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
