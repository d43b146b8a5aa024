/* PCI configuration mechanism #1 and the host bridge; see hv/dev/vpci.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"
#include "hv/dev/pcifn.h"
#include "hv/dev/vpci.h"

#define REC_SIZE (4 + 256)

/* What the guest may change in the bridge's space: command (I/O, memory, bus master, parity,
 * SERR), cache line size and latency timer. Everything else is read-only. */
static uint8_t wmask(unsigned reg)
{
    switch (reg) {
    case 0x04: return 0x47;
    case 0x05: return 0x01;
    case 0x0c: case 0x0d: return 0xff;
    default: return 0;
    }
}

static void bridge_defaults(uint8_t *c)
{
    memset(c, 0, 256);
    c[0x00] = 0x86, c[0x01] = 0x80;         /* vendor: Intel */
    c[0x02] = 0x37, c[0x03] = 0x12;         /* device: 440FX host bridge */
    c[0x08] = 0x02;                         /* revision */
    c[0x0b] = 0x06;                         /* class: bridge, subclass 0 (host), prog-if 0 */
}

static struct vpci *vp(void *opaque) { return ((struct device *)opaque)->state; }

static uint64_t ones(unsigned size) { return size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1; }

/* One configuration access: the bridge (00:00.0) answers from its 256 bytes, an attached
 * function (slot 1-31, function 0) from its own; extended space (ECAM past 256) reads 0 (no
 * extended capabilities); every other function is absent (all ones, writes vanish). reg +
 * size stays within the 4 KiB space (callers align). */
static int cfg_access(struct vpci *p, unsigned bus, unsigned devfn, unsigned reg, bool write,
                      unsigned size, uint64_t *val)
{
    bool bridge = bus == 0 && devfn == 0;
    struct pcifn *f = bus == 0 && !(devfn & 7) ? p->fn[devfn >> 3] : NULL;
    if (f && !bridge) {
        if (reg >= PCIFN_CFG_SIZE) {
            if (!write)
                *val = 0;
        } else if (write) {
            pcifn_cfg_write(f, reg, size, *val);
        } else {
            pcifn_cfg_read(f, reg, size, val);
        }
        return 0;
    }
    if (!write) {
        uint64_t v = 0;
        for (unsigned i = 0; i < size; i++)
            v |= (uint64_t)(!bridge ? 0xff : reg + i < 256 ? p->bridge[reg + i] : 0) << (8 * i);
        *val = v;
        return 0;
    }
    if (bridge)
        for (unsigned i = 0; i < size && reg + i < 256; i++) {
            uint8_t m = wmask(reg + i), b = (uint8_t)(*val >> (8 * i));
            p->bridge[reg + i] = (uint8_t)((p->bridge[reg + i] & ~m) | (b & m));
        }
    return 0;                               /* writes to absent functions vanish */
}

/* The memory window: the BAR that decodes addr, or a master abort (reads all ones, writes
 * vanish). An access that runs past the end of a BAR is refused. */
static int vpci_window(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    struct device *d = opaque;
    struct vpci *p = vp(d);
    uint64_t gpa = p->window + off;
    for (unsigned s = 1; s < VPCI_SLOTS; s++) {
        struct pcifn *f = p->fn[s];
        if (!f)
            continue;
        for (unsigned b = 0; b < PCIFN_BARS; b++) {
            uint64_t base = pcifn_bar_base(f, b);
            if (base == ~0ull || gpa < base || gpa - base >= f->bar_size[b])
                continue;
            if (gpa - base + size > f->bar_size[b])
                return -EINVAL;
            return f->ops->bar_access(f, b, gpa - base, write, size, val);
        }
    }
    if (!write)
        *val = size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
    return 0;
}

int vpci_attach(struct device *host, struct pcifn *f)
{
    struct vpci *p = vp(host);
    for (unsigned s = 1; s < VPCI_SLOTS; s++)
        if (!p->fn[s]) {
            p->fn[s] = f;
            f->slot = (uint8_t)s;
            return 0;
        }
    return -ENOSPC;
}

void vpci_detach(struct device *host, struct pcifn *f)
{
    struct vpci *p = vp(host);
    if (f->slot < VPCI_SLOTS && p->fn[f->slot] == f) {
        p->fn[f->slot] = NULL;
        f->intx_level = false;
        vpci_intx_sync(host, PCIFN_INTX_GSI(f->slot, 0));
    }
}

void vpci_intx_sync(struct device *host, unsigned gsi)
{
    struct vpci *p = vp(host);
    bool level = false;
    for (unsigned s = 1; s < VPCI_SLOTS; s++)
        if (p->fn[s] && PCIFN_INTX_GSI(s, 0) == gsi && pcifn_intx_asserted(p->fn[s]))
            level = true;
    dev_irq_set(host, gsi, level);
}

