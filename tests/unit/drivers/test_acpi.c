/*
 * Host tests for drivers/acpi.c. Synthetic tables are built in `mem`, which
 * plays physical memory at MEM_BASE. The default mapper (strict_map) copies
 * each requested range into an exactly-sized heap buffer and frees it on the
 * next call, so ASan catches both a read past the mapped length and the use
 * of a mapping after the parser asked for another one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/acpi.h"
#include "support.h"

#define MEM_BASE 0x7f000000ull
#define MEM_SIZE (256u * 1024)
#define MiB      (1024ull * 1024)

#define FADT_F_TMR_VAL_EXT   (1u << 8)
#define FADT_F_RESET_REG_SUP (1u << 10)

static uint8_t mem[MEM_SIZE];
static uint64_t mem_next;   /* bump allocator over mem */
static uint64_t cur;        /* table under construction */
static void *strict_buf;
static struct acpi_info ai;

/* ---- "physical memory" and mappers ---- */

static const void *plain_map(uint64_t phys, size_t len, void *ctx)
{
    (void)ctx;
    if (phys < MEM_BASE || phys - MEM_BASE > MEM_SIZE || len > MEM_SIZE - (phys - MEM_BASE))
        return NULL;
    return mem + (phys - MEM_BASE);
}

static const void *strict_map(uint64_t phys, size_t len, void *ctx)
{
    const void *src = plain_map(phys, len, ctx);

    free(strict_buf);
    strict_buf = NULL;
    if (!src)
        return NULL;
    strict_buf = malloc(len ? len : 1);
    memcpy(strict_buf, src, len);
    return strict_buf;
}

static int parse(uint64_t rsdp)
{
    int rc = acpi_parse(rsdp, strict_map, NULL, &ai);

    free(strict_buf);
    strict_buf = NULL;
    return rc;
}

static uint8_t *P(uint64_t phys) { return mem + (phys - MEM_BASE); }
static void put32(uint64_t a, uint32_t v) { memcpy(P(a), &v, 4); }
static void put64(uint64_t a, uint64_t v) { memcpy(P(a), &v, 8); }
static uint32_t get32(uint64_t a) { uint32_t v; memcpy(&v, P(a), 4); return v; }

static uint64_t mem_alloc(size_t len)
{
    uint64_t p = mem_next;

    mem_next = (mem_next + len + 15) & ~15ull;
    assert_true(mem_next <= MEM_BASE + MEM_SIZE);
    return p;
}

/* ---- table builders ---- */

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;

    while (n--)
        s += *p++;
    return s;
}

static void tbl_fix(uint64_t t)
{
    P(t)[9] = 0;
    P(t)[9] = (uint8_t)-sum(P(t), get32(t + 4));
}

static uint64_t tbl_begin(const char *sig)
{
    cur = mem_next;
    memset(P(cur), 0, 36);
    memcpy(P(cur), sig, 4);
    put32(cur + 4, 36);
    P(cur)[8] = 1;
    memcpy(P(cur) + 10, "FERRY TESTTBL ", 14);
    return cur;
}

static void add(const void *bytes, size_t n)
{
    uint32_t len = get32(cur + 4);

    assert_true(cur + len + n <= MEM_BASE + MEM_SIZE);
    memcpy(P(cur) + len, bytes, n);
    put32(cur + 4, len + (uint32_t)n);
}

static void add8(uint8_t v) { add(&v, 1); }
static void add16(uint16_t v) { add(&v, 2); }
static void add32(uint32_t v) { add(&v, 4); }
static void add64(uint64_t v) { add(&v, 8); }

static uint64_t tbl_end(void)
{
    uint64_t t = cur;

    tbl_fix(t);
    mem_next = t;
    mem_alloc(get32(t + 4));
    return t;
}

static void madt_begin(uint32_t lapic) { tbl_begin("APIC"); add32(lapic); add32(1); }

static void madt_lapic(uint8_t uid, uint8_t apic, uint32_t flags)
{
    add8(0); add8(8); add8(uid); add8(apic); add32(flags);
}

static void madt_x2apic(uint32_t id, uint32_t uid, uint32_t flags)
{
    add8(9); add8(16); add16(0); add32(id); add32(flags); add32(uid);
}

static void madt_ioapic(uint8_t id, uint32_t addr, uint32_t gsi)
{
    add8(1); add8(12); add8(id); add8(0); add32(addr); add32(gsi);
}

static void madt_iso(uint8_t src, uint32_t gsi, uint16_t flags)
{
    add8(2); add8(10); add8(0); add8(src); add32(gsi); add16(flags);
}

static void srat_begin(void) { tbl_begin("SRAT"); add32(1); add64(0); }

static void srat_cpu(uint32_t dom, uint8_t apic, uint32_t flags)
{
    add8(0); add8(16); add8(dom & 0xff); add8(apic); add32(flags); add8(0);
    add8(dom >> 8); add8(dom >> 16); add8(dom >> 24); add32(0);
}

