/*
 * The local APICs (hv/dev/vlapic.c) driven through the MMIO bus as each vCPU's guest code
 * would (fake_vm_set_vcpu picks whose APIC answers), with the Intel SDM Vol. 3A chapter 11 as
 * the reference: reset values, the software enable, TPR/PPR and priority classes, accept /
 * acknowledge / EOI nesting, the ESR, the timer in its three modes with a fake clock, IPIs
 * with every destination form, NMI/INIT/SIPI events, x2APIC mode through the MSR bus (the
 * transitions, table 11-6's access rules, 32-bit and cluster destinations, SELF IPI), a
 * migration and refused records.
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
#include "hv/dev/vlapic.h"

/* This test's registry of known types (the core's is hv/dev/machine.c). */
const struct dev_type *const dev_known_types[] = { &vlapic_type };
const unsigned dev_known_count = 1;

#define NV 4

static unsigned eoi_calls, eoi_vcpu;
static uint8_t eoi_vector;

static void on_eoi(struct device *d, unsigned vcpu, uint8_t vector)
{
    (void)d;
    eoi_calls++;
    eoi_vcpu = vcpu;
    eoi_vector = vector;
}

static const struct vlapic_cfg cfg = { .nvcpus = NV, .eoi_level = on_eoi };
static const struct dev_machine_entry entries[] = { { &vlapic_type, 0, &cfg } };
static const struct dev_machine machine = { "lapic-test", entries, 1 };

static const struct vlapic_cfg fw_cfg = { .nvcpus = 2, .bios_virtual_wire = true };
static const struct dev_machine_entry fw_entries[] = { { &vlapic_type, 0, &fw_cfg } };
static const struct dev_machine fw_machine = { "lapic-fw", fw_entries, 1 };

static struct fake_vm fv, fv2;

static int setup(void **state)
{
    (void)state;
    fake_vm_build(&fv, &machine);
    eoi_calls = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fake_vm_destroy(&fv);
    return 0;
}

static struct device *lapic(struct fake_vm *v) { return dev_find(&v->devs, DEV_ID_LAPIC, 0); }

static uint32_t rd(struct fake_vm *v, unsigned vcpu, unsigned off)
{
    uint64_t x = 0xdeadbeef;
    fake_vm_set_vcpu(v, vcpu);
    assert_int_equal(fake_vm_mmio_read(v, VLAPIC_BASE + off, 4, &x), 0);
    return (uint32_t)x;
}

static void wr(struct fake_vm *v, unsigned vcpu, unsigned off, uint32_t val)
{
    fake_vm_set_vcpu(v, vcpu);
    assert_int_equal(fake_vm_mmio_write(v, VLAPIC_BASE + off, 4, val), 0);
}

static bool in_reg(struct fake_vm *v, unsigned vcpu, unsigned base, unsigned vec)
{
    return rd(v, vcpu, base + vec / 32 * 16) >> (vec % 32) & 1;
}

static bool irr_has(struct fake_vm *v, unsigned vcpu, unsigned vec)
{
    return in_reg(v, vcpu, 0x200, vec);
}

static void enable_all(struct fake_vm *v)
{
    for (unsigned i = 0; i < NV; i++)
        wr(v, i, 0xf0, 0x1ff);
}

/* ---- registers ---- */

static void test_reset_values(void **state)
{
    (void)state;
    static const unsigned lvts[] = { 0x2f0, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370 };
    for (unsigned i = 0; i < NV; i++) {
        assert_int_equal(rd(&fv, i, 0x20), i << 24);           /* 11.4.6: ID in 31:24 */
        assert_int_equal(rd(&fv, i, 0x30), 0x00050014);
        assert_int_equal(rd(&fv, i, 0x80), 0);
        assert_int_equal(rd(&fv, i, 0x90), 0);
        assert_int_equal(rd(&fv, i, 0xa0), 0);
        assert_int_equal(rd(&fv, i, 0xd0), 0);
        assert_int_equal(rd(&fv, i, 0xe0), 0xffffffff);
        assert_int_equal(rd(&fv, i, 0xf0), 0xff);
        for (unsigned k = 0; k < 7; k++)
            assert_int_equal(rd(&fv, i, lvts[k]), 0x10000);
        for (unsigned off = 0x100; off < 0x280; off += 16)
            assert_int_equal(rd(&fv, i, off), 0);
        assert_int_equal(rd(&fv, i, 0x280), 0);
        assert_int_equal(rd(&fv, i, 0x300), 0);
        assert_int_equal(rd(&fv, i, 0x310), 0);
        assert_int_equal(rd(&fv, i, 0x380), 0);
        assert_int_equal(rd(&fv, i, 0x390), 0);
        assert_int_equal(rd(&fv, i, 0x3e0), 0);
        assert_false(vlapic_extint_enabled(lapic(&fv), i));
    }
    wr(&fv, 1, 0x20, 0x07000000);                              /* the ID is read-only here */
    wr(&fv, 1, 0x30, 0);
    assert_int_equal(rd(&fv, 1, 0x20), 1u << 24);
    assert_int_equal(rd(&fv, 1, 0x30), 0x00050014);
}

static void test_access_rules(void **state)
{
    (void)state;
    uint64_t x;
    fake_vm_set_vcpu(&fv, 0);
    assert_int_equal(fake_vm_mmio_read(&fv, VLAPIC_BASE + 0x30, 1, &x), -EINVAL);
    assert_int_equal(fake_vm_mmio_read(&fv, VLAPIC_BASE + 0x30, 8, &x), -EINVAL);
    assert_int_equal(fake_vm_mmio_write(&fv, VLAPIC_BASE + 0x80, 2, 0x10), -EINVAL);
    assert_int_equal(rd(&fv, 0, 0x80), 0);
    assert_int_equal(rd(&fv, 0, 0x34), 0);                     /* between registers */
    wr(&fv, 0, 0x84, 0x50);
    assert_int_equal(rd(&fv, 0, 0x80), 0);
    /* A reserved register reads 0 and logs "illegal register address" (11.5.3, bit 7). */
    assert_int_equal(rd(&fv, 0, 0x400), 0);
    assert_int_equal(rd(&fv, 0, 0x280), 0);                    /* not latched yet */
    wr(&fv, 0, 0x280, 0);
    assert_int_equal(rd(&fv, 0, 0x280), 0x80);
    assert_int_equal(rd(&fv, 1, 0x280), 0);                    /* vCPU 1's is its own */
    wr(&fv, 0, 0x280, 0);
    assert_int_equal(rd(&fv, 0, 0x280), 0);
    /* A vCPU the VM lacks: the access faults. */
    fake_vm_set_vcpu(&fv, NV);
    assert_int_equal(fake_vm_mmio_read(&fv, VLAPIC_BASE + 0x20, 4, &x), -EINVAL);
    /* Reserved bits of writable registers read back as 0. */
    wr(&fv, 0, 0x80, 0xffffffff);
    assert_int_equal(rd(&fv, 0, 0x80), 0xff);
    wr(&fv, 0, 0xd0, 0xffffffff);
    assert_int_equal(rd(&fv, 0, 0xd0), 0xff000000);
    wr(&fv, 0, 0xe0, 0);
    assert_int_equal(rd(&fv, 0, 0xe0), 0x0fffffff);
    wr(&fv, 0, 0xf0, 0xffffffff);
    assert_int_equal(rd(&fv, 0, 0xf0), 0x3ff);
    wr(&fv, 0, 0x3e0, 0xffffffff);
    assert_int_equal(rd(&fv, 0, 0x3e0), 0xb);
    wr(&fv, 0, 0x310, 0xffffffff);
    assert_int_equal(rd(&fv, 0, 0x310), 0xff000000);
    wr(&fv, 0, 0x370, 0xffffffff);                             /* error LVT: vector, mask */
    assert_int_equal(rd(&fv, 0, 0x370), 0x100ff);
    wr(&fv, 0, 0x350, 0xffffffff);                             /* LINT0: no remote IRR */
    assert_int_equal(rd(&fv, 0, 0x350), 0x1a7ff);
}

