/*
 * Devices through the generic migration loop (hv/mig/mig_devices.c) and the
 * real stream codec: HELLO lists the source's devices, the target refuses an
 * unknown type or record version before creating anything and a device its
 * machine lacks, each DEVICE record is checked as it arrives, and nothing is
 * loaded until every device's record arrived and passed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_dev.h"
#include "fake_env.h"
#include "fake_vm.h"
#include "hv/dev/dev_ids.h"
#include "hv/dev/vuart.h"
#include "hv/mig/mig_devices.h"

/* What this "host" can load: the 16550 and testdev v1 (not v2). */
const struct dev_type *const dev_known_types[] = { &vuart_type, &testdev_type };
const unsigned dev_known_count = 2;

static const struct vuart_cfg com1 = { .port = 0x3f8, .irq = 4 };
static const struct testdev_cfg td0 = { .port = 0x510, .mmio = 0xfed00000 };
static const struct dev_machine_entry m_entries[] = {
    { &vuart_type, 0, &com1 }, { &testdev_type, 0, &td0 },
};
static const struct dev_machine machine = { "test", m_entries, 2 };
static const struct dev_machine_entry v2_entries[] = {
    { &vuart_type, 0, &com1 }, { &testdev_v2_type, 0, &td0 },
};
static const struct dev_machine machine_v2 = { "test-v2", v2_entries, 2 };
static const struct dev_machine uart_only = { "uart-only", m_entries, 1 };

static uint8_t wire[1 << 20];
static uint8_t scratch[MIG_DEV_RECORD_MAX];

static void build(struct fake_vm *fv, const struct dev_machine *m) { fake_vm_build(fv, m); }

/* The record the encoder just wrote at off, as the decoder would deliver it. */
static struct mig_record record_at(size_t off)
{
    const uint8_t *p = wire + off;
    struct mig_record r = { .type = (uint16_t)(p[0] | p[1] << 8),
                            .len = (uint32_t)(p[4] | p[5] << 8 | p[6] << 16 | p[7] << 24),
                            .payload = p + MIG_REC_HDR_SIZE };
    return r;
}

/* The source's HELLO, encoded and parsed back as the target sees it. */
static void hello_of(struct fake_vm *src, struct mig_hello *out)
{
    struct mig_hello h = { .version = MIG_STREAM_VERSION, .streams = 1, .vcpus = 1, .mem_bytes = 1 << 20,
                           .name = "vm1" };
    struct mig_enc e;
    assert_int_equal(mig_devices_hello(&src->devs, &h), 0);
    mig_enc_init(&e, wire, sizeof(wire));
    assert_int_equal(mig_rec_hello(&e, &h), 0);
    struct mig_record r = record_at(0);
    assert_int_equal(mig_parse_hello(&r, out), 0);
}

/* Sends every device of src (in its order) into dst; the first refusal's code. */
static int send_devices(struct fake_vm *src, struct fake_vm *dst, char *why, size_t n)
{
    for (unsigned i = 0; i < src->devs.ndevs; i++) {
        struct mig_enc e;
        mig_enc_init(&e, wire, sizeof(wire));
        assert_int_equal(mig_devices_put(&e, src->devs.devs[i], scratch), 0);
        struct mig_record r = record_at(0);
        int rc = mig_devices_stage(&dst->devs, &r, why, n);
        if (rc)
            return rc;
    }
    return 0;
}

static void test_devices_migrate_through_the_generic_loop(void **state)
{
    struct fake_vm src, dst;
    struct mig_hello h;
    char why[160];
    (void)state;
    build(&src, &machine);
    fake_vm_outb(&src, 0x3f8 + 7, 0x99);
    fake_vm_outb(&src, 0x510, 5);
    fake_vm_out(&src, 0x512, 2, 0xbeef);
    hello_of(&src, &h);
    assert_int_equal(h.ndevices, 2);
    assert_int_equal(h.devices[0].type, DEV_ID_UART16550);
    assert_int_equal(h.devices[1].type, DEV_ID_TEST_FIRST);
    assert_int_equal(h.devices[1].version, 1);
    assert_int_equal(mig_devices_known(&h, why, sizeof(why)), 0);
    assert_int_equal(mig_devices_match(&machine, &h, why, sizeof(why)), 0);
    build(&dst, &machine);
    assert_int_equal(send_devices(&src, &dst, why, sizeof(why)), 0);
    /* Checked and staged, not loaded yet. */
    assert_int_equal(fake_vm_inb(&dst, 0x3f8 + 7), 0);
    assert_int_equal(mig_devices_commit(&dst.devs, why, sizeof(why)), 0);
    assert_int_equal(fake_vm_inb(&dst, 0x3f8 + 7), 0x99);
    assert_int_equal(fake_vm_inb(&dst, 0x510), 5);
    assert_int_equal(fake_vm_in(&dst, 0x512, 2), 0xbeef);
    fake_vm_destroy(&src);
    fake_vm_destroy(&dst);
}

