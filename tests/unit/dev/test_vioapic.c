/*
 * The I/O APIC (hv/dev/vioapic.c) in today's machine, driven through its MMIO window as Linux's
 * io_apic.c drives it (IOREGSEL, IOWIN, the EOI register), with real sources on its pins: the
 * PIT's IRQ 0 arriving on pin 2 (the MADT's override), the ACPI PM block's level SCI on pin 9.
 * Messages are checked where they land, in the local APICs' IRR/TMR (vCPU 0 and 1 of the fake
 * VM), and level pins through remote IRR and the EOI broadcast; then a migration and records a
 * guest could not have produced.
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
#include "hv/dev/devrec.h"
#include "hv/dev/machine.h"
#include "hv/dev/vacpipm.h"
#include "hv/dev/vioapic.h"
#include "hv/dev/vlapic.h"

#define NS        1000000000ull
#define RE_MASKED 0x10000u
#define RE_LEVEL  0x8000u
#define RE_REMOTE 0x4000u
#define RE_LOGICAL 0x800u
#define LAPIC_EOI 0xb0
#define LAPIC_LDR 0xd0
#define LAPIC_DFR 0xe0
#define LAPIC_SVR 0xf0

static struct fake_vm fv, fv2;

FAKE_VM_FIXTURE(fv, &machine_ferry_min)

static uint32_t io_rd(struct fake_vm *v, uint8_t idx)
{
    uint64_t x = 0xdeadbeef;
    assert_int_equal(fake_vm_mmio_write(v, VIOAPIC_BASE, 4, idx), 0);
    assert_int_equal(fake_vm_mmio_read(v, VIOAPIC_BASE + 0x10, 4, &x), 0);
    return (uint32_t)x;
}

static void io_wr(struct fake_vm *v, uint8_t idx, uint32_t val)
{
    assert_int_equal(fake_vm_mmio_write(v, VIOAPIC_BASE, 4, idx), 0);
    assert_int_equal(fake_vm_mmio_write(v, VIOAPIC_BASE + 0x10, 4, val), 0);
}

/* Linux's ioapic_write_entry: the high half (destination) first, then the low half. */
static void route(struct fake_vm *v, unsigned pin, uint32_t lo, uint8_t dest)
{
    io_wr(v, (uint8_t)(0x11 + 2 * pin), (uint32_t)dest << 24);
    io_wr(v, (uint8_t)(0x10 + 2 * pin), lo);
}

static void lapic_wr(struct fake_vm *v, unsigned vcpu, unsigned off, uint32_t val)
{
    fake_vm_set_vcpu(v, vcpu);
    assert_int_equal(fake_vm_mmio_write(v, VLAPIC_BASE + off, 4, val), 0);
    fake_vm_set_vcpu(v, 0);
}

static uint32_t lapic_rd(struct fake_vm *v, unsigned vcpu, unsigned off)
{
    uint64_t x = 0;
    fake_vm_set_vcpu(v, vcpu);
    assert_int_equal(fake_vm_mmio_read(v, VLAPIC_BASE + off, 4, &x), 0);
    fake_vm_set_vcpu(v, 0);
    return (uint32_t)x;
}

static bool lapic_bit(struct fake_vm *v, unsigned vcpu, unsigned base, unsigned vec)
{
    return lapic_rd(v, vcpu, base + (vec / 32) * 0x10) >> (vec % 32) & 1;
}

static bool irr(struct fake_vm *v, unsigned vcpu, unsigned vec) { return lapic_bit(v, vcpu, 0x200, vec); }
static bool tmr(struct fake_vm *v, unsigned vcpu, unsigned vec) { return lapic_bit(v, vcpu, 0x180, vec); }

static struct device *lapic(struct fake_vm *v) { return dev_find(&v->devs, DEV_ID_LAPIC, 0); }

static void apics_on(struct fake_vm *v)
{
    for (unsigned i = 0; i < 2; i++)
        lapic_wr(v, i, LAPIC_SVR, 0x1ff);
}

/* The PIT's channel 0 in mode 2 with a 1 ms period: an IRQ 0 edge every ms once polled. */
static void pit_1ms(struct fake_vm *v)
{
    fake_vm_outb(v, 0x43, 0x34);
    fake_vm_outb(v, 0x40, 1193 & 0xff);
    fake_vm_outb(v, 0x40, 1193 >> 8);
}

