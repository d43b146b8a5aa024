#include <errno.h>
#include <stddef.h>

#include "arch/x86_64/slpt.h"
#include "hv/base/mem.h"

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
    __atomic_store_n(e, pa | 0x7, __ATOMIC_RELEASE);
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
