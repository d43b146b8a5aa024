/*
 * Host tests for arch/x86_64/vmx/vmx_caps.c: capability-MSR arithmetic and
 * the EPT builder. Table pages live in `pool`, an array of aligned 4 KiB
 * pages that plays physical memory at POOL_PA; the fake allocator hands them
 * out in order, counts them and can be told to fail after N pages. Every
 * built table is checked by a walker written here (not ept_translate) and by
 * a full traversal of the tree: exact entry bits, reachable page count, and
 * leaf sizes that add up to the chunk sizes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "arch/x86_64/vmx/vmx_caps.h"
#include "support.h"

#define KiB (1024ull)
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

#define POOL_PA    0x1000000ull
#define POOL_PAGES 64
#define NOT_MAPPED (~0ull)
#define ADDR_BITS  0x000ffffffffff000ull

static uint64_t pool[POOL_PAGES][512] __attribute__((aligned(4096)));

struct fake_mem {
    unsigned used;      /* pages handed out */
    unsigned limit;     /* fail after this many */
    unsigned p2v_bad;   /* p2v calls with an address outside the handed-out pages */
};

static struct fake_mem fm;

static uint64_t fake_alloc(void *ctx)
{
    struct fake_mem *m = ctx;

    assert_ptr_equal(m, &fm);
    if (m->used >= m->limit || m->used >= POOL_PAGES)
        return 0;
    return POOL_PA + 4096ull * m->used++;
}

static void *fake_p2v(uint64_t pa, void *ctx)
{
    struct fake_mem *m = ctx;

    if (pa < POOL_PA || (pa & 0xfff) || (pa - POOL_PA) / 4096 >= m->used) {
        m->p2v_bad++;
        fail_msg("p2v(%#llx) is not a page the allocator handed out", (unsigned long long)pa);
    }
    return pool[(pa - POOL_PA) / 4096];
}

static int setup(void **state)
{
    (void)state;
    memset(pool, 0, sizeof(pool));
    memset(&fm, 0, sizeof(fm));
    fm.limit = POOL_PAGES;
    return 0;
}

static int map(uint64_t *root, const struct ept_chunk *c, unsigned n, bool use_1g)
{
    return ept_map_chunks(root, c, n, use_1g, fake_alloc, fake_p2v, &fm);
}

/* ---- the independent walker ---- */

static const uint64_t *tbl(uint64_t pa)
{
    assert_true(pa >= POOL_PA && (pa - POOL_PA) / 4096 < fm.used);
    assert_int_equal(pa & 0xfff, 0);
    return pool[(pa - POOL_PA) / 4096];
}

static uint64_t level_size(int level)
{
    return level == 3 ? GiB : level == 2 ? 2 * MiB : 4 * KiB;
}

/* SDM 29.3.2: PML4E (bits 47:39), PDPTE (38:30), PDE (29:21), PTE (20:12). */
static uint64_t walk(uint64_t root, uint64_t gpa, int *level, uint64_t *leaf)
{
    static const int shift[5] = { 0, 12, 21, 30, 39 };
    uint64_t pa = root;

    for (int l = 4; l >= 1; l--) {
        uint64_t e = tbl(pa)[(gpa >> shift[l]) & 0x1ff];
        if (!(e & 7))
            return NOT_MAPPED;
        bool big = (e >> 7) & 1;
        assert_false(l == 4 && big);               /* bit 7 is reserved in a PML4E */
        if (l == 1 || big) {
            uint64_t off_mask = (1ull << shift[l]) - 1;
            assert_int_equal(e & ADDR_BITS & off_mask, 0);   /* reserved in large leaves */
            if (level)
                *level = l;
            if (leaf)
                *leaf = e;
            return (e & ADDR_BITS) + (gpa & off_mask);
        }
        pa = e & ADDR_BITS;
    }
    return NOT_MAPPED;
}

/*
 * The level the builder should choose for the page at gpa inside chunk c:
 * the largest page whose aligned block around gpa lies inside the chunk and
 * for which gpa and hpa have the same offset (otherwise no large page can
 * ever line up).
 */
