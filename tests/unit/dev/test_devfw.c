/*
 * The device framework and the buses: claims, overlaps, lookups without a cap,
 * a device created from a machine description, driven through the bus as a
 * guest would, and its state round-tripped (save -> check -> load -> same reads).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fake_dev.h"
#include "fake_env.h"
#include "fake_vm.h"
#include "hv/dev/bus.h"
#include "hv/dev/dev_ids.h"
#include "hv/dev/device.h"

/* This test's registry of known types (the core's is hv/dev/machine.c). */
const struct dev_type *const dev_known_types[] = { &testdev_type };
const unsigned dev_known_count = 1;

static int calls;
static uint64_t last_off;

static int count_fn(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    (void)write, (void)size;
    calls++;
    last_off = off;
    if (!write)
        *val = (uintptr_t)opaque;
    return 0;
}

static bool no_ram(void *ctx, enum bus_space sp, uint64_t base, uint64_t size)
{
    (void)ctx, (void)sp, (void)base, (void)size;
    return false;
}

static void test_bus_refuses_overlaps(void **state)
{
    struct bus b;
    unsigned out = fake_frames_out;
    (void)state;
    bus_init(&b, 0, no_ram, NULL);
    assert_int_equal(bus_claim(&b, BUS_PIO, 0x100, 0x10, count_fn, NULL, "a"), 0);
    /* Same, left edge, right edge, inside, around: all clash. */
    static const struct { uint64_t base, size; } clash[] = {
        { 0x100, 0x10 }, { 0xf8, 0x10 }, { 0x10f, 1 }, { 0x104, 2 }, { 0xf0, 0x40 },
    };
    for (unsigned i = 0; i < sizeof(clash) / sizeof(clash[0]); i++)
        assert_int_equal(bus_claim(&b, BUS_PIO, clash[i].base, clash[i].size, count_fn, NULL,
                                   "b"), -EBUSY);
    /* Touching ranges are fine, and the other space is separate. */
    assert_int_equal(bus_claim(&b, BUS_PIO, 0xf0, 0x10, count_fn, NULL, "b"), 0);
    assert_int_equal(bus_claim(&b, BUS_PIO, 0x110, 1, count_fn, NULL, "b"), 0);
    assert_int_equal(bus_claim(&b, BUS_MMIO, 0x100, 0x10, count_fn, NULL, "b"), 0);
    /* Bad ranges. */
    assert_int_equal(bus_claim(&b, BUS_PIO, 0x200, 0, count_fn, NULL, "c"), -EINVAL);
    assert_int_equal(bus_claim(&b, BUS_PIO, 0xfff0, 0x11, count_fn, NULL, "c"), -EINVAL);
    assert_int_equal(bus_claim(&b, BUS_MMIO, ~0ull - 4, 16, count_fn, NULL, "c"), -EINVAL);
    assert_int_equal(bus_claim(&b, BUS_PIO, 0x300, 1, NULL, NULL, "c"), -EINVAL);
    /* Lookups: the owner at each edge, nothing just outside. */
    assert_non_null(bus_find(&b, BUS_PIO, 0x100));
    assert_ptr_equal(bus_find(&b, BUS_PIO, 0x10f)->owner, "a");
    assert_ptr_equal(bus_find(&b, BUS_PIO, 0xff)->owner, "b");
    assert_null(bus_find(&b, BUS_PIO, 0x111));
    assert_null(bus_find(&b, BUS_PIO, 0xef));
    uint64_t v = 0;
    assert_int_equal(bus_access(&b, BUS_PIO, 0x10a, false, 1, &v), 0);
    assert_int_equal(last_off, 0xa);
    assert_int_equal(bus_access(&b, BUS_PIO, 0x400, false, 1, &v), -ENOENT);
    /* Releasing an owner frees its ranges for others. */
    assert_int_equal(bus_release(&b, "b"), 3);
    assert_null(bus_find(&b, BUS_PIO, 0xff));
    assert_int_equal(bus_claim(&b, BUS_PIO, 0xf8, 8, count_fn, NULL, "c"), 0);
    bus_free(&b);
    assert_int_equal(fake_frames_out, out);
}

