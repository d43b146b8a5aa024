/*
 * The nested page table builder and walker. Level numbering follows the
 * walk: 4 = PML4, 3 = PDPT (1 GiB leaves), 2 = PD (2 MiB leaves), 1 = PT.
 */
#include <errno.h>
#include <stddef.h>

#include "arch/x86_64/svm/svm_npt.h"

static unsigned index_of(uint64_t gpa, unsigned level)
{
    return (gpa >> (12 + 9 * (level - 1))) & 511;
}

static uint64_t level_size(unsigned level)
{
    return 1ull << (12 + 9 * (level - 1));
}

static bool chunk_valid(const struct npt_chunk *c)
{
    if ((c->gpa | c->hpa | c->size) & 0xfff)
        return false;
    return c->gpa <= NPT_GPA_LIMIT && c->size <= NPT_GPA_LIMIT - c->gpa &&
           c->hpa <= NPT_HPA_LIMIT && c->size <= NPT_HPA_LIMIT - c->hpa;
}

/* All chunks well-formed and their guest ranges pairwise disjoint. */
static bool chunks_valid(const struct npt_chunk *c, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (!chunk_valid(&c[i]))
            return false;
        for (unsigned j = 0; j < i; j++)
            if (c[i].size && c[j].size && c[i].gpa < c[j].gpa + c[j].size &&
                c[j].gpa < c[i].gpa + c[i].size)
                return false;
    }
    return true;
}

/* Installs one leaf at `level`, allocating the tables above it. */
static int map_one(uint64_t root, uint64_t gpa, uint64_t hpa, unsigned level, npt_alloc_fn alloc,
                   npt_p2v_fn p2v, void *ctx, int *allocated)
{
    uint64_t *t = p2v(root, ctx);
    for (unsigned l = 4; l > level; l--) {
        uint64_t *e = &t[index_of(gpa, l)];
        if (*e & NPT_PS)
            return -EINVAL;           /* inside an existing large page */
        if (!(*e & NPT_P)) {
            uint64_t pa = alloc(ctx);
            if (!pa)
                return -ENOMEM;
            (*allocated)++;
            /* APM 15.25.5: table walks are user accesses, so US on every level. */
            *e = pa | NPT_PERM;
        }
        t = p2v(*e & NPT_ADDR_MASK, ctx);
    }
    uint64_t *leaf = &t[index_of(gpa, level)];
    if (*leaf & NPT_P)
        return -EINVAL;               /* already mapped, or a table below a would-be large page */
    *leaf = hpa | NPT_PERM | (level > 1 ? NPT_PS : 0);
    return 0;
}

/* The largest leaf level usable at gpa/hpa with `left` bytes still to map. */
static unsigned leaf_level(uint64_t gpa, uint64_t hpa, uint64_t left, bool use_1g)
{
    for (unsigned l = use_1g ? 3 : 2; l > 1; l--) {
        uint64_t sz = level_size(l);
        if (!((gpa | hpa) & (sz - 1)) && left >= sz)
            return l;
    }
    return 1;
}

int npt_map_chunks(uint64_t *root, const struct npt_chunk *c, unsigned n, bool use_1g,
                   npt_alloc_fn alloc, npt_p2v_fn p2v, void *ctx)
{
    int allocated = 0;

    if (!chunks_valid(c, n))
        return -EINVAL;
    if (!*root) {
        *root = alloc(ctx);
        if (!*root)
            return -ENOMEM;
        allocated++;
    }
    for (unsigned i = 0; i < n; i++) {
        uint64_t gpa = c[i].gpa, hpa = c[i].hpa, end = c[i].gpa + c[i].size;
        while (gpa < end) {
            unsigned level = leaf_level(gpa, hpa, end - gpa, use_1g);
            int rc = map_one(*root, gpa, hpa, level, alloc, p2v, ctx, &allocated);
            if (rc)
                return rc;
            gpa += level_size(level);
            hpa += level_size(level);
        }
    }
    return allocated;
}

uint64_t npt_translate(uint64_t root, uint64_t gpa, npt_p2v_fn p2v, void *ctx, unsigned *level)
{
    if (!root || gpa >= NPT_GPA_LIMIT)
        return NPT_NOT_MAPPED;
    uint64_t *t = p2v(root, ctx);
    for (unsigned l = 4; l >= 1; l--) {
        uint64_t e = t[index_of(gpa, l)];
        if (!(e & NPT_P))
            return NPT_NOT_MAPPED;
        if (l == 1 || (l <= 3 && (e & NPT_PS))) {
            uint64_t sz = level_size(l);
            if (level)
                *level = l;
            return (e & NPT_ADDR_MASK & ~(sz - 1)) | (gpa & (sz - 1));
        }
        t = p2v(e & NPT_ADDR_MASK, ctx);
    }
    return NPT_NOT_MAPPED;
}

static unsigned free_level(uint64_t pa, unsigned level, npt_free_fn free_page, npt_p2v_fn p2v,
                           void *ctx)
{
    unsigned freed = 0;
    if (level > 1) {
        uint64_t *t = p2v(pa, ctx);
        for (unsigned i = 0; i < 512; i++)
            if ((t[i] & NPT_P) && !(t[i] & NPT_PS))
                freed += free_level(t[i] & NPT_ADDR_MASK, level - 1, free_page, p2v, ctx);
    }
    free_page(pa, ctx);
    return freed + 1;
}

unsigned npt_free_tables(uint64_t root, npt_free_fn free_page, npt_p2v_fn p2v, void *ctx)
{
    return root ? free_level(root, 4, free_page, p2v, ctx) : 0;
}
