/* `host` and `mem`: what the machine is, as ferry sees it. Stable lines first. */
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smp.h"
#include "hv/console/commands.h"
#include "hv/base/config.h"
#include "hv/host.h"
#include "hv/base/mem.h"
#include "hv/base/time.h"

static uint64_t mib(uint64_t pages)
{
    return (pages * PAGE_SIZE + (1ull << 19)) >> 20;
}

/* "0-1,4" for the online CPUs on node, "none" if there are none. */
static void node_cpus(unsigned node, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < cpu_count; i++) {
        if (!cpus[i].online || cpus[i].node != node)
            continue;
        unsigned j = i;
        while (j + 1 < cpu_count && cpus[j + 1].online && cpus[j + 1].node == node)
            j++;
        off += snprintf(buf + off, off < n ? n - off : 0, off ? ",%u" : "%u", i);
        if (j > i)
            off += snprintf(buf + off, off < n ? n - off : 0, "-%u", j);
        i = j;
    }
    if (!off)
        snprintf(buf, n, "none");
}

static void print_cpus(struct con *c)
{
    char vendor[13], brand[49];
    unsigned online = 0;

    cpu_vendor(vendor);
    cpu_brand(brand);
    con_printf(c, "cpu vendor: %s\n", vendor);
    for (unsigned i = 0; i < cpu_count; i++)
        online += cpus[i].online;
    con_printf(c, "cpus: %u online (apic", online);
    for (unsigned i = 0; i < cpu_count; i++)
        if (cpus[i].online)
            con_printf(c, " %u", cpus[i].apic_id);
    con_puts(c, ")\n");
    (void)brand;
}

static void print_nodes(struct con *c)
{
    con_printf(c, "numa nodes: %u\n", frame_nodes());
    con_printf(c, "numa spanning: %s\n", hv_config.numa_spanning ? "on" : "off");
    for (unsigned n = 0; n < frame_nodes(); n++) {
        struct frame_stats st;
        char list[128];
        frame_node_stats(n, &st);
        node_cpus(n, list, sizeof(list));
        con_printf(c, "node %u: cpus %s mem %llu MiB free %llu MiB\n", n, list,
                   (unsigned long long)mib(st.ram_pages), (unsigned long long)mib(st.free_pages));
    }
}

static void print_details(struct con *c)
{
    char brand[49];
    cpu_brand(brand);
    con_printf(c, "hostname: %s\n", hv_config.hostname);
    con_printf(c, "cpu model: %s\n", brand[0] ? brand : "unknown");
    con_printf(c, "cpu source: %s (%u listed, %u started)\n", host.cpu_source, cpu_count,
               smp_online());
    con_printf(c, "tsc: %llu kHz (%s)\n", (unsigned long long)time_tsc_khz(), host.tsc_source);
    if (!host.have_acpi) {
        con_puts(c, "acpi: none\n");
        return;
    }
    const struct acpi_info *a = &host.acpi;
    con_printf(c, "acpi: rsdp 0x%llx rev %u tables", (unsigned long long)a->rsdp_phys, a->revision);
    for (unsigned i = 0; i < a->tables_found && i < ACPI_MAX_SIGS; i++)
        con_printf(c, " %s%s", a->table_sigs[i], (a->table_bad_mask >> i) & 1 ? "(bad)" : "");
    con_printf(c, " bad %u\n", a->tables_bad);
    if (a->nnodes > 1) {
        con_puts(c, "distances:");
        for (unsigned i = 0; i < a->nnodes; i++) {
            con_printf(c, " node %u:", i);
            for (unsigned j = 0; j < a->nnodes; j++)
                con_printf(c, " %u", a->slit[i][j]);
        }
        con_puts(c, "\n");
    }
    for (unsigned i = 0; i < a->nmcfg; i++)
        con_printf(c, "pci ecam: segment %u buses %u-%u at 0x%llx\n", a->mcfg[i].segment,
                   a->mcfg[i].bus_start, a->mcfg[i].bus_end, (unsigned long long)a->mcfg[i].base);
}

int cmd_host(struct con *c, int argc, char **argv)
{
    char virt[96];
    if (argc == 3 && !strcmp(argv[1], "numa-spanning") &&
        (!strcmp(argv[2], "on") || !strcmp(argv[2], "off"))) {
        hv_config.numa_spanning = !strcmp(argv[2], "on");
        con_printf(c, "numa spanning: %s (new and incoming VMs)\n", argv[2]);
        return 0;
    }
    if (argc != 1) {
        con_usage(c, cmd_find("host"));
        return -1;
    }
    print_cpus(c);
    print_nodes(c);
    virt_caps_format(&host.virt, virt, sizeof(virt));
    con_printf(c, "virt: %s\n", virt);
    if (host.virt.disabled_by_firmware)
        con_printf(c, "virt note: %s is disabled by firmware\n",
                   host.virt.kind == VIRT_VMX ? "vmx" : "svm");
    print_details(c);
    return 0;
}

static void print_map(struct con *c)
{
    static const char *const names[] = { "?", "usable", "reserved", "acpi", "acpi-nvs", "core",
                                         "mmio" };
    const struct boot_info *bi = host.bi;
    for (uint32_t i = 0; i < bi->nregions; i++) {
        const struct boot_mem_region *r = &bi->regions[i];
        con_printf(c, "  0x%010llx-0x%010llx %8llu KiB %s\n", (unsigned long long)r->base,
                   (unsigned long long)(r->base + r->pages * PAGE_SIZE - 1),
                   (unsigned long long)(r->pages * 4),
                   r->type < sizeof(names) / sizeof(names[0]) ? names[r->type] : "?");
    }
}

int cmd_mem(struct con *c, int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "map") == 0) {
        print_map(c);
        return 0;
    }
    if (argc != 1) {
        con_usage(c, cmd_find("mem"));
        return -1;
    }
    for (unsigned n = 0; n < frame_nodes(); n++) {
        struct frame_stats st;
        frame_node_stats(n, &st);
        con_printf(c, "node %u: ram %llu MiB managed %llu MiB free %llu MiB (%llu pages) zones %u\n",
                   n, (unsigned long long)mib(st.ram_pages), (unsigned long long)mib(st.total_pages),
                   (unsigned long long)mib(st.free_pages), (unsigned long long)st.free_pages,
                   st.zones);
    }
    for (unsigned i = 0; i < frame_zone_count(); i++) {
        const struct frame_zone *z = frame_zone_get(i);
        con_printf(c, "  zone %u: node %u 0x%010llx-0x%010llx %llu pages, %llu free\n", i, z->node,
                   (unsigned long long)z->base,
                   (unsigned long long)(z->base + z->pages * PAGE_SIZE - 1),
                   (unsigned long long)z->pages, (unsigned long long)z->free);
    }
    return 0;
}