static void test_svr_enable_and_masked_lvts(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    wr(&fv, 0, 0x320, 0x20030);                                /* periodic, unmasked */
    assert_int_equal(rd(&fv, 0, 0x320), 0x30030);              /* 11.4.7.2: stays masked */
    assert_int_equal(vlapic_accept(d, 0, 0x40, false), -EPERM);
    assert_false(irr_has(&fv, 0, 0x40));
    wr(&fv, 0, 0xf0, 0x1ff);
    assert_int_equal(rd(&fv, 0, 0x320), 0x30030);              /* enabling unmasks nothing */
    wr(&fv, 0, 0x320, 0x20030);
    wr(&fv, 0, 0x350, 0x700);
    assert_int_equal(rd(&fv, 0, 0x320), 0x20030);
    assert_int_equal(vlapic_accept(d, 0, 0x40, false), 0);
    assert_true(irr_has(&fv, 0, 0x40));
    assert_true(vlapic_extint_enabled(d, 0));
    wr(&fv, 0, 0xf0, 0xff);                                    /* software disable */
    assert_int_equal(rd(&fv, 0, 0x320), 0x30030);
    assert_int_equal(rd(&fv, 0, 0x350), 0x10700);
    assert_false(vlapic_extint_enabled(d, 0));
    assert_true(irr_has(&fv, 0, 0x40));                        /* what was pending stays */
    assert_int_equal(vlapic_accept(d, 0, 0x50, false), -EPERM);
    assert_false(irr_has(&fv, 0, 0x50));
}

/* ---- priorities, acknowledge, EOI ---- */

static void test_tpr_ppr_priority_classes(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    enable_all(&fv);
    assert_int_equal(vlapic_accept(d, 0, 0x45, false), 0);
    assert_int_equal(vlapic_pending(d, 0), 0x45);
    wr(&fv, 0, 0x80, 0x40);                                    /* class 4 does not beat 4 */
    assert_int_equal(rd(&fv, 0, 0xa0), 0x40);
    assert_int_equal(vlapic_pending(d, 0), -1);
    assert_int_equal(vlapic_ack(d, 0), -1);
    wr(&fv, 0, 0x80, 0x3f);
    assert_int_equal(rd(&fv, 0, 0xa0), 0x3f);
    assert_int_equal(rd(&fv, 0, 0x90), 0x40);                  /* APR: the IRR's class wins */
    assert_int_equal(vlapic_ack(d, 0), 0x45);
    assert_true(in_reg(&fv, 0, 0x100, 0x45));
    assert_false(irr_has(&fv, 0, 0x45));
    assert_int_equal(rd(&fv, 0, 0xa0), 0x40);                  /* ISRV class 4 > TPR class 3 */
    assert_int_equal(vlapic_accept(d, 0, 0x4f, false), 0);
    assert_int_equal(vlapic_pending(d, 0), -1);                /* same class as in service */
    assert_int_equal(vlapic_accept(d, 0, 0x51, false), 0);
    assert_int_equal(vlapic_pending(d, 0), 0x51);
    assert_int_equal(vlapic_ack(d, 0), 0x51);
    assert_int_equal(rd(&fv, 0, 0xa0), 0x50);
    wr(&fv, 0, 0x80, 0x60);
    assert_int_equal(rd(&fv, 0, 0xa0), 0x60);                  /* TPR class above ISRV's */
    wr(&fv, 0, 0x80, 0);
    wr(&fv, 0, 0xb0, 0);                                       /* EOI retires 0x51 */
    assert_false(in_reg(&fv, 0, 0x100, 0x51));
    assert_int_equal(rd(&fv, 0, 0xa0), 0x40);
    assert_int_equal(vlapic_pending(d, 0), -1);
    wr(&fv, 0, 0xb0, 0);                                       /* ... then 0x45 */
    assert_int_equal(rd(&fv, 0, 0xa0), 0);
    assert_int_equal(vlapic_pending(d, 0), 0x4f);
    assert_int_equal(eoi_calls, 0);                            /* all edge-triggered */
}

static void test_nesting_and_level_eoi(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    bool level = true;
    enable_all(&fv);
    assert_int_equal(vlapic_eoi(d, 1, &level), -1);            /* nothing in service */
    assert_false(level);
    assert_int_equal(vlapic_accept(d, 1, 0x30, false), 0);
    assert_int_equal(vlapic_ack(d, 1), 0x30);
    assert_int_equal(vlapic_accept(d, 1, 0x81, true), 0);      /* level: TMR set (11.8.4) */
    assert_true(in_reg(&fv, 1, 0x180, 0x81));
    assert_int_equal(vlapic_ack(d, 1), 0x81);                  /* a higher one preempts */
    assert_int_equal(vlapic_accept(d, 1, 0x40, false), 0);
    assert_int_equal(vlapic_pending(d, 1), -1);                /* a lower one waits */
    assert_int_equal(rd(&fv, 1, 0x100 + 0x30 / 32 * 16), 1u << (0x30 % 32));
    wr(&fv, 1, 0xb0, 0);                                       /* retires the highest: 0x81 */
    assert_int_equal(eoi_calls, 1);
    assert_int_equal(eoi_vcpu, 1);
    assert_int_equal(eoi_vector, 0x81);
    assert_false(in_reg(&fv, 1, 0x100, 0x81));
    assert_true(in_reg(&fv, 1, 0x100, 0x30));
    assert_int_equal(vlapic_ack(d, 1), 0x40);                  /* class 4 beats 3 now */
    assert_int_equal(vlapic_eoi(d, 1, &level), 0x40);
    assert_false(level);
    assert_int_equal(vlapic_eoi(d, 1, &level), 0x30);
    assert_int_equal(eoi_calls, 1);
    assert_int_equal(vlapic_pending(d, 1), -1);
    assert_int_equal(rd(&fv, 0, 0x100 + 0x30 / 32 * 16), 0);   /* vCPU 0 saw none of it */
}

static void test_illegal_vectors_and_esr(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    enable_all(&fv);
    assert_int_equal(vlapic_accept(d, 0, 5, false), -EPERM);
    assert_int_equal(rd(&fv, 0, 0x200), 0);
    assert_int_equal(rd(&fv, 0, 0x280), 0);                    /* write first, then read */
    wr(&fv, 0, 0x280, 0);
    assert_int_equal(rd(&fv, 0, 0x280), 0x40);                 /* received illegal vector */
    wr(&fv, 0, 0x280, 0);
    assert_int_equal(rd(&fv, 0, 0x280), 0);
    /* Sending one: "send illegal vector" on the sender, nothing at the target. */
    wr(&fv, 0, 0x310, 1u << 24);
    wr(&fv, 0, 0x300, 0x4003);
    assert_int_equal(rd(&fv, 1, 0x200), 0);
    wr(&fv, 0, 0x280, 0);
    assert_int_equal(rd(&fv, 0, 0x280), 0x20);
    wr(&fv, 1, 0x280, 0);
    assert_int_equal(rd(&fv, 1, 0x280), 0);
    /* An unmasked LVT error entry raises its vector when an error is logged. */
    wr(&fv, 0, 0x370, 0xfe);
    assert_int_equal(vlapic_accept(d, 0, 15, false), -EPERM);
    assert_int_equal(vlapic_pending(d, 0), 0xfe);
}

