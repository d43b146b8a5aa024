/*
 * The Linux boot protocol loader (hv/vm/linux_boot.c) on a bzImage laid out
 * as the kernel's boot.rst describes (the field values of Debian 12's cloud
 * kernel: protocol 2.15, 2 MiB alignment, 16 MiB preferred address), and on
 * broken ones: each refusal says why and leaves guest RAM untouched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv/vm/guest_boot.h"
#include "hv/vm/linux_boot.h"

#define MiB (1ull << 20)
#define RAM (96 * MiB)
#define SETUP_SECTS 4
#define KBYTES 8192                 /* the protected-mode kernel in the test image */
#define KLEN ((SETUP_SECTS + 1) * 512 + KBYTES + 64)   /* + trailing bytes (a signature) */

static uint8_t *ram, img[KLEN], rd[3 * 4096 + 5];
static char err[200];

static void w16(size_t off, uint16_t v) { img[off] = (uint8_t)v; img[off + 1] = (uint8_t)(v >> 8); }
static void w32(size_t off, uint32_t v) { w16(off, (uint16_t)v); w16(off + 2, (uint16_t)(v >> 16)); }
static void w64(size_t off, uint64_t v) { w32(off, (uint32_t)v); w32(off + 4, (uint32_t)(v >> 32)); }
static uint32_t r32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t r64(const uint8_t *p) { return r32(p) | (uint64_t)r32(p + 4) << 32; }

static void make_image(void)
{
    memset(img, 0, sizeof(img));
    img[0x1f1] = SETUP_SECTS;
    w32(0x1f4, KBYTES / 16);                        /* syssize */
    w16(0x1fe, 0xaa55);
    img[0x200] = 0xeb;                              /* jmp short: header ends at 0x202 + 0x6a */
    img[0x201] = 0x6a;
    memcpy(img + 0x202, "HdrS", 4);
    w16(0x206, 0x020f);
    img[0x211] = 0x01;                              /* LOADED_HIGH */
    w32(0x214, 0x100000);
    w32(0x22c, 0x7fffffff);                         /* initrd_addr_max */
    w32(0x230, 0x200000);                           /* kernel_alignment */
    img[0x234] = 1;                                 /* relocatable */
    img[0x235] = 21;
    w16(0x236, 0x7f);                               /* xloadflags: 64-bit entry and more */
    w32(0x238, 0x7ff);                              /* cmdline_size */
    w64(0x258, 0x1000000);                          /* pref_address */
    w32(0x260, 0x3000000);                          /* init_size: 48 MiB */
    for (size_t i = 0; i < KBYTES; i++)
        img[(SETUP_SECTS + 1) * 512 + i] = (uint8_t)(i * 7 + 1);
    memset(img + (SETUP_SECTS + 1) * 512 + KBYTES, 0xee, 64);
    for (size_t i = 0; i < sizeof(rd); i++)
        rd[i] = (uint8_t)(i ^ 0x5a);
}

static int setup(void **state)
{
    (void)state;
    ram = calloc(1, RAM);
    make_image();
    return ram ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(ram);
    return 0;
}

static bool ram_untouched(void)
{
    for (size_t i = 0; i < RAM; i += 512)
        if (ram[i] || ram[i + 511])
            return false;
    return true;
}

static int load(const char *cmdline, size_t rdlen, uint64_t chunk, struct linux_boot *lb)
{
    return linux_load(img, sizeof(img), rd, rdlen, cmdline, ram, chunk, RAM, lb, err,
                      sizeof(err));
}

