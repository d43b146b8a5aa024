/*
 * What the core knows about the machine it runs on, gathered once at boot
 * by hv_main and read by hv/mgmt/ (the console's `host`, `mem`), VM
 * placement and migration.
 */
#ifndef HV_HOST_H
#define HV_HOST_H

#include <stdint.h>

#include "arch/x86_64/virt_caps.h"
#include "boot/boot_info.h"
#include "drivers/acpi.h"

struct host {
    const struct boot_info *bi;
    struct acpi_info acpi;
    bool have_acpi;
    const char *cpu_source;        /* "acpi madt", "efi mp services", "bsp only" */
    const char *tsc_source;
    struct virt_caps virt;
    uint64_t cr3;                  /* the core's PML4 */
};

extern struct host host;

void hv_main(const struct boot_info *bi) __attribute__((noreturn));

#endif
