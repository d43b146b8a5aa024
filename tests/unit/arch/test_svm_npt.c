/*
 * Host tests for arch/x86_64/svm/svm_npt.c. Table pages come from `arena`,
 * which plays host-physical memory [ARENA_PA, ARENA_PA + ARENA_PAGES * 4K);
 * test_p2v fails the test on any address outside it or on a page not handed
 * out, and arena_free on a double free. Mapped host addresses (hpa) are never
 * dereferenced, so they may lie anywhere. mmu_walk() is an independent
 * walker that checks each entry as the CPU does for a nested walk (user-mode
 * write access, APM 15.25.5): P, RW and US at every level, PS only in a PDPE
 * or PDE, no reserved address bits in a large leaf, no NX, WB memory type.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/svm/svm_npt.h"
#include "support.h"

#define KiB 1024ull
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define PG  (4 * KiB)
#define ARENA_PA    0x7f000000ull
#define ARENA_PAGES 2048u

struct arena {
    uint64_t *mem;               /* ARENA_PAGES pages of 512 entries */
    bool used[ARENA_PAGES];
    unsigned next, allocs, frees, live;
    int fail_after;              /* fail allocations after this many; -1: never */
};

static struct arena A;

static uint64_t arena_alloc(void *ctx)
{
    struct arena *a = ctx;
    if (a->fail_after >= 0 && a->allocs >= (unsigned)a->fail_after)
        return 0;
    if (a->next >= ARENA_PAGES)
        fail_msg("arena exhausted");
    unsigned i = a->next++;
    memset(&a->mem[i * 512], 0, PG);
    a->used[i] = true;
    a->allocs++;
    a->live++;
    return ARENA_PA + i * PG;
}

static unsigned page_of(uint64_t pa)
{
    if (pa < ARENA_PA || pa - ARENA_PA >= ARENA_PAGES * PG || (pa & (PG - 1)))
        fail_msg("table address 0x%llx outside the arena or unaligned", (unsigned long long)pa);
    return (pa - ARENA_PA) / PG;
}

static void *test_p2v(uint64_t pa, void *ctx)
{
    struct arena *a = ctx;
    unsigned i = page_of(pa);
    if (!a->used[i])
        fail_msg("p2v(0x%llx): page not allocated", (unsigned long long)pa);
    return &a->mem[i * 512];
}

static void arena_free(uint64_t pa, void *ctx)
{
    struct arena *a = ctx;
    unsigned i = page_of(pa);
    if (!a->used[i])
        fail_msg("double free of 0x%llx", (unsigned long long)pa);
    a->used[i] = false;
    a->frees++;
    a->live--;
}

static int setup(void **state)
{
    (void)state;
    uint64_t *mem = A.mem;
    memset(&A, 0, sizeof(A));
    A.mem = mem;
    A.fail_after = -1;
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    A.mem = aligned_alloc(PG, (size_t)ARENA_PAGES * PG);
    return A.mem ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    free(A.mem);
    return 0;
}

/* ---- the independent walker --------------------------------------------- */

#define WALK_FAULT (~0ull)
#define ADDR_BITS  0x000ffffffffff000ull

static uint64_t *table_at(uint64_t pa) { return test_p2v(pa, &A); }

/* Returns the host address, or WALK_FAULT if not present; fails the test on a malformed entry. */
static uint64_t mmu_walk(uint64_t root, uint64_t gpa, unsigned *level)
{
    if (gpa >> 48)
        return WALK_FAULT;
    uint64_t *t = table_at(root);
    for (int l = 4; l >= 1; l--) {
        unsigned shift = 12 + 9 * (l - 1);
        uint64_t e = t[(gpa >> shift) & 511];
        if (!(e & 1))
            return WALK_FAULT;
        if ((e & 7) != 7)
            fail_msg("gpa 0x%llx level %d: entry 0x%llx lacks RW or US (user write faults)",
                     (unsigned long long)gpa, l, (unsigned long long)e);
        if (e >> 63)
            fail_msg("NX set at level %d", l);
        if (e & 0x18)
            fail_msg("PWT/PCD set at level %d: memory type is not WB", l);
        bool ps = e & 0x80;
        if (ps && l == 4)
            fail_msg("PS set in a PML4E (reserved)");
        if (l == 1 || ps) {
            uint64_t size = 1ull << shift;
            if (l > 1 && (e & ADDR_BITS & (size - 1)))
                fail_msg("large leaf 0x%llx has PAT or reserved low address bits",
                         (unsigned long long)e);
            if (l == 1 && (e & 0x80))
                fail_msg("PAT set in a PTE");
            if (level)
                *level = l;
            return (e & ADDR_BITS & ~(size - 1)) | (gpa & (size - 1));
        }
        t = table_at(e & ADDR_BITS);
    }
    return WALK_FAULT;
}

