/*
 * Guest entry contract: ferry starts every guest directly in 64-bit long
 * mode. guest_boot_setup() writes the boot structures into the low 256 KiB
 * of guest RAM (GDT + TSS, identity page tables over all of guest RAM with
 * 2 MiB pages, one boot-info page and one stack per vCPU);
 * guest_image_load() copies an ELF64 executable or a flat binary above
 * them; guest_boot_state() gives each vCPU its first register state
 * (RIP = entry, RSP = its stack, RDI = its boot-info page). The layout and
 * the state are the contract documented in docs/guest-boot.md: guests
 * (tests/guest/memtest) rely on every number here, so change them only
 * with a new GUEST_BOOT_INFO_VERSION.
 */
#ifndef HV_GUEST_BOOT_H
#define HV_GUEST_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "hv/cpu/vcpu_state.h"

/* Guest-physical layout (docs/guest-boot.md has the table). */
#define GUEST_GDT_GPA       0x1000ull
#define GUEST_TSS_GPA       0x1800ull
#define GUEST_TSS_LIMIT     103u            /* 104-byte 64-bit TSS */
#define GUEST_PML4_GPA      0x2000ull
#define GUEST_PDPT_GPA      0x3000ull
#define GUEST_PD_GPA        0x4000ull       /* four PDs, 0x4000..0x7fff */
#define GUEST_BOOTINFO_GPA  0x8000ull       /* + vcpu * 0x1000 */
#define GUEST_STACK_GPA     0x10000ull      /* + vcpu * GUEST_STACK_SIZE */
#define GUEST_STACK_SIZE    0x4000ull
#define GUEST_IMAGE_MIN_GPA 0x40000ull      /* below: ferry's boot structures */
#define GUEST_FLAT_LOAD_GPA 0x100000ull
#define GUEST_MAX_VCPUS     8
#define GUEST_RAM_MIN       (2ull << 20)
#define GUEST_RAM_MAX       (4ull << 30)    /* four PDs of 2 MiB pages */
#define GUEST_RAM_ALIGN     (2ull << 20)    /* a 2 MiB page never maps past RAM */

/* GDT selectors */
#define GUEST_SEL_CODE 0x08
#define GUEST_SEL_DATA 0x10
#define GUEST_SEL_TSS  0x18                 /* 16-byte descriptor: 0x18 and 0x20 */
#define GUEST_GDT_LIMIT 0x27

/* Segment attributes in the AMD 12-bit layout of struct seg (hv/cpu/vcpu_state.h). */
#define GUEST_ATTR_CODE 0xa9bu              /* type 0xB, S, P, L, G */
#define GUEST_ATTR_DATA 0xc93u              /* type 3, S, P, D/B, G */
#define GUEST_ATTR_TSS  0x08bu              /* type 0xB (busy 64-bit TSS), P */

/* Initial control state */
#define GUEST_CR0   0x80010033ull           /* PE MP ET NE WP PG */
#define GUEST_CR4   0x620ull                /* PAE OSFXSR OSXMMEXCPT */
#define GUEST_EFER  0x500ull                /* LME LMA */
#define GUEST_PAT   0x0007040600070406ull   /* the power-on value */
#define GUEST_DR7   0x400ull
#define GUEST_XCR0  0x1ull                  /* x87 only; CR4.OSXSAVE is clear */
#define GUEST_RFLAGS 0x2ull

#define GUEST_BOOT_INFO_VERSION 1
#define GUEST_CMDLINE_MAX 256               /* including the NUL */
#define GUEST_UART_PORT 0x3f8

/* One per vCPU at GUEST_BOOTINFO_GPA + vcpu * 0x1000; little-endian, no padding. */
struct guest_boot_info {
    char magic[8];                          /* "FERRYGST", not NUL-terminated */
    uint32_t version;                       /* GUEST_BOOT_INFO_VERSION */
    uint32_t size;                          /* sizeof(struct guest_boot_info) */
    uint64_t mem_size;                      /* guest RAM in bytes, from GPA 0 */
    uint32_t vcpu_index;
    uint32_t vcpu_count;
    uint16_t uart_port;                     /* 16550 I/O base */
    uint16_t reserved[3];
    char cmdline[GUEST_CMDLINE_MAX];        /* NUL-terminated */
};

