/*
 * The 8254 PIT (hv/dev/vpit.c) through the port bus with a guest clock only the test moves:
 * Linux's channel-2 calibration sequence, the periodic and square-wave modes, latches and
 * read-back, the gate on port 0x61, BCD, and a migration that resumes the count where it was;
 * channel 0's OUT on IRQ 0, seen through the 8259 pair as Linux programs both.
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
#include "linux_pic.h"

/* Nanoseconds for n PIT ticks (rounded up so that exactly n have passed). */
static uint64_t ns_for(uint64_t n) { return (n * 1000000000ull + VPIT_HZ - 1) / VPIT_HZ; }

static struct fake_vm fv;

FAKE_VM_FIXTURE(fv, &machine_ferry_min)

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
    assert_int_equal(dev_stage(d, vpit_type.version, rec, 64, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "channel 0: mode 6"));
    rec[4] = 2;
    rec[60] = 0x80;                                      /* port 0x61 reserved bits */
    assert_int_equal(dev_stage(d, vpit_type.version, rec, 64, why, sizeof(why)), -EINVAL);
    fake_vm_destroy(&b);
}

/* arch/x86/include/asm/i8253.h: PIT_LATCH = (PIT_TICK_RATE + HZ/2) / HZ, here HZ=250. */
#define LATCH ((1193182 + 250 / 2) / 250)

static void program_ch0(struct fake_vm *v, uint8_t control, uint16_t count)
{
    fake_vm_outb(v, 0x43, control);
    fake_vm_outb(v, 0x40, (uint8_t)count);
    fake_vm_outb(v, 0x40, (uint8_t)(count >> 8));
}

/* i8253.c's periodic clockevent: control 0x34 (mode 2), LATCH. One edge on IRQ 0 per period,
 * found by the poll that reaches it; periods missed between two polls make one edge. */
static void test_irq0_periodic_as_linux_programs_it(void **state)
{
    (void)state;
    assert_int_equal(LATCH, 4773);
    linux_pic_init(&fv, false);
    pic_unmask(&fv, 0);
    assert_int_equal(fake_vm_poll(&fv), 0);              /* nothing programmed, nothing due */
    program_ch0(&fv, 0x34, LATCH);
    uint64_t t0 = fv.now_ns;
    assert_int_equal(fake_vm_poll(&fv), t0 + ns_for(LATCH));
    assert_false(pic_int(&fv));
    fv.now_ns = t0 + ns_for(LATCH) - 1;
    assert_int_equal(fake_vm_poll(&fv), t0 + ns_for(LATCH));
    assert_int_equal(pic_irr(&fv, PIC_M), 0);
    fv.now_ns = t0 + ns_for(LATCH);
    assert_int_equal(fake_vm_poll(&fv), t0 + ns_for(2 * LATCH));
    assert_int_equal(pic_irr(&fv, PIC_M), 0x01);
    assert_true(pic_int(&fv));
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    pic_eoi(&fv, 0);
    (void)fake_vm_poll(&fv);                             /* the same period: no second edge */
    assert_int_equal(pic_irr(&fv, PIC_M), 0);
    assert_false(pic_int(&fv));
    /* Five periods pass unpolled: one edge (an edge-triggered input latches one). */
    fv.now_ns = t0 + ns_for(6 * LATCH) + 1000;
    unsigned kicks = fv.intr_kicks;
    assert_int_equal(fake_vm_poll(&fv), t0 + ns_for(7 * LATCH));
    assert_true(fv.intr_kicks > kicks);                  /* INT rose: the vCPU is told */
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    pic_eoi(&fv, 0);
    (void)fake_vm_poll(&fv);
    assert_false(pic_int(&fv));
    fv.now_ns = t0 + ns_for(7 * LATCH);
    (void)fake_vm_poll(&fv);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    pic_eoi(&fv, 0);
    /* The counter the guest reads agrees with the edges: reloaded at the 7th period. */
    assert_int_equal(read16(&fv, 0x40), LATCH);
    /* Mode 3 (0x36, the BIOS's square wave): OUT rises at the start of each period too. */
    program_ch0(&fv, 0x36, 1000);
    uint64_t t1 = fv.now_ns;
    assert_int_equal(fake_vm_poll(&fv), t1 + ns_for(1000));
    fv.now_ns = t1 + ns_for(500);                        /* OUT falls half-way: no edge */
    (void)fake_vm_poll(&fv);
    assert_false(pic_int(&fv));
    fv.now_ns = t1 + ns_for(1000);
    assert_int_equal(fake_vm_poll(&fv), t1 + ns_for(2000));
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
}

