/*
 * The Multiboot v1 loader (hv/vm/multiboot.c) on images laid out as the specification says
 * (an ELF32 kernel, an a.out-kludge kernel: tests/unit/vm/mb_image.h) and on broken ones: the
 * image in place with its bss zeroed, the information structure field by field (memory sizes,
 * the memory map, the command line, modules with their strings, the loader's name), the GDT
 * and vCPU 0's entry state; refusals with their reasons and no guest RAM written.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hv/vm/multiboot.h"
#include "mb_image.h"

#define RAM (16ull << 20)

static uint8_t *ram;
static uint8_t img[0x8000];
static char err[200];

static uint32_t r32(uint64_t gpa) { uint32_t v; memcpy(&v, ram + gpa, 4); return v; }
static uint64_t r64(uint64_t gpa) { uint64_t v; memcpy(&v, ram + gpa, 8); return v; }

static int setup(void **state)
{
    (void)state;
    ram = malloc(RAM);
    if (!ram)
        return -1;
    memset(ram, 0xcc, RAM);
    err[0] = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(ram);
    return 0;
}

static const uint8_t mod_a[] = "module a.txt\n", mod_b[] = "second module, longer than the first\n";

static int load(size_t len, const struct mb_module *m, unsigned n, const char *args,
                struct mb_boot *b)
{
    return mb_load(img, len, "k.elf", m, n, args, ram, RAM, RAM, b, err, sizeof(err));
}

static void test_elf_kernel_and_info(void **state)
{
    (void)state;
    struct mb_boot b;
    struct mb_module m[2] = { { mod_a, sizeof(mod_a) - 1, "a.txt" },
                              { mod_b, sizeof(mod_b) - 1, "b.txt" } };
    mbi_elf(img);
    assert_int_equal(load(MBI_ELF_SIZE, m, 2, "mem=16 x", &b), 0);
    assert_int_equal(b.entry, MBI_ENTRY);
    assert_memory_equal(ram + MBI_LOAD, img + MBI_CODE, MBI_FILESZ);
    for (unsigned i = MBI_FILESZ; i < MBI_MEMSZ; i++)
        assert_int_equal(ram[MBI_LOAD + i], 0);                 /* bss */
    /* The information structure. */
    uint32_t flags = r32(MB_INFO_GPA);
    assert_int_equal(flags, MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MODS | MB_INFO_MEM_MAP |
                            MB_INFO_LOADER);
    assert_int_equal(r32(MB_INFO_GPA + 4), 636);                /* KiB below 0x9F000 */
    assert_int_equal(r32(MB_INFO_GPA + 8), 15 * 1024);          /* KiB above 1 MiB */
    assert_string_equal((char *)ram + r32(MB_INFO_GPA + 16), "k.elf mem=16 x");
    assert_string_equal((char *)ram + r32(MB_INFO_GPA + 64), "ferry");
    /* Modules page-aligned after the kernel's bss, in order, with their strings. */
    assert_int_equal(r32(MB_INFO_GPA + 20), 2);
    uint32_t mods = r32(MB_INFO_GPA + 24);
    uint32_t a0 = r32(mods), a1 = r32(mods + 4), b0 = r32(mods + 16), b1 = r32(mods + 20);
    assert_int_equal(a0, MBI_LOAD + MBI_MEMSZ);
    assert_int_equal(a1 - a0, sizeof(mod_a) - 1);
    assert_int_equal(b0, (a1 + 0xfff) & ~0xfffu);
    assert_memory_equal(ram + a0, mod_a, sizeof(mod_a) - 1);
    assert_memory_equal(ram + b0, mod_b, sizeof(mod_b) - 1);
    assert_int_equal(b1 - b0, sizeof(mod_b) - 1);
    assert_string_equal((char *)ram + r32(mods + 8), "a.txt");
    assert_string_equal((char *)ram + r32(mods + 24), "b.txt");
    assert_int_equal(r32(mods + 12), 0);
    assert_int_equal(b.mods_end, (b1 + 0xfff) & ~0xfffu);
    assert_int_equal(ram[b1], 0xcc);                            /* nothing past the last */
    /* The memory map: four entries of 20 bytes (+ the size field), ECAM's reserved. */
    uint32_t mm = r32(MB_INFO_GPA + 48);
    assert_int_equal(r32(MB_INFO_GPA + 44), 96);
    static const uint64_t want[4][3] = { { 0, 0x9f000, 1 }, { 0x9f000, 0x61000, 2 },
                                         { 0x100000, RAM - 0x100000, 1 },
                                         { 0xe0000000, 0x100000, 2 } };
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(r32(mm + 24 * i), 20);
        assert_int_equal(r64(mm + 24 * i + 4), want[i][0]);
        assert_int_equal(r64(mm + 24 * i + 12), want[i][1]);
        assert_int_equal(r32(mm + 24 * i + 20), want[i][2]);
    }
    /* The GDT the entry state's selectors name; vCPU 0 in 32-bit protected mode. */
    assert_int_equal(r64(MB_GDT_GPA + MB_CODE_SEL), 0x00cf9a000000ffffull);
    assert_int_equal(r64(MB_GDT_GPA + MB_DATA_SEL), 0x00cf92000000ffffull);
    struct vcpu_state s;
    mb_boot_state(&b, &s);
    assert_int_equal(s.rip, MBI_ENTRY);
    assert_int_equal(s.gpr[GPR_RAX], MB_BOOT_MAGIC);
    assert_int_equal(s.gpr[GPR_RBX], MB_INFO_GPA);
    assert_int_equal(s.cr0 & 0x80000001u, 1);                   /* PE, no PG */
    assert_int_equal(s.efer, 0);
    assert_int_equal(s.rflags & 0x200, 0);                      /* IF clear */
    assert_int_equal(s.cs.sel, MB_CODE_SEL);
    assert_int_equal(s.cs.attr & 0x400, 0x400);                 /* 32-bit code (D) */
    assert_int_equal(s.cs.limit, 0xffffffffu);
    assert_int_equal(s.ss.sel, MB_DATA_SEL);
    assert_int_equal(s.activity, ACT_RUNNING);
}

