/*
 * Loads the embedded core ELF into one arena together with the hand-off
 * page tables, converts the UEFI memory map, exits boot services and jumps.
 * Page tables: the core at CORE_VIRT_BASE (4 KiB pages), all RAM at
 * DIRECT_MAP_BASE and identity-mapped (2 MiB pages, shared PDPTs) so the
 * loader keeps running between the CR3 load and the jump.
 */
#include <efi.h>
#include <efilib.h>
#include <elf.h>

#include "boot/loader.h"

#define PTE_P  0x1ull
#define PTE_W  0x2ull
#define PTE_PS 0x80ull
#define PAGE   4096ull
#define GIB    (1ull << 30)


static uint64_t max_ram_end(void)
{
    UINTN size = 0, key, dsize;
    UINT32 dver;
    EFI_MEMORY_DESCRIPTOR *map = LibMemoryMap(&size, &key, &dsize, &dver);
    uint64_t end = 4 * GIB;   /* always cover the 32-bit MMIO hole (LAPIC, IOAPIC, ECAM) */

    if (!map)
        return end;
    for (UINTN off = 0; off < size * dsize; off += dsize) {
        EFI_MEMORY_DESCRIPTOR *d = (void *)((uint8_t *)map + off);
        uint64_t e = d->PhysicalStart + d->NumberOfPages * PAGE;
        if (d->Type != EfiMemoryMappedIO && d->Type != EfiMemoryMappedIOPortSpace && e > end)
            end = e;
    }
    FreePool(map);
    return end;
}

static int elf_span(const Elf64_Ehdr *eh, uint64_t size, uint64_t *lo, uint64_t *hi)
{
    *lo = ~0ull;
    *hi = 0;
    if (size < sizeof(*eh) || eh->e_ident[EI_MAG0] != ELFMAG0 || eh->e_ident[EI_MAG1] != ELFMAG1 ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64 ||
        eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size)
        return -1;
    const Elf64_Phdr *ph = (const void *)((const uint8_t *)eh + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        if (ph[i].p_vaddr < CORE_VIRT_BASE || ph[i].p_offset + ph[i].p_filesz > size)
            return -1;
        if (ph[i].p_vaddr < *lo)
            *lo = ph[i].p_vaddr;
        if (ph[i].p_vaddr + ph[i].p_memsz > *hi)
            *hi = ph[i].p_vaddr + ph[i].p_memsz;
    }
    return *hi ? 0 : -1;
}

int loader_core_prepare(const uint8_t *elf, uint64_t size, struct boot_info *bi,
                        struct loader_core *core)
{
    const Elf64_Ehdr *eh = (const void *)elf;
    uint64_t lo, hi;

    if (elf_span(eh, size, &lo, &hi) || lo != CORE_VIRT_BASE)
        return -1;
    uint64_t img_pages = (hi - lo + PAGE - 1) / PAGE;
    uint64_t gib = (max_ram_end() + GIB - 1) / GIB;
    uint64_t pdpts = (gib + 511) / 512;
    uint64_t pts = (img_pages + 511) / 512;
    if (pts > 512 || pdpts > 255)
        return -1;
    /* PML4, direct-map PDPTs and PDs, core PDPT + PD + PTs */
    uint64_t pt_pages = 1 + pdpts + gib + 2 + pts;

    uint64_t arena_pages = img_pages + pt_pages, arena_phys;
    uint8_t *arena;
    EFI_PHYSICAL_ADDRESS a;
    if (EFI_ERROR(BS->AllocatePages(AllocateAnyPages, EfiLoaderData, arena_pages, &a)))
        return -1;
    arena_phys = a;
    arena = (uint8_t *)a;
    ZeroMem(arena, arena_pages * PAGE);

    const Elf64_Phdr *ph = (const void *)(elf + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD)
            CopyMem(arena + (ph[i].p_vaddr - lo), elf + ph[i].p_offset, ph[i].p_filesz);

    uint64_t *next = (uint64_t *)(arena + img_pages * PAGE);
    uint64_t *pml4 = next;
    next += 512;
    for (uint64_t p = 0; p < pdpts; p++) {
        uint64_t *pdpt = next;
        next += 512;
        pml4[p] = pml4[256 + p] = (uint64_t)pdpt | PTE_P | PTE_W;
        for (uint64_t g = p * 512; g < gib && g < (p + 1) * 512; g++) {
            uint64_t *pd = next;
            next += 512;
            pdpt[g % 512] = (uint64_t)pd | PTE_P | PTE_W;
            for (uint64_t m = 0; m < 512; m++)
                pd[m] = (g * GIB + m * (2ull << 20)) | PTE_P | PTE_W | PTE_PS;
        }
    }
    uint64_t *cpdpt = next, *cpd = next + 512;
    next += 1024;
    pml4[511] = (uint64_t)cpdpt | PTE_P | PTE_W;
    cpdpt[510] = (uint64_t)cpd | PTE_P | PTE_W;   /* 0xffffffff80000000 */
    for (uint64_t i = 0; i < img_pages; i++) {
        uint64_t *pt = next + (i / 512) * 512;
        cpd[i / 512] = (uint64_t)pt | PTE_P | PTE_W;
        pt[i % 512] = (arena_phys + i * PAGE) | PTE_P | PTE_W;
    }

    bi->core_phys = arena_phys;
    bi->core_pages = arena_pages;
    bi->image_phys = arena_phys;
    bi->image_pages = img_pages;
    core->entry = eh->e_entry;
    core->cr3 = (uint64_t)pml4;
    return 0;
}

