/*
 * The ACPI PM block (hv/dev/vacpipm.c) in today's machine, through its ports as ACPICA drives
 * them (hwregs.c: PM1 status/enable as 16-bit registers, PM1 control, the 32-bit PM timer):
 * the timer's rate and width, TMR_STS and the SCI on line 9, write-1-to-clear, SCI_EN, the
 * power-off through SLP_TYP/SLP_EN, byte accesses, a migration and bad records.
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
#include "hv/dev/dev_ids.h"
#include "hv/dev/machine.h"
#include "hv/dev/vacpipm.h"

#define NS   1000000000ull
#define STS  (VACPIPM_PORT + 0)
#define EN   (VACPIPM_PORT + 2)
#define CNT  (VACPIPM_PORT + VACPIPM_CNT)
#define TMR  (VACPIPM_PORT + VACPIPM_TMR)

static struct fake_vm fv, fv2;

FAKE_VM_FIXTURE(fv, &machine_ferry_min)

static bool sci(struct fake_vm *v) { return v->devs.irq_level >> VACPIPM_SCI & 1; }

static void test_timer_rate_and_width(void **state)
{
    (void)state;
    uint32_t t0 = fake_vm_in(&fv, TMR, 4);
    fake_vm_advance(&fv, NS);
    uint32_t t1 = fake_vm_in(&fv, TMR, 4);
    assert_int_equal(t1 - t0, VACPIPM_TMR_HZ);
    fake_vm_advance(&fv, 1000);                  /* 1 us: 3.58 ticks */
    uint32_t t2 = fake_vm_in(&fv, TMR, 4);
    assert_in_range(t2 - t1, 3, 4);
    /* All 32 bits count (TMR_VAL_EXT): after 1200 s the count is past 2^32 and wrapped. */
    fake_vm_advance(&fv, 1200 * NS);
    uint64_t ticks = (uint64_t)(1201 * NS + 1000) * VACPIPM_TMR_HZ / NS;
    assert_int_equal(fake_vm_in(&fv, TMR, 4), (uint32_t)ticks);
    /* Bytes and words of it read like the dword's. */
    uint32_t w = fake_vm_in(&fv, TMR, 4);
    assert_int_equal(fake_vm_in(&fv, TMR + 2, 2), w >> 16);
    assert_int_equal(fake_vm_in(&fv, TMR + 1, 1), (w >> 8) & 0xff);
    /* Read-only: a write changes nothing. */
    fake_vm_out(&fv, TMR, 4, 0);
    assert_int_equal(fake_vm_in(&fv, TMR, 4), w);
    /* Past the block, or wider than a dword: not ours / refused. */
    uint32_t v = 0;
    assert_int_equal(dev_set_pio(&fv.devs, TMR + 2, false, 4, &v), -EINVAL);
}

static void test_tmr_sts_sci_and_write_one_to_clear(void **state)
{
    (void)state;
    uint64_t t0 = fv.now_ns;                                      /* the timer's 0 */
    assert_int_equal(fake_vm_in(&fv, CNT, 2) & 1, 1);            /* SCI_EN: ACPI mode */
    assert_int_equal(fake_vm_in(&fv, STS, 2), 0);
    assert_int_equal(fake_vm_poll(&fv), 0);                       /* TMR_EN clear: nothing due */
    fake_vm_out(&fv, EN, 2, 0x0001);                              /* TMR_EN */
    uint64_t due = fake_vm_poll(&fv);
    /* Bit 31 flips after 2^31 ticks (~599.9 s): that is when the SCI is due. */
    uint64_t want = t0 + ((1ull << 31) * NS + VACPIPM_TMR_HZ - 1) / VACPIPM_TMR_HZ;
    assert_in_range(due, want - 1, want + 1);
    fake_vm_advance(&fv, due - fv.now_ns - 10);
    (void)fake_vm_poll(&fv);
    assert_false(sci(&fv));
    fake_vm_advance(&fv, 20);
    (void)fake_vm_poll(&fv);
    assert_true(sci(&fv));
    assert_int_equal(fake_vm_in(&fv, STS, 2), 0x0001);
    /* Writing 0 clears nothing; writing 1 clears it and the SCI falls. */
    fake_vm_out(&fv, STS, 2, 0);
    assert_true(sci(&fv));
    fake_vm_out(&fv, STS, 2, 1);
    assert_false(sci(&fv));
    assert_int_equal(fake_vm_in(&fv, STS, 2), 0);
    /* TMR_STS sets again without TMR_EN, but then raises no SCI. */
    fake_vm_out(&fv, EN, 2, 0);
    fake_vm_advance(&fv, 600 * NS);
    assert_int_equal(fake_vm_in(&fv, STS, 2), 0x0001);
    assert_false(sci(&fv));
    /* RTC_EN is kept (ACPICA enables the fixed RTC event and reads it back), RTC_STS never set. */
    fake_vm_out(&fv, EN, 2, 0x0400);
    assert_int_equal(fake_vm_in(&fv, EN, 2), 0x0400);
    fake_vm_out(&fv, EN, 2, 0xffff);
    assert_int_equal(fake_vm_in(&fv, EN, 2), 0x0521);
    /* One dword write at +0 reaches both PM1_STS and PM1_EN (ACPICA may write them so). */
    fake_vm_out(&fv, STS, 4, 0x00000001);
    assert_int_equal(fake_vm_in(&fv, STS, 4), 0);
}

