/*
 * Host tests for hv/vm/guest_boot.c. Guest RAM is a calloc'd RAM_SIZE buffer
 * (ASan catches any access past it). Page tables are checked by walking
 * them the way the MMU would; GDT descriptors are decoded back into the
 * attributes the initial state uses; ELF images are crafted byte by byte.
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

#include "hv/vm/guest_boot.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define RAM_SIZE (8 * MiB)

static uint8_t *ram;
static char err[160];

static int setup(void **state)
{
    (void)state;
    ram = calloc(1, RAM_SIZE);
    memset(err, 'x', sizeof(err));
    return ram ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(ram);
    return 0;
}

static uint64_t get64(uint64_t gpa) { uint64_t v; memcpy(&v, ram + gpa, 8); return v; }

/* ---- page-table walk (SDM 4.5) ---- */

#define PTE_P  0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull
#define ADDR_MASK 0x000ffffffffff000ull

/* Returns true and *pa if gva is mapped; checks the flags of every level. */
static bool walk(uint64_t gva, uint64_t *pa)
{
    uint64_t cr3 = GUEST_PML4_GPA;
    uint64_t e = get64((cr3 & ADDR_MASK) + ((gva >> 39) & 511) * 8);

    if (!(e & PTE_P))
        return false;
    assert_int_equal(e & 0xfff, PTE_P | PTE_RW);
    e = get64((e & ADDR_MASK) + ((gva >> 30) & 511) * 8);
    if (!(e & PTE_P))
        return false;
    assert_int_equal(e & 0xfff, PTE_P | PTE_RW);       /* no 1 GiB pages */
    e = get64((e & ADDR_MASK) + ((gva >> 21) & 511) * 8);
    if (!(e & PTE_P))
        return false;
    assert_int_equal(e & 0xfff, PTE_P | PTE_RW | PTE_PS);
    assert_int_equal(e >> 52, 0);                      /* NX clear, no high bits */
    *pa = (e & 0x000fffffffe00000ull) + (gva & (2 * MiB - 1));
    return true;
}

/* Every 2 MiB page of the low 512 GiB: mapped to itself iff below ram_size. */
static void check_map(uint64_t ram_size)
{
    assert_int_equal(guest_boot_setup(ram, ram_size, 1, ""), 0);
    for (uint64_t gva = 0; gva < 8 * GiB; gva += 2 * MiB) {
        uint64_t pa = ~0ull;
        bool mapped = walk(gva + 0x1234, &pa);

        assert_int_equal(mapped, gva < ram_size);
        if (mapped)
            assert_int_equal(pa, gva + 0x1234);
    }
    for (unsigned i = 1; i < 512; i++)
        assert_int_equal(get64(GUEST_PML4_GPA + i * 8), 0);
    for (unsigned i = 4; i < 512; i++)
        assert_int_equal(get64(GUEST_PDPT_GPA + i * 8), 0);
}

static void test_page_tables_map_exactly_ram(void **state)
{
    (void)state;
    /* Setup writes only below GUEST_IMAGE_MIN_GPA, so the sizes may exceed the buffer. */
    check_map(2 * MiB);
    check_map(RAM_SIZE);
    check_map(1 * GiB);
    check_map(1 * GiB + 2 * MiB);
    check_map(3 * GiB + 510 * MiB);
    check_map(4 * GiB);
}

/* ---- GDT ---- */

struct desc { uint64_t base; uint32_t limit, attr; };

static struct desc decode(uint16_t sel, bool system)
{
    uint64_t lo = get64(GUEST_GDT_GPA + sel);
    struct desc d;

    d.limit = (uint32_t)((lo & 0xffff) | ((lo >> 48 & 0xf) << 16));
    d.base = (lo >> 16 & 0xffffff) | ((lo >> 56 & 0xff) << 24);
    d.attr = (uint32_t)((lo >> 40 & 0xff) | ((lo >> 52 & 0xf) << 8));
    if (d.attr & 0x800)
        d.limit = d.limit << 12 | 0xfff;
    if (system)
        d.base |= get64(GUEST_GDT_GPA + sel + 8) << 32;
    return d;
}

