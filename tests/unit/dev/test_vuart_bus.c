/*
 * The 16550 as a device of the framework, in the machine every VM gets today
 * (hv/dev/machine.c), driven through the port bus as a guest's 8250 driver
 * would, then migrated to a second fake VM: the same reads, the same pending
 * input; its interrupt output on IRQ 4, watched through the 8259 pair. (test_vuart.c checks
 * the register model itself.)
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
#include "hv/dev/vuart.h"
#include "linux_pic.h"

#define COM1 0x3f8

static void build(struct fake_vm *fv) { fake_vm_build(fv, &machine_ferry_min); }

static void test_guest_drives_com1_through_the_bus(void **state)
{
    struct fake_vm fv;
    (void)state;
    build(&fv);
    fake_vm_outb(&fv, COM1 + 7, 0x5a);                    /* scratch */
    assert_int_equal(fake_vm_inb(&fv, COM1 + 7), 0x5a);
    fake_vm_outb(&fv, COM1 + 3, 0x80);                    /* DLAB */
    fake_vm_outb(&fv, COM1 + 0, 0x0c);                    /* 9600 baud */
    fake_vm_outb(&fv, COM1 + 3, 0x03);                    /* 8N1 */
    assert_int_equal(fake_vm_inb(&fv, COM1 + 5) & 0x60, 0x60);    /* THR empty */
    for (const char *p = "hi"; *p; p++)
        fake_vm_outb(&fv, COM1, (uint8_t)*p);
    char buf[8];
    uint64_t cur = 0;
    struct uart_dev *u = vuart_of(dev_find(&fv.devs, vuart_type.id, 0));
    assert_int_equal(uart_dev_read_output(u, &cur, buf, sizeof(buf), NULL), 2);
    assert_memory_equal(buf, "hi", 2);
    /* Word accesses are refused by the device (the guest would take #GP), COM2 is empty. */
    assert_int_equal(fake_vm_in(&fv, COM1, 2), 0xdeadbeef);
    assert_int_equal(fake_vm_inb(&fv, 0x2f8 + 7), 0xff);
    fake_vm_destroy(&fv);
}

static void test_com1_migrates_with_its_input(void **state)
{
    struct fake_vm a, b;
    char why[160];
    (void)state;
    build(&a);
    build(&b);
    struct uart_dev *ua = vuart_of(dev_find(&a.devs, vuart_type.id, 0));
    fake_vm_outb(&a, COM1 + 1, 0x01);                     /* IER: received data */
    fake_vm_outb(&a, COM1 + 2, 0x01);                     /* FIFO on */
    fake_vm_outb(&a, COM1 + 4, 0x0b);                     /* DTR RTS OUT2 */
    fake_vm_outb(&a, COM1 + 7, 0x42);
    uart_dev_input(ua, 'x');
    uart_dev_input(ua, 'y');
    assert_int_equal(fake_vm_inb(&a, COM1), 'x');         /* y stays pending */
    assert_int_equal(fake_vm_migrate(&a, &b, why, sizeof(why)), 0);
    static const uint8_t regs[] = { 1, 2, 3, 4, 5, 6, 7 };
    for (unsigned i = 0; i < sizeof(regs); i++)
        assert_int_equal(fake_vm_inb(&b, COM1 + regs[i]), fake_vm_inb(&a, COM1 + regs[i]));
    assert_int_equal(fake_vm_inb(&b, COM1 + 2), 0xc4);    /* FIFO, received data pending */
    assert_int_equal(fake_vm_inb(&b, COM1), 'y');
    assert_int_equal(fake_vm_inb(&b, COM1 + 5) & 1, 0);   /* and nothing more */
    fake_vm_destroy(&a);
    fake_vm_destroy(&b);
}

static void test_bad_uart_record_is_refused(void **state)
{
    struct fake_vm a;
    char why[160];
    uint8_t rec[DEV_RECORD_MAX];
    (void)state;
    build(&a);
    struct device *d = dev_find(&a.devs, vuart_type.id, 0);
    int n = dev_save(d, rec, sizeof(rec));
    assert_int_equal(n, 72);
    rec[7] = 65;                                          /* rx_len past the FIFO */
    assert_int_equal(dev_stage(d, 1, rec, (size_t)n, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "uart16550#0: rx_len 65"));
    rec[7] = 0;
    rec[2] = 0x20;                                        /* MCR bit 5 is reserved */
    assert_int_equal(dev_stage(d, 1, rec, (size_t)n, why, sizeof(why)), -EINVAL);
    fake_vm_destroy(&a);
}

