/*
 * The guest's ACPI tables (hv/dev/acpi_tables.c), read back the way an OS finds them: the RSDP
 * by signature and both checksums, the XSDT and RSDT entries, then each table by signature with
 * its length and checksum; the FADT's registers, flags and pointers (ACPI 6.5 table 5.9
 * offsets), the FACS, the DSDT's \_S5 AML, the MADT's entries for 1 and 64 vCPUs, MCFG only with
 * ECAM; impossible requests refused. The DSDT's PCI root is read by a small AML parser of its
 * own (ACPI 20: Scope, Device, Name, integers, Buffer, Package; anything else fails) that walks
 * the whole namespace, then decodes _CRS as resource descriptors (6.4) and _PRT's entries.
 *
 * `test_acpi_tables --dump DIR` writes ferry-min's tables to DIR/<signature>.dat instead of
 * testing: tests/unit/dev/vacpipm.mk has iasl (acpica-tools) disassemble them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hv/dev/acpi_tables.h"
#include "hv/dev/machine.h"
#include "hv/dev/pcifn.h"
#include "hv/dev/vpci.h"
#include "hv/vm/layout.h"

#define GPA 0xe0000ull

static uint8_t mem[ACPI_TABLES_MAX];

static uint16_t r16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t r32(const uint8_t *p) { return r16(p) | (uint32_t)r16(p + 2) << 16; }
static uint64_t r64(const uint8_t *p) { return r32(p) | (uint64_t)r32(p + 4) << 32; }

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

static const uint8_t *at(uint64_t gpa)
{
    assert_true(gpa >= GPA && gpa < GPA + sizeof(mem));
    return mem + (gpa - GPA);
}

static struct acpi_machine machine(unsigned nvcpus)
{
    return (struct acpi_machine){ .nvcpus = nvcpus, .lapic_base = 0xfee00000,
                                  .ioapic_base = 0xfec00000, .ioapic_id = 0, .pm_port = 0x600,
                                  .sci = 9, .reset_port = 0xcf9, .reset_value = 6,
                                  .rtc_century = 0x32 };
}

/* Every table the XSDT lists (and the RSDT the same), checked; the one with sig, or NULL. */
static const uint8_t *find(const char *sig, unsigned *ntables)
{
    const uint8_t *rsdp = mem;
    assert_memory_equal(rsdp, "RSD PTR ", 8);
    assert_int_equal(sum(rsdp, 20), 0);
    assert_int_equal(rsdp[15], 2);
    assert_int_equal(r32(rsdp + 20), 36);
    assert_int_equal(sum(rsdp, 36), 0);
    const uint8_t *x = at(r64(rsdp + 24)), *r = at(r32(rsdp + 16));
    assert_memory_equal(x, "XSDT", 4);
    assert_memory_equal(r, "RSDT", 4);
    assert_int_equal(sum(x, r32(x + 4)), 0);
    assert_int_equal(sum(r, r32(r + 4)), 0);
    unsigned n = (r32(x + 4) - 36) / 8;
    assert_int_equal((r32(r + 4) - 36) / 4, n);
    const uint8_t *found = NULL;
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(r64(x + 36 + 8 * i), r32(r + 36 + 4 * i));
        const uint8_t *t = at(r64(x + 36 + 8 * i));
        assert_int_equal(sum(t, r32(t + 4)), 0);
        assert_memory_equal(t + 10, "FERRY ", 6);
        if (!memcmp(t, sig, 4))
            found = t;
    }
    if (ntables)
        *ntables = n;
    return found;
}

static void build(const struct acpi_machine *m)
{
    memset(mem, 0xa5, sizeof(mem));
    long n = acpi_tables_build(m, mem, GPA, sizeof(mem));
    assert_true(n > 0 && n < 4096);                       /* 64 vCPUs and PCI0: ~3 KiB */
}

