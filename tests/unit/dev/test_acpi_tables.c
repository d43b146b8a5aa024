/*
 * The guest's ACPI tables (hv/dev/acpi_tables.c), read back the way an OS finds them: the RSDP
 * by signature and both checksums, the XSDT and RSDT entries, then each table by signature with
 * its length and checksum; the FADT's registers, flags and pointers (ACPI 6.5 table 5.9
 * offsets), the FACS, the DSDT's \_S5 AML, the MADT's entries for 1 and 64 vCPUs, MCFG only with
 * ECAM; impossible requests refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hv/dev/acpi_tables.h"

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
    assert_true(n > 0 && n < 4096);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fadt_facs_dsdt),
        cmocka_unit_test(test_madt),
        cmocka_unit_test(test_mcfg_with_ecam),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
