/* The guest's ACPI tables; see hv/dev/acpi_tables.h. Layouts are ACPI 6.5's (5.2). */
#include <errno.h>
#include <string.h>

#include "hv/dev/acpi_tables.h"

#define HDR_LEN     36
#define RSDP_LEN    36
#define FADT_LEN    276
#define FACS_LEN    64
#define GAS_IO      1                  /* Generic Address Structure: system I/O space */

/* FADT flags (5.2.9, table 5.10) and IAPC_BOOT_ARCH (5.2.9.3). */
#define FF_WBINVD         (1u << 0)
#define FF_PROC_C1        (1u << 2)
#define FF_PWR_BUTTON     (1u << 4)    /* no fixed power button */
#define FF_SLP_BUTTON     (1u << 5)    /* no fixed sleep button */
#define FF_FIX_RTC        (1u << 6)    /* no RTC wake status in the fixed registers */
#define FF_TMR_VAL_EXT    (1u << 8)    /* the PM timer counts 32 bits */
#define FF_RESET_REG_SUP  (1u << 10)
#define BOOT_LEGACY_DEVICES 0x0001     /* ISA devices (RTC, UART) that ACPI does not list */
#define BOOT_VGA_ABSENT     0x0004     /* 0x0002 (an 8042) stays clear: there is none */

/* MADT (5.2.12) entry types and flags. */
#define MADT_PCAT_COMPAT  1u
#define MADT_LAPIC        0
#define MADT_IOAPIC       1
#define MADT_ISO          2
#define MADT_LAPIC_NMI    4
#define MPS_ACTIVE_HIGH   0x1
#define MPS_LEVEL         0xc

struct out {
    uint8_t *buf;
    uint64_t gpa;
    size_t cap, len;
    bool full;
};

static uint8_t *take(struct out *o, size_t n, size_t align)
{
    size_t at = (o->len + align - 1) & ~(align - 1);
    if (o->full || at + n > o->cap || at + n < at) {
        o->full = true;
        return NULL;
    }
    memset(o->buf + o->len, 0, at + n - o->len);
    o->len = at + n;
    return o->buf + at;
}

static uint64_t gpa_of(const struct out *o, const uint8_t *p) { return o->gpa + (uint64_t)(p - o->buf); }

static void w8(uint8_t *p, uint8_t v) { p[0] = v; }
static void w16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void w32(uint8_t *p, uint32_t v) { w16(p, (uint16_t)v); w16(p + 2, (uint16_t)(v >> 16)); }
static void w64(uint8_t *p, uint64_t v) { w32(p, (uint32_t)v); w32(p + 4, (uint32_t)(v >> 32)); }

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

/* The common header (5.2.6); the checksum is set once the table is complete (finish). */
static void header(uint8_t *t, const char sig[4], uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    w32(t + 4, len);
    w8(t + 8, rev);
    memcpy(t + 10, ACPI_OEM_ID, 6);
    memcpy(t + 16, ACPI_OEM_TABLE_ID, 8);
    w32(t + 24, 1);                    /* OEM revision */
    memcpy(t + 28, "FRRY", 4);         /* creator ID */
    w32(t + 32, 1);                    /* creator revision */
}

static void finish(uint8_t *t, uint32_t len)
{
    w32(t + 4, len);
    t[9] = 0;
    t[9] = (uint8_t)-sum(t, len);
}

/* A Generic Address Structure (5.2.3.2) for an I/O port range. */
static void gas_io(uint8_t *g, uint16_t port, uint8_t bits, uint8_t access)
{
    w8(g, GAS_IO);
    w8(g + 1, bits);
    w8(g + 2, 0);
    w8(g + 3, access);
    w64(g + 4, port);
}

/* AML for Name (_S5, Package () { 5, 5, 0, 0 }) (ACPI 20.2: NameOp, PackageOp, BytePrefix). */
static const uint8_t dsdt_aml[] = {
    0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 5, 0x0a, 5, 0x00, 0x00,
};

