/*
 * The CMOS RTC (hv/dev/vrtc.c) in today's machine, through ports 0x70/0x71 as a guest uses
 * them, against the MC146818A data sheet and Linux's mc146818-lib.c: the time of day from
 * the host's wall clock (the fake VM starts it at 2026-12-06 12:37:02 UTC, a Sunday) in BCD
 * and binary, 24- and 12-hour form; setting the clock under SET; UIP; register C's flags
 * and IRQ 8 seen through the 8259 pair; the alarm; the battery-backed RAM; migration.
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
#include "hv/dev/devrec.h"
#include "hv/dev/machine.h"
#include "hv/dev/vrtc.h"
#include "linux_pic.h"

#define NS       1000000000ull
#define START_S  1796560622ull            /* fake_vm_init's wall clock */
#define REG_A    0x0a
#define REG_B    0x0b
#define REG_C    0x0c
#define REG_D    0x0d

static struct fake_vm fv;

FAKE_VM_FIXTURE(fv, &machine_ferry_min)

static uint8_t cmos_read(struct fake_vm *v, uint8_t reg)
{
    fake_vm_outb(v, 0x70, reg);
    return fake_vm_inb(v, 0x71);
}

static void cmos_write(struct fake_vm *v, uint8_t reg, uint8_t val)
{
    fake_vm_outb(v, 0x70, reg);
    fake_vm_outb(v, 0x71, val);
}

/* Seconds, minutes, hours, weekday, day, month, year, century as read. */
struct rtc_regs {
    uint8_t r[8];
};

static const uint8_t time_index[8] = { 0, 2, 4, 6, 7, 8, 9, 0x32 };

static struct rtc_regs read_time(struct fake_vm *v)
{
    struct rtc_regs t;
    for (unsigned i = 0; i < 8; i++)
        t.r[i] = cmos_read(v, time_index[i]);
    return t;
}

/* Every time register at once: seconds, minutes, hours, weekday, day, month, year, century. */
#define expect_time(v, ...) expect_time_at(__LINE__, v, __VA_ARGS__)

static void expect_time_at(int line, struct fake_vm *v, uint8_t sec, uint8_t min, uint8_t hour,
                           uint8_t wday, uint8_t day, uint8_t mon, uint8_t year, uint8_t cent)
{
    struct rtc_regs t = read_time(v);
    const uint8_t want[8] = { sec, min, hour, wday, day, mon, year, cent };
    for (unsigned i = 0; i < 8; i++)
        if (t.r[i] != want[i])
            fail_msg("line %d: register 0x%x reads 0x%02x, expected 0x%02x", line,
                     time_index[i], t.r[i], want[i]);
}

/* mc146818_set_time's sequence: SET, divider reset, year month day hour minute second, the
 * century (ACPI FADT), then B and A restored. Values in the register's format. */
static void linux_set_time(struct fake_vm *v, uint8_t cent, uint8_t yrs, uint8_t mon,
                           uint8_t day, uint8_t hrs, uint8_t min, uint8_t sec)
{
    uint8_t b = cmos_read(v, REG_B);
    cmos_write(v, REG_B, b | 0x80);
    uint8_t a = cmos_read(v, REG_A);
    cmos_write(v, REG_A, a | 0x70);
    cmos_write(v, 9, yrs);
    cmos_write(v, 8, mon);
    cmos_write(v, 7, day);
    cmos_write(v, 4, hrs);
    cmos_write(v, 2, min);
    cmos_write(v, 0, sec);
    cmos_write(v, 0x32, cent);
    cmos_write(v, REG_B, b);
    cmos_write(v, REG_A, a);
}

static void test_reads_the_wall_clock_in_bcd(void **state)
{
    (void)state;
    assert_int_equal(cmos_read(&fv, REG_A), 0x26);      /* 32.768 kHz divider, 1024 Hz */
    assert_int_equal(cmos_read(&fv, REG_B), 0x02);      /* 24-hour, BCD, interrupts off */
    assert_int_equal(cmos_read(&fv, REG_D), 0x80);      /* VRT: the battery is good */
    expect_time(&fv, 0x02, 0x37, 0x12, 0x01, 0x06, 0x12, 0x26, 0x20);
    /* The NMI mask bit of the index does not change which register is read. */
    fake_vm_outb(&fv, 0x70, 0x80 | 0x02);
    assert_int_equal(fake_vm_inb(&fv, 0x71), 0x37);
    /* D is read-only. */
    cmos_write(&fv, REG_D, 0x00);
    assert_int_equal(cmos_read(&fv, REG_D), 0x80);
}

