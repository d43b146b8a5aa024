/*
 * Linux guests through the x86 64-bit boot protocol (the kernel's
 * Documentation/arch/x86/boot.rst): ferry is the boot loader. It checks the
 * bzImage's setup header, copies the protected-mode kernel to its preferred
 * address (or the next one aligned per kernel_alignment), puts the initrd
 * as high as initrd_addr_max and the RAM allow, and fills the zero page
 * (struct boot_params): the setup header, an e820 map, the command line and
 * the initrd. vCPU 0 then enters the kernel's 64-bit entry (load + 0x200)
 * in long mode, identity-mapped, with CS = __BOOT_CS (0x10), DS = ES = SS =
 * __BOOT_DS (0x18), interrupts off and RSI = the zero page.
 *
 * Guest-physical layout below 64 KiB (which Linux keeps reserved): GDT and
 * TSS at 0x1000, page tables 0x2000-0x7fff (guest_boot.c's identity map),
 * zero page 0x8000, command line 0x9000, boot stack below 0xf000.
 */
#ifndef HV_VM_LINUX_BOOT_H
#define HV_VM_LINUX_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "hv/cpu/vcpu_state.h"

#define LINUX_ZERO_PAGE_GPA 0x8000ull
#define LINUX_CMDLINE_GPA   0x9000ull
#define LINUX_CMDLINE_MAX   0x1000u        /* our buffer; the kernel's cmdline_size may be less */
#define LINUX_STACK_TOP     0xf000ull
#define LINUX_BOOT_CS       0x10
#define LINUX_BOOT_DS       0x18
#define LINUX_BOOT_TR       0x20
#define LINUX_MIN_VERSION   0x020c         /* 2.12: 64-bit entry and xloadflags */
#define LINUX_E820_MAX      128

/* What the setup header says (the fields ferry uses), after the checks. */
struct linux_header {
    uint16_t version;                       /* 0x0206 */
    uint8_t setup_sects;                    /* 0x01f1 (0 means 4) */
    uint8_t loadflags;                      /* 0x0211 */
    uint32_t syssize;                       /* 0x01f4, in 16-byte units */
    uint32_t initrd_addr_max;               /* 0x022c */
    uint32_t kernel_alignment;              /* 0x0230 */
    uint8_t relocatable;                    /* 0x0234 */
    uint16_t xloadflags;                    /* 0x0236 */
    uint32_t cmdline_size;                  /* 0x0238 */
    uint64_t pref_address;                  /* 0x0258 */
    uint32_t init_size;                     /* 0x0260 */
    size_t setup_size;                      /* (setup_sects + 1) * 512: where the kernel starts */
    size_t header_end;                      /* 0x0202 + the jump's offset: the header's end */
};

/* Where things went: for the vCPU state and the console. */
struct linux_boot {
    uint64_t load_gpa, entry;               /* the protected-mode kernel and its 64-bit entry */
    uint64_t initrd_gpa, initrd_size;       /* 0, 0 without an initrd */
    uint16_t version;
};

/* Checks a bzImage's header: 0, or -ENOEXEC / -EINVAL with a one-line reason in err. */
int linux_parse(const uint8_t *k, size_t len, struct linux_header *h, char *err, size_t errlen);

/*
 * Loads kernel (and initrd, if ilen) into guest RAM: ram points at the first
 * `chunk` bytes of guest-physical memory (everything ferry writes goes there),
 * ram_size is all of the VM's RAM (for the e820 map). Writes the GDT, page
 * tables, zero page and command line. 0, or a negative errno with a
 * one-line reason; guest RAM is written only after every check passed.
 */
int linux_load(const uint8_t *k, size_t klen, const uint8_t *initrd, size_t ilen,
               const char *cmdline, uint8_t *ram, uint64_t chunk, uint64_t ram_size,
               struct linux_boot *out, char *err, size_t errlen);

/* Tells the kernel where the RSDP is (boot_params.acpi_rsdp_addr, protocol 2.14; older
 * kernels find it by scanning 0xE0000-0xFFFFF). After linux_load. */
void linux_set_acpi_rsdp(uint8_t *ram, uint64_t gpa);

/* vCPU 0's state at the kernel's 64-bit entry. */
void linux_boot_state(const struct linux_boot *lb, struct vcpu_state *s);

#endif