/* A VM past 3 GiB: mem_upper stops at the PC hole; the map has the RAM from 4 GiB. */
static void test_map_of_a_large_vm(void **state)
{
    (void)state;
    struct mb_boot b;
    mbi_elf(img);
    const uint64_t big = 6ull << 30;
    assert_int_equal(mb_load(img, MBI_ELF_SIZE, "k", NULL, 0, "", ram, RAM, big, &b, err,
                             sizeof(err)), 0);
    assert_int_equal(r32(MB_INFO_GPA + 8), (0xc0000000u - 0x100000u) >> 10);
    assert_int_equal(r32(MB_INFO_GPA + 44), 5 * 24);
    uint32_t mm = r32(MB_INFO_GPA + 48) + 4 * 24;
    assert_int_equal(r64(mm + 4), 0x100000000ull);
    assert_int_equal(r64(mm + 12), big - 0xc0000000ull);
    assert_int_equal(r32(mm + 20), 1);
}

static void test_aout_kludge(void **state)
{
    (void)state;
    struct mb_boot b;
    mbi_aout(img);
    assert_int_equal(load(MBI_AOUT_SIZE, NULL, 0, NULL, &b), 0);
    assert_int_equal(b.entry, MBI_LOAD + 0x400);
    assert_memory_equal(ram + MBI_LOAD, img, 0x2800);           /* file offset 0 at load_addr */
    for (unsigned i = 0x2800; i < 0x6000; i++)
        assert_int_equal(ram[MBI_LOAD + i], 0);                 /* up to bss_end_addr */
    assert_int_equal(r32(MB_INFO_GPA + 20), 0);
    assert_string_equal((char *)ram + r32(MB_INFO_GPA + 16), "k.elf");
    /* load_end_addr 0: the rest of the file; bss_end_addr 0: no bss. */
    mbi_put(img + 0x200 + 20, 4, 0);
    mbi_put(img + 0x200 + 24, 4, 0);
    assert_int_equal(load(MBI_AOUT_SIZE, NULL, 0, NULL, &b), 0);
    assert_int_equal(b.kernel_end, MBI_LOAD + MBI_AOUT_SIZE);
}

/* Each refusal: its errno and reason, and guest RAM untouched. */
static void refused(size_t len, const struct mb_module *m, unsigned n, int rc, const char *why)
{
    struct mb_boot b;
    memset(ram, 0xcc, RAM);
    err[0] = 0;
    assert_int_equal(load(len, m, n, "x", &b), rc);
    if (!strstr(err, why))
        fail_msg("'%s' does not say '%s'", err, why);
    for (size_t i = 0; i < 0x10000; i++)
        assert_int_equal(ram[i], 0xcc);
    for (size_t i = MBI_LOAD; i < MBI_LOAD + 0x10000; i++)
        assert_int_equal(ram[i], 0xcc);
}

