/* The device framework; see hv/dev/device.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/mem.h"
#include "hv/dev/device.h"

/* Each device lives in one block of frames: the struct, its state, room for a staged record. */
static uint64_t block_pages(const struct dev_type *t)
{
    uint64_t bytes = sizeof(struct device) + 16 + t->state_size + t->record_size;
    return (bytes + PAGE_SIZE - 1) / PAGE_SIZE;
}

void dev_set_init(struct dev_set *s, unsigned node, bus_reserved_fn reserved, void *ctx)
{
    memset(s, 0, sizeof(*s));
    s->node = node;
    s->poll_stale = true;
    bus_init(&s->bus, node, reserved, ctx);
}

void dev_label(const struct device *d, char *buf, size_t n)
{
    snprintf(buf, n, "%s#%u", d->type->name, d->instance);
}

uint64_t dev_set_now(const struct dev_set *s)
{
    return s->clock_ns ? s->clock_ns(s->clock_ctx) : 0;
}

uint64_t dev_now_ns(const struct device *d) { return dev_set_now(d->set); }

unsigned dev_vcpu(const struct device *d) { return d->set->vcpu; }

void dev_vcpu_kick(struct device *d, unsigned vcpu)
{
    const struct dev_set *s = d->set;
    if (s->platform && s->platform->vcpu_kick)
        s->platform->vcpu_kick(s->platform_ctx, vcpu);
}

void dev_guest_exit(struct device *d, uint32_t code)
{
    if (d->set->platform && d->set->platform->guest_exit)
        d->set->platform->guest_exit(d->set->platform_ctx, code);
}

uint64_t dev_wall_ns(const struct device *d)
{
    const struct dev_set *s = d->set;
    return s->platform && s->platform->wall_ns ? s->platform->wall_ns(s->platform_ctx) : 0;
}

void *dev_guest_map(struct device *d, uint64_t gpa, uint64_t len, bool write)
{
    const struct dev_set *s = d->set;
    if (!len || gpa + len < gpa || !s->platform || !s->platform->guest_map)
        return NULL;
    return s->platform->guest_map(s->platform_ctx, gpa, len, write);
}

int dev_net_tx(struct device *d, unsigned nic, const void *frame, size_t len)
{
    const struct dev_set *s = d->set;
    if (!s->platform || !s->platform->net_tx)
        return -ENODEV;
    return s->platform->net_tx(s->platform_ctx, nic, frame, len);
}

void dev_guest_power_off(struct device *d)
{
    const struct dev_set *s = d->set;
    if (s->platform && s->platform->power_off)
        s->platform->power_off(s->platform_ctx);
}

void dev_guest_reset(struct device *d)
{
    const struct dev_set *s = d->set;
    if (s->platform && s->platform->reset)
        s->platform->reset(s->platform_ctx);
}

void dev_intr_changed(struct device *d)
{
    const struct dev_set *s = d->set;
    if (s->platform && s->platform->intr_changed)
        s->platform->intr_changed(s->platform_ctx);
}

void dev_irq_set(struct device *d, unsigned line, bool level)
{
    struct dev_set *s = d->set;
    if (line >= DEV_IRQ_LINES || ((s->irq_level >> line) & 1) == level)
        return;
    s->irq_level ^= 1u << line;
    for (unsigned i = 0; i < s->nsinks; i++)
        s->sinks[i].fn(s->sinks[i].dev, line, level);
}

void dev_irq_pulse(struct device *d, unsigned line)
{
    dev_irq_set(d, line, true);
    dev_irq_set(d, line, false);
}

int dev_irq_sink(struct device *d, dev_irq_fn fn)
{
    struct dev_set *s = d->set;
    if (s->nsinks == DEV_IRQ_SINKS)
        return -ENOSPC;
    s->sinks[s->nsinks].dev = d;
    s->sinks[s->nsinks].fn = fn;
    s->nsinks++;
    return 0;
}

bool dev_set_busy(struct dev_set *s)
{
    bool busy = false;
    spin_lock(&s->lock);
    for (unsigned i = 0; i < s->ndevs && !busy; i++)
        busy = s->devs[i]->type->busy && s->devs[i]->type->busy(s->devs[i]);
    spin_unlock(&s->lock);
    return busy;
}

uint64_t dev_set_poll(struct dev_set *s, uint64_t now_ns)
{
    uint64_t next = 0;
    for (unsigned i = 0; i < s->ndevs; i++) {
        struct device *d = s->devs[i];
        if (!d->type->poll)
            continue;
        uint64_t t = d->type->poll(d, now_ns);
        if (t && (!next || t < next))
            next = t;
    }
    return next;
}