_Static_assert(offsetof(struct guest_boot_info, version) == 8, "boot info layout");
_Static_assert(offsetof(struct guest_boot_info, size) == 12, "boot info layout");
_Static_assert(offsetof(struct guest_boot_info, mem_size) == 16, "boot info layout");
_Static_assert(offsetof(struct guest_boot_info, vcpu_index) == 24, "boot info layout");
_Static_assert(offsetof(struct guest_boot_info, vcpu_count) == 28, "boot info layout");
_Static_assert(offsetof(struct guest_boot_info, uart_port) == 32, "boot info layout");
_Static_assert(offsetof(struct guest_boot_info, reserved) == 34, "boot info layout");
_Static_assert(offsetof(struct guest_boot_info, cmdline) == 40, "boot info layout");
_Static_assert(sizeof(struct guest_boot_info) == 296, "boot info layout");

static inline uint64_t guest_boot_info_gpa(unsigned vcpu)
{
    return GUEST_BOOTINFO_GPA + (uint64_t)vcpu * 0x1000;
}

static inline uint64_t guest_stack_top(unsigned vcpu)
{
    return GUEST_STACK_GPA + (uint64_t)(vcpu + 1) * GUEST_STACK_SIZE;
}

/*
 * Loads an ELF64 (x86-64, ET_EXEC; each PT_LOAD at p_paddr, p_filesz <=
 * p_memsz, the rest zeroed, every segment inside [GUEST_IMAGE_MIN_GPA,
 * ram_size)) or a flat binary (anything not starting with "\x7fELF";
 * loaded at GUEST_FLAT_LOAD_GPA, entered at its first byte). The ELF entry
 * is translated through the PT_LOAD containing it (p_vaddr -> p_paddr),
 * since the guest starts identity-mapped. Returns 0 and *entry, or
 * -EINVAL / -E2BIG / -ENOEXEC with a one-line reason in err. Reads nothing
 * outside img[0..len) and writes guest RAM only once the whole image has
 * been validated.
 */
int guest_image_load(const void *img, size_t len, uint8_t *ram, uint64_t ram_size,
                     uint64_t *entry, char *err, size_t errlen);

/*
 * Zeroes [0, GUEST_IMAGE_MIN_GPA) and writes the GDT, TSS, page tables and
 * every vCPU's boot-info page there; touches nothing at or above
 * GUEST_IMAGE_MIN_GPA. -EINVAL if ram_size is below 2 MiB, above
 * 4 GiB or not a multiple of 2 MiB, or nvcpus is 0 or above
 * GUEST_MAX_VCPUS; -E2BIG if cmdline (NULL = empty) has 256 bytes or more.
 * Independent of guest_image_load (either may run first).
 */
int guest_boot_setup(uint8_t *ram, uint64_t ram_size, unsigned nvcpus, const char *cmdline);

/* Pieces other loaders share (hv/vm/linux_boot.c): a flat code and data segment and the busy
 * TSS at the given selectors (TSS takes two slots; GDT at GUEST_GDT_GPA, at most 0x7f0 bytes
 * long), and the identity map of [0, ram_size) (at most 4 GiB) with 2 MiB pages at
 * GUEST_PML4_GPA. */
void guest_boot_write_gdt(uint8_t *ram, unsigned code, unsigned data, unsigned tss);
void guest_boot_identity_map(uint8_t *ram, uint64_t ram_size);

/* The initial state of vCPU `vcpu` (< the nvcpus given to guest_boot_setup). */
void guest_boot_state(struct vcpu_state *s, uint64_t entry, unsigned vcpu);

/* An AP's state after INIT (SDM Vol. 3A table 10-1), in wait-for-SIPI (ACT_WAIT_SIPI); the TSC
 * is the caller's to keep. */
void guest_boot_init_state(struct vcpu_state *s);
/* What a SIPI with vector makes of it: real mode at vector << 12 (CS = vector << 8, IP = 0). */
void guest_boot_sipi_state(struct vcpu_state *s, uint8_t vector);

#endif
