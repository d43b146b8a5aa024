/*
 * PCI enumeration and configuration access (see pci.h). ECAM windows from the
 * MCFG that lie in the direct map; what no window covers goes through
 * mechanism #1 (PCI Local Bus Spec 3.0 3.2.2.3.2), which reaches segment 0
 * and the first 256 bytes only. The 0xCF8/0xCFC pair is not atomic: only the
 * BSP (the control plane) calls in.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "drivers/pci.h"
#include "drivers/pci_bar.h"
#include "hv/base/log.h"
#include "hv/base/mem.h"

#define PCI_CFG_ADDR 0xcf8
#define PCI_CFG_DATA 0xcfc

/* Type 0 header (PCI Local Bus Spec 3.0 6.1); type 1 and 2 share the first 0x10 bytes. */
#define PCI_VENDOR      0x00
#define PCI_COMMAND     0x04
#define PCI_STATUS      0x06
#define PCI_REVISION    0x08
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0        0x10
#define PCI_SUBSYS      0x2c
#define PCI_CAP_PTR     0x34
#define PCI_CB_CAP_PTR  0x14    /* CardBus bridges keep it elsewhere */
#define PCI_IRQ_LINE    0x3c

#define CMD_IO          0x0001
#define CMD_MEM         0x0002
#define CMD_MASTER      0x0004
#define STATUS_CAP_LIST 0x0010

static struct pci_dev devs[PCI_MAX_DEVICES];
static unsigned ndevs;
static bool dropped_warned;
static struct acpi_mcfg_entry ecam[ACPI_MAX_MCFG];
static unsigned necam;

unsigned pci_count(void) { return ndevs; }
struct pci_dev *pci_get(unsigned i) { return i < ndevs ? &devs[i] : NULL; }
const char *pci_access_method(void) { return necam ? "ecam" : "port"; }

/* The ECAM address of a register, NULL when no window covers the function. */
static volatile void *ecam_addr(const struct pci_dev *d, unsigned off)
{
    for (unsigned i = 0; i < necam; i++)
        if (ecam[i].segment == d->segment && d->bus >= ecam[i].bus_start &&
            d->bus <= ecam[i].bus_end)
            /* PCI Firmware Spec 3.3 4.1.2: the base is that of bus 0, whatever bus_start. */
            return phys_to_virt(ecam[i].base + ((uint64_t)d->bus << 20 | (uint64_t)d->dev << 15 |
                                                (uint64_t)d->fn << 12 | off));
    return NULL;
}

/* Mechanism #1 reaches it: segment 0, offsets below 256. */
static bool port_ok(const struct pci_dev *d, unsigned off)
{
    if (d->segment || off >= 256)
        return false;
    outl(PCI_CFG_ADDR, 0x80000000u | (uint32_t)d->bus << 16 | (uint32_t)d->dev << 11 |
                       (uint32_t)d->fn << 8 | (off & 0xfc));
    return true;
}

/* Misaligned or unreachable reads return all-ones, like a master abort; such writes vanish. */
uint32_t pci_read32(const struct pci_dev *d, unsigned off)
{
    volatile void *p = (off & 3) ? NULL : ecam_addr(d, off);
    if (p)
        return *(volatile uint32_t *)p;
    return (!(off & 3) && port_ok(d, off)) ? inl(PCI_CFG_DATA) : 0xffffffffu;
}

uint16_t pci_read16(const struct pci_dev *d, unsigned off)
{
    volatile void *p = (off & 1) ? NULL : ecam_addr(d, off);
    if (p)
        return *(volatile uint16_t *)p;
    return (!(off & 1) && port_ok(d, off)) ? inw(PCI_CFG_DATA + (off & 2)) : 0xffff;
}

uint8_t pci_read8(const struct pci_dev *d, unsigned off)
{
    volatile void *p = ecam_addr(d, off);
    if (p)
        return *(volatile uint8_t *)p;
    return port_ok(d, off) ? inb(PCI_CFG_DATA + (off & 3)) : 0xff;
}

