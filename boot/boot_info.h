/*
 * The hand-off contract between the UEFI loader (boot/) and the core.
 * The loader fills one struct boot_info, exits boot services, switches to
 * page tables that map the core at CORE_VIRT_BASE and all RAM at
 * DIRECT_MAP_BASE (plus an identity map the core drops), and jumps to the
 * core's entry with %rdi = the struct's direct-map address. Nothing of UEFI
 * crosses this line: addresses are physical, strings are ASCII.
 * Bump BOOT_INFO_VERSION on any layout change.
 */
#ifndef BOOT_BOOT_INFO_H
#define BOOT_BOOT_INFO_H

#include <stdint.h>

#define BOOT_INFO_MAGIC   0x4f464e4959525246ull /* "FRRYINFO" */
#define BOOT_INFO_VERSION 2

#define CORE_VIRT_BASE  0xffffffff80000000ull
#define DIRECT_MAP_BASE 0xffff800000000000ull

#define BOOT_MAX_REGIONS 512
#define BOOT_MAX_CPUS    256
#define BOOT_MAX_MODULES 16
#define BOOT_LOG_SIZE    1024

enum boot_mem_type {
    BOOT_MEM_USABLE = 1,   /* free for the frame allocator */
    BOOT_MEM_RESERVED,     /* firmware, MMIO, unusable */
    BOOT_MEM_ACPI,         /* ACPI tables (reclaimable after parsing) */
    BOOT_MEM_ACPI_NVS,
    BOOT_MEM_CORE,         /* core image, boot info, page tables, modules */
    BOOT_MEM_MMIO,         /* firmware-described MMIO (not RAM) */
};

struct boot_mem_region {
    uint64_t base;
    uint64_t pages;        /* 4 KiB pages */
    uint32_t type;         /* enum boot_mem_type */
    uint32_t reserved;
};

enum boot_cpu_source { BOOT_CPUS_NONE = 0, BOOT_CPUS_EFI_MP = 1 };

struct boot_module {
    char name[48];         /* file name on the boot volume, ASCII */
    uint64_t phys;
    uint64_t size;
};

struct boot_info {
    uint64_t magic;
    uint32_t version;
    uint32_t size;                 /* sizeof(struct boot_info) */

    uint64_t rsdp_phys;            /* 0: firmware offered no ACPI */

    uint32_t nregions;
    uint32_t regions_dropped;      /* map entries that did not fit */
    struct boot_mem_region regions[BOOT_MAX_REGIONS];

    /* From EFI MP services: the only CPU list Bochs+OVMF offers. */
    uint32_t cpu_source;           /* enum boot_cpu_source */
    uint32_t ncpus;
    uint32_t bsp_apic_id;
    uint32_t cpu_apic_ids[BOOT_MAX_CPUS];

    uint64_t config_phys;          /* ferry.cfg contents, 0 if absent */
    uint64_t config_size;

    uint32_t nmodules;
    uint32_t reserved0;
    struct boot_module modules[BOOT_MAX_MODULES];

    uint64_t core_phys;            /* the BOOT_MEM_CORE arena */
    uint64_t core_pages;
    uint64_t image_phys;           /* where CORE_VIRT_BASE points */
    uint64_t image_pages;

    char loader_log[BOOT_LOG_SIZE]; /* loader messages, NUL-terminated */

    /* The firmware's clock (EFI GetTime) just before the hand-off, and the TSC then. */
    uint16_t time_year;            /* 0: no clock */
    uint8_t time_month, time_day, time_hour, time_minute, time_second, reserved1;
    int16_t time_zone;             /* minutes from UTC (local = UTC - zone); 2047: unspecified */
    uint16_t reserved2;
    uint32_t reserved3;
    uint64_t time_tsc;
};

#endif