static int expected_level(const struct ept_chunk *c, uint64_t gpa, bool use_1g)
{
    for (int l = use_1g ? 3 : 2; l > 1; l--) {
        uint64_t sz = level_size(l), base = gpa & ~(sz - 1);
        if (((c->gpa - c->hpa) & (sz - 1)) == 0 && base >= c->gpa &&
            base + sz <= c->gpa + c->size)
            return l;
    }
    return 1;
}

struct tree_stats {
    unsigned pages;         /* table pages reachable from the root */
    unsigned leaves[4];     /* leaf entries per level (1..3) */
    uint64_t mapped;        /* bytes covered by leaves */
};

/* Visits every entry: exact attribute bits for leaves and non-leaves. */
static void scan(uint64_t pa, int level, struct tree_stats *st)
{
    const uint64_t *t = tbl(pa);

    st->pages++;
    for (unsigned i = 0; i < 512; i++) {
        uint64_t e = t[i];
        if (!e)
            continue;
        assert_int_equal(e & 0xfff0000000000000ull, 0);
        bool leaf = level == 1 || (e & EPT_LARGE);
        if (!leaf) {
            /* a table pointer: RWX only; no memory type, no bit 7 */
            assert_int_equal(e & 0xfff, 0x7);
            scan(e & ADDR_BITS, level - 1, st);
        } else {
            assert_true(level <= 3);
            /* RWX | WB (6 << 3) | bit 7 on 2M/1G pages only */
            assert_int_equal(e & 0xfff, level > 1 ? 0xb7 : 0x37);
            st->leaves[level]++;
            st->mapped += level_size(level);
        }
    }
}

static void scan_tree(uint64_t root, struct tree_stats *st)
{
    memset(st, 0, sizeof(*st));
    scan(root, 4, st);
    /* no page was allocated and then dropped */
    assert_int_equal(st->pages, fm.used);
}

/* Distinct keys, for counting the table pages a mapping needs at minimum. */
struct keyset { uint64_t k[64]; unsigned n; };

static void keyset_add(struct keyset *s, uint64_t k)
{
    for (unsigned i = 0; i < s->n; i++)
        if (s->k[i] == k)
            return;
    assert_true(s->n < 64);
    s->k[s->n++] = k;
}

/*
 * Checks every 4 KiB page of every chunk (host address and leaf level), the
 * pages just outside each chunk, the exact entry bits, and that the table
 * page count equals both the return value and the minimum for the leaves
 * the chunks need. Returns the tree statistics for case-specific checks.
 */
static struct tree_stats check_map(uint64_t root, const struct ept_chunk *c, unsigned n,
                                   bool use_1g, int rc)
{
    struct keyset pdpt = { .n = 0 }, pd = { .n = 0 }, pt = { .n = 0 };
    struct tree_stats st;
    uint64_t total = 0;

    for (unsigned i = 0; i < n; i++) {
        total += c[i].size;
        for (uint64_t off = 0; off < c[i].size; off += 4 * KiB) {
            uint64_t gpa = c[i].gpa + off, leaf = 0;
            int lvl = 0, want = expected_level(&c[i], gpa, use_1g);
            uint64_t in = (off >> 12) & 0xfff;      /* vary the byte offset too */
            uint64_t hpa = walk(root, gpa + in, &lvl, &leaf);
            if (hpa != c[i].hpa + off + in)
                fail_msg("chunk %u gpa %#llx: hpa %#llx, want %#llx", i,
                         (unsigned long long)(gpa + in), (unsigned long long)hpa,
                         (unsigned long long)(c[i].hpa + off + in));
            if (lvl != want)
                fail_msg("chunk %u gpa %#llx: level %d, want %d", i,
                         (unsigned long long)gpa, lvl, want);
            /* ept_translate must agree with the walker */
            unsigned tl = 0;
            assert_int_equal(ept_translate(root, gpa + in, fake_p2v, &fm, &tl), hpa);
            assert_int_equal(tl, (unsigned)lvl);
            keyset_add(&pdpt, gpa >> 39);
            if (lvl <= 2)
                keyset_add(&pd, gpa >> 30);
            if (lvl == 1)
                keyset_add(&pt, gpa >> 21);
        }
    }
    /* just outside each chunk: unmapped unless another chunk is there */
    for (unsigned i = 0; i < n; i++) {
        uint64_t out[2] = { c[i].gpa - 4 * KiB, c[i].gpa + c[i].size };
        for (unsigned j = 0; j < 2; j++) {
            bool other = false;
            for (unsigned k = 0; k < n; k++)
                other |= out[j] >= c[k].gpa && out[j] < c[k].gpa + c[k].size;
            if (!other && out[j] < (1ull << 48)) {
                assert_int_equal(walk(root, out[j], NULL, NULL), NOT_MAPPED);
                assert_int_equal(ept_translate(root, out[j], fake_p2v, &fm, NULL), NOT_MAPPED);
            }
        }
    }
    scan_tree(root, &st);
    assert_int_equal(st.mapped, total);
    unsigned minimum = 1 + pdpt.n + pd.n + pt.n;
    assert_int_equal(rc, (int)minimum);
    assert_int_equal(fm.used, minimum);
    assert_int_equal(fm.p2v_bad, 0);
    return st;
}

