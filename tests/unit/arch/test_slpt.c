/*
 * Host tests for the shared second-level table code, arch/x86_64/slpt.c: the same chunk
 * layout built as an EPT (ept_fmt) and as an NPT (npt_fmt). Checks the exact bits of every
 * entry (against numbers written here, not the format tables), which leaves are large, a
 * walk, a split by write protection, a dirty harvest, and that freeing returns every table
 * page: frames come from a fake allocator (host heap pages at "physical" ptr -
 * DIRECT_MAP_BASE, so phys_to_virt works) that counts what it hands out and takes back,
 * both through the builder's callbacks and through frame_alloc (what splitting uses).
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

#include "arch/x86_64/slpt.h"
#include "arch/x86_64/svm/svm_npt.h"
#include "arch/x86_64/vmx/vmx_caps.h"
#include "hv/base/mem.h"
#include "support.h"

#define KiB 1024ull
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define PG  (4 * KiB)
#define ADDR_BITS 0x000ffffffffff000ull
#define MAX_FRAMES 64

/* ---- frames ----------------------------------------------------------------------------- */

static struct {
    void *live[MAX_FRAMES];
    unsigned nlive;
    unsigned allocs, frees, splits;
    int limit;                  /* callback allocations fail after this many; -1: never */
} M;

static uint64_t take(uint8_t fill)
{
    assert_true(M.nlive < MAX_FRAMES);
    void *p = aligned_alloc(PG, PG);
    assert_non_null(p);
    memset(p, fill, PG);
    M.live[M.nlive++] = p;
    M.allocs++;
    return virt_to_phys(p);
}

static unsigned find(uint64_t pa)
{
    for (unsigned i = 0; i < M.nlive; i++)
        if (M.live[i] == phys_to_virt(pa))
            return i;
    fail_msg("0x%llx is not a live table page", (unsigned long long)pa);
    return 0;
}

static uint64_t fake_alloc(void *ctx)
{
    assert_ptr_equal(ctx, &M);
    if (M.limit >= 0 && M.allocs >= (unsigned)M.limit)
        return 0;
    return take(0);
}

static void *fake_p2v(uint64_t pa, void *ctx)
{
    assert_ptr_equal(ctx, &M);
    return M.live[find(pa)];
}

static void fake_free(uint64_t pa, void *ctx)
{
    assert_ptr_equal(ctx, &M);
    unsigned i = find(pa);
    free(M.live[i]);
    M.live[i] = M.live[--M.nlive];
    M.frees++;
}

/* Splitting: not zeroed (0xa5 everywhere), so every entry the split leaves must be written. */
uint64_t frame_alloc(unsigned node, uint64_t pages, uint64_t align_pages, unsigned flags)
{
    assert_int_equal(node, 3);
    assert_int_equal(pages, 1);
    assert_int_equal(align_pages, 1);
    assert_int_equal(flags, 0);
    M.splits++;
    return take(0xa5);
}

void frame_free(uint64_t pa, uint64_t pages)
{
    fail_msg("frame_free(0x%llx, %llu): tables go back through the caller's callback",
             (unsigned long long)pa, (unsigned long long)pages);
}

static int setup(void **state)
{
    (void)state;
    memset(&M, 0, sizeof(M));
    M.limit = -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    while (M.nlive)
        fake_free(virt_to_phys(M.live[0]), &M);
    return 0;
}

/* ---- the layout and the two formats ----------------------------------------------------- */

/* 4 KiB leaves below 640 KiB and from 1 MiB, one 2 MiB leaf at 2 MiB; at 1 GiB a 1 GiB leaf,
 * a 2 MiB leaf and two 4 KiB ones. Tables: root, PDPT, PD 0-1G, PT 0-2M, PD 2-3G, PT 2G+2M. */
static const struct slpt_chunk layout[] = {
    { 0, 1 * GiB, 640 * KiB },
    { 1 * MiB, 1 * GiB + 1 * MiB, 3 * MiB },
    { 1 * GiB, 4 * GiB, 1 * GiB + 2 * MiB + 2 * PG },
};
#define NLAYOUT (sizeof(layout) / sizeof(layout[0]))
#define LAYOUT_TABLES 6

