/*
 * The 8259A pair and the ELCR (hv/dev/vpic.c) in today's machine, programmed through the
 * port bus as Linux's i8259.c does, with the CPU's side (INT, INTA) through vpic_intr and
 * vpic_ack. Interrupt sources are ISA lines driven as a device drives them (dev_irq_set /
 * dev_irq_pulse); expected behaviour is the 8259A datasheet's (Intel 231468): edge latches,
 * fully nested priority, the cascade, spurious IR7, auto-EOI, rotation, special mask mode,
 * poll, and the PIIX ELCR's fixed edge inputs.
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
#include "hv/dev/vdebugexit.h"
#include "hv/dev/vpic.h"
#include "linux_pic.h"

static struct fake_vm fv;

static int setup(void **state)
{
    (void)state;
    fake_vm_build(&fv, &machine_ferry_min);
    linux_pic_init(&fv, false);
    return 0;
}

static int setup_aeoi(void **state)
{
    (void)state;
    fake_vm_build(&fv, &machine_ferry_min);
    linux_pic_init(&fv, true);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fake_vm_destroy(&fv);
    return 0;
}

/* An ISA line driven by a device that has nothing else to say (the debug-exit port's). */
static void line(struct fake_vm *v, unsigned irq, bool level)
{
    dev_irq_set(dev_find(&v->devs, vdebugexit_type.id, 0), irq, level);
}

static void edge(struct fake_vm *v, unsigned irq)
{
    dev_irq_pulse(dev_find(&v->devs, vdebugexit_type.id, 0), irq);
}

static void test_linux_init_then_one_edge(void **state)
{
    (void)state;
    assert_int_equal(fake_vm_inb(&fv, PIC_M + 1), 0xff);
    assert_int_equal(fake_vm_inb(&fv, PIC_S + 1), 0xff);
    assert_int_equal(pic_irr(&fv, PIC_M), 0);
    assert_int_equal(pic_isr(&fv, PIC_M), 0);
    assert_false(pic_int(&fv));
    /* probe_8259A: the mask register reads back what was written. */
    fake_vm_outb(&fv, PIC_M + 1, 0xfb);
    assert_int_equal(fake_vm_inb(&fv, PIC_M + 1), 0xfb);
    pic_unmask(&fv, 0);
    assert_int_equal(fake_vm_inb(&fv, PIC_M + 1), 0xfa);
    edge(&fv, 0);                                       /* the PIT's OUT rose and fell */
    assert_int_equal(pic_irr(&fv, PIC_M), 0x01);        /* the edge stays latched */
    assert_true(pic_int(&fv));
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    assert_int_equal(pic_irr(&fv, PIC_M), 0);
    assert_int_equal(pic_isr(&fv, PIC_M), 0x01);
    assert_false(pic_int(&fv));
    /* Another edge while IRQ 0 is in service waits for its EOI. */
    edge(&fv, 0);
    assert_int_equal(pic_irr(&fv, PIC_M), 0x01);
    assert_false(pic_int(&fv));
    pic_eoi(&fv, 0);
    assert_int_equal(pic_isr(&fv, PIC_M), 0);
    assert_true(pic_int(&fv));
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    fake_vm_outb(&fv, PIC_M, 0x20);                     /* non-specific EOI */
    assert_int_equal(pic_isr(&fv, PIC_M), 0);
    assert_false(pic_int(&fv));
    /* An edge input asks once per rising edge: a line held high does not ask again. */
    line(&fv, 0, true);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    pic_eoi(&fv, 0);
    assert_false(pic_int(&fv));
    line(&fv, 0, false);
    assert_false(pic_int(&fv));
    assert_int_equal(pic_irr(&fv, PIC_M), 0);
}