static void test_fadt_facs_dsdt(void **state)
{
    (void)state;
    struct acpi_machine m = machine(1);
    build(&m);
    unsigned n;
    const uint8_t *f = find("FACP", &n);
    assert_int_equal(n, 2);
    assert_non_null(f);
    assert_int_equal(r32(f + 4), 276);
    assert_int_equal(f[8], 6);
    assert_int_equal(r16(f + 46), 9);                     /* SCI_INT */
    assert_int_equal(r32(f + 48), 0);                     /* SMI_CMD: always in ACPI mode */
    assert_int_equal(r32(f + 56), 0x600);                 /* PM1a_EVT_BLK */
    assert_int_equal(r32(f + 64), 0x604);                 /* PM1a_CNT_BLK */
    assert_int_equal(r32(f + 76), 0x608);                 /* PM_TMR_BLK */
    assert_int_equal(f[88], 4);
    assert_int_equal(f[89], 2);
    assert_int_equal(f[91], 4);
    assert_int_equal(r32(f + 80), 0);                     /* no GPE blocks */
    assert_true(r16(f + 96) > 100 && r16(f + 98) > 1000); /* no C2, no C3 */
    assert_int_equal(f[108], 0x32);                       /* CMOS century */
    assert_int_equal(r16(f + 109), 0x0005);               /* legacy devices, no VGA, no 8042 */
    uint32_t flags = r32(f + 112);
    assert_true(flags & (1u << 8));                       /* TMR_VAL_EXT */
    assert_true(flags & (1u << 10));                      /* RESET_REG_SUP */
    assert_false(flags & (1u << 20));                     /* not HW_REDUCED_ACPI */
    static const uint8_t reset_reg[12] = { 1, 8, 0, 1, 0xf9, 0x0c };
    assert_memory_equal(f + 116, reset_reg, 12);
    assert_int_equal(f[128], 6);
    static const uint8_t x_tmr[12] = { 1, 32, 0, 3, 0x08, 0x06 };
    assert_memory_equal(f + 208, x_tmr, 12);
    assert_int_equal(r64(f + 148 + 4), 0x600);
    assert_int_equal(r64(f + 172 + 4), 0x604);
    /* FACS: 64-byte aligned, pointed at by X_FIRMWARE_CTRL only; DSDT by both. */
    assert_int_equal(r32(f + 36), 0);
    const uint8_t *facs = at(r64(f + 132));
    assert_int_equal(r64(f + 132) % 64, 0);
    assert_memory_equal(facs, "FACS", 4);
    assert_int_equal(r32(facs + 4), 64);
    assert_int_equal(r64(f + 140), r32(f + 40));
    const uint8_t *dsdt = at(r64(f + 140));
    assert_memory_equal(dsdt, "DSDT", 4);
    assert_int_equal(sum(dsdt, r32(dsdt + 4)), 0);
    /* Name (_S5, Package (4) { 5, 5, 0, 0 }): SLP_TYP 5 is what hv/dev/vacpipm.c powers off on. */
    static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 5, 0x0a, 5, 0, 0 };
    assert_int_equal(r32(dsdt + 4), 36 + sizeof(s5));
    assert_memory_equal(dsdt + 36, s5, sizeof(s5));
    assert_null(find("MCFG", NULL));
}

