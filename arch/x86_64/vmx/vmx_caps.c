/*
 * Capability-MSR arithmetic and the EPT builder. Both are pure functions of
 * their inputs so the host unit tests can check them against a walker.
 */
#include <errno.h>
#include <stddef.h>

#include "arch/x86_64/vmx/vmx_caps.h"

int vmx_adjust_ctls(uint64_t cap, uint32_t want, uint32_t need, uint32_t *out)
{
    uint32_t must = (uint32_t)cap, may = (uint32_t)(cap >> 32);
    uint32_t v = (want | need | must) & may;
    if ((v & need) != need)
        return -ENOTSUP;
    *out = v;
    return 0;
}

uint64_t ept_pointer(uint64_t root, bool ad)
{
    /* WB paging structures, 4-level walk (length - 1 = 3 in bits 5:3), A/D in bit 6 */
    return (root & EPT_ADDR_MASK) | 6 | (3 << 3) | (ad ? 1ull << 6 : 0);
}

unsigned vmx_pml_drain(const uint64_t *log, uint16_t index, vmx_pml_fn fn, void *ctx)
{
    /* Entries index+1..511 are filled; any index past 511 means all of them. */
    unsigned first = index < VMX_PML_ENTRIES ? index + 1u : 0;
    for (unsigned i = first; i < VMX_PML_ENTRIES; i++)
        fn(ctx, log[i] & ~0xfffull);
    return VMX_PML_ENTRIES - first;
}

static uint64_t *next_table(uint64_t *entry, ept_alloc_fn alloc, ept_p2v_fn p2v, void *ctx,
                            int *allocated)
{
    if (*entry & EPT_LARGE)
        return NULL;              /* already mapped large: overlapping chunks */
    if (!(*entry & EPT_RWX)) {
        uint64_t pa = alloc(ctx);
        if (!pa)
            return NULL;
        (*allocated)++;
        *entry = pa | EPT_RWX;
    }
    return p2v(*entry & EPT_ADDR_MASK, ctx);
}

static int map_one(uint64_t root, uint64_t gpa, uint64_t hpa, unsigned level, ept_alloc_fn alloc,
                   ept_p2v_fn p2v, void *ctx, int *allocated)
{
    uint64_t *t = p2v(root, ctx);
    for (unsigned l = 4; l > level; l--) {
        uint64_t *e = &t[(gpa >> (12 + 9 * (l - 1))) & 511];
        t = next_table(e, alloc, p2v, ctx, allocated);
        if (!t)
            return *e & EPT_LARGE ? -EINVAL : -ENOMEM;
    }
    uint64_t *leaf = &t[(gpa >> (12 + 9 * (level - 1))) & 511];
    if (*leaf & EPT_RWX)
        return -EINVAL;           /* overlapping chunks */
    *leaf = hpa | EPT_RWX | EPT_MT_WB | (level > 1 ? EPT_LARGE : 0);
    return 0;
}

int ept_map_chunks(uint64_t *root, const struct ept_chunk *c, unsigned n, bool use_1g,
                   ept_alloc_fn alloc, ept_p2v_fn p2v, void *ctx)
{
    int allocated = 0;

    if (!*root) {
        *root = alloc(ctx);
        if (!*root)
            return -ENOMEM;
        allocated++;
    }
    for (unsigned i = 0; i < n; i++) {
        uint64_t gpa = c[i].gpa, hpa = c[i].hpa, end = c[i].gpa + c[i].size;
        /* Guest addresses within the 4-level walk, host addresses within MAXPHYADDR (52). */
        if ((gpa | hpa | c[i].size) & 0xfff || end < gpa || end > (1ull << 48) ||
            hpa + c[i].size < hpa || hpa + c[i].size > (1ull << 52))
            return -EINVAL;
        while (gpa < end) {
            unsigned level = 1;
            for (unsigned l = use_1g ? 3 : 2; l > 1; l--) {
                uint64_t sz = 1ull << (12 + 9 * (l - 1));
                if (!((gpa | hpa) & (sz - 1)) && end - gpa >= sz) {
                    level = l;
                    break;
                }
            }
            int rc = map_one(*root, gpa, hpa, level, alloc, p2v, ctx, &allocated);
            if (rc)
                return rc;
            uint64_t step = 1ull << (12 + 9 * (level - 1));
            gpa += step;
            hpa += step;
        }
    }
    return allocated;
}

uint64_t ept_translate(uint64_t root, uint64_t gpa, ept_p2v_fn p2v, void *ctx, unsigned *level)
{
    if (gpa >> 48)
        return ~0ull;
    uint64_t *t = p2v(root, ctx);
    for (unsigned l = 4; l >= 1; l--) {
        uint64_t e = t[(gpa >> (12 + 9 * (l - 1))) & 511];
        if (!(e & EPT_RWX))
            return ~0ull;
        if (l == 1 || (e & EPT_LARGE)) {
            uint64_t sz = 1ull << (12 + 9 * (l - 1));
            if (level)
                *level = l;
            return (e & EPT_ADDR_MASK & ~(sz - 1)) | (gpa & (sz - 1));
        }
        t = p2v(e & EPT_ADDR_MASK, ctx);
    }
    return ~0ull;
}