static void srat_x2apic(uint32_t dom, uint32_t id, uint32_t flags)
{
    add8(2); add8(24); add16(0); add32(dom); add32(id); add32(flags); add32(0); add32(0);
}

static void srat_mem(uint32_t dom, uint64_t base, uint64_t len, uint32_t flags)
{
    add8(1); add8(40); add32(dom); add16(0); add64(base); add64(len); add32(0);
    add32(flags); add64(0);
}

static uint64_t slit_table(uint64_t n, const uint8_t *d, size_t count)
{
    tbl_begin("SLIT");
    add64(n);
    add(d, count);
    return tbl_end();
}

static uint64_t mcfg_table(uint64_t base, uint16_t seg, uint8_t b0, uint8_t b1)
{
    tbl_begin("MCFG");
    add64(0);
    add64(base); add16(seg); add8(b0); add8(b1); add32(0);
    return tbl_end();
}

struct fadt_cfg {
    uint32_t len, flags, pm_tmr;
    uint8_t reset_space, reset_value, x_space;
    uint64_t reset_addr, x_pm_tmr;
};

static void put_gas(uint64_t a, uint8_t space, uint8_t width, uint64_t addr)
{
    P(a)[0] = space; P(a)[1] = width; P(a)[2] = 0; P(a)[3] = 1;
    put64(a + 4, addr);
}

static uint64_t fadt_table(const struct fadt_cfg *c)
{
    uint64_t t = tbl_begin("FACP");
    static const uint8_t zero[512];

    add(zero, c->len - 36);
    P(t)[8] = c->len >= 276 ? 6 : 1;
    if (c->len >= 116) {
        put32(t + 76, c->pm_tmr);
        P(t)[91] = c->pm_tmr ? 4 : 0;
        put32(t + 112, c->flags);
    }
    if (c->len >= 129) {
        put_gas(t + 116, c->reset_space, 8, c->reset_addr);
        P(t)[128] = c->reset_value;
    }
    if (c->len >= 220)
        put_gas(t + 208, c->x_space, 32, c->x_pm_tmr);
    return tbl_end();
}

static uint64_t root_table(bool xsdt, const uint64_t *tables, size_t n)
{
    tbl_begin(xsdt ? "XSDT" : "RSDT");
    for (size_t i = 0; i < n; i++) {
        if (xsdt)
            add64(tables[i]);
        else
            add32((uint32_t)tables[i]);
    }
    return tbl_end();
}

static uint64_t rsdp_new(uint8_t rev, uint64_t rsdt, uint64_t xsdt)
{
    uint64_t r = mem_alloc(36);

    memcpy(P(r), "RSD PTR ", 8);
    memcpy(P(r) + 9, "FERRY ", 6);
    P(r)[15] = rev;
    put32(r + 16, (uint32_t)rsdt);
    P(r)[8] = (uint8_t)-sum(P(r), 20);
    if (rev >= 2) {
        put32(r + 20, 36);
        put64(r + 24, xsdt);
        P(r)[32] = (uint8_t)-sum(P(r), 36);
    }
    return r;
}

/* QEMU-like q35 machine: 4 CPUs in 2 domains of 256 MiB each. */
static struct {
    uint64_t rsdp, xsdt, rsdt, fadt, madt, srat, slit, mcfg, hpet;
} m;

static const struct fadt_cfg qemu_fadt = {
    .len = 276, .flags = FADT_F_TMR_VAL_EXT | FADT_F_RESET_REG_SUP, .pm_tmr = 0x608,
    .reset_space = ACPI_GAS_IO, .reset_addr = 0xcf9, .reset_value = 0x06,
    .x_space = ACPI_GAS_IO, .x_pm_tmr = 0x608,
};

static uint64_t qemu_madt(void)
{
    madt_begin(0xfee00000);
    for (uint8_t i = 0; i < 4; i++)
        madt_lapic(i, i, 1);
    madt_ioapic(0, 0xfec00000, 0);
    madt_iso(0, 2, 0);
    madt_iso(9, 9, 0xd);
    return tbl_end();
}

static uint64_t qemu_srat(void)
{
    srat_begin();
    srat_cpu(0, 0, 1);
    srat_cpu(0, 1, 1);
    srat_cpu(1, 2, 1);
    srat_cpu(1, 3, 1);
    srat_mem(0, 0, 256 * MiB, 1);
    srat_mem(1, 256 * MiB, 256 * MiB, 1);
    return tbl_end();
}

