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

/* AML (ACPI 20), written straight into the DSDT being built. A PkgLength or a buffer's size
 * comes first but is known last: the body is written, then the prefix inserted before it. */
#define AML_ZERO     0x00
#define AML_ONE      0x01
#define AML_NAME     0x08
#define AML_BYTE     0x0a
#define AML_WORD     0x0b
#define AML_DWORD    0x0c
#define AML_QWORD    0x0e
#define AML_SCOPE    0x10
#define AML_BUFFER   0x11
#define AML_PACKAGE  0x12
#define AML_EXT      0x5b              /* then 0x82: DeviceOp */
#define AML_DEVICE   0x82

/* Resource descriptors (6.4): address space types, general flags, type-specific flags. */
#define RES_MEM          0
#define RES_IO           1
#define RES_BUS          2
#define RES_CONSUMER     0x01          /* clear: the bridge produces it (a window) */
#define RES_FIXED        0x0c          /* _MIF and _MAF: fixed size at a fixed place */
#define RES_IO_ENTIRE    0x03          /* _RNG: ISA and non-ISA ports */
#define RES_MEM_RW       0x01          /* _RW; _MEM 0: non-cacheable */

/* Makes room for n bytes at offset at, moving what follows; NULL once out of room. */
static uint8_t *aml_insert(struct out *o, size_t at, size_t n)
{
    if (!take(o, n, 1))
        return NULL;
    memmove(o->buf + at + n, o->buf + at, o->len - n - at);
    return o->buf + at;
}

static void aml_bytes(struct out *o, const void *p, size_t n)
{
    uint8_t *d = take(o, n, 1);
    if (d)
        memcpy(d, p, n);
}

static void aml_byte(struct out *o, uint8_t b) { aml_bytes(o, &b, 1); }

/* An integer in the fewest bytes (20.2.3): ZeroOp, OneOp or a Byte/Word/DWord/QWord prefix. */
static unsigned aml_int_enc(uint8_t *b, uint64_t v)
{
    if (v <= 1) {
        b[0] = v ? AML_ONE : AML_ZERO;
        return 1;
    }
    unsigned n = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
    b[0] = n == 1 ? AML_BYTE : n == 2 ? AML_WORD : n == 4 ? AML_DWORD : AML_QWORD;
    for (unsigned i = 0; i < n; i++)
        b[1 + i] = (uint8_t)(v >> 8 * i);
    return 1 + n;
}

static void aml_int(struct out *o, uint64_t v)
{
    uint8_t b[9];
    aml_bytes(o, b, aml_int_enc(b, v));
}

/* Name (seg, ...): the value follows. seg is a 4-character NameSeg, '_'-padded. */
static void aml_name(struct out *o, const char *seg)
{
    aml_byte(o, AML_NAME);
    aml_bytes(o, seg, 4);
}

/* Puts the PkgLength (20.2.4) of what was written since start in front of it: one byte up to
 * 63, else a lead byte (count of bytes that follow in bits 7:6, the low nibble in 3:0) and one
 * to three bytes more. The length counts its own bytes. */
static void aml_close(struct out *o, size_t start)
{
    if (o->full)
        return;
    size_t body = o->len - start, k = body + 1 <= 0x3f ? 1 : body + 2 <= 0xfff ? 2 :
                                      body + 3 <= 0xfffff ? 3 : 4;
    size_t len = body + k;
    uint8_t *p = len <= 0xfffffff ? aml_insert(o, start, k) : NULL;
    if (!p) {
        o->full = true;
        return;
    }
    if (k == 1) {
        p[0] = (uint8_t)len;
        return;
    }
    p[0] = (uint8_t)((k - 1) << 6 | (len & 0xf));
    for (size_t i = 1; i < k; i++)
        p[i] = (uint8_t)(len >> (4 + 8 * (i - 1)));
}

/* Package (count) { ... } (20.2.5.4): PackageOp PkgLength NumElements; aml_close ends it. */
static size_t aml_package(struct out *o, uint8_t count)
{
    aml_byte(o, AML_PACKAGE);
    size_t start = o->len;
    aml_byte(o, count);
    return start;
}

/* Device (seg) { ... } (20.2.5.2); aml_close ends it. */
static size_t aml_device(struct out *o, const char *seg)
{
    aml_bytes(o, (const uint8_t[]){ AML_EXT, AML_DEVICE }, 2);
    size_t start = o->len;
    aml_bytes(o, seg, 4);
    return start;
}