/* ---- the timer ---- */

static void test_timer_one_shot(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    enable_all(&fv);
    wr(&fv, 0, 0x3e0, 0xb);                                    /* divide by 1 */
    wr(&fv, 0, 0x320, 0x30);
    uint64_t t0 = fv.now_ns;
    wr(&fv, 0, 0x380, 1000);
    assert_int_equal(rd(&fv, 0, 0x380), 1000);
    assert_int_equal(rd(&fv, 0, 0x390), 1000);
    fake_vm_advance(&fv, 400);
    assert_int_equal(rd(&fv, 0, 0x390), 600);
    assert_int_equal(fake_vm_poll(&fv), t0 + 1000);
    assert_false(irr_has(&fv, 0, 0x30));
    fake_vm_advance(&fv, 599);
    assert_int_equal(rd(&fv, 0, 0x390), 1);
    assert_int_equal(fake_vm_poll(&fv), t0 + 1000);
    assert_false(irr_has(&fv, 0, 0x30));
    fake_vm_advance(&fv, 1);
    assert_int_equal(rd(&fv, 0, 0x390), 0);
    assert_int_equal(fake_vm_poll(&fv), 0);                    /* nothing more to come */
    assert_int_equal(vlapic_ack(d, 0), 0x30);
    wr(&fv, 0, 0xb0, 0);
    fake_vm_advance(&fv, 100000);
    assert_int_equal(rd(&fv, 0, 0x390), 0);                    /* stays at 0 */
    assert_int_equal(fake_vm_poll(&fv), 0);
    assert_int_equal(vlapic_pending(d, 0), -1);
    assert_int_equal(fv.vcpu_kicks[0], 0);                     /* its own timer: no kick */
}

static void test_timer_periodic_collapses_missed_periods(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    enable_all(&fv);
    wr(&fv, 0, 0x3e0, 0);                                      /* divide by 2 */
    wr(&fv, 0, 0x320, 0x20031);
    uint64_t t0 = fv.now_ns;
    wr(&fv, 0, 0x380, 500);                                    /* 1000 ns a period */
    fake_vm_advance(&fv, 999);
    assert_int_equal(fake_vm_poll(&fv), t0 + 1000);
    assert_int_equal(vlapic_pending(d, 0), -1);
    fake_vm_advance(&fv, 1);
    assert_int_equal(rd(&fv, 0, 0x390), 500);                  /* reloaded */
    assert_int_equal(fake_vm_poll(&fv), t0 + 2000);
    assert_int_equal(vlapic_ack(d, 0), 0x31);
    wr(&fv, 0, 0xb0, 0);
    for (unsigned p = 2; p <= 4; p++) {                        /* several periods */
        fake_vm_advance(&fv, 1000);
        assert_int_equal(fake_vm_poll(&fv), t0 + (p + 1) * 1000);
        assert_int_equal(vlapic_ack(d, 0), 0x31);
        wr(&fv, 0, 0xb0, 0);
    }
    fake_vm_advance(&fv, 3500);                                /* periods 5, 6, 7 missed */
    assert_int_equal(rd(&fv, 0, 0x390), 250);
    assert_int_equal(fake_vm_poll(&fv), t0 + 8000);
    assert_int_equal(vlapic_ack(d, 0), 0x31);                  /* one interrupt for them */
    assert_int_equal(vlapic_ack(d, 0), -1);
    wr(&fv, 0, 0xb0, 0);
    assert_int_equal(fake_vm_poll(&fv), t0 + 8000);
    assert_int_equal(vlapic_pending(d, 0), -1);
    /* Masked: the count goes on, the interrupt is lost. */
    wr(&fv, 0, 0x320, 0x30031);
    fake_vm_advance(&fv, 500);
    assert_int_equal(fake_vm_poll(&fv), t0 + 9000);
    assert_int_equal(vlapic_pending(d, 0), -1);
    /* A zero initial count stops it. */
    wr(&fv, 0, 0x320, 0x20031);
    wr(&fv, 0, 0x380, 0);
    assert_int_equal(rd(&fv, 0, 0x390), 0);
    assert_int_equal(fake_vm_poll(&fv), 0);
    fake_vm_advance(&fv, 1000000);
    assert_int_equal(fake_vm_poll(&fv), 0);
    assert_int_equal(vlapic_pending(d, 0), -1);
}

static void test_timer_divide_values(void **state)
{
    (void)state;
    static const struct { uint32_t dcr; unsigned div; } tab[] = {
        { 0x0, 2 }, { 0x1, 4 }, { 0x2, 8 }, { 0x3, 16 },
        { 0x8, 32 }, { 0x9, 64 }, { 0xa, 128 }, { 0xb, 1 },
    };
    enable_all(&fv);
    wr(&fv, 0, 0x320, 0x30);
    for (unsigned i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        wr(&fv, 0, 0x3e0, tab[i].dcr | 0x4);                   /* bit 2 is reserved */
        assert_int_equal(rd(&fv, 0, 0x3e0), tab[i].dcr);
        uint64_t t0 = fv.now_ns;
        wr(&fv, 0, 0x380, 1000000);
        fake_vm_advance(&fv, 128 * 10);
        assert_int_equal(rd(&fv, 0, 0x390), 1000000 - 1280 / tab[i].div);
        assert_int_equal(fake_vm_poll(&fv), t0 + 1000000ull * tab[i].div);
    }
    /* 11.5.4: the divider sets the rate; changing it mid-count does not move the count. */
    wr(&fv, 0, 0x3e0, 0xb);
    wr(&fv, 0, 0x380, 10000);
    fake_vm_advance(&fv, 1000);
    assert_int_equal(rd(&fv, 0, 0x390), 9000);
    wr(&fv, 0, 0x3e0, 0x0);                                    /* now by 2 */
    assert_int_equal(rd(&fv, 0, 0x390), 9000);
    fake_vm_advance(&fv, 1000);
    assert_int_equal(rd(&fv, 0, 0x390), 8500);
    assert_int_equal(fake_vm_poll(&fv), fv.now_ns + 8500 * 2);
}

