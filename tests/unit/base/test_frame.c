/*
 * Host tests for hv/base/frame.c. `ram` plays physical memory [ram_base, ram_base + RAM_SIZE);
 * test_p2v fails the test on any address outside it, so a bitmap placed or touched outside
 * simulated RAM is caught. The reference map (ref_map) has RAM holes, a core arena, ACPI
 * tables, memory below 1 MiB and a usable region that crosses the 32 MiB node boundary of
 * the two-node SRAT (ref_ranges). The expected zones are written out by hand (zones_srat,
 * zones_flat) and the random test keeps its own shadow of every page from them.
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

#include "hv/base/mem.h"
#include "support.h"

#define MiB       (1024ull * 1024)
#define PG        PAGE_SIZE
#define RAM_SIZE  (64 * MiB)
#define RAM_PAGES (RAM_SIZE / PG)
#define FILL      0xa5

static uint8_t *ram;
static uint64_t ram_base, ram_size = RAM_SIZE;

static void *test_p2v(uint64_t pa)
{
    if (pa < ram_base || pa - ram_base >= ram_size)
        fail_msg("p2v(0x%llx) outside simulated RAM", (unsigned long long)pa);
    return ram + (pa - ram_base);
}

#define REGION(b, bytes, t) { .base = (b), .pages = (bytes) / PG, .type = (t) }

static const struct boot_mem_region ref_map[] = {
    REGION(0, 0x9f000, BOOT_MEM_USABLE),                       /* below 1 MiB: never managed */
    REGION(0x9f000, 0x61000, BOOT_MEM_RESERVED),
    REGION(1 * MiB, 7 * MiB, BOOT_MEM_USABLE),
    REGION(8 * MiB, 1 * MiB, BOOT_MEM_CORE),
    REGION(9 * MiB, 7 * MiB, BOOT_MEM_USABLE),
    REGION(16 * MiB, 0x10000, BOOT_MEM_ACPI),
    REGION(16 * MiB + 0x10000, 32 * MiB - 0x10000, BOOT_MEM_USABLE), /* crosses 32 MiB */
    REGION(48 * MiB, 16 * MiB - 0x10000, BOOT_MEM_USABLE),
    REGION(64 * MiB - 0x10000, 0x10000, BOOT_MEM_ACPI_NVS),
    REGION(0xb0000000, 256 * MiB, BOOT_MEM_RESERVED),        /* ECAM window: not RAM */
    REGION(0xfee00000, PG, BOOT_MEM_MMIO),
};
#define NREF (sizeof(ref_map) / sizeof(ref_map[0]))

/* Listed out of address order on purpose. */
static const struct frame_node_range ref_ranges[] = {
    { .base = 32 * MiB, .end = 64 * MiB, .node = 1 },
    { .base = 0, .end = 32 * MiB, .node = 0 },
};

struct xzone { uint64_t base, pages; unsigned node; };

static const struct xzone zones_srat[] = {
    { 1 * MiB, 0x700, 0 },
    { 9 * MiB, 0x700, 0 },
    { 16 * MiB + 0x10000, 0xff0, 0 },
    { 32 * MiB, 0x1000, 1 },
    { 48 * MiB, 0xff0, 1 },
};
#define NZ_SRAT (sizeof(zones_srat) / sizeof(zones_srat[0]))

static const struct xzone zones_flat[] = {
    { 1 * MiB, 0x700, 0 },
    { 9 * MiB, 0x700, 0 },
    { 16 * MiB + 0x10000, 0x1ff0, 0 },
    { 48 * MiB, 0xff0, 0 },
};

/* Free pages right after init: every zone here needs exactly one bitmap page. */
#define N0_FREE (0x700 - 1 + 0x700 - 1 + 0xff0 - 1)
#define N1_FREE (0x1000 - 1 + 0xff0 - 1)

static int init_srat(void)
{
    return frame_init(ref_map, NREF, ref_ranges, 2, 2, test_p2v);
}

static uint64_t node_free(unsigned node)
{
    struct frame_stats s;

    frame_node_stats(node, &s);
    return s.free_pages;
}

static void assert_zones(const struct xzone *x, unsigned n)
{
    assert_int_equal(frame_zone_count(), n);
    for (unsigned i = 0; i < n; i++) {
        const struct frame_zone *z = frame_zone_get(i);

        assert_non_null(z);
        assert_int_equal(z->base, x[i].base);
        assert_int_equal(z->pages, x[i].pages);
        assert_int_equal(z->node, x[i].node);
        assert_int_equal(z->free, x[i].pages - 1);
        /* the bitmap lives in the zone's first page */
        assert_ptr_equal(z->bitmap, ram + (x[i].base - ram_base));
    }
    assert_null(frame_zone_get(n));
}

