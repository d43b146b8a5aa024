#include <errno.h>
#include <stddef.h>

#include "arch/x86_64/slpt.h"
#include "hv/mem.h"

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

static int protect(const struct slpt *t, uint64_t *tab, unsigned level, uint64_t base,
                   uint64_t gpa, uint64_t end, bool ro)
{
    unsigned shift = 12 + 9 * (level - 1);
    for (unsigned i = 0; i < 512; i++) {
        uint64_t lo = base + ((uint64_t)i << shift), hi = lo + (1ull << shift);
        if (hi <= gpa || lo >= end || !(tab[i] & t->present))
            continue;
        if (level > 1 && (tab[i] & SLPT_LARGE) && !ro)
            continue;              /* unsplit large pages were never protected */
        if (level > 1 && (tab[i] & SLPT_LARGE)) {
            int rc = split(t, &tab[i], shift);
            if (rc)
                return rc;
        }
        if (level == 1) {
            if (ro)
                __atomic_and_fetch(&tab[i], ~SLPT_W, __ATOMIC_RELAXED);
            else
                __atomic_or_fetch(&tab[i], SLPT_W, __ATOMIC_RELAXED);
            continue;
        }
        int rc = protect(t, table_of(tab[i]), level - 1, lo, gpa, end, ro);
        if (rc)
            return rc;
    }
    return 0;
}

int slpt_protect_range(const struct slpt *t, uint64_t gpa, uint64_t size, bool ro)
{
    return protect(t, phys_to_virt(t->root), 4, 0, gpa, gpa + size, ro);
}