static void test_tsc_deadline(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    const uint32_t khz = 3000000;                              /* 3 GHz: 3 cycles a ns */
    enable_all(&fv);
    /* Outside TSC-deadline mode the MSR ignores writes and reads 0. */
    assert_int_equal(vlapic_tsc_deadline_write(d, 0, 5000, 1000, khz), 0);
    assert_int_equal(vlapic_tsc_deadline_read(d, 0), 0);
    assert_int_equal(vlapic_tsc_deadline_write(d, 0, 5000, 1000, 0), -EINVAL);
    wr(&fv, 0, 0x3e0, 0xb);
    wr(&fv, 0, 0x320, 0x30);
    wr(&fv, 0, 0x380, 100000);
    wr(&fv, 0, 0x320, 0x40032);                                /* TSC-deadline: disarms */
    assert_int_equal(rd(&fv, 0, 0x320), 0x40032);
    assert_int_equal(rd(&fv, 0, 0x380), 0);
    wr(&fv, 0, 0x380, 100000);                                 /* ignored in this mode */
    assert_int_equal(rd(&fv, 0, 0x380), 0);
    assert_int_equal(rd(&fv, 0, 0x390), 0);
    assert_int_equal(fake_vm_poll(&fv), 0);
    uint64_t t0 = fv.now_ns;
    assert_int_equal(vlapic_tsc_deadline_write(d, 0, 1000000 + 3000, 1000000, khz), 0);
    assert_int_equal(vlapic_tsc_deadline_read(d, 0), 1003000);
    assert_int_equal(fake_vm_poll(&fv), t0 + 1000);
    fake_vm_advance(&fv, 999);
    assert_int_equal(fake_vm_poll(&fv), t0 + 1000);
    assert_int_equal(vlapic_pending(d, 0), -1);
    fake_vm_advance(&fv, 1);
    assert_int_equal(fake_vm_poll(&fv), 0);
    assert_int_equal(vlapic_pending(d, 0), 0x32);
    assert_int_equal(vlapic_tsc_deadline_read(d, 0), 0);       /* it clears itself */
    /* A deadline already passed fires at the next poll; 0 disarms. */
    assert_int_equal(vlapic_tsc_deadline_write(d, 1, 10, 500, khz), 0);   /* not in mode */
    assert_int_equal(vlapic_tsc_deadline_write(d, 0, 10, 500, khz), 0);
    assert_int_equal(vlapic_ack(d, 0), 0x32);
    assert_int_equal(fake_vm_poll(&fv), 0);
    assert_int_equal(vlapic_pending(d, 0), -1);                /* 0x32 is in service */
    wr(&fv, 0, 0xb0, 0);
    assert_int_equal(vlapic_pending(d, 0), 0x32);
    assert_int_equal(vlapic_ack(d, 0), 0x32);
    wr(&fv, 0, 0xb0, 0);
    assert_int_equal(vlapic_tsc_deadline_write(d, 0, 9000000, 0, khz), 0);
    assert_int_equal(vlapic_tsc_deadline_write(d, 0, 0, 0, khz), 0);
    fake_vm_advance(&fv, 10000000);
    assert_int_equal(fake_vm_poll(&fv), 0);
    assert_int_equal(vlapic_pending(d, 0), -1);
    /* Leaving the mode disarms too. */
    assert_int_equal(vlapic_tsc_deadline_write(d, 0, 9000000, 0, khz), 0);
    wr(&fv, 0, 0x320, 0x30);
    assert_int_equal(vlapic_tsc_deadline_read(d, 0), 0);
    assert_int_equal(fake_vm_poll(&fv), 0);
}

static void test_poll_across_vcpus_kicks(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    enable_all(&fv);
    uint64_t t0 = fv.now_ns;
    for (unsigned i = 1; i <= 2; i++) {
        wr(&fv, i, 0x3e0, 0xb);
        wr(&fv, i, 0x320, 0x40 + i);
        wr(&fv, i, 0x380, i == 1 ? 5000 : 3000);
    }
    fake_vm_set_vcpu(&fv, 0);                                  /* vCPU 0 polls for the VM */
    assert_int_equal(fake_vm_poll(&fv), t0 + 3000);
    fake_vm_advance(&fv, 3000);
    assert_int_equal(fake_vm_poll(&fv), t0 + 5000);
    assert_int_equal(vlapic_pending(d, 2), 0x42);
    assert_int_equal(vlapic_pending(d, 1), -1);
    assert_int_equal(fv.vcpu_kicks[2], 1);
    assert_int_equal(fv.vcpu_kicks[1], 0);
    fake_vm_advance(&fv, 2000);
    assert_int_equal(fake_vm_poll(&fv), 0);
    assert_int_equal(vlapic_pending(d, 1), 0x41);
    assert_int_equal(fv.vcpu_kicks[1], 1);
}

/* ---- IPIs ---- */

static void test_ipi_self_and_fixed(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    enable_all(&fv);
    wr(&fv, 0, 0x300, 0x40040);                                /* self, fixed, 0x40 */
    assert_int_equal(rd(&fv, 0, 0x300), 0x40040);              /* delivery status idle */
    assert_int_equal(vlapic_pending(d, 0), 0x40);
    assert_int_equal(fv.vcpu_kicks[0], 0);
    wr(&fv, 0, 0x310, 2u << 24);
    wr(&fv, 0, 0x300, 0x4050);                                 /* physical, to APIC 2 */
    assert_int_equal(vlapic_pending(d, 2), 0x50);
    assert_int_equal(fv.vcpu_kicks[2], 1);
    assert_int_equal(vlapic_pending(d, 1), -1);
    assert_int_equal(vlapic_pending(d, 3), -1);
    assert_int_equal(fv.vcpu_kicks[1] + fv.vcpu_kicks[3], 0);
    /* A target whose APIC is software-disabled drops a fixed IPI. */
    wr(&fv, 3, 0xf0, 0xff);
    wr(&fv, 0, 0x310, 3u << 24);
    wr(&fv, 0, 0x300, 0x4051);
    assert_int_equal(vlapic_pending(d, 3), -1);
    assert_int_equal(fv.vcpu_kicks[3], 0);
}

static void test_ipi_broadcasts(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    enable_all(&fv);
    wr(&fv, 1, 0x300, 0xc0060);                                /* all but self */
    for (unsigned i = 0; i < NV; i++)
        assert_int_equal(vlapic_pending(d, i), i == 1 ? -1 : 0x60);
    assert_int_equal(fv.vcpu_kicks[1], 0);
    assert_int_equal(fv.vcpu_kicks[0] + fv.vcpu_kicks[2] + fv.vcpu_kicks[3], 3);
    wr(&fv, 2, 0x300, 0x80070);                                /* all including self */
    for (unsigned i = 0; i < NV; i++)
        assert_true(irr_has(&fv, i, 0x70));
    wr(&fv, 3, 0x310, 0xff000000);                             /* physical 0xFF: broadcast */
    wr(&fv, 3, 0x300, 0x4080);
    for (unsigned i = 0; i < NV; i++)
        assert_true(irr_has(&fv, i, 0x80));
    /* Table 11-3: only fixed goes with "self" or "all including self". */
    wr(&fv, 0, 0x300, 0x80400);
    wr(&fv, 0, 0x300, 0x40400);
    struct vlapic_events ev;
    for (unsigned i = 0; i < NV; i++)
        assert_false(vlapic_take_events(d, i, &ev));
}

static void test_ipi_logical_flat_and_cluster(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    enable_all(&fv);
    for (unsigned i = 0; i < NV; i++)
        wr(&fv, i, 0xd0, (1u << i) << 24);                     /* flat: one bit each */
    wr(&fv, 0, 0x310, 0x0a000000);
    wr(&fv, 0, 0x300, 0x4890);                                 /* logical, MDA 0x0A */
    for (unsigned i = 0; i < NV; i++)
        assert_int_equal(irr_has(&fv, i, 0x90), i == 1 || i == 3);
    /* Lowest priority: here, the lowest-numbered of the targets. */
    wr(&fv, 0, 0x310, 0x0c000000);
    wr(&fv, 0, 0x300, 0x4991);
    for (unsigned i = 0; i < NV; i++)
        assert_int_equal(irr_has(&fv, i, 0x91), i == 2);
    /* Cluster model: LDR high nibble the cluster, low nibble the members. */
    static const uint8_t ldr[NV] = { 0x11, 0x12, 0x21, 0x22 };
    for (unsigned i = 0; i < NV; i++) {
        wr(&fv, i, 0xe0, 0x0fffffff);
        wr(&fv, i, 0xd0, (uint32_t)ldr[i] << 24);
    }
    wr(&fv, 3, 0x310, 0x13000000);
    wr(&fv, 3, 0x300, 0x48a0);
    wr(&fv, 3, 0x310, 0x21000000);
    wr(&fv, 3, 0x300, 0x48a1);
    wr(&fv, 3, 0x310, 0x31000000);                             /* no such cluster */
    wr(&fv, 3, 0x300, 0x48a2);
    wr(&fv, 3, 0x310, 0x0a000000);                             /* as flat this would hit 1, 3 */
    wr(&fv, 3, 0x300, 0x48a3);
    for (unsigned i = 0; i < NV; i++) {
        assert_int_equal(irr_has(&fv, i, 0xa0), i == 0 || i == 1);
        assert_int_equal(irr_has(&fv, i, 0xa1), i == 2);
        assert_false(irr_has(&fv, i, 0xa2));
        assert_false(irr_has(&fv, i, 0xa3));
    }
    (void)d;
}