static bool irq4(struct fake_vm *fv) { return fv->devs.irq_level & (1u << 4); }

/*
 * PC16550D: INTRPT is high while an enabled source is pending (what IIR reports), and a PC
 * gates it onto IRQ 4 with OUT2 (MCR bit 3). In loopback (section 8.6.3) the modem control
 * outputs are forced inactive, OUT2 included, so nothing reaches the line.
 */
static void test_irq4_follows_ier_iir_and_out2(void **state)
{
    struct fake_vm fv;
    (void)state;
    build(&fv);
    linux_pic_init(&fv, false);
    pic_unmask(&fv, 4);
    struct device *d = dev_find(&fv.devs, vuart_type.id, 0);
    fake_vm_outb(&fv, COM1 + 1, 0x01);                    /* IER: received data */
    assert_int_equal(vuart_input(d, 'a'), 0);
    assert_int_equal(fake_vm_inb(&fv, COM1 + 2), 0x04);   /* pending in IIR... */
    assert_false(irq4(&fv));                              /* ...but OUT2 is off */
    fake_vm_outb(&fv, COM1 + 4, 0x0b);                    /* DTR RTS OUT2, as 8250 does */
    assert_true(irq4(&fv));
    assert_true(pic_int(&fv));
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 4);
    assert_int_equal(fake_vm_inb(&fv, COM1), 'a');        /* reading RBR ends it */
    assert_false(irq4(&fv));
    assert_int_equal(fake_vm_inb(&fv, COM1 + 2), 0x01);
    pic_eoi(&fv, 4);
    assert_false(pic_int(&fv));
    /* THR empty: pending as soon as it is enabled, gone when disabled. */
    fake_vm_outb(&fv, COM1 + 1, 0x02);
    assert_int_equal(fake_vm_inb(&fv, COM1 + 2), 0x02);
    assert_true(irq4(&fv));
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 4);
    pic_eoi(&fv, 4);
    fake_vm_outb(&fv, COM1 + 1, 0x00);
    assert_false(irq4(&fv));
    /* Received data outranks THR empty in IIR; the line stays up while either is pending. */
    fake_vm_outb(&fv, COM1 + 1, 0x03);
    assert_int_equal(vuart_input(d, 'b'), 0);
    assert_int_equal(fake_vm_inb(&fv, COM1 + 2), 0x04);
    assert_int_equal(fake_vm_inb(&fv, COM1), 'b');
    assert_int_equal(fake_vm_inb(&fv, COM1 + 2), 0x02);
    assert_true(irq4(&fv));
    fake_vm_outb(&fv, COM1 + 1, 0x01);
    assert_false(irq4(&fv));
    /* OUT2 off withdraws the line even with input pending, and so does IER. */
    assert_int_equal(vuart_input(d, 'c'), 0);
    assert_true(irq4(&fv));
    fake_vm_outb(&fv, COM1 + 1, 0x00);
    assert_int_equal(fake_vm_inb(&fv, COM1 + 2), 0x01);
    assert_false(irq4(&fv));
    fake_vm_outb(&fv, COM1 + 1, 0x01);
    assert_true(irq4(&fv));
    fake_vm_outb(&fv, COM1 + 4, 0x03);
    assert_false(irq4(&fv));
    fake_vm_outb(&fv, COM1 + 4, 0x0b);
    assert_true(irq4(&fv));
    /* Loopback: the interrupt shows in IIR, never on the line, OUT2 or not. */
    fake_vm_outb(&fv, COM1 + 4, 0x1b);
    assert_int_equal(fake_vm_inb(&fv, COM1 + 2), 0x04);
    assert_false(irq4(&fv));
    assert_int_equal(fake_vm_inb(&fv, COM1), 'c');
    fake_vm_outb(&fv, COM1, 'L');                         /* looped back into the receiver */
    assert_int_equal(fake_vm_inb(&fv, COM1 + 5) & 0x01, 0x01);
    assert_int_equal(fake_vm_inb(&fv, COM1 + 2), 0x04);
    assert_false(irq4(&fv));
    fake_vm_outb(&fv, COM1 + 4, 0x0b);                    /* out of loopback: it shows */
    assert_true(irq4(&fv));
    /* Clearing the receive FIFO (FCR bit 1) takes the pending data and the line with it. */
    fake_vm_outb(&fv, COM1 + 2, 0x07);
    assert_false(irq4(&fv));
    assert_int_equal(fake_vm_inb(&fv, COM1 + 2), 0xc1);  /* FIFOs on, nothing pending */
    fake_vm_destroy(&fv);
}