/* Which expected zone holds pa, or -1. */
static int xzone_of(const struct xzone *x, unsigned n, uint64_t pa)
{
    for (unsigned i = 0; i < n; i++)
        if (pa >= x[i].base && pa < x[i].base + x[i].pages * PG)
            return (int)i;
    return -1;
}

/* The run [pa, pa + pages) lies in one expected zone, past its bitmap page. */
static unsigned assert_in_one_zone(uint64_t pa, uint64_t pages)
{
    int z = xzone_of(zones_srat, NZ_SRAT, pa);

    assert_true(z >= 0);
    assert_true(pa >= zones_srat[z].base + PG);
    assert_true(pa + pages * PG <= zones_srat[z].base + zones_srat[z].pages * PG);
    assert_int_equal(pa % PG, 0);
    return zones_srat[z].node;
}

static int group_setup(void **state)
{
    (void)state;
    ram = aligned_alloc(4096, RAM_SIZE);
    return ram ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    free(ram);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    ram_base = 0;
    memset(ram, FILL, RAM_SIZE);
    unit_log_reset();
    return 0;
}

/* ---- zone construction and statistics ---- */

static void test_zones_with_srat(void **state)
{
    (void)state;
    assert_int_equal(init_srat(), 0);
    assert_int_equal(frame_nodes(), 2);
    assert_zones(zones_srat, NZ_SRAT);
    /* bitmap: the bitmap page itself and the bits past the zone end are marked used */
    const struct frame_zone *z = frame_zone_get(0);
    assert_int_equal(z->bitmap[0], 1);
    for (unsigned w = 1; w < 0x700 / 64; w++)
        assert_int_equal(z->bitmap[w], 0);
    assert_int_equal(z->bitmap[0x700 / 64], ~0ull);
    assert_int_equal(z->bitmap[511], ~0ull);
    /* nothing outside the bitmap pages was written */
    assert_int_equal(ram[1 * MiB + PG], FILL);
    assert_int_equal(ram[0x9e000], FILL);
    assert_int_equal(ram[8 * MiB], FILL);
    assert_int_equal(unit_log_count[LOG_ERR] + unit_log_count[LOG_WARN], 0);
}

static void test_zones_without_srat(void **state)
{
    (void)state;
    assert_int_equal(frame_init(ref_map, NREF, NULL, 0, 1, test_p2v), 0);
    assert_int_equal(frame_nodes(), 1);
    assert_zones(zones_flat, 4);
}

static void test_node_stats_srat(void **state)
{
    struct frame_stats s;

    (void)state;
    assert_int_equal(init_srat(), 0);
    frame_node_stats(0, &s);
    assert_int_equal(s.ram_pages, 32 * MiB / PG);      /* SRAT length, holes included */
    assert_int_equal(s.total_pages, 0x700 + 0x700 + 0xff0);
    assert_int_equal(s.free_pages, N0_FREE);
    assert_int_equal(s.zones, 3);
    frame_node_stats(1, &s);
    assert_int_equal(s.ram_pages, 32 * MiB / PG);
    assert_int_equal(s.total_pages, 0x1000 + 0xff0);
    assert_int_equal(s.free_pages, N1_FREE);
    assert_int_equal(s.zones, 2);
    memset(&s, 0xff, sizeof(s));
    frame_node_stats(2, &s);
    assert_int_equal(s.ram_pages + s.total_pages + s.free_pages + s.zones, 0);
    memset(&s, 0xff, sizeof(s));
    frame_node_stats(FRAME_MAX_NODES, &s);
    assert_int_equal(s.ram_pages + s.total_pages + s.free_pages + s.zones, 0);
}

static void test_node_stats_without_srat(void **state)
{
    struct frame_stats s;

    (void)state;
    assert_int_equal(frame_init(ref_map, NREF, NULL, 0, 1, test_p2v), 0);
    frame_node_stats(0, &s);
    /*
     * Low RAM, core, ACPI and NVS count; so does the reserved hole below 1 MiB, which
     * firmware carved out of RAM (it touches RAM). The lone ECAM window and MMIO do not.
     */
    assert_int_equal(s.ram_pages, RAM_PAGES);
    assert_int_equal(s.total_pages, 0x700 + 0x700 + 0x1ff0 + 0xff0);
    assert_int_equal(s.free_pages, 0x700 + 0x700 + 0x1ff0 + 0xff0 - 4);
    assert_int_equal(s.zones, 4);
}