/* Buffer () { ... } (20.2.5.4): BufferOp PkgLength BufferSize bytes, the size put in last. */
static size_t aml_buffer(struct out *o)
{
    aml_byte(o, AML_BUFFER);
    return o->len;
}

static void aml_buffer_end(struct out *o, size_t start)
{
    uint8_t b[9];
    unsigned n = aml_int_enc(b, o->full ? 0 : o->len - start);
    uint8_t *p = aml_insert(o, start, n);
    if (p)
        memcpy(p, b, n);
    aml_close(o, start);
}

/* ASL's EisaId ("PNP0A08") (19.6): three letters of 5 bits each ('A' is 1) and four hex
 * digits, the four bytes in that (big-endian) order, as a DWord. */
static uint32_t eisa_id(const char *id)
{
    uint32_t v = (uint32_t)(id[0] - 0x40) << 26 | (uint32_t)(id[1] - 0x40) << 21 |
                 (uint32_t)(id[2] - 0x40) << 16;
    for (int i = 3; i < 7; i++)
        v |= (uint32_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'A' + 10) << (4 * (6 - i));
    return v >> 24 | (v >> 8 & 0xff00) | (v << 8 & 0xff0000) | v << 24;
}

/* A Word, DWord or QWord Address Space Descriptor (6.4.3.5.1-3) for [min, min + len), fixed:
 * granularity and translation 0. */
static void res_addr(struct out *o, unsigned width, uint8_t type, uint8_t flags, uint8_t tflags,
                     uint64_t min, uint64_t len)
{
    size_t n = 6 + 5 * width;
    uint8_t *d = take(o, n, 1);
    if (!d)
        return;
    d[0] = width == 2 ? 0x88 : width == 4 ? 0x87 : 0x8a;
    w16(d + 1, (uint16_t)(n - 3));
    d[3] = type;
    d[4] = flags;
    d[5] = tflags;
    for (unsigned i = 0; i < width; i++) {
        d[6 + width + i] = (uint8_t)(min >> 8 * i);
        d[6 + 2 * width + i] = (uint8_t)((min + len - 1) >> 8 * i);
        d[6 + 4 * width + i] = (uint8_t)(len >> 8 * i);
    }
}

/* Memory, in a DWord descriptor when it ends below 4 GiB, else a QWord one. */
static void res_mem(struct out *o, uint8_t flags, uint64_t base, uint64_t size)
{
    unsigned width = base + size - 1 <= 0xffffffffu ? 4 : 8;
    res_addr(o, width, RES_MEM, flags | RES_FIXED, RES_MEM_RW, base, size);
}

/* ResourceTemplate's closing End Tag (6.4.2.9): checksum 0, "the bytes sum as they are". */
static void res_end(struct out *o) { aml_bytes(o, (const uint8_t[]){ 0x79, 0 }, 2); }

/* PCI0's _CRS (6.2.2): the buses, the configuration ports it uses (IO (Decode16, 0xCF8,
 * 0xCF8, 1, 8), 6.4.2.5) and the windows it passes on (producer): every other port, the
 * memory windows. */
static void aml_pci0_crs(struct out *o, const struct acpi_machine *m)
{
    aml_name(o, "_CRS");
    size_t buf = aml_buffer(o);
    res_addr(o, 2, RES_BUS, RES_FIXED, 0, 0, m->ecam_bus_end + 1u);
    aml_bytes(o, (const uint8_t[]){ 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 1, 8 }, 8);
    res_addr(o, 2, RES_IO, RES_FIXED, RES_IO_ENTIRE, 0, 0xcf8);
    res_addr(o, 2, RES_IO, RES_FIXED, RES_IO_ENTIRE, 0xd00, 0x10000 - 0xd00);
    res_mem(o, 0, m->pci_mmio32_base, m->pci_mmio32_size);
    if (m->pci_mmio64_size)
        res_mem(o, 0, m->pci_mmio64_base, m->pci_mmio64_size);
    res_end(o);
    aml_buffer_end(o, buf);
}

/* _PRT (6.2.13): Package { address (slot << 16, any function), pin, source 0, GSI } for each
 * pin of slots 1-31; with source 0 the last field is a GSI, level and active low. */
