/*
 * The frame allocator: one bitmap per zone, a zone being the part of a
 * usable firmware region that lies on one NUMA node. First fit from a
 * rotating hint; runs are found a 64-frame word at a time where possible.
 */
#include <errno.h>
#include <string.h>

#include "hv/base/log.h"
#include "hv/base/mem.h"
#include "hv/base/spinlock.h"

static struct frame_zone zones[FRAME_MAX_ZONES];
static unsigned nzones, nnodes_ = 1;
static uint64_t ram_pages[FRAME_MAX_NODES];
static frame_p2v_fn p2v;
static struct spinlock lock;

static bool test_bit(const uint64_t *bm, uint64_t i) { return bm[i / 64] >> (i % 64) & 1; }

static void set_bits(uint64_t *bm, uint64_t i, uint64_t n, bool v)
{
    for (; n; i++, n--) {
        if (i % 64 == 0 && n >= 64) {
            bm[i / 64] = v ? ~0ull : 0;
            i += 63;
            n -= 63;
        } else if (v) {
            bm[i / 64] |= 1ull << (i % 64);
        } else {
            bm[i / 64] &= ~(1ull << (i % 64));
        }
    }
}

static unsigned node_of(uint64_t addr, const struct frame_node_range *r, unsigned n,
                        uint64_t *end)
{
    for (unsigned i = 0; i < n; i++)
        if (addr >= r[i].base && addr < r[i].end) {
            *end = r[i].end;
            return r[i].node;
        }
    /* Not covered by any range: next range start bounds this piece. */
    uint64_t next = ~0ull;
    for (unsigned i = 0; i < n; i++)
        if (r[i].base > addr && r[i].base < next)
            next = r[i].base;
    *end = next;
    return 0;
}

