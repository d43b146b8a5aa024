/*
 * A test exit port like QEMU's isa-debug-exit: a 1-, 2- or 4-byte write to
 * it ends the VM with the value written as its exit code (the VM stops; the
 * console says `vm: NAME exited code=N`). Test kernels report their result
 * this way. Reads return all ones. No state: its record (version 1) is four
 * reserved bytes.
 */
#ifndef HV_DEV_VDEBUGEXIT_H
#define HV_DEV_VDEBUGEXIT_H

#include <stdint.h>

#include "hv/dev/device.h"

#define VDEBUGEXIT_PORT 0xf4

struct vdebugexit_cfg {
    uint16_t port;
};

extern const struct dev_type vdebugexit_type;

#endif