static bool ram_below_1m(void *ctx, enum bus_space sp, uint64_t base, uint64_t size)
{
    (void)ctx;
    return sp == BUS_MMIO && base < 0x100000 && size;
}

static void test_bus_mmio_avoids_reserved_ram(void **state)
{
    struct bus b;
    (void)state;
    bus_init(&b, 0, ram_below_1m, NULL);
    assert_int_equal(bus_claim(&b, BUS_MMIO, 0xff000, 0x1000, count_fn, NULL, "x"), -EBUSY);
    assert_int_equal(bus_claim(&b, BUS_MMIO, 0x100000, 0x1000, count_fn, NULL, "x"), 0);
    assert_int_equal(bus_claim(&b, BUS_PIO, 0x10, 1, count_fn, NULL, "x"), 0);   /* ports: no RAM */
    bus_free(&b);
}

/* No small fixed cap: thousands of ranges, claimed out of order, each found by its address. */
static void test_bus_has_no_cap_and_finds_every_range(void **state)
{
    struct bus b;
    unsigned out = fake_frames_out;
    (void)state;
    bus_init(&b, 0, no_ram, NULL);
    for (unsigned i = 0; i < 3000; i++) {
        unsigned k = (i * 7919u) % 3000;        /* a permutation: inserts land everywhere */
        assert_int_equal(bus_claim(&b, BUS_MMIO, 0xe0000000ull + k * 0x1000ull, 0x800, count_fn,
                                   (void *)(uintptr_t)(k + 1), NULL), 0);
    }
    assert_int_equal(b.n[BUS_MMIO], 3000);
    for (unsigned k = 0; k < 3000; k++) {
        uint64_t v = 0;
        assert_int_equal(bus_access(&b, BUS_MMIO, 0xe0000000ull + k * 0x1000ull + 0x7ff, false,
                                    4, &v), 0);
        assert_int_equal(v, k + 1);
        assert_null(bus_find(&b, BUS_MMIO, 0xe0000000ull + k * 0x1000ull + 0x800));
    }
    for (unsigned i = 1; i < 3000; i++)
        assert_true(b.r[BUS_MMIO][i - 1].base < b.r[BUS_MMIO][i].base);
    bus_free(&b);
    assert_int_equal(fake_frames_out, out);
}

static const struct testdev_cfg cfg_a = { .port = 0x510, .mmio = 0xfed00000 };
static const struct testdev_cfg cfg_b = { .port = 0x512, .mmio = 0 };   /* overlaps a's ports */
static const struct testdev_cfg cfg_c = { .port = 0x520, .mmio = 0xfed00020 };  /* a's MMIO */
static const struct testdev_cfg cfg_ram = { .port = 0x530, .mmio = 0x1000 };    /* guest RAM */
static const struct testdev_cfg cfg_d = { .port = 0x540, .mmio = 0xfed01000 };

static void test_device_refused_on_overlap_leaves_nothing(void **state)
{
    struct fake_vm fv;
    char err[120];
    (void)state;
    unsigned out = fake_frames_out;
    fake_vm_init(&fv);
    assert_int_equal(dev_add(&fv.devs, &testdev_type, 0, &cfg_a, err, sizeof(err)), 0);
    unsigned with_a = fake_frames_out;
    assert_int_equal(dev_add(&fv.devs, &testdev_type, 1, &cfg_b, err, sizeof(err)), -EBUSY);
    assert_int_equal(dev_add(&fv.devs, &testdev_type, 1, &cfg_c, err, sizeof(err)), -EBUSY);
    assert_int_equal(dev_add(&fv.devs, &testdev_type, 1, &cfg_ram, err, sizeof(err)), -EBUSY);
    assert_non_null(strstr(err, "range taken"));
    /* The failed devices are gone whole: no device, no ranges, no memory. */
    assert_int_equal(fv.devs.ndevs, 1);
    assert_int_equal(fv.devs.bus.n[BUS_PIO], 1);
    assert_int_equal(fv.devs.bus.n[BUS_MMIO], 1);
    assert_int_equal(fake_frames_out, with_a);
    /* The same type and instance twice is refused too. */
    assert_int_equal(dev_add(&fv.devs, &testdev_type, 0, &cfg_d, err, sizeof(err)), -EEXIST);
    assert_int_equal(dev_add(&fv.devs, &testdev_type, 1, &cfg_d, err, sizeof(err)), 0);
    fake_vm_destroy(&fv);
    assert_int_equal(fake_frames_out, out);
}