static void test_madt(void **state)
{
    (void)state;
    static const unsigned counts[] = { 1, 2, 64 };
    for (unsigned c = 0; c < 3; c++) {
        struct acpi_machine m = machine(counts[c]);
        m.ioapic_id = 3;
        build(&m);
        const uint8_t *t = find("APIC", NULL);
        assert_non_null(t);
        assert_int_equal(r32(t + 36), 0xfee00000);
        assert_int_equal(r32(t + 40), 1);                 /* PCAT_COMPAT */
        unsigned lapics = 0, ioapics = 0, isos = 0, nmis = 0;
        for (const uint8_t *e = t + 44; e < t + r32(t + 4); e += e[1]) {
            assert_true(e[1] >= 2);
            switch (e[0]) {
            case 0:
                assert_int_equal(e[1], 8);
                assert_int_equal(e[2], lapics);           /* UID */
                assert_int_equal(e[3], lapics);           /* APIC ID = vCPU index */
                assert_int_equal(r32(e + 4), 1);
                lapics++;
                break;
            case 1:
                assert_int_equal(e[1], 12);
                assert_int_equal(e[2], 3);
                assert_int_equal(r32(e + 4), 0xfec00000);
                assert_int_equal(r32(e + 8), 0);
                ioapics++;
                break;
            case 2:
                assert_int_equal(e[1], 10);
                if (e[3] == 0) {
                    assert_int_equal(r32(e + 4), 2);      /* IRQ 0 -> GSI 2 */
                    assert_int_equal(r16(e + 8), 0);
                } else {
                    assert_int_equal(e[3], 9);            /* the SCI: level, active high */
                    assert_int_equal(r32(e + 4), 9);
                    assert_int_equal(r16(e + 8), 0x000d);
                }
                isos++;
                break;
            case 4:
                assert_int_equal(e[1], 6);
                assert_int_equal(e[2], 0xff);
                assert_int_equal(e[5], 1);                /* LINT1 */
                nmis++;
                break;
            default:
                fail_msg("unexpected MADT entry type %u", e[0]);
            }
        }
        assert_int_equal(lapics, counts[c]);
        assert_int_equal(ioapics, 1);
        assert_int_equal(isos, 2);
        assert_int_equal(nmis, 1);
    }
}

static void test_mcfg_with_ecam(void **state)
{
    (void)state;
    struct acpi_machine m = machine(2);
    m.ecam_base = 0xb0000000;
    m.ecam_bus_end = 0;
    build(&m);
    unsigned n;
    const uint8_t *t = find("MCFG", &n);
    assert_int_equal(n, 3);
    assert_non_null(t);
    assert_int_equal(r32(t + 4), 60);
    assert_int_equal(r64(t + 44), 0xb0000000);
    assert_int_equal(r16(t + 52), 0);
    assert_int_equal(t[54], 0);
    assert_int_equal(t[55], 0);
}

static void test_refusals(void **state)
{
    (void)state;
    struct acpi_machine m = machine(0);
    assert_int_equal(acpi_tables_build(&m, mem, GPA, sizeof(mem)), -EINVAL);
    m.nvcpus = 256;
    assert_int_equal(acpi_tables_build(&m, mem, GPA, sizeof(mem)), -EINVAL);
    m.nvcpus = 1;
    assert_int_equal(acpi_tables_build(&m, mem, GPA + 8, sizeof(mem)), -EINVAL);
    assert_int_equal(acpi_tables_build(&m, mem, GPA + 32, sizeof(mem)), -EINVAL); /* FACS: 64 */
    assert_int_equal(acpi_tables_build(&m, mem, 0xffffffc0ull, 0x100), -EINVAL);  /* wraps */
    assert_int_equal(acpi_tables_build(&m, mem, 0xfffff000ull, sizeof(mem)), -EINVAL);
    /* Too small a buffer: -ENOSPC at every size short of what it needs, never a write past. */
    long need = acpi_tables_build(&m, mem, GPA, sizeof(mem));
    assert_true(need > 0);
    for (long cap = 0; cap < need; cap += 7) {
        memset(mem, 0xa5, sizeof(mem));
        assert_int_equal(acpi_tables_build(&m, mem, GPA, (size_t)cap), -ENOSPC);
        for (size_t i = (size_t)cap; i < sizeof(mem); i++)
            assert_int_equal(mem[i], 0xa5);
    }
}

/* ---- the DSDT's AML, parsed (ACPI 20.2) ---- */

/* A PkgLength at *p (20.2.4); *p moves past its own bytes, which the value counts. */
static size_t pkglen(const uint8_t **p)
{
    const uint8_t *q = *p;
    unsigned follow = q[0] >> 6;
    size_t v = follow ? q[0] & 0x0fu : q[0] & 0x3fu;
    if (follow)
        assert_int_equal(q[0] & 0x30, 0);
    for (unsigned i = 0; i < follow; i++)
        v |= (size_t)q[1 + i] << (4 + 8 * i);
    assert_true(v > follow);
    *p = q + 1 + follow;
    return v;
}