static void test_reset_state_and_registers(void **state)
{
    (void)state;
    assert_int_equal(io_rd(&fv, 0x01), VIOAPIC_VERSION);
    assert_int_equal(io_rd(&fv, 0x00), 0);
    for (unsigned pin = 0; pin < VIOAPIC_PINS; pin++) {
        assert_int_equal(io_rd(&fv, (uint8_t)(0x10 + 2 * pin)), RE_MASKED);
        assert_int_equal(io_rd(&fv, (uint8_t)(0x11 + 2 * pin)), 0);
    }
    /* ID is writable (4 bits), version is not, the index past entry 23 reads 0. */
    io_wr(&fv, 0x00, 0xff000000);
    assert_int_equal(io_rd(&fv, 0x00), 0x0f000000);
    io_wr(&fv, 0x01, 0);
    assert_int_equal(io_rd(&fv, 0x01), VIOAPIC_VERSION);
    io_wr(&fv, 0x40, 0x1234);
    assert_int_equal(io_rd(&fv, 0x40), 0);
    /* Bits nobody can set stay clear: delivery status, remote IRR, 17-55. */
    io_wr(&fv, 0x10, 0xffffffff);
    io_wr(&fv, 0x11, 0xffffffff);
    assert_int_equal(io_rd(&fv, 0x10), 0x1afff);
    assert_int_equal(io_rd(&fv, 0x11), 0xff000000);
    /* IOREGSEL takes bytes and dwords; IOWIN only dwords. */
    uint64_t x;
    assert_int_equal(fake_vm_mmio_write(&fv, VIOAPIC_BASE, 1, 0x01), 0);
    assert_int_equal(fake_vm_mmio_read(&fv, VIOAPIC_BASE + 0x10, 4, &x), 0);
    assert_int_equal(x, VIOAPIC_VERSION);
    assert_int_equal(fake_vm_mmio_read(&fv, VIOAPIC_BASE + 0x10, 1, &x), -EINVAL);
    assert_int_equal(fake_vm_mmio_read(&fv, VIOAPIC_BASE + 0x20, 4, &x), 0);
    assert_int_equal(x, 0);
    /* A reset masks everything again and restores the ID. */
    dev_set_reset(&fv.devs);
    assert_int_equal(io_rd(&fv, 0x10), RE_MASKED);
    assert_int_equal(io_rd(&fv, 0x00), 0);
}

static void test_pit_on_pin2_edges(void **state)
{
    (void)state;
    apics_on(&fv);
    route(&fv, 2, 0x30, 0);                      /* Linux's ..TIMER: vector 0x30, pin 2 */
    route(&fv, 0, 0x31, 0);                      /* pin 0 is not IRQ 0 */
    pit_1ms(&fv);
    fake_vm_advance(&fv, 1500000);
    (void)fake_vm_poll(&fv);
    assert_true(irr(&fv, 0, 0x30));
    assert_false(tmr(&fv, 0, 0x30));             /* edge */
    assert_false(irr(&fv, 0, 0x31));
    assert_false(irr(&fv, 1, 0x30));
    /* Taken and EOIed: the next period's edge comes again. */
    assert_int_equal(vlapic_ack(lapic(&fv), 0), 0x30);
    lapic_wr(&fv, 0, LAPIC_EOI, 0);
    fake_vm_advance(&fv, 1000000);
    (void)fake_vm_poll(&fv);
    assert_true(irr(&fv, 0, 0x30));
    (void)vlapic_ack(lapic(&fv), 0);
    lapic_wr(&fv, 0, LAPIC_EOI, 0);
    /* Masked, the edges are lost; unmasking does not bring them back. */
    route(&fv, 2, 0x30 | RE_MASKED, 0);
    fake_vm_advance(&fv, 3000000);
    (void)fake_vm_poll(&fv);
    route(&fv, 2, 0x30, 0);
    assert_false(irr(&fv, 0, 0x30));
}