static void test_priority_and_nesting(void **state)
{
    (void)state;
    pic_unmask(&fv, 0);
    pic_unmask(&fv, 4);
    pic_unmask(&fv, 6);
    edge(&fv, 4);
    edge(&fv, 0);
    assert_int_equal(pic_irr(&fv, PIC_M), 0x11);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);       /* IR0 has the highest priority */
    assert_int_equal(pic_irr(&fv, PIC_M), 0x10);
    assert_false(pic_int(&fv));                         /* IR4 is below IR0 in service */
    pic_eoi(&fv, 0);
    assert_true(pic_int(&fv));
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 4);
    assert_int_equal(pic_isr(&fv, PIC_M), 0x10);
    edge(&fv, 6);                                       /* lower than IR4: waits */
    assert_false(pic_int(&fv));
    edge(&fv, 0);                                       /* higher: interrupts IR4's handler */
    assert_true(pic_int(&fv));
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    assert_int_equal(pic_isr(&fv, PIC_M), 0x11);
    /* A non-specific EOI ends the highest level in service: IR0. */
    fake_vm_outb(&fv, PIC_M, 0x20);
    assert_int_equal(pic_isr(&fv, PIC_M), 0x10);
    assert_false(pic_int(&fv));
    fake_vm_outb(&fv, PIC_M, 0x20);
    assert_int_equal(pic_isr(&fv, PIC_M), 0);
    assert_true(pic_int(&fv));
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 6);
    pic_eoi(&fv, 6);
    assert_false(pic_int(&fv));
    /* The lowest level, IR7, in service: every other level gets through. */
    pic_unmask(&fv, 7);
    edge(&fv, 7);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 7);
    edge(&fv, 6);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 6);
    edge(&fv, 0);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    assert_int_equal(pic_isr(&fv, PIC_M), 0xc1);
}

static void test_mask_register(void **state)
{
    (void)state;
    edge(&fv, 3);                                       /* masked: latched, not signalled */
    assert_int_equal(pic_irr(&fv, PIC_M), 0x08);
    assert_false(pic_int(&fv));
    pic_unmask(&fv, 3);
    assert_true(pic_int(&fv));
    pic_mask(&fv, 3);                                   /* masking again withdraws INT... */
    assert_false(pic_int(&fv));
    assert_int_equal(pic_irr(&fv, PIC_M), 0x08);        /* ...but not the request */
    pic_unmask(&fv, 3);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 3);
    pic_eoi(&fv, 3);
    /* A masked level in service still blocks lower ones (fully nested, no special mask). */
    pic_unmask(&fv, 5);
    edge(&fv, 3);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 3);
    pic_mask(&fv, 3);
    edge(&fv, 5);
    assert_false(pic_int(&fv));
    pic_eoi(&fv, 3);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 5);
}

