/* A PCI function's configuration space, BARs, MSI-X and INTx; see hv/dev/pcifn.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/dev/dev_ids.h"
#include "hv/dev/devrec.h"
#include "hv/dev/pcifn.h"
#include "hv/dev/vlapic.h"
#include "hv/dev/vpci.h"

#define MSIX_CTRL_ENABLE    0x8000u
#define MSIX_CTRL_MASKALL   0x4000u
#define MSIX_ENTRY_MASKED   1u
#define MSI_ADDR_BASE       0xfeeu      /* address bits 31:20 of an interrupt message */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)v), wr16(p + 2, (uint16_t)(v >> 16)); }

void pcifn_init(struct pcifn *f, struct device *dev, const struct pcifn_ops *ops,
                uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t revision,
                uint16_t subsys_vendor, uint16_t subsys)
{
    memset(f, 0, sizeof(*f));
    f->dev = dev;
    f->ops = ops;
    wr16(f->cfg + PCI_VENDOR_ID, vendor);
    wr16(f->cfg + 0x02, device);
    f->cfg[0x08] = revision;
    f->cfg[0x09] = (uint8_t)class_code;
    f->cfg[0x0a] = (uint8_t)(class_code >> 8);
    f->cfg[0x0b] = (uint8_t)(class_code >> 16);
    wr16(f->cfg + 0x2c, subsys_vendor);
    wr16(f->cfg + 0x2e, subsys);
    f->cfg[PCI_INT_PIN] = 1;                        /* INTA# */
    /* Command: memory space, bus master, parity and SERR enables, INTx disable. */
    f->wmask[PCI_COMMAND] = 0x46;
    f->wmask[PCI_COMMAND + 1] = 0x05;
    f->wmask[0x0c] = 0xff;                          /* cache line size */
    f->wmask[0x0d] = 0xff;                          /* latency timer */
    f->wmask[PCI_INT_LINE] = 0xff;
    f->cap_end = 0x40;
}

void pcifn_bar(struct pcifn *f, unsigned bar, uint64_t size, bool bit64)
{
    if (bar + (bit64 ? 1u : 0u) >= PCIFN_BARS || size < 16 || (size & (size - 1)))
        return;
    f->bar_size[bar] = size;
    f->bar64[bar] = bit64;
    uint8_t *r = f->cfg + PCI_BAR0 + 4 * bar;
    uint64_t mask = ~(size - 1) & ~0xfull;
    wr32(r, bit64 ? 0x4 : 0);                       /* memory, 32- or 64-bit, not prefetchable */
    wr32(f->wmask + PCI_BAR0 + 4 * bar, (uint32_t)mask);
    if (bit64)
        wr32(f->wmask + PCI_BAR0 + 4 * (bar + 1), (uint32_t)(mask >> 32));
}

uint8_t pcifn_add_cap(struct pcifn *f, uint8_t id, uint8_t len)
{
    unsigned at = (f->cap_end + 3u) & ~3u;
    if (len < 2 || at + len > PCIFN_CFG_SIZE)
        return 0;
    /* Link it at the end of the list. */
    uint8_t *link = f->cfg + PCI_CAP_PTR;
    while (*link)
        link = f->cfg + *link + 1;
    *link = (uint8_t)at;
    f->cfg[at] = id;
    f->cfg[PCI_STATUS] |= PCI_STATUS_CAPS;
    f->cap_end = (uint8_t)(at + len < PCIFN_CFG_SIZE ? at + len : PCIFN_CFG_SIZE - 1);
    return (uint8_t)at;
}

void pcifn_add_msix(struct pcifn *f, uint16_t n, unsigned bar, uint32_t table_off,
                    uint32_t pba_off)
{
    uint8_t at;
    if (!n || n > PCIFN_MSIX_MAX || bar >= PCIFN_BARS || (table_off & 7) || (pba_off & 7) ||
        !(at = pcifn_add_cap(f, PCI_CAP_MSIX, 12)))
        return;
    f->msix_n = n;
    f->msix_cap = at;
    f->msix_bar = (uint8_t)bar;
    f->msix_table_off = table_off;
    f->msix_pba_off = pba_off;
    wr16(f->cfg + at + 2, (uint16_t)(n - 1));
    wr32(f->cfg + at + 4, table_off | bar);
    wr32(f->cfg + at + 8, pba_off | bar);
    f->wmask[at + 3] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8;
    for (unsigned i = 0; i < n; i++)
        f->msix[i][3] = MSIX_ENTRY_MASKED;
}

static uint16_t command(const struct pcifn *f) { return rd16(f->cfg + PCI_COMMAND); }

