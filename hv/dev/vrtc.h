/*
 * The PC's CMOS real-time clock (Motorola MC146818A data sheet): index port
 * 0x70 (bit 7 is the NMI mask, kept but without effect), data port 0x71.
 * Registers 0-9 (seconds, alarms, hours, day of week, date, month, year) in
 * BCD or binary, 24- or 12-hour (register B's DM and 24/12 bits), the
 * century at 0x32, A (UIP for the last 244 us of each second, divider, rate
 * select), B (SET freezes the clock while the guest writes it; PIE, AIE,
 * UIE), C (IRQF, PF, AF, UF; reading clears them), D (VRT), and the rest of
 * the 128 bytes as battery-backed RAM. The time of day is the host's wall
 * clock plus an offset the guest's writes move; IRQF drives the interrupt
 * line (IRQ 8) until C is read.
 * Record version 1 carries the offset from the wall clock, so a guest's
 * clock is right on a target whose wall clock is right.
 */
#ifndef HV_DEV_VRTC_H
#define HV_DEV_VRTC_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/dev/device.h"

#define VRTC_PORT 0x70
#define VRTC_CENTURY 0x32

struct vrtc_cfg {
    uint16_t port;
    uint8_t irq;
};

struct vrtc {
    uint8_t cmos[128];                /* A-D at 0x0a-0x0d; 0-9 are computed from the clock */
    uint8_t index, irq;
    bool nmi_masked;
    int64_t offset_ns;                /* guest time of day = host wall clock + offset_ns */
    int64_t frozen_s;                 /* while SET: the time the registers show */
    int64_t last_s;                   /* the second whose update-ended flag was set */
    uint64_t last_period;             /* the periodic flag's last period index */
};

extern const struct dev_type vrtc_type;

#endif
