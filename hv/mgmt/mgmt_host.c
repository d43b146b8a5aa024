/* Host facts over arch/, drivers/ and the frame allocator: `host`, `mem`, `pci`. */
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/virt_caps.h"
#include "drivers/pci.h"
#include "drivers/reset.h"
#include "hv/base/config.h"
#include "hv/base/mem.h"
#include "hv/base/time.h"
#include "hv/host.h"
#include "hv/mgmt/mgmt_host.h"

_Static_assert(MGMT_HOST_CPUS_MAX >= MAX_CPUS, "too few CPU slots");
_Static_assert(MGMT_HOST_NODES_MAX >= ACPI_MAX_NODES, "too few node slots");
_Static_assert(MGMT_HOST_TABLES_MAX >= ACPI_MAX_SIGS, "too few table slots");
_Static_assert(MGMT_HOST_ECAM_MAX >= ACPI_MAX_MCFG, "too few ECAM slots");
_Static_assert(sizeof(hv_config.hostname) <= sizeof(((struct mgmt_host_info *)0)->hostname),
               "hostname too long");

static void acpi_facts(struct mgmt_host_info *o)
{
    const struct acpi_info *a = &host.acpi;
    o->rsdp = a->rsdp_phys;
    o->acpi_revision = a->revision;
    o->ntables = a->tables_found < ACPI_MAX_SIGS ? a->tables_found : ACPI_MAX_SIGS;
    for (unsigned i = 0; i < o->ntables; i++)
        memcpy(o->tables[i], a->table_sigs[i], sizeof(o->tables[i]));
    o->table_bad_mask = a->table_bad_mask;
    o->tables_bad = a->tables_bad;
    o->slit_nodes = a->nnodes;
    for (unsigned i = 0; i < a->nnodes; i++)
        for (unsigned j = 0; j < a->nnodes; j++)
            o->slit[i][j] = a->slit[i][j];
    o->necam = a->nmcfg;
    for (unsigned i = 0; i < a->nmcfg; i++) {
        o->ecam[i].segment = a->mcfg[i].segment;
        o->ecam[i].bus_start = a->mcfg[i].bus_start;
        o->ecam[i].bus_end = a->mcfg[i].bus_end;
        o->ecam[i].base = a->mcfg[i].base;
    }
}

void mgmt_host_info(struct mgmt_host_info *o)
{
    memset(o, 0, sizeof(*o));
    cpu_vendor(o->vendor);
    cpu_brand(o->brand);
    for (unsigned i = 0; i < cpu_count; i++)
        if (cpus[i].online)
            o->apic_ids[o->cpus_online++] = cpus[i].apic_id;
    o->cpus_listed = cpu_count;
    o->uptime_ns = time_ns();
    o->wall_ns = time_wall_ns();
    o->cpus_started = smp_online();
    o->cpu_source = host.cpu_source;
    o->nodes = frame_nodes();
    o->numa_spanning = hv_config.numa_spanning;
    virt_caps_format(&host.virt, o->virt, sizeof(o->virt));
    if (host.virt.disabled_by_firmware)
        o->virt_disabled = host.virt.kind == VIRT_VMX ? "vmx" : "svm";
    snprintf(o->hostname, sizeof(o->hostname), "%s", hv_config.hostname);
    o->tsc_khz = time_tsc_khz();
    o->tsc_source = host.tsc_source;
    o->have_acpi = host.have_acpi;
    if (host.have_acpi)
        acpi_facts(o);
}

void mgmt_host_set_numa_spanning(bool on)
{
    hv_config.numa_spanning = on;
}

void mgmt_host_reboot(void)
{
    reset_system(host.have_acpi ? &host.acpi : NULL);
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

unsigned mgmt_mem_nodes(void)
{
    return frame_nodes();
}

void mgmt_mem_node(unsigned node, struct mgmt_mem_node *out)
{
    struct frame_stats st;
    frame_node_stats(node, &st);
    out->ram_pages = st.ram_pages;
    out->managed_pages = st.total_pages;
    out->free_pages = st.free_pages;
    out->zones = st.zones;
    node_cpus(node, out->cpus, sizeof(out->cpus));
}

unsigned mgmt_mem_zone_count(void)
{
    return frame_zone_count();
}

void mgmt_mem_zone(unsigned i, struct mgmt_mem_zone *out)
{
    const struct frame_zone *z = frame_zone_get(i);
    out->node = z->node;
    out->base = z->base;
    out->pages = z->pages;
    out->free = z->free;
}

unsigned mgmt_mem_region_count(void)
{
    return host.bi->nregions;
}

void mgmt_mem_region(unsigned i, struct mgmt_mem_region *out)
{
    static const char *const names[] = { "?", "usable", "reserved", "acpi", "acpi-nvs", "core",
                                         "mmio" };
    const struct boot_mem_region *r = &host.bi->regions[i];
    out->base = r->base;
    out->pages = r->pages;
    out->type = r->type < sizeof(names) / sizeof(names[0]) ? names[r->type] : "?";
}

unsigned mgmt_pci_count(void)
{
    return pci_count();
}

const char *mgmt_pci_method(void)
{
    return pci_access_method();
}

void mgmt_pci_get(unsigned i, struct mgmt_pci_fn *out)
{
    const struct pci_dev *d = pci_get(i);
    *out = (struct mgmt_pci_fn){
        .segment = d->segment, .bus = d->bus, .dev = d->dev, .fn = d->fn,
        .vendor = d->vendor, .device = d->device, .class_code = d->class_code,
        .subclass = d->subclass, .driver = d->driver,
    };
}