static uint16_t msix_ctrl(const struct pcifn *f)
{
    return f->msix_n ? rd16(f->cfg + f->msix_cap + 2) : 0;
}

bool pcifn_msix_enabled(const struct pcifn *f) { return msix_ctrl(f) & MSIX_CTRL_ENABLE; }

/* The status register's interrupt bit is the device's interrupt state whatever the command's
 * disable bit says (PCI 3.0, 6.2.3: drivers of shared INTx read it); the wire is that bit
 * unless disabled. With MSI-X on the function uses no INTx at all. */
static void intx_sync(struct pcifn *f)
{
    bool on = f->intx_level && !pcifn_msix_enabled(f);
    if (on)
        f->cfg[PCI_STATUS] |= PCI_STATUS_INTX;
    else
        f->cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTX;
    struct device *host = dev_find(f->dev->set, DEV_ID_PCI_HOST, 0);
    if (host)
        vpci_intx_sync(host, PCIFN_INTX_GSI(f->slot, 0));
}

bool pcifn_intx_asserted(const struct pcifn *f)
{
    return (f->cfg[PCI_STATUS] & PCI_STATUS_INTX) && !(command(f) & PCI_CMD_INTX_OFF);
}

void pcifn_intx(struct pcifn *f, bool level)
{
    f->intx_level = level;
    intx_sync(f);
}

/* Sends entry vec's message to the local APICs (an address outside the APICs' is dropped:
 * the guest aimed its message at memory, which no device here writes). */
static void msix_send(struct pcifn *f, unsigned vec)
{
    uint32_t lo = f->msix[vec][0], hi = f->msix[vec][1], data = f->msix[vec][2];
    if (hi || (lo >> 20) != MSI_ADDR_BASE)
        return;
    struct device *lapic = dev_find(f->dev->set, DEV_ID_LAPIC, 0);
    if (lapic)
        vlapic_deliver_msg(lapic, (uint8_t)(lo >> 12), lo & 4, (data >> 8) & 7,
                           (uint8_t)data, false);
}

static bool entry_masked(const struct pcifn *f, unsigned vec)
{
    return (msix_ctrl(f) & MSIX_CTRL_MASKALL) || (f->msix[vec][3] & MSIX_ENTRY_MASKED);
}

/* Delivers what is pending and no longer masked. */
static void msix_flush(struct pcifn *f)
{
    if (!pcifn_msix_enabled(f))
        return;
    for (unsigned i = 0; i < f->msix_n; i++)
        if ((f->msix_pending >> i & 1) && !entry_masked(f, i)) {
            f->msix_pending &= ~(1ull << i);
            msix_send(f, i);
        }
}

void pcifn_msix_notify(struct pcifn *f, unsigned vec)
{
    if (vec >= f->msix_n || !pcifn_msix_enabled(f))
        return;
    if (entry_masked(f, vec))
        f->msix_pending |= 1ull << vec;
    else
        msix_send(f, vec);
}

bool pcifn_msix_access(struct pcifn *f, uint64_t off, bool write, unsigned size, uint64_t *val,
                       int *rc)
{
    uint64_t tsz = (uint64_t)f->msix_n * 16, psz = ((f->msix_n + 63u) / 64u) * 8u;
    *rc = 0;
    if (!f->msix_n)
        return false;
    bool table = off >= f->msix_table_off && off - f->msix_table_off < tsz;
    bool pba = off >= f->msix_pba_off && off - f->msix_pba_off < psz;
    if (!table && !pba)
        return false;
    if ((size != 4 && size != 8) || (off & (size - 1))) {
        *rc = -EINVAL;                  /* 6.8.2: DWORD or aligned QWORD accesses only */
        return true;
    }
    if (pba) {
        if (!write)
            *val = size == 8 ? f->msix_pending
                             : (uint32_t)(f->msix_pending >> (((off - f->msix_pba_off) & 4) * 8));
        return true;                    /* the pending bits are read-only */
    }
    uint64_t o = off - f->msix_table_off;
    unsigned vec = (unsigned)(o / 16), w = (unsigned)(o % 16) / 4;
    if (!write) {
        *val = f->msix[vec][w];
        if (size == 8)
            *val |= (uint64_t)f->msix[vec][w + 1] << 32;
        return true;
    }
    for (unsigned i = 0; i < size / 4; i++) {
        uint32_t v = (uint32_t)(*val >> (32 * i));
        switch (w + i) {
        case 0: f->msix[vec][0] = v & ~3u; break;   /* DWORD-aligned address */
        case 1: f->msix[vec][1] = v; break;
        case 2: f->msix[vec][2] = v; break;
        default: f->msix[vec][3] = v & MSIX_ENTRY_MASKED; break;
        }
    }
    msix_flush(f);
    return true;
}

