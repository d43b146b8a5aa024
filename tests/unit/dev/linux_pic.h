/*
 * The 8259 pair driven as Linux drives it (arch/x86/kernel/i8259.c), for device tests that
 * watch an interrupt line through the PIC: init_8259A's command words with the 6.x vectors
 * (ISA_IRQ_VECTOR(0) = 0x30), masks through the data ports, OCW3 reads of IRR and ISR as
 * i8259A_irq_real does them, and mask_and_ack_8259A's specific EOIs (the slave's, then the
 * master's for the cascade input IR2). The CPU's side is vpic_intr / vpic_ack.
 */
#ifndef TESTS_LINUX_PIC_H
#define TESTS_LINUX_PIC_H

#include <stdbool.h>
#include <stdint.h>

#include "fake_vm.h"
#include "hv/dev/vpic.h"

#define PIC_M     0x20
#define PIC_S     0xa0
#define PIC_VEC0  0x30              /* ISA_IRQ_VECTOR(0): IRQ 0-7 */
#define PIC_VEC8  0x38              /* IRQ 8-15 */

static inline struct device *pic_dev(struct fake_vm *v)
{
    return dev_find(&v->devs, vpic_type.id, 0);
}

/* init_8259A(auto_eoi): everything masked before and after, as Linux leaves it. */
static inline void linux_pic_init(struct fake_vm *v, bool auto_eoi)
{
    fake_vm_outb(v, PIC_M + 1, 0xff);
    fake_vm_outb(v, PIC_S + 1, 0xff);
    fake_vm_outb(v, PIC_M, 0x11);               /* ICW1: edge, cascade, ICW4 follows */
    fake_vm_outb(v, PIC_M + 1, PIC_VEC0);       /* ICW2 */
    fake_vm_outb(v, PIC_M + 1, 1u << 2);        /* ICW3: a slave on IR2 */
    fake_vm_outb(v, PIC_M + 1, auto_eoi ? 0x03 : 0x01);    /* ICW4: 8086, (auto-)EOI */
    fake_vm_outb(v, PIC_S, 0x11);
    fake_vm_outb(v, PIC_S + 1, PIC_VEC8);
    fake_vm_outb(v, PIC_S + 1, 2);              /* ICW3: slave id 2 */
    fake_vm_outb(v, PIC_S + 1, 0x01);
    fake_vm_outb(v, PIC_M + 1, 0xff);           /* cached masks restored */
    fake_vm_outb(v, PIC_S + 1, 0xff);
}

static inline uint16_t pic_port(unsigned irq) { return irq & 8 ? PIC_S : PIC_M; }

/* enable_8259A_irq; a slave line also needs the cascade input (Linux's irq2 action). */
static inline void pic_unmask(struct fake_vm *v, unsigned irq)
{
    uint16_t p = pic_port(irq) + 1;
    fake_vm_outb(v, p, (uint8_t)(fake_vm_inb(v, p) & ~(1u << (irq & 7))));
    if (irq & 8)
        pic_unmask(v, 2);
}

static inline void pic_mask(struct fake_vm *v, unsigned irq)
{
    uint16_t p = pic_port(irq) + 1;
    fake_vm_outb(v, p, (uint8_t)(fake_vm_inb(v, p) | 1u << (irq & 7)));
}

/* OCW3 0x0a then a read: the request register. */
static inline uint8_t pic_irr(struct fake_vm *v, uint16_t chip)
{
    fake_vm_outb(v, chip, 0x0a);
    return fake_vm_inb(v, chip);
}

/* OCW3 0x0b, a read, then back to IRR (i8259A_irq_real). */
static inline uint8_t pic_isr(struct fake_vm *v, uint16_t chip)
{
    fake_vm_outb(v, chip, 0x0b);
    uint8_t isr = fake_vm_inb(v, chip);
    fake_vm_outb(v, chip, 0x0a);
    return isr;
}

/* mask_and_ack_8259A's EOIs: specific EOI 0x60 + IR, and 0x62 to the master for the slave. */
static inline void pic_eoi(struct fake_vm *v, unsigned irq)
{
    if (irq & 8) {
        fake_vm_outb(v, PIC_S, (uint8_t)(0x60 + (irq & 7)));
        fake_vm_outb(v, PIC_M, 0x62);
    } else {
        fake_vm_outb(v, PIC_M, (uint8_t)(0x60 + irq));
    }
}

static inline bool pic_int(struct fake_vm *v) { return vpic_intr(pic_dev(v)); }
static inline uint8_t pic_ack(struct fake_vm *v) { return vpic_ack(pic_dev(v)); }

#endif