static void test_cascade(void **state)
{
    (void)state;
    pic_unmask(&fv, 8);                                 /* and IR2 on the master */
    assert_int_equal(fake_vm_inb(&fv, PIC_M + 1), 0xfb);
    assert_int_equal(fake_vm_inb(&fv, PIC_S + 1), 0xfe);
    edge(&fv, 8);
    assert_int_equal(pic_irr(&fv, PIC_S), 0x01);
    assert_int_equal(pic_irr(&fv, PIC_M), 0x04);        /* the slave's INT on IR2 */
    assert_true(pic_int(&fv));
    assert_int_equal(pic_ack(&fv), PIC_VEC8 + 0);       /* the slave supplies the vector */
    assert_int_equal(pic_isr(&fv, PIC_S), 0x01);
    assert_int_equal(pic_isr(&fv, PIC_M), 0x04);
    assert_int_equal(pic_irr(&fv, PIC_S), 0);
    assert_false(pic_int(&fv));
    /* While IRQ 8 is in service: IRQ 9 waits on the slave, IRQ 3 (below IR2) on the master,
     * IRQ 0 (above IR2) gets through. */
    pic_unmask(&fv, 9);
    pic_unmask(&fv, 3);
    pic_unmask(&fv, 0);
    edge(&fv, 9);
    edge(&fv, 3);
    assert_false(pic_int(&fv));
    edge(&fv, 0);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    pic_eoi(&fv, 0);
    assert_false(pic_int(&fv));
    /* The slave's EOI alone: IR2 is still in service on the master. */
    fake_vm_outb(&fv, PIC_S, 0x60);
    assert_int_equal(pic_isr(&fv, PIC_S), 0);
    assert_int_equal(pic_isr(&fv, PIC_M), 0x04);
    assert_false(pic_int(&fv));
    fake_vm_outb(&fv, PIC_M, 0x62);
    assert_int_equal(pic_isr(&fv, PIC_M), 0);
    assert_int_equal(pic_ack(&fv), PIC_VEC8 + 1);       /* IR2 outranks IR3 */
    assert_int_equal(pic_isr(&fv, PIC_S), 0x02);
    pic_eoi(&fv, 9);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 3);
    pic_eoi(&fv, 3);
    assert_int_equal(pic_isr(&fv, PIC_M) | pic_isr(&fv, PIC_S), 0);
    assert_false(pic_int(&fv));
    /* ISA IRQ 2 does not exist on a PC: the master's IR2 is the cascade. */
    edge(&fv, 2);
    assert_int_equal(pic_irr(&fv, PIC_M), 0);
    assert_false(pic_int(&fv));
    /* A masked slave input never reaches the master. */
    pic_mask(&fv, 9);
    edge(&fv, 9);
    assert_int_equal(pic_irr(&fv, PIC_S), 0x02);
    assert_int_equal(pic_irr(&fv, PIC_M), 0);
    assert_false(pic_int(&fv));
}

static void test_spurious_irq7_and_15(void **state)
{
    (void)state;
    /* An INTA with nothing pending gets IR7's vector and sets no ISR bit. */
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 7);
    assert_int_equal(pic_isr(&fv, PIC_M), 0);
    /* A level request withdrawn before INTA: IR7 again (Linux's "spurious 8259A interrupt"). */
    fake_vm_outb(&fv, 0x4d0, 0x20);
    pic_unmask(&fv, 5);
    line(&fv, 5, true);
    assert_true(pic_int(&fv));
    line(&fv, 5, false);
    assert_false(pic_int(&fv));
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 7);
    assert_int_equal(pic_isr(&fv, PIC_M), 0);
    /* The same on the slave: the master latched IR2's edge, the slave has nothing left, so
     * the slave answers with its IR7 (IRQ 15) and only the master's IR2 is in service: the
     * case for which Linux EOIs the master alone. */
    fake_vm_outb(&fv, 0x4d1, 0x04);                     /* IRQ 10 level-triggered */
    pic_unmask(&fv, 10);
    line(&fv, 10, true);
    assert_int_equal(pic_irr(&fv, PIC_M), 0x04);
    line(&fv, 10, false);
    assert_int_equal(pic_irr(&fv, PIC_S), 0);
    assert_true(pic_int(&fv));
    assert_int_equal(pic_ack(&fv), PIC_VEC8 + 7);
    assert_int_equal(pic_isr(&fv, PIC_S), 0);
    assert_int_equal(pic_isr(&fv, PIC_M), 0x04);
    fake_vm_outb(&fv, PIC_M, 0x62);
    assert_int_equal(pic_isr(&fv, PIC_M), 0);
    assert_false(pic_int(&fv));
}

static void test_auto_eoi(void **state)
{
    (void)state;
    pic_unmask(&fv, 0);
    pic_unmask(&fv, 1);
    pic_unmask(&fv, 3);
    edge(&fv, 0);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    assert_int_equal(pic_isr(&fv, PIC_M), 0);           /* the second INTA's trailing edge */
    edge(&fv, 3);
    assert_true(pic_int(&fv));                          /* no EOI needed for the next one */
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 3);
    edge(&fv, 0);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    /* Rotate in auto-EOI (OCW2 0x80): each IR served becomes the lowest. */
    fake_vm_outb(&fv, PIC_M, 0x80);
    edge(&fv, 1);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 1);
    edge(&fv, 1);
    edge(&fv, 3);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 3);       /* IR1 is now below IR3 */
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 1);
    /* Cleared (OCW2 0x00): priorities stay where the last rotation left them (IR1 lowest). */
    fake_vm_outb(&fv, PIC_M, 0x00);
    pic_unmask(&fv, 4);
    edge(&fv, 3);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 3);       /* IR3 stays above IR4 */
    edge(&fv, 4);
    edge(&fv, 3);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 3);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 4);
    assert_int_equal(pic_isr(&fv, PIC_M), 0);
}