static void test_binary_and_12_hour_forms(void **state)
{
    (void)state;
    cmos_write(&fv, REG_B, 0x06);                       /* DM: binary */
    expect_time(&fv, 2, 37, 12, 1, 6, 12, 26, 20);
    cmos_write(&fv, REG_B, 0x00);                       /* BCD, 12-hour: 12:37 PM */
    expect_time(&fv, 0x02, 0x37, 0x92, 0x01, 0x06, 0x12, 0x26, 0x20);
    cmos_write(&fv, REG_B, 0x04);                       /* binary, 12-hour */
    assert_int_equal(cmos_read(&fv, 4), 0x80 | 12);
    fake_vm_advance(&fv, 3600 * NS);                    /* 1 PM */
    assert_int_equal(cmos_read(&fv, 4), 0x81);
    cmos_write(&fv, REG_B, 0x00);
    assert_int_equal(cmos_read(&fv, 4), 0x81);
    fake_vm_advance(&fv, 11 * 3600 * NS);               /* 00:37 on Monday: 12 AM */
    assert_int_equal(cmos_read(&fv, 4), 0x12);
    assert_int_equal(cmos_read(&fv, 6), 0x02);
    assert_int_equal(cmos_read(&fv, 7), 0x07);
    fake_vm_advance(&fv, 3600 * NS);
    assert_int_equal(cmos_read(&fv, 4), 0x01);          /* 1 AM */
    cmos_write(&fv, REG_B, 0x02);
    assert_int_equal(cmos_read(&fv, 4), 0x01);
}

static void test_the_clock_runs(void **state)
{
    (void)state;
    fake_vm_advance(&fv, NS - 1);
    assert_int_equal(cmos_read(&fv, 0), 0x02);
    fake_vm_advance(&fv, 1);
    assert_int_equal(cmos_read(&fv, 0), 0x03);
    fake_vm_advance(&fv, 57 * NS);
    expect_time(&fv, 0x00, 0x38, 0x12, 0x01, 0x06, 0x12, 0x26, 0x20);
    /* To 2027-01-01 00:00:00, a Friday. */
    fake_vm_advance(&fv, (2200978 - 58) * NS);
    expect_time(&fv, 0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x27, 0x20);
    /* The guest clock alone (a vCPU's TSC) does not move the time of day. */
    fv.now_ns += 5 * NS;
    assert_int_equal(cmos_read(&fv, 0), 0x00);
}

static void test_linux_sets_the_clock(void **state)
{
    (void)state;
    linux_set_time(&fv, 0x20, 0x01, 0x02, 0x15, 0x10, 0x20, 0x30);
    assert_int_equal(cmos_read(&fv, REG_B), 0x02);
    assert_int_equal(cmos_read(&fv, REG_A), 0x26);
    expect_time(&fv, 0x30, 0x20, 0x10, 0x05, 0x15, 0x02, 0x01, 0x20);  /* a Thursday */
    fake_vm_advance(&fv, NS);
    assert_int_equal(cmos_read(&fv, 0), 0x31);
    fake_vm_advance(&fv, 29 * NS);
    expect_time(&fv, 0x00, 0x21, 0x10, 0x05, 0x15, 0x02, 0x01, 0x20);
    /* SET freezes the registers while the guest writes them, and clears UIE. */
    cmos_write(&fv, REG_B, 0x12);
    cmos_write(&fv, REG_B, 0x92);
    assert_int_equal(cmos_read(&fv, REG_B), 0x82);
    fake_vm_advance(&fv, 3 * NS);
    assert_int_equal(cmos_read(&fv, 0), 0x00);
    cmos_write(&fv, 2, 0x45);
    assert_int_equal(cmos_read(&fv, 2), 0x45);
    fake_vm_advance(&fv, NS);
    assert_int_equal(cmos_read(&fv, 0), 0x00);
    cmos_write(&fv, REG_B, 0x02);                       /* runs from what was written */
    expect_time(&fv, 0x00, 0x45, 0x10, 0x05, 0x15, 0x02, 0x01, 0x20);
    fake_vm_advance(&fv, NS);
    assert_int_equal(cmos_read(&fv, 0), 0x01);
    /* Binary registers, 12-hour: 2099-12-31 11:59:59 PM, then the century turns. */
    cmos_write(&fv, REG_B, 0x04);
    linux_set_time(&fv, 20, 99, 12, 31, 0x80 | 11, 59, 59);
    expect_time(&fv, 59, 59, 0x80 | 11, 5, 31, 12, 99, 20);  /* a Thursday */
    fake_vm_advance(&fv, NS);
    expect_time(&fv, 0, 0, 12, 6, 1, 1, 0, 21);
}