static uint8_t *write_dsdt(struct out *o)
{
    uint32_t len = HDR_LEN + sizeof(dsdt_aml);
    uint8_t *t = take(o, len, 16);
    if (!t)
        return NULL;
    header(t, "DSDT", len, 2);
    memcpy(t + HDR_LEN, dsdt_aml, sizeof(dsdt_aml));
    finish(t, len);
    return t;
}

static uint8_t *write_facs(struct out *o)
{
    uint8_t *t = take(o, FACS_LEN, 64);           /* 5.2.10: 64-byte aligned */
    if (!t)
        return NULL;
    memcpy(t, "FACS", 4);
    w32(t + 4, FACS_LEN);
    w8(t + 32, 2);                                /* version */
    return t;
}

static uint8_t *write_fadt(struct out *o, const struct acpi_machine *m, uint64_t facs,
                           uint64_t dsdt)
{
    uint8_t *t = take(o, FADT_LEN, 16);
    if (!t)
        return NULL;
    header(t, "FACP", FADT_LEN, 6);
    /* FIRMWARE_CTRL stays 0: X_FIRMWARE_CTRL says it (5.2.9: never both). */
    w32(t + 40, (uint32_t)dsdt);
    w16(t + 46, m->sci);                          /* SCI_INT; SMI_CMD 0: always ACPI mode */
    w32(t + 56, m->pm_port);                      /* PM1a_EVT_BLK */
    w32(t + 64, m->pm_port + 4u);                 /* PM1a_CNT_BLK */
    w32(t + 76, m->pm_port + 8u);                 /* PM_TMR_BLK */
    w8(t + 88, 4);                                /* PM1_EVT_LEN */
    w8(t + 89, 2);                                /* PM1_CNT_LEN */
    w8(t + 91, 4);                                /* PM_TMR_LEN */
    w16(t + 96, 101);                             /* P_LVL2_LAT > 100: no C2 */
    w16(t + 98, 1001);                            /* P_LVL3_LAT > 1000: no C3 */
    w8(t + 108, m->rtc_century);
    w16(t + 109, BOOT_LEGACY_DEVICES | BOOT_VGA_ABSENT);
    w32(t + 112, FF_WBINVD | FF_PROC_C1 | FF_PWR_BUTTON | FF_SLP_BUTTON | FF_FIX_RTC |
                 FF_TMR_VAL_EXT | FF_RESET_REG_SUP);
    gas_io(t + 116, m->reset_port, 8, 1);         /* RESET_REG, byte access */
    w8(t + 128, m->reset_value);
    w64(t + 132, facs);                           /* X_FIRMWARE_CTRL */
    w64(t + 140, dsdt);                           /* X_DSDT */
    gas_io(t + 148, m->pm_port, 32, 2);           /* X_PM1a_EVT_BLK: two 16-bit registers */
    gas_io(t + 172, m->pm_port + 4u, 16, 2);      /* X_PM1a_CNT_BLK */
    gas_io(t + 208, m->pm_port + 8u, 32, 3);      /* X_PM_TMR_BLK */
    memcpy(t + 268, "FERRY   ", 8);               /* hypervisor vendor identity */
    finish(t, FADT_LEN);
    return t;
}

static uint8_t *write_madt(struct out *o, const struct acpi_machine *m)
{
    uint32_t len = HDR_LEN + 8 + 8 * m->nvcpus + 12 + 2 * 10 + 6;
    uint8_t *t = take(o, len, 16);
    if (!t)
        return NULL;
    header(t, "APIC", len, 5);
    w32(t + 36, (uint32_t)m->lapic_base);
    w32(t + 40, MADT_PCAT_COMPAT);                /* an 8259 pair is there too */
    uint8_t *e = t + 44;
    for (unsigned i = 0; i < m->nvcpus; i++, e += 8) {
        w8(e, MADT_LAPIC);
        w8(e + 1, 8);
        w8(e + 2, (uint8_t)i);                    /* ACPI processor UID */
        w8(e + 3, (uint8_t)i);                    /* APIC ID */
        w32(e + 4, 1);                            /* enabled */
    }
    w8(e, MADT_IOAPIC);
    w8(e + 1, 12);
    w8(e + 2, m->ioapic_id);
    w32(e + 4, (uint32_t)m->ioapic_base);
    w32(e + 8, 0);                                /* GSI base */
    e += 12;
    static const struct { uint8_t irq; uint32_t gsi; } iso_irq0 = { 0, 2 };
    w8(e, MADT_ISO);
    w8(e + 1, 10);
    w8(e + 3, iso_irq0.irq);
    w32(e + 4, iso_irq0.gsi);
    w16(e + 8, 0);                                /* conforms to the bus: edge, high */
    e += 10;
    w8(e, MADT_ISO);
    w8(e + 1, 10);
    w8(e + 3, m->sci);
    w32(e + 4, m->sci);
    w16(e + 8, MPS_ACTIVE_HIGH | MPS_LEVEL);      /* the SCI: level, active high */
    e += 10;
    w8(e, MADT_LAPIC_NMI);
    w8(e + 1, 6);
    w8(e + 2, 0xff);                              /* every processor */
    w16(e + 3, 0);
    w8(e + 5, 1);                                 /* LINT1 */
    finish(t, len);
    return t;
}