/* ---- vmx_adjust_ctls ---- */

static void test_ctls_must_be_one_forced_on(void **state)
{
    (void)state;
    uint32_t out = 0;
    /* allowed-0 settings 0x16 (bits 1, 2, 4 must be 1), everything may be 1 */
    assert_int_equal(vmx_adjust_ctls(0xffffffff00000016ull, 0, 0, &out), 0);
    assert_int_equal(out, 0x16);
    assert_int_equal(vmx_adjust_ctls(0xffffffff00000016ull, 0x1, 0x8, &out), 0);
    assert_int_equal(out, 0x1f);
}

static void test_ctls_may_be_zero_forced_off(void **state)
{
    (void)state;
    uint32_t out = 0;
    /* only bits 8-15 may be 1 */
    assert_int_equal(vmx_adjust_ctls(0x0000ff0000000000ull, 0xffffffff, 0, &out), 0);
    assert_int_equal(out, 0xff00);
    /* a must-be-1 bit is still subject to "may be 1" */
    assert_int_equal(vmx_adjust_ctls(0x0000ff0000000300ull, 0, 0, &out), 0);
    assert_int_equal(out, 0x300);
}

static void test_ctls_needed_bit_not_allowed(void **state)
{
    (void)state;
    uint32_t out = 0xdeadbeef;
    /* need bit 31, the MSR allows bits 0-30 only */
    assert_int_equal(vmx_adjust_ctls(0x7fffffff00000016ull, 0, 1u << 31, &out), -ENOTSUP);
    assert_int_equal(out, 0xdeadbeef);   /* left alone on failure */
    /* one of several needed bits missing is enough */
    assert_int_equal(vmx_adjust_ctls(0x000000ff00000000ull, 0, 0x101, &out), -ENOTSUP);
    assert_int_equal(out, 0xdeadbeef);
}

static void test_ctls_wanted_bit_dropped(void **state)
{
    (void)state;
    uint32_t out = 0;
    /* realistic pin-based MSR 0x0000007f_00000016: want bit 7 (posted intr, not allowed)
       and bit 6 (preemption timer), need bits 0 and 3 */
    assert_int_equal(vmx_adjust_ctls(0x0000007f00000016ull, (1u << 7) | (1u << 6),
                                     (1u << 0) | (1u << 3), &out), 0);
    assert_int_equal(out, 0x5f);
    /* want nothing allowed: just the must-be-1 bits */
    assert_int_equal(vmx_adjust_ctls(0x0000001600000016ull, 0xffffff00, 0, &out), 0);
    assert_int_equal(out, 0x16);
}

/* ---- ept_pointer ---- */

static void test_ept_pointer_format(void **state)
{
    (void)state;
    /* WB (6) in 2:0, walk length - 1 = 3 in 5:3, A/D enable in bit 6 */
    assert_int_equal(ept_pointer(0x12345000, false), 0x1234501eull);
    assert_int_equal(ept_pointer(0x12345000, true), 0x1234505eull);
    assert_int_equal(ept_pointer(0x000ffffffffff000ull, true), 0x000ffffffffff05eull);
    /* stray low bits and bits above 51 of the root are not carried over */
    assert_int_equal(ept_pointer(0xfff0000012345fffull, false), 0x1234501eull);
}