struct fmt_case {
    const struct slpt_fmt *f;
    uint64_t table, leaf4k, leaf_large;     /* the exact flags, from the manuals */
};

/* SDM 29.3.2: R|W|X everywhere, WB (6 << 3) and bit 7 in leaves. APM 15.25.5: P|RW|US, PS. */
static const struct fmt_case ept = { &ept_fmt, 0x7, 0x37, 0xb7 };
static const struct fmt_case npt = { &npt_fmt, 0x7, 0x7, 0x87 };

static uint64_t build(const struct fmt_case *fc)
{
    uint64_t root = 0;
    int n = slpt_map_chunks(fc->f, &root, layout, NLAYOUT, true, fake_alloc, fake_p2v, &M);
    assert_int_equal(n, LAYOUT_TABLES);
    assert_int_equal(M.allocs, LAYOUT_TABLES);
    return root;
}

static struct slpt dirty_view(const struct fmt_case *fc, uint64_t root)
{
    return (struct slpt){ root, fc->f->present, fc->f->dirty, 3 };
}

static void free_all(const struct fmt_case *fc, uint64_t root)
{
    unsigned allocs = M.allocs;
    assert_int_equal(slpt_free_tables(fc->f, root, fake_free, fake_p2v, &M), allocs);
    assert_int_equal(M.frees, M.allocs);
    assert_int_equal(M.nlive, 0);
}

struct shape { unsigned tables, leaves[4]; };

/* Every entry below pa: exact flags, large bit only in level 2/3 leaves, leaf addresses. */
static void check_tree(const struct fmt_case *fc, uint64_t pa, unsigned level, uint64_t base,
                       struct shape *s)
{
    const uint64_t *t = fake_p2v(pa, &M);
    s->tables++;
    for (unsigned i = 0; i < 512; i++) {
        uint64_t e = t[i], gpa = base + ((uint64_t)i << (12 + 9 * (level - 1)));
        if (!e)
            continue;
        uint64_t flags = e & ~ADDR_BITS;
        bool leaf = level == 1 || (level <= 3 && (e & 0x80));
        if (!leaf) {
            assert_int_equal(flags, fc->table);
            check_tree(fc, e & ADDR_BITS, level - 1, gpa, s);
            continue;
        }
        assert_int_equal(flags, level == 1 ? fc->leaf4k : fc->leaf_large);
        s->leaves[level]++;
        bool found = false;
        for (unsigned c = 0; c < NLAYOUT; c++)
            if (gpa >= layout[c].gpa && gpa < layout[c].gpa + layout[c].size) {
                assert_int_equal(e & ADDR_BITS, layout[c].hpa + (gpa - layout[c].gpa));
                found = true;
            }
        assert_true(found);
    }
}

/* ---- tests ------------------------------------------------------------------------------ */

static void leaf_bits_and_large_pages(const struct fmt_case *fc)
{
    uint64_t root = build(fc);
    struct shape s = { 0 };
    check_tree(fc, root, 4, 0, &s);
    assert_int_equal(s.tables, LAYOUT_TABLES);
    assert_int_equal(s.leaves[3], 1);
    assert_int_equal(s.leaves[2], 2);
    assert_int_equal(s.leaves[1], 160 + 256 + 2);
    free_all(fc, root);
}

static void test_ept_leaf_bits(void **state) { (void)state; leaf_bits_and_large_pages(&ept); }
static void test_npt_leaf_bits(void **state) { (void)state; leaf_bits_and_large_pages(&npt); }

static void expect(const struct fmt_case *fc, uint64_t root, uint64_t gpa, uint64_t hpa,
                   unsigned level)
{
    unsigned l = 0;
    assert_int_equal(slpt_translate(fc->f, root, gpa, fake_p2v, &M, &l), hpa);
    if (hpa != SLPT_NOT_MAPPED)
        assert_int_equal(l, level);
}

