/* See fake_vm.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_vm.h"

static uint64_t fake_clock(void *ctx) { return ((struct fake_vm *)ctx)->now_ns; }

static bool fake_ram(void *ctx, enum bus_space sp, uint64_t base, uint64_t size)
{
    (void)ctx;
    return sp == BUS_MMIO && base < FAKE_VM_RAM && size;
}

static void fake_exit(void *ctx, uint32_t code)
{
    struct fake_vm *fv = ctx;
    fv->exits++;
    fv->exit_code = code;
}

static void fake_intr(void *ctx) { ((struct fake_vm *)ctx)->intr_kicks++; }

static uint64_t fake_wall(void *ctx) { return ((struct fake_vm *)ctx)->wall_ns; }

static void fake_reset(void *ctx) { ((struct fake_vm *)ctx)->resets++; }

static void fake_power_off(void *ctx) { ((struct fake_vm *)ctx)->power_offs++; }

static void fake_kick(void *ctx, unsigned vcpu)
{
    struct fake_vm *fv = ctx;
    if (vcpu < FAKE_VM_VCPUS)
        fv->vcpu_kicks[vcpu]++;
}

/* DMA as hv/vm/vm.c's vm_guest_map does it: a pointer when all of [gpa, gpa+len) is RAM, a
 * write logged dirty page by page. Only what fake_vm_ram made is RAM here. */
static void *fake_map(void *ctx, uint64_t gpa, uint64_t len, bool write)
{
    struct fake_vm *fv = ctx;
    if (!fv->ram || !len || gpa >= FAKE_VM_DMA_RAM || len > FAKE_VM_DMA_RAM - gpa)
        return NULL;
    fv->ram_maps++;
    if (write) {
        fv->ram_write_maps++;
        for (uint64_t pg = gpa >> 12; pg <= (gpa + len - 1) >> 12; pg++)
            fv->ram_dirty[pg / 64] |= 1ull << (pg % 64);
    }
    return fv->ram + gpa;
}

static const struct dev_platform fake_platform = { .guest_exit = fake_exit,
                                                   .intr_changed = fake_intr,
                                                   .wall_ns = fake_wall,
                                                   .reset = fake_reset,
                                                   .vcpu_kick = fake_kick,
                                                   .power_off = fake_power_off,
                                                   .guest_map = fake_map };

uint8_t *fake_vm_ram(struct fake_vm *fv)
{
    if (!fv->ram) {
        fv->ram = aligned_alloc(4096, FAKE_VM_DMA_RAM);
        if (!fv->ram) {
            fprintf(stderr, "fake_vm_ram: no memory\n");
            abort();
        }
        memset(fv->ram, 0, FAKE_VM_DMA_RAM);
    }
    return fv->ram;
}

bool fake_vm_ram_dirty(const struct fake_vm *fv, uint64_t gpa)
{
    uint64_t pg = gpa >> 12;
    return pg < FAKE_VM_DMA_PAGES && (fv->ram_dirty[pg / 64] >> (pg % 64) & 1);
}

void fake_vm_ram_clear_dirty(struct fake_vm *fv)
{
    memset(fv->ram_dirty, 0, sizeof(fv->ram_dirty));
    fv->ram_maps = fv->ram_write_maps = 0;
}

uint64_t fake_vm_poll(struct fake_vm *fv) { return dev_set_poll(&fv->devs, fv->now_ns); }

void fake_vm_advance(struct fake_vm *fv, uint64_t ns)
{
    fv->now_ns += ns;
    fv->wall_ns += ns;
}

void fake_vm_init(struct fake_vm *fv)
{
    memset(fv, 0, sizeof(*fv));
    dev_set_init(&fv->devs, 0, fake_ram, fv);
    fv->devs.clock_ns = fake_clock;
    fv->devs.clock_ctx = fv;
    fv->devs.platform = &fake_platform;
    fv->devs.platform_ctx = fv;
    fv->now_ns = 1000000000ull;
    fv->devs.nvcpus = 2;                /* per-vCPU devices (the local APICs) get two */
    fv->wall_ns = 1796560622ull * 1000000000ull;    /* 2026-12-06 12:37:02 UTC */
}