/* ---- ept_map_chunks: layouts ---- */

static void test_ept_64m_2m_pages(void **state)
{
    (void)state;
    struct ept_chunk c[] = { { 0, 0x40000000, 64 * MiB } };
    uint64_t root = 0;
    int rc = map(&root, c, 1, true);

    assert_int_equal(rc, 3);            /* root + PDPT + PD */
    assert_int_equal(root, POOL_PA);    /* the first page allocated */
    struct tree_stats st = check_map(root, c, 1, true, rc);
    assert_int_equal(st.leaves[2], 32);
    assert_int_equal(st.leaves[1] + st.leaves[3], 0);
    /* spot checks, computed by hand */
    unsigned lvl = 0;
    assert_int_equal(ept_translate(root, 0x3fff123, fake_p2v, &fm, &lvl), 0x43fff123ull);
    assert_int_equal(lvl, 2);
    assert_int_equal(ept_translate(root, 64 * MiB, fake_p2v, &fm, NULL), NOT_MAPPED);
}

static void test_ept_1g_pages(void **state)
{
    (void)state;
    /* 3 GiB at gpa 1G -> hpa 4G */
    struct ept_chunk c[] = { { 1 * GiB, 4 * GiB, 3 * GiB } };
    uint64_t root = 0;
    int rc = map(&root, c, 1, true);

    assert_int_equal(rc, 2);            /* root + PDPT: the 1G leaves live in the PDPT */
    struct tree_stats st = check_map(root, c, 1, true, rc);
    assert_int_equal(st.leaves[3], 3);
    assert_int_equal(st.leaves[2] + st.leaves[1], 0);
    uint64_t e = pool[1][2];            /* PDPT entry for gpa 2G */
    assert_int_equal(e, 5 * GiB | 0xb7);
}

static void test_ept_1g_disabled_uses_2m(void **state)
{
    (void)state;
    struct ept_chunk c[] = { { 1 * GiB, 4 * GiB, 1 * GiB } };
    uint64_t root = 0;
    int rc = map(&root, c, 1, false);

    assert_int_equal(rc, 3);
    struct tree_stats st = check_map(root, c, 1, false, rc);
    assert_int_equal(st.leaves[2], 512);
    assert_int_equal(st.leaves[3], 0);
}

static void test_ept_1g_gpa_but_2m_hpa(void **state)
{
    (void)state;
    /* gpa 1G-aligned, hpa only 2M-aligned: no 1G page can be used */
    struct ept_chunk c[] = { { 1 * GiB, 0x80200000ull, 1 * GiB } };
    uint64_t root = 0;
    int rc = map(&root, c, 1, true);

    assert_int_equal(rc, 3);
    struct tree_stats st = check_map(root, c, 1, true, rc);
    assert_int_equal(st.leaves[2], 512);
    assert_int_equal(st.leaves[3], 0);
}

static void test_ept_4k_aligned_hpa(void **state)
{
    (void)state;
    /* gpa 2M-aligned, hpa only 4K-aligned: 4 MiB in 1024 4K pages */
    struct ept_chunk c[] = { { 2 * MiB, 0x301000, 4 * MiB } };
    uint64_t root = 0;
    int rc = map(&root, c, 1, true);

    assert_int_equal(rc, 5);            /* root + PDPT + PD + 2 PTs */
    struct tree_stats st = check_map(root, c, 1, true, rc);
    assert_int_equal(st.leaves[1], 1024);
    assert_int_equal(st.leaves[2] + st.leaves[3], 0);
}

static void test_ept_2m_plus_4k(void **state)
{
    (void)state;
    struct ept_chunk c[] = { { 4 * MiB, 8 * MiB, 2 * MiB + 4 * KiB } };
    uint64_t root = 0;
    int rc = map(&root, c, 1, true);

    assert_int_equal(rc, 4);            /* root + PDPT + PD + one PT */
    struct tree_stats st = check_map(root, c, 1, true, rc);
    assert_int_equal(st.leaves[2], 1);
    assert_int_equal(st.leaves[1], 1);
    unsigned lvl = 0;
    assert_int_equal(ept_translate(root, 6 * MiB + 0x10, fake_p2v, &fm, &lvl),
                     10 * MiB + 0x10);
    assert_int_equal(lvl, 1);
    assert_int_equal(walk(root, 6 * MiB + 4 * KiB, NULL, NULL), NOT_MAPPED);
}