static void test_level_sci_remote_irr_and_eoi(void **state)
{
    (void)state;
    apics_on(&fv);
    route(&fv, 9, 0x41 | RE_LEVEL, 1);           /* to vCPU 1 */
    /* The PM timer's TMR_STS with TMR_EN raises the SCI when bit 31 flips (600 s). */
    fake_vm_out(&fv, VACPIPM_PORT + 2, 2, 1);
    fake_vm_advance(&fv, 600 * NS);
    (void)fake_vm_poll(&fv);
    assert_true(fv.devs.irq_level >> 9 & 1);
    assert_true(irr(&fv, 1, 0x41));
    assert_true(tmr(&fv, 1, 0x41));
    assert_true(fv.vcpu_kicks[1] > 0);
    assert_true(io_rd(&fv, 0x10 + 18) & RE_REMOTE);
    /* Taken; the line stays up: the EOI broadcast sends it again. */
    fake_vm_set_vcpu(&fv, 1);
    assert_int_equal(vlapic_ack(lapic(&fv), 1), 0x41);
    assert_false(irr(&fv, 1, 0x41));
    lapic_wr(&fv, 1, LAPIC_EOI, 0);
    assert_true(irr(&fv, 1, 0x41));
    assert_true(io_rd(&fv, 0x10 + 18) & RE_REMOTE);
    /* The handler clears TMR_STS (the line falls), then the EOI: remote IRR clears, nothing more. */
    fake_vm_set_vcpu(&fv, 1);
    assert_int_equal(vlapic_ack(lapic(&fv), 1), 0x41);
    fake_vm_out(&fv, VACPIPM_PORT, 2, 1);
    assert_false(fv.devs.irq_level >> 9 & 1);
    lapic_wr(&fv, 1, LAPIC_EOI, 0);
    assert_false(io_rd(&fv, 0x10 + 18) & RE_REMOTE);
    assert_false(irr(&fv, 1, 0x41));
}

static void test_eoi_register_and_unmask_of_a_raised_level_pin(void **state)
{
    (void)state;
    apics_on(&fv);
    fake_vm_out(&fv, VACPIPM_PORT + 2, 2, 1);
    fake_vm_advance(&fv, 601 * NS);
    (void)fake_vm_poll(&fv);                     /* the SCI is up, pin 9 still masked */
    assert_false(irr(&fv, 0, 0x42));
    route(&fv, 9, 0x42 | RE_LEVEL, 0);           /* unmasking a raised level pin sends it */
    assert_true(irr(&fv, 0, 0x42));
    assert_int_equal(vlapic_ack(lapic(&fv), 0), 0x42);
    /* The directed EOI (the register at +0x40, version 0x20) for another vector: no effect. */
    assert_int_equal(fake_vm_mmio_write(&fv, VIOAPIC_BASE + 0x40, 4, 0x43), 0);
    assert_true(io_rd(&fv, 0x10 + 18) & RE_REMOTE);
    assert_int_equal(fake_vm_mmio_write(&fv, VIOAPIC_BASE + 0x40, 4, 0x42), 0);
    assert_true(irr(&fv, 0, 0x42));              /* still up: sent again, remote IRR set again */
    assert_true(io_rd(&fv, 0x10 + 18) & RE_REMOTE);
    /* Turning the pin to edge clears remote IRR (Linux's way of unsticking one). */
    route(&fv, 9, 0x42 | RE_MASKED, 0);
    assert_false(io_rd(&fv, 0x10 + 18) & RE_REMOTE);
}

static void test_logical_destinations_and_nmi(void **state)
{
    (void)state;
    apics_on(&fv);
    lapic_wr(&fv, 0, LAPIC_DFR, 0xffffffff);     /* flat */
    lapic_wr(&fv, 1, LAPIC_DFR, 0xffffffff);
    lapic_wr(&fv, 0, LAPIC_LDR, 0x01000000);
    lapic_wr(&fv, 1, LAPIC_LDR, 0x02000000);
    route(&fv, 2, 0x50 | RE_LOGICAL, 0x02);
    pit_1ms(&fv);
    fake_vm_advance(&fv, 1500000);
    (void)fake_vm_poll(&fv);
    assert_false(irr(&fv, 0, 0x50));
    assert_true(irr(&fv, 1, 0x50));
    /* Logical 0x03 in fixed mode: both; lowest priority: one (the lowest-numbered). */
    struct device *l = lapic(&fv);
    assert_int_equal(vlapic_deliver_msg(l, 0x03, true, 0, 0x51, false), 2);
    assert_int_equal(vlapic_deliver_msg(l, 0x03, true, 1, 0x52, false), 1);
    assert_true(irr(&fv, 0, 0x52));
    assert_false(irr(&fv, 1, 0x52));
    /* Physical destination 7 is nobody: the message goes nowhere. */
    assert_int_equal(vlapic_deliver_msg(l, 7, false, 0, 0x53, false), 0);
    /* NMI delivery mode: an event for the vCPU, not a vector. */
    route(&fv, 2, 0x400, 1);
    fake_vm_advance(&fv, 1000000);
    (void)fake_vm_poll(&fv);
    struct vlapic_events ev;
    assert_true(vlapic_take_events(l, 1, &ev));
    assert_true(ev.nmi);
    /* ExtINT and SIPI messages are dropped. */
    assert_int_equal(vlapic_deliver_msg(l, 0, false, 7, 0, false), 0);
    assert_int_equal(vlapic_deliver_msg(l, 0, false, 6, 0x10, false), 0);
}