/* Without an SRAT, a reserved range counts as RAM only when it touches a RAM region. */
static void test_reserved_ram_count(void **state)
{
    static const struct boot_mem_region m[] = {
        REGION(1 * MiB, 7 * MiB, BOOT_MEM_USABLE),
        REGION(8 * MiB, 1 * MiB, BOOT_MEM_RESERVED),    /* touches the RAM before it */
        REGION(12 * MiB, 1 * MiB, BOOT_MEM_RESERVED),   /* alone */
        REGION(14 * MiB, 1 * MiB, BOOT_MEM_RESERVED),   /* touches the ACPI after it */
        REGION(15 * MiB, 1 * MiB, BOOT_MEM_ACPI),
        REGION(16 * MiB + PG, 1 * MiB, BOOT_MEM_RESERVED), /* one page away: alone */
        REGION(18 * MiB, 1 * MiB, BOOT_MEM_MMIO),
        REGION(19 * MiB, 1 * MiB, BOOT_MEM_RESERVED),   /* next to MMIO only */
    };
    static const struct frame_node_range r[] = { { .base = 0, .end = 64 * MiB, .node = 0 } };
    struct frame_stats s;

    (void)state;
    assert_int_equal(frame_init(m, 8, NULL, 0, 1, test_p2v), 0);
    frame_node_stats(0, &s);
    assert_int_equal(s.ram_pages, (7 + 1 + 1 + 1) * MiB / PG);
    assert_int_equal(s.total_pages, 7 * MiB / PG);
    assert_int_equal(s.zones, 1);
    /* with an SRAT the ranges alone decide */
    assert_int_equal(frame_init(m, 8, r, 1, 1, test_p2v), 0);
    frame_node_stats(0, &s);
    assert_int_equal(s.ram_pages, 64 * MiB / PG);
    assert_int_equal(s.total_pages, 7 * MiB / PG);
}

/* Re-initialising starts over: zones and RAM counts are not accumulated. */
static void test_reinit(void **state)
{
    struct frame_stats s;

    (void)state;
    assert_int_equal(init_srat(), 0);
    assert_int_not_equal(frame_alloc(0, 10, 1, 0), 0);
    assert_int_equal(init_srat(), 0);
    assert_zones(zones_srat, NZ_SRAT);
    frame_node_stats(0, &s);
    assert_int_equal(s.ram_pages, 32 * MiB / PG);
    assert_int_equal(s.free_pages, N0_FREE);
}

/*
 * A range gap belongs to node 0 up to the nearest following range (ranges listed out of
 * order), and a boundary splits a zone even between ranges of one node.
 */
static void test_split_with_range_gap(void **state)
{
    static const struct frame_node_range r[] = {
        { .base = 44 * MiB, .end = 64 * MiB, .node = 0 },
        { .base = 0, .end = 16 * MiB, .node = 1 },
        { .base = 32 * MiB, .end = 40 * MiB, .node = 0 },
        { .base = 40 * MiB, .end = 44 * MiB, .node = 1 },
        { .base = 60 * MiB, .end = 56 * MiB, .node = 1 },  /* inverted: ignored */
    };
    static const struct xzone x[] = {
        { 1 * MiB, 0x700, 1 },
        { 9 * MiB, 0x700, 1 },
        { 16 * MiB + 0x10000, (16 * MiB - 0x10000) / PG, 0 },
        { 32 * MiB, 8 * MiB / PG, 0 },
        { 40 * MiB, 4 * MiB / PG, 1 },
        { 44 * MiB, 4 * MiB / PG, 0 },
        { 48 * MiB, 0xff0, 0 },
    };
    struct frame_stats s;

    (void)state;
    assert_int_equal(frame_init(ref_map, NREF, r, 5, 2, test_p2v), 0);
    assert_zones(x, 7);
    frame_node_stats(1, &s);
    assert_int_equal(s.ram_pages, 20 * MiB / PG);
    assert_int_equal(s.zones, 3);
    frame_node_stats(0, &s);
    assert_int_equal(s.ram_pages, 28 * MiB / PG);      /* the gap is not SRAT memory */
    assert_int_equal(s.zones, 4);
}

/* A range naming a node beyond FRAME_MAX_NODES puts its memory on node 0. */
static void test_range_node_out_of_bounds(void **state)
{
    static const struct frame_node_range r[] = {
        { .base = 0, .end = 64 * MiB, .node = FRAME_MAX_NODES + 3 },
    };

    (void)state;
    assert_int_equal(frame_init(ref_map, NREF, r, 1, 1, test_p2v), 0);
    assert_zones(zones_flat, 4);
    assert_int_equal(node_free(0), 0x700 + 0x700 + 0x1ff0 + 0xff0 - 4);
    assert_int_equal(frame_alloc(0, 1, 1, FRAME_STRICT), 1 * MiB + PG);
}

