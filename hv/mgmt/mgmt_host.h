/*
 * The machine as ferry sees it: CPUs, NUMA nodes and their memory, virtualization support,
 * firmware tables, the frame allocator's zones, the firmware memory map, PCI functions; the
 * host-wide settings; reboot.
 */
#ifndef HV_MGMT_HOST_H
#define HV_MGMT_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MGMT_HOST_CPUS_MAX 64
#define MGMT_HOST_NODES_MAX 16
#define MGMT_HOST_TABLES_MAX 32
#define MGMT_HOST_ECAM_MAX 16

struct mgmt_host_info {
    char vendor[13], brand[49];         /* brand "" when the CPU has none */
    unsigned cpus_online;
    uint32_t apic_ids[MGMT_HOST_CPUS_MAX];  /* of the online CPUs, in CPU order */
    unsigned cpus_listed, cpus_started;
    const char *cpu_source;             /* "acpi madt", "efi mp services", "bsp only" */
    unsigned nodes;
    bool numa_spanning;
    char virt[96];                      /* "vmx ept ..." */
    const char *virt_disabled;          /* "vmx"/"svm" when firmware disabled it, else NULL */
    char hostname[32];
    uint64_t tsc_khz;
    const char *tsc_source;
    uint64_t uptime_ns;                 /* host time since boot (the TSC's) */
    uint64_t wall_ns;                   /* the wall clock, ns since 1970 UTC; 0: unknown */
    bool have_acpi;
    uint64_t rsdp;
    unsigned acpi_revision, ntables, tables_bad;
    char tables[MGMT_HOST_TABLES_MAX][5];
    uint32_t table_bad_mask;            /* bit i: tables[i] was rejected */
    unsigned slit_nodes;                /* 0 or 1: no distances */
    uint8_t slit[MGMT_HOST_NODES_MAX][MGMT_HOST_NODES_MAX];
    unsigned necam;
    struct { unsigned segment, bus_start, bus_end; uint64_t base; } ecam[MGMT_HOST_ECAM_MAX];
};
void mgmt_host_info(struct mgmt_host_info *out);
void mgmt_host_set_numa_spanning(bool on);     /* for new and incoming VMs */
void mgmt_host_reboot(void) __attribute__((noreturn));

/* Memory per node (pages of 4 KiB); cpus "0-1,4" or "none". */
struct mgmt_mem_node {
    uint64_t ram_pages, managed_pages, free_pages;
    unsigned zones;
    char cpus[128];
};
unsigned mgmt_mem_nodes(void);
void mgmt_mem_node(unsigned node, struct mgmt_mem_node *out);
struct mgmt_mem_zone { unsigned node; uint64_t base, pages, free; };
unsigned mgmt_mem_zone_count(void);
void mgmt_mem_zone(unsigned i, struct mgmt_mem_zone *out);
/* The firmware memory map as the loader passed it; type "usable", "reserved", ... */
struct mgmt_mem_region { uint64_t base, pages; const char *type; };
unsigned mgmt_mem_region_count(void);
void mgmt_mem_region(unsigned i, struct mgmt_mem_region *out);

struct mgmt_pci_fn {
    unsigned segment, bus, dev, fn, vendor, device, class_code, subclass;
    const char *driver;                 /* NULL: unclaimed */
};
unsigned mgmt_pci_count(void);
const char *mgmt_pci_method(void);      /* "ecam" or "port" */
void mgmt_pci_get(unsigned i, struct mgmt_pci_fn *out);

#endif