static void build_qemu(bool with_srat)
{
    static const uint8_t dist[] = { 10, 21, 21, 10 };
    uint64_t list[6];
    size_t n = 0;

    list[n++] = m.fadt = fadt_table(&qemu_fadt);
    list[n++] = m.madt = qemu_madt();
    if (with_srat) {
        list[n++] = m.srat = qemu_srat();
        list[n++] = m.slit = slit_table(2, dist, sizeof(dist));
    }
    list[n++] = m.mcfg = mcfg_table(0xb0000000, 0, 0, 255);
    tbl_begin("HPET");
    add(dist, 4);
    list[n++] = m.hpet = tbl_end();
    m.xsdt = root_table(true, list, n);
    m.rsdt = root_table(false, list, n);
    m.rsdp = rsdp_new(2, m.rsdt, m.xsdt);
}

static int setup(void **state)
{
    (void)state;
    memset(mem, 0, sizeof(mem));
    memset(&m, 0, sizeof(m));
    memset(&ai, 0xab, sizeof(ai));   /* the parser must initialise everything */
    mem_next = MEM_BASE + 64;
    unit_log_reset();
    return 0;
}

static void assert_default_slit(void)
{
    for (unsigned i = 0; i < ACPI_MAX_NODES; i++) {
        for (unsigned j = 0; j < ACPI_MAX_NODES; j++)
            assert_int_equal(ai.slit[i][j], i == j ? 10 : 20);
    }
}

static void assert_single_node(void)
{
    assert_int_equal(ai.nnodes, 1);
    assert_int_equal(ai.node_domain[0], 0);
    for (unsigned i = 0; i < ai.ncpus; i++)
        assert_int_equal(ai.cpus[i].node, 0);
}

/* ---- tests ---- */

static void test_qemu_machine(void **state)
{
    (void)state;
    build_qemu(true);
    assert_int_equal(parse(m.rsdp), 0);
    assert_int_equal(ai.rsdp_phys, m.rsdp);
    assert_int_equal(ai.revision, 2);
    assert_true(ai.have_madt && ai.have_srat && ai.have_slit && ai.have_mcfg && ai.have_fadt);
    assert_int_equal(ai.lapic_base, 0xfee00000);
    assert_int_equal(ai.ncpus, 4);
    assert_int_equal(ai.ncpus_disabled, 0);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(ai.cpus[i].apic_id, i);
        assert_int_equal(ai.cpus[i].uid, i);
        assert_int_equal(ai.cpus[i].node, i / 2);
        assert_true(ai.cpus[i].enabled);
    }
    assert_int_equal(ai.nioapics, 1);
    assert_int_equal(ai.ioapics[0].address, 0xfec00000);
    assert_int_equal(ai.ioapics[0].gsi_base, 0);
    assert_int_equal(ai.nisos, 2);
    assert_int_equal(ai.isos[0].gsi, 2);
    assert_int_equal(ai.isos[1].source, 9);
    assert_int_equal(ai.isos[1].flags, 0xd);
    assert_int_equal(ai.nnodes, 2);
    assert_int_equal(ai.node_domain[0], 0);
    assert_int_equal(ai.node_domain[1], 1);
    assert_int_equal(ai.nmem, 2);
    assert_int_equal(ai.mem[1].base, 256 * MiB);
    assert_int_equal(ai.mem[1].length, 256 * MiB);
    assert_int_equal(ai.mem[1].node, 1);
    assert_false(ai.mem[1].hotplug);
    assert_int_equal(ai.slit[0][0], 10);
    assert_int_equal(ai.slit[0][1], 21);
    assert_int_equal(ai.slit[1][0], 21);
    assert_int_equal(ai.slit[1][1], 10);
    assert_int_equal(ai.nmcfg, 1);
    assert_int_equal(ai.mcfg[0].base, 0xb0000000);
    assert_int_equal(ai.mcfg[0].bus_end, 255);
    assert_true(ai.reset_supported);
    assert_int_equal(ai.reset_reg.space_id, ACPI_GAS_IO);
    assert_int_equal(ai.reset_reg.bit_width, 8);
    assert_int_equal(ai.reset_reg.address, 0xcf9);
    assert_int_equal(ai.reset_value, 6);
    assert_int_equal(ai.pm_tmr_port, 0x608);
    assert_true(ai.pm_tmr_32bit);
    assert_int_equal(ai.tables_found, 7);
    assert_int_equal(ai.tables_bad, 0);
    assert_int_equal(ai.table_bad_mask, 0);
    assert_string_equal(ai.table_sigs[0], "XSDT");
    assert_string_equal(ai.table_sigs[1], "FACP");
    assert_string_equal(ai.table_sigs[6], "HPET");
    assert_int_equal(acpi_node_of_apic(&ai, 3), 1);
    assert_int_equal(acpi_node_of_apic(&ai, 1), 0);
    assert_int_equal(unit_log_count[LOG_WARN] + unit_log_count[LOG_ERR], 0);
}

/* A mapper that hands out one stable identity mapping must give the same answer. */
static void test_mappers_agree(void **state)
{
    static struct acpi_info plain;

    (void)state;
    build_qemu(true);
    assert_int_equal(acpi_parse(m.rsdp, plain_map, NULL, &plain), 0);
    assert_int_equal(parse(m.rsdp), 0);
    assert_memory_equal(&plain, &ai, sizeof(ai));
}