static void test_nmi_init_sipi_events(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    struct vlapic_events ev;
    enable_all(&fv);
    wr(&fv, 0, 0x310, 1u << 24);
    wr(&fv, 0, 0x300, 0x4400);                                 /* NMI to 1 */
    assert_true(vlapic_take_events(d, 1, &ev));
    assert_true(ev.nmi);
    assert_false(ev.init || ev.sipi);
    assert_false(vlapic_take_events(d, 1, &ev));               /* taken once */
    assert_int_equal(fv.vcpu_kicks[1], 1);
    /* Linux's wakeup: INIT assert, INIT de-assert, SIPI, SIPI. */
    wr(&fv, 2, 0x80, 0x20);
    wr(&fv, 0, 0x310, 2u << 24);
    wr(&fv, 0, 0x300, 0xc500);
    assert_int_equal(rd(&fv, 2, 0xf0), 0xff);                  /* 11.4.7.3: INIT reset it */
    assert_int_equal(rd(&fv, 2, 0x80), 0);
    assert_int_equal(rd(&fv, 2, 0x20), 2u << 24);
    wr(&fv, 0, 0x300, 0x8500);                                 /* de-assert: nothing */
    wr(&fv, 0, 0x300, 0x069a);
    wr(&fv, 0, 0x300, 0x069a);
    assert_true(vlapic_take_events(d, 2, &ev));
    assert_true(ev.init);
    assert_true(ev.sipi);
    assert_int_equal(ev.sipi_vector, 0x9a);
    assert_false(ev.nmi);
    assert_int_equal(fv.vcpu_kicks[2], 3);
    assert_false(vlapic_take_events(d, 2, &ev));
    assert_false(vlapic_take_events(d, 3, &ev));
    assert_false(vlapic_take_events(d, 0, &ev));
    /* A SIPI to an APIC ID no vCPU has goes nowhere. */
    wr(&fv, 0, 0x310, 7u << 24);
    wr(&fv, 0, 0x300, 0x0610);
    for (unsigned i = 0; i < NV; i++)
        assert_false(vlapic_take_events(d, i, &ev));
    assert_int_equal(fv.vcpu_kicks[3], 0);
}

static void test_icr_reserved_bits_and_modes(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    struct vlapic_events ev;
    enable_all(&fv);
    wr(&fv, 0, 0x300, 0xffffffff);                             /* all but self, ExtINT */
    assert_int_equal(rd(&fv, 0, 0x300), 0x000ccfff);           /* reserved and status read 0 */
    for (unsigned i = 0; i < NV; i++) {
        assert_int_equal(vlapic_pending(d, i), -1);
        assert_false(vlapic_take_events(d, i, &ev));
    }
    wr(&fv, 0, 0x310, 1u << 24);
    wr(&fv, 0, 0x300, 0x4340);                                 /* delivery mode 011: reserved */
    wr(&fv, 0, 0x300, 0x4240);                                 /* SMI: no SMM here */
    assert_int_equal(vlapic_pending(d, 1), -1);
    assert_false(vlapic_take_events(d, 1, &ev));
    assert_int_equal(fv.vcpu_kicks[1], 0);
    wr(&fv, 0, 0x300, 0xfff34041);                             /* reserved bits: still sent */
    assert_int_equal(vlapic_pending(d, 1), 0x41);
}

static void test_extint_and_hw_disable(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    assert_false(vlapic_extint_enabled(d, 0));
    assert_int_equal(vlapic_set_mode(d, 1, VLAPIC_DISABLED), 0);
    assert_true(vlapic_extint_enabled(d, 1));                  /* INTR goes to the CPU */
    assert_int_equal(rd(&fv, 1, 0x30), 0xffffffff);            /* off the bus */
    assert_int_equal(vlapic_accept(d, 1, 0x40, false), -EPERM);
    assert_int_equal(vlapic_set_mode(d, 1, VLAPIC_XAPIC), 0);
    assert_false(vlapic_extint_enabled(d, 1));
    assert_int_equal(rd(&fv, 1, 0x30), 0x00050014);
    assert_int_equal(vlapic_set_mode(d, NV, VLAPIC_XAPIC), -EINVAL);
    /* As firmware leaves vCPU 0 for an OS: virtual wire through LINT0. */
    fake_vm_build(&fv2, &fw_machine);
    struct device *d2 = lapic(&fv2);
    assert_true(vlapic_extint_enabled(d2, 0));
    assert_false(vlapic_extint_enabled(d2, 1));
    assert_int_equal(rd(&fv2, 0, 0xf0), 0x1ff);
    assert_int_equal(rd(&fv2, 0, 0x350), 0x700);
    assert_int_equal(rd(&fv2, 0, 0x360), 0x400);
    assert_int_equal(rd(&fv2, 1, 0xf0), 0xff);
    wr(&fv2, 0, 0x350, 0x10700);
    assert_false(vlapic_extint_enabled(d2, 0));
    fake_vm_destroy(&fv2);
}

/* ---- x2APIC mode (11.12) ---- */

static void put32(uint8_t *p, uint32_t v);

static uint64_t rdm(struct fake_vm *v, unsigned vcpu, uint32_t msr)
{
    uint64_t x = 0xdeadbeef;
    fake_vm_set_vcpu(v, vcpu);
    assert_int_equal(fake_vm_rdmsr(v, msr, &x), 0);
    return x;
}

static void wrm(struct fake_vm *v, unsigned vcpu, uint32_t msr, uint64_t val)
{
    fake_vm_set_vcpu(v, vcpu);
    assert_int_equal(fake_vm_wrmsr(v, msr, val), 0);
}

static int rdm_rc(struct fake_vm *v, unsigned vcpu, uint32_t msr)
{
    uint64_t x;
    fake_vm_set_vcpu(v, vcpu);
    return fake_vm_rdmsr(v, msr, &x);
}

static int wrm_rc(struct fake_vm *v, unsigned vcpu, uint32_t msr, uint64_t val)
{
    fake_vm_set_vcpu(v, vcpu);
    return fake_vm_wrmsr(v, msr, val);
}

static void all_x2apic(struct fake_vm *v)
{
    struct device *d = lapic(v);
    for (unsigned i = 0; i < NV; i++) {
        assert_int_equal(vlapic_set_mode(d, i, VLAPIC_X2APIC), 0);
        wrm(v, i, 0x80f, 0x1ff);
    }
}