static void test_loads_like_the_protocol_says(void **state)
{
    struct linux_boot lb;
    struct vcpu_state s;
    (void)state;
    assert_int_equal(load("console=ttyS0 root=/dev/ram0", sizeof(rd), RAM, &lb), 0);
    assert_int_equal(lb.load_gpa, 0x1000000);
    assert_int_equal(lb.entry, 0x1000200);
    assert_int_equal(lb.version, 0x20f);
    /* The protected-mode kernel, syssize * 16 bytes of it, at its preferred address. */
    assert_memory_equal(ram + 0x1000000, img + (SETUP_SECTS + 1) * 512, KBYTES);
    assert_int_equal(ram[0x1000000 + KBYTES], 0);
    /* The initrd as high as RAM allows, page aligned, whole. */
    assert_int_equal(lb.initrd_gpa, (RAM - sizeof(rd)) & ~0xfffull);
    assert_memory_equal(ram + lb.initrd_gpa, rd, sizeof(rd));
    /* The zero page: the setup header copied, then what the loader fills in. */
    const uint8_t *zp = ram + LINUX_ZERO_PAGE_GPA;
    assert_memory_equal(zp + 0x1f1, img + 0x1f1, 0x210 - 0x1f1);
    assert_int_equal(zp[0x210], 0xff);                               /* type_of_loader */
    assert_int_equal(r32(zp + 0x228), LINUX_CMDLINE_GPA);            /* cmd_line_ptr */
    assert_string_equal((char *)ram + LINUX_CMDLINE_GPA, "console=ttyS0 root=/dev/ram0");
    assert_int_equal(r32(zp + 0x218), lb.initrd_gpa);
    assert_int_equal(r32(zp + 0x21c), sizeof(rd));
    assert_int_equal(zp[0x1ef], 0);                                  /* sentinel */
    assert_int_equal(zp[0x270], 0);                                  /* past the header */
    /* e820: low RAM, the legacy hole, the rest of RAM, ECAM. */
    assert_int_equal(zp[0x1e8], 4);
    static const uint64_t want[4][3] = {
        { 0, 0x9f000, 1 }, { 0x9f000, 0x100000 - 0x9f000, 2 }, { 0x100000, RAM - 0x100000, 1 },
        { 0xe0000000, 0x100000, 2 },
    };
    for (int i = 0; i < 4; i++) {
        const uint8_t *e = zp + 0x2d0 + 20 * i;
        assert_int_equal(r64(e), want[i][0]);
        assert_int_equal(r64(e + 8), want[i][1]);
        assert_int_equal(r32(e + 16), want[i][2]);
    }
    /* A VM past 3 GiB: its RAM above the PC hole starts at 4 GiB, and the map says so; the
     * identity map stops at 4 GiB (below the zero page it must not reach). */
    const uint64_t big = 5ull << 30;
    assert_int_equal(linux_load(img, sizeof(img), rd, sizeof(rd), "", ram, RAM, big, &lb, err,
                                sizeof(err)), 0);
    assert_int_equal(zp[0x1e8], 5);
    static const uint64_t want_big[5][3] = {
        { 0, 0x9f000, 1 }, { 0x9f000, 0x100000 - 0x9f000, 2 }, { 0x100000, 0xc0000000 - 0x100000, 1 },
        { 0xe0000000, 0x100000, 2 }, { 0x100000000ull, big - 0xc0000000, 1 },
    };
    for (int i = 0; i < 5; i++) {
        const uint8_t *e = zp + 0x2d0 + 20 * i;
        assert_int_equal(r64(e), want_big[i][0]);
        assert_int_equal(r64(e + 8), want_big[i][1]);
        assert_int_equal(r32(e + 16), want_big[i][2]);
    }
    assert_int_equal(r64(ram + GUEST_PD_GPA + 2047 * 8), 0xffe00000ull | 0x83);
    assert_int_equal(r64(zp), 0);                                   /* 0x8000: untouched */
    assert_int_equal(load("console=ttyS0 root=/dev/ram0", sizeof(rd), RAM, &lb), 0);
    /* GDT: __BOOT_CS 0x10 a 64-bit code segment, __BOOT_DS 0x18 a writable data segment. */
    uint64_t cs = r64(ram + GUEST_GDT_GPA + 0x10), ds = r64(ram + GUEST_GDT_GPA + 0x18);
    assert_int_equal(r64(ram + GUEST_GDT_GPA + 0x08), 0);
    assert_int_equal((cs >> 40) & 0xff, 0x9b);
    assert_true(cs & (1ull << 53));                                  /* L */
    assert_int_equal((ds >> 40) & 0xff, 0x93);
    /* The identity map reaches the initrd (2 MiB pages). */
    uint64_t pd_entry = r64(ram + GUEST_PD_GPA + (lb.initrd_gpa >> 21) * 8);
    assert_int_equal(pd_entry & ~0xfffull, lb.initrd_gpa & ~0x1fffffull);
    assert_true(pd_entry & 0x80);
    /* vCPU 0 at the 64-bit entry, RSI at the zero page, the boot selectors loaded. */
    linux_boot_state(&lb, &s);
    assert_int_equal(s.rip, 0x1000200);
    assert_int_equal(s.gpr[GPR_RSI], LINUX_ZERO_PAGE_GPA);
    assert_int_equal(s.cs.sel, 0x10);
    assert_int_equal(s.ds.sel, 0x18);
    assert_int_equal(s.ss.sel, 0x18);
    assert_int_equal(s.tr.sel, 0x20);
    assert_int_equal(s.gdtr.base, GUEST_GDT_GPA);
    assert_int_equal(s.gdtr.limit, 0x2f);
    assert_int_equal(s.cr3, GUEST_PML4_GPA);
    assert_true(s.efer & 0x400);                                     /* LMA */
    assert_int_equal(s.rflags & 0x200, 0);                           /* IF clear */
}

