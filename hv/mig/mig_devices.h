/*
 * The device half of a migration, for every device the same way: the source
 * lists its VM's devices in HELLO and sends one DEVICE record each after
 * STOP; the target refuses, before reserving anything, a HELLO naming a
 * device type or record version it cannot load or a device its machine lacks,
 * checks each DEVICE record as it arrives, and loads them all at COMMIT only
 * when every device's record arrived and passed. Nothing here names a device.
 */
#ifndef HV_MIG_DEVICES_H
#define HV_MIG_DEVICES_H

#include <stddef.h>

#include "hv/dev/device.h"
#include "hv/mig/mig_stream.h"

/* Source: HELLO's device list from the VM's devices. -E2BIG past MIG_MAX_DEVICES. */
int mig_devices_hello(const struct dev_set *s, struct mig_hello *h);
/* Target, before reserving anything: can this host load every listed device? */
int mig_devices_known(const struct mig_hello *h, char *why, size_t whylen);
/* Target, before reserving anything: are the listed devices exactly the machine's (the one
 * its skeleton will be built from)? */
int mig_devices_match(const struct dev_machine *m, const struct mig_hello *h, char *why,
                      size_t whylen);
/* Source, after STOP: the DEVICE record of d (scratch: MIG_DEV_RECORD_MAX bytes). */
int mig_devices_put(struct mig_enc *e, const struct device *d, uint8_t *scratch);
/* Before the first device record: every device's clock brought up to now, under the lock. */
void mig_devices_poll(struct dev_set *s);
/* Target: a DEVICE record for s, checked and kept for commit; the reason in why. */
int mig_devices_stage(struct dev_set *s, const struct mig_record *r, char *why,
                      size_t whylen);
/* Target at COMMIT: every device has a checked record -> load them all; else nothing. */
int mig_devices_commit(struct dev_set *s, char *why, size_t whylen);

#endif