static void check_seg(const struct seg *s, uint16_t sel, bool system)
{
    struct desc d = decode(sel, system);

    assert_int_equal(s->sel, sel);
    assert_int_equal(s->attr, d.attr);
    assert_int_equal(s->limit, d.limit);
    assert_int_equal(s->base, d.base);
    assert_true(sel + (system ? 15 : 7) <= GUEST_GDT_LIMIT);
}

static void test_gdt_matches_state(void **state)
{
    struct vcpu_state s;

    (void)state;
    assert_int_equal(guest_boot_setup(ram, RAM_SIZE, 2, NULL), 0);
    guest_boot_state(&s, 0x100000, 1);
    assert_int_equal(get64(GUEST_GDT_GPA), 0);
    check_seg(&s.cs, GUEST_SEL_CODE, false);
    check_seg(&s.ds, GUEST_SEL_DATA, false);
    check_seg(&s.tr, GUEST_SEL_TSS, true);
    assert_int_equal(get64(GUEST_GDT_GPA + GUEST_SEL_CODE), 0x00af9b000000ffffull);
    assert_int_equal(get64(GUEST_GDT_GPA + GUEST_SEL_DATA), 0x00cf93000000ffffull);
    assert_int_equal(s.cs.attr, 0xa9b);
    assert_int_equal(s.ds.attr, 0xc93);
    assert_int_equal(s.tr.attr, 0x08b);
    assert_int_equal(s.tr.base, 0x1800);
    assert_int_equal(s.tr.limit, 103);
    assert_int_equal(s.gdtr.base, 0x1000);
    assert_int_equal(s.gdtr.limit, 0x27);
    for (unsigned i = 0; i < 104; i++)
        assert_int_equal(ram[GUEST_TSS_GPA + i], 0);
}

/* ---- boot info ---- */

static void test_boot_info(void **state)
{
    const char *cmd = "hb=4 pages=2 mode=idle";

    (void)state;
    memset(ram, 0xaa, GUEST_IMAGE_MIN_GPA + 16);
    assert_int_equal(guest_boot_setup(ram, RAM_SIZE, 3, cmd), 0);
    assert_int_equal(ram[GUEST_IMAGE_MIN_GPA], 0xaa);   /* nothing written at or above */
    for (unsigned i = 0; i < GUEST_MAX_VCPUS; i++) {
        const uint8_t *p = ram + 0x8000 + i * 0x1000;
        struct guest_boot_info bi;

        memcpy(&bi, p, sizeof(bi));
        if (i >= 3) {   /* unused vCPU slots stay zero */
            for (unsigned j = 0; j < 0x1000; j++)
                assert_int_equal(p[j], 0);
            continue;
        }
        assert_memory_equal(p, "FERRYGST", 8);
        assert_int_equal(p[8], 1);                      /* version, little-endian */
        assert_int_equal(p[12], 296 & 0xff);             /* size, little-endian */
        assert_int_equal(p[13], 1);
        assert_int_equal(bi.mem_size, RAM_SIZE);
        assert_int_equal(bi.vcpu_index, i);
        assert_int_equal(bi.vcpu_count, 3);
        assert_int_equal(p[32] | p[33] << 8, 0x3f8);
        assert_string_equal((const char *)p + 40, cmd);
        for (unsigned j = 40 + strlen(cmd); j < 0x1000; j++)
            assert_int_equal(p[j], 0);
    }
}