static void test_ept_ramp_up_and_down(void **state)
{
    (void)state;
    /* same offset in gpa and hpa, starts and ends off 2M: 4K, 2M, 2M, 4K */
    struct ept_chunk c[] = { { 0x1ff000, 0x7ff000, 0x402000 } };
    uint64_t root = 0;
    int rc = map(&root, c, 1, true);

    assert_int_equal(rc, 5);            /* root + PDPT + PD + PTs for 0-2M and 6-8M */
    struct tree_stats st = check_map(root, c, 1, true, rc);
    assert_int_equal(st.leaves[1], 2);
    assert_int_equal(st.leaves[2], 2);
}

static void test_ept_mixed_ramp_to_1g(void **state)
{
    (void)state;
    /* 1G - 2M + 1G + 2M + 4K from gpa 2M: 511 2M pages, one 1G page, 1 2M, 1 4K */
    struct ept_chunk c[] = { { 2 * MiB, 2 * MiB + 8 * GiB, 2 * GiB + 4 * KiB } };
    uint64_t root = 0;
    int rc = map(&root, c, 1, true);

    struct tree_stats st = check_map(root, c, 1, true, rc);
    assert_int_equal(rc, 5);            /* root + PDPT + PD(0-1G) + PD(2G-3G) + PT */
    assert_int_equal(st.leaves[3], 1);
    assert_int_equal(st.leaves[2], 511 + 1);
    assert_int_equal(st.leaves[1], 1);
}

static void test_ept_several_chunks_share_tables(void **state)
{
    (void)state;
    struct ept_chunk c[] = {
        { 0, 0x10000000, 640 * KiB },              /* low RAM, 4K pages */
        { 1 * MiB, 0x10100000, 1 * MiB },          /* rest of the first 2M, 4K pages */
        { 2 * MiB, 0x10200000, 126 * MiB },        /* 2M pages, same PD */
        { 4 * GiB, 0x40000000, 1 * GiB },          /* 1G page in the same PDPT */
    };
    uint64_t root = 0;
    int rc = map(&root, c, 4, true);

    assert_int_equal(rc, 4);            /* root + PDPT + PD + one PT */
    struct tree_stats st = check_map(root, c, 4, true, rc);
    assert_int_equal(st.leaves[1], 160 + 256);
    assert_int_equal(st.leaves[2], 63);
    assert_int_equal(st.leaves[3], 1);
    /* the hole between 640K and 1M stays unmapped */
    assert_int_equal(walk(root, 640 * KiB, NULL, NULL), NOT_MAPPED);
    assert_int_equal(walk(root, 1 * MiB - 4 * KiB, NULL, NULL), NOT_MAPPED);
}

static void test_ept_crosses_512g(void **state)
{
    (void)state;
    /* straddles the first PML4 entry boundary */
    struct ept_chunk c[] = { { 512 * GiB - 2 * MiB, 6 * GiB, 4 * MiB } };
    uint64_t root = 0;
    int rc = map(&root, c, 1, true);

    assert_int_equal(rc, 5);            /* root + 2 PDPTs + 2 PDs */
    check_map(root, c, 1, true, rc);
    assert_int_not_equal(pool[0][0], 0);
    assert_int_not_equal(pool[0][1], 0);
}

static void test_ept_top_of_range(void **state)
{
    (void)state;
    /* ends exactly at 2^48: allowed */
    struct ept_chunk c[] = { { (1ull << 48) - 2 * MiB, 2 * MiB, 2 * MiB } };
    uint64_t root = 0;
    int rc = map(&root, c, 1, true);

    assert_int_equal(rc, 3);            /* root + PDPT + PD, all at index 511 */
    check_map(root, c, 1, true, rc);
    assert_int_equal(pool[0][511], (POOL_PA + 4096) | 7);
}