static void walk(const struct fmt_case *fc)
{
    uint64_t root = build(fc);
    struct slpt t = dirty_view(fc, root);
    expect(fc, root, 0x123, GiB + 0x123, 1);
    expect(fc, root, 640 * KiB - 1, GiB + 640 * KiB - 1, 1);
    expect(fc, root, 640 * KiB, SLPT_NOT_MAPPED, 0);        /* the hole below 1 MiB */
    expect(fc, root, 1 * MiB, GiB + 1 * MiB, 1);
    expect(fc, root, 3 * MiB + 5, GiB + 3 * MiB + 5, 2);
    expect(fc, root, 4 * MiB, SLPT_NOT_MAPPED, 0);
    expect(fc, root, GiB + 0x12345678, 4 * GiB + 0x12345678, 3);
    expect(fc, root, 2 * GiB + 1 * MiB, 5 * GiB + 1 * MiB, 2);
    expect(fc, root, 2 * GiB + 2 * MiB + PG + 7, 5 * GiB + 2 * MiB + PG + 7, 1);
    expect(fc, root, 2 * GiB + 2 * MiB + 2 * PG, SLPT_NOT_MAPPED, 0);
    expect(fc, root, 512 * GiB, SLPT_NOT_MAPPED, 0);
    expect(fc, root, SLPT_GPA_LIMIT, SLPT_NOT_MAPPED, 0);
    assert_int_equal(slpt_translate(fc->f, 0, 0, fake_p2v, &M, NULL), SLPT_NOT_MAPPED);
    /* the dirty-log walker's view: only 4 KiB leaves */
    uint64_t *leaf = slpt_leaf(&t, 1 * MiB + PG);
    assert_non_null(leaf);
    assert_int_equal(*leaf, (GiB + 1 * MiB + PG) | fc->leaf4k);
    assert_null(slpt_leaf(&t, 2 * MiB));                     /* inside a 2 MiB leaf */
    assert_null(slpt_leaf(&t, GiB));                         /* inside the 1 GiB leaf */
    assert_null(slpt_leaf(&t, 640 * KiB));
    free_all(fc, root);
}

static void test_ept_walk(void **state) { (void)state; walk(&ept); }
static void test_npt_walk(void **state) { (void)state; walk(&npt); }

static void split(const struct fmt_case *fc)
{
    uint64_t root = build(fc);
    struct slpt t = dirty_view(fc, root);
    /* Across 2 GiB: the 1 GiB leaf's last 2 MiB and the first pages of the 2 MiB leaf. */
    uint64_t lo = 2 * GiB - 2 * PG, hi = 2 * GiB + 2 * PG;
    assert_int_equal(slpt_protect_range(&t, lo, hi - lo, true), 0);
    /* 1 GiB -> a PD of 2 MiB leaves, its last one -> a PT; the 2 MiB leaf -> a PT. */
    assert_int_equal(M.splits, 3);
    for (uint64_t gpa = lo; gpa < hi; gpa += PG) {
        uint64_t *leaf = slpt_leaf(&t, gpa);
        assert_non_null(leaf);
        assert_int_equal(*leaf, (4 * GiB + (gpa - GiB)) | (fc->leaf4k & ~SLPT_W));
    }
    /* outside the range: W stays, the translation is unchanged, at the smaller sizes */
    assert_int_equal(*slpt_leaf(&t, lo - PG), (4 * GiB + (lo - PG - GiB)) | fc->leaf4k);
    assert_int_equal(*slpt_leaf(&t, hi), (4 * GiB + (hi - GiB)) | fc->leaf4k);
    expect(fc, root, GiB, 4 * GiB, 2);
    expect(fc, root, 2 * GiB - 2 * MiB - 1, 5 * GiB - 2 * MiB - 1, 2);
    expect(fc, root, 2 * GiB - PG + 9, 5 * GiB - PG + 9, 1);
    expect(fc, root, 2 * GiB + 2 * MiB - 1, 5 * GiB + 2 * MiB - 1, 1);
    /* unprotect: W back on the same leaves, split tables stay; every entry as built */
    assert_int_equal(slpt_protect_range(&t, lo, hi - lo, false), 0);
    assert_int_equal(*slpt_leaf(&t, lo), (4 * GiB + (lo - GiB)) | fc->leaf4k);
    assert_int_equal(M.splits, 3);
    struct shape s = { 0 };
    check_tree(fc, root, 4, 0, &s);
    assert_int_equal(s.tables, LAYOUT_TABLES + 3);
    assert_int_equal(s.leaves[3], 0);
    assert_int_equal(s.leaves[2], 1 + 511);                 /* 2M at 2M, 511 of the 1G */
    assert_int_equal(s.leaves[1], 160 + 256 + 2 + 512 + 512); /* + the two split 2M leaves */
    free_all(fc, root);
}