void pci_write32(const struct pci_dev *d, unsigned off, uint32_t v)
{
    volatile void *p = (off & 3) ? NULL : ecam_addr(d, off);
    if (p)
        *(volatile uint32_t *)p = v;
    else if (!(off & 3) && port_ok(d, off))
        outl(PCI_CFG_DATA, v);
}

void pci_write16(const struct pci_dev *d, unsigned off, uint16_t v)
{
    volatile void *p = (off & 1) ? NULL : ecam_addr(d, off);
    if (p)
        *(volatile uint16_t *)p = v;
    else if (!(off & 1) && port_ok(d, off))
        outw(PCI_CFG_DATA + (off & 2), v);
}

void pci_write8(const struct pci_dev *d, unsigned off, uint8_t v)
{
    volatile void *p = ecam_addr(d, off);
    if (p)
        *(volatile uint8_t *)p = v;
    else if (port_ok(d, off))
        outb(PCI_CFG_DATA + (off & 3), v);
}

void pci_enable(const struct pci_dev *d, bool mem, bool io, bool master)
{
    uint16_t cmd = pci_read16(d, PCI_COMMAND);
    cmd |= (mem ? CMD_MEM : 0) | (io ? CMD_IO : 0) | (master ? CMD_MASTER : 0);
    pci_write16(d, PCI_COMMAND, cmd);
}

uint8_t pci_find_cap(const struct pci_dev *d, uint8_t cap_id, uint8_t start)
{
    if (!(pci_read16(d, PCI_STATUS) & STATUS_CAP_LIST))
        return 0;
    uint8_t off = start;
    if (!off)
        off = pci_read8(d, (d->header_type & 0x7f) == 2 ? PCI_CB_CAP_PTR : PCI_CAP_PTR);
    /* 48 capabilities of 4 bytes fill 0x40-0xff: a longer walk is a loop in the list. */
    for (unsigned n = 0; n < 48 && off >= 0x40; n++) {
        off &= 0xfc;
        if (pci_read8(d, off) == cap_id)
            return off;
        off = pci_read8(d, off + 1);
    }
    return 0;
}

/*
 * Sizes the BARs with decoding off, so the all-ones probe value never claims an address
 * range. Host bridges keep decoding: some stop forwarding memory cycles otherwise (Linux's
 * mmio_always_on quirk for the same reason). Nothing else may run in between.
 */
static void size_bars(struct pci_dev *d, unsigned nbars)
{
    uint16_t cmd = pci_read16(d, PCI_COMMAND);
    bool host_bridge = d->class_code == 0x06 && d->subclass == 0x00;
    if (!host_bridge)
        pci_write16(d, PCI_COMMAND, cmd & ~(CMD_IO | CMD_MEM));
    for (unsigned i = 0; i < nbars;) {
        unsigned off = PCI_BAR0 + 4 * i;
        uint32_t lo = pci_read32(d, off), hi = 0, lo_mask, hi_mask = 0;
        pci_write32(d, off, 0xffffffffu);
        lo_mask = pci_read32(d, off);
        pci_write32(d, off, lo);
        if (pci_bar_is64(lo) && i + 1 == nbars) {
            d->bar[i] = (struct pci_bar){ 0 };   /* no slot left for the upper half */
            break;
        }
        if (pci_bar_is64(lo)) {
            hi = pci_read32(d, off + 4);
            pci_write32(d, off + 4, 0xffffffffu);
            hi_mask = pci_read32(d, off + 4);
            pci_write32(d, off + 4, hi);
        }
        int used = pci_bar_decode(lo, hi, lo_mask, hi_mask, &d->bar[i]);
        i += used > 0 ? (unsigned)used : 1;
    }
    if (!host_bridge)
        pci_write16(d, PCI_COMMAND, cmd);
}

