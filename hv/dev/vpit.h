/*
 * The 8254 programmable interval timer (Intel 8254 datasheet, 231164): three
 * 16-bit counters at ports 0x40-0x42 clocked at 1.193182 MHz of guest time,
 * the control word at 0x43 (modes 0-5, LSB/MSB/both access, BCD, counter
 * latch and read-back commands), and port 0x61's PIT bits: channel 2's gate
 * (bit 0, read/write), the speaker data bit (1), the refresh toggle (4,
 * every 15 us) and channel 2's OUT (5). Linux calibrates the TSC against
 * channel 2 this way. Counters are computed from the guest clock when read,
 * never ticked. Channel 0's OUT drives interrupt line `irq` (IRQ 0): each
 * rising edge is one pulse, found when the device is polled (periodic modes
 * 2 and 3 give one per period; edges missed between two polls make one, as
 * a PC's edge-triggered input would latch only one).
 * Record version 2 keeps every counter relative to the guest clock (elapsed
 * ticks since it was loaded), so it resumes where it was on any host, and
 * whether channel 0 owes an edge it reached before the save but no poll saw
 * (version 1 lost it: a one-shot timer then never fired on the target).
 */
#ifndef HV_DEV_VPIT_H
#define HV_DEV_VPIT_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/dev/device.h"

#define VPIT_PORT      0x40            /* 0x40-0x43 */
#define VPIT_PORT61    0x61
#define VPIT_HZ        1193182ull

struct vpit_cfg {
    uint16_t port, port61;
    uint8_t irq;                       /* the line channel 0's OUT drives */
};

struct vpit_channel {
    uint32_t reload;                   /* 1..65536 (a written 0 counts 65536) */
    uint8_t mode, rw, bcd;             /* from the control word */
    bool armed;                        /* a count was written */
    bool running;                      /* counting since start_ns (else held at `held`) */
    bool write_msb;                    /* lohi: the next write is the MSB */
    bool read_msb;                     /* lohi: the next read is the MSB */
    bool latched, status_latched;
    bool latch_msb;                    /* lohi latch: the MSB is still to read */
    uint16_t latch;
    uint8_t status;
    uint8_t lsb;                       /* lohi: the LSB written first */
    uint64_t start_ns;                 /* guest time counting (re)started */
    uint64_t held;                     /* ticks counted before start_ns */
};

struct vpit {
    struct vpit_channel ch[3];
    bool gate2, speaker;
    uint8_t irq;
    uint64_t irq_seen;                 /* channel 0: the last period (or edge) delivered */
};

extern const struct dev_type vpit_type;

#endif
