/*
 * Multiboot v1 kernels (the Multiboot Specification 0.6.96): ferry is the boot loader. The
 * header (magic 0x1BADB002, flags, checksum) must sit 4-byte aligned in the file's first 8 KiB.
 * Flags bits 0 (page-align modules) and 1 (memory information) are honoured; bit 2 (a video
 * mode) and any other bit of 0-15 is a requirement ferry cannot meet: refused, as the
 * specification says. With bit 16 the header's address fields place the image (the "a.out
 * kludge": load_addr, load_end_addr, bss_end_addr, entry_addr); without it the file must be a
 * 32-bit little-endian x86 ELF executable whose PT_LOAD segments go to their physical
 * addresses. Everything loads at or above 1 MiB and within the VM's first RAM chunk; modules
 * follow the kernel (page-aligned).
 *
 * Guest-physical layout below 1 MiB: GDT at 0x1000 (flat 32-bit code 0x08, data 0x10), the
 * information structure at 0x2000 with the memory map after it, the boot loader's name, the
 * command line at 0x3000 (the kernel's file name, a space, then args=), the module list at
 * 0x4000 and the module strings (their file names) from 0x4400. vCPU 0 enters at the entry
 * address in 32-bit protected mode, paging off, interrupts off, with EAX = 0x2BADB002 and
 * EBX = 0x2000; the other vCPUs wait for INIT/SIPI.
 */
#ifndef HV_VM_MULTIBOOT_H
#define HV_VM_MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

#include "hv/cpu/vcpu_state.h"

#define MB_HEADER_MAGIC   0x1badb002u
#define MB_BOOT_MAGIC     0x2badb002u
#define MB_SEARCH         8192u
#define MB_MAX_MODULES    16
#define MB_GDT_GPA        0x1000ull
#define MB_INFO_GPA       0x2000ull
#define MB_CMDLINE_GPA    0x3000ull
#define MB_CMDLINE_MAX    0x1000u
#define MB_MODS_GPA       0x4000ull
#define MB_MODSTR_GPA     0x4400ull
#define MB_MODSTR_MAX     0x0c00u
#define MB_CODE_SEL       0x08
#define MB_DATA_SEL       0x10

/* Info structure flags ferry sets. */
#define MB_INFO_MEMORY    (1u << 0)
#define MB_INFO_CMDLINE   (1u << 2)
#define MB_INFO_MODS      (1u << 3)
#define MB_INFO_MEM_MAP   (1u << 6)
#define MB_INFO_LOADER    (1u << 9)

struct mb_header {
    uint32_t offset;                   /* of the header in the file */
    uint32_t flags;
    uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;  /* bit 16 */
};

struct mb_module {
    const uint8_t *data;
    size_t len;
    const char *name;                  /* its string in the module list */
};

/* Where things went. */
struct mb_boot {
    uint64_t entry;
    uint64_t kernel_start, kernel_end; /* [start, end): image and bss */
    uint64_t mods_end;                 /* past the last module (kernel_end without modules) */
};

/* Is there a Multiboot header? 0 with *h filled, -ENOENT (none in the first 8 KiB), or
 * -EINVAL / -ENOEXEC with a one-line reason (bad checksum, a requirement ferry cannot meet). */
int mb_parse(const uint8_t *k, size_t len, struct mb_header *h, char *err, size_t errlen);

/*
 * Loads kernel k and its modules into guest RAM (ram: the first `chunk` bytes of guest
 * memory, ram_size: all of it, for the memory map) and writes the GDT and the information
 * structure. kname is the kernel's file name (the command line's first word). 0, or a negative
 * errno with a one-line reason; guest RAM is written only after every check passed.
 */
int mb_load(const uint8_t *k, size_t klen, const char *kname, const struct mb_module *mods,
            unsigned nmods, const char *args, uint8_t *ram, uint64_t chunk, uint64_t ram_size,
            struct mb_boot *out, char *err, size_t errlen);

/* vCPU 0's state at the kernel's entry. */
void mb_boot_state(const struct mb_boot *b, struct vcpu_state *s);

#endif