static const struct dev_machine_entry two_entries[] = {
    { &testdev_type, 0, &cfg_a },
    { &testdev_type, 1, &cfg_d },
};
static const struct dev_machine two = { "two", two_entries, 2 };
static const struct dev_machine_entry clash_entries[] = {
    { &testdev_type, 0, &cfg_a },
    { &testdev_type, 1, &cfg_d },
    { &testdev_type, 2, &cfg_b },
};
static const struct dev_machine clash = { "clash", clash_entries, 3 };

static void test_machine_builds_in_order_or_not_at_all(void **state)
{
    struct fake_vm fv;
    char err[120];
    (void)state;
    unsigned out = fake_frames_out;
    fake_vm_init(&fv);
    assert_int_equal(dev_set_build(&fv.devs, &two, err, sizeof(err)), 0);
    assert_int_equal(fv.devs.ndevs, 2);
    assert_int_equal(fv.devs.devs[0]->instance, 0);
    assert_int_equal(fv.devs.devs[1]->instance, 1);
    assert_ptr_equal(dev_find(&fv.devs, DEV_ID_TEST_FIRST, 1), fv.devs.devs[1]);
    assert_null(dev_find(&fv.devs, DEV_ID_TEST_FIRST, 2));
    fake_vm_destroy(&fv);
    assert_int_equal(fake_frames_out, out);
    fake_vm_init(&fv);
    assert_int_equal(dev_set_build(&fv.devs, &clash, err, sizeof(err)), -EBUSY);
    assert_non_null(strstr(err, "machine clash"));
    assert_int_equal(fv.devs.ndevs, 0);
    assert_int_equal(fake_frames_out, out);
    fake_vm_destroy(&fv);
}

/* Drives the index/data ports and MMIO as a guest would. */
static void program(struct fake_vm *fv, uint16_t port, uint64_t mmio)
{
    for (uint8_t i = 0; i < 8; i++) {
        fake_vm_outb(fv, port, i);
        fake_vm_out(fv, port + 2, 2, 0x1000u + i);
    }
    assert_int_equal(fake_vm_mmio_write(fv, mmio + 4 * 9, 4, 0xcafef00d), 0);
    fake_vm_outb(fv, port, 3);                            /* the index is state too */
    assert_int_equal(fake_vm_mmio_write(fv, mmio + 4 * TESTDEV_REG_TIMER, 4, 5000), 0);
}

static void expect_reads(struct fake_vm *fv, uint16_t port, uint64_t mmio)
{
    uint64_t v;
    assert_int_equal(fake_vm_in(fv, port, 1), 3);
    assert_int_equal(fake_vm_in(fv, port + 2, 2), 0x1003);
    for (uint8_t i = 0; i < 8; i++) {
        assert_int_equal(fake_vm_mmio_read(fv, mmio + 4 * i, 4, &v), 0);
        assert_int_equal(v, 0x1000u + i);
    }
    assert_int_equal(fake_vm_mmio_read(fv, mmio + 4 * 9, 4, &v), 0);
    assert_int_equal(v, 0xcafef00d);
}

static void test_state_round_trips_through_save_check_load(void **state)
{
    struct fake_vm src, dst;
    char err[120], why[160];
    (void)state;
    fake_vm_init(&src);
    fake_vm_init(&dst);
    dst.now_ns = 77000000000ull;            /* another host, another clock */
    assert_int_equal(dev_set_build(&src.devs, &two, err, sizeof(err)), 0);
    assert_int_equal(dev_set_build(&dst.devs, &two, err, sizeof(err)), 0);
    program(&src, cfg_a.port, cfg_a.mmio);
    expect_reads(&src, cfg_a.port, cfg_a.mmio);
    src.now_ns += 2000;                     /* 3000 ns of the timer left */
    assert_int_equal(fake_vm_migrate(&src, &dst, why, sizeof(why)), 0);
    expect_reads(&dst, cfg_a.port, cfg_a.mmio);
    struct testdev *t = dev_find(&dst.devs, DEV_ID_TEST_FIRST, 0)->state;
    assert_int_equal(t->deadline_ns, dst.now_ns + 3000);   /* relative to the guest clock */
    /* An unprogrammed port reads all ones, as on a PC; writes vanish. */
    assert_int_equal(fake_vm_in(&dst, 0x80, 1), 0xffffffffu);
    fake_vm_destroy(&src);
    fake_vm_destroy(&dst);
}

