/*
 * "testdev", a small device for framework tests: 16 32-bit registers behind an
 * index/data port pair (index at port+0, data at port+2, 16-bit) and the same
 * registers as MMIO (4 bytes each), plus a one-shot timer whose deadline is
 * kept relative to the guest clock in its record. Record version 1: index u32,
 * regs[16] u32, timer_left_ns u64 (76 bytes). Its id is DEV_ID_TEST_FIRST.
 */
#ifndef FAKE_DEV_H
#define FAKE_DEV_H

#include <stdint.h>

#include "hv/dev/device.h"

struct testdev_cfg {
    uint16_t port;         /* 4 ports */
    uint64_t mmio;         /* 64 bytes; 0 for none */
};

struct testdev {
    uint32_t index;
    uint32_t regs[16];
    uint64_t deadline_ns;  /* guest clock; 0: no timer */
};

#define TESTDEV_REG_TIMER 15   /* writing N arms the timer N ns from now */

extern const struct dev_type testdev_type;
/* The same device at another record version (what a newer host would send). */
extern const struct dev_type testdev_v2_type;

#endif
