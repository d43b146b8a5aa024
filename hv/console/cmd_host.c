/* `host` and `mem`: what the machine is, as ferry sees it. Stable lines first. */
#include <string.h>

#include "hv/base/civil.h"
#include "hv/base/mem.h"
#include "hv/console/commands.h"
#include "hv/mgmt/mgmt_host.h"


static uint64_t mib(uint64_t pages)
{
    return (pages * PAGE_SIZE + (1ull << 19)) >> 20;
}

static void print_cpus(struct con *c, const struct mgmt_host_info *h)
{
    con_printf(c, "cpu vendor: %s\n", h->vendor);
    con_printf(c, "cpus: %u online (apic", h->cpus_online);
    for (unsigned i = 0; i < h->cpus_online; i++)
        con_printf(c, " %u", h->apic_ids[i]);
    con_puts(c, ")\n");
}

static void print_nodes(struct con *c, const struct mgmt_host_info *h)
{
    con_printf(c, "numa nodes: %u\n", h->nodes);
    con_printf(c, "numa spanning: %s\n", h->numa_spanning ? "on" : "off");
    for (unsigned n = 0; n < h->nodes; n++) {
        struct mgmt_mem_node st;
        mgmt_mem_node(n, &st);
        con_printf(c, "node %u: cpus %s mem %llu MiB free %llu MiB\n", n, st.cpus,
                   (unsigned long long)mib(st.ram_pages), (unsigned long long)mib(st.free_pages));
    }
}

static void print_details(struct con *c, const struct mgmt_host_info *h)
{
    con_printf(c, "hostname: %s\n", h->hostname);
    con_printf(c, "cpu model: %s\n", h->brand[0] ? h->brand : "unknown");
    con_printf(c, "cpu source: %s (%u listed, %u started)\n", h->cpu_source, h->cpus_listed,
               h->cpus_started);
    con_printf(c, "tsc: %llu kHz (%s)\n", (unsigned long long)h->tsc_khz, h->tsc_source);
    con_printf(c, "uptime: %llu.%03llu s\n", (unsigned long long)(h->uptime_ns / 1000000000u),
               (unsigned long long)(h->uptime_ns / 1000000u % 1000));
    if (h->wall_ns) {
        struct civil_time t;
        civil_from_unix((int64_t)(h->wall_ns / 1000000000u), &t);
        con_printf(c, "wall clock: %04lld-%02u-%02u %02u:%02u:%02u UTC\n", (long long)t.year,
                   t.month, t.day, t.hour, t.minute, t.second);
    } else {
        con_puts(c, "wall clock: unknown (the firmware has no clock)\n");
    }
    if (!h->have_acpi) {
        con_puts(c, "acpi: none\n");
        return;
    }
    con_printf(c, "acpi: rsdp 0x%llx rev %u tables", (unsigned long long)h->rsdp, h->acpi_revision);
    for (unsigned i = 0; i < h->ntables; i++)
        con_printf(c, " %s%s", h->tables[i], (h->table_bad_mask >> i) & 1 ? "(bad)" : "");
    con_printf(c, " bad %u\n", h->tables_bad);
    if (h->slit_nodes > 1) {
        con_puts(c, "distances:");
        for (unsigned i = 0; i < h->slit_nodes; i++) {
            con_printf(c, " node %u:", i);
            for (unsigned j = 0; j < h->slit_nodes; j++)
                con_printf(c, " %u", h->slit[i][j]);
        }
        con_puts(c, "\n");
    }
    for (unsigned i = 0; i < h->necam; i++)
        con_printf(c, "pci ecam: segment %u buses %u-%u at 0x%llx\n", h->ecam[i].segment,
                   h->ecam[i].bus_start, h->ecam[i].bus_end, (unsigned long long)h->ecam[i].base);
}

int cmd_host(struct con *c, int argc, char **argv)
{
    static struct mgmt_host_info h;
    if (argc == 3 && !strcmp(argv[1], "numa-spanning") &&
        (!strcmp(argv[2], "on") || !strcmp(argv[2], "off"))) {
        mgmt_host_set_numa_spanning(!strcmp(argv[2], "on"));
        con_printf(c, "numa spanning: %s (new and incoming VMs)\n", argv[2]);
        return 0;
    }
    if (argc != 1) {
        con_usage(c, cmd_find("host"));
        return -1;
    }
    mgmt_host_info(&h);
    print_cpus(c, &h);
    print_nodes(c, &h);
    con_printf(c, "virt: %s\n", h.virt);
    if (h.virt_disabled)
        con_printf(c, "virt note: %s is disabled by firmware\n", h.virt_disabled);
    print_details(c, &h);
    return 0;
}

static void print_map(struct con *c)
{
    for (unsigned i = 0; i < mgmt_mem_region_count(); i++) {
        struct mgmt_mem_region r;
        mgmt_mem_region(i, &r);
        con_printf(c, "  0x%010llx-0x%010llx %8llu KiB %s\n", (unsigned long long)r.base,
                   (unsigned long long)(r.base + r.pages * PAGE_SIZE - 1),
                   (unsigned long long)(r.pages * 4), r.type);
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
    for (unsigned n = 0; n < mgmt_mem_nodes(); n++) {
        struct mgmt_mem_node st;
        mgmt_mem_node(n, &st);
        con_printf(c,
                   "node %u: ram %llu MiB managed %llu MiB free %llu MiB (%llu pages) zones %u\n",
                   n, (unsigned long long)mib(st.ram_pages),
                   (unsigned long long)mib(st.managed_pages),
                   (unsigned long long)mib(st.free_pages), (unsigned long long)st.free_pages,
                   st.zones);
    }
    for (unsigned i = 0; i < mgmt_mem_zone_count(); i++) {
        struct mgmt_mem_zone z;
        mgmt_mem_zone(i, &z);
        con_printf(c, "  zone %u: node %u 0x%010llx-0x%010llx %llu pages, %llu free\n", i, z.node,
                   (unsigned long long)z.base,
                   (unsigned long long)(z.base + z.pages * PAGE_SIZE - 1),
                   (unsigned long long)z.pages, (unsigned long long)z.free);
    }
    return 0;
}