static void test_ept_existing_root(void **state)
{
    (void)state;
    struct ept_chunk a[] = { { 0, 0x40000000, 2 * MiB } };
    struct ept_chunk b[] = { { 2 * MiB, 0x40200000, 4 * KiB } };
    struct ept_chunk both[] = { a[0], b[0] };
    uint64_t root = 0;

    assert_int_equal(map(&root, a, 1, true), 3);
    uint64_t r0 = root;
    /* a second call into the same tree: only the new PT is allocated */
    assert_int_equal(map(&root, b, 1, true), 1);
    assert_int_equal(root, r0);
    check_map(root, both, 2, true, 4);
}

/* ---- ept_map_chunks: refused input ---- */

static void test_ept_unaligned(void **state)
{
    (void)state;
    struct ept_chunk bad[] = {
        { 0x800, 0x100000, 0x1000 },
        { 0x1000, 0x100800, 0x1000 },
        { 0x1000, 0x100000, 0x1800 },
        { 0x1000, 0x100000, 0x1 },
    };
    for (unsigned i = 0; i < 4; i++) {
        setup(NULL);
        uint64_t root = 0;
        assert_int_equal(map(&root, &bad[i], 1, true), -EINVAL);
        /* nothing mapped */
        if (root) {
            assert_int_equal(walk(root, 0x1000, NULL, NULL), NOT_MAPPED);
            assert_int_equal(walk(root, 0, NULL, NULL), NOT_MAPPED);
        }
    }
}

static void test_ept_range_limits(void **state)
{
    (void)state;
    struct ept_chunk bad[] = {
        { 0xfffffffffffff000ull, 0x100000, 0x2000 },       /* wraps past 2^64 */
        { 0xffffffffffe00000ull, 0x200000, 0x200000 },     /* ends at exactly 2^64 = 0 */
        { (1ull << 48) - 2 * MiB, 0x200000, 4 * MiB },     /* past 2^48 */
        { 1ull << 48, 0x200000, 4 * KiB },                 /* starts at 2^48 */
        { 0x1000, 0x200000, 0xfffffffffffff000ull },       /* huge size wraps */
    };
    for (unsigned i = 0; i < 5; i++) {
        setup(NULL);
        uint64_t root = 0;
        int rc = map(&root, &bad[i], 1, true);
        if (rc != -EINVAL)
            fail_msg("case %u: rc %d, want -EINVAL", i, rc);
        if (root)
            assert_int_equal(walk(root, bad[i].gpa & ((1ull << 48) - 1), NULL, NULL),
                             NOT_MAPPED);
    }
}

static void expect_overlap(const struct ept_chunk *c, unsigned n, bool use_1g)
{
    setup(NULL);
    uint64_t root = 0;
    int rc = map(&root, c, n, use_1g);
    if (rc != -EINVAL)
        fail_msg("chunks %#llx+%#llx / %#llx+%#llx: rc %d, want -EINVAL",
                 (unsigned long long)c[0].gpa, (unsigned long long)c[0].size,
                 (unsigned long long)c[n - 1].gpa, (unsigned long long)c[n - 1].size, rc);
    /* the first chunk's mapping was not overwritten by the second's hpa */
    for (uint64_t off = 0; off < c[0].size; off += 4 * KiB)
        assert_int_equal(walk(root, c[0].gpa + off, NULL, NULL), c[0].hpa + off);
}