static void test_level_triggered_through_elcr(void **state)
{
    (void)state;
    /* PIIX: IRQ 0, 1, 2, 8 and 13 are edge-triggered whatever is written. */
    fake_vm_outb(&fv, 0x4d0, 0xff);
    fake_vm_outb(&fv, 0x4d1, 0xff);
    assert_int_equal(fake_vm_inb(&fv, 0x4d0), 0xf8);
    assert_int_equal(fake_vm_inb(&fv, 0x4d1), 0xde);
    fake_vm_outb(&fv, 0x4d0, 0x07);
    fake_vm_outb(&fv, 0x4d1, 0x21);
    assert_int_equal(fake_vm_inb(&fv, 0x4d0), 0);
    assert_int_equal(fake_vm_inb(&fv, 0x4d1), 0);
    fake_vm_outb(&fv, 0x4d0, 0x20);                     /* IRQ 5 level */
    fake_vm_outb(&fv, 0x4d1, 0x08);                     /* IRQ 11 level */
    pic_unmask(&fv, 5);
    pic_unmask(&fv, 11);
    line(&fv, 5, true);
    assert_int_equal(pic_irr(&fv, PIC_M), 0x20);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 5);
    assert_int_equal(pic_irr(&fv, PIC_M), 0x20);        /* IRR follows the line, not INTA */
    pic_eoi(&fv, 5);
    assert_true(pic_int(&fv));                          /* still high: asks again */
    line(&fv, 5, false);
    assert_int_equal(pic_irr(&fv, PIC_M), 0);
    assert_false(pic_int(&fv));
    /* Through the cascade, acknowledged as mask_and_ack_8259A does (mask, EOI, handler,
     * unmask): a line the handler left high asks again, a served one does not. */
    line(&fv, 11, true);
    assert_int_equal(pic_ack(&fv), PIC_VEC8 + 3);
    assert_int_equal(pic_irr(&fv, PIC_S), 0x08);
    pic_mask(&fv, 11);
    pic_eoi(&fv, 11);
    assert_false(pic_int(&fv));
    pic_unmask(&fv, 11);
    assert_true(pic_int(&fv));
    assert_int_equal(pic_ack(&fv), PIC_VEC8 + 3);
    pic_mask(&fv, 11);
    pic_eoi(&fv, 11);
    line(&fv, 11, false);
    pic_unmask(&fv, 11);
    assert_int_equal(pic_irr(&fv, PIC_S), 0);
    assert_false(pic_int(&fv));
    /* The same line edge-triggered: held high it asks once. */
    fake_vm_outb(&fv, 0x4d0, 0x00);
    line(&fv, 5, true);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 5);
    pic_eoi(&fv, 5);
    assert_false(pic_int(&fv));
    /* Switching a high line to level makes it request at once. */
    fake_vm_outb(&fv, 0x4d0, 0x20);
    assert_int_equal(pic_irr(&fv, PIC_M), 0x20);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 5);
    pic_eoi(&fv, 5);
    line(&fv, 5, false);
    /* ICW1's LTIM makes every input level-triggered. */
    fake_vm_outb(&fv, 0x4d0, 0x00);
    fake_vm_outb(&fv, PIC_M, 0x19);
    fake_vm_outb(&fv, PIC_M + 1, PIC_VEC0);
    fake_vm_outb(&fv, PIC_M + 1, 0x04);
    fake_vm_outb(&fv, PIC_M + 1, 0x01);
    line(&fv, 6, true);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 6);
    assert_int_equal(pic_irr(&fv, PIC_M), 0x40);
    line(&fv, 6, false);
    assert_int_equal(pic_irr(&fv, PIC_M), 0);
}

