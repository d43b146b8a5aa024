/*
 * The 16550 as a device of the framework, in the machine every VM gets today
 * (hv/dev/machine.c), driven through the port bus as a guest's 8250 driver
 * would, then migrated to a second fake VM: the same reads, the same pending
 * input. (test_vuart.c checks the register model itself.)
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guest_drives_com1_through_the_bus),
        cmocka_unit_test(test_com1_migrates_with_its_input),
        cmocka_unit_test(test_bad_uart_record_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
