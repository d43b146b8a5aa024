/*
 * The 8254 PIT (hv/dev/vpit.c) through the port bus with a guest clock only the test moves:
 * Linux's channel-2 calibration sequence, the periodic and square-wave modes, latches and
 * read-back, the gate on port 0x61, BCD, and a migration that resumes the count where it was.
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
#include "hv/dev/vpit.h"

/* Nanoseconds for n PIT ticks (rounded up so that exactly n have passed). */
static uint64_t ns_for(uint64_t n) { return (n * 1000000000ull + VPIT_HZ - 1) / VPIT_HZ; }

static struct fake_vm fv;

static int setup(void **state)
{
    (void)state;
    fake_vm_build(&fv, &machine_ferry_min);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fake_vm_destroy(&fv);
    return 0;
}

static uint16_t read16(struct fake_vm *v, uint16_t port)
{
    uint8_t lo = fake_vm_inb(v, port);
    return (uint16_t)(lo | fake_vm_inb(v, port) << 8);
}

static bool out2(struct fake_vm *v) { return fake_vm_inb(v, 0x61) & 0x20; }

/* arch/x86/kernel/tsc.c, pit_hpet_ptimer_calibrate_cpu / quick_pit_calibrate: channel 2,
 * mode 0, count 0xffff, gate on and speaker off through port 0x61, then poll. */
static void test_linux_calibration_on_channel2(void **state)
{
    (void)state;
    fake_vm_outb(&fv, 0x61, (fake_vm_inb(&fv, 0x61) & ~0x02) | 0x01);
    fake_vm_outb(&fv, 0x43, 0xb0);                       /* ch2, lobyte/hibyte, mode 0 */
    assert_false(out2(&fv));                             /* mode 0: OUT low once programmed */
    fake_vm_outb(&fv, 0x42, 0xff);
    fake_vm_outb(&fv, 0x42, 0xff);
    assert_int_equal(read16(&fv, 0x42), 0xffff);
    fv.now_ns += ns_for(1000);
    assert_int_equal(read16(&fv, 0x42), 0xffff - 1000);
    fv.now_ns += ns_for(0xffff - 1000 - 1);
    assert_int_equal(read16(&fv, 0x42), 1);
    assert_false(out2(&fv));
    fv.now_ns += ns_for(1);
    assert_true(out2(&fv));                              /* terminal count: OUT high */
    fv.now_ns += ns_for(10);
    assert_int_equal(read16(&fv, 0x42), 0x10000 - 10);   /* it wraps and counts on */
    assert_true(out2(&fv));
    /* 10 ms of guest time is 11932 ticks. */
    fake_vm_outb(&fv, 0x43, 0xb0);
    fake_vm_outb(&fv, 0x42, 0xff);
    fake_vm_outb(&fv, 0x42, 0xff);
    fv.now_ns += 10000000;
    assert_int_equal(read16(&fv, 0x42), 0xffff - 11931);
}

static void test_rate_generator_and_square_wave(void **state)
{
    (void)state;
    fake_vm_outb(&fv, 0x43, 0x34);                       /* ch0, lohi, mode 2 */
    fake_vm_outb(&fv, 0x40, 100);
    fake_vm_outb(&fv, 0x40, 0);
    fv.now_ns += ns_for(98);
    assert_int_equal(read16(&fv, 0x40), 2);
    fv.now_ns += ns_for(1);
    assert_int_equal(read16(&fv, 0x40), 1);
    fv.now_ns += ns_for(1);
    assert_int_equal(read16(&fv, 0x40), 100);            /* reloaded: periodic */
    fv.now_ns += ns_for(250);
    assert_int_equal(read16(&fv, 0x40), 50);
    /* Mode 3 on channel 2 (the speaker's): OUT high for the first half of each period. */
    fake_vm_outb(&fv, 0x61, 0x01);
    fake_vm_outb(&fv, 0x43, 0xb6);                       /* ch2, lohi, mode 3 */
    fake_vm_outb(&fv, 0x42, 10);
    fake_vm_outb(&fv, 0x42, 0);
    assert_true(out2(&fv));
    fv.now_ns += ns_for(4);
    assert_true(out2(&fv));
    fv.now_ns += ns_for(1);
    assert_false(out2(&fv));
    fv.now_ns += ns_for(5);
    assert_true(out2(&fv));
}