struct device *dev_find(const struct dev_set *s, uint16_t type_id, uint16_t instance)
{
    for (unsigned i = 0; i < s->ndevs; i++)
        if (s->devs[i]->type->id == type_id && s->devs[i]->instance == instance)
            return s->devs[i];
    return NULL;
}

/* The pointer array grows by doubling; devices themselves never move (the bus points at them). */
static int grow(struct dev_set *s)
{
    unsigned cap = s->cap ? s->cap * 2 : PAGE_SIZE / sizeof(struct device *);
    uint64_t pages = (cap * sizeof(struct device *) + PAGE_SIZE - 1) / PAGE_SIZE;
    uint64_t pa = frame_alloc(s->node, pages, 1, FRAME_ZERO);
    if (!pa)
        return -ENOMEM;
    struct device **a = phys_to_virt(pa);
    if (s->devs) {
        memcpy(a, s->devs, s->ndevs * sizeof(*a));
        frame_free(virt_to_phys(s->devs),
                   (s->cap * sizeof(struct device *) + PAGE_SIZE - 1) / PAGE_SIZE);
    }
    s->devs = a;
    s->cap = cap;
    return 0;
}

/* A controller that goes stops listening to the lines. */
static void drop_sink(struct dev_set *s, struct device *d)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->nsinks; i++)
        if (s->sinks[i].dev != d)
            s->sinks[n++] = s->sinks[i];
    s->nsinks = n;
}

static void free_device(struct device *d)
{
    if (d->type->destroy)
        d->type->destroy(d);
    drop_sink(d->set, d);
    bus_release(&d->set->bus, d);
    frame_free(virt_to_phys(d), block_pages(d->type));
}

static bool type_valid(const struct dev_type *t)
{
    return t && t->name && t->id && t->create && t->reset && t->save && t->check && t->load &&
           t->record_size && t->record_size <= DEV_RECORD_MAX;
}

int dev_add(struct dev_set *s, const struct dev_type *t, uint16_t instance, const void *cfg,
            char *err, size_t errlen)
{
    if (!type_valid(t)) {
        snprintf(err, errlen, "device type %s is incomplete", t && t->name ? t->name : "?");
        return -EINVAL;
    }
    if (dev_find(s, t->id, instance)) {
        snprintf(err, errlen, "device %s#%u exists already", t->name, instance);
        return -EEXIST;
    }
    if (s->ndevs == s->cap && grow(s)) {
        snprintf(err, errlen, "no memory for device %s#%u", t->name, instance);
        return -ENOMEM;
    }
    uint64_t pa = frame_alloc(s->node, block_pages(t), 1, FRAME_ZERO);
    if (!pa) {
        snprintf(err, errlen, "no memory for device %s#%u", t->name, instance);
        return -ENOMEM;
    }
    struct device *d = phys_to_virt(pa);
    uint8_t *mem = (uint8_t *)(d + 1);
    d->type = t;
    d->instance = instance;
    d->set = s;
    d->state = mem + 16 - ((uintptr_t)mem & 15);        /* 16-byte aligned state */
    d->staged = (uint8_t *)d->state + t->state_size;
    int rc = t->create(d, cfg, err, errlen);
    if (rc) {
        bus_release(&s->bus, d);
        drop_sink(s, d);
        frame_free(pa, block_pages(t));
        return rc;
    }
    s->devs[s->ndevs++] = d;
    return 0;
}

int dev_set_build(struct dev_set *s, const struct dev_machine *m, char *err, size_t errlen)
{
    for (unsigned i = 0; i < m->ndevs; i++) {
        const struct dev_machine_entry *e = &m->devs[i];
        char why[120];
        int rc = dev_add(s, e->type, e->instance, e->cfg, why, sizeof(why));
        if (rc) {
            snprintf(err, errlen, "machine %s: %s", m->name, why);
            dev_set_destroy(s);
            return rc;
        }
    }
    return 0;
}

void dev_set_reset(struct dev_set *s)
{
    for (unsigned i = 0; i < s->ndevs; i++)
        s->devs[i]->type->reset(s->devs[i]);
    s->irq_level = 0;           /* every device's outputs are low again */
    s->poll_stale = true;
}

void dev_set_destroy(struct dev_set *s)
{
    while (s->ndevs)
        free_device(s->devs[--s->ndevs]);
    if (s->devs)
        frame_free(virt_to_phys(s->devs),
                   (s->cap * sizeof(struct device *) + PAGE_SIZE - 1) / PAGE_SIZE);
    s->devs = NULL;
    s->cap = 0;
    s->irq_level = 0;
    bus_free(&s->bus);
}

static int bus_fn_check(struct device *d, bus_access_fn fn)
{
    return d && d->set && fn ? 0 : -EINVAL;
}