static void test_hello_with_unknown_device_or_version_is_refused(void **state)
{
    struct fake_vm src;
    struct mig_hello h;
    char why[160];
    (void)state;
    build(&src, &machine_v2);                 /* a newer host: testdev's record is v2 */
    hello_of(&src, &h);
    assert_int_equal(mig_devices_known(&h, why, sizeof(why)), -EPROTO);
    assert_string_equal(why, "device testdev record version 2, this host loads 1");
    h.devices[1].type = 0x7f07;               /* a type this host never heard of */
    assert_int_equal(mig_devices_known(&h, why, sizeof(why)), -ENOENT);
    assert_string_equal(why, "device type 0x7f07 unknown on this host");
    fake_vm_destroy(&src);
}

static void test_machine_mismatch_is_refused(void **state)
{
    struct fake_vm src;
    struct mig_hello h;
    char why[160];
    (void)state;
    build(&src, &machine);
    hello_of(&src, &h);
    assert_int_equal(mig_devices_match(&uart_only, &h, why, sizeof(why)), -ENOENT);
    assert_string_equal(why, "device testdev#0 is not in this host's machine");
    fake_vm_destroy(&src);
    /* The other way: the VM lacks a device the target's machine has. */
    build(&src, &uart_only);
    hello_of(&src, &h);
    assert_int_equal(mig_devices_match(&machine, &h, why, sizeof(why)), -ENOENT);
    assert_string_equal(why, "the VM lacks device testdev#0 that this host's machine has");
    /* A device listed twice. */
    h.devices[1] = h.devices[0];
    h.ndevices = 2;
    assert_int_equal(mig_devices_match(&machine, &h, why, sizeof(why)), -EINVAL);
    fake_vm_destroy(&src);
}

static void test_missing_or_bad_record_loads_nothing(void **state)
{
    struct fake_vm src, dst;
    char why[160];
    (void)state;
    build(&src, &machine);
    build(&dst, &machine);
    fake_vm_outb(&src, 0x3f8 + 7, 0x99);
    /* Only the UART's record arrives: the commit is refused and nothing is loaded. */
    struct mig_enc e;
    mig_enc_init(&e, wire, sizeof(wire));
    assert_int_equal(mig_devices_put(&e, src.devs.devs[0], scratch), 0);
    struct mig_record r = record_at(0);
    assert_int_equal(mig_devices_stage(&dst.devs, &r, why, sizeof(why)), 0);
    assert_int_equal(mig_devices_commit(&dst.devs, why, sizeof(why)), -ENOENT);
    assert_string_equal(why, "device testdev#0: no record received");
    assert_int_equal(fake_vm_inb(&dst, 0x3f8 + 7), 0);
    /* The same record again is refused. */
    assert_int_equal(mig_devices_stage(&dst.devs, &r, why, sizeof(why)), -EEXIST);
    /* A record for a device HELLO did not list. */
    uint8_t *p = (uint8_t *)r.payload;
    p[2] = 4;                                             /* instance 4 */
    assert_int_equal(mig_devices_stage(&dst.devs, &r, why, sizeof(why)), -ENOENT);
    /* A malformed one (reserved field set). */
    p[2] = 0;
    p[6] = 1;
    assert_int_equal(mig_devices_stage(&dst.devs, &r, why, sizeof(why)), -EBADMSG);
    fake_vm_destroy(&src);
    fake_vm_destroy(&dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_devices_migrate_through_the_generic_loop),
        cmocka_unit_test(test_hello_with_unknown_device_or_version_is_refused),
        cmocka_unit_test(test_machine_mismatch_is_refused),
        cmocka_unit_test(test_missing_or_bad_record_loads_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