static uint8_t *write_mcfg(struct out *o, const struct acpi_machine *m)
{
    uint32_t len = HDR_LEN + 8 + 16;
    uint8_t *t = take(o, len, 16);
    if (!t)
        return NULL;
    header(t, "MCFG", len, 1);
    w64(t + 44, m->ecam_base);
    w16(t + 52, 0);                               /* PCI segment group */
    w8(t + 54, 0);                                /* start bus */
    w8(t + 55, m->ecam_bus_end);
    finish(t, len);
    return t;
}

long acpi_tables_build(const struct acpi_machine *m, uint8_t *buf, uint64_t gpa, size_t cap)
{
    if (!m->nvcpus || m->nvcpus > 255 || gpa % 64 || gpa >= 0x100000000ull ||
        cap > 0x100000000ull - gpa)
        return -EINVAL;                /* 64: the FACS's alignment is physical (5.2.10) */
    struct out o = { .buf = buf, .gpa = gpa, .cap = cap };
    uint8_t *rsdp = take(&o, RSDP_LEN, 16);
    uint8_t *dsdt = write_dsdt(&o), *facs = write_facs(&o);
    uint8_t *fadt = dsdt && facs ? write_fadt(&o, m, gpa_of(&o, facs), gpa_of(&o, dsdt)) : NULL;
    uint8_t *madt = write_madt(&o, m);
    uint8_t *mcfg = m->ecam_base ? write_mcfg(&o, m) : NULL;
    uint8_t *tables[3] = { fadt, madt, mcfg };
    unsigned n = m->ecam_base ? 3 : 2;
    uint8_t *rsdt = take(&o, HDR_LEN + 4 * n, 16), *xsdt = take(&o, HDR_LEN + 8 * n, 16);
    if (o.full || !rsdp || !fadt || !madt || !rsdt || !xsdt)
        return -ENOSPC;
    header(rsdt, "RSDT", HDR_LEN + 4 * n, 1);
    header(xsdt, "XSDT", HDR_LEN + 8 * n, 1);
    for (unsigned i = 0; i < n; i++) {
        w32(rsdt + HDR_LEN + 4 * i, (uint32_t)gpa_of(&o, tables[i]));
        w64(xsdt + HDR_LEN + 8 * i, gpa_of(&o, tables[i]));
    }
    finish(rsdt, HDR_LEN + 4 * n);
    finish(xsdt, HDR_LEN + 8 * n);
    /* RSDP (5.2.5.3): the first 20 bytes sum to 0, and all 36. */
    memcpy(rsdp, "RSD PTR ", 8);
    memcpy(rsdp + 9, ACPI_OEM_ID, 6);
    w8(rsdp + 15, 2);
    w32(rsdp + 16, (uint32_t)gpa_of(&o, rsdt));
    w32(rsdp + 20, RSDP_LEN);
    w64(rsdp + 24, gpa_of(&o, xsdt));
    rsdp[8] = (uint8_t)-sum(rsdp, 20);
    rsdp[32] = (uint8_t)-sum(rsdp, RSDP_LEN);
    return (long)o.len;
}