/* An integer (ZeroOp, OneOp, Byte/Word/DWord/QWord constant) at *p; *p moves past it. */
static uint64_t integer(const uint8_t **p)
{
    const uint8_t *q = *p;
    unsigned n = q[0] == 0x0a ? 1 : q[0] == 0x0b ? 2 : q[0] == 0x0c ? 4 : q[0] == 0x0e ? 8 : 0;
    if (q[0] <= 1) {
        *p = q + 1;
        return q[0];
    }
    if (!n)
        fail_msg("opcode 0x%02x where an integer should be", q[0]);
    *p = q + 1 + n;
    return n == 1 ? q[1] : n == 2 ? r16(q + 1) : n == 4 ? r32(q + 1) : r64(q + 1);
}

/* The end of the data object (integer, Buffer or Package) at p. */
static const uint8_t *object_end(const uint8_t *p)
{
    if (p[0] != 0x11 && p[0] != 0x12) {
        integer(&p);
        return p;
    }
    const uint8_t *q = p + 1;
    return p + 1 + pkglen(&q);
}

/* A NameSeg (20.2.2): a lead character ('A'-'Z', '_'), then three that may be digits too. */
static void check_nameseg(const uint8_t *n)
{
    for (int i = 0; i < 4; i++) {
        bool digit = i && n[i] >= '0' && n[i] <= '9';
        assert_true(n[i] == '_' || (n[i] >= 'A' && n[i] <= 'Z') || digit);
    }
}

/* Walks the term list [p, end) whole (Name, Scope and Device are all it may hold; each ends
 * where its PkgLength says) and finds path ("_SB_.PCI0._HID": NameSegs from the root, '.'
 * between): the named data object, or NULL. */
static const uint8_t *lookup(const uint8_t *p, const uint8_t *end, const char *path)
{
    const uint8_t *found = NULL;
    bool here = strlen(path) >= 4;
    while (p < end) {
        if (p[0] == 0x08) {                                 /* Name (seg, object) */
            check_nameseg(p + 1);
            if (here && !path[4] && !memcmp(p + 1, path, 4))
                found = p + 5;
            p = object_end(p + 5);
            continue;
        }
        const uint8_t *q;
        if (p[0] == 0x10)                                   /* Scope (name) { ... } */
            q = p + 1;
        else if (p[0] == 0x5b && p[1] == 0x82)              /* Device (name) { ... } */
            q = p + 2;
        else
            fail_msg("AML opcode 0x%02x at DSDT+%td", p[0], p - mem);
        const uint8_t *body_end = q;
        body_end += pkglen(&q);
        assert_true(body_end <= end);
        if (p[0] == 0x10 && q[0] == '\\')
            q++;                                            /* from the root: where we are */
        check_nameseg(q);
        bool into = here && path[4] == '.' && !memcmp(q, path, 4);
        const uint8_t *f = lookup(q + 4, body_end, into ? path + 5 : "");
        found = f ? f : found;
        p = body_end;
    }
    assert_ptr_equal(p, end);
    return found;
}

static const uint8_t *dsdt_object(const char *path)
{
    const uint8_t *f = find("FACP", NULL);
    assert_non_null(f);
    const uint8_t *d = at(r64(f + 140));
    assert_memory_equal(d, "DSDT", 4);
    assert_int_equal(sum(d, r32(d + 4)), 0);
    return lookup(d + 36, d + r32(d + 4), path);
}

/* A resource descriptor as decoded: small I/O (tag 0x47) or Word/DWord/QWord address
 * (0x88/0x87/0x8a); for I/O, gra is the alignment and flags the decode. */
struct res {
    uint8_t tag, type, flags, tflags;
    uint64_t gra, min, max, tra, len;
};