static void test_rsdt_only_v1(void **state)
{
    uint64_t list[2], rsdt;

    (void)state;
    list[0] = fadt_table(&qemu_fadt);
    madt_begin(0xfee00000);
    madt_lapic(0, 0, 1);
    madt_lapic(1, 6, 1);
    list[1] = tbl_end();
    rsdt = root_table(false, list, 2);
    assert_int_equal(parse(rsdp_new(0, rsdt, 0)), 0);
    assert_int_equal(ai.revision, 0);
    assert_string_equal(ai.table_sigs[0], "RSDT");
    assert_int_equal(ai.tables_found, 3);
    assert_int_equal(ai.ncpus, 2);
    assert_int_equal(ai.cpus[1].apic_id, 6);
    assert_true(ai.have_fadt);
    assert_false(ai.have_srat);
    assert_single_node();
    assert_default_slit();
}

static void test_xsdt_preferred(void **state)
{
    uint64_t one, four, rsdt, xsdt;

    (void)state;
    madt_begin(0xfee00000);
    madt_lapic(0, 0, 1);
    one = tbl_end();
    four = qemu_madt();
    rsdt = root_table(false, &one, 1);
    xsdt = root_table(true, &four, 1);
    assert_int_equal(parse(rsdp_new(2, rsdt, xsdt)), 0);
    assert_string_equal(ai.table_sigs[0], "XSDT");
    assert_int_equal(ai.ncpus, 4);
}

static void test_bad_xsdt_falls_back_to_rsdt(void **state)
{
    (void)state;
    build_qemu(true);
    P(m.xsdt)[20] ^= 0x40;          /* corrupt the OEM table id: checksum now wrong */
    assert_int_equal(parse(m.rsdp), 0);
    assert_string_equal(ai.table_sigs[0], "XSDT");
    assert_string_equal(ai.table_sigs[1], "RSDT");
    assert_int_equal(ai.table_bad_mask, 1u << 0);
    assert_int_equal(ai.tables_bad, 1);
    assert_int_equal(ai.ncpus, 4);
    assert_int_equal(ai.nnodes, 2);
    assert_true(unit_log_count[LOG_WARN] >= 1);
}

static void test_no_srat_one_node(void **state)
{
    (void)state;
    build_qemu(false);
    assert_int_equal(parse(m.rsdp), 0);
    assert_false(ai.have_srat);
    assert_false(ai.have_slit);
    assert_int_equal(ai.ncpus, 4);
    assert_int_equal(ai.nmem, 0);
    assert_single_node();
    assert_default_slit();
    assert_int_equal(acpi_node_of_apic(&ai, 3), 0);
}

static void assert_rsdp_rejected(uint64_t rsdp)
{
    assert_int_equal(parse(rsdp), -EINVAL);
    assert_int_equal(ai.rsdp_phys, rsdp);
    assert_int_equal(ai.tables_found, 0);
    assert_int_equal(ai.ncpus, 0);
    assert_false(ai.have_madt);
    assert_single_node();
    assert_default_slit();
    assert_int_equal(unit_log_count[LOG_ERR], 1);
}

static void test_bad_rsdp_checksum(void **state)
{
    (void)state;
    build_qemu(true);
    P(m.rsdp)[8] ^= 1;
    assert_rsdp_rejected(m.rsdp);
}

static void test_bad_rsdp_signature_and_extended_checksum(void **state)
{
    (void)state;
    build_qemu(true);
    P(m.rsdp)[33] = 1;              /* reserved byte: only the extended checksum covers it */
    assert_rsdp_rejected(m.rsdp);
    unit_log_reset();
    P(m.rsdp)[33] = 0;
    assert_int_equal(parse(m.rsdp), 0);
    memcpy(P(m.rsdp), "RSD PTX ", 8);
    P(m.rsdp)[8] -= 'X' - 'R';      /* keep the 20-byte checksum right */
    unit_log_reset();
    assert_rsdp_rejected(m.rsdp);
    unit_log_reset();
    assert_rsdp_rejected(0x1000);  /* not mappable at all */
}

static void test_bad_checksum_table_skipped(void **state)
{
    (void)state;
    build_qemu(true);
    P(m.srat)[60] ^= 0xff;
    assert_int_equal(parse(m.rsdp), 0);
    assert_false(ai.have_srat);
    assert_int_equal(ai.tables_bad, 1);
    assert_string_equal(ai.table_sigs[3], "SRAT");
    assert_int_equal(ai.table_bad_mask, 1u << 3);
    assert_int_equal(unit_log_count[LOG_WARN], 1);
    assert_int_equal(ai.nmem, 0);
    assert_single_node();
    /* everything else still parsed */
    assert_true(ai.have_madt && ai.have_slit && ai.have_mcfg && ai.have_fadt);
    assert_int_equal(ai.ncpus, 4);
    assert_int_equal(ai.nmcfg, 1);
    assert_true(ai.reset_supported);
}