static int map(uint64_t *root, const struct npt_chunk *c, unsigned n, bool use_1g)
{
    return npt_map_chunks(root, c, n, use_1g, arena_alloc, test_p2v, &A);
}

static void expect_mapped(uint64_t root, uint64_t gpa, uint64_t hpa, unsigned level)
{
    unsigned lw = 0, lt = 0;
    assert_int_equal(mmu_walk(root, gpa, &lw), hpa);
    assert_int_equal(npt_translate(root, gpa, test_p2v, &A, &lt), hpa);
    if (level) {
        assert_int_equal(lw, level);
        assert_int_equal(lt, level);
    }
}

static void expect_unmapped(uint64_t root, uint64_t gpa)
{
    assert_int_equal(mmu_walk(root, gpa, NULL), WALK_FAULT);
    assert_int_equal(npt_translate(root, gpa, test_p2v, &A, NULL), NPT_NOT_MAPPED);
}

/* Every 4 KiB page of every chunk, at its first and last byte. */
static void expect_chunks(uint64_t root, const struct npt_chunk *c, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        for (uint64_t off = 0; off < c[i].size; off += PG) {
            expect_mapped(root, c[i].gpa + off, c[i].hpa + off, 0);
            expect_mapped(root, c[i].gpa + off + PG - 1, c[i].hpa + off + PG - 1, 0);
        }
}

static bool inside(const struct npt_chunk *c, unsigned n, uint64_t gpa)
{
    for (unsigned i = 0; i < n; i++)
        if (gpa >= c[i].gpa && gpa - c[i].gpa < c[i].size)
            return true;
    return false;
}

static void free_all(uint64_t root, int allocated)
{
    unsigned live = A.live;
    assert_int_equal(npt_free_tables(root, arena_free, test_p2v, &A), live);
    assert_int_equal(A.frees, (unsigned)allocated);
    assert_int_equal(A.live, 0);
}

/* ---- leaf sizes ------------------------------------------------------------ */

static void test_leaf_sizes_1g(void **state)
{
    (void)state;
    uint64_t root = 0;
    /* 1 GiB + 2 MiB + 3 pages: one of each leaf size, largest first. */
    struct npt_chunk c = { .gpa = 0, .hpa = 4 * GiB, .size = GiB + 2 * MiB + 3 * PG };
    int n = map(&root, &c, 1, true);
    assert_true(n > 0);
    expect_mapped(root, 0, 4 * GiB, 3);
    expect_mapped(root, GiB - 1, 5 * GiB - 1, 3);
    expect_mapped(root, GiB, 5 * GiB, 2);
    expect_mapped(root, GiB + 2 * MiB, 5 * GiB + 2 * MiB, 1);
    expect_mapped(root, GiB + 2 * MiB + 2 * PG + 0x123, 5 * GiB + 2 * MiB + 2 * PG + 0x123, 1);
    expect_unmapped(root, GiB + 2 * MiB + 3 * PG);
    /* root, PDPT, PD (for the 2M leaf and the PT), PT */
    assert_int_equal(n, 4);
    free_all(root, n);
}

static void test_leaf_sizes_no_1g(void **state)
{
    (void)state;
    uint64_t root = 0;
    struct npt_chunk c = { .gpa = 0, .hpa = 4 * GiB, .size = 2 * GiB };
    int n = map(&root, &c, 1, false);
    /* root, PDPT, two PDs of 512 2 MiB leaves each */
    assert_int_equal(n, 4);
    for (uint64_t g = 0; g < 2 * GiB; g += 2 * MiB)
        expect_mapped(root, g, 4 * GiB + g, 2);
    expect_unmapped(root, 2 * GiB);
    free_all(root, n);
}

static void test_hpa_alignment_limits_leaf(void **state)
{
    (void)state;
    uint64_t root = 0;
    /* gpa 1 GiB-aligned, hpa only 4 KiB-aligned: nothing larger than 4 KiB fits. */
    struct npt_chunk c = { .gpa = GiB, .hpa = 0x12345000, .size = 4 * MiB };
    int n = map(&root, &c, 1, true);
    assert_int_equal(n, 1 + 1 + 1 + 2);  /* root, PDPT, PD, 2 PTs */
    for (uint64_t off = 0; off < c.size; off += PG)
        expect_mapped(root, c.gpa + off, c.hpa + off, 1);
    free_all(root, n);
}

