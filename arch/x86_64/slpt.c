/*
 * The second-level table code shared by EPT and NPT (the format is the caller's struct
 * slpt_fmt). Level numbering follows the walk: 4 = PML4, 3 = PDPT (1 GiB leaves), 2 = PD
 * (2 MiB leaves), 1 = PT. The builder, walker and freer reach tables through the caller's
 * callbacks, so the host unit tests run them on simulated memory; the dirty-log walkers run
 * on the direct map and split with the frame allocator.
 */
#include <errno.h>
#include <stddef.h>

#include "arch/x86_64/slpt.h"
#include "hv/base/mem.h"

static unsigned shift_of(unsigned level) { return 12 + 9 * (level - 1); }
static uint64_t level_size(unsigned level) { return 1ull << shift_of(level); }
static unsigned index_of(uint64_t gpa, unsigned level) { return (gpa >> shift_of(level)) & 511; }

/* ---- building ---------------------------------------------------------------------- */

static bool chunk_valid(const struct slpt_chunk *c)
{
    if ((c->gpa | c->hpa | c->size) & 0xfff)
        return false;
    return c->gpa <= SLPT_GPA_LIMIT && c->size <= SLPT_GPA_LIMIT - c->gpa &&
           c->hpa <= SLPT_HPA_LIMIT && c->size <= SLPT_HPA_LIMIT - c->hpa;
}