static uint64_t rn(const uint8_t *p, unsigned w)
{
    return w == 2 ? r16(p) : w == 4 ? r32(p) : r64(p);
}

/* The Buffer at p decoded as a resource template (6.4), the End Tag last: the count. */
static unsigned resources(const uint8_t *p, struct res *r, unsigned max)
{
    assert_int_equal(p[0], 0x11);
    const uint8_t *q = p + 1, *end = p + 1;
    end += pkglen(&q);
    uint64_t size = integer(&q);
    assert_int_equal(size, end - q);                        /* BufferSize: the bytes left */
    for (unsigned n = 0; n <= max; n++) {
        assert_true(q + 2 <= end);
        if (q[0] == 0x79) {                                 /* End Tag, checksum 0 */
            assert_int_equal(q[1], 0);
            assert_ptr_equal(q + 2, end);
            return n;
        }
        assert_true(n < max);
        if (q[0] == 0x47) {                                 /* I/O Port (6.4.2.5) */
            r[n] = (struct res){ .tag = q[0], .flags = q[1], .min = r16(q + 2),
                                 .max = r16(q + 4), .gra = q[6], .len = q[7] };
            q += 8;
            continue;
        }
        unsigned w = q[0] == 0x88 ? 2 : q[0] == 0x87 ? 4 : q[0] == 0x8a ? 8 : 0;
        if (!w)
            fail_msg("resource descriptor 0x%02x", q[0]);
        assert_int_equal(r16(q + 1), 3 + 5 * w);
        assert_true(q + 6 + 5 * w <= end);
        r[n] = (struct res){ .tag = q[0], .type = q[3], .flags = q[4], .tflags = q[5],
                             .gra = rn(q + 6, w), .min = rn(q + 6 + w, w),
                             .max = rn(q + 6 + 2 * w, w), .tra = rn(q + 6 + 3 * w, w),
                             .len = rn(q + 6 + 4 * w, w) };
        q += 6 + 5 * w;
    }
    fail_msg("no End Tag");
    return 0;
}

/* A fixed (_MIF, _MAF) address descriptor: [min, min + len), no translation. */
static void check_addr(const struct res *r, uint8_t tag, uint8_t type, bool producer,
                       uint8_t tflags, uint64_t min, uint64_t len)
{
    assert_int_equal(r->tag, tag);
    assert_int_equal(r->type, type);
    assert_int_equal(r->flags, producer ? 0x0c : 0x0d);
    assert_int_equal(r->tflags, tflags);
    assert_int_equal(r->gra, 0);
    assert_int_equal(r->min, min);
    assert_int_equal(r->max, min + len - 1);
    assert_int_equal(r->tra, 0);
    assert_int_equal(r->len, len);
}

static void check_eisa_id(const uint8_t *obj, const uint8_t id[4])
{
    assert_non_null(obj);
    assert_int_equal(obj[0], 0x0c);                         /* DWordPrefix */
    assert_memory_equal(obj + 1, id, 4);
}

static const uint8_t pnp0a08[4] = { 0x41, 0xd0, 0x0a, 0x08 };   /* "PNP": 16/14/16 in 5 bits */
static const uint8_t pnp0a03[4] = { 0x41, 0xd0, 0x0a, 0x03 };
static const uint8_t pnp0c02[4] = { 0x41, 0xd0, 0x0c, 0x02 };

static struct acpi_machine pci_machine(unsigned nvcpus)
{
    struct acpi_machine m = machine(nvcpus);
    m.ecam_base = 0xe0000000;
    m.pci_mmio32_base = 0xc0000000;
    m.pci_mmio32_size = 0x20000000;
    return m;
}