static void test_gpa_alignment_limits_leaf(void **state)
{
    (void)state;
    uint64_t root = 0;
    /* Starts 4 KiB below a 2 MiB boundary: one 4 KiB page, then 2 MiB pages, then 4 KiB. */
    struct npt_chunk c = { .gpa = 2 * MiB - PG, .hpa = 64 * MiB - PG, .size = 4 * MiB + 2 * PG };
    int n = map(&root, &c, 1, true);
    expect_mapped(root, 2 * MiB - PG, 64 * MiB - PG, 1);
    expect_mapped(root, 2 * MiB, 64 * MiB, 2);
    expect_mapped(root, 4 * MiB, 66 * MiB, 2);
    expect_mapped(root, 6 * MiB, 68 * MiB, 1);
    expect_unmapped(root, 2 * MiB - 2 * PG);
    expect_unmapped(root, 6 * MiB + PG);
    assert_int_equal(n, 1 + 1 + 1 + 2);  /* root, PDPT, PD, PT for [0,2M) and for [6M,8M) */
    free_all(root, n);
}

/* ---- every page of several chunks, nothing else --------------------------- */

static const struct npt_chunk several[] = {
    { .gpa = 0, .hpa = 0x40000000, .size = 640 * KiB },
    { .gpa = 1 * MiB, .hpa = 0x40100000, .size = 15 * MiB },
    { .gpa = 3 * GiB + 4 * PG, .hpa = 0x200000000ull + 4 * PG, .size = 2 * MiB + 8 * PG },
    { .gpa = 512 * GiB - 2 * MiB, .hpa = 0x300000000ull, .size = 4 * MiB }, /* two PML4Es */
};
#define NSEVERAL (sizeof(several) / sizeof(several[0]))

static void test_all_pages_and_nothing_else(void **state)
{
    (void)state;
    uint64_t root = 0;
    int n = map(&root, several, NSEVERAL, true);
    assert_true(n > 0);
    assert_int_equal(n, A.allocs);
    expect_chunks(root, several, NSEVERAL);

    /* the pages around each chunk, and pseudo-random addresses in the low 1 TiB */
    for (unsigned i = 0; i < NSEVERAL; i++) {
        uint64_t before = several[i].gpa - PG, after = several[i].gpa + several[i].size;
        if (several[i].gpa && !inside(several, NSEVERAL, before))
            expect_unmapped(root, before);
        if (!inside(several, NSEVERAL, after))
            expect_unmapped(root, after);
    }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (unsigned i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t gpa = x & ((1ull << 40) - 1);
        if (!inside(several, NSEVERAL, gpa))
            expect_unmapped(root, gpa);
    }
    expect_unmapped(root, 1ull << 48);
    expect_unmapped(root, ~0ull);
    free_all(root, n);
}

/* Visits every present entry: only P|RW|US (+PS on large leaves) and the address are set. */
static void check_entries(uint64_t pa, unsigned level, unsigned *tables)
{
    const uint64_t *t = table_at(pa);
    (*tables)++;
    for (unsigned i = 0; i < 512; i++) {
        uint64_t e = t[i];
        if (!e)
            continue;
        bool leaf = level == 1 || (e & NPT_PS);
        uint64_t flags = e & ~ADDR_BITS;
        assert_int_equal(flags, NPT_PERM | (leaf && level > 1 ? NPT_PS : 0));
        if (!leaf)
            check_entries(e & ADDR_BITS, level - 1, tables);
    }
}

static void test_entry_flags(void **state)
{
    (void)state;
    uint64_t root = 0;
    int n = map(&root, several, NSEVERAL, true);
    unsigned tables = 0;
    check_entries(root, 4, &tables);
    assert_int_equal(tables, n);
    free_all(root, n);
}

/* ---- errors ----------------------------------------------------------------- */

static void expect_einval(const struct npt_chunk *c, unsigned n)
{
    uint64_t root = 0;
    assert_int_equal(map(&root, c, n, true), -EINVAL);
    assert_int_equal(root, 0);
    assert_int_equal(A.allocs, 0);     /* refused before anything was built */
}