static void test_low_memory_excluded(void **state)
{
    static const struct boot_mem_region m[] = {
        REGION(0x1000, 0x7f000, BOOT_MEM_USABLE),
        REGION(0x80000, 1 * MiB, BOOT_MEM_USABLE),      /* 512 KiB below the limit, 512 above */
    };
    struct frame_stats s;

    (void)state;
    assert_int_equal(frame_init(m, 2, NULL, 0, 1, test_p2v), 0);
    assert_int_equal(frame_zone_count(), 1);
    assert_int_equal(frame_zone_get(0)->base, FRAME_LOW_LIMIT);
    assert_int_equal(frame_zone_get(0)->pages, 128);
    frame_node_stats(0, &s);
    assert_int_equal(s.ram_pages, (0x7f000 + 1 * MiB) / PG);
    assert_int_equal(s.free_pages, 127);
    for (int i = 0; i < 127; i++)
        assert_true(frame_alloc(0, 1, 1, 0) >= FRAME_LOW_LIMIT + PG);
    assert_int_equal(frame_alloc(0, 1, 1, 0), 0);
    for (uint64_t a = 0; a < FRAME_LOW_LIMIT; a++)
        if (ram[a] != FILL)
            fail_msg("low memory written at 0x%llx", (unsigned long long)a);
}

/* Addresses above 4 GiB survive the arithmetic. */
static void test_high_base(void **state)
{
    static const struct boot_mem_region m[] = {
        REGION(0x100000000ull, 8 * MiB, BOOT_MEM_USABLE),
    };

    (void)state;
    ram_base = 0x100000000ull;
    assert_int_equal(frame_init(m, 1, NULL, 0, 1, test_p2v), 0);
    assert_int_equal(frame_alloc(0, 1, 1, 0), 0x100001000ull);
    assert_int_equal(frame_alloc(0, 512, 512, 0), 0x100200000ull);
    frame_free(0x100001000ull, 1);
    assert_int_equal(node_free(0), 2048 - 1 - 512);
}

/* A zone of more than 32768 frames keeps its bitmap in two pages. */
static void test_two_bitmap_pages(void **state)
{
    static const struct boot_mem_region m[] = {
        REGION(1 * MiB, (32768 + 1) * PG, BOOT_MEM_USABLE),
    };
    uint8_t *small = ram;
    uint64_t n = 0, a, first = 0, last = 0;

    (void)state;
    ram_size = 1 * MiB + (32768 + 1) * PG;
    ram = aligned_alloc(4096, ram_size);
    assert_non_null(ram);
    assert_int_equal(frame_init(m, 1, NULL, 0, 1, test_p2v), 0);
    const struct frame_zone *z = frame_zone_get(0);
    assert_int_equal(z->pages, 32769);
    assert_int_equal(z->free, 32767);
    assert_int_equal(z->bitmap[0], 3);
    assert_int_equal(z->bitmap[512], ~1ull);            /* frame 32768 free, the tail used */
    assert_int_equal(z->bitmap[513], ~0ull);
    assert_int_equal(z->bitmap[511], 0);
    assert_int_equal(z->bitmap[1023], ~0ull);
    while ((a = frame_alloc(0, 1, 1, 0)) != 0) {
        if (!first)
            first = a;
        last = a;
        n++;
    }
    assert_int_equal(n, 32767);
    assert_int_equal(first, 1 * MiB + 2 * PG);
    assert_int_equal(last, 1 * MiB + 32768 * PG);
    free(ram);
    ram = small;
    ram_size = RAM_SIZE;
}

static void test_init_errors(void **state)
{
    static const struct boot_mem_region none[] = {
        REGION(0x1000, 0x9e000, BOOT_MEM_USABLE),       /* all below 1 MiB */
        REGION(2 * MiB, 8 * MiB, BOOT_MEM_CORE),
        REGION(10 * MiB, 8 * MiB, BOOT_MEM_RESERVED),
        REGION(20 * MiB, 8 * MiB, BOOT_MEM_ACPI),
        REGION(30 * MiB, 8 * MiB, BOOT_MEM_MMIO),
        REGION(40 * MiB, PG, BOOT_MEM_USABLE),          /* room for a bitmap only */
    };
    static const struct boot_mem_region two[] = { REGION(2 * MiB, 2 * PG, BOOT_MEM_USABLE) };

    (void)state;
    assert_int_equal(frame_init(none, 6, NULL, 0, 1, test_p2v), -ENOMEM);
    assert_int_equal(frame_zone_count(), 0);
    assert_int_equal(frame_alloc(0, 1, 1, 0), 0);
    assert_int_equal(frame_init(none, 0, NULL, 0, 1, test_p2v), -ENOMEM);
    assert_int_equal(frame_init(ref_map, NREF, NULL, 0, 1, NULL), -EINVAL);
    assert_int_equal(frame_init(ref_map, NREF, NULL, 0, 0, test_p2v), -EINVAL);
    assert_int_equal(frame_init(ref_map, NREF, NULL, 0, FRAME_MAX_NODES + 1, test_p2v),
                     -EINVAL);
    assert_int_equal(frame_init(ref_map, NREF, NULL, 0, FRAME_MAX_NODES, test_p2v), 0);
    assert_int_equal(frame_nodes(), FRAME_MAX_NODES);
    /* two pages: one bitmap, one frame */
    assert_int_equal(frame_init(two, 1, NULL, 0, 1, test_p2v), 0);
    assert_int_equal(frame_alloc(0, 1, 1, 0), 2 * MiB + PG);
    assert_int_equal(frame_alloc(0, 1, 1, 0), 0);
}