static void test_icw1_resets_the_edge_latches(void **state)
{
    (void)state;
    pic_unmask(&fv, 4);
    line(&fv, 4, true);
    edge(&fv, 6);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 4);
    assert_int_equal(pic_isr(&fv, PIC_M), 0x10);
    /* Datasheet, ICW1: the edge sense circuit is reset (an input needs a new low-to-high
     * transition), the IMR cleared, IR7 gets the lowest priority, status read is IRR. */
    fake_vm_outb(&fv, PIC_M, 0x0b);                     /* status read: ISR */
    fake_vm_outb(&fv, PIC_M, 0x11);
    fake_vm_outb(&fv, PIC_M + 1, 0x23);                 /* 0x20 (2.6's); T2-T0 are the IR's */
    fake_vm_outb(&fv, PIC_M + 1, 0x04);
    fake_vm_outb(&fv, PIC_M + 1, 0x01);
    assert_int_equal(fake_vm_inb(&fv, PIC_M + 1), 0);
    assert_int_equal(fake_vm_inb(&fv, PIC_M), 0);       /* IRR, and it is empty */
    assert_false(pic_int(&fv));                         /* line 4 is still high: no edge */
    line(&fv, 4, false);
    line(&fv, 4, true);
    assert_int_equal(fake_vm_inb(&fv, PIC_M), 0x10);    /* IRR (not ISR) without an OCW3 */
    assert_int_equal(pic_isr(&fv, PIC_M), 0);
    assert_int_equal(pic_ack(&fv), 0x20 + 4);           /* the new base */
    line(&fv, 4, false);
}

static void test_poll_command(void **state)
{
    (void)state;
    pic_unmask(&fv, 3);
    pic_unmask(&fv, 5);
    edge(&fv, 5);
    edge(&fv, 3);
    fake_vm_outb(&fv, PIC_M, 0x0c);                     /* OCW3: poll */
    assert_int_equal(fake_vm_inb(&fv, PIC_M), 0x83);    /* I bit and the highest level */
    assert_int_equal(pic_isr(&fv, PIC_M), 0x08);        /* the read acknowledged it */
    assert_int_equal(pic_irr(&fv, PIC_M), 0x20);
    fake_vm_outb(&fv, PIC_M, 0x0c);
    assert_int_equal(fake_vm_inb(&fv, PIC_M), 0x00);    /* IR5 is below IR3 in service */
    assert_int_equal(fake_vm_inb(&fv, PIC_M), 0x20);    /* one read only: IRR again */
    pic_eoi(&fv, 3);
    fake_vm_outb(&fv, PIC_M, 0x0c);
    assert_int_equal(fake_vm_inb(&fv, PIC_M), 0x85);
    pic_eoi(&fv, 5);
    fake_vm_outb(&fv, PIC_M, 0x0c);
    assert_int_equal(fake_vm_inb(&fv, PIC_M), 0x00);
    assert_int_equal(pic_isr(&fv, PIC_M), 0);
    /* An OCW3 without RR (poll, or special mask) leaves the register read as it was. */
    fake_vm_outb(&fv, PIC_M, 0x0b);
    edge(&fv, 3);
    assert_int_equal(fake_vm_inb(&fv, PIC_M), 0x00);    /* ISR: nothing in service */
    fake_vm_outb(&fv, PIC_M, 0x08);
    assert_int_equal(fake_vm_inb(&fv, PIC_M), 0x00);
    fake_vm_outb(&fv, PIC_M, 0x0c);
    assert_int_equal(fake_vm_inb(&fv, PIC_M), 0x83);
    assert_int_equal(fake_vm_inb(&fv, PIC_M), 0x08);    /* ISR still */
    fake_vm_outb(&fv, PIC_M, 0x0a);
    assert_int_equal(fake_vm_inb(&fv, PIC_M), 0x00);    /* IRR */
    pic_eoi(&fv, 3);
    /* Polling the slave after the master said IR2. */
    pic_unmask(&fv, 12);
    edge(&fv, 12);
    fake_vm_outb(&fv, PIC_M, 0x0c);
    assert_int_equal(fake_vm_inb(&fv, PIC_M), 0x82);
    fake_vm_outb(&fv, PIC_S, 0x0c);
    assert_int_equal(fake_vm_inb(&fv, PIC_S), 0x84);
    assert_int_equal(pic_isr(&fv, PIC_S), 0x10);
    pic_eoi(&fv, 12);
    assert_false(pic_int(&fv));
}

