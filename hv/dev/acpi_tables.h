/*
 * The ACPI tables ferry writes into a guest's RAM for a PC-like machine (ACPI 6.5, chapter 5):
 * RSDP (revision 2, both RSDT and XSDT), FADT (revision 6: the PM block of hv/dev/vacpipm.h,
 * the SCI, the reset register, the RTC's century, no 8042 and no VGA in IAPC_BOOT_ARCH), FACS,
 * a DSDT, MADT (a local APIC per vCPU, the I/O APIC, interrupt source overrides for IRQ 0 -> GSI 2
 * and the level SCI, the LINT1 NMI), and MCFG when the machine has ECAM. Every table is
 * checksummed. The DSDT's AML holds \_S5 (so an OS can power off through PM1_CNT) and, when the
 * machine has a PCI memory window, the PCI host bridge \_SB.PCI0 (PNP0A08, compatible PNP0A03:
 * x86 Linux with ACPI scans PCI only below such a root) with its _CRS (bus range, the 0xCF8
 * ports, the I/O and memory windows) and a _PRT routing bus 0's INTx to GSIs (acpi_pci_gsi),
 * plus, with ECAM, \_SB.MRES (PNP0C02) reserving ECAM, as Linux wants before it trusts MCFG.
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

/* Bus 0's INTx routing as the _PRT says it (slots 1-31; slot 0 is the host bridge): pin (0 is
 * INTA) of slot reaches the I/O APIC's GSI 16 + (slot + pin) % 8, level-triggered and active
 * low (ACPI 6.5 6.2.13: a _PRT entry naming a GSI implies both). hv/dev/pcifn.h's
 * PCIFN_INTX_GSI, which drives those pins, must agree (the unit test checks). */
#define ACPI_PCI_GSI_BASE  16u
#define ACPI_PCI_GSI_COUNT 8u

static inline unsigned acpi_pci_gsi(unsigned slot, unsigned pin)
{
    return ACPI_PCI_GSI_BASE + (slot + pin) % ACPI_PCI_GSI_COUNT;
}

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
    uint8_t ecam_bus_end;          /* buses 0..ecam_bus_end (PCI0's bus range too) */
    uint64_t pci_mmio32_base;      /* PCI0's memory window below 4 GiB; size 0: no PCI0 */
    uint64_t pci_mmio32_size;
    uint64_t pci_mmio64_base;      /* and above 4 GiB; size 0: none */
    uint64_t pci_mmio64_size;
};

/* Writes the tables into buf (which the guest will see at gpa, cap bytes). The bytes used, or
 * -EINVAL (nvcpus out of range, gpa unaligned or too high, a 32-bit PCI window not below
 * 4 GiB or overlapping ECAM, a 64-bit one not above 4 GiB or without a 32-bit one) / -ENOSPC
 * (cap too small). */
long acpi_tables_build(const struct acpi_machine *m, uint8_t *buf, uint64_t gpa, size_t cap);

#endif