static void test_level_message_nobody_takes_leaves_remote_irr_clear(void **state)
{
    (void)state;
    apics_on(&fv);
    route(&fv, 9, 0x44 | RE_LEVEL, 9);           /* APIC ID 9: no such vCPU */
    fake_vm_out(&fv, VACPIPM_PORT + 2, 2, 1);
    fake_vm_advance(&fv, 600 * NS);
    (void)fake_vm_poll(&fv);
    assert_false(io_rd(&fv, 0x10 + 18) & RE_REMOTE);
    assert_false(irr(&fv, 0, 0x44));
    /* To an APIC that exists but is software-disabled: dropped, remote IRR stays clear. */
    lapic_wr(&fv, 1, LAPIC_SVR, 0xff);
    route(&fv, 9, 0x45 | RE_LEVEL, 1);
    assert_false(io_rd(&fv, 0x10 + 18) & RE_REMOTE);
    /* NMI delivery mode is edge whatever the entry says: no remote IRR, no EOI to wait for.
     * (Masked while it is rewritten, as a guest does, so the old route sends nothing.) */
    io_wr(&fv, 0x10 + 18, RE_MASKED);
    route(&fv, 9, 0x400 | RE_LEVEL, 0);
    assert_false(io_rd(&fv, 0x10 + 18) & RE_REMOTE);
    struct vlapic_events ev;
    assert_true(vlapic_take_events(dev_find(&fv.devs, DEV_ID_LAPIC, 0), 0, &ev) && ev.nmi);
}

static void test_migration_and_bad_records(void **state)
{
    (void)state;
    apics_on(&fv);
    io_wr(&fv, 0x00, 0x03000000);
    route(&fv, 9, 0x45 | RE_LEVEL, 0);
    route(&fv, 4, 0x34, 1);
    fake_vm_out(&fv, VACPIPM_PORT + 2, 2, 1);
    fake_vm_advance(&fv, 600 * NS);
    (void)fake_vm_poll(&fv);
    assert_true(io_rd(&fv, 0x10 + 18) & RE_REMOTE);
    io_wr(&fv, 0x00, 0x03000000);                /* leave IOREGSEL at 0 */

    char why[160] = "";
    fake_vm_build(&fv2, &machine_ferry_min);
    assert_int_equal(fake_vm_migrate(&fv, &fv2, why, sizeof(why)), 0);
    assert_int_equal(io_rd(&fv2, 0x00), 0x03000000);
    assert_int_equal(io_rd(&fv2, 0x10 + 18), 0x45 | RE_LEVEL | RE_REMOTE);
    assert_int_equal(io_rd(&fv2, 0x10 + 8), 0x34);
    assert_int_equal(io_rd(&fv2, 0x11 + 8), 0x01000000);
    /* The EOI on the target finds remote IRR and the line up: sent again there. */
    struct device *l2 = lapic(&fv2);
    assert_int_equal(vlapic_ack(l2, 0), 0x45);
    lapic_wr(&fv2, 0, LAPIC_EOI, 0);
    assert_true(irr(&fv2, 0, 0x45));

    struct device *d = dev_find(&fv.devs, DEV_ID_IOAPIC, 0), *d2 = dev_find(&fv2.devs, DEV_ID_IOAPIC, 0);
    uint8_t rec[DEV_RECORD_MAX];
    int n = dev_save(d, rec, sizeof(rec));
    assert_int_equal(n, 8 + 24 * 8);
    fake_vm_expect_refused(d2, rec, (size_t)n, 1, 0x10);            /* ID past 4 bits */
    fake_vm_expect_refused(d2, rec, (size_t)n, 2, 0x01);            /* reserved */
    fake_vm_expect_refused(d2, rec, (size_t)n, 7, 0x01);            /* a level for line 24 */
    fake_vm_expect_refused(d2, rec, (size_t)n, 8 + 8 * 4 + 1, 0x10); /* pin 4: delivery status */
    fake_vm_expect_refused(d2, rec, (size_t)n, 8 + 8 * 4 + 1, 0x40); /* pin 4: remote IRR, edge */
    fake_vm_expect_refused(d2, rec, (size_t)n, 8 + 8 * 4 + 3, 0x01); /* pin 4: bit 24 */
    fake_vm_destroy(&fv2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reset_state_and_registers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pit_on_pin2_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_sci_remote_irr_and_eoi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eoi_register_and_unmask_of_a_raised_level_pin, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_logical_destinations_and_nmi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_message_nobody_takes_leaves_remote_irr_clear,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_and_bad_records, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
