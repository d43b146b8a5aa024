/*
 * Decoding of PCI base address registers, kept free of config-space access
 * so host tests can check it: the caller reads a BAR, writes all-ones, reads
 * the mask back and restores it (drivers/pci.c), then hands both values
 * here. PCI Local Bus Spec 3.0 6.2.5.1: bit 0 says I/O; for memory, bits 2:1
 * are the type (0: 32-bit, 1: below 1 MiB, 2: 64-bit, 3: reserved) and bit 3
 * prefetchable; the size is the lowest address bit that reads back as one.
 */
#ifndef DRIVERS_PCI_BAR_H
#define DRIVERS_PCI_BAR_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/pci.h"

/*
 * What the direct map surely covers: all of the 32-bit space. It also maps RAM above 4 GiB,
 * but a BAR placed there by the firmware is usually beyond RAM and so unmapped.
 */
#define PCI_MAPPED_END (4ull << 30)

/* True for a memory BAR of type 64-bit: it takes this slot and the next. */
static inline bool pci_bar_is64(uint32_t lo) { return !(lo & 1) && ((lo >> 1) & 3) == 2; }

/*
 * lo/hi: the BAR's value (hi only for 64-bit BARs, else 0); lo_mask/hi_mask: what reads
 * back after writing all-ones. Fills *out (size 0: not implemented) and returns the slots
 * used (1 or 2), or -EINVAL for the reserved memory type (out then says not implemented).
 */
int pci_bar_decode(uint32_t lo, uint32_t hi, uint32_t lo_mask, uint32_t hi_mask,
                   struct pci_bar *out);

/* An implemented, assigned memory BAR that lies wholly below PCI_MAPPED_END. */
bool pci_bar_mapped(const struct pci_bar *b);

#endif