bool slpt_chunks_valid(const struct slpt_chunk *c, unsigned n)
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
static int map_one(const struct slpt_fmt *f, uint64_t root, uint64_t gpa, uint64_t hpa,
                   unsigned level, slpt_alloc_fn alloc, slpt_p2v_fn p2v, void *ctx,
                   int *allocated)
{
    uint64_t *t = p2v(root, ctx);
    for (unsigned l = 4; l > level; l--) {
        uint64_t *e = &t[index_of(gpa, l)];
        if (*e & f->large)
            return -EINVAL;           /* inside an existing large page */
        if (!(*e & f->present)) {
            uint64_t pa = alloc(ctx);
            if (!pa)
                return -ENOMEM;
            (*allocated)++;
            *e = pa | f->table;
        }
        t = p2v(*e & f->addr, ctx);
    }
    uint64_t *leaf = &t[index_of(gpa, level)];
    if (*leaf & f->present)
        return -EINVAL;               /* already mapped, or a table below a would-be large page */
    *leaf = hpa | f->leaf | (level > 1 ? f->large : 0);
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

int slpt_map_chunks(const struct slpt_fmt *f, uint64_t *root, const struct slpt_chunk *c,
                    unsigned n, bool use_1g, slpt_alloc_fn alloc, slpt_p2v_fn p2v, void *ctx)
{
    int allocated = 0;

    if (!*root) {
        *root = alloc(ctx);
        if (!*root)
            return -ENOMEM;
        allocated++;
    }
    for (unsigned i = 0; i < n; i++) {
        if (!chunk_valid(&c[i]))
            return -EINVAL;
        uint64_t gpa = c[i].gpa, hpa = c[i].hpa, end = c[i].gpa + c[i].size;
        while (gpa < end) {
            unsigned level = leaf_level(gpa, hpa, end - gpa, use_1g);
            int rc = map_one(f, *root, gpa, hpa, level, alloc, p2v, ctx, &allocated);
            if (rc)
                return rc;
            gpa += level_size(level);
            hpa += level_size(level);
        }
    }
    return allocated;
}

uint64_t slpt_translate(const struct slpt_fmt *f, uint64_t root, uint64_t gpa, slpt_p2v_fn p2v,
                        void *ctx, unsigned *level)
{
    if (!root || gpa >= SLPT_GPA_LIMIT)
        return SLPT_NOT_MAPPED;
    uint64_t *t = p2v(root, ctx);
    for (unsigned l = 4; l >= 1; l--) {
        uint64_t e = t[index_of(gpa, l)];
        if (!(e & f->present))
            return SLPT_NOT_MAPPED;
        if (l == 1 || (l <= 3 && (e & f->large))) {
            uint64_t sz = level_size(l);
            if (level)
                *level = l;
            return (e & f->addr & ~(sz - 1)) | (gpa & (sz - 1));
        }
        t = p2v(e & f->addr, ctx);
    }
    return SLPT_NOT_MAPPED;
}

static unsigned free_level(const struct slpt_fmt *f, uint64_t pa, unsigned level,
                           slpt_free_fn free_page, slpt_p2v_fn p2v, void *ctx)
{
    unsigned freed = 0;
    if (level > 1) {
        uint64_t *t = p2v(pa, ctx);
        for (unsigned i = 0; i < 512; i++)
            if ((t[i] & f->present) && !(t[i] & f->large))
                freed += free_level(f, t[i] & f->addr, level - 1, free_page, p2v, ctx);
    }
    free_page(pa, ctx);
    return freed + 1;
}

unsigned slpt_free_tables(const struct slpt_fmt *f, uint64_t root, slpt_free_fn free_page,
                          slpt_p2v_fn p2v, void *ctx)
{
    return root ? free_level(f, root, 4, free_page, p2v, ctx) : 0;
}

uint64_t slpt_frame_alloc(void *node)
{
    return frame_alloc(*(const unsigned *)node, 1, 1, FRAME_ZERO);
}

void *slpt_frame_p2v(uint64_t pa, void *ctx)
{
    (void)ctx;
    return phys_to_virt(pa);
}

void slpt_frame_free(uint64_t pa, void *ctx)
{
    (void)ctx;
    frame_free(pa, 1);
}

/* ---- dirty logging ------------------------------------------------------------------ */

enum slpt_op { OP_PROTECT, OP_UNPROTECT, OP_CLEAN };

static uint64_t *table_of(uint64_t e) { return phys_to_virt(e & SLPT_ADDR); }

/* Replaces the large leaf *e (covering 1 << shift bytes) by a table of 512 smaller ones. */
static int split(const struct slpt *t, uint64_t *e, unsigned shift)
{
    uint64_t pa = frame_alloc(t->node, 1, 1, 0);
    if (!pa)
        return -ENOMEM;
    uint64_t *n = phys_to_virt(pa);
    uint64_t sub = 1ull << (shift - 9);
    uint64_t flags = *e & ~SLPT_ADDR;
    if (shift - 9 == 12)
        flags &= ~SLPT_LARGE;      /* 4 KiB leaves have no PS bit */
    for (unsigned i = 0; i < 512; i++)
        n[i] = ((*e & SLPT_ADDR) + i * sub) | flags;
    /* Non-leaf entries carry full permissions (EPT R|W|X, NPT P|RW|US: both 0x7). */
    __atomic_store_n(e, pa | SLPT_TABLE, __ATOMIC_RELEASE);
    return 0;
}

uint64_t *slpt_leaf(const struct slpt *t, uint64_t gpa)
{
    uint64_t *tab = phys_to_virt(t->root);
    for (unsigned level = 4; level >= 1; level--) {
        unsigned shift = 12 + 9 * (level - 1);
        uint64_t *e = &tab[(gpa >> shift) & 511];
        if (!(*e & t->present))
            return NULL;
        if (level == 1)
            return e;
        if (*e & SLPT_LARGE)
            return NULL;           /* not split: only 4 KiB leaves are logged */
        tab = table_of(*e);
    }
    return NULL;
}

/* One 4 KiB leaf: the CPU may set A/D in it meanwhile, so only atomic read-modify-writes. */
static void leaf_op(const struct slpt *t, uint64_t *e, enum slpt_op op)
{
    if (op == OP_PROTECT)
        __atomic_and_fetch(e, ~SLPT_W, __ATOMIC_RELAXED);
    else if (op == OP_UNPROTECT)
        __atomic_or_fetch(e, SLPT_W, __ATOMIC_RELAXED);
    else
        __atomic_and_fetch(e, ~t->dirty, __ATOMIC_RELAXED);
}

static int walk(const struct slpt *t, uint64_t *tab, unsigned level, uint64_t base,
                uint64_t gpa, uint64_t end, enum slpt_op op)
{
    unsigned shift = 12 + 9 * (level - 1);
    for (unsigned i = 0; i < 512; i++) {
        uint64_t lo = base + ((uint64_t)i << shift), hi = lo + (1ull << shift);
        if (hi <= gpa || lo >= end || !(tab[i] & t->present))
            continue;
        if (level > 1 && (tab[i] & SLPT_LARGE) && op == OP_UNPROTECT)
            continue;              /* unsplit large pages were never protected */
        if (level > 1 && (tab[i] & SLPT_LARGE)) {
            int rc = split(t, &tab[i], shift);
            if (rc)
                return rc;
        }
        if (level == 1) {
            leaf_op(t, &tab[i], op);
            continue;
        }
        int rc = walk(t, table_of(tab[i]), level - 1, lo, gpa, end, op);
        if (rc)
            return rc;
    }
    return 0;
}

int slpt_protect_range(const struct slpt *t, uint64_t gpa, uint64_t size, bool ro)
{
    return walk(t, phys_to_virt(t->root), 4, 0, gpa, gpa + size, ro ? OP_PROTECT : OP_UNPROTECT);
}

int slpt_clean_range(const struct slpt *t, uint64_t gpa, uint64_t size)
{
    return walk(t, phys_to_virt(t->root), 4, 0, gpa, gpa + size, OP_CLEAN);
}

static uint64_t harvest(const struct slpt *t, uint64_t *tab, unsigned level, uint64_t base,
                        uint64_t gpa, uint64_t end, uint64_t *bits)
{
    unsigned shift = 12 + 9 * (level - 1);
    uint64_t n = 0;
    for (unsigned i = 0; i < 512; i++) {
        uint64_t lo = base + ((uint64_t)i << shift), hi = lo + (1ull << shift);
        uint64_t e = tab[i];
        if (hi <= gpa || lo >= end || !(e & t->present))
            continue;
        if (level > 1 && !(e & SLPT_LARGE)) {
            n += harvest(t, table_of(e), level - 1, lo, gpa, end, bits);
            continue;
        }
        /* A leaf. Reading first keeps clean leaves free of locked writes; a D set after the
         * read is simply seen next time. */
        if (!(e & t->dirty) || !(__atomic_fetch_and(&tab[i], ~t->dirty, __ATOMIC_ACQ_REL) &
                                 t->dirty))
            continue;
        for (uint64_t p = (lo < gpa ? gpa : lo); p < hi && p < end; p += 4096, n++) {
            uint64_t k = (p - gpa) >> 12;
            bits[k / 64] |= 1ull << (k % 64);
        }
    }
    return n;
}

uint64_t slpt_harvest_dirty(const struct slpt *t, uint64_t gpa, uint64_t size, uint64_t *bits)
{
    return harvest(t, phys_to_virt(t->root), 4, 0, gpa, gpa + size, bits);
}
