/*
 * ACPI static table parser. acpi_parse() walks RSDP -> XSDT (or RSDT) and
 * extracts what the hypervisor needs at boot: CPUs and IOAPICs (MADT), NUMA
 * layout (SRAT, SLIT), PCIe ECAM windows (MCFG) and the reset register and
 * PM timer (FADT). Physical memory is reached only through a caller-supplied
 * acpi_map_fn; every table is mapped header first, length-checked, mapped
 * whole and checksummed before any field is read, and nothing outside the
 * mapped bytes is ever touched. Firmware is not trusted: a malformed table is
 * logged (signature and reason), counted in tables_bad and skipped as a whole,
 * so a bad MADT yields no CPUs rather than half of them. Results land in a
 * fixed-size struct acpi_info; entries beyond the ACPI_MAX_* caps are dropped
 * with a warning. Proximity domains (arbitrary 32-bit numbers) are renumbered
 * to dense node indices 0..nnodes-1 in order of first appearance in the SRAT,
 * memory affinity entries first, then processor entries (so node 0 is the
 * domain of the first memory range); without a usable SRAT there is a single
 * node 0. Spec references are to ACPI 6.5 and the PCI Firmware Spec 3.3.
 */
#ifndef DRIVERS_ACPI_H
#define DRIVERS_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACPI_MAX_CPUS    256
#define ACPI_MAX_MEM     64
#define ACPI_MAX_NODES   16
#define ACPI_MAX_IOAPICS 16
#define ACPI_MAX_ISOS    16
#define ACPI_MAX_MCFG    16
#define ACPI_MAX_SIGS    32

/* SLIT defaults (ACPI 6.5 5.2.17: local distance is normalised to 10). */
#define ACPI_DIST_LOCAL  10
#define ACPI_DIST_REMOTE 20

/* Generic Address Structure address spaces (ACPI 6.5 5.2.3.2). */
#define ACPI_GAS_MEMORY  0
#define ACPI_GAS_IO      1
#define ACPI_GAS_PCI_CFG 2

/*
 * Returns a pointer through which [phys, phys+len) can be read, or NULL if
 * that range is not accessible. The pointer need only stay valid until the
 * next call: the parser never holds two mappings at once.
 */
typedef const void *(*acpi_map_fn)(uint64_t phys, size_t len, void *ctx);

struct acpi_gas {
    uint8_t space_id, bit_width, bit_offset, access_size;
    uint64_t address;
};

/* Only CPUs whose MADT Enabled flag is set are recorded, so enabled is always true. */
struct acpi_cpu {
    uint32_t apic_id;  /* xAPIC or x2APIC id */
    uint32_t uid;      /* ACPI processor UID */
    uint32_t node;     /* dense node index */
    bool enabled;
};

struct acpi_mem_range {
    uint64_t base, length;
    uint32_t node;
    bool hotplug;
};

struct acpi_ioapic {
    uint32_t id, address, gsi_base;
};

/* MADT interrupt source override: ISA IRQ `source` arrives on `gsi`. */
struct acpi_iso {
    uint8_t bus, source;
    uint16_t flags;    /* MPS INTI flags: polarity bits 1:0, trigger mode bits 3:2 */
    uint32_t gsi;
};

struct acpi_mcfg_entry {
    uint64_t base;
    uint16_t segment;
    uint8_t bus_start, bus_end;
};

struct acpi_info {
    uint64_t rsdp_phys;
    uint8_t revision;  /* RSDP revision: 0 = ACPI 1.0 (RSDT only), 2 = ACPI 2.0+ */
    bool have_madt, have_srat, have_slit, have_mcfg, have_fadt;

    uint64_t lapic_base;             /* after any MADT type 5 override */
    unsigned ncpus;                  /* enabled CPUs, in MADT order */
    struct acpi_cpu cpus[ACPI_MAX_CPUS];
    unsigned ncpus_disabled;         /* MADT entries without Enabled (incl. online-capable) */

    unsigned nioapics;
    struct acpi_ioapic ioapics[ACPI_MAX_IOAPICS];
    unsigned nisos;
    struct acpi_iso isos[ACPI_MAX_ISOS];

    unsigned nmem;                   /* enabled SRAT memory affinity ranges */
    struct acpi_mem_range mem[ACPI_MAX_MEM];
    unsigned nnodes;                 /* >= 1 */
    uint32_t node_domain[ACPI_MAX_NODES];              /* node index -> proximity domain */
    uint8_t slit[ACPI_MAX_NODES][ACPI_MAX_NODES];      /* by node index */

    unsigned nmcfg;
    struct acpi_mcfg_entry mcfg[ACPI_MAX_MCFG];

    bool reset_supported;
    struct acpi_gas reset_reg;
    uint8_t reset_value;
    uint32_t pm_tmr_port;            /* 0: no usable I/O port PM timer */
    bool pm_tmr_32bit;

    /*
     * Every table whose header could be read, root table (XSDT/RSDT) first.
     * table_sigs holds the first ACPI_MAX_SIGS of them; bit i of
     * table_bad_mask is set when table_sigs[i] was rejected. tables_bad also
     * counts entries whose header could not even be read.
     */
    unsigned tables_found, tables_bad;
    char table_sigs[ACPI_MAX_SIGS][5];
    uint32_t table_bad_mask;
};

/* Returns 0, or -EINVAL if the RSDP itself is invalid (out then says one node, no tables). */
int acpi_parse(uint64_t rsdp_phys, acpi_map_fn map, void *ctx, struct acpi_info *out);

/* Node index of the CPU with this APIC id; 0 if the id is unknown. */
unsigned acpi_node_of_apic(const struct acpi_info *ai, uint32_t apic_id);

#endif