static void test_einval_chunks(void **state)
{
    (void)state;
    const struct npt_chunk bad[][2] = {
        { { .gpa = 0x800, .hpa = 0, .size = PG } },
        { { .gpa = 0, .hpa = 0x10, .size = PG } },
        { { .gpa = 0, .hpa = 0, .size = PG + 1 } },
        { { .gpa = (1ull << 48) - PG, .hpa = 0, .size = 2 * PG } },     /* past 2^48 */
        { { .gpa = 1ull << 48, .hpa = 0, .size = PG } },
        { { .gpa = ~0xfffull, .hpa = 0, .size = 2 * PG } },            /* wraps */
        { { .gpa = 0, .hpa = (1ull << 52) - PG, .size = 2 * PG } },     /* hpa past 2^52 */
        { { .gpa = 0, .hpa = 0, .size = 2 * MiB },                     /* overlapping chunks */
          { .gpa = 2 * MiB - PG, .hpa = GiB, .size = PG } },
        { { .gpa = 4 * MiB, .hpa = 0, .size = PG },                    /* same page twice */
          { .gpa = 4 * MiB, .hpa = GiB, .size = PG } },
        { { .gpa = 0, .hpa = 0, .size = PG },                          /* bad second chunk */
          { .gpa = 0x3000, .hpa = 0x1001, .size = PG } },
    };
    const unsigned count[] = { 1, 1, 1, 1, 1, 1, 1, 2, 2, 2 };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setup(NULL);
        expect_einval(bad[i], count[i]);
    }
    /* the largest legal range ends exactly at 2^48 */
    setup(NULL);
    uint64_t root = 0;
    struct npt_chunk top = { .gpa = (1ull << 48) - PG, .hpa = 0, .size = PG };
    int n = map(&root, &top, 1, true);
    assert_int_equal(n, 4);
    expect_mapped(root, (1ull << 48) - 1, PG - 1, 1);
    free_all(root, n);
}

static void test_einval_existing_mapping(void **state)
{
    (void)state;
    uint64_t root = 0;
    struct npt_chunk big = { .gpa = 2 * MiB, .hpa = 2 * MiB, .size = 2 * MiB };
    struct npt_chunk small = { .gpa = 8 * MiB + PG, .hpa = 0, .size = PG };
    int n = map(&root, &big, 1, false);
    n += map(&root, &small, 1, false);
    assert_int_equal(n, 4);             /* root, PDPT, PD, then a PT for small */
    /* a 4 KiB page inside the existing 2 MiB leaf */
    struct npt_chunk in_big = { .gpa = 3 * MiB, .hpa = 0, .size = PG };
    assert_int_equal(map(&root, &in_big, 1, false), -EINVAL);
    /* a 2 MiB leaf over the range that already has a page table */
    struct npt_chunk over_pt = { .gpa = 8 * MiB, .hpa = 16 * MiB, .size = 2 * MiB };
    assert_int_equal(map(&root, &over_pt, 1, false), -EINVAL);
    /* the same 4 KiB page again */
    assert_int_equal(map(&root, &small, 1, false), -EINVAL);
    expect_mapped(root, 3 * MiB, 3 * MiB, 2);
    expect_mapped(root, 8 * MiB + PG, 0, 1);
    expect_unmapped(root, 8 * MiB);
    free_all(root, A.allocs);
}

/* ---- table counts ----------------------------------------------------------- */

static void test_minimal_tables(void **state)
{
    (void)state;
    static const struct {
        struct npt_chunk c;
        bool use_1g;
        int tables;
    } cases[] = {
        { { 0, 0, 4 * GiB }, true, 2 },                     /* root + PDPT of 1 GiB leaves */
        { { 0, 0, 512 * MiB }, false, 3 },                  /* + one PD */
        { { GiB - 2 * MiB, 0, 4 * MiB }, true, 4 },         /* straddles two PDs */
        { { 0, 0, 3 * PG }, true, 4 },                      /* root, PDPT, PD, PT */
        { { 0, 0, 2 * MiB + PG }, true, 4 },
        { { 512 * GiB - GiB, 0, 2 * GiB }, true, 3 },       /* straddles two PML4Es */
        { { 0, 0x1000, 2 * MiB }, true, 1 + 1 + 1 + 1 },    /* one PT of 512 entries */
        { { PG, 0, 2 * MiB }, true, 1 + 1 + 1 + 2 },        /* 511 + 1 pages over two PTs */
        { { 0, 0, 0 }, true, 1 },                           /* nothing to map: just the root */
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setup(NULL);
        uint64_t root = 0;
        int n = map(&root, &cases[i].c, 1, cases[i].use_1g);
        if (n != cases[i].tables)
            fail_msg("case %u: %d tables, expected %d", i, n, cases[i].tables);
        expect_chunks(root, &cases[i].c, 1);
        free_all(root, n);
    }
}