/* PCI0's identity, its _CRS windows (32-bit memory, optionally 64-bit) and bus range. */
static void check_pci0(const struct acpi_machine *m)
{
    check_eisa_id(dsdt_object("_SB_.PCI0._HID"), pnp0a08);
    check_eisa_id(dsdt_object("_SB_.PCI0._CID"), pnp0a03);
    static const char *const zeros[] = { "_SB_.PCI0._UID", "_SB_.PCI0._SEG", "_SB_.PCI0._BBN" };
    for (int i = 0; i < 3; i++) {
        const uint8_t *o = dsdt_object(zeros[i]);
        assert_non_null(o);
        assert_int_equal(integer(&o), 0);
    }
    struct res r[8];
    unsigned n = resources(dsdt_object("_SB_.PCI0._CRS"), r, 8);
    assert_int_equal(n, m->pci_mmio64_size ? 6 : 5);
    check_addr(&r[0], 0x88, 2, true, 0, 0, m->ecam_bus_end + 1u);     /* WordBusNumber */
    assert_int_equal(r[1].tag, 0x47);                       /* IO (Decode16, 0xCF8, 0xCF8, 1, 8) */
    assert_int_equal(r[1].flags, 1);
    assert_int_equal(r[1].min, 0xcf8);
    assert_int_equal(r[1].max, 0xcf8);
    assert_int_equal(r[1].gra, 1);
    assert_int_equal(r[1].len, 8);
    check_addr(&r[2], 0x88, 1, true, 3, 0, 0xcf8);          /* WordIO, EntireRange */
    check_addr(&r[3], 0x88, 1, true, 3, 0xd00, 0xf300);
    check_addr(&r[4], 0x87, 0, true, 1, m->pci_mmio32_base, m->pci_mmio32_size); /* RW, UC */
    if (m->pci_mmio64_size)
        check_addr(&r[5], 0x8a, 0, true, 1, m->pci_mmio64_base, m->pci_mmio64_size);
}

/* _PRT: one entry per pin of slots 1-31, each Package { slot << 16 | 0xFFFF, pin, 0, GSI }. */
static void check_prt(void)
{
    const uint8_t *p = dsdt_object("_SB_.PCI0._PRT");
    assert_non_null(p);
    assert_int_equal(p[0], 0x12);
    const uint8_t *q = p + 1, *end = p + 1;
    end += pkglen(&q);
    unsigned count = *q++;
    assert_int_equal(count, 31 * 4);
    bool seen[32][4] = { { false } };
    for (unsigned i = 0; i < count; i++) {
        assert_int_equal(q[0], 0x12);
        const uint8_t *e = q + 1, *e_end = q + 1;
        e_end += pkglen(&e);
        assert_int_equal(*e++, 4);
        uint64_t addr = integer(&e), pin = integer(&e), src = integer(&e), gsi = integer(&e);
        assert_ptr_equal(e, e_end);
        assert_int_equal(addr & 0xffff, 0xffff);            /* every function of the slot */
        unsigned slot = (unsigned)(addr >> 16);
        assert_true(slot >= 1 && slot <= 31 && pin <= 3);
        assert_false(seen[slot][pin]);
        seen[slot][pin] = true;
        assert_int_equal(src, 0);                           /* no link device: a GSI */
        assert_int_equal(gsi, 16 + (slot + pin) % 8);
        assert_int_equal(gsi, PCIFN_INTX_GSI(slot, pin));   /* what the device models raise */
        q = e_end;
    }
    assert_ptr_equal(q, end);
    /* A few by hand: 00:01 INTA, 00:07 INTB, 00:1f INTD. */
    assert_int_equal(acpi_pci_gsi(1, 0), 17);
    assert_int_equal(acpi_pci_gsi(7, 1), 16);
    assert_int_equal(acpi_pci_gsi(31, 3), 18);
}

/* MRES: a PNP0C02 whose _CRS is the ECAM area, consumed. */
static void check_mres(const struct acpi_machine *m, uint8_t tag)
{
    check_eisa_id(dsdt_object("_SB_.MRES._HID"), pnp0c02);
    const uint8_t *uid = dsdt_object("_SB_.MRES._UID");
    assert_non_null(uid);
    assert_int_equal(integer(&uid), 1);
    struct res r[2];
    assert_int_equal(resources(dsdt_object("_SB_.MRES._CRS"), r, 2), 1);
    check_addr(&r[0], tag, 0, false, 1, m->ecam_base, (m->ecam_bus_end + 1ull) << 20);
}

