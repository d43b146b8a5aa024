/*
 * The guest page-table walker (hv/vm/gpt.c) that MMIO emulation and instruction measuring use:
 * 4-level and 5-level (CR4.LA57, which Linux turns on where the CPU has it) long-mode tables,
 * 1 GiB / 2 MiB / 4 KiB leaves, and faults for what is not present.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv/base/mem.h"
#include "hv/vm/gpt.h"
#include "hv/vm/vm.h"

#define RAM (4u << 20)

void sched_kick(unsigned pcpu) { (void)pcpu; }

static struct vm vm;
static uint8_t *ram;

static void pte(uint64_t table, unsigned index, uint64_t val)
{
    memcpy(ram + table + index * 8, &val, 8);
}

static int setup(void **state)
{
    (void)state;
    ram = aligned_alloc(4096, RAM);
    memset(ram, 0, RAM);
    memset(&vm, 0, sizeof(vm));
    vm.mem_size = RAM;
    vm.nchunks = 1;
    vm.chunks[0] = (struct vm_mem_chunk){ 0, virt_to_phys(ram), RAM, 0 };
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(ram);
    return 0;
}

/* gva 0xffffffff81000000 (the kernel's text) -> 0x200000 by a 2 MiB page; 0x5000 by 4 KiB. */
static void kernel_map(uint64_t pml4)
{
    pte(pml4, 511, 0x11000 | 3);                 /* PDPT */
    pte(0x11000, 510, 0x12000 | 3);              /* PD */
    pte(0x12000, 8, 0x200000 | 0x83);            /* 2 MiB leaf */
    pte(0x12000, 9, 0x13000 | 3);                /* PT */
    pte(0x13000, 5, 0x5000 | 3);                 /* 4 KiB leaf */
}

static void test_four_and_five_levels(void **state)
{
    struct vcpu_state s = { .cr0 = 0x80000011, .cr4 = 0x20, .efer = 0x500, .cr3 = 0x10000 };
    uint64_t gpa;
    (void)state;
    kernel_map(0x10000);
    assert_int_equal(gpt_translate(&vm, &s, 0xffffffff81000123ull, &gpa), 0);
    assert_int_equal(gpa, 0x200123);
    assert_int_equal(gpt_translate(&vm, &s, 0xffffffff81205678ull, &gpa), 0);
    assert_int_equal(gpa, 0x5678);
    assert_int_equal(gpt_translate(&vm, &s, 0xffffffff81400000ull, &gpa), -EFAULT);
    /* The same tables under a PML5 (LA57): entry 511 of the PML5 points at that PML4. */
    s.cr4 |= 1ull << 12;
    s.cr3 = 0x20000;
    pte(0x20000, 511, 0x10000 | 3);
    assert_int_equal(gpt_translate(&vm, &s, 0xffffffff81000123ull, &gpa), 0);
    assert_int_equal(gpa, 0x200123);
    /* Read through it: the walker copies guest bytes at the translated address. */
    ram[0x5678] = 0xab;
    uint8_t b = 0;
    assert_int_equal(gpt_read(&vm, &s, 0xffffffff81205678ull, &b, 1), 0);
    assert_int_equal(b, 0xab);
    /* Without LA57 the PML5 would be taken for a PML4: nothing maps there. */
    s.cr4 &= ~(1ull << 12);
    assert_int_equal(gpt_translate(&vm, &s, 0xffffffff81000123ull, &gpa), -EFAULT);
    /* A 1 GiB leaf in the PDPT, identity low memory. */
    s.cr3 = 0x10000;
    pte(0x10000, 0, 0x14000 | 3);
    pte(0x14000, 0, 0x0 | 0x83);
    assert_int_equal(gpt_translate(&vm, &s, 0x3ff123, &gpa), 0);
    assert_int_equal(gpa, 0x3ff123);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_four_and_five_levels, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
