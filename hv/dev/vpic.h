/*
 * The PC's two 8259A programmable interrupt controllers (Intel 8259A datasheet,
 * 231468) and the PIIX ELCR: the master at ports 0x20-0x21 takes ISA IRQs 0-7,
 * the slave at 0xA0-0xA1 takes 8-15 and cascades into the master's IR2; the
 * edge/level control registers are at 0x4D0 (master) and 0x4D1 (slave).
 * Modelled: ICW1-ICW4 (cascade or single, with or without ICW4, 8086 mode,
 * auto-EOI, special fully nested), OCW1 (mask), OCW2 (non-specific, specific
 * and rotating EOIs, set priority, rotate in auto-EOI), OCW3 (read IRR/ISR,
 * poll, special mask mode), edge sense latches and level inputs (ELCR or
 * ICW1.LTIM). The master's INT output goes to the boot vCPU (vpic_intr /
 * vpic_ack, as INTA cycles); with nothing pending an INTA gets the spurious
 * IRQ 7 (or 15 through the cascade), as on the chip.
 * Record version 1: both chips' registers and the input levels seen.
 */
#ifndef HV_DEV_VPIC_H
#define HV_DEV_VPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/dev/device.h"

#define VPIC_MASTER 0x20
#define VPIC_SLAVE  0xa0
#define VPIC_ELCR   0x4d0

struct vpic_cfg {
    uint16_t master, slave, elcr;
};

struct vpic_chip {
    uint8_t irr, isr, imr;
    uint8_t level;                    /* the inputs as last driven (edge sense) */
    uint8_t elcr;                     /* level-triggered inputs */
    uint8_t base;                     /* ICW2: vector of IR0 */
    uint8_t lowest;                   /* the IR with the lowest priority (rotation) */
    uint8_t init;                     /* 0: ready; 1, 2, 3: expecting ICW2, ICW3, ICW4 */
    bool icw4, single, ltim, aeoi, rotate_aeoi, sfnm;
    bool read_isr, poll, special_mask;
};

struct vpic {
    struct vpic_chip chip[2];         /* 0 master, 1 slave */
};

extern const struct dev_type vpic_type;

/* The master's INT output: an unmasked request outranks what is in service. */
bool vpic_intr(const struct device *d);
/* The CPU's interrupt acknowledge: the vector to deliver (ISR set, IRR cleared for edges). */
uint8_t vpic_ack(struct device *d);

#endif
