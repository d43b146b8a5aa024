/*
 * A VM's guest-physical layout, a PC's: RAM from 0 up to VM_LOW_RAM_END (3 GiB, or less), then
 * the hole below 4 GiB for the local APIC, the I/O APIC, ECAM and the PCI windows, then the rest
 * of the RAM from 4 GiB. The loaders' memory maps (e820, Multiboot) say exactly this.
 */
#ifndef HV_VM_LAYOUT_H
#define HV_VM_LAYOUT_H

#include <stdint.h>

#define VM_LOW_RAM_END 0xc0000000ull
#define VM_HIGH_RAM    0x100000000ull

/* For a VM of mem bytes of RAM: where its low RAM ends and the frame number past its last page. */
static inline void vm_layout(uint64_t mem, uint64_t *low_end, uint64_t *gfn_end)
{
    *low_end = mem < VM_LOW_RAM_END ? mem : VM_LOW_RAM_END;
    *gfn_end = (mem <= VM_LOW_RAM_END ? mem : VM_HIGH_RAM + (mem - VM_LOW_RAM_END)) >> 12;
}

#endif