static void test_x2apic_transitions(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    assert_int_equal(vlapic_get_mode(d, 1), VLAPIC_XAPIC);
    assert_int_equal(rdm_rc(&fv, 1, 0x802), -EINVAL);          /* 11.12.2: not in xAPIC mode */
    assert_int_equal(wrm_rc(&fv, 1, 0x808, 0), -EINVAL);
    wr(&fv, 1, 0x80, 0x20);
    wr(&fv, 1, 0xf0, 0x1ff);
    assert_int_equal(vlapic_set_mode(d, 1, VLAPIC_X2APIC), 0);
    assert_int_equal(vlapic_get_mode(d, 1), VLAPIC_X2APIC);
    assert_int_equal(rdm(&fv, 1, 0x808), 0x20);                /* the registers stay */
    assert_int_equal(rdm(&fv, 1, 0x80f), 0x1ff);
    assert_int_equal(rd(&fv, 1, 0x30), 0xffffffff);            /* MMIO: as a disabled APIC */
    wr(&fv, 1, 0x80, 0x40);
    assert_int_equal(rdm(&fv, 1, 0x808), 0x20);
    assert_int_equal(rd(&fv, 0, 0x30), 0x00050014);            /* vCPU 0 is still xAPIC */
    assert_int_equal(vlapic_set_mode(d, 1, VLAPIC_XAPIC), -EPERM);
    assert_int_equal(vlapic_set_mode(d, 1, VLAPIC_DISABLED), 0);
    assert_int_equal(rdm_rc(&fv, 1, 0x808), -EINVAL);
    assert_int_equal(vlapic_set_mode(d, 1, VLAPIC_X2APIC), -EPERM);
    assert_int_equal(vlapic_get_mode(d, 1), VLAPIC_DISABLED);
    assert_int_equal(vlapic_set_mode(d, 1, VLAPIC_XAPIC), 0);
    assert_int_equal(rd(&fv, 1, 0x80), 0);                     /* disabling reset it */
    assert_int_equal(vlapic_set_mode(d, 1, (enum vlapic_mode)3), -EINVAL);
    assert_int_equal(vlapic_set_mode(d, NV, VLAPIC_X2APIC), -EINVAL);
    assert_int_equal(vlapic_get_mode(d, NV), VLAPIC_DISABLED);
}

static void test_x2apic_registers(void **state)
{
    (void)state;
    all_x2apic(&fv);
    for (unsigned i = 0; i < NV; i++) {
        assert_int_equal(rdm(&fv, i, 0x802), i);               /* 32-bit x2APIC ID */
        assert_int_equal(rdm(&fv, i, 0x803), 0x00050014);
        assert_int_equal(rdm(&fv, i, 0x80d), 1u << i);         /* cluster 0, bit i */
    }
    /* Table 11-6: registers that do not exist, write-only and read-only ones. */
    static const uint32_t no_read[] = { 0x800, 0x801, 0x804, 0x809, 0x80b, 0x80c, 0x80e,
                                        0x829, 0x831, 0x83a, 0x83f, 0x840, 0x8ff };
    for (unsigned i = 0; i < sizeof(no_read) / sizeof(no_read[0]); i++)
        assert_int_equal(rdm_rc(&fv, 0, no_read[i]), -EINVAL);
    static const uint32_t no_write[] = { 0x802, 0x803, 0x809, 0x80a, 0x80d, 0x80e, 0x810,
                                         0x818, 0x820, 0x831, 0x839, 0x8ff };
    for (unsigned i = 0; i < sizeof(no_write) / sizeof(no_write[0]); i++)
        assert_int_equal(wrm_rc(&fv, 0, no_write[i], 0), -EINVAL);
    assert_int_equal(rdm(&fv, 0, 0x802), 0);
    /* 11.12.1.3: a reserved bit in a write is #GP and changes nothing. */
    assert_int_equal(wrm_rc(&fv, 0, 0x808, 0x100), -EINVAL);
    assert_int_equal(wrm_rc(&fv, 0, 0x808, 1ull << 32), -EINVAL);
    assert_int_equal(wrm_rc(&fv, 0, 0x80b, 1), -EINVAL);       /* EOI takes 0 */
    assert_int_equal(wrm_rc(&fv, 0, 0x828, 1), -EINVAL);       /* ESR takes 0 */
    assert_int_equal(wrm_rc(&fv, 0, 0x80f, 0x11ff), -EINVAL);  /* no EOI suppression */
    assert_int_equal(wrm_rc(&fv, 0, 0x832, 0x60030), -EINVAL); /* timer mode 11b */
    assert_int_equal(wrm_rc(&fv, 0, 0x832, 0x1030), -EINVAL);  /* delivery status */
    assert_int_equal(wrm_rc(&fv, 0, 0x83e, 0x4), -EINVAL);
    assert_int_equal(wrm_rc(&fv, 0, 0x830, 0x1030), -EINVAL);  /* ICR delivery status */
    assert_int_equal(wrm_rc(&fv, 0, 0x83f, 0x100), -EINVAL);
    assert_int_equal(rdm(&fv, 0, 0x808), 0);
    assert_int_equal(rdm(&fv, 0, 0x80f), 0x1ff);
    assert_int_equal(rdm(&fv, 0, 0x832), 0x10000);
    wrm(&fv, 0, 0x808, 0x35);
    assert_int_equal(rdm(&fv, 0, 0x808), 0x35);
    assert_int_equal(rdm(&fv, 0, 0x80a), 0x35);                /* PPR */
    wrm(&fv, 0, 0x808, 0);
    /* The timer through its MSRs: divide by 2, one-shot of 1000 ticks. */
    wrm(&fv, 0, 0x832, 0x30);
    wrm(&fv, 0, 0x83e, 0);
    wrm(&fv, 0, 0x838, 1000);
    fake_vm_advance(&fv, 600);
    assert_int_equal(rdm(&fv, 0, 0x839), 700);
    fake_vm_advance(&fv, 1400);
    (void)fake_vm_poll(&fv);
    assert_int_equal(rdm(&fv, 0, 0x821) >> 16 & 1, 1);         /* IRR: vector 0x30 */
    assert_int_equal(vlapic_ack(lapic(&fv), 0), 0x30);
    assert_int_equal(rdm(&fv, 0, 0x811) >> 16 & 1, 1);         /* ISR */
    wrm(&fv, 0, 0x80b, 0);                                     /* EOI */
    assert_int_equal(rdm(&fv, 0, 0x811), 0);
    /* SELF IPI: a fixed edge vector to this APIC; one below 16 is a send error. */
    wrm(&fv, 2, 0x83f, 0x45);
    assert_int_equal(vlapic_pending(lapic(&fv), 2), 0x45);
    wrm(&fv, 2, 0x83f, 0x05);
    wrm(&fv, 2, 0x828, 0);
    assert_int_equal(rdm(&fv, 2, 0x828), 0x20);
}

