/*
 * The paravirtual clock's state (hv/dev/vkvmclock.c): the rate conversion the guest applies
 * (pvclock: ns = ((ticks << shift) * mul) >> 32) for TSC rates from an emulator's to a
 * server's, the clock as a line in guest TSC, and its record: a migration keeps the line,
 * asks for a re-base, and a peer's record with an impossible line or registration is refused.
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
#include "hv/dev/vkvmclock.h"

static void test_rates(void **state)
{
    (void)state;
    static const uint64_t khz[] = { 1193, 150000, 999999, 1000000, 1000001, 2097072, 2500000,
                                    3400000, 4000000, 100000000 };
    for (unsigned i = 0; i < sizeof(khz) / sizeof(khz[0]); i++) {
        uint32_t mul;
        int8_t shift;
        vkvmclock_rate(khz[i], &mul, &shift);
        assert_true(mul >= 0x80000000u);                 /* full precision */
        /* One second of ticks reads one second, within a ns per 1e9. */
        uint64_t ns = vkvmclock_scale(khz[i] * 1000, mul, shift);
        assert_true(ns >= 999999998 && ns <= 1000000000);
        /* Linux derives the TSC rate back from mul/shift (pvclock_tsc_khz). */
        uint64_t back = (1000000ull << 32) / mul;
        back = shift < 0 ? back << -shift : back >> shift;
        assert_true(back >= khz[i] - 1 && back <= khz[i] + 1);
    }
}

static void test_line_and_migration(void **state)
{
    (void)state;
    struct fake_vm a, b;
    char why[160];
    uint8_t rec[DEV_RECORD_MAX];
    fake_vm_build(&a, &machine_ferry_min);
    fake_vm_build(&b, &machine_ferry_min);
    struct device *d = dev_find(&a.devs, vkvmclock_type.id, 0);
    struct vkvmclock *k = d->state;
    assert_int_equal(vkvmclock_at(k, 12345), 0);          /* not registered yet */
    k->based = true;
    k->base_ns = 7000000000ull;
    k->base_tsc = 1000000;
    vkvmclock_rate(2000000, &k->mul, &k->shift);          /* 2 GHz */
    k->system_msr[0] = 0x7fe001;
    assert_int_equal(vkvmclock_at(k, 1000000 + 2000000000ull), 8000000000ull);
    assert_int_equal(vkvmclock_at(k, 999), 7000000000ull);  /* behind the base: never back */
    uint32_t gen = ((struct vkvmclock *)dev_find(&b.devs, vkvmclock_type.id, 0)->state)->gen;
    assert_int_equal(fake_vm_migrate(&a, &b, why, sizeof(why)), 0);
    struct vkvmclock *t = dev_find(&b.devs, vkvmclock_type.id, 0)->state;
    assert_true(t->based && t->rebase);                   /* the target re-bases on its rate */
    assert_int_not_equal(t->gen, gen);                    /* every vCPU rewrites its page */
    assert_int_equal(t->base_ns, 7000000000ull);
    assert_int_equal(vkvmclock_at(t, 1000000 + 2000000000ull), 8000000000ull);
    assert_int_equal(t->system_msr[0], 0x7fe001);
    /* A peer's impossible line or registration is refused. */
    struct device *bd = dev_find(&b.devs, vkvmclock_type.id, 0);
    int n = dev_save(bd, rec, sizeof(rec));
    assert_true(n > 40);
    uint8_t bad[DEV_RECORD_MAX];
    memcpy(bad, rec, (size_t)n);
    memset(bad + 24, 0, 4);                               /* mul 0 with a line */
    assert_int_equal(dev_stage(bd, 1, bad, (size_t)n, why, sizeof(why)), -EINVAL);
    memcpy(bad, rec, (size_t)n);
    bad[32] = 3;                                          /* wall clock misaligned */
    assert_int_equal(dev_stage(bd, 1, bad, (size_t)n, why, sizeof(why)), -EINVAL);
    memcpy(bad, rec, (size_t)n);
    bad[40] = 2;                                          /* vCPU 0's registration misaligned */
    assert_int_equal(dev_stage(bd, 1, bad, (size_t)n, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "vcpu 0"));
    assert_int_equal(dev_stage(bd, 1, rec, (size_t)n, why, sizeof(why)), 0);
    dev_set_drop_staged(&b.devs);
    fake_vm_destroy(&a);
    fake_vm_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rates),
        cmocka_unit_test(test_line_and_migration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
