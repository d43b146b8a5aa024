/* Devices in a migration; see hv/mig/mig_devices.h. */
#include <errno.h>
#include <stdio.h>

#include "hv/dev/dev_ids.h"
#include "hv/mig/mig_devices.h"

_Static_assert(MIG_DEV_RECORD_MAX >= DEV_RECORD_MAX, "a device record fits a DEVICE record");

int mig_devices_hello(const struct dev_set *s, struct mig_hello *h)
{
    if (s->ndevs > MIG_MAX_DEVICES)
        return -E2BIG;
    for (unsigned i = 0; i < s->ndevs; i++) {
        const struct device *d = s->devs[i];
        h->devices[i] = (struct mig_dev_id){ d->type->id, d->instance, d->type->version };
    }
    h->ndevices = (uint16_t)s->ndevs;
    return 0;
}

int mig_devices_known(const struct mig_hello *h, char *why, size_t whylen)
{
    for (unsigned i = 0; i < h->ndevices; i++) {
        int rc = dev_type_check_known(h->devices[i].type, h->devices[i].version, why, whylen);
        if (rc)
            return rc;
    }
    return 0;
}

/* In the machine, or one of the VM's NICs (HELLO names them: virtio-net 0..nnics-1). */
static bool in_machine(const struct dev_machine *m, const struct mig_hello *h, uint16_t type,
                       uint16_t instance)
{
    if ((type == DEV_ID_VIRTIO_NET && instance < h->nnics) ||
        (type == DEV_ID_VIRTIO_BLK && instance < h->ndisks))
        return true;
    for (unsigned i = 0; i < m->ndevs; i++)
        if (m->devs[i].type->id == type && m->devs[i].instance == instance)
            return true;
    return false;
}

int mig_devices_match(const struct dev_machine *m, const struct mig_hello *h, char *why,
                      size_t whylen)
{
    for (unsigned i = 0; i < h->ndevices; i++) {
        const struct mig_dev_id *id = &h->devices[i];
        const struct dev_type *t = dev_type_by_id(id->type);
        if (!in_machine(m, h, id->type, id->instance)) {
            snprintf(why, whylen, "device %s#%u is not in this host's machine",
                     t ? t->name : "?", id->instance);
            return -ENOENT;
        }
        for (unsigned j = 0; j < i; j++)
            if (h->devices[j].type == id->type && h->devices[j].instance == id->instance) {
                snprintf(why, whylen, "device %s#%u listed twice", t ? t->name : "?",
                         id->instance);
                return -EINVAL;
            }
    }
    /* Every listed device is in the machine (or a named NIC), none twice: equal sets if the
     * counts agree. */
    unsigned nics = 0, disks = 0;
    for (unsigned i = 0; i < h->ndevices; i++) {
        nics += h->devices[i].type == DEV_ID_VIRTIO_NET;
        disks += h->devices[i].type == DEV_ID_VIRTIO_BLK;
    }
    if (nics != h->nnics || disks != h->ndisks) {
        snprintf(why, whylen, "HELLO names %u NICs and %u disks but lists %u virtio-net and %u "
                 "virtio-blk devices", h->nnics, h->ndisks, nics, disks);
        return -EINVAL;
    }
    for (unsigned i = 0; h->ndevices != m->ndevs + nics + disks && i < m->ndevs; i++) {
        const struct dev_machine_entry *e = &m->devs[i];
        bool listed = false;
        for (unsigned j = 0; j < h->ndevices; j++)
            listed |= h->devices[j].type == e->type->id && h->devices[j].instance == e->instance;
        if (!listed) {
            snprintf(why, whylen, "the VM lacks device %s#%u that this host's machine has",
                     e->type->name, e->instance);
            return -ENOENT;
        }
    }
    return 0;
}

void mig_devices_poll(struct dev_set *s)
{
    spin_lock(&s->lock);
    (void)dev_set_poll(s, dev_set_now(s));
    spin_unlock(&s->lock);
}

int mig_devices_put(struct mig_enc *e, const struct device *d, uint8_t *scratch)
{
    int n = dev_save(d, scratch, MIG_DEV_RECORD_MAX);
    if (n < 0)
        return n;
    struct mig_dev_id id = { d->type->id, d->instance, d->type->version };
    return mig_rec_device(e, &id, scratch, (size_t)n);
}

int mig_devices_stage(struct dev_set *s, const struct mig_record *r, char *why,
                      size_t whylen)
{
    struct mig_dev_id id;
    const uint8_t *rec;
    size_t n;
    if (mig_parse_device(r, &id, &rec, &n)) {
        snprintf(why, whylen, "malformed DEVICE record");
        return -EBADMSG;
    }
    struct device *d = dev_find(s, id.type, id.instance);
    if (!d) {
        snprintf(why, whylen, "DEVICE record for type 0x%04x#%u, which HELLO did not list",
                 id.type, id.instance);
        return -ENOENT;
    }
    return dev_stage(d, id.version, rec, n, why, whylen);
}

int mig_devices_commit(struct dev_set *s, char *why, size_t whylen)
{
    int rc = dev_set_staged_complete(s, why, whylen);
    if (rc)
        return rc;
    dev_set_load_staged(s);
    return 0;
}
