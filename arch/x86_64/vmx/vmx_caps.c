/*
 * Capability-MSR arithmetic and the EPT format of the shared second-level
 * table builder (arch/x86_64/slpt.c). Pure functions of their inputs, so the
 * host unit tests can check them against a walker.
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

/* SDM 29.3.2: every level R|W|X (non-leaf entries get no memory type); leaves WB (type 6). */
_Static_assert(EPT_RWX == SLPT_TABLE && EPT_LARGE == SLPT_LARGE && EPT_ADDR_MASK == SLPT_ADDR,
               "slpt.c splits large leaves with the shared bits");
const struct slpt_fmt ept_fmt = {
    .present = EPT_RWX,
    .table = EPT_RWX,
    .leaf = EPT_RWX | EPT_MT_WB,
    .large = EPT_LARGE,
    .dirty = EPT_DIRTY,
    .addr = EPT_ADDR_MASK,
};

int ept_map_chunks(uint64_t *root, const struct ept_chunk *c, unsigned n, bool use_1g,
                   ept_alloc_fn alloc, ept_p2v_fn p2v, void *ctx)
{
    return slpt_map_chunks(&ept_fmt, root, c, n, use_1g, alloc, p2v, ctx);
}

uint64_t ept_translate(uint64_t root, uint64_t gpa, ept_p2v_fn p2v, void *ctx, unsigned *level)
{
    return slpt_translate(&ept_fmt, root, gpa, p2v, ctx, level);
}