static void test_rotation_and_set_priority(void **state)
{
    (void)state;
    fake_vm_outb(&fv, PIC_M + 1, 0x04);                 /* all but IR2 unmasked */
    edge(&fv, 3);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 3);
    fake_vm_outb(&fv, PIC_M, 0xa0);                     /* rotate on non-specific EOI */
    assert_int_equal(pic_isr(&fv, PIC_M), 0);
    /* IR3 is the lowest now: 4 5 6 7 0 1 2 3. */
    edge(&fv, 1);
    edge(&fv, 5);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 5);
    fake_vm_outb(&fv, PIC_M, 0xa0);                     /* now IR5 is lowest: 6 7 0 1 ... */
    edge(&fv, 4);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 1);       /* 1 outranks 4 */
    assert_false(pic_int(&fv));                         /* and 4 is below 1 */
    fake_vm_outb(&fv, PIC_M, 0xe1);                     /* rotate on specific EOI of IR1 */
    assert_int_equal(pic_isr(&fv, PIC_M), 0);
    edge(&fv, 0);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 4);       /* IR1 lowest: 2 3 4 ... 0 1 */
    pic_eoi(&fv, 4);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    pic_eoi(&fv, 0);
    /* Set priority (OCW2 0xc0 | L): IR6 lowest, so IR7 first. */
    fake_vm_outb(&fv, PIC_M, 0xc6);
    edge(&fv, 0);
    edge(&fv, 7);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 7);
    assert_false(pic_int(&fv));
    fake_vm_outb(&fv, PIC_M, 0x20);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    fake_vm_outb(&fv, PIC_M, 0x20);
    /* Back to IR7 lowest: the fixed order again. */
    fake_vm_outb(&fv, PIC_M, 0xc7);
    edge(&fv, 7);
    edge(&fv, 0);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
}

static void test_special_mask_mode(void **state)
{
    (void)state;
    fake_vm_outb(&fv, PIC_M + 1, 0x04);
    edge(&fv, 4);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 4);
    edge(&fv, 6);
    assert_false(pic_int(&fv));
    /* Special mask mode (OCW3 0x68), IR4 masked: its in-service bit stops blocking, so lower
     * levels are enabled as well as higher ones. */
    fake_vm_outb(&fv, PIC_M, 0x68);
    assert_false(pic_int(&fv));                         /* IR4 not masked yet */
    pic_mask(&fv, 4);
    assert_true(pic_int(&fv));
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 6);
    assert_int_equal(pic_isr(&fv, PIC_M), 0x50);
    fake_vm_outb(&fv, PIC_M, 0x66);                     /* specific EOI for IR6 */
    assert_int_equal(pic_isr(&fv, PIC_M), 0x10);
    /* Reset special mask (OCW3 0x48): IR4 in service blocks IR6 again, masked or not. */
    fake_vm_outb(&fv, PIC_M, 0x48);
    edge(&fv, 6);
    assert_false(pic_int(&fv));
    /* An OCW3 without ESMM leaves the mode alone. */
    fake_vm_outb(&fv, PIC_M, 0x68);
    fake_vm_outb(&fv, PIC_M, 0x08);
    assert_true(pic_int(&fv));
    fake_vm_outb(&fv, PIC_M, 0x48);
    assert_false(pic_int(&fv));
    pic_eoi(&fv, 4);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 6);
}

