/* The debug-exit port (hv/dev/vdebugexit.c) in the machine every VM gets, driven as a guest. */
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
#include "hv/dev/vdebugexit.h"

static void build(struct fake_vm *fv) { fake_vm_build(fv, &machine_ferry_min); }

static void test_writes_end_the_vm_with_their_value(void **state)
{
    struct fake_vm fv;
    (void)state;
    build(&fv);
    assert_int_equal(fake_vm_inb(&fv, VDEBUGEXIT_PORT), 0xff);     /* reads change nothing */
    assert_int_equal(fake_vm_in(&fv, VDEBUGEXIT_PORT, 4), 0xffffffffu);
    assert_int_equal(fv.exits, 0);
    fake_vm_outb(&fv, VDEBUGEXIT_PORT, 0x2a);
    assert_int_equal(fv.exits, 1);
    assert_int_equal(fv.exit_code, 0x2a);
    fake_vm_out(&fv, VDEBUGEXIT_PORT, 2, 0x1234);
    assert_int_equal(fv.exit_code, 0x1234);
    fake_vm_out(&fv, VDEBUGEXIT_PORT, 4, 0xdeadbeef);
    assert_int_equal(fv.exit_code, 0xdeadbeef);
    assert_int_equal(fv.exits, 3);
    /* 0xF5 is not the device's: an unclaimed port, the write vanishes. */
    fake_vm_outb(&fv, VDEBUGEXIT_PORT + 1, 1);
    assert_int_equal(fv.exits, 3);
    fake_vm_destroy(&fv);
}

static void test_record_round_trip_and_refusal(void **state)
{
    struct fake_vm a, b;
    char why[160];
    uint8_t rec[DEV_RECORD_MAX];
    (void)state;
    build(&a);
    build(&b);
    assert_int_equal(fake_vm_migrate(&a, &b, why, sizeof(why)), 0);
    fake_vm_outb(&b, VDEBUGEXIT_PORT, 7);
    assert_int_equal(b.exit_code, 7);
    struct device *d = dev_find(&b.devs, vdebugexit_type.id, 0);
    assert_int_equal(dev_save(d, rec, sizeof(rec)), 4);
    rec[3] = 1;
    assert_int_equal(dev_stage(d, 1, rec, 4, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "device debug-exit#0: reserved bytes set");
    fake_vm_destroy(&a);
    fake_vm_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writes_end_the_vm_with_their_value),
        cmocka_unit_test(test_record_round_trip_and_refusal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
