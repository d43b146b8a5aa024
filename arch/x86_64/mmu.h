/* The core's own page tables (replacing the loader's). */
#ifndef ARCH_MMU_H
#define ARCH_MMU_H

#include <stdint.h>

#include "boot/boot_info.h"

/* Builds and loads them; returns the PML4's physical address (0 on failure). */
uint64_t mmu_init(const struct boot_info *bi);

#endif