static void test_latch_readback_and_status(void **state)
{
    (void)state;
    fake_vm_outb(&fv, 0x43, 0x30);                       /* ch0, lohi, mode 0 */
    fake_vm_outb(&fv, 0x40, 0x34);
    fake_vm_outb(&fv, 0x40, 0x12);
    fv.now_ns += ns_for(0x10);
    fake_vm_outb(&fv, 0x43, 0x00);                       /* latch ch0 */
    fv.now_ns += ns_for(0x100);
    fake_vm_outb(&fv, 0x43, 0x00);                       /* a second latch changes nothing */
    assert_int_equal(read16(&fv, 0x40), 0x1224);         /* the value when latched */
    assert_int_equal(read16(&fv, 0x40), 0x1124);         /* then live again */
    /* Read-back: status then count of channel 0 (bits: not-count 0, not-status 0, cnt0). */
    fake_vm_outb(&fv, 0x43, 0xc2);
    uint8_t st = fake_vm_inb(&fv, 0x40);
    assert_int_equal(st, 0x30);                          /* OUT low, count loaded, lohi, mode 0 */
    assert_int_equal(read16(&fv, 0x40), 0x1124);
    /* The control port reads nothing; words are refused. */
    assert_int_equal(fake_vm_inb(&fv, 0x43), 0xff);
    assert_int_equal(fake_vm_in(&fv, 0x40, 2), 0xdeadbeef);
}

static void test_gate_holds_and_bcd(void **state)
{
    (void)state;
    fake_vm_outb(&fv, 0x61, 0x01);
    fake_vm_outb(&fv, 0x43, 0xb0);
    fake_vm_outb(&fv, 0x42, 0x00);
    fake_vm_outb(&fv, 0x42, 0x10);                       /* 0x1000 */
    fv.now_ns += ns_for(0x100);
    fake_vm_outb(&fv, 0x61, 0x00);                       /* gate low: mode 0 holds */
    fv.now_ns += ns_for(0x500);
    assert_int_equal(read16(&fv, 0x42), 0xf00);
    fake_vm_outb(&fv, 0x61, 0x01);                       /* and resumes */
    fv.now_ns += ns_for(0x100);
    assert_int_equal(read16(&fv, 0x42), 0xe00);
    /* BCD: 1000 decimal counts down in decimal digits. */
    fake_vm_outb(&fv, 0x43, 0x31);                       /* ch0, lohi, mode 0, BCD */
    fake_vm_outb(&fv, 0x40, 0x00);
    fake_vm_outb(&fv, 0x40, 0x10);
    fv.now_ns += ns_for(1);
    assert_int_equal(read16(&fv, 0x40), 0x0999);
}

static void test_migration_resumes_the_count(void **state)
{
    struct fake_vm b;
    char why[160];
    uint8_t rec[DEV_RECORD_MAX];
    (void)state;
    fake_vm_build(&b, &machine_ferry_min);
    b.now_ns = 987654321000ull;                          /* another host's clock */
    fake_vm_outb(&fv, 0x61, 0x01);
    fake_vm_outb(&fv, 0x43, 0xb0);
    fake_vm_outb(&fv, 0x42, 0xff);
    fake_vm_outb(&fv, 0x42, 0xff);
    fv.now_ns += ns_for(5000);
    assert_int_equal(read16(&fv, 0x42), 0xffff - 5000);
    fake_vm_outb(&fv, 0x43, 0x34);                       /* ch0 mode 2 too */
    fake_vm_outb(&fv, 0x40, 0xe8);
    fake_vm_outb(&fv, 0x40, 0x03);                       /* 1000 */
    fv.now_ns += ns_for(300);
    assert_int_equal(fake_vm_migrate(&fv, &b, why, sizeof(why)), 0);
    assert_int_equal(read16(&b, 0x42), 0xffff - 5300);
    assert_int_equal(read16(&b, 0x40), 700);
    assert_true(fake_vm_inb(&b, 0x61) & 1);              /* the gate came along */
    b.now_ns += ns_for(100);
    assert_int_equal(read16(&b, 0x40), 600);
    struct device *d = dev_find(&b.devs, vpit_type.id, 0);
    assert_int_equal(dev_save(d, rec, sizeof(rec)), 64);
    rec[4] = 6;                                          /* channel 0 mode 6 */
    assert_int_equal(dev_stage(d, 1, rec, 64, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "channel 0: mode 6"));
    rec[4] = 2;
    rec[60] = 0x80;                                      /* port 0x61 reserved bits */
    assert_int_equal(dev_stage(d, 1, rec, 64, why, sizeof(why)), -EINVAL);
    fake_vm_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_linux_calibration_on_channel2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_generator_and_square_wave, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latch_readback_and_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gate_holds_and_bcd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_resumes_the_count, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