static void test_ept_split(void **state) { (void)state; split(&ept); }
static void test_npt_split(void **state) { (void)state; split(&npt); }

static void dirty(const struct fmt_case *fc)
{
    uint64_t root = build(fc);
    struct slpt t = dirty_view(fc, root);
    uint64_t bits[(4 * MiB / PG) / 64] = { 0 };
    assert_int_equal(slpt_harvest_dirty(&t, 0, 4 * MiB, bits), 0);
    *slpt_leaf(&t, 1 * MiB + 3 * PG) |= fc->f->dirty;
    const uint64_t *pml4 = fake_p2v(root, &M), *pdpt = fake_p2v(pml4[0] & ADDR_BITS, &M);
    uint64_t *pd = fake_p2v(pdpt[0] & ADDR_BITS, &M);
    pd[1] |= fc->f->dirty;                                    /* the 2 MiB leaf at 2 MiB */
    assert_int_equal(slpt_harvest_dirty(&t, 0, 4 * MiB, bits), 1 + 512);
    assert_int_equal(bits[(1 * MiB / PG + 3) / 64], 1ull << ((1 * MiB / PG + 3) % 64));
    for (uint64_t w = 2 * MiB / PG / 64; w < 4 * MiB / PG / 64; w++)
        assert_int_equal(bits[w], ~0ull);
    assert_false(pd[1] & fc->f->dirty);                     /* test-and-cleared */
    memset(bits, 0, sizeof(bits));
    assert_int_equal(slpt_harvest_dirty(&t, 0, 4 * MiB, bits), 0);
    free_all(fc, root);
}

static void test_ept_dirty(void **state) { (void)state; dirty(&ept); }
static void test_npt_dirty(void **state) { (void)state; dirty(&npt); }

/* Out of memory at every table: the partial tree is still freed completely. */
static void enomem(const struct fmt_case *fc)
{
    for (int lim = 0; lim < LAYOUT_TABLES; lim++) {
        setup(NULL);
        M.limit = lim;
        uint64_t root = 0;
        int n = slpt_map_chunks(fc->f, &root, layout, NLAYOUT, true, fake_alloc, fake_p2v, &M);
        assert_int_equal(n, -ENOMEM);
        assert_int_equal(M.allocs, lim);
        assert_int_equal(root == 0, lim == 0);
        assert_int_equal(slpt_free_tables(fc->f, root, fake_free, fake_p2v, &M), lim);
        assert_int_equal(M.nlive, 0);
    }
}

static void test_ept_enomem(void **state) { (void)state; enomem(&ept); }
static void test_npt_enomem(void **state) { (void)state; enomem(&npt); }

/* Both formats build the same tree: same table count, same translations everywhere. */
static void test_same_shape(void **state)
{
    (void)state;
    uint64_t re = build(&ept), rn = 0;
    assert_int_equal(slpt_map_chunks(&npt_fmt, &rn, layout, NLAYOUT, true, fake_alloc, fake_p2v,
                                     &M), LAYOUT_TABLES);
    for (uint64_t gpa = 0; gpa < 3 * GiB; gpa += 64 * KiB) {
        unsigned le = 0, ln = 0;
        assert_int_equal(slpt_translate(&ept_fmt, re, gpa, fake_p2v, &M, &le),
                         slpt_translate(&npt_fmt, rn, gpa, fake_p2v, &M, &ln));
        assert_int_equal(le, ln);
    }
    assert_int_equal(slpt_free_tables(&ept_fmt, re, fake_free, fake_p2v, &M), LAYOUT_TABLES);
    assert_int_equal(slpt_free_tables(&npt_fmt, rn, fake_free, fake_p2v, &M), LAYOUT_TABLES);
    assert_int_equal(M.nlive, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ept_leaf_bits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_npt_leaf_bits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ept_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_npt_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ept_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_npt_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ept_dirty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_npt_dirty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ept_enomem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_npt_enomem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_shape, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