static void test_setup_refusals(void **state)
{
    char big[300];

    (void)state;
    assert_int_equal(guest_boot_setup(ram, 1 * MiB, 1, ""), -EINVAL);
    assert_int_equal(guest_boot_setup(ram, 2 * MiB - 4096, 1, ""), -EINVAL);
    assert_int_equal(guest_boot_setup(ram, 3 * MiB, 1, ""), -EINVAL);
    assert_int_equal(guest_boot_setup(ram, 4 * GiB + 2 * MiB, 1, ""), -EINVAL);
    assert_int_equal(guest_boot_setup(ram, RAM_SIZE, 0, ""), -EINVAL);
    assert_int_equal(guest_boot_setup(ram, RAM_SIZE, 9, ""), -EINVAL);
    assert_int_equal(guest_boot_setup(ram, RAM_SIZE, 8, ""), 0);
    memset(big, 'a', sizeof(big));
    big[256] = 0;
    assert_int_equal(guest_boot_setup(ram, RAM_SIZE, 1, big), -E2BIG);
    big[255] = 0;
    assert_int_equal(guest_boot_setup(ram, RAM_SIZE, 1, big), 0);
    assert_int_equal(strlen((char *)ram + 0x8000 + 40), 255);
}

/* ---- initial state ---- */

static void test_initial_state(void **state)
{
    struct vcpu_state s;

    (void)state;
    memset(&s, 0x5a, sizeof(s));
    guest_boot_state(&s, 0x100040, 7);
    assert_int_equal(s.version, VCPU_STATE_VERSION);
    assert_int_equal(s.activity, ACT_RUNNING);
    assert_int_equal(s.rip, 0x100040);
    assert_int_equal(s.rflags, 2);
    assert_int_equal(s.gpr[GPR_RSP], 0x10000 + 8 * 0x4000);
    assert_int_equal(s.gpr[GPR_RDI], 0x8000 + 7 * 0x1000);
    for (unsigned r = 0; r < GPR_COUNT; r++)
        if (r != GPR_RSP && r != GPR_RDI)
            assert_int_equal(s.gpr[r], 0);
    assert_int_equal(s.cr0, 0x80010033);
    assert_int_equal(s.cr3, 0x2000);
    assert_int_equal(s.cr4, 0x620);
    assert_int_equal(s.cr2 | s.cr8, 0);
    assert_int_equal(s.efer, 0x500);
    assert_int_equal(s.pat, 0x0007040600070406ull);
    assert_int_equal(s.xcr0, 1);
    assert_int_equal(s.dr7, 0x400);
    assert_int_equal(s.cs.sel, 0x08);
    const struct seg *data[] = { &s.ds, &s.es, &s.ss, &s.fs, &s.gs };
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(data[i]->sel, 0x10);
        assert_int_equal(data[i]->attr, 0xc93);
        assert_int_equal(data[i]->limit, 0xffffffff);
        assert_int_equal(data[i]->base, 0);
    }
    assert_int_equal(s.tr.sel, 0x18);
    assert_int_equal(s.ldtr.attr, SEG_UNUSABLE);
    assert_int_equal(s.idtr.base, 0);
    assert_int_equal(s.idtr.limit, 0);
    assert_int_equal(s.star | s.lstar | s.cstar | s.sfmask | s.kernel_gs_base, 0);
    assert_int_equal(s.sysenter_cs | s.sysenter_esp | s.sysenter_eip, 0);
    assert_int_equal(s.interruptibility, 0);
    assert_int_equal(s.pending.type, EVENT_NONE);
    /* Stacks and boot-info pages all sit inside ferry's area. */
    assert_true(guest_stack_top(GUEST_MAX_VCPUS - 1) <= GUEST_IMAGE_MIN_GPA);
    assert_true(guest_boot_info_gpa(GUEST_MAX_VCPUS - 1) + 0x1000 <= GUEST_STACK_GPA);
}

/* ---- ELF crafting ---- */

static uint8_t img[8192];

static void w16(size_t o, uint16_t v) { memcpy(img + o, &v, 2); }
static void w32(size_t o, uint32_t v) { memcpy(img + o, &v, 4); }
static void w64(size_t o, uint64_t v) { memcpy(img + o, &v, 8); }