/*
 * The data sheet's time registers are registers: while SET holds the updates, each write
 * stores a byte, whatever the others say. Linux writes year, month, day...; FreeBSD's atrtc
 * writes day before month. Either way the date is the one written, even when the order
 * passes through a day the month does not have.
 */
static void test_a_date_set_through_an_invalid_one(void **state)
{
    (void)state;
    fv.wall_ns = 1798718400ull * NS;                    /* 2026-12-31 12:00:00 */
    expect_time(&fv, 0x00, 0x00, 0x12, 0x05, 0x31, 0x12, 0x26, 0x20);
    linux_set_time(&fv, 0x20, 0x01, 0x02, 0x15, 0x10, 0x20, 0x30);   /* via 31 Feb 2001 */
    expect_time(&fv, 0x30, 0x20, 0x10, 0x05, 0x15, 0x02, 0x01, 0x20);
    /* FreeBSD's order, on 2001-02-15: day 31 first (31 Feb), then March. */
    cmos_write(&fv, REG_B, 0x82);
    cmos_write(&fv, 0, 0x00);
    cmos_write(&fv, 2, 0x00);
    cmos_write(&fv, 4, 0x08);
    cmos_write(&fv, 6, 0x07);
    cmos_write(&fv, 7, 0x31);
    cmos_write(&fv, 8, 0x03);
    cmos_write(&fv, 9, 0x01);
    cmos_write(&fv, 0x32, 0x20);
    cmos_write(&fv, REG_B, 0x02);
    expect_time(&fv, 0x00, 0x00, 0x08, 0x07, 0x31, 0x03, 0x01, 0x20);   /* a Saturday */
    /* 29 Feb in a leap year, year written first from a year that has none. */
    linux_set_time(&fv, 0x20, 0x24, 0x02, 0x29, 0x00, 0x00, 0x00);
    expect_time(&fv, 0x00, 0x00, 0x00, 0x05, 0x29, 0x02, 0x24, 0x20);
    fake_vm_advance(&fv, 86400 * NS);
    expect_time(&fv, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x24, 0x20);
}

static void test_uip_in_the_last_244us(void **state)
{
    (void)state;
    assert_int_equal(cmos_read(&fv, REG_A), 0x26);      /* just after an update */
    fake_vm_advance(&fv, NS - 244000 - 1);
    assert_int_equal(cmos_read(&fv, REG_A), 0x26);
    fake_vm_advance(&fv, 1);
    assert_int_equal(cmos_read(&fv, REG_A), 0xa6);      /* an update is 244 us away */
    assert_int_equal(cmos_read(&fv, 0), 0x02);          /* still the old second */
    fake_vm_advance(&fv, 243999);
    assert_int_equal(cmos_read(&fv, REG_A), 0xa6);
    fake_vm_advance(&fv, 1);
    assert_int_equal(cmos_read(&fv, REG_A), 0x26);
    assert_int_equal(cmos_read(&fv, 0), 0x03);
    /* UIP is read-only, and SET inhibits updates, so no UIP under it. */
    cmos_write(&fv, REG_A, 0xa6);
    assert_int_equal(cmos_read(&fv, REG_A), 0x26);
    fake_vm_advance(&fv, NS - 100000);
    assert_int_equal(cmos_read(&fv, REG_A), 0xa6);
    cmos_write(&fv, REG_B, 0x82);
    assert_int_equal(cmos_read(&fv, REG_A), 0x26);
}