static void test_bad_record_loads_nothing(void **state)
{
    struct fake_vm src, dst;
    char err[120], why[160];
    uint8_t rec[DEV_RECORD_MAX];
    (void)state;
    fake_vm_init(&src);
    fake_vm_init(&dst);
    assert_int_equal(dev_set_build(&src.devs, &two, err, sizeof(err)), 0);
    assert_int_equal(dev_set_build(&dst.devs, &two, err, sizeof(err)), 0);
    program(&src, cfg_a.port, cfg_a.mmio);
    struct device *d0 = dst.devs.devs[0], *d1 = dst.devs.devs[1];
    int n = dev_save(src.devs.devs[0], rec, sizeof(rec));
    assert_int_equal(n, 76);
    assert_int_equal(dev_save(src.devs.devs[0], rec, 10), -ENOSPC);
    /* Device 0's record passes and is staged, device 1's is bad: nothing may be loaded. */
    assert_int_equal(dev_stage(d0, 1, rec, (size_t)n, why, sizeof(why)), 0);
    assert_int_equal(dev_stage(d0, 1, rec, (size_t)n, why, sizeof(why)), -EEXIST);
    assert_non_null(strstr(why, "sent twice"));
    rec[0] = 16;                                               /* index 16 */
    assert_int_equal(dev_stage(d1, 1, rec, (size_t)n, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "device testdev#1: index 16 out of range");
    rec[0] = 3;
    assert_int_equal(dev_stage(d1, 2, rec, (size_t)n, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "device testdev#1: record version 2, this host loads 1");
    assert_int_equal(dev_stage(d1, 1, rec, (size_t)n - 1, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "75 bytes"));
    assert_int_equal(dev_set_staged_complete(&dst.devs, why, sizeof(why)), -ENOENT);
    assert_string_equal(why, "device testdev#1: no record received");
    dev_set_drop_staged(&dst.devs);
    /* Nothing reached the target's devices. */
    assert_int_equal(fake_vm_in(&dst, cfg_a.port, 1), 0);
    assert_int_equal(fake_vm_in(&dst, cfg_a.port + 2, 2), 0);
    assert_false(d0->has_staged);
    fake_vm_destroy(&src);
    fake_vm_destroy(&dst);
}

static void test_known_types(void **state)
{
    char why[120];
    (void)state;
    assert_ptr_equal(dev_type_by_id(DEV_ID_TEST_FIRST), &testdev_type);
    assert_null(dev_type_by_id(0x7f01));
    assert_int_equal(dev_type_check_known(DEV_ID_TEST_FIRST, 1, why, sizeof(why)), 0);
    assert_int_equal(dev_type_check_known(0x7f01, 1, why, sizeof(why)), -ENOENT);
    assert_string_equal(why, "device type 0x7f01 unknown on this host");
    assert_int_equal(dev_type_check_known(DEV_ID_TEST_FIRST, 2, why, sizeof(why)), -EPROTO);
    assert_string_equal(why, "device testdev record version 2, this host loads 1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bus_refuses_overlaps),
        cmocka_unit_test(test_bus_mmio_avoids_reserved_ram),
        cmocka_unit_test(test_bus_has_no_cap_and_finds_every_range),
        cmocka_unit_test(test_device_refused_on_overlap_leaves_nothing),
        cmocka_unit_test(test_machine_builds_in_order_or_not_at_all),
        cmocka_unit_test(test_state_round_trips_through_save_check_load),
        cmocka_unit_test(test_bad_record_loads_nothing),
        cmocka_unit_test(test_known_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
