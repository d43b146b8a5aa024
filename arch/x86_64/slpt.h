/*
 * Second-level page tables (EPT and NPT) for dirty logging. Both are 4-level
 * radix trees with the write bit at bit 1, the large-page bit at bit 7 and
 * the address in bits 51:12; they differ in what "present" means (EPT: any
 * of R/W/X, NPT: P) and where the leaf's dirty flag is (EPT bit 9, SDM vol. 3C
 * 28.2.4; NPT bit 6 as in ordinary paging, APM vol. 2 15.25). Write protection
 * clears W on 4 KiB leaves so the first write after a harvest faults; the
 * A/D modes clear D so the hardware sets it (and PML logs it) again.
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
    uint64_t dirty;             /* the leaves' D flag: EPT 1 << 9, NPT 1 << 6 */
    unsigned node;              /* where split tables come from */
};

/* ro: splits every large leaf covering [gpa, gpa+size) into 4 KiB leaves and clears W on
 * them; !ro: sets W on the 4 KiB leaves again (split tables stay). */
int slpt_protect_range(const struct slpt *t, uint64_t gpa, uint64_t size, bool ro);
/* Splits like slpt_protect_range and clears D on every 4 KiB leaf (W stays as it is). */
int slpt_clean_range(const struct slpt *t, uint64_t gpa, uint64_t size);
/* Test-and-clears D on every leaf in [gpa, gpa+size) and sets bit (page - gpa / 4 KiB) in
 * bits for each 4 KiB page that was dirty (every page of a large leaf). Returns how many. */
uint64_t slpt_harvest_dirty(const struct slpt *t, uint64_t gpa, uint64_t size, uint64_t *bits);
/* The 4 KiB leaf for gpa, or NULL. */
uint64_t *slpt_leaf(const struct slpt *t, uint64_t gpa);

#endif
