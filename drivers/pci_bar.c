/* BAR decoding (see pci_bar.h); pure, so tests/unit/drivers/test_pci.c runs it on the host. */
#include <errno.h>
#include <string.h>

#include "drivers/pci_bar.h"

int pci_bar_decode(uint32_t lo, uint32_t hi, uint32_t lo_mask, uint32_t hi_mask,
                   struct pci_bar *out)
{
    memset(out, 0, sizeof(*out));
    if (lo & 1) {
        /* I/O: a 16-bit decoder reads the upper half back as zero (base too may hold junk). */
        uint32_t mask = lo_mask & ~3u;
        out->io = true;
        out->base = lo & ~3u;
        if (!(mask & 0xffff0000u))
            out->base &= 0xffff;
        out->size = mask & -mask;
        if (!out->size)
            out->base = 0;
        return 1;
    }
    unsigned type = (lo >> 1) & 3;
    if (type == 3)
        return -EINVAL;
    out->is64 = type == 2;
    out->prefetch = lo & 8;
    /* A 32-bit BAR's upper address bits are all fixed at zero: they are not size bits. */
    uint64_t mask = lo_mask & ~0xfull;
    if (out->is64)
        mask |= (uint64_t)hi_mask << 32;
    out->size = mask & -mask;
    out->base = (lo & ~0xfull) | (out->is64 ? (uint64_t)hi << 32 : 0);
    if (!out->size)
        out->base = 0;
    return out->is64 ? 2 : 1;
}

bool pci_bar_mapped(const struct pci_bar *b)
{
    return !b->io && b->size && b->base && b->base + b->size > b->base &&
           b->base + b->size <= PCI_MAPPED_END;
}