static void test_dsdt_pci_root(void **state)
{
    (void)state;
    struct acpi_machine m = pci_machine(64);
    build(&m);
    /* \_S5 stays first, at the root. */
    const uint8_t *s5 = dsdt_object("_S5_");
    assert_non_null(s5);
    assert_memory_equal(s5 - 5, "\x08_S5_\x12\x08\x04\x0a\x05\x0a\x05\x00\x00", 14);
    assert_ptr_equal(s5 - 5, at(r32(find("FACP", NULL) + 40)) + 36);
    check_pci0(&m);
    check_prt();
    check_mres(&m, 0x87);
    assert_null(dsdt_object("_SB_.PCI0._OSC"));
    assert_null(dsdt_object("PCI0._HID"));                  /* under \_SB, not the root */
}

static void test_dsdt_pci_variants(void **state)
{
    (void)state;
    /* Four buses of ECAM, a 64-bit window: a QWord descriptor, MRES 4 MiB. */
    struct acpi_machine m = pci_machine(1);
    m.ecam_base = 0xb0000000;
    m.ecam_bus_end = 3;
    m.pci_mmio64_base = 0x8000000000ull;
    m.pci_mmio64_size = 0x8000000000ull;
    build(&m);
    check_pci0(&m);
    check_prt();
    check_mres(&m, 0x87);
    /* ECAM above 4 GiB: MRES takes a QWord descriptor. */
    m.ecam_base = 0x100000000ull;
    build(&m);
    check_mres(&m, 0x8a);
    /* No ECAM: PCI0 (bus 0 only) but no MRES, no MCFG. */
    m = pci_machine(1);
    m.ecam_base = 0;
    build(&m);
    check_pci0(&m);
    assert_null(dsdt_object("_SB_.MRES._HID"));
    assert_null(find("MCFG", NULL));
    /* No window: no PCI0, the DSDT as it was (test_fadt_facs_dsdt checks its bytes). */
    m.ecam_base = 0xe0000000;
    m.pci_mmio32_size = 0;
    build(&m);
    assert_null(dsdt_object("_SB_.PCI0._HID"));
    assert_null(dsdt_object("_SB_.MRES._HID"));
}

/* ferry-min as hv/vm/vm.c builds it: its PCI0 is the pci-host's (window, ECAM, INTx pins). */
static void test_ferry_min(void **state)
{
    (void)state;
    struct acpi_machine m;
    machine_ferry_min_acpi(4, &m);
    assert_int_equal(m.pci_mmio32_base, VPCI_MMIO32_BASE);
    assert_int_equal(m.pci_mmio32_size, VPCI_MMIO32_SIZE);
    assert_int_equal(m.ecam_base, VPCI_ECAM_BASE);
    /* Above low RAM, below ECAM and the APICs. */
    assert_true(m.pci_mmio32_base >= VM_LOW_RAM_END);
    assert_true(m.pci_mmio32_base + m.pci_mmio32_size <= m.ecam_base);
    assert_true(m.ioapic_base >= m.ecam_base + ((m.ecam_bus_end + 1ull) << 20));
    assert_true(m.pci_mmio64_size == 0);
    memset(mem, 0xa5, sizeof(mem));
    long n = acpi_tables_build(&m, mem, ACPI_TABLES_GPA, ACPI_TABLES_MAX);
    assert_true(n > 0);
    check_pci0(&m);
    check_prt();
    check_mres(&m, 0x87);
    /* The most vCPUs still fit where hv/vm/vm.c puts them. */
    machine_ferry_min_acpi(255, &m);
    n = acpi_tables_build(&m, mem, ACPI_TABLES_GPA, ACPI_TABLES_MAX);
    assert_true(n > 0 && n < ACPI_TABLES_MAX);
}

