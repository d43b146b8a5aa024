/*
 * The I/O APIC (Intel 82093AA datasheet; the version-0x20 register set of later chipsets, with
 * the EOI register): 24 input pins routed by redirection entries to the local APICs as
 * interrupt messages (vlapic_deliver_msg). One MMIO window: IOREGSEL at +0x00 (the index, 8
 * bits), IOWIN at +0x10 (the indexed 32-bit register), EOI at +0x40. Indexed registers: 0x00 ID
 * (bits 27:24), 0x01 version (0x00170020: 24 entries, version 0x20), 0x02 arbitration ID, and
 * 0x10 + 2n / 0x11 + 2n the low / high halves of entry n. An index past them reads 0 and drops
 * writes; IOWIN and EOI take 32-bit accesses only, IOREGSEL 8 or 32 (others: -EINVAL).
 *
 * Pins listen to the machine's interrupt lines (dev_irq_sink) as on a PC with the MADT's
 * interrupt source override: ISA IRQ 0 (the PIT) is pin 2, every other line its own number; line
 * 2 (the 8259 cascade) is no pin. A line carries assertion, not voltage: the entry's polarity is
 * kept for the guest to read but does not invert it. An edge-triggered pin sends its message on a
 * rising line while unmasked (edges while masked are lost, as on the chip); a level-triggered one
 * sends while the line is up, unmasked and remote IRR is clear, sets remote IRR, and sends again
 * after the EOI (the local APIC's broadcast, vioapic_eoi, or the EOI register) if the line is
 * still up. Delivery status always reads 0: messages are never held.
 *
 * Record version 1 (fixed size, little-endian): IOREGSEL, ID, and per pin its entry (remote IRR
 * included) and its line's level as this I/O APIC last saw it.
 *
 * Every function here assumes the set's lock is held.
 */
#ifndef HV_DEV_VIOAPIC_H
#define HV_DEV_VIOAPIC_H

#include <stdint.h>

#include "hv/dev/device.h"

#define VIOAPIC_BASE     0xfec00000ull
#define VIOAPIC_SIZE     0x100ull
#define VIOAPIC_PINS     24
#define VIOAPIC_VERSION  0x00170020u
/* ISA IRQ 0 arrives on this pin (the MADT's interrupt source override says so). */
#define VIOAPIC_IRQ0_PIN 2

struct vioapic_cfg {
    uint64_t base;               /* 0: VIOAPIC_BASE */
    uint8_t id;                  /* the ID register's reset value (the MADT's I/O APIC ID) */
};

struct vioapic {
    uint64_t base;
    uint8_t id, sel, reset_id;
    uint32_t level;              /* pins whose line is up */
    uint64_t redir[VIOAPIC_PINS];
};

extern const struct dev_type vioapic_type;

/* A local APIC retired level-triggered vector (its EOI broadcast): every pin routed with that
 * vector and remote IRR set clears it and, its line still up, sends again. */
void vioapic_eoi(struct device *d, uint8_t vector);
/* The local APICs' hook (vlapic_cfg.eoi_level): finds the set's I/O APIC and calls vioapic_eoi. */
void vioapic_lapic_eoi(struct device *lapic, unsigned vcpu, uint8_t vector);

#endif