/* ---- allocation ---- */

static void test_alloc_free_roundtrip(void **state)
{
    uint64_t a, b;

    (void)state;
    assert_int_equal(init_srat(), 0);
    a = frame_alloc(0, 1, 1, 0);
    assert_int_equal(a, 1 * MiB + PG);                 /* first fit, after the bitmap */
    assert_int_equal(node_free(0), N0_FREE - 1);
    assert_int_equal(node_free(1), N1_FREE);
    b = frame_alloc(1, 1, 1, 0);
    assert_int_equal(b, 32 * MiB + PG);
    assert_int_equal(node_free(1), N1_FREE - 1);
    frame_free(a, 1);
    frame_free(b, 1);
    assert_int_equal(node_free(0), N0_FREE);
    assert_int_equal(node_free(1), N1_FREE);
    /* the hint moved on, but the freed frame is found again once the rest is used */
    a = frame_alloc(0, 1, 1, 0);
    assert_int_not_equal(a, 0);
    assert_int_equal(assert_in_one_zone(a, 1), 0);
    assert_int_equal(unit_log_count[LOG_ERR], 0);
}

static void test_invalid_requests(void **state)
{
    (void)state;
    assert_int_equal(init_srat(), 0);
    assert_int_equal(frame_alloc(0, 0, 1, 0), 0);
    assert_int_equal(frame_alloc(2, 1, 1, 0), 0);      /* no such node, even with fallback */
    assert_int_equal(frame_alloc(FRAME_MAX_NODES, 1, 1, 0), 0);
    assert_int_equal(frame_alloc(0, RAM_PAGES, 1, 0), 0);
    assert_int_equal(frame_alloc(0, ~0ull, 1, 0), 0);
    assert_int_equal(node_free(0), N0_FREE);
    assert_int_equal(node_free(1), N1_FREE);
}

static void test_contiguous(void **state)
{
    uint64_t a, b, c;

    (void)state;
    assert_int_equal(init_srat(), 0);
    a = frame_alloc(0, 100, 1, 0);
    assert_int_equal(a, 1 * MiB + PG);
    b = frame_alloc(0, 100, 1, 0);
    assert_int_equal(b, 1 * MiB + 101 * PG);
    assert_int_equal(node_free(0), N0_FREE - 200);
    frame_free(a, 100);
    frame_free(b, 100);
    /* the whole of zone 0 in one piece */
    assert_int_equal(frame_alloc(0, 0x6ff, 1, FRAME_STRICT), 1 * MiB + PG);
    /* one page more fits only in zone 2 (zones never merge across the core arena) */
    c = frame_alloc(0, 0x700, 1, FRAME_STRICT);
    assert_int_equal(c, 16 * MiB + 0x10000 + PG);
    /* zone 2 and zone 3 touch at 32 MiB, but a run may not cross: the largest is 0xfff */
    assert_int_equal(frame_alloc(1, 0x1000, 1, 0), 0);
    assert_int_equal(frame_alloc(1, 0xfff, 1, 0), 32 * MiB + PG);
    frame_free(c, 0x700);
    assert_int_equal(node_free(0), N0_FREE - 0x6ff);
}

static void test_alignment(void **state)
{
    static const uint64_t want[] = {
        0x200000, 0x400000, 0x600000, 0xa00000, 0xc00000, 0xe00000, 0x1200000, 0x1400000,
        0x1600000, 0x1800000, 0x1a00000, 0x1c00000, 0x1e00000,
    };
    uint64_t a;

    (void)state;
    assert_int_equal(init_srat(), 0);
    /* every 2 MiB boundary of node 0, in order */
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(frame_alloc(0, 1, 512, FRAME_STRICT), want[i]);
    assert_int_equal(frame_alloc(0, 1, 512, FRAME_STRICT), 0);
    /* node 1's first boundary holds its bitmap: 34 MiB is next */
    assert_int_equal(frame_alloc(0, 1, 512, 0), 0x2200000);
    assert_int_equal(node_free(0), N0_FREE - 13);

    assert_int_equal(init_srat(), 0);
    /* 2 MiB blocks: zone 0 holds exactly three, the last ending at the zone's end */
    assert_int_equal(frame_alloc(0, 512, 512, FRAME_STRICT), 0x200000);
    assert_int_equal(frame_alloc(0, 512, 512, FRAME_STRICT), 0x400000);
    assert_int_equal(frame_alloc(0, 512, 512, FRAME_STRICT), 0x600000);
    assert_int_equal(frame_alloc(0, 512, 512, FRAME_STRICT), 0xa00000);
    /* align 0 means 1; odd alignments are honoured in frame numbers */
    a = frame_alloc(1, 1, 0, 0);
    assert_int_equal(a, 32 * MiB + PG);
    a = frame_alloc(1, 3, 3, 0);
    assert_int_equal((a / PG) % 3, 0);
    assert_int_equal(a, 32 * MiB + 4 * PG);            /* frame 0x2004; 0x2001 is taken */
}

