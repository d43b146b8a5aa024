/*
 * The PC keyboard controller's reset line, and only that (what a machine
 * without a keyboard needs): a write to the command port 0x64 of a "pulse
 * output port" command (0xF0-0xFF) with bit 0 clear (0xFE, what Linux and
 * every BIOS send) pulls the CPU reset line and the VM restarts. Both ports
 * read 0xFF, as an absent controller does, so a driver's probe fails at once
 * and cleanly (Linux: "i8042: No controller found"); data writes vanish.
 * Record version 1: four zero bytes (no state).
 */
#ifndef HV_DEV_VI8042_H
#define HV_DEV_VI8042_H

#include <stdint.h>

#include "hv/dev/device.h"

#define VI8042_DATA 0x60
#define VI8042_CMD  0x64

struct vi8042_cfg {
    uint16_t data, cmd;
};

extern const struct dev_type vi8042_type;

#endif
