/*
 * The machine's reset lines as a guest pulls them: the 8042's "pulse output port" commands
 * (hv/dev/vi8042.c; only those with bit 0 clear reach the reset line) and the PIIX reset
 * control register at 0xCF9 (hv/dev/vpci.c; RST_CPU, bit 2, the way Linux's reboot=pci writes
 * 0x02 then 0x06). Both ask the platform to reset; nothing else on those ports does.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_env.h"
#include "fake_vm.h"
#include "hv/dev/machine.h"
#include "hv/dev/vi8042.h"

static struct fake_vm fv;

FAKE_VM_FIXTURE(fv, &machine_ferry_min)

static void test_8042_reads_as_absent_and_pulses_reset(void **state)
{
    (void)state;
    /* A probe sees no controller: status and data all ones (Linux's i8042_flush gives up). */
    assert_int_equal(fake_vm_inb(&fv, 0x64), 0xff);
    assert_int_equal(fake_vm_inb(&fv, 0x60), 0xff);
    fake_vm_outb(&fv, 0x60, 0xfe);                  /* data, not a command */
    fake_vm_outb(&fv, 0x64, 0xaa);                  /* self-test: no reset */
    fake_vm_outb(&fv, 0x64, 0xd1);                  /* write output port: no reset */
    fake_vm_outb(&fv, 0x64, 0xff);                  /* pulse no line */
    fake_vm_outb(&fv, 0x64, 0xfd);                  /* pulse line 1 (A20): no reset */
    assert_int_equal(fv.resets, 0);
    fake_vm_outb(&fv, 0x64, 0xfe);                  /* pulse line 0: reset */
    assert_int_equal(fv.resets, 1);
    fake_vm_outb(&fv, 0x64, 0xf0);                  /* lines 0-3 at once */
    assert_int_equal(fv.resets, 2);
    assert_int_equal(fake_vm_in(&fv, 0x64, 2), 0xdeadbeef);  /* a word access is refused */
}

static void test_cf9_rst_cpu(void **state)
{
    (void)state;
    fake_vm_out(&fv, 0xcf8, 4, 0x80000000u);
    fake_vm_outb(&fv, 0xcf9, 0x02);                 /* SYS_RST alone: armed, no reset */
    assert_int_equal(fv.resets, 0);
    assert_int_equal(fake_vm_in(&fv, 0xcf8, 4), 0x80000000u);   /* the address is untouched */
    assert_int_equal(fake_vm_inb(&fv, 0xcf9), 0xff);              /* not kept */
    fake_vm_outb(&fv, 0xcf9, 0x06);                 /* RST_CPU */
    assert_int_equal(fv.resets, 1);
    fake_vm_out(&fv, 0xcf8, 4, 0x80000004u);        /* a dword at 0xCF8 is never a reset */
    assert_int_equal(fv.resets, 1);
}

static void test_8042_record(void **state)
{
    (void)state;
    struct fake_vm b;
    char why[160];
    uint8_t rec[8];
    fake_vm_build(&b, &machine_ferry_min);
    assert_int_equal(fake_vm_migrate(&fv, &b, why, sizeof(why)), 0);
    struct device *d = dev_find(&b.devs, vi8042_type.id, 0);
    assert_int_equal(dev_save(d, rec, sizeof(rec)), 4);
    rec[2] = 1;
    assert_int_equal(dev_stage(d, 1, rec, 4, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "reserved"));
    fake_vm_outb(&b, 0x64, 0xfe);
    assert_int_equal(b.resets, 1);
    fake_vm_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_8042_reads_as_absent_and_pulses_reset, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cf9_rst_cpu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_8042_record, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
