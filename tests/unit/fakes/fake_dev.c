/* See fake_dev.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fake_dev.h"
#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"

#define TESTDEV_RECORD (4 + 16 * 4 + 8)

static struct testdev *td(void *opaque) { return ((struct device *)opaque)->state; }

static void reg_write(struct device *d, uint32_t i, uint32_t v)
{
    struct testdev *t = d->state;
    t->regs[i] = v;
    if (i == TESTDEV_REG_TIMER)
        t->deadline_ns = v ? dev_now_ns(d) + v : 0;
}

static int port_access(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    struct testdev *t = td(opaque);
    if (off == 0 && size == 1) {
        if (write)
            t->index = *val & 15;
        else
            *val = t->index;
        return 0;
    }
    if (off == 2 && size == 2) {
        if (write)
            reg_write(opaque, t->index, (uint16_t)*val);
        else
            *val = (uint16_t)t->regs[t->index];
        return 0;
    }
    return -EINVAL;
}

static int mmio_access(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    if (size != 4 || off % 4)
        return -EINVAL;
    if (write)
        reg_write(opaque, (uint32_t)off / 4, (uint32_t)*val);
    else
        *val = td(opaque)->regs[off / 4];
    return 0;
}

static int create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    const struct testdev_cfg *c = cfg;
    int rc = dev_claim_pio(d, c->port, 4, port_access);
    if (!rc && c->mmio)
        rc = dev_claim_mmio(d, c->mmio, 64, mmio_access);
    if (rc)
        snprintf(err, errlen, "testdev: range taken (%d)", rc);
    return rc;
}

static void reset(struct device *d) { memset(d->state, 0, sizeof(struct testdev)); }

static void save(const struct device *d, uint8_t *rec)
{
    const struct testdev *t = d->state;
    uint64_t now = dev_now_ns(d);
    devrec_put32(&rec, t->index);
    for (int i = 0; i < 16; i++)
        devrec_put32(&rec, t->regs[i]);
    devrec_put64(&rec, t->deadline_ns ? (t->deadline_ns > now ? t->deadline_ns - now : 1) : 0);
}

static int check(const struct device *d, const uint8_t *rec, char *why, size_t whylen)
{
    (void)d;
    uint32_t index = devrec_get32(&rec);
    if (index > 15) {
        snprintf(why, whylen, "index %u out of range", index);
        return -EINVAL;
    }
    return 0;
}

static void load(struct device *d, const uint8_t *rec)
{
    struct testdev *t = d->state;
    t->index = devrec_get32(&rec);
    for (int i = 0; i < 16; i++)
        t->regs[i] = devrec_get32(&rec);
    uint64_t left = devrec_get64(&rec);
    t->deadline_ns = left ? dev_now_ns(d) + left : 0;
}

const struct dev_type testdev_type = {
    .name = "testdev", .id = DEV_ID_TEST_FIRST, .version = 1,
    .record_size = TESTDEV_RECORD, .state_size = sizeof(struct testdev),
    .create = create, .reset = reset, .save = save, .check = check, .load = load,
};

const struct dev_type testdev_v2_type = {
    .name = "testdev", .id = DEV_ID_TEST_FIRST, .version = 2,
    .record_size = TESTDEV_RECORD, .state_size = sizeof(struct testdev),
    .create = create, .reset = reset, .save = save, .check = check, .load = load,
};