/* Mode 0 (0x30): OUT rises once, at the terminal count, and stays high. */
static void test_irq0_one_shot_mode0(void **state)
{
    (void)state;
    linux_pic_init(&fv, false);
    pic_unmask(&fv, 0);
    program_ch0(&fv, 0x30, 1000);
    uint64_t t0 = fv.now_ns;
    assert_int_equal(fake_vm_poll(&fv), t0 + ns_for(1000));
    fv.now_ns = t0 + ns_for(1000) - 1;
    (void)fake_vm_poll(&fv);
    assert_false(pic_int(&fv));
    fv.now_ns = t0 + ns_for(1000);
    assert_int_equal(fake_vm_poll(&fv), 0);              /* nothing more to come */
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    pic_eoi(&fv, 0);
    fv.now_ns += 1000000000ull;                          /* the count wraps; OUT stays high */
    assert_int_equal(fake_vm_poll(&fv), 0);
    assert_false(pic_int(&fv));
    /* A new count rearms it from the write. */
    fake_vm_outb(&fv, 0x40, 0xf4);
    fake_vm_outb(&fv, 0x40, 0x01);                       /* 500 */
    uint64_t t1 = fv.now_ns;
    assert_int_equal(fake_vm_poll(&fv), t1 + ns_for(500));
    fv.now_ns = t1 + ns_for(499);
    (void)fake_vm_poll(&fv);
    assert_false(pic_int(&fv));
    fv.now_ns = t1 + ns_for(500);
    (void)fake_vm_poll(&fv);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    pic_eoi(&fv, 0);
    /* Reprogrammed mid-count: the first deadline is gone, the new one counts from its write. */
    program_ch0(&fv, 0x30, 1000);
    fv.now_ns += ns_for(600);
    program_ch0(&fv, 0x30, 1000);
    uint64_t t2 = fv.now_ns;
    fv.now_ns = t2 + ns_for(999);
    assert_int_equal(fake_vm_poll(&fv), t2 + ns_for(1000));
    assert_false(pic_int(&fv));
    /* A control word alone (no count yet) stops it: OUT low, nothing due. */
    fake_vm_outb(&fv, 0x43, 0x30);
    fv.now_ns += ns_for(2000);
    assert_int_equal(fake_vm_poll(&fv), 0);
    assert_false(pic_int(&fv));
}

/* i8253.c's one-shot clockevent: 0x38 (mode 4), then each event's count. OUT strobes low at
 * the terminal count and the rising edge after it is the interrupt. */
static void test_irq0_one_shot_mode4_as_linux(void **state)
{
    (void)state;
    linux_pic_init(&fv, false);
    pic_unmask(&fv, 0);
    fake_vm_outb(&fv, 0x43, 0x38);
    for (unsigned i = 0; i < 3; i++) {
        uint16_t delta = (uint16_t)(100 + 1000 * i);
        fake_vm_outb(&fv, 0x40, (uint8_t)delta);
        fake_vm_outb(&fv, 0x40, (uint8_t)(delta >> 8));
        uint64_t t = fv.now_ns;
        assert_int_equal(fake_vm_poll(&fv), t + ns_for(delta + 1u));
        fv.now_ns = t + ns_for(delta);
        fake_vm_outb(&fv, 0x43, 0xe2);                   /* read-back status of ch0 */
        assert_int_equal(fake_vm_inb(&fv, 0x40) & 0x80, 0);      /* the strobe */
        (void)fake_vm_poll(&fv);
        assert_false(pic_int(&fv));
        fv.now_ns = t + ns_for(delta + 1u);
        assert_int_equal(fake_vm_poll(&fv), 0);
        assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
        pic_eoi(&fv, 0);
        fv.now_ns += 5000000;
        (void)fake_vm_poll(&fv);
        assert_false(pic_int(&fv));                      /* one event per count */
    }
}

/* The target delivers the periods after the save, never one the source already delivered. */
static void test_irq0_migration_without_spurious_edge(void **state)
{
    struct fake_vm b;
    char why[160];
    (void)state;
    fake_vm_build(&b, &machine_ferry_min);
    b.now_ns = 987654321000ull;
    linux_pic_init(&fv, false);
    pic_unmask(&fv, 0);
    program_ch0(&fv, 0x34, LATCH);
    uint64_t t0 = fv.now_ns;
    fv.now_ns = t0 + ns_for(2 * LATCH + LATCH / 2);
    (void)fake_vm_poll(&fv);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    pic_eoi(&fv, 0);
    assert_int_equal(fake_vm_migrate(&fv, &b, why, sizeof(why)), 0);
    /* The target counts on from the ticks elapsed at the save, on its own clock. */
    uint64_t held = ns_for(2 * LATCH + LATCH / 2) * VPIT_HZ / 1000000000ull, b0 = b.now_ns;
    assert_int_equal(held, 2 * LATCH + LATCH / 2);
    assert_int_equal(fake_vm_poll(&b), b0 + ns_for(3 * LATCH - held));
    assert_int_equal(pic_irr(&b, PIC_M), 0);
    assert_false(pic_int(&b));
    b.now_ns = b0 + ns_for(3 * LATCH - held) - 1;
    (void)fake_vm_poll(&b);
    assert_false(pic_int(&b));
    b.now_ns = b0 + ns_for(3 * LATCH - held);
    assert_int_equal(fake_vm_poll(&b), b0 + ns_for(4 * LATCH - held));
    assert_true(pic_int(&b));
    assert_int_equal(pic_ack(&b), PIC_VEC0 + 0);
    pic_eoi(&b, 0);
    /* An edge latched but not yet taken on the source comes along in the PIC's record. */
    fv.now_ns = t0 + ns_for(3 * LATCH);
    (void)fake_vm_poll(&fv);
    assert_int_equal(fake_vm_migrate(&fv, &b, why, sizeof(why)), 0);
    assert_int_equal(pic_irr(&b, PIC_M), 0x01);
    (void)fake_vm_poll(&b);
    assert_int_equal(pic_ack(&b), PIC_VEC0 + 0);
    pic_eoi(&b, 0);
    (void)fake_vm_poll(&b);
    assert_false(pic_int(&b));
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
        cmocka_unit_test_setup_teardown(test_irq0_periodic_as_linux_programs_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_irq0_one_shot_mode0, setup, teardown),
        cmocka_unit_test_setup_teardown(test_irq0_one_shot_mode4_as_linux, setup, teardown),
        cmocka_unit_test_setup_teardown(test_irq0_migration_without_spurious_edge, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