static void test_no_initrd_and_the_initrd_limit(void **state)
{
    struct linux_boot lb;
    (void)state;
    w32(0x22c, 0x3ffffff);                          /* initrd_addr_max: 64 MiB - 1 */
    w32(0x260, 0x1000000);                          /* init_size 16 MiB: ends at 32 MiB */
    assert_int_equal(load("", sizeof(rd), RAM, &lb), 0);
    assert_int_equal(lb.initrd_gpa + 4 * 4096, 64 * MiB);
    memset(ram, 0, RAM);
    assert_int_equal(load(NULL, 0, RAM, &lb), 0);
    assert_int_equal(lb.initrd_gpa, 0);
    assert_int_equal(r32(ram + LINUX_ZERO_PAGE_GPA + 0x21c), 0);
}

struct bad { const char *what; size_t off; int width; uint64_t val; int rc; const char *why; };

static const struct bad bad[] = {
    { "boot flag", 0x1fe, 2, 0x55aa, -ENOEXEC, "kernel: not a bzImage (no 0xAA55 boot flag and HdrS)" },
    { "magic", 0x202, 1, 'h', -ENOEXEC, "kernel: not a bzImage (no 0xAA55 boot flag and HdrS)" },
    { "old protocol", 0x206, 2, 0x020b, -ENOEXEC, "kernel: boot protocol 2.11 is too old (ferry needs 2.12)" },
    { "setup past the end", 0x1f1, 1, 200, -EINVAL, "kernel: truncated: 200 setup sectors but 10816 bytes in all" },
    { "syssize lies", 0x1f4, 4, KBYTES / 16 + 5, -EINVAL, "kernel: truncated: the header says 8272 bytes of kernel, the file holds 8256" },
    { "syssize 0", 0x1f4, 4, 0, -EINVAL, "kernel: truncated: the header says 0 bytes of kernel, the file holds 8256" },
    { "32-bit only", 0x236, 2, 0x7e, -ENOEXEC, "kernel: no 64-bit entry point (xloadflags bit 0)" },
    { "zImage", 0x211, 1, 0, -ENOEXEC, "kernel: not loadable at 1 MiB (loadflags LOADED_HIGH)" },
    { "init_size lies", 0x260, 4, KBYTES - 16, -EINVAL, "kernel: init_size is smaller than the kernel itself" },
    { "alignment", 0x230, 4, 0x3000, -EINVAL, "kernel: kernel_alignment is not a power of two >= 4 KiB" },
    { "low pref", 0x258, 8, 0x8000, -EINVAL, "kernel: pref_address is not a page at or above 1 MiB" },
    { "header length", 0x201, 1, 0x10, -EINVAL, "kernel: the setup header's length is impossible" },
    { "too big to run", 0x260, 4, 0x6000000, -ENOMEM, "kernel: needs 112 MiB of guest RAM (96 MiB at 0x1000000 to run in), the VM has 96" },
};

static void put(size_t off, int width, uint64_t v)
{
    for (int i = 0; i < width; i++)
        img[off + i] = (uint8_t)(v >> 8 * i);
}

static void test_broken_kernels_are_refused_untouched(void **state)
{
    struct linux_boot lb;
    (void)state;
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        make_image();
        put(bad[i].off, bad[i].width, bad[i].val);
        int rc = load("", 0, RAM, &lb);
        if (rc != bad[i].rc || strcmp(err, bad[i].why))
            fail_msg("%s: rc %d '%s'", bad[i].what, rc, err);
        assert_true(ram_untouched());
    }
    make_image();
    /* Too short to hold a setup header. */
    assert_int_equal(linux_load(img, 0x250, NULL, 0, "", ram, RAM, RAM, &lb, err, sizeof(err)),
                     -ENOEXEC);
    /* A command line longer than the kernel takes. */
    w32(0x238, 8);
    assert_int_equal(load("123456789", 0, RAM, &lb), -E2BIG);
    assert_string_equal(err, "kernel: command line of 9 bytes, the kernel takes 8");
    make_image();
    /* An initrd that does not fit above the kernel (16 MiB + 48 MiB) below 64 MiB + 8 KiB. */
    assert_int_equal(load("", sizeof(rd), 64 * MiB + 8192, &lb), -ENOMEM);
    assert_string_equal(err, "initrd: 1 MiB do not fit between the kernel (up to 64 MiB) and 64 MiB");
    assert_true(ram_untouched());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_loads_like_the_protocol_says, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_initrd_and_the_initrd_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_kernels_are_refused_untouched, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