/* Special fully nested mode (ICW4 bit 4, on the master): while the slave's IR2 is in service
 * the master still takes a higher-priority request from the same slave. */
static void test_special_fully_nested(void **state)
{
    (void)state;
    pic_unmask(&fv, 8);
    pic_unmask(&fv, 9);
    edge(&fv, 9);
    assert_int_equal(pic_ack(&fv), PIC_VEC8 + 1);
    edge(&fv, 8);                                       /* above IRQ 9 on the slave */
    assert_false(pic_int(&fv));                         /* fully nested: IR2 is in service */
    pic_eoi(&fv, 9);
    assert_int_equal(pic_ack(&fv), PIC_VEC8 + 0);
    pic_eoi(&fv, 8);
    fake_vm_outb(&fv, PIC_M, 0x11);
    fake_vm_outb(&fv, PIC_M + 1, PIC_VEC0);
    fake_vm_outb(&fv, PIC_M + 1, 0x04);
    fake_vm_outb(&fv, PIC_M + 1, 0x11);                 /* SFNM, 8086 */
    fake_vm_outb(&fv, PIC_M + 1, 0xfb);
    edge(&fv, 9);
    assert_int_equal(pic_ack(&fv), PIC_VEC8 + 1);
    edge(&fv, 8);
    assert_true(pic_int(&fv));
    assert_int_equal(pic_ack(&fv), PIC_VEC8 + 0);
    assert_int_equal(pic_isr(&fv, PIC_S), 0x03);
    /* A lower one from the slave still waits (the slave's own nesting). */
    pic_unmask(&fv, 10);
    edge(&fv, 10);
    assert_false(pic_int(&fv));
    /* The software checks the slave's ISR before the master's EOI (the datasheet's rule). */
    fake_vm_outb(&fv, PIC_S, 0x20);
    assert_int_equal(pic_isr(&fv, PIC_S), 0x02);
    fake_vm_outb(&fv, PIC_S, 0x20);
    assert_int_equal(pic_isr(&fv, PIC_S), 0x00);
    fake_vm_outb(&fv, PIC_M, 0x20);
    assert_int_equal(pic_ack(&fv), PIC_VEC8 + 2);
}

static void test_migration_with_an_interrupt_in_service(void **state)
{
    struct fake_vm b;
    char why[160];
    (void)state;
    fake_vm_build(&b, &machine_ferry_min);
    b.now_ns = 987654321000ull;
    fake_vm_outb(&fv, 0x4d0, 0x20);
    pic_unmask(&fv, 0);
    pic_unmask(&fv, 4);
    pic_unmask(&fv, 8);
    edge(&fv, 0);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    edge(&fv, 4);                                       /* waiting behind IR0 */
    edge(&fv, 3);                                       /* masked */
    /* Mid-initialization of the slave: ICW1 and ICW2 written, ICW3 and ICW4 to come. */
    fake_vm_outb(&fv, PIC_S, 0x11);
    fake_vm_outb(&fv, PIC_S + 1, 0x78);
    assert_int_equal(fake_vm_migrate(&fv, &b, why, sizeof(why)), 0);
    assert_int_equal(fake_vm_inb(&b, PIC_M + 1), 0xea);
    assert_int_equal(pic_irr(&b, PIC_M), 0x18);
    assert_int_equal(pic_isr(&b, PIC_M), 0x01);
    assert_int_equal(fake_vm_inb(&b, 0x4d0), 0x20);
    assert_false(pic_int(&b));
    pic_eoi(&b, 0);
    assert_int_equal(pic_ack(&b), PIC_VEC0 + 4);        /* the vector base came along */
    /* The slave finishes its initialization on the target: ICW3, ICW4, then a mask. */
    fake_vm_outb(&b, PIC_S + 1, 0x02);
    fake_vm_outb(&b, PIC_S + 1, 0x01);
    fake_vm_outb(&b, PIC_S + 1, 0xfe);
    assert_int_equal(fake_vm_inb(&b, PIC_S + 1), 0xfe);
    edge(&b, 8);
    assert_int_equal(pic_ack(&b), 0x78);                /* IR2 outranks IR4 in service */
    assert_int_equal(pic_isr(&b, PIC_M), 0x14);
    /* The source is untouched by a migration. */
    assert_int_equal(pic_isr(&fv, PIC_M), 0x01);
    fake_vm_destroy(&b);
}