static void test_sleep_types_and_power_off(void **state)
{
    (void)state;
    fake_vm_out(&fv, CNT, 2, (1 << 10) | 0x2000);                 /* S1: not offered */
    assert_int_equal(fv.power_offs, 0);
    assert_int_equal(fake_vm_in(&fv, CNT, 2), (1 << 10) | 1);     /* SLP_EN reads 0 */
    fake_vm_out(&fv, CNT, 2, VACPIPM_S5 << 10);                   /* the type alone: nothing */
    assert_int_equal(fv.power_offs, 0);
    fake_vm_out(&fv, CNT + 1, 1, (VACPIPM_S5 << 2) | 0x20);       /* SLP_TYP|SLP_EN as a byte */
    assert_int_equal(fv.power_offs, 1);
    dev_set_reset(&fv.devs);
    assert_int_equal(fake_vm_in(&fv, CNT, 2), 1);
}

static void test_migration_keeps_the_timer_going(void **state)
{
    (void)state;
    fake_vm_out(&fv, EN, 2, 0x0001);
    fake_vm_advance(&fv, 700 * NS);                               /* TMR_STS set, SCI up */
    uint32_t before = fake_vm_in(&fv, TMR, 4);
    fake_vm_build(&fv2, &machine_ferry_min);
    fake_vm_advance(&fv2, 5 * NS);                                /* the target's clock differs */
    char why[160] = "";
    assert_int_equal(fake_vm_migrate(&fv, &fv2, why, sizeof(why)), 0);
    assert_int_equal(fake_vm_in(&fv2, TMR, 4), before);
    assert_true(sci(&fv2));
    assert_int_equal(fake_vm_in(&fv2, STS, 2), 1);
    assert_int_equal(fake_vm_in(&fv2, EN, 2), 1);
    fake_vm_advance(&fv2, NS);
    assert_int_equal(fake_vm_in(&fv2, TMR, 4) - before, VACPIPM_TMR_HZ);

    /* Records no guest could have produced. */
    struct device *d = dev_find(&fv.devs, DEV_ID_ACPI_PM, 0), *d2 = dev_find(&fv2.devs, DEV_ID_ACPI_PM, 0);
    uint8_t rec[DEV_RECORD_MAX];
    int n = dev_save(d, rec, sizeof(rec));
    assert_int_equal(n, 32);
    fake_vm_expect_refused(d2, rec, (size_t)n, 0, 0x02);       /* a status bit that is none */
    fake_vm_expect_refused(d2, rec, (size_t)n, 3, 0x80);       /* an enable bit that is none */
    fake_vm_expect_refused(d2, rec, (size_t)n, 5, 0x20);       /* SLP_EN kept in PM1_CNT */
    fake_vm_expect_refused(d2, rec, (size_t)n, 6, 0x01);       /* reserved */
    fake_vm_expect_refused(d2, rec, (size_t)n, 16 + 3, 0x01);  /* next flip off a 2^31 boundary */
    fake_vm_expect_refused(d2, rec, (size_t)n, 16 + 7, 0x01);  /* next flip far past the count */
    fake_vm_expect_refused(d2, rec, (size_t)n, 24, 0x01);      /* reserved */
    fake_vm_destroy(&fv2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_timer_rate_and_width, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmr_sts_sci_and_write_one_to_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sleep_types_and_power_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_keeps_the_timer_going, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