static int vpci_io(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    struct vpci *p = vp(opaque);
    if ((size != 1 && size != 2 && size != 4) || off + size > 8 ||
        (off < 4 && off + size > 4))
        return -EINVAL;
    if (off < 4) {
        /* Only a dword access at 0xCF8 is CONFIG_ADDRESS; a byte written at 0xCF9 is the PIIX
         * reset control register, whose RST_CPU bit (2) resets the machine (Linux's
         * reboot=pci: 0x02, then 0x06); the register is not kept, so it reads like the other
         * narrow accesses, which go nowhere. */
        if (size == 4 && off == 0) {
            if (write)
                p->addr = (uint32_t)*val & VPCI_ADDR_MASK;
            else
                *val = p->addr;
        } else if (write && size == 1 && off == 1) {
            if (*val & VPCI_RESET_CPU)
                dev_guest_reset(opaque);
        } else if (!write) {
            *val = ones(size);
        }
        return 0;
    }
    if (!(p->addr & VPCI_ADDR_ENABLE)) {
        if (!write)
            *val = ones(size);              /* configuration disabled: nothing answers */
        return 0;
    }
    return cfg_access(p, (p->addr >> 16) & 0xff, (p->addr >> 8) & 0xff,
                      (p->addr & 0xfc) + (unsigned)(off - 4), write, size, val);
}

/* ECAM (PCI Express base spec 7.2.2): bus << 20 | device << 15 | function << 12 | register,
 * 1, 2 or 4 bytes naturally aligned. */
static int vpci_ecam(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    if ((size != 1 && size != 2 && size != 4) || (off & (size - 1)))
        return -EINVAL;
    return cfg_access(vp(opaque), (unsigned)(off >> 20), (unsigned)(off >> 12) & 0xff,
                      (unsigned)off & 0xfff, write, size, val);
}

static int vpci_create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    const struct vpci_cfg *c = cfg;
    uint16_t port = c ? c->port : VPCI_PORT;
    bridge_defaults(vp(d)->bridge);
    int rc = dev_claim_pio(d, port, 8, vpci_io);
    if (rc) {
        snprintf(err, errlen, "pci: ports 0x%x-0x%x %s", port, port + 7,
                 rc == -EBUSY ? "are taken" : "cannot be claimed");
        return rc;
    }
    if (c && c->ecam && c->ecam_buses) {
        rc = dev_claim_mmio(d, c->ecam, (uint64_t)c->ecam_buses << 20, vpci_ecam);
        if (rc)
            snprintf(err, errlen, "pci: ECAM at 0x%llx %s", (unsigned long long)c->ecam,
                     rc == -EBUSY ? "is taken (or over guest RAM)" : "cannot be claimed");
    }
    if (!rc && c && c->mmio32_size) {
        vp(d)->window = c->mmio32_base;
        rc = dev_claim_mmio(d, c->mmio32_base, c->mmio32_size, vpci_window);
        if (rc)
            snprintf(err, errlen, "pci: memory window at 0x%llx %s",
                     (unsigned long long)c->mmio32_base,
                     rc == -EBUSY ? "is taken (or over guest RAM)" : "cannot be claimed");
    }
    return rc;
}

static void vpci_reset(struct device *d)
{
    vp(d)->addr = 0;
    bridge_defaults(vp(d)->bridge);
}

static void vpci_save(const struct device *d, uint8_t *rec)
{
    const struct vpci *p = d->state;
    devrec_put32(&rec, p->addr);
    memcpy(rec, p->bridge, 256);
}

static int vpci_check(const struct device *d, const uint8_t *rec, char *why, size_t n)
{
    uint8_t def[256];
    (void)d;
    uint32_t addr = devrec_get32(&rec);
    if (addr & ~VPCI_ADDR_MASK) {
        snprintf(why, n, "CONFIG_ADDRESS 0x%08x has reserved bits set", addr);
        return -EINVAL;
    }
    bridge_defaults(def);
    for (unsigned i = 0; i < 256; i++)
        if ((rec[i] ^ def[i]) & ~wmask(i)) {
            snprintf(why, n, "host bridge register 0x%02x is read-only", i);
            return -EINVAL;
        }
    return 0;
}

static void vpci_load(struct device *d, const uint8_t *rec)
{
    struct vpci *p = d->state;
    p->addr = devrec_get32(&rec);
    memcpy(p->bridge, rec, 256);
}

const struct dev_type vpci_type = {
    .name = "pci-host",
    .id = DEV_ID_PCI_HOST,
    .version = 1,
    .record_size = REC_SIZE,
    .state_size = sizeof(struct vpci),
    .create = vpci_create,
    .reset = vpci_reset,
    .save = vpci_save,
    .check = vpci_check,
    .load = vpci_load,
};