static void test_incremental(void **state)
{
    (void)state;
    uint64_t root = 0;
    int first = map(&root, &several[0], 1, true);
    uint64_t r0 = root;
    int second = map(&root, &several[1], 3, true);
    assert_int_equal(root, r0);
    assert_true(first > 0 && second > 0);
    assert_int_equal(first + second, A.allocs);
    expect_chunks(root, several, NSEVERAL);
    free_all(root, first + second);
}

static void test_enomem_everywhere(void **state)
{
    (void)state;
    /* How many pages the full build needs, then fail at every allocation before that. */
    uint64_t root = 0;
    int need = map(&root, several, NSEVERAL, true);
    free_all(root, need);
    for (int k = 0; k < need; k++) {
        setup(NULL);
        A.fail_after = k;
        root = 0;
        assert_int_equal(map(&root, several, NSEVERAL, true), -ENOMEM);
        assert_int_equal(A.allocs, k);
        if (k == 0) {
            assert_int_equal(root, 0);
            continue;
        }
        /* everything allocated is reachable from the root and walks cleanly */
        unsigned tables = 0;
        check_entries(root, 4, &tables);
        assert_int_equal(tables, k);
        free_all(root, k);
    }
}

static void test_translate_edge_cases(void **state)
{
    (void)state;
    assert_int_equal(npt_translate(0, 0, test_p2v, &A, NULL), NPT_NOT_MAPPED);
    assert_int_equal(npt_free_tables(0, arena_free, test_p2v, &A), 0);
    uint64_t root = 0;
    assert_int_equal(map(&root, NULL, 0, true), 1);
    expect_unmapped(root, 0);
    free_all(root, 1);
}

/* Random non-overlapping chunks with mixed alignments, checked page by page. */
static void test_random_layouts(void **state)
{
    (void)state;
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (unsigned round = 0; round < 40; round++) {
        setup(NULL);
        struct npt_chunk c[4];
        uint64_t gpa = 0;
        for (unsigned i = 0; i < 4; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            static const uint64_t align[] = { PG, 2 * MiB, GiB };
            uint64_t a = align[x % 3];
            gpa = ((gpa + a - 1) & ~(a - 1)) + ((x >> 8) % 3) * PG + ((x >> 12) % 2) * GiB;
            uint64_t size = (((x >> 20) % 1536) + 1) * PG + ((x >> 40) % 3) * 2 * MiB;
            uint64_t hpa = (((x >> 30) & 0xff) << 30) + ((x >> 2) % 2 ? 0 : ((x >> 45) % 7) * PG);
            c[i] = (struct npt_chunk){ gpa, hpa, size };
            gpa += size;
        }
        uint64_t root = 0;
        int n = map(&root, c, 4, round & 1);
        if (n < 0)
            fail_msg("round %u: %d", round, n);
        expect_chunks(root, c, 4);
        for (unsigned i = 0; i < 4; i++)
            if (!inside(c, 4, c[i].gpa + c[i].size))
                expect_unmapped(root, c[i].gpa + c[i].size);
        unsigned tables = 0;
        check_entries(root, 4, &tables);
        assert_int_equal(tables, n);
        free_all(root, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_leaf_sizes_1g, setup),
        cmocka_unit_test_setup(test_leaf_sizes_no_1g, setup),
        cmocka_unit_test_setup(test_hpa_alignment_limits_leaf, setup),
        cmocka_unit_test_setup(test_gpa_alignment_limits_leaf, setup),
        cmocka_unit_test_setup(test_all_pages_and_nothing_else, setup),
        cmocka_unit_test_setup(test_entry_flags, setup),
        cmocka_unit_test_setup(test_einval_chunks, setup),
        cmocka_unit_test_setup(test_einval_existing_mapping, setup),
        cmocka_unit_test_setup(test_minimal_tables, setup),
        cmocka_unit_test_setup(test_incremental, setup),
        cmocka_unit_test_setup(test_enomem_everywhere, setup),
        cmocka_unit_test_setup(test_translate_edge_cases, setup),
        cmocka_unit_test_setup(test_random_layouts, setup),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