static void test_truncated_table(void **state)
{
    (void)state;
    build_qemu(true);
    /* MADT claims to run 16 bytes past the end of mappable memory (so no checksum fix) */
    put32(m.madt + 4, (uint32_t)(MEM_BASE + MEM_SIZE - m.madt) + 16);
    assert_int_equal(parse(m.rsdp), 0);
    assert_false(ai.have_madt);
    assert_int_equal(ai.ncpus, 0);
    assert_int_equal(ai.nioapics, 0);
    assert_int_equal(ai.tables_bad, 1);
    assert_int_equal(ai.table_bad_mask, 1u << 2);
    assert_true(ai.have_srat);
}

static void test_implausible_lengths(void **state)
{
    (void)state;
    build_qemu(true);
    put32(m.mcfg + 4, 20);          /* shorter than a header */
    put32(m.slit + 4, 0x80000000u); /* 2 GiB */
    assert_int_equal(parse(m.rsdp), 0);
    assert_false(ai.have_mcfg);
    assert_false(ai.have_slit);
    assert_int_equal(ai.nmcfg, 0);
    assert_int_equal(ai.tables_bad, 2);
    assert_int_equal(ai.slit[0][1], 20);
    assert_true(ai.have_madt);
}

static void madt_reject_case(void (*bad_entry)(void))
{
    uint64_t madt, xsdt;

    madt_begin(0xfee00000);
    madt_lapic(0, 0, 1);
    madt_ioapic(0, 0xfec00000, 0);
    bad_entry();
    madt = tbl_end();
    xsdt = root_table(true, &madt, 1);
    assert_int_equal(parse(rsdp_new(2, 0, xsdt)), 0);
    assert_false(ai.have_madt);
    assert_int_equal(ai.ncpus, 0);
    assert_int_equal(ai.nioapics, 0);
    assert_int_equal(ai.lapic_base, 0);
    assert_int_equal(ai.tables_bad, 1);
    assert_int_equal(ai.table_bad_mask, 1u << 1);
    assert_int_equal(unit_log_count[LOG_WARN], 1);
}

/* An unknown type, so only the length-0 check (not a per-type minimum) can stop the walk. */
static void zero_length_entry(void) { add8(0x42); add8(0); add32(0x01000100); }
/* Length 1: stepping one byte would parse a phantom IOAPIC out of the length byte onwards. */
static void one_length_entry(void)
{
    add8(0x42); add8(1); add8(12); add8(7); add8(0); add32(1); add32(0);
}
static void entry_past_end(void) { add8(0); add8(40); add8(2); add8(2); add32(1); }
static void x2apic_too_short(void) { add8(9); add8(8); add16(0); add32(7); }
static void half_header(void) { add8(0x7f); }

static void test_madt_zero_length_entry(void **state)
{
    (void)state;
    madt_reject_case(zero_length_entry);
    setup(NULL);
    madt_reject_case(one_length_entry);
}

static void test_madt_entry_past_end(void **state)
{
    (void)state;
    madt_reject_case(entry_past_end);
}

static void test_madt_entry_too_short(void **state)
{
    (void)state;
    madt_reject_case(x2apic_too_short);
    setup(NULL);
    madt_reject_case(half_header);
}

static void test_slit_count_inconsistent(void **state)
{
    uint64_t n_for_case[] = { 3, 0, 1ull << 32 };  /* too big, zero, N*N wraps to 0 */

    (void)state;
    for (unsigned c = 0; c < 3; c++) {
        setup(NULL);
        build_qemu(true);
        put64(m.slit + 36, n_for_case[c]);
        tbl_fix(m.slit);
        assert_int_equal(parse(m.rsdp), 0);
        assert_false(ai.have_slit);
        assert_int_equal(ai.tables_bad, 1);
        assert_int_equal(ai.slit[0][1], 20);
        assert_int_equal(ai.nnodes, 2);
    }
}

static void test_slit_bad_diagonal(void **state)
{
    (void)state;
    build_qemu(true);
    P(m.slit)[44 + 3] = 12;         /* distance[1][1] must be 10 */
    tbl_fix(m.slit);
    assert_int_equal(parse(m.rsdp), 0);
    assert_false(ai.have_slit);
    assert_int_equal(ai.slit[0][1], 20);
}