static void test_strict_and_fallback(void **state)
{
    uint64_t a;

    (void)state;
    assert_int_equal(init_srat(), 0);
    /* node 0's largest run is 0xfef pages */
    assert_int_equal(frame_alloc(0, 0xff0, 1, FRAME_STRICT), 0);
    assert_int_equal(node_free(0), N0_FREE);
    a = frame_alloc(0, 0xff0, 1, 0);
    assert_int_equal(a, 32 * MiB + PG);
    assert_int_equal(node_free(1), N1_FREE - 0xff0);
    assert_int_equal(node_free(0), N0_FREE);
    /* and the other way round, once node 1 is full */
    assert_int_not_equal(frame_alloc(1, 0xfef, 1, FRAME_STRICT), 0);
    assert_int_equal(node_free(1), 0xf);
    assert_int_equal(frame_alloc(1, 16, 1, FRAME_STRICT), 0);
    a = frame_alloc(1, 16, 1, 0);
    assert_int_equal(a, 1 * MiB + PG);
    assert_int_equal(node_free(0), N0_FREE - 16);
    /* zone 3's tail */
    assert_int_equal(frame_alloc(1, 15, 1, FRAME_STRICT), 32 * MiB + 0xff1 * PG);
}

static void test_zero_flag(void **state)
{
    uint64_t a, b;

    (void)state;
    assert_int_equal(init_srat(), 0);
    a = frame_alloc(1, 3, 1, FRAME_ZERO);
    assert_int_equal(a, 32 * MiB + PG);
    for (uint64_t i = 0; i < 3 * PG; i++)
        if (ram[a + i] != 0)
            fail_msg("byte 0x%llx of a FRAME_ZERO allocation is 0x%x", (unsigned long long)i,
                     ram[a + i]);
    assert_int_equal(ram[a + 3 * PG], FILL);            /* the neighbour untouched */
    b = frame_alloc(1, 2, 1, 0);
    assert_int_equal(b, a + 3 * PG);
    assert_int_equal(ram[b], FILL);                     /* no flag, no clearing */
    assert_int_equal(ram[b + 2 * PG - 1], FILL);
}

static void test_exhaustion(void **state)
{
    static uint8_t seen[RAM_PAGES];
    uint64_t n = 0, a;

    (void)state;
    memset(seen, 0, sizeof(seen));
    assert_int_equal(init_srat(), 0);
    while ((a = frame_alloc(0, 1, 1, 0)) != 0) {
        assert_in_one_zone(a, 1);
        assert_int_equal(seen[a / PG], 0);
        seen[a / PG] = 1;
        n++;
        assert_true(n <= N0_FREE + N1_FREE);
    }
    assert_int_equal(n, N0_FREE + N1_FREE);
    assert_int_equal(node_free(0), 0);
    assert_int_equal(node_free(1), 0);
    assert_int_equal(frame_alloc(1, 1, 1, 0), 0);
    assert_int_equal(frame_alloc(0, 1, 512, FRAME_ZERO), 0);
    for (uint64_t p = 0; p < RAM_PAGES; p++)
        if (seen[p])
            frame_free(p * PG, 1);
    assert_int_equal(node_free(0), N0_FREE);
    assert_int_equal(node_free(1), N1_FREE);

    /* failed multi-page requests on a fragmented allocator leak nothing */
    n = 0;
    while (frame_alloc(0, 7, 1, 0))
        n++;
    uint64_t left0 = node_free(0), left1 = node_free(1);
    assert_int_equal(left0 + left1 + 7 * n, N0_FREE + N1_FREE);
    assert_true(left0 + left1 < 7 * NZ_SRAT);
    assert_int_equal(frame_alloc(0, 7, 1, 0), 0);
    assert_int_equal(frame_alloc(1, 2, 512, 0), 0);
    assert_int_equal(node_free(0), left0);
    assert_int_equal(node_free(1), left1);
    assert_int_equal(unit_log_count[LOG_ERR], 0);
}