static void add_function(const struct pci_dev *loc)
{
    if (ndevs == PCI_MAX_DEVICES) {
        if (!dropped_warned)
            log_warn("pci", "more than %u functions: the rest are ignored", PCI_MAX_DEVICES);
        dropped_warned = true;
        return;
    }
    struct pci_dev *d = &devs[ndevs++];
    *d = *loc;
    uint32_t id = pci_read32(d, PCI_VENDOR), cls = pci_read32(d, PCI_REVISION);
    d->vendor = id & 0xffff;
    d->device = id >> 16;
    d->revision = cls & 0xff;
    d->prog_if = (cls >> 8) & 0xff;
    d->subclass = (cls >> 16) & 0xff;
    d->class_code = cls >> 24;
    d->header_type = pci_read8(d, PCI_HEADER_TYPE);
    d->irq_line = pci_read8(d, PCI_IRQ_LINE);
    unsigned type = d->header_type & 0x7f;
    if (type == 0) {
        uint32_t sub = pci_read32(d, PCI_SUBSYS);
        d->subsys_vendor = sub & 0xffff;
        d->subsys_device = sub >> 16;
    }
    if (type <= 1)
        size_bars(d, type == 0 ? 6 : 2);
    log_dbg("pci", "%04x:%02x:%02x.%u %04x:%04x class %02x%02x%02x", d->segment, d->bus, d->dev,
            d->fn, d->vendor, d->device, d->class_code, d->subclass, d->prog_if);
}

static bool present(const struct pci_dev *loc)
{
    uint16_t v = pci_read16(loc, PCI_VENDOR);
    return v != 0xffff && v != 0x0000;
}

/* Every slot of every bus in range: firmware numbered the buses, so no bridge walk is needed. */
static void scan(uint16_t seg, unsigned bus_start, unsigned bus_end)
{
    for (unsigned bus = bus_start; bus <= bus_end; bus++)
        for (unsigned dev = 0; dev < 32; dev++) {
            struct pci_dev loc = { .segment = seg, .bus = bus, .dev = dev, .fn = 0 };
            if (!present(&loc))
                continue;       /* function 0 absent: the slot is empty */
            unsigned nfn = (pci_read8(&loc, PCI_HEADER_TYPE) & 0x80) ? 8 : 1;
            for (unsigned fn = 0; fn < nfn; fn++) {
                loc.fn = fn;
                if (present(&loc))
                    add_function(&loc);
            }
        }
}

/* Mechanism #1 exists when the address register holds what was written (Linux's check too). */
static bool port_mechanism_present(void)
{
    uint32_t old = inl(PCI_CFG_ADDR);
    outl(PCI_CFG_ADDR, 0x80000000u);
    bool ok = inl(PCI_CFG_ADDR) == 0x80000000u;
    outl(PCI_CFG_ADDR, old);
    return ok;
}

int pci_init(const struct acpi_info *ai)
{
    ndevs = 0;
    necam = 0;
    dropped_warned = false;
    for (unsigned i = 0; ai && ai->have_mcfg && i < ai->nmcfg; i++) {
        const struct acpi_mcfg_entry *m = &ai->mcfg[i];
        uint64_t end = m->base + ((uint64_t)m->bus_end + 1) * (1u << 20);
        if (m->bus_start > m->bus_end || !m->base || (m->base & 0xfffff)) {
            log_warn("pci", "mcfg: segment %u buses %u-%u at %#llx is malformed: skipped",
                     m->segment, m->bus_start, m->bus_end, (unsigned long long)m->base);
        } else if (end > PCI_MAPPED_END) {
            log_warn("pci", "mcfg: segment %u buses %u-%u at %#llx is above the direct map: "
                     "skipped", m->segment, m->bus_start, m->bus_end,
                     (unsigned long long)m->base);
        } else {
            ecam[necam++] = *m;
        }
    }
    if (necam) {
        for (unsigned i = 0; i < necam; i++)
            scan(ecam[i].segment, ecam[i].bus_start, ecam[i].bus_end);
    } else if (port_mechanism_present()) {
        scan(0, 0, 255);
    } else {
        log_warn("pci", "no ECAM and no configuration mechanism #1: no PCI devices");
        return 0;
    }
    log_info("pci", "%u functions (config access: %s)", ndevs, pci_access_method());
    return (int)ndevs;
}