int dev_claim_pio(struct device *d, uint16_t base, uint16_t count, bus_access_fn fn)
{
    int rc = bus_fn_check(d, fn);
    return rc ? rc : bus_claim(&d->set->bus, BUS_PIO, base, count, fn, d, d);
}

int dev_claim_mmio(struct device *d, uint64_t base, uint64_t size, bus_access_fn fn)
{
    int rc = bus_fn_check(d, fn);
    return rc ? rc : bus_claim(&d->set->bus, BUS_MMIO, base, size, fn, d, d);
}

int dev_claim_msr(struct device *d, uint32_t base, uint32_t count, bus_access_fn fn)
{
    int rc = bus_fn_check(d, fn);
    return rc ? rc : bus_claim(&d->set->bus, BUS_MSR, base, count, fn, d, d);
}

int dev_set_msr(const struct dev_set *s, uint32_t msr, bool write, uint64_t *val)
{
    return bus_access(&s->bus, BUS_MSR, msr, write, 8, val);
}

int dev_set_pio(const struct dev_set *s, uint16_t port, bool write, unsigned size,
                uint32_t *val)
{
    uint64_t v = write ? *val : 0;
    int rc = bus_access(&s->bus, BUS_PIO, port, write, size, &v);
    if (rc == -ENOENT) {
        v = 0xffffffffu;
        rc = 0;
    }
    if (!rc && !write)
        *val = (uint32_t)v;
    return rc;
}

/* ---- state records ---- */

int dev_save(const struct device *d, uint8_t *buf, size_t cap)
{
    if (cap < d->type->record_size)
        return -ENOSPC;
    memset(buf, 0, d->type->record_size);
    d->type->save(d, buf);
    return (int)d->type->record_size;
}

int dev_stage(struct device *d, uint16_t version, const uint8_t *rec, size_t len, char *why,
              size_t whylen)
{
    const struct dev_type *t = d->type;
    char label[DEV_NAME_MAX + 8];
    dev_label(d, label, sizeof(label));
    if (version != t->version) {
        snprintf(why, whylen, "device %s: record version %u, this host loads %u", label,
                 version, t->version);
        return -EINVAL;
    }
    if (len != t->record_size) {
        snprintf(why, whylen, "device %s: record of %lu bytes, version %u has %u", label,
                 (unsigned long)len, version, t->record_size);
        return -EINVAL;
    }
    if (d->has_staged) {
        snprintf(why, whylen, "device %s: record sent twice", label);
        return -EEXIST;
    }
    char reason[100] = "";
    if (t->check(d, rec, reason, sizeof(reason))) {
        snprintf(why, whylen, "device %s: %s", label, reason[0] ? reason : "bad record");
        return -EINVAL;
    }
    memcpy(d->staged, rec, len);
    d->has_staged = true;
    return 0;
}

int dev_set_staged_complete(const struct dev_set *s, char *why, size_t whylen)
{
    for (unsigned i = 0; i < s->ndevs; i++)
        if (!s->devs[i]->has_staged) {
            char label[DEV_NAME_MAX + 8];
            dev_label(s->devs[i], label, sizeof(label));
            snprintf(why, whylen, "device %s: no record received", label);
            return -ENOENT;
        }
    return 0;
}

void dev_set_load_staged(struct dev_set *s)
{
    for (unsigned i = 0; i < s->ndevs; i++) {
        struct device *d = s->devs[i];
        if (d->has_staged)
            d->type->load(d, d->staged);
        d->has_staged = false;
    }
    s->poll_stale = true;       /* timers came with the records */
}

void dev_set_drop_staged(struct dev_set *s)
{
    for (unsigned i = 0; i < s->ndevs; i++)
        s->devs[i]->has_staged = false;
}

/* ---- known types ---- */

/* The table is the machine file's (hv/dev/machine.c); a unit test may bring its own. */
extern const struct dev_type *const dev_known_types[];
extern const unsigned dev_known_count;

const struct dev_type *dev_type_by_id(uint16_t id)
{
    for (unsigned i = 0; i < dev_known_count; i++)
        if (dev_known_types[i]->id == id)
            return dev_known_types[i];
    return NULL;
}

int dev_type_check_known(uint16_t id, uint16_t version, char *why, size_t whylen)
{
    const struct dev_type *t = dev_type_by_id(id);
    if (!t) {
        snprintf(why, whylen, "device type 0x%04x unknown on this host", id);
        return -ENOENT;
    }
    if (version != t->version) {
        snprintf(why, whylen, "device %s record version %u, this host loads %u", t->name,
                 version, t->version);
        return -EPROTO;
    }
    return 0;
}
