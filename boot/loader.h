/* Pieces of the UEFI loader (boot/ only). */
#ifndef BOOT_LOADER_H
#define BOOT_LOADER_H

#include <efi.h>
#include <stdint.h>

#include "boot/boot_info.h"

#define CONFIG_MAX (64 * 1024)               /* ferry.cfg */
#define MODULE_MAX (256ull * 1024 * 1024)    /* a guest image */

struct loader_core {
    uint64_t entry;        /* virtual */
    uint64_t cr3;          /* physical PML4 */
};

void loader_log(const char *msg);
void loader_cpus(struct boot_info *bi);
void loader_files(EFI_HANDLE image, struct boot_info *bi);
int loader_files_pxe(EFI_HANDLE dev, struct boot_info *bi);
int loader_core_prepare(const uint8_t *elf, uint64_t size, struct boot_info *bi,
                        struct loader_core *core);
void loader_exit_and_jump(EFI_HANDLE image, struct boot_info *bi, uint64_t bi_phys,
                          const struct loader_core *core) __attribute__((noreturn));

#endif