/* An ELF with phnum program headers at 64; each set_ph() fills one. */
static void elf_init(uint64_t entry, uint16_t phnum)
{
    memset(img, 0, sizeof(img));
    memcpy(img, "\x7f" "ELF", 4);
    img[4] = 2;         /* ELFCLASS64 */
    img[5] = 1;         /* little-endian */
    img[6] = 1;
    w16(16, 2);         /* ET_EXEC */
    w16(18, 62);        /* EM_X86_64 */
    w32(20, 1);
    w64(24, entry);
    w64(32, 64);        /* e_phoff */
    w16(52, 64);
    w16(54, 56);
    w16(56, phnum);
}

static void set_ph(unsigned i, uint32_t type, uint64_t off, uint64_t vaddr, uint64_t paddr,
                   uint64_t filesz, uint64_t memsz)
{
    size_t p = 64 + i * 56;

    w32(p, type);
    w32(p + 4, 5);      /* R X */
    w64(p + 8, off);
    w64(p + 16, vaddr);
    w64(p + 24, paddr);
    w64(p + 32, filesz);
    w64(p + 40, memsz);
    w64(p + 48, 0x1000);
}

/* Two segments: text (file 0x1000..0x1100) and data+bss at 0x201000. */
static void elf_valid(void)
{
    elf_init(0x100010, 3);
    set_ph(0, 1, 0x1000, 0x100000, 0x100000, 0x100, 0x100);
    set_ph(1, 4, 0, 0, 0, 0, 0);                        /* PT_NOTE: ignored */
    set_ph(2, 1, 0x1100, 0x201000, 0x201000, 0x80, 0x3000);
    for (unsigned i = 0; i < 0x180; i++)
        img[0x1000 + i] = (uint8_t)(i + 1);
}

static int load(size_t len, uint64_t *entry)
{
    return guest_image_load(img, len, ram, RAM_SIZE, entry, err, sizeof(err));
}

static void test_elf_valid(void **state)
{
    uint64_t entry = 0;

    (void)state;
    elf_valid();
    memset(ram + 0x201000, 0xee, 0x4000);               /* bss must be zeroed */
    assert_int_equal(load(0x1180, &entry), 0);
    assert_int_equal(entry, 0x100010);
    assert_string_equal(err, "");
    assert_memory_equal(ram + 0x100000, img + 0x1000, 0x100);
    assert_memory_equal(ram + 0x201000, img + 0x1100, 0x80);
    for (unsigned i = 0x80; i < 0x3000; i++)
        assert_int_equal(ram[0x201000 + i], 0);
    assert_int_equal(ram[0x204000], 0xee);              /* past p_memsz: untouched */
    assert_int_equal(ram[0x100100], 0);
}

/* The guest starts identity-mapped: a virtual entry becomes its physical address. */
static void test_elf_entry_translated(void **state)
{
    uint64_t entry = 0;

    (void)state;
    elf_init(0xffffffff80000020ull, 1);
    set_ph(0, 1, 0x1000, 0xffffffff80000000ull, 0x300000, 0x100, 0x100);
    assert_int_equal(load(0x1100, &entry), 0);
    assert_int_equal(entry, 0x300020);
    elf_init(0x500000, 1);
    set_ph(0, 1, 0x1000, 0x300000, 0x300000, 0x100, 0x100);
    assert_int_equal(load(0x1100, &entry), -ENOEXEC);
    assert_non_null(strstr(err, "entry point 0x500000"));
}

/* Refusals must leave guest RAM untouched. */
static void expect_refused(size_t len, int rc, const char *needle)
{
    uint64_t entry = 0x1234;

    memset(err, 'x', sizeof(err));
    assert_int_equal(load(len, &entry), rc);
    assert_int_equal(entry, 0x1234);
    assert_non_null(memchr(err, 0, sizeof(err)));
    if (!strstr(err, needle))
        fail_msg("reason \"%s\" lacks \"%s\"", err, needle);
    for (uint64_t a = 0x40000; a < RAM_SIZE; a += 0x1000)
        assert_int_equal(ram[a] | ram[a + 0x10], 0);
}