static void test_register_c_flags(void **state)
{
    (void)state;
    assert_int_equal(cmos_read(&fv, REG_C), 0);
    /* PF at the rate select's frequency (6: 1024 Hz, 976.5625 us), with PIE or without. */
    fake_vm_advance(&fv, 976562);
    assert_int_equal(cmos_read(&fv, REG_C), 0);
    fake_vm_advance(&fv, 1);
    assert_int_equal(cmos_read(&fv, REG_C), 0x40);
    assert_int_equal(cmos_read(&fv, REG_C), 0);         /* reading C clears it */
    /* UF once the second ends; no IRQF while UIE is off. */
    fake_vm_advance(&fv, NS - 976563);
    assert_int_equal(cmos_read(&fv, REG_C), 0x50);
    /* Rate 3 is 8192 Hz (122.0703125 us). */
    cmos_write(&fv, REG_A, 0x23);
    fake_vm_advance(&fv, 122070);
    assert_int_equal(cmos_read(&fv, REG_C), 0);
    fake_vm_advance(&fv, 1);
    assert_int_equal(cmos_read(&fv, REG_C), 0x40);
    /* Rates 1 and 2 are 256 and 128 Hz (as 8 and 9), not 32768 and 16384. The periods are
     * in phase with the seconds (one divider chain): start from the next second. */
    fake_vm_advance(&fv, NS - 122071);
    assert_int_equal(cmos_read(&fv, REG_C), 0x50);
    cmos_write(&fv, REG_A, 0x21);
    fake_vm_advance(&fv, 3906249);
    assert_int_equal(cmos_read(&fv, REG_C), 0);
    fake_vm_advance(&fv, 1);
    assert_int_equal(cmos_read(&fv, REG_C), 0x40);
    cmos_write(&fv, REG_A, 0x22);
    fake_vm_advance(&fv, 7812500 - 3906250 - 1);
    assert_int_equal(cmos_read(&fv, REG_C), 0);
    fake_vm_advance(&fv, 1);
    assert_int_equal(cmos_read(&fv, REG_C), 0x40);
    /* Rate 0: no periodic flag. */
    cmos_write(&fv, REG_A, 0x20);
    fake_vm_advance(&fv, 10000000);
    assert_int_equal(cmos_read(&fv, REG_C), 0);
    /* PIE makes PF an interrupt: IRQF. */
    cmos_write(&fv, REG_A, 0x26);
    cmos_write(&fv, REG_B, 0x42);
    fake_vm_advance(&fv, 1000000);
    assert_int_equal(cmos_read(&fv, REG_C), 0xc0);
    /* C is read-only. */
    fake_vm_advance(&fv, 1000000);
    cmos_write(&fv, REG_C, 0x00);
    assert_int_equal(cmos_read(&fv, REG_C), 0xc0);
}

