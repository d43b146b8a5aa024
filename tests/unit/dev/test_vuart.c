/*
 * Host tests for hv/dev/vuart.c. Everything goes through uart_dev_io() the
 * way a guest's IN/OUT would; the expected register values come from the
 * PC16550D datasheet and from what Linux's 8250 probe checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hv/dev/vuart.h"
#include "support.h"

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4,
       LSR = 5, MSR = 6, SCR = 7 };

static struct uart_dev u, u2;
static char buf[UART_DEV_RING + 256];

static uint8_t rd(struct uart_dev *d, unsigned off)
{
    uint32_t v = 0xdeadbeef;

    assert_int_equal(uart_dev_io(d, off, false, 1, &v), 0);
    assert_true(v <= 0xff);
    return (uint8_t)v;
}

static void wr(struct uart_dev *d, unsigned off, uint8_t b)
{
    uint32_t v = 0xffffff00u | b;   /* only the low byte counts */

    assert_int_equal(uart_dev_io(d, off, true, 1, &v), 0);
}

static void puts_guest(const char *s)
{
    while (*s)
        wr(&u, THR, (uint8_t)*s++);
}

static uint8_t pattern(uint64_t i) { return (uint8_t)(i * 7 + (i >> 8)); }

static int setup(void **state)
{
    (void)state;
    uart_dev_init(&u);
    uart_dev_init(&u2);
    return 0;
}

static void test_reset_state(void **state)
{
    (void)state;
    assert_int_equal(rd(&u, LSR), 0x60);
    assert_int_equal(rd(&u, IIR), 0x01);
    assert_int_equal(rd(&u, MSR), 0xb0);
    assert_int_equal(rd(&u, LCR), 0);
    assert_int_equal(rd(&u, MCR), 0);
    assert_int_equal(rd(&u, IER), 0);
    assert_int_equal(rd(&u, RBR), 0);
    wr(&u, LCR, 0x80);
    assert_int_equal(rd(&u, DLL), 1);
    assert_int_equal(rd(&u, DLM), 0);
}

