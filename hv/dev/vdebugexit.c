/* The debug-exit port; see hv/dev/vdebugexit.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"
#include "hv/dev/vdebugexit.h"

static int vdebugexit_io(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    if (off != 0 || (size != 1 && size != 2 && size != 4))
        return -EINVAL;
    if (!write) {
        *val = 0xffffffffu >> (32 - 8 * size);
        return 0;
    }
    dev_guest_exit(opaque, (uint32_t)(*val & (0xffffffffu >> (32 - 8 * size))));
    return 0;
}

static int vdebugexit_create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    const struct vdebugexit_cfg *c = cfg;
    uint16_t port = c ? c->port : VDEBUGEXIT_PORT;
    int rc = dev_claim_pio(d, port, 1, vdebugexit_io);
    if (rc)
        snprintf(err, errlen, "debug-exit: port 0x%x %s", port,
                 rc == -EBUSY ? "is taken" : "cannot be claimed");
    return rc;
}

static void vdebugexit_reset(struct device *d) { (void)d; }

static void vdebugexit_save(const struct device *d, uint8_t *rec)
{
    (void)d;
    devrec_put32(&rec, 0);
}

static int vdebugexit_check(const struct device *d, const uint8_t *rec, char *why, size_t n)
{
    (void)d;
    if (devrec_get32(&rec)) {
        snprintf(why, n, "reserved bytes set");
        return -EINVAL;
    }
    return 0;
}

static void vdebugexit_load(struct device *d, const uint8_t *rec) { (void)d, (void)rec; }

const struct dev_type vdebugexit_type = {
    .name = "debug-exit",
    .id = DEV_ID_DEBUG_EXIT,
    .version = 1,
    .record_size = 4,
    .state_size = 0,
    .create = vdebugexit_create,
    .reset = vdebugexit_reset,
    .save = vdebugexit_save,
    .check = vdebugexit_check,
    .load = vdebugexit_load,
};