void pcifn_cfg_read(struct pcifn *f, unsigned reg, unsigned size, uint64_t *val)
{
    uint64_t v = 0;
    if (f->ops && f->ops->cfg_reading)
        f->ops->cfg_reading(f, reg, size);
    for (unsigned i = 0; i < size && reg + i < PCIFN_CFG_SIZE; i++)
        v |= (uint64_t)f->cfg[reg + i] << (8 * i);
    *val = v;
}

void pcifn_cfg_write(struct pcifn *f, unsigned reg, unsigned size, uint64_t val)
{
    uint16_t ctrl = msix_ctrl(f), cmd = command(f);
    for (unsigned i = 0; i < size && reg + i < PCIFN_CFG_SIZE; i++) {
        uint8_t m = f->wmask[reg + i], b = (uint8_t)(val >> (8 * i));
        f->cfg[reg + i] = (uint8_t)((f->cfg[reg + i] & ~m) | (b & m));
    }
    if (msix_ctrl(f) != ctrl || command(f) != cmd) {
        msix_flush(f);
        intx_sync(f);
    }
    if (f->ops && f->ops->cfg_written)
        f->ops->cfg_written(f, reg, size);
}

uint64_t pcifn_bar_base(const struct pcifn *f, unsigned bar)
{
    if (bar >= PCIFN_BARS || !f->bar_size[bar] || !(command(f) & PCI_CMD_MEM))
        return ~0ull;
    uint64_t base = rd32(f->cfg + PCI_BAR0 + 4 * bar) & ~0xfull;
    if (f->bar64[bar])
        base |= (uint64_t)rd32(f->cfg + PCI_BAR0 + 4 * (bar + 1)) << 32;
    return base ? base : ~0ull;         /* a BAR at 0 was never placed */
}

void pcifn_reset(struct pcifn *f)
{
    for (unsigned i = 0; i < PCIFN_CFG_SIZE; i++)
        f->cfg[i] &= (uint8_t)~f->wmask[i];
    f->cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTX;
    for (unsigned i = 0; i < PCIFN_MSIX_MAX; i++) {
        f->msix[i][0] = f->msix[i][1] = f->msix[i][2] = 0;
        f->msix[i][3] = i < f->msix_n ? MSIX_ENTRY_MASKED : 0;
    }
    f->msix_pending = 0;
    f->intx_level = false;
}

void pcifn_save(const struct pcifn *f, uint8_t **rec)
{
    memcpy(*rec, f->cfg, PCIFN_CFG_SIZE);
    *rec += PCIFN_CFG_SIZE;
    for (unsigned i = 0; i < PCIFN_MSIX_MAX; i++)
        for (unsigned w = 0; w < 4; w++)
            devrec_put32(rec, f->msix[i][w]);
    devrec_put64(rec, f->msix_pending);
}

int pcifn_check(const struct pcifn *f, const uint8_t *rec, char *why, size_t n)
{
    for (unsigned i = 0; i < PCIFN_CFG_SIZE; i++) {
        uint8_t ro = (uint8_t)~f->wmask[i];
        if (i == PCI_STATUS)
            ro &= (uint8_t)~PCI_STATUS_INTX;        /* follows the device's state */
        if ((rec[i] ^ f->cfg[i]) & ro) {
            snprintf(why, n, "PCI configuration register 0x%02x is read-only", i);
            return -EINVAL;
        }
    }
    const uint8_t *p = rec + PCIFN_CFG_SIZE;
    for (unsigned i = 0; i < PCIFN_MSIX_MAX; i++) {
        uint32_t e[4];
        for (unsigned w = 0; w < 4; w++)
            e[w] = devrec_get32(&p);
        if (i >= f->msix_n ? (e[0] | e[1] | e[2] | e[3]) != 0
                           : (e[0] & 3) || (e[3] & ~MSIX_ENTRY_MASKED)) {
            snprintf(why, n, "MSI-X entry %u has reserved bits set", i);
            return -EINVAL;
        }
    }
    uint64_t pending = devrec_get64(&p);
    if (f->msix_n < 64 && pending >> f->msix_n) {
        snprintf(why, n, "MSI-X pending bits past the table");
        return -EINVAL;
    }
    return 0;
}

void pcifn_load(struct pcifn *f, const uint8_t **rec)
{
    memcpy(f->cfg, *rec, PCIFN_CFG_SIZE);
    *rec += PCIFN_CFG_SIZE;
    for (unsigned i = 0; i < PCIFN_MSIX_MAX; i++)
        for (unsigned w = 0; w < 4; w++)
            f->msix[i][w] = devrec_get32(rec);
    f->msix_pending = devrec_get64(rec);
}
