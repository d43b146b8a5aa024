/*
 * PCI: enumeration of every function on every bus through ECAM (from the
 * ACPI MCFG) or, without it, configuration mechanism #1 (ports 0xCF8/0xCFC).
 * Devices are listed once at boot; drivers find theirs by vendor/device.
 * A device no driver claims is listed (console `pci`) and never touched.
 */
#ifndef DRIVERS_PCI_H
#define DRIVERS_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/acpi.h"

#define PCI_MAX_DEVICES 128

struct pci_bar {
    uint64_t base;          /* physical address or I/O port */
    uint64_t size;          /* 0: BAR not implemented */
    bool io, prefetch, is64;
};

struct pci_dev {
    uint16_t segment;
    uint8_t bus, dev, fn;
    uint16_t vendor, device, subsys_vendor, subsys_device;
    uint8_t class_code, subclass, prog_if, revision, irq_line, header_type;
    struct pci_bar bar[6];
    const char *driver;     /* set by the driver that claimed it */
};

/* Enumerates; ai may be NULL (no MCFG: port I/O). Returns the number of functions. */
int pci_init(const struct acpi_info *ai);
unsigned pci_count(void);
struct pci_dev *pci_get(unsigned i);
const char *pci_access_method(void);   /* "ecam" or "port" */

uint32_t pci_read32(const struct pci_dev *d, unsigned off);
uint16_t pci_read16(const struct pci_dev *d, unsigned off);
uint8_t pci_read8(const struct pci_dev *d, unsigned off);
void pci_write32(const struct pci_dev *d, unsigned off, uint32_t v);
void pci_write16(const struct pci_dev *d, unsigned off, uint16_t v);
void pci_write8(const struct pci_dev *d, unsigned off, uint8_t v);

/* Command register: memory space, I/O space, bus mastering (for DMA). */
void pci_enable(const struct pci_dev *d, bool mem, bool io, bool master);
/* Offset of the first capability with this ID at or after `start` (0: from the list head), 0 if none. */
uint8_t pci_find_cap(const struct pci_dev *d, uint8_t cap_id, uint8_t start);

#endif
