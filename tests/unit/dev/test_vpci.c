/*
 * The PCI host bridge (hv/dev/vpci.c) in the machine every VM gets, driven through the port bus
 * the way Linux's pci_check_type1() and its config accessors do, then migrated.
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
#include "hv/dev/vpci.h"

static uint32_t cfg_addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
    return VPCI_ADDR_ENABLE | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

static uint32_t cfg_read(struct fake_vm *fv, unsigned dev, unsigned reg, unsigned size)
{
    fake_vm_out(fv, 0xcf8, 4, cfg_addr(0, dev, 0, reg));
    return fake_vm_in(fv, 0xcfc + (reg & 3), size);
}

static void test_type1_probe_and_the_bridge(void **state)
{
    struct fake_vm fv;
    (void)state;
    fake_vm_build(&fv, &machine_ferry_min);
    /* Linux's pci_check_type1: a byte to 0xCFB is not CONFIG_ADDRESS; the dword sticks. */
    fake_vm_outb(&fv, 0xcfb, 0x01);
    assert_int_equal(fake_vm_in(&fv, 0xcf8, 4), 0);
    fake_vm_out(&fv, 0xcf8, 4, 0x80000000);
    assert_int_equal(fake_vm_in(&fv, 0xcf8, 4), 0x80000000);
    assert_int_equal(fake_vm_inb(&fv, 0xcf9), 0xff);
    /* Reserved bits 30:24 and 1:0 do not stick. */
    fake_vm_out(&fv, 0xcf8, 4, 0xff000003);
    assert_int_equal(fake_vm_in(&fv, 0xcf8, 4), 0x80000000);
    /* 00:00.0: an Intel 440FX host bridge, as firmware and Linux expect. */
    assert_int_equal(cfg_read(&fv, 0, 0x00, 4), 0x12378086);
    assert_int_equal(cfg_read(&fv, 0, 0x02, 2), 0x1237);
    assert_int_equal(cfg_read(&fv, 0, 0x0b, 1), 0x06);
    assert_int_equal(cfg_read(&fv, 0, 0x08, 4), 0x06000002);
    assert_int_equal(cfg_read(&fv, 0, 0x0e, 1), 0x00);     /* header type 0 */
    /* Nothing else on bus 0, nothing on bus 1, nothing with the enable bit clear. */
    assert_int_equal(cfg_read(&fv, 1, 0x00, 4), 0xffffffffu);
    assert_int_equal(cfg_read(&fv, 31, 0x00, 2), 0xffff);
    fake_vm_out(&fv, 0xcf8, 4, cfg_addr(1, 0, 0, 0));
    assert_int_equal(fake_vm_in(&fv, 0xcfc, 4), 0xffffffffu);
    fake_vm_out(&fv, 0xcf8, 4, 0);
    assert_int_equal(fake_vm_in(&fv, 0xcfc, 4), 0xffffffffu);
    /* The command register takes its writable bits; the IDs stay. */
    fake_vm_out(&fv, 0xcf8, 4, cfg_addr(0, 0, 0, 0x04));
    fake_vm_out(&fv, 0xcfc, 2, 0xffff);
    assert_int_equal(cfg_read(&fv, 0, 0x04, 2), 0x0147);
    fake_vm_out(&fv, 0xcf8, 4, cfg_addr(0, 0, 0, 0x00));
    fake_vm_out(&fv, 0xcfc, 4, 0);
    assert_int_equal(cfg_read(&fv, 0, 0x00, 4), 0x12378086);
    /* A word across the two registers is refused (the guest takes #GP). */
    assert_int_equal(fake_vm_in(&fv, 0xcfb, 2), 0xdeadbeef);
    fake_vm_destroy(&fv);
}

/* ECAM at 0xE0000000 (bus 0): the same space as through 0xCF8/0xCFC, and the bridge's extended
 * space reads 0 (no extended capabilities). */
