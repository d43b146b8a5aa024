/* The core's own page tables (replacing the loader's). */
#ifndef ARCH_MMU_H
#define ARCH_MMU_H

#include <stdint.h>

#include "boot/boot_info.h"

/* Builds and loads them; returns the PML4's physical address (0 on failure). */
uint64_t mmu_init(const struct boot_info *bi);

/* Device registers at pa (a BAR the direct map does not cover), mapped uncacheable for good;
 * NULL if they cannot be. */
volatile void *mmu_map_io(uint64_t pa, uint64_t len);

#endif