static void test_output_ring(void **state)
{
    uint64_t cur = 0, lost = 99;

    (void)state;
    puts_guest("hello, ");
    puts_guest("world");
    assert_int_equal(u.out_total, 12);
    assert_int_equal(u.tx_bytes, 12);
    assert_int_equal(uart_dev_read_output(&u, &cur, buf, 5, &lost), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(cur, 5);
    assert_int_equal(lost, 0);
    assert_int_equal(uart_dev_read_output(&u, &cur, buf, sizeof(buf), NULL), 7);
    assert_memory_equal(buf, ", world", 7);
    assert_int_equal(uart_dev_read_output(&u, &cur, buf, sizeof(buf), &lost), 0);
    assert_int_equal(cur, 12);
    assert_int_equal(uart_dev_read_output(&u, &cur, NULL, 0, &lost), 0);
    cur = 1000;                                     /* from before a reset */
    assert_int_equal(uart_dev_read_output(&u, &cur, buf, sizeof(buf), &lost), 0);
    assert_int_equal(cur, 12);
    assert_int_equal(lost, 0);
}

static void test_output_wrap_and_lost(void **state)
{
    uint64_t cur = 0, cur2, lost = 0, n = UART_DEV_RING + 100;
    size_t got;

    (void)state;
    for (uint64_t i = 0; i < UART_DEV_RING - 10; i++)
        wr(&u, THR, pattern(i));
    assert_int_equal(uart_dev_read_output(&u, &cur, buf, sizeof(buf), &lost),
                     UART_DEV_RING - 10);
    for (uint64_t i = UART_DEV_RING - 10; i < n; i++)
        wr(&u, THR, pattern(i));
    /* A reader that kept up reads across the wrap without loss. */
    cur2 = cur;
    got = uart_dev_read_output(&u, &cur2, buf, sizeof(buf), &lost);
    assert_int_equal(got, 110);
    assert_int_equal(lost, 0);
    for (size_t i = 0; i < got; i++)
        assert_int_equal((uint8_t)buf[i], pattern(cur + i));
    /* A reader from the start lost the 100 oldest bytes and gets the rest in order. */
    cur = 0;
    got = uart_dev_read_output(&u, &cur, buf, 1000, &lost);
    assert_int_equal(lost, 100);
    assert_int_equal(got, 1000);
    assert_int_equal(cur, 1100);
    for (size_t i = 0; i < got; i++)
        assert_int_equal((uint8_t)buf[i], pattern(100 + i));
    got = uart_dev_read_output(&u, &cur, buf, sizeof(buf), &lost);
    assert_int_equal(lost, 0);
    assert_int_equal(got, n - 1100);
    assert_int_equal(cur, n);
    for (size_t i = 0; i < got; i++)
        assert_int_equal((uint8_t)buf[i], pattern(1100 + i));
}

static void test_dlab_divisor_latch(void **state)
{
    uint64_t cur = 0;

    (void)state;
    wr(&u, IER, 0x05);
    wr(&u, LCR, 0x83);                              /* DLAB, 8N1 */
    wr(&u, DLL, 0x0c);
    wr(&u, DLM, 0x01);
    assert_int_equal(rd(&u, DLL), 0x0c);
    assert_int_equal(rd(&u, DLM), 0x01);
    assert_int_equal(u.out_total, 0);               /* not transmitted */
    wr(&u, LCR, 0x03);
    assert_int_equal(rd(&u, IER), 0x05);            /* untouched by the DLM write */
    wr(&u, THR, 'x');
    assert_int_equal(uart_dev_read_output(&u, &cur, buf, sizeof(buf), NULL), 1);
    assert_int_equal(buf[0], 'x');
    wr(&u, LCR, 0x83);
    assert_int_equal(rd(&u, DLL), 0x0c);            /* latch kept */
    assert_int_equal(rd(&u, LCR), 0x83);
}

static void test_lsr_and_rx_fifo(void **state)
{
    (void)state;
    assert_int_equal(uart_dev_input(&u, 'a'), 0);
    assert_int_equal(uart_dev_input(&u, 'b'), 0);
    assert_int_equal(uart_dev_input(&u, 'c'), 0);
    assert_int_equal(rd(&u, LSR), 0x61);
    assert_int_equal(rd(&u, RBR), 'a');
    assert_int_equal(rd(&u, RBR), 'b');
    assert_int_equal(rd(&u, LSR), 0x61);
    assert_int_equal(rd(&u, RBR), 'c');
    assert_int_equal(rd(&u, LSR), 0x60);
    assert_int_equal(rd(&u, RBR), 0);               /* empty */
    assert_int_equal(u.rx_bytes, 3);

    /* Fill to 64 with the head mid-array, overflow, drain in order. */
    for (int i = 0; i < UART_DEV_FIFO; i++)
        assert_int_equal(uart_dev_input(&u, (uint8_t)i), 0);
    assert_int_equal(uart_dev_input(&u, 0xff), -ENOSPC);
    for (int i = 0; i < UART_DEV_FIFO; i++)
        assert_int_equal(rd(&u, RBR), i);
    assert_int_equal(rd(&u, LSR), 0x60);
    assert_int_equal(u.rx_bytes, 3 + UART_DEV_FIFO);
}

static void test_loopback_probe(void **state)
{
    uint64_t cur = 0;

    (void)state;
    /* Linux autoconfig(): MCR = LOOP | OUT2 | RTS, then MSR & 0xf0 must be 0x90. */
    wr(&u, MCR, 0x1a);
    assert_int_equal(rd(&u, MSR) & 0xf0, 0x90);
    wr(&u, MCR, 0x1f);
    assert_int_equal(rd(&u, MSR), 0xf0);
    wr(&u, MCR, 0x11);                              /* DTR only -> DSR */
    assert_int_equal(rd(&u, MSR), 0x20);
    wr(&u, MCR, 0x14);                              /* OUT1 -> RI */
    assert_int_equal(rd(&u, MSR), 0x40);
    /* In loopback the transmitter feeds the receiver, not the output. */
    wr(&u, THR, 0x55);
    assert_int_equal(rd(&u, LSR), 0x61);
    assert_int_equal(rd(&u, RBR), 0x55);
    assert_int_equal(u.out_total, 0);
    assert_int_equal(u.tx_bytes, 1);
    for (int i = 0; i < UART_DEV_FIFO + 3; i++)     /* overrun drops, never overflows */
        wr(&u, THR, (uint8_t)i);
    assert_int_equal(u.rx_len, UART_DEV_FIFO);
    wr(&u, FCR, 0x07);
    assert_int_equal(rd(&u, LSR), 0x60);
    wr(&u, MCR, 0xff);
    assert_int_equal(rd(&u, MCR), 0x1f);            /* bits 5-7 read 0 */
    wr(&u, MCR, 0x0b);                              /* out of loopback: a terminal */
    assert_int_equal(rd(&u, MSR), 0xb0);
    wr(&u, THR, 'z');
    assert_int_equal(uart_dev_read_output(&u, &cur, buf, sizeof(buf), NULL), 1);
    assert_int_equal(buf[0], 'z');
}

static void test_iir_and_fcr(void **state)
{
    (void)state;
    assert_int_equal(rd(&u, IIR), 0x01);
    wr(&u, FCR, 0x01);
    assert_int_equal(rd(&u, IIR), 0xc1);            /* 16550A: FIFOs enabled */
    wr(&u, IER, 0xff);
    assert_int_equal(rd(&u, IER), 0x0f);
    assert_int_equal(rd(&u, IIR), 0xc2);            /* THR empty */
    wr(&u, IER, 0x01);
    assert_int_equal(rd(&u, IIR), 0xc1);            /* rx enabled but empty */
    assert_int_equal(uart_dev_input(&u, 'k'), 0);
    assert_int_equal(rd(&u, IIR), 0xc4);
    wr(&u, IER, 0x03);
    assert_int_equal(rd(&u, IIR), 0xc4);            /* data outranks THR empty */
    wr(&u, IER, 0x00);
    assert_int_equal(rd(&u, IIR), 0xc1);            /* pending but not enabled */
    wr(&u, FCR, 0x00);
    wr(&u, IER, 0x01);
    assert_int_equal(rd(&u, IIR), 0x04);
    assert_int_equal(uart_dev_input(&u, 'l'), 0);
    wr(&u, FCR, 0xc3);                              /* clear rx, trigger level 14 */
    assert_int_equal(rd(&u, LSR), 0x60);
    assert_int_equal(rd(&u, IIR), 0xc1);
    assert_int_equal(u.fcr, 0xc1);                  /* self-clearing bits not kept */
}

static void test_scratch_and_readonly(void **state)
{
    (void)state;
    wr(&u, SCR, 0xa5);
    assert_int_equal(rd(&u, SCR), 0xa5);
    wr(&u, SCR, 0x5a);
    assert_int_equal(rd(&u, SCR), 0x5a);
    wr(&u, LSR, 0x00);
    wr(&u, MSR, 0x00);
    assert_int_equal(rd(&u, LSR), 0x60);
    assert_int_equal(rd(&u, MSR), 0xb0);
    assert_int_equal(rd(&u, SCR), 0x5a);
}

static void test_bad_access(void **state)
{
    uint32_t v = 0x1234;

    (void)state;
    for (unsigned size = 0; size <= 8; size++) {
        if (size == 1)
            continue;
        assert_int_equal(uart_dev_io(&u, THR, true, size, &v), -EINVAL);
        assert_int_equal(uart_dev_io(&u, LSR, false, size, &v), -EINVAL);
    }
    assert_int_equal(uart_dev_io(&u, 8, false, 1, &v), -EINVAL);
    assert_int_equal(uart_dev_io(&u, 8, true, 1, &v), -EINVAL);
    assert_int_equal(uart_dev_io(&u, ~0u, false, 1, &v), -EINVAL);
    assert_int_equal(v, 0x1234);
    assert_int_equal(u.out_total, 0);
    assert_int_equal(u.tx_bytes, 0);
}

static void test_save_restore(void **state)
{
    struct uart_dev_state s, bad;

    (void)state;
    wr(&u, LCR, 0x80);
    wr(&u, DLL, 0x30);
    wr(&u, DLM, 0x02);
    wr(&u, LCR, 0x1b);
    wr(&u, IER, 0x03);
    wr(&u, MCR, 0x0b);
    wr(&u, SCR, 0x77);
    wr(&u, FCR, 0x81);
    for (int i = 0; i < 40; i++)                    /* move the head, then wrap it */
        assert_int_equal(uart_dev_input(&u, (uint8_t)i), 0);
    for (int i = 0; i < 40; i++)
        rd(&u, RBR);
    for (int i = 0; i < 50; i++)
        assert_int_equal(uart_dev_input(&u, (uint8_t)(100 + i)), 0);
    puts_guest("not migrated");

    uart_dev_save(&u, &s);
    assert_int_equal(s.rx_len, 50);
    assert_int_equal(s.rx[0], 100);
    assert_int_equal(uart_dev_restore(&u2, &s), 0);
    assert_int_equal(u2.out_total, 0);
    for (unsigned off = 1; off < 8; off++)         /* all but RBR, which pops */
        assert_int_equal(rd(&u2, off), rd(&u, off));
    wr(&u2, LCR, 0x9b);
    assert_int_equal(rd(&u2, DLL), 0x30);
    assert_int_equal(rd(&u2, DLM), 0x02);
    wr(&u2, LCR, 0x1b);
    for (int i = 0; i < 50; i++)
        assert_int_equal(rd(&u2, RBR), 100 + i);
    assert_int_equal(rd(&u2, LSR), 0x60);

    bad = s;
    bad.rx_len = UART_DEV_FIFO + 1;
    assert_int_equal(uart_dev_restore(&u2, &bad), -EINVAL);
    bad = s;
    bad.ier = 0x10;
    assert_int_equal(uart_dev_restore(&u2, &bad), -EINVAL);
    bad = s;
    bad.mcr = 0x20;
    assert_int_equal(uart_dev_restore(&u2, &bad), -EINVAL);
    bad = s;
    bad.fcr = 0x03;
    assert_int_equal(uart_dev_restore(&u2, &bad), -EINVAL);
    assert_int_equal(u2.rx_len, 0);                 /* rejected restores change nothing */
    assert_int_equal(u2.scr, 0x77);
    bad = s;
    bad.rx_len = UART_DEV_FIFO;                     /* a full FIFO is valid */
    assert_int_equal(uart_dev_restore(&u2, &bad), 0);
    assert_int_equal(rd(&u2, LSR), 0x61);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_reset_state, setup),
        cmocka_unit_test_setup(test_output_ring, setup),
        cmocka_unit_test_setup(test_output_wrap_and_lost, setup),
        cmocka_unit_test_setup(test_dlab_divisor_latch, setup),
        cmocka_unit_test_setup(test_lsr_and_rx_fifo, setup),
        cmocka_unit_test_setup(test_loopback_probe, setup),
        cmocka_unit_test_setup(test_iir_and_fcr, setup),
        cmocka_unit_test_setup(test_scratch_and_readonly, setup),
        cmocka_unit_test_setup(test_bad_access, setup),
        cmocka_unit_test_setup(test_save_restore, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