static void test_pci_refusals(void **state)
{
    (void)state;
    struct acpi_machine m = pci_machine(1);
    m.pci_mmio32_base = 0xf0000000;                         /* crosses 4 GiB */
    assert_int_equal(acpi_tables_build(&m, mem, GPA, sizeof(mem)), -EINVAL);
    m.pci_mmio32_base = 0x100000000ull;
    assert_int_equal(acpi_tables_build(&m, mem, GPA, sizeof(mem)), -EINVAL);
    m.pci_mmio32_base = 0xd0000000;                         /* over ECAM */
    assert_int_equal(acpi_tables_build(&m, mem, GPA, sizeof(mem)), -EINVAL);
    m.pci_mmio32_base = 0xe0080000;
    m.pci_mmio32_size = 0x1000;
    assert_int_equal(acpi_tables_build(&m, mem, GPA, sizeof(mem)), -EINVAL);
    m = pci_machine(1);
    m.pci_mmio64_base = 0xfffff000ull;                      /* not above 4 GiB */
    m.pci_mmio64_size = 0x100000;
    assert_int_equal(acpi_tables_build(&m, mem, GPA, sizeof(mem)), -EINVAL);
    m.pci_mmio64_base = 0xfffffffffff00000ull;              /* wraps */
    m.pci_mmio64_size = 0x200000;
    assert_int_equal(acpi_tables_build(&m, mem, GPA, sizeof(mem)), -EINVAL);
    m.pci_mmio64_size = 0x100000;                           /* to the very top: fine */
    assert_true(acpi_tables_build(&m, mem, GPA, sizeof(mem)) > 0);
    m.pci_mmio32_size = 0;                                  /* a 64-bit window alone */
    assert_int_equal(acpi_tables_build(&m, mem, GPA, sizeof(mem)), -EINVAL);
    /* Too small a buffer, at every size: -ENOSPC and nothing written past it (a PkgLength
     * goes in before what it measures, which moves up to make room). */
    static uint8_t untouched[sizeof(mem)];
    memset(untouched, 0xa5, sizeof(untouched));
    m = pci_machine(1);
    long need = acpi_tables_build(&m, mem, GPA, sizeof(mem));
    assert_true(need > 0);
    for (long cap = 0; cap < need; cap++) {
        memset(mem, 0xa5, sizeof(mem));
        assert_int_equal(acpi_tables_build(&m, mem, GPA, (size_t)cap), -ENOSPC);
        assert_true(!memcmp(mem + cap, untouched, sizeof(mem) - (size_t)cap));
    }
    assert_int_equal(acpi_tables_build(&m, mem, GPA, (size_t)need), need);
}

/* --dump DIR: ferry-min's tables (2 vCPUs), one file each, for iasl. */
static int dump(const char *dir)
{
    struct acpi_machine m;
    machine_ferry_min_acpi(2, &m);
    long n = acpi_tables_build(&m, mem, GPA, sizeof(mem));
    if (n < 0)
        return 1;
    const uint8_t *x = at(r64(mem + 24));
    for (unsigned i = 0; i <= (r32(x + 4) - 36) / 8; i++) {
        /* The XSDT's tables, then the DSDT the FADT points at. */
        const uint8_t *t = i < (r32(x + 4) - 36) / 8 ? at(r64(x + 36 + 8 * i))
                                                     : at(r64(find("FACP", NULL) + 140));
        char path[512];
        snprintf(path, sizeof(path), "%s/%.4s.dat", dir, (const char *)t);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(t, 1, r32(t + 4), f) != r32(t + 4) || fclose(f)) {
            perror(path);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--dump"))
        return dump(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fadt_facs_dsdt),
        cmocka_unit_test(test_madt),
        cmocka_unit_test(test_mcfg_with_ecam),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_dsdt_pci_root),
        cmocka_unit_test(test_dsdt_pci_variants),
        cmocka_unit_test(test_ferry_min),
        cmocka_unit_test(test_pci_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