static void test_refusals(void **state)
{
    (void)state;
    struct mb_header h;
    mbi_elf(img);
    memset(img + MBI_CODE, 0, 12);                              /* no header */
    assert_int_equal(mb_parse(img, MBI_ELF_SIZE, &h, err, sizeof(err)), -ENOENT);
    refused(MBI_ELF_SIZE, NULL, 0, -ENOEXEC, "no Multiboot header in the first 8 KiB");
    /* The header past 8 KiB is not looked for. */
    memset(img, 0, sizeof(img));
    mbi_header(img + 8192, 0x3);
    assert_int_equal(mb_parse(img, sizeof(img), &h, err, sizeof(err)), -ENOENT);
    /* Unaligned: not a header. */
    memset(img, 0, sizeof(img));
    mbi_header(img + 2, 0x3);
    assert_int_equal(mb_parse(img, 64, &h, err, sizeof(err)), -ENOENT);

    mbi_elf(img);
    img[MBI_CODE + 8] ^= 1;
    refused(MBI_ELF_SIZE, NULL, 0, -EINVAL, "checksum is wrong");
    mbi_elf(img);
    mbi_header(img + MBI_CODE, 0x7);
    refused(MBI_ELF_SIZE, NULL, 0, -ENOEXEC, "video mode");
    mbi_header(img + MBI_CODE, 0x13);
    refused(MBI_ELF_SIZE, NULL, 0, -ENOEXEC, "requires features ferry does not know");
    /* ELF troubles. */
    mbi_elf(img);
    img[4] = 2;                                                 /* 64-bit */
    refused(MBI_ELF_SIZE, NULL, 0, -ENOEXEC, "not a 32-bit little-endian x86 ELF");
    mbi_elf(img);
    memcpy(img, "JUNK", 4);
    refused(MBI_ELF_SIZE, NULL, 0, -ENOEXEC, "not ELF");
    mbi_elf(img);
    refused(MBI_ELF_SIZE - 1, NULL, 0, -EINVAL, "truncated");  /* the segment's last byte */
    mbi_elf(img);
    mbi_put(img + 0x2c, 2, 0x4000);                             /* phnum past the file */
    refused(MBI_ELF_SIZE, NULL, 0, -EINVAL, "program headers");
    mbi_elf(img);
    mbi_put(img + 52 + 16, 4, MBI_MEMSZ + 1);                   /* filesz > memsz */
    refused(MBI_ELF_SIZE, NULL, 0, -EINVAL, "truncated");
    mbi_elf(img);
    mbi_put(img + 52 + 12, 4, 0x8000);                          /* below 1 MiB */
    refused(MBI_ELF_SIZE, NULL, 0, -ENOMEM, "not within the VM's RAM");
    mbi_elf(img);
    mbi_put(img + 52 + 12, 4, (uint32_t)RAM - 0x1000);          /* past the RAM */
    refused(MBI_ELF_SIZE, NULL, 0, -ENOMEM, "not within the VM's RAM");
    mbi_elf(img);
    mbi_put(img + 0x18, 4, 0x200000);                           /* entry outside */
    refused(MBI_ELF_SIZE, NULL, 0, -EINVAL, "entry point is outside");
    mbi_elf(img);
    mbi_put(img + 52, 4, 4);                                    /* no PT_LOAD */
    refused(MBI_ELF_SIZE, NULL, 0, -ENOEXEC, "nothing to load");
    /* a.out kludge troubles. */
    mbi_aout(img);
    mbi_put(img + 0x200 + 16, 4, MBI_LOAD + 0x300);             /* load_addr > header_addr */
    refused(MBI_AOUT_SIZE, NULL, 0, -EINVAL, "do not match");
    mbi_aout(img);
    mbi_put(img + 0x200 + 20, 4, MBI_LOAD + 0x4000);            /* load_end past the file */
    refused(MBI_AOUT_SIZE, NULL, 0, -EINVAL, "load_end_addr is past the end");
    mbi_aout(img);
    mbi_put(img + 0x200 + 24, 4, MBI_LOAD + 0x100);             /* bss_end < load_end */
    refused(MBI_AOUT_SIZE, NULL, 0, -EINVAL, "bss_end_addr is below");
    mbi_aout(img);
    mbi_put(img + 0x200 + 24, 4, (uint32_t)RAM + 0x1000);       /* bss past the RAM */
    refused(MBI_AOUT_SIZE, NULL, 0, -ENOMEM, "not within the VM's RAM");
    mbi_aout(img);
    refused(0x210, NULL, 0, -EINVAL, "address fields are past the end");
    /* Modules: too many, too big, names too long. */
    mbi_elf(img);
    struct mb_module m[MB_MAX_MODULES + 1];
    for (unsigned i = 0; i <= MB_MAX_MODULES; i++)
        m[i] = (struct mb_module){ mod_a, sizeof(mod_a) - 1, "a.txt" };
    refused(MBI_ELF_SIZE, m, MB_MAX_MODULES + 1, -E2BIG, "at most 16");
    static uint8_t big[1];
    m[0] = (struct mb_module){ big, RAM, "huge" };
    refused(MBI_ELF_SIZE, m, 1, -ENOMEM, "huge does not fit");
    char longname[MB_MODSTR_MAX];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    m[0] = (struct mb_module){ mod_a, 1, longname };
    m[1] = (struct mb_module){ mod_a, 1, "x" };
    refused(MBI_ELF_SIZE, m, 2, -E2BIG, "module names take");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_elf_kernel_and_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aout_kludge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_of_a_large_vm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