static void add_zone(uint64_t base, uint64_t end, unsigned node)
{
    /* SRAT boundaries are in bytes: zones hold whole pages only. */
    base = (base + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    end &= ~(PAGE_SIZE - 1);
    if (end <= base)
        return;
    uint64_t pages = (end - base) / PAGE_SIZE;
    uint64_t bm_pages = (pages + PAGE_SIZE * 8 - 1) / (PAGE_SIZE * 8);

    if (pages <= bm_pages)
        return;
    if (nzones == FRAME_MAX_ZONES) {
        log_warn("mem", "too many zones; %llu KiB at 0x%llx unused",
                 (unsigned long long)(pages * 4), (unsigned long long)base);
        return;
    }
    struct frame_zone *z = &zones[nzones++];
    z->base = base;
    z->pages = pages;
    z->node = node;
    z->bitmap = p2v(base);
    z->hint = 0;
    z->bitmap_pages = bm_pages;
    memset(z->bitmap, 0, bm_pages * PAGE_SIZE);
    set_bits(z->bitmap, 0, bm_pages, true);
    /* Bits past the end of the zone stay set so runs never cross it. */
    set_bits(z->bitmap, pages, bm_pages * PAGE_SIZE * 8 - pages, true);
    z->free = pages - bm_pages;
}

static void add_region(uint64_t base, uint64_t end, bool usable,
                       const struct frame_node_range *r, unsigned nr)
{
    while (base < end) {
        uint64_t piece_end;
        unsigned node = node_of(base, r, nr, &piece_end);
        if (piece_end > end)
            piece_end = end;
        if (node >= FRAME_MAX_NODES)
            node = 0;
        if (!nr)
            ram_pages[node] += (piece_end - base) / PAGE_SIZE;
        if (usable)
            add_zone(base, piece_end, node);
        base = piece_end;
    }
}

static bool is_ram_type(uint32_t t)
{
    return t == BOOT_MEM_USABLE || t == BOOT_MEM_ACPI || t == BOOT_MEM_ACPI_NVS ||
           t == BOOT_MEM_CORE;
}

/*
 * Firmware carves reserved ranges out of RAM (they touch RAM regions); a
 * reserved range standing alone is a window such as PCIe ECAM, not RAM.
 * Only used for the RAM count when there is no SRAT. Regions are sorted.
 */
static bool reserved_is_ram(const struct boot_mem_region *r, unsigned n, unsigned i)
{
    uint64_t end = r[i].base + r[i].pages * PAGE_SIZE;
    return (i > 0 && is_ram_type(r[i - 1].type) &&
            r[i - 1].base + r[i - 1].pages * PAGE_SIZE == r[i].base) ||
           (i + 1 < n && is_ram_type(r[i + 1].type) && r[i + 1].base == end);
}

int frame_init(const struct boot_mem_region *regions, unsigned nregions,
               const struct frame_node_range *ranges, unsigned nranges, unsigned nnodes,
               frame_p2v_fn fn)
{
    if (!fn || nnodes == 0 || nnodes > FRAME_MAX_NODES)
        return -EINVAL;
    nzones = 0;
    nnodes_ = nnodes;
    memset(ram_pages, 0, sizeof(ram_pages));
    p2v = fn;
    /* With an SRAT, a node's RAM is what the SRAT gives it (firmware reservations included). */
    for (unsigned i = 0; i < nranges; i++)
        if (ranges[i].node < FRAME_MAX_NODES && ranges[i].end > ranges[i].base)
            ram_pages[ranges[i].node] += (ranges[i].end - ranges[i].base) / PAGE_SIZE;
    for (unsigned i = 0; i < nregions; i++) {
        const struct boot_mem_region *m = &regions[i];
        uint64_t base = m->base, end = m->base + m->pages * PAGE_SIZE;
        if (m->type == BOOT_MEM_MMIO)
            continue;
        if (m->type == BOOT_MEM_RESERVED) {
            if (reserved_is_ram(regions, nregions, i))
                add_region(base, end, false, ranges, nranges);
            continue;
        }
        bool usable = m->type == BOOT_MEM_USABLE;
        if (usable && base < FRAME_LOW_LIMIT) {
            add_region(base, end < FRAME_LOW_LIMIT ? end : FRAME_LOW_LIMIT, false, ranges, nranges);
            base = FRAME_LOW_LIMIT;
        }
        if (base < end)
            add_region(base, end, usable, ranges, nranges);
    }
    return nzones ? 0 : -ENOMEM;
}

static uint64_t zone_find(struct frame_zone *z, uint64_t pages, uint64_t align)
{
    uint64_t limit = z->pages;
    for (uint64_t pass = 0; pass < 2; pass++) {
        uint64_t i = pass ? 0 : z->hint;
        uint64_t stop = pass ? z->hint + pages : limit;
        if (stop > limit)
            stop = limit;
        while (i + pages <= stop) {
            if (i % 64 == 0 && z->bitmap[i / 64] == ~0ull) {
                i += 64;
                continue;
            }
            uint64_t a = (z->base / PAGE_SIZE + i) % align;
            if (a) {
                i += align - a;
                continue;
            }
            uint64_t run = 0;
            while (run < pages && !test_bit(z->bitmap, i + run))
                run++;
            if (run == pages)
                return i;
            i += run + 1;
        }
    }
    return ~0ull;
}

static uint64_t alloc_in(unsigned node, uint64_t pages, uint64_t align)
{
    for (unsigned k = 0; k < nzones; k++) {
        struct frame_zone *z = &zones[k];
        if (z->node != node || z->free < pages)
            continue;
        uint64_t i = zone_find(z, pages, align);
        if (i == ~0ull)
            continue;
        set_bits(z->bitmap, i, pages, true);
        z->free -= pages;
        z->hint = i + pages < z->pages ? i + pages : 0;
        return z->base + i * PAGE_SIZE;
    }
    return 0;
}

uint64_t frame_alloc(unsigned node, uint64_t pages, uint64_t align_pages, unsigned flags)
{
    uint64_t pa = 0;

    if (pages == 0 || node >= nnodes_)
        return 0;
    if (align_pages == 0)
        align_pages = 1;
    spin_lock(&lock);
    pa = alloc_in(node, pages, align_pages);
    for (unsigned n = 0; !pa && !(flags & FRAME_STRICT) && n < nnodes_; n++)
        if (n != node)
            pa = alloc_in(n, pages, align_pages);
    spin_unlock(&lock);
    if (pa && (flags & FRAME_ZERO))
        memset(p2v(pa), 0, pages * PAGE_SIZE);
    return pa;
}

void frame_free(uint64_t phys, uint64_t pages)
{
    spin_lock(&lock);
    for (unsigned k = 0; k < nzones; k++) {
        struct frame_zone *z = &zones[k];
        if (phys < z->base || (phys - z->base) / PAGE_SIZE >= z->pages)
            continue;
        uint64_t i = (phys - z->base) / PAGE_SIZE;
        if ((phys & (PAGE_SIZE - 1)) || pages > z->pages - i || i < z->bitmap_pages) {
            spin_unlock(&lock);
            log_err("mem", "free of unmanaged range 0x%llx+%llu pages (past a zone end or its bitmap)",
                    (unsigned long long)phys, (unsigned long long)pages);
            return;
        }
        for (uint64_t j = i; j < i + pages; j++) {
            if (!test_bit(z->bitmap, j)) {
                log_err("mem", "double free of frame 0x%llx",
                        (unsigned long long)(z->base + j * PAGE_SIZE));
                continue;
            }
            z->bitmap[j / 64] &= ~(1ull << (j % 64));
            z->free++;
        }
        spin_unlock(&lock);
        return;
    }
    spin_unlock(&lock);
    log_err("mem", "free of unmanaged frames 0x%llx+%llu", (unsigned long long)phys,
            (unsigned long long)pages);
}

uint64_t frame_node_blocks(unsigned node, uint64_t align, uint64_t *largest)
{
    uint64_t blocks = 0, best = 0;
    spin_lock(&lock);
    for (unsigned k = 0; k < nzones; k++) {
        struct frame_zone *z = &zones[k];
        if (z->node != node)
            continue;
        uint64_t run = 0;
        uint64_t i = (align - (z->base / PAGE_SIZE) % align) % align;
        for (; i + align <= z->pages; i += align) {
            bool free = true;
            for (uint64_t j = i; j < i + align && free;) {
                if (j % 64 == 0 && j + 64 <= i + align) {       /* a whole bitmap word */
                    free = !z->bitmap[j / 64];
                    j += 64;
                } else {
                    free = !test_bit(z->bitmap, j);
                    j++;
                }
            }
            if (free) {
                blocks++;
                run++;
                best = run > best ? run : best;
            } else {
                run = 0;
            }
        }
    }
    spin_unlock(&lock);
    if (largest)
        *largest = best * align;
    return blocks;
}

void frame_node_stats(unsigned node, struct frame_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (node >= FRAME_MAX_NODES)
        return;
    out->ram_pages = ram_pages[node];
    spin_lock(&lock);
    for (unsigned k = 0; k < nzones; k++)
        if (zones[k].node == node) {
            out->total_pages += zones[k].pages;
            out->free_pages += zones[k].free;
            out->zones++;
        }
    spin_unlock(&lock);
}

unsigned frame_nodes(void) { return nnodes_; }
unsigned frame_zone_count(void) { return nzones; }
const struct frame_zone *frame_zone_get(unsigned i) { return i < nzones ? &zones[i] : NULL; }