static void test_too_many_cpus(void **state)
{
    uint64_t madt, xsdt;

    (void)state;
    madt_begin(0xfee00000);
    for (uint32_t i = 0; i < 300; i++)
        madt_x2apic(i, 1000 + i, 1);
    madt = tbl_end();
    xsdt = root_table(true, &madt, 1);
    assert_int_equal(parse(rsdp_new(2, 0, xsdt)), 0);
    assert_true(ai.have_madt);
    assert_int_equal(ai.ncpus, ACPI_MAX_CPUS);
    assert_int_equal(ai.cpus[ACPI_MAX_CPUS - 1].apic_id, ACPI_MAX_CPUS - 1);
    assert_int_equal(ai.cpus[ACPI_MAX_CPUS - 1].uid, 1000 + ACPI_MAX_CPUS - 1);
    assert_int_equal(unit_log_count[LOG_WARN], 1);
    assert_int_equal(ai.tables_bad, 0);
}

static void test_disabled_cpus(void **state)
{
    uint64_t madt, xsdt;

    (void)state;
    madt_begin(0xfee00000);
    madt_lapic(0, 0, 1);
    madt_lapic(1, 1, 0);            /* disabled */
    madt_lapic(2, 2, 2);            /* online capable, not enabled */
    madt_lapic(3, 3, 3);
    madt_x2apic(0x300, 4, 0);
    madt_lapic(5, 0, 1);            /* duplicate APIC id: ignored */
    madt = tbl_end();
    xsdt = root_table(true, &madt, 1);
    assert_int_equal(parse(rsdp_new(2, 0, xsdt)), 0);
    assert_int_equal(ai.ncpus, 2);
    assert_int_equal(ai.cpus[0].apic_id, 0);
    assert_int_equal(ai.cpus[1].apic_id, 3);
    assert_int_equal(ai.ncpus_disabled, 3);
    assert_int_equal(unit_log_count[LOG_WARN], 1);
}

static void test_x2apic(void **state)
{
    uint64_t list[2], xsdt;

    (void)state;
    madt_begin(0xfee00000);
    madt_x2apic(0x100, 1, 1);
    madt_x2apic(0x101, 2, 1);
    madt_x2apic(0x12345, 3, 1);
    list[0] = tbl_end();
    srat_begin();
    srat_mem(0, 0, 512 * MiB, 1);
    srat_mem(1, 512 * MiB, 512 * MiB, 1);
    srat_x2apic(0, 0x100, 1);
    srat_x2apic(1, 0x101, 1);
    srat_x2apic(1, 0x12345, 1);
    list[1] = tbl_end();
    xsdt = root_table(true, list, 2);
    assert_int_equal(parse(rsdp_new(2, 0, xsdt)), 0);
    assert_int_equal(ai.ncpus, 3);
    assert_int_equal(ai.cpus[2].apic_id, 0x12345);
    assert_int_equal(ai.cpus[2].uid, 3);
    assert_int_equal(acpi_node_of_apic(&ai, 0x100), 0);
    assert_int_equal(acpi_node_of_apic(&ai, 0x101), 1);
    assert_int_equal(acpi_node_of_apic(&ai, 0x12345), 1);
    assert_int_equal(acpi_node_of_apic(&ai, 0x999), 0);
}

/* Domains 5 and 9 become nodes 0 and 1; memory entries decide the order, and the SLIT
 * (indexed by domain) is re-indexed by node. */
static void test_sparse_domains(void **state)
{
    uint8_t d[100];
    uint64_t list[3], xsdt;

    (void)state;
    madt_begin(0xfee00000);
    madt_lapic(0, 0, 1);
    madt_lapic(1, 1, 1);
    list[0] = tbl_end();
    srat_begin();
    srat_cpu(9, 0, 1);              /* CPU of domain 9 listed before any memory */
    srat_cpu(5, 1, 1);
    srat_mem(5, 0, 256 * MiB, 1);
    srat_mem(9, 256 * MiB, 256 * MiB, 3);   /* enabled + hotplug */
    list[1] = tbl_end();
    memset(d, 40, sizeof(d));
    for (unsigned i = 0; i < 10; i++)
        d[i * 10 + i] = 10;
    d[5 * 10 + 9] = 17;
    d[9 * 10 + 5] = 18;
    list[2] = slit_table(10, d, sizeof(d));
    xsdt = root_table(true, list, 3);
    assert_int_equal(parse(rsdp_new(2, 0, xsdt)), 0);
    assert_int_equal(ai.nnodes, 2);
    assert_int_equal(ai.node_domain[0], 5);
    assert_int_equal(ai.node_domain[1], 9);
    assert_int_equal(ai.cpus[0].node, 1);
    assert_int_equal(ai.cpus[1].node, 0);
    assert_int_equal(ai.mem[1].node, 1);
    assert_true(ai.mem[1].hotplug);
    assert_int_equal(ai.slit[0][0], 10);
    assert_int_equal(ai.slit[0][1], 17);
    assert_int_equal(ai.slit[1][0], 18);
    assert_int_equal(ai.slit[1][1], 10);
    assert_int_equal(ai.slit[0][2], 20);
}