static void test_double_free(void **state)
{
    uint64_t a, b;

    (void)state;
    assert_int_equal(init_srat(), 0);
    a = frame_alloc(0, 1, 1, 0);
    frame_free(a, 1);
    assert_int_equal(unit_log_count[LOG_ERR], 0);
    frame_free(a, 1);
    assert_int_equal(unit_log_count[LOG_ERR], 1);
    assert_non_null(strstr(unit_log_last, "double free"));
    assert_int_equal(node_free(0), N0_FREE);
    assert_int_equal(frame_zone_get(0)->free, 0x6ff);

    /* a run with one page already free: the rest is freed, the free count moves by 3 */
    unit_log_reset();
    b = frame_alloc(0, 4, 1, 0);
    frame_free(b + PG, 1);
    assert_int_equal(node_free(0), N0_FREE - 3);
    frame_free(b, 4);
    assert_int_equal(unit_log_count[LOG_ERR], 1);
    assert_int_equal(node_free(0), N0_FREE);
    /* the counter was not inflated: exactly N0_FREE pages can be had from node 0 */
    uint64_t n = 0;
    while (frame_alloc(0, 1, 1, FRAME_STRICT))
        n++;
    assert_int_equal(n, N0_FREE);
}

static void test_free_unmanaged(void **state)
{
    static const uint64_t bad[] = {
        0x50000,                    /* below 1 MiB */
        0x9f000,                    /* reserved */
        8 * MiB,                    /* core arena */
        16 * MiB,                   /* ACPI */
        64 * MiB - PG,              /* ACPI NVS */
        0xfee00000,                 /* MMIO */
        128 * MiB,                  /* nothing at all */
    };

    (void)state;
    assert_int_equal(init_srat(), 0);
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unit_log_reset();
        frame_free(bad[i], 1);
        assert_int_equal(unit_log_count[LOG_ERR], 1);
        assert_non_null(strstr(unit_log_last, "unmanaged"));
    }
    /* a run that starts in zone 0 and runs past its end */
    unit_log_reset();
    frame_free(8 * MiB - PG, 2);
    assert_int_equal(unit_log_count[LOG_ERR], 1);
    assert_non_null(strstr(unit_log_last, "unmanaged"));
    /* and one straddling the 32 MiB boundary between zones 2 and 3 */
    unit_log_reset();
    frame_free(32 * MiB - PG, 2);
    assert_int_equal(unit_log_count[LOG_ERR], 1);
    assert_int_equal(node_free(0), N0_FREE);
    assert_int_equal(node_free(1), N1_FREE);
}

/* ---- random operations against a shadow map ---- */

enum { SH_NONE, SH_FREE, SH_USED };

static uint8_t shadow[RAM_PAGES];
static uint32_t run_from[RAM_PAGES];   /* free pages starting here, within the zone */

static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Could `pages` frames at `align` come from `node`'s zones (any node if node < 0)? */
static bool shadow_fits(int node, uint64_t pages, uint64_t align)
{
    for (unsigned k = 0; k < NZ_SRAT; k++) {
        const struct xzone *z = &zones_srat[k];
        uint64_t first = z->base / PG, end = first + z->pages;

        if (node >= 0 && z->node != (unsigned)node)
            continue;
        run_from[end - 1] = shadow[end - 1] == SH_FREE;
        for (uint64_t p = end - 1; p-- > first;)
            run_from[p] = shadow[p] == SH_FREE ? run_from[p + 1] + 1 : 0;
        for (uint64_t p = first; p + pages <= end; p++)
            if (p % align == 0 && run_from[p] >= pages)
                return true;
    }
    return false;
}

static uint64_t shadow_free(unsigned node)
{
    uint64_t n = 0;

    for (unsigned k = 0; k < NZ_SRAT; k++)
        if (zones_srat[k].node == node)
            for (uint64_t p = 0; p < zones_srat[k].pages; p++)
                n += shadow[zones_srat[k].base / PG + p] == SH_FREE;
    return n;
}

struct live { uint64_t pa, pages; };

static uint64_t tag(uint64_t pa) { return pa * 0x9e3779b97f4a7c15ull | 1; }