static void test_update_interrupt_on_irq8(void **state)
{
    (void)state;
    linux_pic_init(&fv, false);
    pic_unmask(&fv, 8);
    assert_int_equal(fake_vm_poll(&fv), 0);             /* nothing enabled: no deadline */
    cmos_write(&fv, REG_B, 0x12);                       /* UIE */
    (void)cmos_read(&fv, REG_C);
    fake_vm_advance(&fv, NS / 4);
    assert_int_equal(fake_vm_poll(&fv), fv.now_ns + 3 * NS / 4);    /* the next update */
    assert_false(pic_int(&fv));
    fake_vm_advance(&fv, 3 * NS / 4);
    assert_false(pic_int(&fv));                         /* not before the device is polled */
    assert_int_equal(fake_vm_poll(&fv), fv.now_ns + NS);
    assert_int_equal(pic_irr(&fv, PIC_S), 0x01);
    assert_true(pic_int(&fv));
    assert_int_equal(pic_ack(&fv), PIC_VEC8 + 0);
    pic_eoi(&fv, 8);
    assert_false(pic_int(&fv));                         /* one edge per IRQF */
    assert_int_equal(cmos_read(&fv, REG_C), 0xd0);      /* IRQF, PF (rate 6 runs), UF */
    assert_int_equal(cmos_read(&fv, REG_C), 0x00);
    fake_vm_advance(&fv, NS);
    (void)fake_vm_poll(&fv);
    assert_int_equal(pic_ack(&fv), PIC_VEC8 + 0);       /* the line fell at the read */
    pic_eoi(&fv, 8);
    /* Without reading C the line stays high: no second edge, as on a PC. */
    fake_vm_advance(&fv, NS);
    (void)fake_vm_poll(&fv);
    assert_false(pic_int(&fv));
    assert_int_equal(cmos_read(&fv, REG_C), 0xd0);
    fake_vm_advance(&fv, NS);
    (void)fake_vm_poll(&fv);
    assert_int_equal(pic_ack(&fv), PIC_VEC8 + 0);
    pic_eoi(&fv, 8);
    /* Periodic interrupts: the deadline is the next period. */
    (void)cmos_read(&fv, REG_C);
    cmos_write(&fv, REG_B, 0x42);
    assert_int_equal(fake_vm_poll(&fv), fv.now_ns + 976563);
    fake_vm_advance(&fv, 976563);
    (void)fake_vm_poll(&fv);
    assert_int_equal(pic_ack(&fv), PIC_VEC8 + 0);
    assert_int_equal(cmos_read(&fv, REG_C), 0xc0);
}

static void test_alarm(void **state)
{
    (void)state;
    linux_pic_init(&fv, false);
    pic_unmask(&fv, 8);
    cmos_write(&fv, 1, 0x05);                           /* 12:37:05 */
    cmos_write(&fv, 3, 0x37);
    cmos_write(&fv, 5, 0x12);
    cmos_write(&fv, REG_B, 0x22);                       /* AIE */
    assert_int_equal(fake_vm_poll(&fv), fv.now_ns + NS);
    fake_vm_advance(&fv, 2 * NS);
    (void)fake_vm_poll(&fv);
    assert_false(pic_int(&fv));
    assert_int_equal(cmos_read(&fv, REG_C), 0x50);      /* UF and PF, no AF */
    fake_vm_advance(&fv, NS);
    (void)fake_vm_poll(&fv);
    assert_true(pic_int(&fv));
    assert_int_equal(cmos_read(&fv, REG_C), 0xf0);      /* IRQF, PF, AF, UF */
    fake_vm_advance(&fv, NS);
    assert_int_equal(cmos_read(&fv, REG_C), 0x50);      /* once */
    /* A moment matched between two polls still counts. */
    cmos_write(&fv, 1, 0x10);
    fake_vm_advance(&fv, 20 * NS);                      /* 12:37:26 */
    (void)fake_vm_poll(&fv);
    assert_int_equal(cmos_read(&fv, REG_C) & 0xa0, 0xa0);
    /* Don't-care codes (0xc0-0xff): second 30 of every minute of every hour. */
    cmos_write(&fv, 1, 0x30);
    cmos_write(&fv, 3, 0xc0);
    cmos_write(&fv, 5, 0xff);
    fake_vm_advance(&fv, 3 * NS);                       /* 12:37:29 */
    assert_int_equal(cmos_read(&fv, REG_C) & 0x20, 0);
    fake_vm_advance(&fv, NS);
    assert_int_equal(cmos_read(&fv, REG_C) & 0x20, 0x20);
    fake_vm_advance(&fv, 59 * NS);
    assert_int_equal(cmos_read(&fv, REG_C) & 0x20, 0);
    fake_vm_advance(&fv, NS);                           /* 12:38:30 */
    assert_int_equal(cmos_read(&fv, REG_C) & 0x20, 0x20);
    /* Any second of minute 40 (a don't-care seconds byte): 12:40:00, 12:40:01, ... */
    cmos_write(&fv, 1, 0xd5);
    cmos_write(&fv, 3, 0x40);
    fake_vm_advance(&fv, 89 * NS);                      /* 12:39:59 */
    assert_int_equal(cmos_read(&fv, REG_C) & 0x20, 0);
    fake_vm_advance(&fv, NS);
    assert_int_equal(cmos_read(&fv, REG_C) & 0x20, 0x20);
    fake_vm_advance(&fv, NS);
    assert_int_equal(cmos_read(&fv, REG_C) & 0x20, 0x20);
    fake_vm_advance(&fv, 59 * NS);                      /* 12:41:00 */
    (void)cmos_read(&fv, REG_C);
    fake_vm_advance(&fv, NS);
    assert_int_equal(cmos_read(&fv, REG_C) & 0x20, 0);
    cmos_write(&fv, 3, 0xc0);
    /* The alarm is compared in the registers' format: binary now (16, not BCD 10). */
    cmos_write(&fv, REG_B, 0x26);
    cmos_write(&fv, 1, 16);
    fake_vm_advance(&fv, 14 * NS);                      /* 12:41:15 */
    assert_int_equal(cmos_read(&fv, REG_C) & 0xa0, 0);
    fake_vm_advance(&fv, NS);
    assert_int_equal(cmos_read(&fv, REG_C) & 0xa0, 0xa0);
}