static void test_elf_segment_below_boot_area(void **state)
{
    (void)state;
    elf_valid();
    set_ph(2, 1, 0x1100, 0x3f000, 0x3f000, 0x80, 0x1000);
    expect_refused(0x1180, -EINVAL, "ELF segment 2 at 0x3f000 overlaps");
}

static void test_elf_segment_past_ram(void **state)
{
    (void)state;
    elf_valid();
    set_ph(2, 1, 0x1100, 0x7ff000, 0x7ff000, 0x80, 0x1001);
    expect_refused(0x1180, -E2BIG, "ELF segment 2 at 0x7ff000 does not fit in 8 MiB of guest RAM");
    set_ph(2, 1, 0x1100, 0x300000, 0x300000, 0x80, ~0ull - 0x1000);   /* wraps */
    expect_refused(0x1180, -E2BIG, "does not fit");
    set_ph(2, 1, 0x1100, ~0ull - 0x10, ~0ull - 0x10, 0x80, 0x100);
    expect_refused(0x1180, -E2BIG, "does not fit");
}

static void test_elf_segment_file_range(void **state)
{
    (void)state;
    elf_valid();
    set_ph(2, 1, 0x1100, 0x201000, 0x201000, 0x81, 0x3000);
    expect_refused(0x1180, -ENOEXEC, "past the end of the image");
    set_ph(2, 1, ~0ull - 8, 0x201000, 0x201000, 0x80, 0x3000);
    expect_refused(0x1180, -ENOEXEC, "past the end of the image");
}

static void test_elf_filesz_above_memsz(void **state)
{
    (void)state;
    elf_valid();
    set_ph(0, 1, 0x1000, 0x100000, 0x100000, 0x100, 0xff);
    expect_refused(0x1180, -ENOEXEC, "p_filesz larger than p_memsz");
}

static void test_elf_phdrs_outside_file(void **state)
{
    (void)state;
    elf_valid();
    w64(32, 0x2000);                                    /* phoff past the end */
    expect_refused(0x1180, -ENOEXEC, "program header table");
    elf_valid();
    w64(32, ~0ull - 16);                                /* phoff + size wraps */
    expect_refused(0x1180, -ENOEXEC, "program header table");
    elf_valid();
    w16(56, 0xfffe);                                    /* phnum * phentsize huge */
    w16(54, 0xffff);
    expect_refused(0x1180, -ENOEXEC, "program header table");
    elf_valid();
    w16(56, 0xffff);                                    /* PN_XNUM */
    expect_refused(0x1180, -ENOEXEC, "program header table");
    elf_valid();
    expect_refused(64 + 2 * 56, -ENOEXEC, "program header table");   /* cut in the table */
    elf_valid();
    w16(54, 32);
    expect_refused(0x1180, -ENOEXEC, "too small");
    elf_valid();
    w16(56, 0);
    expect_refused(0x1180, -ENOEXEC, "no usable program header");
}

static void test_elf_wrong_kind(void **state)
{
    (void)state;
    elf_valid();
    w16(18, 3);                                         /* EM_386 */
    expect_refused(0x1180, -ENOEXEC, "not an x86-64 ELF executable");
    elf_valid();
    img[4] = 1;                                         /* ELFCLASS32 */
    expect_refused(0x1180, -ENOEXEC, "not an x86-64 ELF executable");
    elf_valid();
    img[5] = 2;                                         /* big-endian */
    expect_refused(0x1180, -ENOEXEC, "not an x86-64 ELF executable");
    elf_valid();
    w16(16, 3);                                         /* ET_DYN */
    expect_refused(0x1180, -ENOEXEC, "ET_DYN");
    elf_valid();
    w16(16, 1);                                         /* ET_REL */
    expect_refused(0x1180, -ENOEXEC, "not an x86-64 ELF executable");
    elf_valid();
    set_ph(1, 3, 0x1000, 0, 0, 0x10, 0x10);             /* PT_INTERP */
    expect_refused(0x1180, -ENOEXEC, "PT_INTERP");
    elf_init(0x100000, 1);
    set_ph(0, 4, 0, 0, 0, 0, 0);
    expect_refused(0x1180, -ENOEXEC, "no loadable segment");
}