static void test_srat_domain_high_bytes_and_disabled(void **state)
{
    uint64_t list[2], xsdt;

    (void)state;
    madt_begin(0xfee00000);
    madt_lapic(0, 0, 1);
    madt_lapic(1, 1, 1);
    madt_lapic(2, 2, 1);
    list[0] = tbl_end();
    srat_begin();
    srat_mem(7, 0, 64 * MiB, 0);                /* disabled: ignored */
    srat_mem(0x01020304, 0, 128 * MiB, 1);
    srat_mem(0x01020305, 128 * MiB, 0, 1);      /* zero length: ignored */
    srat_cpu(0x0a0b0c0d, 0, 1);
    srat_cpu(0x01020304, 1, 1);
    srat_cpu(0x77, 2, 0);                       /* disabled affinity: ignored */
    list[1] = tbl_end();
    xsdt = root_table(true, list, 2);
    assert_int_equal(parse(rsdp_new(2, 0, xsdt)), 0);
    assert_int_equal(ai.nmem, 1);
    assert_int_equal(ai.mem[0].length, 128 * MiB);
    assert_int_equal(ai.nnodes, 2);
    assert_int_equal(ai.node_domain[0], 0x01020304);
    assert_int_equal(ai.node_domain[1], 0x0a0b0c0d);
    assert_int_equal(ai.cpus[0].node, 1);
    assert_int_equal(ai.cpus[1].node, 0);
    assert_int_equal(ai.cpus[2].node, 0);
}

static void test_too_many_nodes(void **state)
{
    uint64_t srat, xsdt;

    (void)state;
    srat_begin();
    for (uint32_t i = 0; i < ACPI_MAX_NODES + 2; i++)
        srat_mem(100 + i, i * MiB, MiB, 1);
    srat = tbl_end();
    xsdt = root_table(true, &srat, 1);
    assert_int_equal(parse(rsdp_new(2, 0, xsdt)), 0);
    assert_int_equal(ai.nnodes, ACPI_MAX_NODES);
    assert_int_equal(ai.nmem, ACPI_MAX_NODES);
    assert_int_equal(ai.node_domain[ACPI_MAX_NODES - 1], 100 + ACPI_MAX_NODES - 1);
    assert_int_equal(unit_log_count[LOG_WARN], 1);
}

static void test_fadt_too_short_for_reset(void **state)
{
    struct fadt_cfg c = qemu_fadt;
    uint64_t fadt, xsdt;

    (void)state;
    c.len = 116;                    /* ACPI 1.0 FADT: ends right after Flags */
    fadt = fadt_table(&c);
    xsdt = root_table(true, &fadt, 1);
    assert_int_equal(parse(rsdp_new(2, 0, xsdt)), 0);
    assert_true(ai.have_fadt);
    assert_false(ai.reset_supported);
    assert_int_equal(ai.pm_tmr_port, 0x608);
    assert_true(ai.pm_tmr_32bit);
}

static void test_fadt_reset_flag_and_timer_choice(void **state)
{
    struct fadt_cfg c = qemu_fadt;
    uint64_t fadt, xsdt;

    (void)state;
    c.flags = 0;                    /* no RESET_REG_SUP, 24-bit timer */
    c.x_pm_tmr = 0xb008;            /* X_PM_TMR_BLK wins over PM_TMR_BLK */
    fadt = fadt_table(&c);
    xsdt = root_table(true, &fadt, 1);
    assert_int_equal(parse(rsdp_new(2, 0, xsdt)), 0);
    assert_false(ai.reset_supported);
    assert_int_equal(ai.pm_tmr_port, 0xb008);
    assert_false(ai.pm_tmr_32bit);

    setup(NULL);
    c = qemu_fadt;
    c.x_space = ACPI_GAS_MEMORY;    /* MMIO timer: fall back to the I/O port block */
    c.x_pm_tmr = 0xfed00000;
    fadt = fadt_table(&c);
    xsdt = root_table(true, &fadt, 1);
    assert_int_equal(parse(rsdp_new(2, 0, xsdt)), 0);
    assert_int_equal(ai.pm_tmr_port, 0x608);
    assert_true(ai.reset_supported);
}

static void test_fadt_shorter_than_v1_rejected(void **state)
{
    struct fadt_cfg c = qemu_fadt;
    uint64_t fadt, xsdt;

    (void)state;
    c.len = 100;
    fadt = fadt_table(&c);
    xsdt = root_table(true, &fadt, 1);
    assert_int_equal(parse(rsdp_new(2, 0, xsdt)), 0);
    assert_false(ai.have_fadt);
    assert_int_equal(ai.pm_tmr_port, 0);
    assert_int_equal(ai.tables_bad, 1);
}

static void test_lapic_override(void **state)
{
    uint64_t madt, xsdt;

    (void)state;
    madt_begin(0xfee00000);
    madt_lapic(0, 0, 1);
    add8(5); add8(12); add16(0); add64(0x1234fee00000ull);
    madt = tbl_end();
    xsdt = root_table(true, &madt, 1);
    assert_int_equal(parse(rsdp_new(2, 0, xsdt)), 0);
    assert_int_equal(ai.lapic_base, 0x1234fee00000ull);
}