static void test_ept_overlap(void **state)
{
    (void)state;
    /* identical 4K chunks */
    expect_overlap((struct ept_chunk[]){ { 0x1000, 0x100000, 0x1000 },
                                         { 0x1000, 0x900000, 0x1000 } }, 2, true);
    /* 4K chunk inside an existing 2M page */
    expect_overlap((struct ept_chunk[]){ { 2 * MiB, 2 * MiB, 2 * MiB },
                                         { 3 * MiB, 0x100000, 0x1000 } }, 2, true);
    /* 2M page over an existing page table */
    expect_overlap((struct ept_chunk[]){ { 2 * MiB + 4 * KiB, 0x101000, 0x1000 },
                                         { 2 * MiB, 4 * MiB, 2 * MiB } }, 2, true);
    /* 1G page over an existing 2M page */
    expect_overlap((struct ept_chunk[]){ { 1 * GiB + 2 * MiB, 2 * MiB, 2 * MiB },
                                         { 1 * GiB, 4 * GiB, 1 * GiB } }, 2, true);
    /* 2M page inside an existing 1G page */
    expect_overlap((struct ept_chunk[]){ { 1 * GiB, 4 * GiB, 1 * GiB },
                                         { 1 * GiB + 4 * MiB, 2 * MiB, 2 * MiB } }, 2, true);
    /* partial overlap at the tail of a 4K run */
    expect_overlap((struct ept_chunk[]){ { 0x10000, 0x110000, 0x3000 },
                                         { 0x12000, 0x900000, 0x3000 } }, 2, true);
}

static void test_ept_enomem(void **state)
{
    (void)state;
    /* needs root + PDPT + PD + 2 PTs */
    struct ept_chunk c[] = { { 2 * MiB, 0x301000, 4 * MiB } };

    for (unsigned lim = 0; lim < 5; lim++) {
        setup(NULL);
        fm.limit = lim;
        uint64_t root = 0;
        int rc = map(&root, c, 1, true);
        if (rc != -ENOMEM)
            fail_msg("limit %u: rc %d, want -ENOMEM", lim, rc);
        assert_int_equal(fm.used, lim);
        assert_int_equal(fm.p2v_bad, 0);
        if (lim == 0)
            assert_int_equal(root, 0);
    }
    setup(NULL);
    fm.limit = 5;
    uint64_t root = 0;
    int rc = map(&root, c, 1, true);
    assert_int_equal(rc, 5);
    check_map(root, c, 1, true, rc);
}

static void test_ept_enomem_existing_root(void **state)
{
    (void)state;
    struct ept_chunk a[] = { { 0, 0x40000000, 2 * MiB } };
    struct ept_chunk b[] = { { 1 * GiB, 0x80000000, 2 * MiB } };   /* needs a new PD */
    uint64_t root = 0;

    assert_int_equal(map(&root, a, 1, true), 3);
    fm.limit = 3;
    assert_int_equal(map(&root, b, 1, true), -ENOMEM);
    assert_int_equal(fm.used, 3);
    /* the earlier mapping is intact */
    assert_int_equal(walk(root, 0x1234, NULL, NULL), 0x40001234ull);
    assert_int_equal(walk(root, 1 * GiB, NULL, NULL), NOT_MAPPED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctls_must_be_one_forced_on),
        cmocka_unit_test(test_ctls_may_be_zero_forced_off),
        cmocka_unit_test(test_ctls_needed_bit_not_allowed),
        cmocka_unit_test(test_ctls_wanted_bit_dropped),
        cmocka_unit_test(test_ept_pointer_format),
        cmocka_unit_test_setup(test_ept_64m_2m_pages, setup),
        cmocka_unit_test_setup(test_ept_1g_pages, setup),
        cmocka_unit_test_setup(test_ept_1g_disabled_uses_2m, setup),
        cmocka_unit_test_setup(test_ept_1g_gpa_but_2m_hpa, setup),
        cmocka_unit_test_setup(test_ept_4k_aligned_hpa, setup),
        cmocka_unit_test_setup(test_ept_2m_plus_4k, setup),
        cmocka_unit_test_setup(test_ept_ramp_up_and_down, setup),
        cmocka_unit_test_setup(test_ept_mixed_ramp_to_1g, setup),
        cmocka_unit_test_setup(test_ept_several_chunks_share_tables, setup),
        cmocka_unit_test_setup(test_ept_crosses_512g, setup),
        cmocka_unit_test_setup(test_ept_top_of_range, setup),
        cmocka_unit_test_setup(test_ept_existing_root, setup),
        cmocka_unit_test_setup(test_ept_unaligned, setup),
        cmocka_unit_test_setup(test_ept_range_limits, setup),
        cmocka_unit_test_setup(test_ept_overlap, setup),
        cmocka_unit_test_setup(test_ept_enomem, setup),
        cmocka_unit_test_setup(test_ept_enomem_existing_root, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
