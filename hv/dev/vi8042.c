/* The 8042's reset line; see hv/dev/vi8042.h. */
#include <errno.h>
#include <stdio.h>

#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"
#include "hv/dev/vi8042.h"

#define REC_SIZE 4

static int port_io(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val,
                   bool cmd)
{
    (void)off;
    if (size != 1)
        return -EINVAL;
    if (!write)
        *val = 0xff;
    else if (cmd && (*val & 0xf0) == 0xf0 && !(*val & 1))
        dev_guest_reset(opaque);        /* pulse output port bit 0: the reset line */
    return 0;
}

static int data_io(void *o, uint64_t off, bool w, unsigned sz, uint64_t *v)
{
    return port_io(o, off, w, sz, v, false);
}

static int cmd_io(void *o, uint64_t off, bool w, unsigned sz, uint64_t *v)
{
    return port_io(o, off, w, sz, v, true);
}

static int vi8042_create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    const struct vi8042_cfg *c = cfg;
    uint16_t data = c ? c->data : VI8042_DATA, cmd = c ? c->cmd : VI8042_CMD;
    int rc = dev_claim_pio(d, data, 1, data_io);
    if (!rc)
        rc = dev_claim_pio(d, cmd, 1, cmd_io);
    if (rc)
        snprintf(err, errlen, "i8042: ports 0x%x, 0x%x %s", data, cmd,
                 rc == -EBUSY ? "are taken" : "cannot be claimed");
    return rc;
}

static void vi8042_reset(struct device *d) { (void)d; }

static void vi8042_save(const struct device *d, uint8_t *rec)
{
    (void)d;
    devrec_put32(&rec, 0);
}

static int vi8042_check(const struct device *d, const uint8_t *rec, char *why, size_t n)
{
    (void)d;
    if (devrec_get32(&rec)) {
        snprintf(why, n, "reserved bytes set");
        return -EINVAL;
    }
    return 0;
}

static void vi8042_load(struct device *d, const uint8_t *rec) { (void)d, (void)rec; }

const struct dev_type vi8042_type = {
    .name = "i8042",
    .id = DEV_ID_I8042,
    .version = 1,
    .record_size = REC_SIZE,
    .state_size = 4,
    .create = vi8042_create,
    .reset = vi8042_reset,
    .save = vi8042_save,
    .check = vi8042_check,
    .load = vi8042_load,
};