static void test_bad_records_are_refused(void **state)
{
    char why[160];
    uint8_t rec[DEV_RECORD_MAX], good[DEV_RECORD_MAX];
    (void)state;
    struct device *d = pic_dev(&fv);
    int n = dev_save(d, good, sizeof(good));
    assert_int_equal(n, 24);
    assert_int_equal(good[5], PIC_VEC0);                /* master's base */
    assert_int_equal(good[12 + 5], PIC_VEC8);
    static const struct { unsigned off; uint8_t val; const char *says; } bad[] = {
        { 5, PIC_VEC0 | 1, "master: elcr 0x0, base 0x31" },  /* ICW2's low bits are the IR */
        { 12 + 5, PIC_VEC8 | 4, "slave: elcr 0x0, base 0x3c" },
        { 7, 4, "init 4" },                             /* no ICW5 */
        { 6, 8, "lowest 8" },
        { 4, 0x01, "elcr 0x1" },                        /* IRQ 0 cannot be level */
        { 12 + 4, 0x20, "elcr 0x20" },                  /* nor IRQ 13 */
        { 9, 0x02, "flags 0x201" },                     /* no such flag */
        { 12 + 10, 1, "slave" },                        /* reserved bytes */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memcpy(rec, good, (size_t)n);
        rec[bad[i].off] = bad[i].val;
        assert_int_equal(dev_stage(d, 1, rec, (size_t)n, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, bad[i].says));
    }
    /* Nothing was loaded; the good record still passes. */
    assert_int_equal(fake_vm_inb(&fv, PIC_M + 1), 0xff);
    assert_int_equal(dev_stage(d, 1, good, (size_t)n, why, sizeof(why)), 0);
    dev_set_drop_staged(&fv.devs);
}

static void test_int_rising_kicks_the_platform(void **state)
{
    (void)state;
    unsigned k = fv.intr_kicks;
    edge(&fv, 0);                                       /* masked: INT stays low */
    assert_int_equal(fv.intr_kicks, k);
    pic_unmask(&fv, 1);
    assert_int_equal(fv.intr_kicks, k);
    pic_unmask(&fv, 0);                                 /* the latched edge gets through */
    assert_true(fv.intr_kicks > k);
    k = fv.intr_kicks;
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 0);
    edge(&fv, 1);                                       /* below IR0 in service: no kick */
    assert_int_equal(fv.intr_kicks, k);
    pic_eoi(&fv, 0);                                    /* IR1 goes out now */
    assert_true(fv.intr_kicks > k);
    assert_int_equal(pic_ack(&fv), PIC_VEC0 + 1);
    pic_eoi(&fv, 1);
    k = fv.intr_kicks;
    pic_unmask(&fv, 8);                                 /* through the cascade as well */
    assert_int_equal(fv.intr_kicks, k);
    edge(&fv, 8);
    assert_true(fv.intr_kicks > k);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_linux_init_then_one_edge),
        T(test_priority_and_nesting),
        T(test_mask_register),
        T(test_cascade),
        T(test_spurious_irq7_and_15),
        cmocka_unit_test_setup_teardown(test_auto_eoi, setup_aeoi, teardown),
        T(test_level_triggered_through_elcr),
        T(test_icw1_resets_the_edge_latches),
        T(test_poll_command),
        T(test_rotation_and_set_priority),
        T(test_special_mask_mode),
        T(test_special_fully_nested),
        T(test_migration_with_an_interrupt_in_service),
        T(test_bad_records_are_refused),
        T(test_int_rising_kicks_the_platform),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