void fake_vm_build(struct fake_vm *fv, const struct dev_machine *m)
{
    char err[160];
    fake_vm_init(fv);
    if (dev_set_build(&fv->devs, m, err, sizeof(err))) {
        fprintf(stderr, "fake_vm_build: %s\n", err);
        abort();
    }
}

void fake_vm_destroy(struct fake_vm *fv)
{
    dev_set_destroy(&fv->devs);
    free(fv->ram);
    fv->ram = NULL;
}

uint32_t fake_vm_in(struct fake_vm *fv, uint16_t port, unsigned size)
{
    uint32_t v = 0;
    if (dev_set_pio(&fv->devs, port, false, size, &v))
        return 0xdeadbeef;              /* the guest would take #GP; tests compare values */
    return v;
}

void fake_vm_out(struct fake_vm *fv, uint16_t port, unsigned size, uint32_t val)
{
    (void)dev_set_pio(&fv->devs, port, true, size, &val);
}

int fake_vm_mmio_read(struct fake_vm *fv, uint64_t gpa, unsigned size, uint64_t *val)
{
    *val = 0;
    return bus_access(&fv->devs.bus, BUS_MMIO, gpa, false, size, val);
}

int fake_vm_mmio_write(struct fake_vm *fv, uint64_t gpa, unsigned size, uint64_t val)
{
    return bus_access(&fv->devs.bus, BUS_MMIO, gpa, true, size, &val);
}

int fake_vm_rdmsr(struct fake_vm *fv, uint32_t msr, uint64_t *val)
{
    *val = 0;
    return dev_set_msr(&fv->devs, msr, false, val);
}

int fake_vm_wrmsr(struct fake_vm *fv, uint32_t msr, uint64_t val)
{
    return dev_set_msr(&fv->devs, msr, true, &val);
}

int fake_vm_migrate(struct fake_vm *from, struct fake_vm *to, char *why, size_t whylen)
{
    static uint8_t rec[DEV_RECORD_MAX];
    for (unsigned i = 0; i < from->devs.ndevs; i++) {
        const struct device *d = from->devs.devs[i];
        struct device *t = dev_find(&to->devs, d->type->id, d->instance);
        int n = dev_save(d, rec, sizeof(rec));
        if (!t) {
            snprintf(why, whylen, "no %s#%u on the target", d->type->name, d->instance);
            dev_set_drop_staged(&to->devs);
            return -ENOENT;
        }
        int rc = n < 0 ? n : dev_stage(t, d->type->version, rec, (size_t)n, why, whylen);
        if (rc) {
            dev_set_drop_staged(&to->devs);
            return rc;
        }
    }
    int rc = dev_set_staged_complete(&to->devs, why, whylen);
    if (rc) {
        dev_set_drop_staged(&to->devs);
        return rc;
    }
    dev_set_load_staged(&to->devs);
    return 0;
}

void fake_vm_expect_refused(struct device *d, const uint8_t *rec, size_t n, size_t off, uint8_t x)
{
    static uint8_t b[DEV_RECORD_MAX];
    char why[200] = "";
    if (n > sizeof(b) || off >= n) {
        fprintf(stderr, "fake_vm_expect_refused: byte %lu of a %lu-byte record\n",
                (unsigned long)off, (unsigned long)n);
        abort();
    }
    memcpy(b, rec, n);
    b[off] ^= x;
    int rc = dev_stage(d, d->type->version, b, n, why, sizeof(why));
    dev_set_drop_staged(d->set);
    if (rc != -EINVAL || !why[0]) {
        fprintf(stderr, "fake_vm_expect_refused: byte %lu ^ 0x%02x: rc %d, why '%s'\n",
                (unsigned long)off, x, rc, why);
        abort();
    }
}
