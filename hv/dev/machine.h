/*
 * Machine descriptions: what a VM gets, in creation order, with the constants
 * (ports, MMIO bases) in one table; and the registry of device types this host
 * can load, which is what an incoming migration's device list is checked
 * against.
 */
#ifndef HV_DEV_MACHINE_H
#define HV_DEV_MACHINE_H

#include "hv/dev/acpi_tables.h"
#include "hv/dev/device.h"

/* Today's only machine, a PC without firmware: the 8259 pair, the local APICs, the 16550 at
 * COM1 (the boot contract's console), debug-exit at 0xF4, the PCI host bridge at 0xCF8 (with
 * the reset register at 0xCF9), the 8254 PIT at 0x40 with port 0x61, the CMOS RTC, kvmclock,
 * the 8042's reset line, the I/O APIC at 0xFEC00000 and the ACPI PM block at 0x600. */
extern const struct dev_machine machine_ferry_min;

/* What ferry-min's ACPI tables say of it (hv/dev/acpi_tables.h) for a VM of nvcpus. */
void machine_ferry_min_acpi(unsigned nvcpus, struct acpi_machine *out);

/* Every device type a machine of this build can hold (dev_type_by_id looks here). */
extern const struct dev_type *const dev_known_types[];
extern const unsigned dev_known_count;

#endif