static void test_x2apic_destinations(void **state)
{
    (void)state;
    struct device *d = lapic(&fv);
    all_x2apic(&fv);
    /* Physical, 32-bit destination (63:32): vCPU 2 only; 0x2 << 24 would be nobody. */
    wrm(&fv, 0, 0x830, 2ull << 32 | 0x4031);
    assert_int_equal(rdm(&fv, 0, 0x830), 2ull << 32 | 0x4031);
    for (unsigned i = 0; i < NV; i++)
        assert_int_equal(vlapic_pending(d, i), i == 2 ? 0x31 : -1);
    wrm(&fv, 0, 0x830, (2ull << 24) << 32 | 0x4032);        /* APIC ID 0x2000000: nobody */
    for (unsigned i = 0; i < NV; i++)
        assert_int_equal(vlapic_pending(d, i), i == 2 ? 0x31 : -1);
    /* Logical: cluster 0, members 1 and 3. */
    wrm(&fv, 0, 0x830, 0xaull << 32 | 0x4833);
    assert_int_equal(vlapic_pending(d, 1), 0x33);
    assert_int_equal(vlapic_pending(d, 3), 0x33);
    assert_int_equal(vlapic_pending(d, 0), -1);
    /* Cluster 1 has nobody here. */
    wrm(&fv, 0, 0x830, 0x1000full << 32 | 0x4834);
    for (unsigned i = 0; i < NV; i++)
        assert_int_equal(vlapic_pending(d, i) == 0x34, false);
    /* Physical broadcast, 0xFFFFFFFF. */
    wrm(&fv, 1, 0x830, 0xffffffffull << 32 | 0x4035);
    for (unsigned i = 0; i < NV; i++)
        assert_int_equal(vlapic_pending(d, i), 0x35);
    /* An I/O APIC message (8-bit destination) to x2APICs: zero-extended, 0xFF everyone. */
    assert_int_equal(vlapic_deliver_msg(d, 3, false, 0, 0x40, false), 1);
    assert_int_equal(vlapic_pending(d, 3), 0x40);
    assert_int_equal(vlapic_deliver_msg(d, 0xff, false, 0, 0x41, false), NV);
    /* An INIT keeps x2APIC mode (11.12.5.1) and resets the rest. */
    wrm(&fv, 0, 0x830, 1ull << 32 | 0x4500);
    assert_int_equal(vlapic_get_mode(d, 1), VLAPIC_X2APIC);
    assert_int_equal(rdm(&fv, 1, 0x80f), 0xff);
    assert_int_equal(rdm(&fv, 1, 0x80d), 2);
    assert_int_equal(rdm(&fv, 1, 0x802), 1);
    struct vlapic_events ev;
    assert_true(vlapic_take_events(d, 1, &ev));
    assert_true(ev.init);
}

static void test_x2apic_migrates(void **state)
{
    (void)state;
    char why[160];
    all_x2apic(&fv);
    wrm(&fv, 0, 0x830, 3ull << 32 | 0x0036);
    assert_int_equal(vlapic_set_mode(lapic(&fv), 2, VLAPIC_DISABLED), 0);
    fake_vm_build(&fv2, &machine);
    assert_int_equal(fake_vm_migrate(&fv, &fv2, why, sizeof(why)), 0);
    struct device *d = lapic(&fv2);
    assert_int_equal(vlapic_get_mode(d, 0), VLAPIC_X2APIC);
    assert_int_equal(vlapic_get_mode(d, 2), VLAPIC_DISABLED);
    assert_int_equal(rdm(&fv2, 0, 0x830), 3ull << 32 | 0x0036);
    assert_int_equal(rdm(&fv2, 3, 0x80d), 8);
    assert_int_equal(vlapic_pending(d, 3), 0x36);
    /* Records an x2APIC cannot hold are refused: an xAPIC-style LDR, a disabled x2APIC. */
    static uint8_t rec[DEV_RECORD_MAX], bad[DEV_RECORD_MAX];
    int n = dev_save(lapic(&fv), rec, sizeof(rec));
    assert_true(n > 0);
    memcpy(bad, rec, (size_t)n);
    put32(bad + 8 + 204 + 8, 0x01000000);                      /* vCPU 1's LDR */
    assert_int_equal(dev_stage(d, vlapic_type.version, bad, (size_t)n, why, sizeof(why)),
                     -EINVAL);
    memcpy(bad, rec, (size_t)n);
    bad[8 + 204 + 200] |= 1;                                   /* vCPU 1 x2APIC and disabled */
    assert_int_equal(dev_stage(d, vlapic_type.version, bad, (size_t)n, why, sizeof(why)),
                     -EINVAL);
    fake_vm_destroy(&fv2);
}

/* ---- migration ---- */

static void set_up_state(struct fake_vm *v)
{
    struct device *d = lapic(v);
    enable_all(v);
    wr(v, 0, 0x80, 0x21);
    wr(v, 0, 0xd0, 0x04000000);
    wr(v, 0, 0x350, 0x700);
    wr(v, 0, 0x370, 0xef);
    assert_int_equal(vlapic_accept(d, 0, 0x61, true), 0);
    assert_int_equal(vlapic_ack(d, 0), 0x61);
    assert_int_equal(vlapic_accept(d, 0, 0x52, false), 0);
    wr(v, 0, 0x3e0, 0x1);                                      /* divide by 4 */
    wr(v, 0, 0x320, 0x20030);
    wr(v, 0, 0x380, 1000);                                     /* 4000 ns a period */
    fake_vm_advance(v, 5000);                                  /* one period not polled */
    wr(v, 1, 0x320, 0x40033);
    assert_int_equal(vlapic_tsc_deadline_write(d, 1, 2000 + 8000, 2000, 2000000), 0);
    fake_vm_advance(v, 1000);                                  /* 3000 ns to go, count 500 */
    wr(v, 1, 0x310, 3u << 24);
    wr(v, 1, 0x300, 0x4400);                                   /* NMI pending on 3 */
}

