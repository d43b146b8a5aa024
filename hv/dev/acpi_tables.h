/*
 * The ACPI tables ferry writes into a guest's RAM for a PC-like machine (ACPI 6.5, chapter 5):
 * RSDP (revision 2, both RSDT and XSDT), FADT (revision 6: the PM block of hv/dev/vacpipm.h,
 * the SCI, the reset register, the RTC's century, no 8042 and no VGA in IAPC_BOOT_ARCH), FACS,
 * a DSDT whose AML is only \_S5 (so an OS can power off through PM1_CNT), MADT (a local APIC
 * per vCPU, the I/O APIC, interrupt source overrides for IRQ 0 -> GSI 2 and the level SCI, the
 * LINT1 NMI), and MCFG when the machine has ECAM. Every table is checksummed.
 *
 * The result is position-dependent: the caller names the guest-physical address the buffer
 * will sit at (64-byte aligned, below 4 GiB; the RSDP comes first, at that address, where a
 * guest scanning 0xE0000-0xFFFFF finds it too when it is there).
 */
#ifndef HV_DEV_ACPI_TABLES_H
#define HV_DEV_ACPI_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACPI_OEM_ID       "FERRY "
/* Where ferry's PC loaders put them: the low half of the BIOS area (reserved in their maps). */
#define ACPI_TABLES_GPA   0xe0000ull
#define ACPI_TABLES_MAX   0x10000u
#define ACPI_OEM_TABLE_ID "FERRYVM "

struct acpi_machine {
    unsigned nvcpus;               /* 1..255: a local APIC entry each, APIC ID = index */
    uint64_t lapic_base;
    uint64_t ioapic_base;
    uint8_t ioapic_id;
    uint16_t pm_port;              /* PM1a_EVT at +0, PM1a_CNT at +4, PM_TMR at +8 */
    uint8_t sci;                   /* ISA IRQ = GSI */
    uint16_t reset_port;           /* the FADT's RESET_REG (an I/O port) and RESET_VALUE */
    uint8_t reset_value;
    uint8_t rtc_century;           /* CMOS index of the century, 0: none */
    uint64_t ecam_base;            /* 0: no MCFG */
    uint8_t ecam_bus_end;          /* buses 0..ecam_bus_end */
};

/* Writes the tables into buf (which the guest will see at gpa, cap bytes). The bytes used, or
 * -EINVAL (nvcpus out of range, gpa unaligned or too high) / -ENOSPC (cap too small). */
long acpi_tables_build(const struct acpi_machine *m, uint8_t *buf, uint64_t gpa, size_t cap);

#endif