static void test_random_against_shadow(void **state)
{
    static struct live live[4096];
    static const uint64_t aligns[] = { 0, 1, 1, 1, 2, 4, 16, 512 };
    unsigned nlive = 0, fails = 0, fallbacks = 0;

    (void)state;
    rng_state = 0x5eed0f7a11c0ffeeull;
    assert_int_equal(init_srat(), 0);
    assert_zones(zones_srat, NZ_SRAT);
    memset(shadow, SH_NONE, sizeof(shadow));
    for (unsigned k = 0; k < NZ_SRAT; k++)
        memset(shadow + zones_srat[k].base / PG + 1, SH_FREE, zones_srat[k].pages - 1);

    for (unsigned op = 0; op < 30000; op++) {
        uint64_t r = rng();
        bool do_alloc = nlive == 0 || (nlive < 4096 && r % 100 < (op < 15000 ? 65 : 50));

        if (do_alloc) {
            uint64_t pages = r >> 8 & 0xf ? 1 + (r >> 12) % 16 : 1 + (r >> 12) % 700;
            uint64_t align = aligns[(r >> 24) % 8], al = align ? align : 1;
            unsigned node = (r >> 28) % 8 == 0 ? 2 : (r >> 32) % 2;
            unsigned flags = ((r >> 36) % 4 == 0 ? FRAME_STRICT : 0) |
                             ((r >> 40) % 8 == 0 ? FRAME_ZERO : 0);
            uint64_t pa = frame_alloc(node, pages, align, flags);

            if (node >= 2) {
                assert_int_equal(pa, 0);
                continue;
            }
            if (!pa) {
                fails++;
                if (shadow_fits(flags & FRAME_STRICT ? (int)node : -1, pages, al))
                    fail_msg("op %u: alloc(%u, %llu, %llu, %u) failed but a run was free", op,
                             node, (unsigned long long)pages, (unsigned long long)al, flags);
                continue;
            }
            unsigned got = assert_in_one_zone(pa, pages);
            assert_int_equal((pa / PG) % al, 0);
            if (got != node) {
                assert_false(flags & FRAME_STRICT);
                assert_false(shadow_fits((int)node, pages, al));   /* own node was tried first */
                fallbacks++;
            }
            for (uint64_t p = pa / PG; p < pa / PG + pages; p++) {
                if (shadow[p] != SH_FREE)
                    fail_msg("op %u: frame 0x%llx handed out while %s", op,
                             (unsigned long long)(p * PG), shadow[p] ? "in use" : "unmanaged");
                shadow[p] = SH_USED;
                if (flags & FRAME_ZERO) {
                    for (uint64_t b = 0; b < PG; b += 8)
                        assert_int_equal(*(uint64_t *)(ram + p * PG + b), 0);
                }
                *(uint64_t *)(ram + p * PG) = tag(p * PG);
            }
            live[nlive++] = (struct live){ pa, pages };
        } else {
            unsigned i = (unsigned)((r >> 8) % nlive);
            struct live l = live[i];

            live[i] = live[--nlive];
            for (uint64_t p = l.pa / PG; p < l.pa / PG + l.pages; p++) {
                /* nobody (a bitmap, say) wrote into the frame while it was ours */
                assert_int_equal(*(uint64_t *)(ram + p * PG), tag(p * PG));
                shadow[p] = SH_FREE;
            }
            frame_free(l.pa, l.pages);
        }
        if (op % 500 == 0) {
            assert_int_equal(node_free(0), shadow_free(0));
            assert_int_equal(node_free(1), shadow_free(1));
        }
    }
    /* the run exercised the interesting paths */
    assert_true(fails > 50);
    assert_true(fallbacks > 50);
    assert_true(nlive > 0);
    while (nlive) {
        struct live l = live[--nlive];
        frame_free(l.pa, l.pages);
    }
    assert_int_equal(node_free(0), N0_FREE);
    assert_int_equal(node_free(1), N1_FREE);
    assert_int_equal(unit_log_count[LOG_ERR] + unit_log_count[LOG_WARN], 0);
    /* all bitmap pages still mark only themselves and the tails as used */
    for (unsigned k = 0; k < NZ_SRAT; k++) {
        const struct frame_zone *z = frame_zone_get(k);
        assert_int_equal(z->bitmap[0], 1);
        assert_int_equal(z->free, z->pages - 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_zones_with_srat, setup),
        cmocka_unit_test_setup(test_zones_without_srat, setup),
        cmocka_unit_test_setup(test_node_stats_srat, setup),
        cmocka_unit_test_setup(test_node_stats_without_srat, setup),
        cmocka_unit_test_setup(test_reserved_ram_count, setup),
        cmocka_unit_test_setup(test_reinit, setup),
        cmocka_unit_test_setup(test_split_with_range_gap, setup),
        cmocka_unit_test_setup(test_range_node_out_of_bounds, setup),
        cmocka_unit_test_setup(test_low_memory_excluded, setup),
        cmocka_unit_test_setup(test_high_base, setup),
        cmocka_unit_test_setup(test_two_bitmap_pages, setup),
        cmocka_unit_test_setup(test_init_errors, setup),
        cmocka_unit_test_setup(test_alloc_free_roundtrip, setup),
        cmocka_unit_test_setup(test_invalid_requests, setup),
        cmocka_unit_test_setup(test_contiguous, setup),
        cmocka_unit_test_setup(test_alignment, setup),
        cmocka_unit_test_setup(test_strict_and_fallback, setup),
        cmocka_unit_test_setup(test_zero_flag, setup),
        cmocka_unit_test_setup(test_exhaustion, setup),
        cmocka_unit_test_setup(test_double_free, setup),
        cmocka_unit_test_setup(test_free_unmanaged, setup),
        cmocka_unit_test_setup(test_random_against_shadow, setup),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
