/*
 * The nested page table format for the shared second-level table builder
 * (arch/x86_64/slpt.c). NPT refuses a chunk list that overlaps itself before
 * building anything.
 */
#include <errno.h>

#include "arch/x86_64/svm/svm_npt.h"

/* APM 15.25.5: table walks are user accesses, so P|RW|US on every level; memory type WB. */
_Static_assert(NPT_PERM == SLPT_TABLE && NPT_PS == SLPT_LARGE && NPT_ADDR_MASK == SLPT_ADDR,
               "slpt.c splits large leaves with the shared bits");
const struct slpt_fmt npt_fmt = {
    .present = NPT_P,
    .table = NPT_PERM,
    .leaf = NPT_PERM,
    .large = NPT_PS,
    .dirty = NPT_D,
    .addr = NPT_ADDR_MASK,
};

int npt_map_chunks(uint64_t *root, const struct npt_chunk *c, unsigned n, bool use_1g,
                   npt_alloc_fn alloc, npt_p2v_fn p2v, void *ctx)
{
    if (!slpt_chunks_valid(c, n))
        return -EINVAL;
    return slpt_map_chunks(&npt_fmt, root, c, n, use_1g, alloc, p2v, ctx);
}

uint64_t npt_translate(uint64_t root, uint64_t gpa, npt_p2v_fn p2v, void *ctx, unsigned *level)
{
    return slpt_translate(&npt_fmt, root, gpa, p2v, ctx, level);
}

unsigned npt_free_tables(uint64_t root, npt_free_fn free_page, npt_p2v_fn p2v, void *ctx)
{
    return slpt_free_tables(&npt_fmt, root, free_page, p2v, ctx);
}
