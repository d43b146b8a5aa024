/* The host as hv/vm/numa.c sees it: free memory, guest CPUs and vCPUs per node, SLIT. */
#include "arch/x86_64/percpu.h"
#include "hv/host.h"
#include "hv/base/mem.h"
#include "hv/vm/numa.h"
#include "hv/vm/sched.h"

void numa_snapshot(struct numa_host *h)
{
    *h = (struct numa_host){ .nnodes = frame_nodes() };
    if (h->nnodes > NUMA_MAX_NODES)
        h->nnodes = NUMA_MAX_NODES;
    for (unsigned n = 0; n < h->nnodes; n++) {
        /* What guest RAM can use: whole free 2 MiB blocks (a VM takes several runs). */
        h->free_bytes[n] = frame_node_blocks(n, NUMA_UNIT / PAGE_SIZE, NULL) * NUMA_UNIT;
        for (unsigned m = 0; m < h->nnodes; m++)
            h->dist[n][m] = host.have_acpi && host.acpi.have_slit && n < ACPI_MAX_NODES &&
                            m < ACPI_MAX_NODES ? host.acpi.slit[n][m] : (n == m ? 10 : 20);
    }
    for (unsigned i = 1; i < cpu_count; i++) {          /* the BSP runs the control plane */
        if (!sched_cpu_ready(i) || cpus[i].node >= h->nnodes)
            continue;
        h->guest_cpus[cpus[i].node]++;
        h->vcpus[cpus[i].node] += sched_load(i);
    }
}
