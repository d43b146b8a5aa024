/*
 * The core's address space: RAM and the 32-bit MMIO hole in the direct map
 * (2 MiB pages, never executable) and the core image at CORE_VIRT_BASE in
 * 4 KiB pages with W^X: text read-only and executable, the rest NX, rodata
 * read-only. Nothing is identity-mapped, so a NULL dereference faults.
 * Device registers the direct map does not reach (a 64-bit BAR above RAM) are mapped on
 * request into the I/O window at IO_MAP_BASE, uncacheable and never executable.
 */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/mmu.h"
#include "hv/base/log.h"
#include "hv/base/mem.h"

#define P  0x1ull
#define W  0x2ull
#define PS 0x80ull
#define PWT 0x8ull
#define PCD 0x10ull
#define NX (1ull << 63)
#define GIB (1ull << 30)
#define PA_MASK 0x000ffffffffff000ull

/* The I/O window: the last GiB but its top 2 MiB (the core image sits in the GiB below). */
#define IO_MAP_BASE 0xffffffffc0000000ull
#define IO_MAP_END  0xffffffffffe00000ull

static uint64_t *core_pml4;
static uint64_t io_next = IO_MAP_BASE;

extern const char __image_start[], __text_end[], __rodata_end[], __image_end[];

static uint64_t *table(uint64_t *parent, unsigned idx)
{
    if (!(parent[idx] & P)) {
        uint64_t pa = frame_alloc(0, 1, 1, FRAME_ZERO);
        if (!pa)
            return NULL;
        parent[idx] = pa | P | W;
    }
    return phys_to_virt(parent[idx] & 0x000ffffffffff000ull);
}

static uint64_t ram_top(const struct boot_info *bi)
{
    uint64_t top = 4 * GIB;
    for (uint32_t i = 0; i < bi->nregions; i++) {
        uint64_t e = bi->regions[i].base + bi->regions[i].pages * PAGE_SIZE;
        if (bi->regions[i].type != BOOT_MEM_MMIO && e > top)
            top = e;
    }
    return (top + GIB - 1) & ~(GIB - 1);
}

uint64_t mmu_init(const struct boot_info *bi)
{
    uint64_t pml4_pa = frame_alloc(0, 1, 1, FRAME_ZERO);
    if (!pml4_pa)
        return 0;
    uint64_t *pml4 = phys_to_virt(pml4_pa);
    uint64_t top = ram_top(bi);

    for (uint64_t pa = 0; pa < top; pa += 2ull << 20) {
        uint64_t va = DIRECT_MAP_BASE + pa;
        uint64_t *pdpt = table(pml4, (va >> 39) & 511);
        uint64_t *pd = pdpt ? table(pdpt, (va >> 30) & 511) : NULL;
        if (!pd)
            return 0;
        pd[(va >> 21) & 511] = pa | P | W | PS | NX;
    }
    for (const char *v = __image_start; v < __image_end; v += PAGE_SIZE) {
        uint64_t va = (uint64_t)v;
        uint64_t pa = bi->image_phys + (va - CORE_VIRT_BASE);
        uint64_t *pdpt = table(pml4, (va >> 39) & 511);
        uint64_t *pd = pdpt ? table(pdpt, (va >> 30) & 511) : NULL;
        uint64_t *pt = pd ? table(pd, (va >> 21) & 511) : NULL;
        if (!pt)
            return 0;
        uint64_t flags = P;
        if (v >= __text_end)
            flags |= NX;
        if (v >= __rodata_end)
            flags |= W;
        pt[(va >> 12) & 511] = pa | flags;
    }
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
    write_cr4(read_cr4() | CR4_PGE);
    write_cr3(pml4_pa);
    core_pml4 = pml4;
    log_info("mmu", "direct map 0-%llu GiB, core image %llu KiB",
             (unsigned long long)(top / GIB),
             (unsigned long long)((__image_end - __image_start) / 1024));
    return pml4_pa;
}

/*
 * Maps [pa, pa + len) uncacheable (PCD|PWT: PAT entry 3, UC with the reset PAT) and NX into
 * the I/O window; the address of pa, or NULL when the window is full, the range is not
 * page-granular-sane or a table cannot be had. Called while drivers probe, on the BSP: the
 * tables are shared by every CPU, and entries only go from not-present to present, so no
 * CPU holds a stale translation.
 */
volatile void *mmu_map_io(uint64_t pa, uint64_t len)
{
    uint64_t first = pa & ~(uint64_t)(PAGE_SIZE - 1);
    if (!core_pml4 || !len || pa + len < pa || pa + len > (1ull << 52))
        return NULL;
    uint64_t span = ((pa + len + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1)) - first;
    if (span > IO_MAP_END - io_next)
        return NULL;
    uint64_t base = io_next;
    for (uint64_t o = 0; o < span; o += PAGE_SIZE) {
        uint64_t va = base + o;
        uint64_t *pdpt = table(core_pml4, (va >> 39) & 511);
        uint64_t *pd = pdpt ? table(pdpt, (va >> 30) & 511) : NULL;
        uint64_t *pt = pd ? table(pd, (va >> 21) & 511) : NULL;
        if (!pt)
            return NULL;            /* the pages mapped so far stay unused in the window */
        pt[(va >> 12) & 511] = ((first + o) & PA_MASK) | P | W | PWT | PCD | NX;
    }
    io_next = base + span;
    return (volatile void *)(base + (pa - first));
}
