/*
 * ExitBootServices and the jump. After the exit no boot service may run,
 * so the final memory map is fetched into a buffer allocated beforehand and
 * converted by plain code: UEFI types fold into enum boot_mem_type, and the
 * pages the core keeps (arena, boot info, ferry.cfg, images) are carved out
 * of the usable ranges as BOOT_MEM_CORE.
 */
#include <efi.h>
#include <efilib.h>

#include "boot/loader.h"

#define MAX_KEEP (4 + BOOT_MAX_MODULES)

struct range { uint64_t base, end; };

static uint32_t efi_type(UINT32 t)
{
    switch (t) {
    case EfiConventionalMemory:
    case EfiBootServicesCode:
    case EfiBootServicesData:
    case EfiLoaderCode:
    case EfiLoaderData:
        return BOOT_MEM_USABLE;
    case EfiACPIReclaimMemory:
        return BOOT_MEM_ACPI;
    case EfiACPIMemoryNVS:
        return BOOT_MEM_ACPI_NVS;
    case EfiMemoryMappedIO:
    case EfiMemoryMappedIOPortSpace:
        return BOOT_MEM_MMIO;
    default:
        return BOOT_MEM_RESERVED;
    }
}

static void add_region(struct boot_info *bi, uint64_t base, uint64_t end, uint32_t type)
{
    if (end <= base)
        return;
    struct boot_mem_region *last = bi->nregions ? &bi->regions[bi->nregions - 1] : NULL;
    if (last && last->type == type && last->base + last->pages * 4096 == base) {
        last->pages += (end - base) / 4096;
        return;
    }
    if (bi->nregions == BOOT_MAX_REGIONS) {
        bi->regions_dropped++;
        return;
    }
    bi->regions[bi->nregions++] = (struct boot_mem_region){ base, (end - base) / 4096, type, 0 };
}

/* Emit [base,end) of a usable descriptor minus the kept ranges (sorted). */
static void add_usable(struct boot_info *bi, uint64_t base, uint64_t end,
                       const struct range *keep, int nkeep)
{
    for (int i = 0; i < nkeep && base < end; i++) {
        if (keep[i].end <= base || keep[i].base >= end)
            continue;
        add_region(bi, base, keep[i].base > base ? keep[i].base : base, BOOT_MEM_USABLE);
        add_region(bi, keep[i].base > base ? keep[i].base : base,
                   keep[i].end < end ? keep[i].end : end, BOOT_MEM_CORE);
        base = keep[i].end;
    }
    add_region(bi, base, end, BOOT_MEM_USABLE);
}

static int keep_ranges(const struct boot_info *bi, uint64_t bi_phys, struct range *k)
{
    int n = 0;
    k[n++] = (struct range){ bi->core_phys, bi->core_phys + bi->core_pages * 4096 };
    k[n++] = (struct range){ bi_phys, bi_phys + ((sizeof(*bi) + 4095) & ~4095ull) };
    if (bi->config_phys)
        k[n++] = (struct range){ bi->config_phys, (bi->config_phys + bi->config_size + 4096) & ~4095ull };
    for (uint32_t i = 0; i < bi->nmodules; i++)
        k[n++] = (struct range){ bi->modules[i].phys,
                                 (bi->modules[i].phys + bi->modules[i].size + 4096) & ~4095ull };
    for (int i = 1; i < n; i++)          /* insertion sort by base */
        for (int j = i; j > 0 && k[j].base < k[j - 1].base; j--) {
            struct range t = k[j];
            k[j] = k[j - 1];
            k[j - 1] = t;
        }
    return n;
}

static void sort_regions(struct boot_info *bi)
{
    for (uint32_t i = 1; i < bi->nregions; i++)
        for (uint32_t j = i; j > 0 && bi->regions[j].base < bi->regions[j - 1].base; j--) {
            struct boot_mem_region t = bi->regions[j];
            bi->regions[j] = bi->regions[j - 1];
            bi->regions[j - 1] = t;
        }
}

void loader_exit_and_jump(EFI_HANDLE image, struct boot_info *bi, uint64_t bi_phys,
                          const struct loader_core *core)
{
    UINTN cap = 64 * 1024, size, key = 0, dsize = 0;
    UINT32 dver;
    EFI_MEMORY_DESCRIPTOR *map = NULL;
    struct range keep[MAX_KEEP];

    int nkeep = keep_ranges(bi, bi_phys, keep);

    BS->AllocatePool(EfiLoaderData, cap, (void **)&map);
    for (int tries = 0; tries < 4; tries++) {
        size = cap;
        if (EFI_ERROR(BS->GetMemoryMap(&size, map, &key, &dsize, &dver)))
            continue;
        if (!EFI_ERROR(BS->ExitBootServices(image, key)))
            goto exited;
    }
    Print(L"ferry: ExitBootServices failed\r\n");
    for (;;)
        __asm__ volatile("hlt");
exited:
    for (UINTN off = 0; off < size; off += dsize) {
        EFI_MEMORY_DESCRIPTOR *d = (void *)((uint8_t *)map + off);
        uint64_t base = d->PhysicalStart, end = base + d->NumberOfPages * 4096;
        uint32_t t = efi_type(d->Type);
        if (t == BOOT_MEM_USABLE)
            add_usable(bi, base, end, keep, nkeep);
        else
            add_region(bi, base, end, t);
    }
    sort_regions(bi);

    __asm__ volatile("cli\n\t"
                     "mov %0, %%cr3\n\t"
                     "mov %2, %%rdi\n\t"
                     "jmp *%1"
                     :: "r"(core->cr3), "r"(core->entry), "r"(DIRECT_MAP_BASE + bi_phys)
                     : "rdi", "memory");
    __builtin_unreachable();
}