static void test_bad_root_entries(void **state)
{
    uint64_t list[4], xsdt;

    (void)state;
    list[0] = 0;                    /* null */
    list[1] = 0x40000000;           /* outside memory */
    list[2] = qemu_madt();
    list[3] = mem_alloc(64);        /* all zero: bad length */
    xsdt = root_table(true, list, 4);
    assert_int_equal(parse(rsdp_new(2, 0, xsdt)), 0);
    assert_int_equal(ai.tables_bad, 3);
    assert_int_equal(ai.tables_found, 3);   /* XSDT, APIC, "????" */
    assert_string_equal(ai.table_sigs[2], "????");
    assert_int_equal(ai.table_bad_mask, 1u << 2);
    assert_int_equal(ai.ncpus, 4);
    assert_int_equal(unit_log_count[LOG_WARN], 3);
}

/* 300 root entries: only 256 are looked at, only 32 signatures are kept. */
static void test_many_tables(void **state)
{
    static uint64_t list[300];
    uint64_t hpet, xsdt;

    (void)state;
    tbl_begin("HPET");
    add32(0);
    hpet = tbl_end();
    for (unsigned i = 0; i < 300; i++)
        list[i] = hpet;
    list[299] = qemu_madt();        /* beyond the cap: never seen */
    xsdt = root_table(true, list, 300);
    assert_int_equal(parse(rsdp_new(2, 0, xsdt)), 0);
    assert_int_equal(ai.tables_found, 1 + 256);
    assert_int_equal(ai.tables_bad, 0);
    assert_string_equal(ai.table_sigs[ACPI_MAX_SIGS - 1], "HPET");
    assert_false(ai.have_madt);
    assert_int_equal(unit_log_count[LOG_WARN], 1);
}

static void test_mcfg_bad_bus_range(void **state)
{
    uint64_t mcfg, xsdt;

    (void)state;
    tbl_begin("MCFG");
    add64(0);
    add64(0xb0000000); add16(0); add8(0); add8(63); add32(0);
    add64(0xc0000000); add16(1); add8(9); add8(8); add32(0);   /* end < start */
    add8(0xee);                                                 /* trailing junk */
    mcfg = tbl_end();
    xsdt = root_table(true, &mcfg, 1);
    assert_int_equal(parse(rsdp_new(2, 0, xsdt)), 0);
    assert_true(ai.have_mcfg);
    assert_int_equal(ai.nmcfg, 1);
    assert_int_equal(ai.mcfg[0].bus_end, 63);
    assert_int_equal(unit_log_count[LOG_WARN], 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_qemu_machine, setup),
        cmocka_unit_test_setup(test_mappers_agree, setup),
        cmocka_unit_test_setup(test_rsdt_only_v1, setup),
        cmocka_unit_test_setup(test_xsdt_preferred, setup),
        cmocka_unit_test_setup(test_bad_xsdt_falls_back_to_rsdt, setup),
        cmocka_unit_test_setup(test_no_srat_one_node, setup),
        cmocka_unit_test_setup(test_bad_rsdp_checksum, setup),
        cmocka_unit_test_setup(test_bad_rsdp_signature_and_extended_checksum, setup),
        cmocka_unit_test_setup(test_bad_checksum_table_skipped, setup),
        cmocka_unit_test_setup(test_truncated_table, setup),
        cmocka_unit_test_setup(test_implausible_lengths, setup),
        cmocka_unit_test_setup(test_madt_zero_length_entry, setup),
        cmocka_unit_test_setup(test_madt_entry_past_end, setup),
        cmocka_unit_test_setup(test_madt_entry_too_short, setup),
        cmocka_unit_test_setup(test_slit_count_inconsistent, setup),
        cmocka_unit_test_setup(test_slit_bad_diagonal, setup),
        cmocka_unit_test_setup(test_too_many_cpus, setup),
        cmocka_unit_test_setup(test_disabled_cpus, setup),
        cmocka_unit_test_setup(test_x2apic, setup),
        cmocka_unit_test_setup(test_sparse_domains, setup),
        cmocka_unit_test_setup(test_srat_domain_high_bytes_and_disabled, setup),
        cmocka_unit_test_setup(test_too_many_nodes, setup),
        cmocka_unit_test_setup(test_fadt_too_short_for_reset, setup),
        cmocka_unit_test_setup(test_fadt_reset_flag_and_timer_choice, setup),
        cmocka_unit_test_setup(test_fadt_shorter_than_v1_rejected, setup),
        cmocka_unit_test_setup(test_lapic_override, setup),
        cmocka_unit_test_setup(test_bad_root_entries, setup),
        cmocka_unit_test_setup(test_many_tables, setup),
        cmocka_unit_test_setup(test_mcfg_bad_bus_range, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