static void test_migration_keeps_state(void **state)
{
    (void)state;
    static const unsigned regs[] = { 0x20, 0x30, 0x80, 0x90, 0xa0, 0xd0, 0xe0, 0xf0, 0x100,
                                     0x130, 0x160, 0x180, 0x1b0, 0x1e0, 0x200, 0x230, 0x250,
                                     0x280, 0x2f0, 0x300, 0x310, 0x320, 0x330, 0x340, 0x350,
                                     0x360, 0x370, 0x380, 0x390, 0x3e0 };
    char why[160];
    set_up_state(&fv);
    fake_vm_build(&fv2, &machine);
    fv2.now_ns = 77000000000ull;
    assert_int_equal(fake_vm_migrate(&fv, &fv2, why, sizeof(why)), 0);
    struct device *d = lapic(&fv2);
    for (unsigned v = 0; v < NV; v++)
        for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
            assert_int_equal(rd(&fv2, v, regs[i]), rd(&fv, v, regs[i]));
    assert_int_equal(rd(&fv2, 0, 0x80), 0x21);
    assert_int_equal(rd(&fv2, 0, 0x350), 0x700);
    assert_int_equal(rd(&fv2, 0, 0x390), 500);
    assert_true(in_reg(&fv2, 0, 0x100, 0x61));
    assert_true(in_reg(&fv2, 0, 0x180, 0x61));
    assert_true(irr_has(&fv2, 0, 0x52));
    assert_false(irr_has(&fv2, 0, 0x30));
    assert_int_equal(rd(&fv2, 1, 0x320), 0x40033);
    assert_int_equal(vlapic_tsc_deadline_read(d, 1), 10000);
    /* The period owed fires at the first poll; the next is 2000 ns away, the deadline 3000. */
    uint64_t t = fv2.now_ns;
    fake_vm_set_vcpu(&fv2, 0);
    assert_int_equal(fake_vm_poll(&fv2), t + 2000);
    assert_true(irr_has(&fv2, 0, 0x30));
    fake_vm_advance(&fv2, 2999);
    assert_int_equal(fake_vm_poll(&fv2), t + 3000);
    assert_int_equal(vlapic_pending(d, 1), -1);
    fake_vm_advance(&fv2, 1);
    assert_int_equal(fake_vm_poll(&fv2), t + 6000);
    assert_int_equal(vlapic_pending(d, 1), 0x33);
    struct vlapic_events ev;
    assert_true(vlapic_take_events(d, 3, &ev));
    assert_true(ev.nmi);
    /* EOI on the target still tells the I/O APIC about the level-triggered 0x61. */
    bool level;
    eoi_calls = 0;
    assert_int_equal(vlapic_ack(d, 0), -1);                    /* 0x52 waits behind 0x61 */
    assert_int_equal(vlapic_eoi(d, 0, &level), 0x61);
    assert_true(level);
    assert_int_equal(eoi_calls, 1);
    assert_int_equal(vlapic_ack(d, 0), 0x52);
    /* Back again, with periods delivered: the count and the next period follow. */
    fake_vm_advance(&fv2, 1000);                               /* half of period 3 gone */
    assert_int_equal(fake_vm_poll(&fv2), t + 6000);
    assert_int_equal(fake_vm_migrate(&fv2, &fv, why, sizeof(why)), 0);
    assert_int_equal(rd(&fv, 0, 0x390), 500);
    assert_int_equal(fake_vm_poll(&fv), fv.now_ns + 2000);
    assert_int_equal(vlapic_ack(lapic(&fv), 0), -1);           /* 0x30 was taken already */
    fake_vm_destroy(&fv2);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void test_check_refuses_bad_records(void **state)
{
    (void)state;
    static uint8_t rec[DEV_RECORD_MAX], bad[DEV_RECORD_MAX];
    char why[160];
    set_up_state(&fv);
    fake_vm_build(&fv2, &machine);
    struct device *src = lapic(&fv), *dst = lapic(&fv2);
    int n = dev_save(src, rec, sizeof(rec));
    assert_true(n > 0);
    wr(&fv2, 2, 0x80, 0x33);                                   /* the target's own state */
    /* slot i at 8 + 204 i: id +0, tpr +4, svr +16, lvt timer +40, dcr +68, irr +72 */
    static const struct { unsigned off; uint32_t val; } muts[] = {
        { 0, 3 },                                              /* vCPU count differs */
        { 4, 1 },                                              /* header reserved */
        { 8 + 0, 5u << 24 },                                   /* ID is not the index */
        { 8 + 204 + 4, 0x100 },                                /* TPR reserved bit */
        { 8 + 68, 0x4 },                                       /* DCR reserved bit */
        { 8 + 72, 0x8 },                                       /* vector 3 in IRR */
        { 8 + 104, 0x8000 },                                   /* vector 15 in ISR */
        { 8 + 40, 0x60030 },                                   /* timer mode 11b */
        { 8 + 2 * 204 + 16, 0xff },                            /* disabled, LVTs unmasked? */
        { 8 + 204 + 200, 0x20 },                               /* flag reserved bit */
        { 8 + 204 + 200, 0x10 },                               /* x2APIC with an xAPIC LDR */
        { 8 + NV * 204 + 12, 1 },                              /* a slot beyond the VM's */
        { 8 + 176, 1000 },                                     /* more expiries than time */
    };
    for (unsigned i = 0; i < sizeof(muts) / sizeof(muts[0]); i++) {
        memcpy(bad, rec, (size_t)n);
        put32(bad + muts[i].off, muts[i].val);
        if (muts[i].off == 8 + 2 * 204 + 16) {
            put32(bad + 8 + 2 * 204 + 16, 0xff);               /* SVR disabled ... */
            put32(bad + 8 + 2 * 204 + 36 + 4 * 4, 0x700);      /* ... LINT0 unmasked */
        }
        why[0] = 0;
        assert_int_equal(dev_stage(dst, vlapic_type.version, bad, (size_t)n, why, sizeof(why)),
                         -EINVAL);
        assert_true(why[0] != 0);
        assert_int_equal(rd(&fv2, 2, 0x80), 0x33);             /* untouched */
    }
    assert_int_equal(get32(rec + 8 + 4), 0x21);                /* the layout the table uses */
    assert_int_equal(dev_stage(dst, vlapic_type.version, rec, (size_t)n, why, sizeof(why)), 0);
    dev_set_load_staged(&fv2.devs);
    assert_int_equal(rd(&fv2, 2, 0x80), 0);
    assert_int_equal(rd(&fv2, 0, 0x80), 0x21);
    fake_vm_destroy(&fv2);
}

/* Whatever a guest and the VM do, a saved record passes the type's own check and loads. */
static void test_random_ops_always_migrate(void **state)
{
    (void)state;
    static const unsigned offs[] = { 0x20, 0x80, 0xb0, 0xd0, 0xe0, 0xf0, 0x280, 0x2f0, 0x300,
                                     0x310, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370, 0x380,
                                     0x390, 0x3e0, 0x400, 0x200 };
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    char why[160];
    fake_vm_build(&fv2, &machine);
    struct fake_vm *cur = &fv, *other = &fv2;
    for (unsigned i = 0; i < 20000; i++) {
        uint32_t r = fake_rng_next(&rng), v = fake_rng_next(&rng);
        struct device *d = lapic(cur);
        unsigned vcpu = r % NV;
        switch ((r >> 8) % 10) {
        case 0: case 1: case 2: case 3: {
            unsigned off = offs[(r >> 12) % (sizeof(offs) / sizeof(offs[0]))];
            if (off == 0x320 || off == 0x300)
                v &= (r & 0x100000) ? 0xffffffff : 0x000ccfff & ~0x700u;
            if (off == 0x380)
                v %= 20000;                                    /* timers that do expire */
            wr(cur, vcpu, off, v);
            break;
        }
        case 4: (void)rd(cur, vcpu, 0x390); break;
        case 5: (void)vlapic_accept(d, vcpu, (uint8_t)v, v & 0x100); break;
        case 6: (void)vlapic_ack(d, vcpu); (void)vlapic_eoi(d, (v >> 3) % NV, NULL); break;
        case 7: fake_vm_advance(cur, v % 100000); (void)fake_vm_poll(cur); break;
        case 8:
            (void)vlapic_tsc_deadline_write(d, vcpu, v, v >> 1, 1000000);
            if ((v & 0xff) == 0)
                (void)vlapic_set_mode(d, vcpu, (enum vlapic_mode)((v >> 8) % 3));
            if ((v & 0xff) == 1) {
                uint64_t x = v >> 16;
                uint32_t msr = VLAPIC_MSR_BASE + (uint32_t)((v >> 8) & 0x3f);
                fake_vm_set_vcpu(cur, vcpu);
                if (msr == 0x838)
                    x %= 20000;
                if (v & 0x200000)
                    (void)fake_vm_wrmsr(cur, msr, x);
                else
                    (void)fake_vm_rdmsr(cur, msr, &x);
            }
            break;
        default: {
            struct vlapic_events ev;
            (void)vlapic_take_events(d, vcpu, &ev);
            if ((v & 0x3f) == 0) {
                assert_int_equal(fake_vm_migrate(cur, other, why, sizeof(why)), 0);
                struct fake_vm *t = cur;
                cur = other;
                other = t;
            }
            break;
        }
        }
    }
    assert_int_equal(fake_vm_migrate(cur, other, why, sizeof(why)), 0);
    fake_vm_destroy(&fv2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reset_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_svr_enable_and_masked_lvts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tpr_ppr_priority_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nesting_and_level_eoi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_illegal_vectors_and_esr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_one_shot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_periodic_collapses_missed_periods, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_timer_divide_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tsc_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_across_vcpus_kicks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipi_self_and_fixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipi_broadcasts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipi_logical_flat_and_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nmi_init_sipi_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_icr_reserved_bits_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extint_and_hw_disable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_x2apic_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_x2apic_registers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_x2apic_destinations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_x2apic_migrates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_keeps_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_refuses_bad_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_ops_always_migrate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