static void test_ecam(void **state)
{
    struct fake_vm fv;
    uint64_t v = 0;
    (void)state;
    fake_vm_build(&fv, &machine_ferry_min);
    assert_int_equal(fake_vm_mmio_read(&fv, VPCI_ECAM_BASE, 4, &v), 0);
    assert_int_equal(v, 0x12378086);
    assert_int_equal(fake_vm_mmio_read(&fv, VPCI_ECAM_BASE + 0x0b, 1, &v), 0);
    assert_int_equal(v, 0x06);
    assert_int_equal(fake_vm_mmio_read(&fv, VPCI_ECAM_BASE + 0x100, 4, &v), 0);
    assert_int_equal(v, 0);                                         /* extended: none */
    assert_int_equal(fake_vm_mmio_read(&fv, VPCI_ECAM_BASE + (1 << 15), 4, &v), 0);
    assert_int_equal(v, 0xffffffffu);                               /* 00:01.0 absent */
    assert_int_equal(fake_vm_mmio_read(&fv, VPCI_ECAM_BASE + (1 << 12) + 2, 2, &v), 0);
    assert_int_equal(v, 0xffff);                                    /* 00:00.1 absent */
    /* A write through ECAM is what the ports read back (and the other way round). */
    assert_int_equal(fake_vm_mmio_write(&fv, VPCI_ECAM_BASE + 0x04, 2, 0xffff), 0);
    assert_int_equal(cfg_read(&fv, 0, 0x04, 2), 0x0147);
    fake_vm_out(&fv, 0xcf8, 4, cfg_addr(0, 0, 0, 0x0c));
    fake_vm_out(&fv, 0xcfc, 1, 0x10);
    assert_int_equal(fake_vm_mmio_read(&fv, VPCI_ECAM_BASE + 0x0c, 1, &v), 0);
    assert_int_equal(v, 0x10);
    /* Misaligned or too wide: refused (the guest takes #GP); bus 1 is not there at all. */
    assert_int_equal(fake_vm_mmio_read(&fv, VPCI_ECAM_BASE + 1, 2, &v), -EINVAL);
    assert_int_equal(fake_vm_mmio_read(&fv, VPCI_ECAM_BASE, 8, &v), -EINVAL);
    assert_int_equal(fake_vm_mmio_read(&fv, VPCI_ECAM_BASE + (1 << 20), 4, &v), -ENOENT);
    fake_vm_destroy(&fv);
}

static void test_state_migrates_and_is_checked(void **state)
{
    struct fake_vm a, b;
    char why[160];
    uint8_t rec[DEV_RECORD_MAX];
    (void)state;
    fake_vm_build(&a, &machine_ferry_min);
    fake_vm_build(&b, &machine_ferry_min);
    fake_vm_out(&a, 0xcf8, 4, cfg_addr(0, 0, 0, 0x0c));
    fake_vm_out(&a, 0xcfc, 2, 0x4010);                    /* cache line 0x10, latency 0x40 */
    fake_vm_out(&a, 0xcf8, 4, cfg_addr(0, 0, 0, 0x04));
    fake_vm_out(&a, 0xcfc, 2, 0x0006);
    assert_int_equal(fake_vm_migrate(&a, &b, why, sizeof(why)), 0);
    assert_int_equal(fake_vm_in(&b, 0xcf8, 4), cfg_addr(0, 0, 0, 0x04));
    assert_int_equal(fake_vm_in(&b, 0xcfc, 2), 0x0006);
    assert_int_equal(cfg_read(&b, 0, 0x0c, 2), 0x4010);
    struct device *d = dev_find(&b.devs, vpci_type.id, 0);
    assert_int_equal(dev_save(d, rec, sizeof(rec)), 260);
    rec[3] = 0x7f;                                        /* CONFIG_ADDRESS bits 30:24 */
    assert_int_equal(dev_stage(d, 1, rec, 260, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "reserved bits"));
    rec[3] = 0x80;
    rec[4 + 0x02] = 0x38;                                 /* the device ID is read-only */
    assert_int_equal(dev_stage(d, 1, rec, 260, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "device pci-host#0: host bridge register 0x02 is read-only");
    fake_vm_destroy(&a);
    fake_vm_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type1_probe_and_the_bridge),
        cmocka_unit_test(test_state_migrates_and_is_checked),
        cmocka_unit_test(test_ecam),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