static void test_elf_truncated_header(void **state)
{
    (void)state;
    elf_valid();
    expect_refused(63, -ENOEXEC, "truncated ELF header");
    expect_refused(4, -ENOEXEC, "truncated ELF header");
}

/* ---- flat binaries and odd input ---- */

static void test_flat_binary(void **state)
{
    uint64_t entry = 0;
    static uint8_t bin[5000];

    (void)state;
    for (unsigned i = 0; i < sizeof(bin); i++)
        bin[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(guest_image_load(bin, sizeof(bin), ram, RAM_SIZE, &entry, err,
                                      sizeof(err)), 0);
    assert_int_equal(entry, 0x100000);
    assert_memory_equal(ram + 0x100000, bin, sizeof(bin));
    assert_int_equal(ram[0x100000 + sizeof(bin)], 0);
    /* "\x7fEL" is not ELF magic: a 3-byte flat image. */
    assert_int_equal(guest_image_load("\x7f" "EL", 3, ram, RAM_SIZE, &entry, err,
                                      sizeof(err)), 0);
}

static void test_flat_too_big(void **state)
{
    uint8_t *big = calloc(1, RAM_SIZE);
    uint64_t entry = 0;

    (void)state;
    assert_int_equal(guest_image_load(big, RAM_SIZE - 0x100000, ram, RAM_SIZE, &entry, err,
                                      sizeof(err)), 0);
    memset(ram + 0x100000, 0, RAM_SIZE - 0x100000);
    big[0] = 1;
    assert_int_equal(guest_image_load(big, RAM_SIZE - 0x100000 + 1, ram, RAM_SIZE, &entry, err,
                                      sizeof(err)), -E2BIG);
    assert_string_equal(err, "flat image of 7340033 bytes does not fit at 1 MiB in "
                        "8 MiB of guest RAM");
    assert_int_equal(ram[0x100000], 0);
    assert_int_equal(guest_image_load(big, 16, ram, 1 * MiB, &entry, err, sizeof(err)), -E2BIG);
    free(big);
}

static void test_empty_image(void **state)
{
    uint64_t entry = 0;

    (void)state;
    assert_int_equal(guest_image_load(img, 0, ram, RAM_SIZE, &entry, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "empty image");
    assert_int_equal(guest_image_load(NULL, 10, ram, RAM_SIZE, &entry, err, sizeof(err)),
                     -EINVAL);
}

/* A short or absent error buffer is truncated, never overrun. */
static void test_err_buffer_bounds(void **state)
{
    char small[12];
    uint64_t entry = 0;

    (void)state;
    elf_valid();
    w16(18, 3);
    memset(small, 'x', sizeof(small));
    assert_int_equal(guest_image_load(img, 0x1180, ram, RAM_SIZE, &entry, small, sizeof(small)),
                     -ENOEXEC);
    assert_string_equal(small, "not an x86-");
    assert_int_equal(guest_image_load(img, 0x1180, ram, RAM_SIZE, &entry, NULL, 0), -ENOEXEC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_page_tables_map_exactly_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gdt_matches_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_boot_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setup_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_initial_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf_entry_translated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf_segment_below_boot_area, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf_segment_past_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf_segment_file_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf_filesz_above_memsz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf_phdrs_outside_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf_wrong_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf_truncated_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flat_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flat_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_image, setup, teardown),
        cmocka_unit_test_setup_teardown(test_err_buffer_bounds, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
