/*
 * Second-level page tables (EPT and NPT) for dirty logging. Both are 4-level
 * radix trees with the write bit at bit 1, the large-page bit at bit 7 and
 * the address in bits 51:12; they differ only in what "present" means (EPT:
 * any of R/W/X, NPT: P). Writable leaves of guest RAM are write-protected
 * so the first write to each page after a harvest faults and is logged.
 */
#ifndef ARCH_SLPT_H
#define ARCH_SLPT_H

#include <stdbool.h>
#include <stdint.h>

#define SLPT_W     0x2ull
#define SLPT_LARGE 0x80ull
#define SLPT_ADDR  0x000ffffffffff000ull

struct slpt {
    uint64_t root;
    uint64_t present;           /* EPT 0x7, NPT 0x1 */
    unsigned node;              /* where split tables come from */
};

/* ro: splits every large leaf covering [gpa, gpa+size) into 4 KiB leaves and clears W on
 * them; !ro: sets W on the 4 KiB leaves again (split tables stay). */
int slpt_protect_range(const struct slpt *t, uint64_t gpa, uint64_t size, bool ro);
/* The 4 KiB leaf for gpa, or NULL. */
uint64_t *slpt_leaf(const struct slpt *t, uint64_t gpa);

#endif