static void test_battery_backed_ram(void **state)
{
    (void)state;
    for (unsigned i = 0x0e; i < 0x80; i++)
        if (i != 0x32)
            cmos_write(&fv, (uint8_t)i, (uint8_t)(i * 7 + 3));
    for (unsigned i = 0x0e; i < 0x80; i++)
        if (i != 0x32)
            assert_int_equal(cmos_read(&fv, (uint8_t)i), (uint8_t)(i * 7 + 3));
    /* 0x32 is the century: a clock register, not RAM. */
    assert_int_equal(cmos_read(&fv, 0x32), 0x20);
    cmos_write(&fv, 0x32, 0x21);
    assert_int_equal(cmos_read(&fv, 0x32), 0x21);
    assert_int_equal(cmos_read(&fv, 9), 0x26);          /* 2126 */
    cmos_write(&fv, 0x32, 0x20);
    expect_time(&fv, 0x02, 0x37, 0x12, 0x01, 0x06, 0x12, 0x26, 0x20);
    /* The alarm bytes hold what is written; time passing does not touch the RAM. */
    cmos_write(&fv, 1, 0x11);
    cmos_write(&fv, 3, 0x22);
    cmos_write(&fv, 5, 0x33);
    fake_vm_advance(&fv, 90000 * NS);
    assert_int_equal(cmos_read(&fv, 1), 0x11);
    assert_int_equal(cmos_read(&fv, 3), 0x22);
    assert_int_equal(cmos_read(&fv, 5), 0x33);
    assert_int_equal(cmos_read(&fv, 0x7f), (uint8_t)(0x7f * 7 + 3));
    /* A device reset keeps the clock and the RAM (the battery), not the control registers. */
    cmos_write(&fv, REG_B, 0x06);
    dev_set_reset(&fv.devs);
    assert_int_equal(cmos_read(&fv, REG_B), 0x02);
    assert_int_equal(cmos_read(&fv, 0x40), (uint8_t)(0x40 * 7 + 3));
    assert_int_equal(cmos_read(&fv, 7), 0x07);
}