static void aml_pci0_prt(struct out *o)
{
    aml_name(o, "_PRT");
    size_t prt = aml_package(o, 31 * 4);
    for (unsigned slot = 1; slot < 32; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            size_t e = aml_package(o, 4);
            aml_int(o, slot << 16 | 0xffff);
            aml_int(o, pin);
            aml_int(o, 0);
            aml_int(o, acpi_pci_gsi(slot, pin));
            aml_close(o, e);
        }
    }
    aml_close(o, prt);
}

/* Scope (\_SB) { Device (PCI0) { ... } Device (MRES) { ... } } */
static void aml_sb(struct out *o, const struct acpi_machine *m)
{
    aml_byte(o, AML_SCOPE);
    size_t sb = o->len;
    aml_bytes(o, "\\_SB_", 5);
    size_t dev = aml_device(o, "PCI0");
    aml_name(o, "_HID");
    aml_int(o, eisa_id("PNP0A08"));              /* PCI Express root bridge */
    aml_name(o, "_CID");
    aml_int(o, eisa_id("PNP0A03"));              /* PCI root bridge */
    aml_name(o, "_UID");
    aml_int(o, 0);
    aml_name(o, "_SEG");                         /* 6.5.6: segment group 0, as in MCFG */
    aml_int(o, 0);
    aml_name(o, "_BBN");                         /* 6.5.5: bus 0 */
    aml_int(o, 0);
    aml_pci0_crs(o, m);
    aml_pci0_prt(o);
    aml_close(o, dev);
    if (m->ecam_base) {
        /* MCFG's area, reserved by a motherboard resource (the PCI Firmware Specification's
         * rule; Linux looks here, and in e820, before it uses ECAM). */
        dev = aml_device(o, "MRES");
        aml_name(o, "_HID");
        aml_int(o, eisa_id("PNP0C02"));
        aml_name(o, "_UID");
        aml_int(o, 1);
        aml_name(o, "_CRS");
        size_t buf = aml_buffer(o);
        res_mem(o, RES_CONSUMER, m->ecam_base, ((uint64_t)m->ecam_bus_end + 1) << 20);
        res_end(o);
        aml_buffer_end(o, buf);
        aml_close(o, dev);
    }
    aml_close(o, sb);
}

/* Name (_S5, Package () { 5, 5, 0, 0 }): SLP_TYP 5 for PM1a and PM1b. */
static const uint8_t s5_aml[] = {
    AML_NAME, '_', 'S', '5', '_', AML_PACKAGE, 0x08, 0x04, AML_BYTE, 5, AML_BYTE, 5, 0x00, 0x00,
};

static uint8_t *write_dsdt(struct out *o, const struct acpi_machine *m)
{
    uint8_t *t = take(o, HDR_LEN, 16);
    if (!t)
        return NULL;
    size_t start = (size_t)(t - o->buf);
    aml_bytes(o, s5_aml, sizeof(s5_aml));
    if (m->pci_mmio32_size)
        aml_sb(o, m);
    if (o->full)
        return NULL;
    uint32_t len = (uint32_t)(o->len - start);
    header(t, "DSDT", len, 2);
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

/* PCI0's windows: the 32-bit one below 4 GiB and clear of ECAM, the 64-bit one above 4 GiB. */
static bool pci_windows_ok(const struct acpi_machine *m)
{
    uint64_t b32 = m->pci_mmio32_base, s32 = m->pci_mmio32_size;
    uint64_t b64 = m->pci_mmio64_base, s64 = m->pci_mmio64_size;
    uint64_t ecam_end = m->ecam_base + (((uint64_t)m->ecam_bus_end + 1) << 20);
    if (!s32)
        return !s64;
    if (b32 >= 0x100000000ull || s32 > 0x100000000ull - b32)
        return false;
    if (m->ecam_base && b32 < ecam_end && m->ecam_base < b32 + s32)
        return false;
    return !s64 || (b64 >= 0x100000000ull && s64 - 1 <= UINT64_MAX - b64);
}

long acpi_tables_build(const struct acpi_machine *m, uint8_t *buf, uint64_t gpa, size_t cap)
{
    if (!m->nvcpus || m->nvcpus > 255 || gpa % 64 || gpa >= 0x100000000ull ||
        cap > 0x100000000ull - gpa || !pci_windows_ok(m))
        return -EINVAL;                /* 64: the FACS's alignment is physical (5.2.10) */
    struct out o = { .buf = buf, .gpa = gpa, .cap = cap };
    uint8_t *rsdp = take(&o, RSDP_LEN, 16);
    uint8_t *dsdt = write_dsdt(&o, m), *facs = write_facs(&o);
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