static void test_console_input_raises_irq4(void **state)
{
    struct fake_vm fv;
    (void)state;
    build(&fv);
    linux_pic_init(&fv, false);
    pic_unmask(&fv, 4);
    struct device *d = dev_find(&fv.devs, vuart_type.id, 0);
    /* serial8250_startup's end state: FIFO on, OUT2, receive interrupts enabled. */
    fake_vm_outb(&fv, COM1 + 2, 0xc7);
    fake_vm_outb(&fv, COM1 + 3, 0x03);
    fake_vm_outb(&fv, COM1 + 4, 0x0b);
    fake_vm_outb(&fv, COM1 + 1, 0x05);                    /* RDI | RLSI */
    assert_false(irq4(&fv));
    assert_false(pic_int(&fv));
    unsigned kicks = fv.intr_kicks;
    assert_int_equal(vuart_input(d, 'o'), 0);
    assert_int_equal(vuart_input(d, 'k'), 0);
    assert_true(irq4(&fv));
    assert_true(fv.intr_kicks > kicks);                   /* the vCPU is told */
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 4);
    /* The handler drains the FIFO while LSR.DR says there is more. */
    char got[4] = { 0 };
    unsigned n = 0;
    while ((fake_vm_inb(&fv, COM1 + 5) & 0x01) && n < 3)
        got[n++] = (char)fake_vm_inb(&fv, COM1);
    assert_int_equal(n, 2);
    assert_string_equal(got, "ok");
    assert_false(irq4(&fv));
    pic_eoi(&fv, 4);
    assert_false(pic_int(&fv));
    /* The next byte is a new rising edge: a new interrupt. */
    assert_int_equal(vuart_input(d, '!'), 0);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 4);
    assert_int_equal(fake_vm_inb(&fv, COM1), '!');
    pic_eoi(&fv, 4);
    /* A full FIFO refuses more input; the line stays as it was. */
    for (unsigned i = 0; i < UART_DEV_FIFO; i++)
        assert_int_equal(vuart_input(d, (uint8_t)i), 0);
    assert_int_equal(vuart_input(d, 'x'), -ENOSPC);
    assert_true(irq4(&fv));
    /* A reset of the VM's devices drops the line. */
    dev_set_reset(&fv.devs);
    assert_false(irq4(&fv));
    fake_vm_destroy(&fv);
}

/* The line is part of what migrates: pending input with its interrupt enabled is still an
 * interrupt on the target, and the target's PIC does not see a second edge for it. */
static void test_irq4_after_migration(void **state)
{
    struct fake_vm a, b;
    char why[160];
    (void)state;
    build(&a);
    build(&b);
    linux_pic_init(&a, false);
    pic_unmask(&a, 4);
    fake_vm_outb(&a, COM1 + 4, 0x0b);
    fake_vm_outb(&a, COM1 + 1, 0x01);
    assert_int_equal(vuart_input(dev_find(&a.devs, vuart_type.id, 0), 'm'), 0);
    assert_int_equal(pic_ack(&a), PIC_VEC0 + 4);          /* taken, not yet read */
    assert_int_equal(fake_vm_migrate(&a, &b, why, sizeof(why)), 0);
    assert_true(irq4(&b));
    assert_int_equal(pic_isr(&b, PIC_M), 0x10);
    pic_eoi(&b, 4);
    assert_false(pic_int(&b));                            /* no new edge for the same level */
    assert_int_equal(fake_vm_inb(&b, COM1), 'm');
    assert_false(irq4(&b));
    assert_int_equal(vuart_input(dev_find(&b.devs, vuart_type.id, 0), 'n'), 0);
    assert_int_equal(pic_ack(&b), PIC_VEC0 + 4);
    fake_vm_destroy(&a);
    fake_vm_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guest_drives_com1_through_the_bus),
        cmocka_unit_test(test_com1_migrates_with_its_input),
        cmocka_unit_test(test_bad_uart_record_is_refused),
        cmocka_unit_test(test_irq4_follows_ier_iir_and_out2),
        cmocka_unit_test(test_console_input_raises_irq4),
        cmocka_unit_test(test_irq4_after_migration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