static void test_migration_keeps_the_guests_time(void **state)
{
    struct fake_vm b;
    char why[160];
    (void)state;
    fake_vm_build(&b, &machine_ferry_min);
    b.now_ns = 987654321000ull;                         /* another host's guest clock */
    linux_set_time(&fv, 0x20, 0x01, 0x02, 0x15, 0x10, 0x20, 0x30);
    cmos_write(&fv, 0x40, 0x5a);
    cmos_write(&fv, REG_B, 0x06);
    fake_vm_advance(&fv, 10 * NS);
    b.wall_ns = fv.wall_ns + 5 * NS;                    /* the move took 5 s of wall time */
    assert_int_equal(fake_vm_migrate(&fv, &b, why, sizeof(why)), 0);
    expect_time(&b, 45, 20, 10, 5, 15, 2, 1, 20);
    assert_int_equal(cmos_read(&b, 0x40), 0x5a);
    assert_int_equal(cmos_read(&b, REG_B), 0x06);
    fake_vm_advance(&b, NS);
    assert_int_equal(cmos_read(&b, 0), 46);
    /* In the middle of a guest's SET: what it wrote so far comes along, it finishes there. */
    cmos_write(&fv, REG_B, 0x82);
    cmos_write(&fv, 9, 3);
    cmos_write(&fv, 8, 4);
    assert_int_equal(fake_vm_migrate(&fv, &b, why, sizeof(why)), 0);
    assert_int_equal(cmos_read(&b, REG_B), 0x82);
    cmos_write(&b, 7, 5);
    cmos_write(&b, 4, 6);
    cmos_write(&b, 2, 7);
    cmos_write(&b, 0, 8);
    cmos_write(&b, REG_B, 0x06);
    expect_time(&b, 8, 7, 6, 7, 5, 4, 3, 20);           /* 2003-04-05, a Saturday */
    fake_vm_destroy(&b);
}

static void put64(uint8_t *p, uint64_t v)
{
    devrec_put64(&p, v);
}

static void test_bad_records_are_refused(void **state)
{
    char why[160];
    uint8_t rec[DEV_RECORD_MAX], good[DEV_RECORD_MAX];
    (void)state;
    struct device *d = dev_find(&fv.devs, vrtc_type.id, 0);
    int n = dev_save(d, good, sizeof(good));
    assert_int_equal(n, 148);
    assert_int_equal(good[REG_A], 0x26);
    const uint8_t *p = good + 132;
    assert_int_equal(devrec_get64(&p), 0);              /* no offset from the wall clock yet */
    memcpy(rec, good, (size_t)n);
    rec[REG_A] = 0xa6;                                  /* UIP is never saved */
    assert_int_equal(dev_stage(d, 1, rec, (size_t)n, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "register A 0xa6"));
    memcpy(rec, good, (size_t)n);
    rec[REG_D] = 0x80;
    assert_int_equal(dev_stage(d, 1, rec, (size_t)n, why, sizeof(why)), -EINVAL);
    memcpy(rec, good, (size_t)n);
    rec[128] = 0x80;                                    /* the index is 7 bits */
    assert_int_equal(dev_stage(d, 1, rec, (size_t)n, why, sizeof(why)), -EINVAL);
    /* Offsets that put the guest's time outside 1970-2200. */
    static const int64_t bad_off[] = { INT64_MAX, INT64_MIN, 7258118401ll * 1000000000ll,
                                       -7258118401ll * 1000000000ll };
    for (unsigned i = 0; i < sizeof(bad_off) / sizeof(bad_off[0]); i++) {
        memcpy(rec, good, (size_t)n);
        put64(rec + 132, (uint64_t)bad_off[i]);
        assert_int_equal(dev_stage(d, 1, rec, (size_t)n, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "offset"));
    }
    memcpy(rec, good, (size_t)n);
    put64(rec + 140, (uint64_t)-1);                     /* a frozen time before 1970 */
    assert_int_equal(dev_stage(d, 1, rec, (size_t)n, why, sizeof(why)), -EINVAL);
    /* In range: 30 years back is fine. */
    memcpy(rec, good, (size_t)n);
    put64(rec + 132, (uint64_t)(-30ll * 365 * 86400 * 1000000000ll));
    assert_int_equal(dev_stage(d, 1, rec, (size_t)n, why, sizeof(why)), 0);
    dev_set_drop_staged(&fv.devs);
    expect_time(&fv, 0x02, 0x37, 0x12, 0x01, 0x06, 0x12, 0x26, 0x20);     /* untouched */
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_reads_the_wall_clock_in_bcd),
        T(test_binary_and_12_hour_forms),
        T(test_the_clock_runs),
        T(test_linux_sets_the_clock),
        T(test_a_date_set_through_an_invalid_one),
        T(test_uip_in_the_last_244us),
        T(test_register_c_flags),
        T(test_update_interrupt_on_irq8),
        T(test_alarm),
        T(test_battery_backed_ram),
        T(test_migration_keeps_the_guests_time),
        T(test_bad_records_are_refused),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
