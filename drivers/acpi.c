/*
 * ACPI static table parser; see drivers/acpi.h for the contract. Section
 * numbers are ACPI 6.5 unless stated otherwise. All multi-byte fields are
 * little-endian and often unaligned (XSDT entries sit at offset 36), so they
 * are read with memcpy, which is exact on x86.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "drivers/acpi.h"
#include "hv/base/log.h"

#define ACPI_HDR_LEN       36          /* 5.2.6 System Description Table Header */
#define ACPI_MAX_TABLE_LEN (1u << 20)  /* far above real tables; bounds a corrupt length */
#define RSDP_V1_LEN        20          /* 5.2.5.3: bytes covered by Checksum */
#define RSDP_V2_LEN        36
#define RSDP_MAX_LEN       4096
#define ACPI_MAX_ROOT_ENTRIES 256      /* real systems list < 64; bounds checksum work */

#define MADT_ENTRIES       44          /* 5.2.12: after Local APIC Address and Flags */
#define SRAT_ENTRIES       48          /* 5.2.16: after Table Revision and 8 reserved bytes */
#define SLIT_MATRIX        44          /* 5.2.17: after Number of System Localities */
#define MCFG_ENTRIES       44          /* PCI FW 3.3 4.1.2: after 8 reserved bytes */
#define MCFG_ENTRY_LEN     16

/* 5.2.9 Table 5.9 (FADT field offsets) and Table 5.10 (fixed feature flags). */
#define FADT_PM_TMR_BLK      76
#define FADT_PM_TMR_LEN      91
#define FADT_FLAGS           112
#define FADT_V1_LEN          116       /* an ACPI 1.0 FADT ends after Flags */
#define FADT_RESET_REG       116
#define FADT_RESET_VALUE     128
#define FADT_X_PM_TMR_BLK    208
#define ACPI_GAS_LEN         12
#define FADT_F_TMR_VAL_EXT   (1u << 8)
#define FADT_F_RESET_REG_SUP (1u << 10)

#define ACPI_F_ENABLED       (1u << 0) /* MADT 5.2.12.2, SRAT 5.2.16.1-3: same bit */
#define SRAT_MEM_HOTPLUG     (1u << 1) /* 5.2.16.2 Table 5.60 */

/* Tables we interpret, in the order they must be applied: SRAT places the CPUs the
 * MADT found, and SLIT is re-indexed by the nodes SRAT created. */
enum acpi_kind { K_FADT, K_MADT, K_SRAT, K_SLIT, K_MCFG, K_COUNT };

static const char *const acpi_kind_sig[K_COUNT] = {
    [K_FADT] = "FACP", [K_MADT] = "APIC", [K_SRAT] = "SRAT", [K_SLIT] = "SLIT",
    [K_MCFG] = "MCFG",
};

struct acpi_tbl {
    const uint8_t *p;       /* valid only until the next map call */
    uint32_t len;
    char sig[5];            /* "" if the header could not be mapped */
};

struct acpi_parser {
    acpi_map_fn map;
    void *ctx;
    struct acpi_info *ai;
    uint64_t phys[K_COUNT]; /* first checksummed table of each kind, 0 if none */
    int sig_idx[K_COUNT];   /* its slot in ai->table_sigs, -1 if past ACPI_MAX_SIGS */
    unsigned dropped;       /* entries of the current table lost to a cap */
};

typedef void (*acpi_sub_fn)(struct acpi_parser *ps, const uint8_t *e);
typedef int (*acpi_table_fn)(struct acpi_parser *ps, const struct acpi_tbl *t);

static uint16_t acpi_rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, sizeof(v)); return v; }
static uint32_t acpi_rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, sizeof(v)); return v; }
static uint64_t acpi_rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, sizeof(v)); return v; }

static uint8_t acpi_sum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;

    while (len--)
        sum += *p++;
    return sum;
}

static const uint8_t *acpi_map(const struct acpi_parser *ps, uint64_t phys, size_t len)
{
    if (phys + len < phys)
        return NULL;    /* wraps around the address space */
    return ps->map(phys, len, ps->ctx);
}

/* Signatures go to the console and the log, so garbage bytes become '?'. */
static void acpi_sig_copy(char dst[5], const uint8_t *src)
{
    for (int i = 0; i < 4; i++)
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
    dst[4] = 0;
}

static int acpi_note_sig(struct acpi_info *ai, const char *sig)
{
    unsigned idx = ai->tables_found++;

    if (idx >= ACPI_MAX_SIGS)
        return -1;
    memcpy(ai->table_sigs[idx], sig, 5);
    return (int)idx;
}

static void acpi_mark_bad(struct acpi_info *ai, int sig_idx)
{
    ai->tables_bad++;
    if (sig_idx >= 0)
        ai->table_bad_mask |= 1u << sig_idx;
}

/* 5.2.6: map the header, bound Length, map the whole table, then check that all bytes sum
 * to zero. Nothing but Signature and Length is read before the checksum passes. */
static int acpi_table_map(const struct acpi_parser *ps, uint64_t phys, struct acpi_tbl *t)
{
    const uint8_t *h = acpi_map(ps, phys, ACPI_HDR_LEN);
    unsigned long long pa = phys;

    *t = (struct acpi_tbl){ .len = 0 };
    if (!h) {
        log_warn("acpi", "table at 0x%llx: header not mappable; skipped", pa);
        return -EFAULT;
    }
    acpi_sig_copy(t->sig, h);
    t->len = acpi_rd32(h + 4);
    if (t->len < ACPI_HDR_LEN || t->len > ACPI_MAX_TABLE_LEN) {
        log_warn("acpi", "%s at 0x%llx: implausible length %u; skipped", t->sig, pa, t->len);
        return -EINVAL;
    }
    t->p = acpi_map(ps, phys, t->len);
    if (!t->p) {
        log_warn("acpi", "%s at 0x%llx: length %u runs past mappable memory; skipped",
                 t->sig, pa, t->len);
        return -EFAULT;
    }
    if (acpi_sum(t->p, t->len)) {
        log_warn("acpi", "%s at 0x%llx: bad checksum; skipped", t->sig, pa);
        return -EBADMSG;
    }
    return 0;
}

static int acpi_too_short(const struct acpi_tbl *t, uint32_t need)
{
    if (t->len >= need)
        return 0;
    log_warn("acpi", "%s: length %u, need at least %u; table rejected", t->sig, t->len, need);
    return -EINVAL;
}

static int acpi_sub_bad(const struct acpi_tbl *t, uint32_t off, const char *why)
{
    log_warn("acpi", "%s: subtable at offset %u %s; table rejected", t->sig, off, why);
    return -EINVAL;
}

/* MADT and SRAT entries start with (type, length). With fn == NULL the walk only validates,
 * so a table is rejected whole before any of it is applied. min_len[type] (0: no minimum)
 * is the size of the fields we read; longer entries are allowed, newer revisions append. */
static int acpi_walk(struct acpi_parser *ps, const struct acpi_tbl *t, uint32_t off,
                     const uint8_t *min_len, size_t ntypes, acpi_sub_fn fn)
{
    while (off < t->len) {
        uint32_t room = t->len - off;
        uint8_t type, len;

        if (room < 2)
            return acpi_sub_bad(t, off, "has a truncated header");
        type = t->p[off];
        len = t->p[off + 1];
        if (len < 2)
            return acpi_sub_bad(t, off, "has length < 2 (would not advance past its own header)");
        if (len > room)
            return acpi_sub_bad(t, off, "runs past the end of the table");
        if (type < ntypes && len < min_len[type])
            return acpi_sub_bad(t, off, "is too short for its type");
        if (fn)
            fn(ps, t->p + off);
        off += len;
    }
    return 0;
}

static void acpi_report_dropped(const struct acpi_parser *ps, const char *sig)
{
    if (ps->dropped)
        log_warn("acpi", "%s: %u entries beyond the ACPI_MAX_* caps dropped", sig, ps->dropped);
}

/* ---- MADT (5.2.12) ---- */

static const uint8_t madt_min_len[] = { [0] = 8, [1] = 12, [2] = 10, [5] = 12, [9] = 16 };

static void madt_add_cpu(struct acpi_parser *ps, uint32_t apic_id, uint32_t uid, uint32_t flags)
{
    struct acpi_info *ai = ps->ai;

    /* Table 5.23: without Enabled the CPU is unusable now; Online Capable (bit 1) only says
     * it may be hot-added later, which ferry does not support, so both count as disabled. */
    if (!(flags & ACPI_F_ENABLED)) {
        ai->ncpus_disabled++;
        return;
    }
    for (unsigned i = 0; i < ai->ncpus; i++) {
        if (ai->cpus[i].apic_id == apic_id) {
            log_warn("acpi", "APIC: duplicate APIC id 0x%x ignored", apic_id);
            return;
        }
    }
    if (ai->ncpus >= ACPI_MAX_CPUS) {
        ps->dropped++;
        return;
    }
    ai->cpus[ai->ncpus++] = (struct acpi_cpu){ .apic_id = apic_id, .uid = uid, .enabled = true };
}

static void madt_entry(struct acpi_parser *ps, const uint8_t *e)
{
    struct acpi_info *ai = ps->ai;

    switch (e[0]) {
    case 0:     /* 5.2.12.2 Processor Local APIC: uid, apic id, flags */
        madt_add_cpu(ps, e[3], e[2], acpi_rd32(e + 4));
        break;
    case 9:     /* 5.2.12.12 Processor Local x2APIC: x2apic id, flags, uid */
        madt_add_cpu(ps, acpi_rd32(e + 4), acpi_rd32(e + 12), acpi_rd32(e + 8));
        break;
    case 1:     /* 5.2.12.3 I/O APIC */
        if (ai->nioapics >= ACPI_MAX_IOAPICS) {
            ps->dropped++;
            break;
        }
        ai->ioapics[ai->nioapics++] = (struct acpi_ioapic){
            .id = e[2], .address = acpi_rd32(e + 4), .gsi_base = acpi_rd32(e + 8) };
        break;
    case 2:     /* 5.2.12.5 Interrupt Source Override */
        if (ai->nisos >= ACPI_MAX_ISOS) {
            ps->dropped++;
            break;
        }
        ai->isos[ai->nisos++] = (struct acpi_iso){
            .bus = e[2], .source = e[3], .gsi = acpi_rd32(e + 4), .flags = acpi_rd16(e + 8) };
        break;
    case 5:     /* 5.2.12.8 Local APIC Address Override: supersedes the 32-bit header field */
        ai->lapic_base = acpi_rd64(e + 4);
        break;
    default:    /* NMI sources, SAPIC, GIC, ...: nothing ferry uses */
        break;
    }
}

static int madt_parse(struct acpi_parser *ps, const struct acpi_tbl *t)
{
    int rc = acpi_too_short(t, MADT_ENTRIES);

    if (!rc)
        rc = acpi_walk(ps, t, MADT_ENTRIES, madt_min_len, sizeof(madt_min_len), NULL);
    if (rc)
        return rc;
    ps->ai->lapic_base = acpi_rd32(t->p + ACPI_HDR_LEN);
    ps->dropped = 0;
    acpi_walk(ps, t, MADT_ENTRIES, madt_min_len, sizeof(madt_min_len), madt_entry);
    acpi_report_dropped(ps, t->sig);
    return 0;
}

/* ---- SRAT (5.2.16) ---- */

static const uint8_t srat_min_len[] = { [0] = 16, [1] = 40, [2] = 24 };

/* Dense node index of a proximity domain, allocated on first sight; -1 if out of nodes. */
static int srat_node(struct acpi_parser *ps, uint32_t domain)
{
    struct acpi_info *ai = ps->ai;

    for (unsigned i = 0; i < ai->nnodes; i++) {
        if (ai->node_domain[i] == domain)
            return (int)i;
    }
    if (ai->nnodes >= ACPI_MAX_NODES) {
        ps->dropped++;
        return -1;
    }
    ai->node_domain[ai->nnodes] = domain;
    return (int)ai->nnodes++;
}

/* 5.2.16.2 Memory Affinity: domain @2, base @8, length @16, flags @28. */
static void srat_mem_entry(struct acpi_parser *ps, const uint8_t *e)
{
    struct acpi_info *ai = ps->ai;
    uint32_t flags;
    uint64_t len;
    int node;

    if (e[0] != 1)
        return;     /* type first: other entry types are shorter than offset 32 */
    flags = acpi_rd32(e + 28);
    len = acpi_rd64(e + 16);
    if (!(flags & ACPI_F_ENABLED) || !len)
        return;
    node = srat_node(ps, acpi_rd32(e + 2));
    if (node < 0)
        return;
    if (ai->nmem >= ACPI_MAX_MEM) {
        ps->dropped++;
        return;
    }
    ai->mem[ai->nmem++] = (struct acpi_mem_range){ .base = acpi_rd64(e + 8), .length = len,
        .node = (uint32_t)node, .hotplug = (flags & SRAT_MEM_HOTPLUG) != 0 };
}

/* 5.2.16.1 (xAPIC: domain bits 7:0 @2, bits 31:8 @9..11) and 5.2.16.3 (x2APIC). */
static void srat_cpu_entry(struct acpi_parser *ps, const uint8_t *e)
{
    struct acpi_info *ai = ps->ai;
    uint32_t domain, apic_id, flags;
    int node;

    if (e[0] == 0) {
        domain = e[2] | (uint32_t)e[9] << 8 | (uint32_t)e[10] << 16 | (uint32_t)e[11] << 24;
        apic_id = e[3];
        flags = acpi_rd32(e + 4);
    } else if (e[0] == 2) {
        domain = acpi_rd32(e + 4);
        apic_id = acpi_rd32(e + 8);
        flags = acpi_rd32(e + 12);
    } else {
        return;
    }
    if (!(flags & ACPI_F_ENABLED))
        return;
    node = srat_node(ps, domain);
    for (unsigned i = 0; node >= 0 && i < ai->ncpus; i++) {
        if (ai->cpus[i].apic_id == apic_id)
            ai->cpus[i].node = (uint32_t)node;
    }
}

static int srat_parse(struct acpi_parser *ps, const struct acpi_tbl *t)
{
    struct acpi_info *ai = ps->ai;
    int rc = acpi_too_short(t, SRAT_ENTRIES);

    if (!rc)
        rc = acpi_walk(ps, t, SRAT_ENTRIES, srat_min_len, sizeof(srat_min_len), NULL);
    if (rc)
        return rc;
    ai->nnodes = 0;
    ps->dropped = 0;
    /* Memory first, so node 0 is the domain of the first (normally the boot) memory range. */
    acpi_walk(ps, t, SRAT_ENTRIES, srat_min_len, sizeof(srat_min_len), srat_mem_entry);
    acpi_walk(ps, t, SRAT_ENTRIES, srat_min_len, sizeof(srat_min_len), srat_cpu_entry);
    acpi_report_dropped(ps, t->sig);
    if (!ai->nnodes) {
        log_info("acpi", "SRAT: no enabled affinity entries; one node");
        ai->nnodes = 1;
        ai->node_domain[0] = 0;
    }
    return 0;
}

/* ---- SLIT (5.2.17) ---- */

/* Diagonal must be 10 and 0..9 are reserved; anything else means the matrix is garbage. */
static int slit_check(const struct acpi_tbl *t, const uint8_t *m, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        for (uint64_t j = 0; j < n; j++) {
            uint8_t d = m[i * n + j];

            if ((i == j && d != ACPI_DIST_LOCAL) || d < ACPI_DIST_LOCAL) {
                log_warn("acpi", "%s: distance[%llu][%llu] = %u is invalid; table rejected",
                         t->sig, (unsigned long long)i, (unsigned long long)j, d);
                return -EINVAL;
            }
        }
    }
    return 0;
}

static int slit_parse(struct acpi_parser *ps, const struct acpi_tbl *t)
{
    struct acpi_info *ai = ps->ai;
    const uint8_t *m = t->p + SLIT_MATRIX;
    unsigned missing = 0;
    uint64_t n;
    int rc = acpi_too_short(t, SLIT_MATRIX);

    if (rc)
        return rc;
    n = acpi_rd64(t->p + ACPI_HDR_LEN);
    /* Divide rather than square: a corrupt N near 2^64 would overflow N * N. */
    if (!n || (t->len - SLIT_MATRIX) / n < n) {
        log_warn("acpi", "%s: %llu localities do not fit in length %u; table rejected",
                 t->sig, (unsigned long long)n, t->len);
        return -EINVAL;
    }
    rc = slit_check(t, m, n);
    if (rc)
        return rc;
    /* Localities are proximity domains; store by dense node index. */
    for (unsigned i = 0; i < ai->nnodes; i++) {
        for (unsigned j = 0; j < ai->nnodes; j++) {
            uint64_t di = ai->node_domain[i], dj = ai->node_domain[j];

            if (di < n && dj < n)
                ai->slit[i][j] = m[di * n + dj];
            else
                missing++;
        }
    }
    if (missing)
        log_warn("acpi", "%s: %u node pairs outside its %llu localities keep default distances",
                 t->sig, missing, (unsigned long long)n);
    return 0;
}

/* ---- MCFG (PCI Firmware Spec 3.3, 4.1.2) ---- */

static int mcfg_parse(struct acpi_parser *ps, const struct acpi_tbl *t)
{
    struct acpi_info *ai = ps->ai;
    uint32_t n;
    int rc = acpi_too_short(t, MCFG_ENTRIES);

    if (rc)
        return rc;
    n = (t->len - MCFG_ENTRIES) / MCFG_ENTRY_LEN;
    if ((t->len - MCFG_ENTRIES) % MCFG_ENTRY_LEN)
        log_warn("acpi", "%s: trailing partial entry ignored", t->sig);
    ps->dropped = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = t->p + MCFG_ENTRIES + i * MCFG_ENTRY_LEN;
        struct acpi_mcfg_entry me = { .base = acpi_rd64(e), .segment = acpi_rd16(e + 8),
                                      .bus_start = e[10], .bus_end = e[11] };

        if (me.bus_end < me.bus_start) {
            log_warn("acpi", "%s: entry %u has bus range %u-%u; ignored", t->sig, i,
                     me.bus_start, me.bus_end);
            continue;
        }
        if (ai->nmcfg >= ACPI_MAX_MCFG) {
            ps->dropped++;
            continue;
        }
        ai->mcfg[ai->nmcfg++] = me;
    }
    acpi_report_dropped(ps, t->sig);
    return 0;
}

/* ---- FADT (5.2.9) ---- */

static struct acpi_gas acpi_gas_read(const uint8_t *p)
{
    /* 5.2.3.2 Generic Address Structure */
    return (struct acpi_gas){ .space_id = p[0], .bit_width = p[1], .bit_offset = p[2],
                              .access_size = p[3], .address = acpi_rd64(p + 4) };
}

static void fadt_reset(struct acpi_info *ai, const struct acpi_tbl *t, uint32_t flags)
{
    struct acpi_gas g;

    if (!(flags & FADT_F_RESET_REG_SUP))
        return;
    /* RESET_REG and RESET_VALUE appeared in ACPI 2.0: an older, shorter FADT lacks them. */
    if (t->len < FADT_RESET_VALUE + 1) {
        log_warn("acpi", "%s: RESET_REG_SUP set but length %u has no RESET_REG", t->sig, t->len);
        return;
    }
    g = acpi_gas_read(t->p + FADT_RESET_REG);
    /* 5.2.9 Table 5.9 RESET_REG: only memory, I/O and PCI config space are valid. */
    if (g.space_id > ACPI_GAS_PCI_CFG || !g.address) {
        log_warn("acpi", "%s: unusable RESET_REG (space %u, address 0x%llx)", t->sig,
                 g.space_id, (unsigned long long)g.address);
        return;
    }
    ai->reset_reg = g;
    ai->reset_value = t->p[FADT_RESET_VALUE];
    ai->reset_supported = true;
}

/* X_PM_TMR_BLK supersedes PM_TMR_BLK when non-zero; ferry only drives an I/O-port timer. */
static void fadt_pm_timer(struct acpi_info *ai, const struct acpi_tbl *t, uint32_t flags)
{
    uint64_t port = 0;

    if (t->len >= FADT_X_PM_TMR_BLK + ACPI_GAS_LEN) {
        struct acpi_gas g = acpi_gas_read(t->p + FADT_X_PM_TMR_BLK);

        if (g.address && g.space_id == ACPI_GAS_IO)
            port = g.address;
        else if (g.address)
            log_warn("acpi", "%s: X_PM_TMR_BLK in space %u unsupported; trying PM_TMR_BLK",
                     t->sig, g.space_id);
    }
    /* PM_TMR_LEN is 4 when the timer exists, 0 when it does not (e.g. HW-reduced ACPI). */
    if (!port && t->p[FADT_PM_TMR_LEN] >= 4)
        port = acpi_rd32(t->p + FADT_PM_TMR_BLK);
    if (port > 0xffff) {
        log_warn("acpi", "%s: PM timer port 0x%llx is not an I/O port; ignored", t->sig,
                 (unsigned long long)port);
        port = 0;
    }
    ai->pm_tmr_port = (uint32_t)port;
    ai->pm_tmr_32bit = port && (flags & FADT_F_TMR_VAL_EXT);
}

static int fadt_parse(struct acpi_parser *ps, const struct acpi_tbl *t)
{
    uint32_t flags;
    int rc = acpi_too_short(t, FADT_V1_LEN);

    if (rc)
        return rc;
    flags = acpi_rd32(t->p + FADT_FLAGS);
    fadt_reset(ps->ai, t, flags);
    fadt_pm_timer(ps->ai, t, flags);
    return 0;
}

/* ---- RSDP, root table, driver ---- */

static const acpi_table_fn acpi_parsers[K_COUNT] = {
    [K_FADT] = fadt_parse, [K_MADT] = madt_parse, [K_SRAT] = srat_parse,
    [K_SLIT] = slit_parse, [K_MCFG] = mcfg_parse,
};

static int acpi_rsdp_bad(uint64_t phys, const char *why)
{
    log_err("acpi", "RSDP at 0x%llx: %s", (unsigned long long)phys, why);
    return -EINVAL;
}

/* 5.2.5.3: Checksum covers the first 20 bytes; from revision 2 on, Length bytes must also
 * sum to zero (Extended Checksum), which covers XsdtAddress. */
static int acpi_check_rsdp(struct acpi_parser *ps, uint64_t phys, uint64_t *rsdt, uint64_t *xsdt)
{
    const uint8_t *r = acpi_map(ps, phys, RSDP_V1_LEN);
    uint8_t rev;
    uint32_t len;

    if (!r)
        return acpi_rsdp_bad(phys, "not mappable");
    if (memcmp(r, "RSD PTR ", 8))
        return acpi_rsdp_bad(phys, "bad signature");
    if (acpi_sum(r, RSDP_V1_LEN))
        return acpi_rsdp_bad(phys, "bad checksum");
    rev = r[15];
    *rsdt = acpi_rd32(r + 16);
    *xsdt = 0;
    if (rev >= 2) {
        r = acpi_map(ps, phys, RSDP_V2_LEN);
        if (!r)
            return acpi_rsdp_bad(phys, "extended part not mappable");
        len = acpi_rd32(r + 20);
        if (len < RSDP_V2_LEN || len > RSDP_MAX_LEN)
            return acpi_rsdp_bad(phys, "implausible length");
        r = acpi_map(ps, phys, len);
        if (!r)
            return acpi_rsdp_bad(phys, "length runs past mappable memory");
        if (acpi_sum(r, len))
            return acpi_rsdp_bad(phys, "bad extended checksum");
        *xsdt = acpi_rd64(r + 24);
    }
    ps->ai->revision = rev;
    return 0;
}

/* Map, checksum and file one table listed by the root table; parsing waits until all are
 * known, because the order they are applied in matters. */
static void acpi_scan_entry(struct acpi_parser *ps, uint64_t phys)
{
    struct acpi_tbl t;
    int rc = acpi_table_map(ps, phys, &t);
    int idx = t.sig[0] ? acpi_note_sig(ps->ai, t.sig) : -1;

    if (rc < 0) {
        acpi_mark_bad(ps->ai, idx);
        return;
    }
    for (int k = 0; k < K_COUNT; k++) {
        if (memcmp(t.sig, acpi_kind_sig[k], 4))
            continue;
        if (ps->phys[k]) {
            log_warn("acpi", "%s at 0x%llx: duplicate ignored", t.sig, (unsigned long long)phys);
            return;
        }
        ps->phys[k] = phys;
        ps->sig_idx[k] = idx;
        return;
    }
}

/* 5.2.7 RSDT / 5.2.8 XSDT: a header followed by 32- or 64-bit table addresses. Entries are
 * re-mapped one by one, since scanning a table invalidates the root table's mapping. */
static int acpi_parse_root(struct acpi_parser *ps, uint64_t phys, bool xsdt)
{
    const char *want = xsdt ? "XSDT" : "RSDT";
    uint32_t esz = xsdt ? 8 : 4, n;
    struct acpi_tbl t;
    int rc = acpi_table_map(ps, phys, &t);
    int idx = t.sig[0] ? acpi_note_sig(ps->ai, t.sig) : -1;

    if (!rc && memcmp(t.sig, want, 4)) {
        log_warn("acpi", "root table at 0x%llx is %s, expected %s", (unsigned long long)phys,
                 t.sig, want);
        rc = -EINVAL;
    }
    if (rc) {
        acpi_mark_bad(ps->ai, idx);
        return rc;
    }
    n = (t.len - ACPI_HDR_LEN) / esz;
    if ((t.len - ACPI_HDR_LEN) % esz)
        log_warn("acpi", "%s: trailing partial entry ignored", want);
    if (n > ACPI_MAX_ROOT_ENTRIES) {
        log_warn("acpi", "%s: only the first %d of %u entries used", want,
                 ACPI_MAX_ROOT_ENTRIES, n);
        n = ACPI_MAX_ROOT_ENTRIES;
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = acpi_map(ps, phys + ACPI_HDR_LEN + (uint64_t)i * esz, esz);
        uint64_t addr = !e ? 0 : xsdt ? acpi_rd64(e) : acpi_rd32(e);

        if (!addr) {
            log_warn("acpi", "%s: entry %u is null or unreadable; skipped", want, i);
            acpi_mark_bad(ps->ai, -1);
            continue;
        }
        acpi_scan_entry(ps, addr);
    }
    return 0;
}

static void acpi_parse_tables(struct acpi_parser *ps)
{
    struct acpi_info *ai = ps->ai;
    bool *const have[K_COUNT] = {
        [K_FADT] = &ai->have_fadt, [K_MADT] = &ai->have_madt, [K_SRAT] = &ai->have_srat,
        [K_SLIT] = &ai->have_slit, [K_MCFG] = &ai->have_mcfg,
    };

    for (int k = 0; k < K_COUNT; k++) {
        struct acpi_tbl t;

        if (!ps->phys[k])
            continue;
        if (acpi_table_map(ps, ps->phys[k], &t) < 0 || acpi_parsers[k](ps, &t) < 0) {
            acpi_mark_bad(ai, ps->sig_idx[k]);
            continue;
        }
        *have[k] = true;
    }
}

static void acpi_defaults(struct acpi_info *ai, uint64_t rsdp_phys)
{
    memset(ai, 0, sizeof(*ai));
    ai->rsdp_phys = rsdp_phys;
    ai->nnodes = 1;
    for (unsigned i = 0; i < ACPI_MAX_NODES; i++) {
        for (unsigned j = 0; j < ACPI_MAX_NODES; j++)
            ai->slit[i][j] = i == j ? ACPI_DIST_LOCAL : ACPI_DIST_REMOTE;
    }
}

int acpi_parse(uint64_t rsdp_phys, acpi_map_fn map, void *ctx, struct acpi_info *out)
{
    struct acpi_parser ps = { .map = map, .ctx = ctx, .ai = out };
    uint64_t rsdt = 0, xsdt = 0;
    int rc;

    if (!out)
        return -EINVAL;
    acpi_defaults(out, rsdp_phys);
    if (!map)
        return -EINVAL;
    rc = acpi_check_rsdp(&ps, rsdp_phys, &rsdt, &xsdt);
    if (rc)
        return rc;
    /* 5.2.5.3: ACPI 2.0+ uses the XSDT; the RSDT is the fallback if the XSDT is unusable. */
    if (!xsdt || acpi_parse_root(&ps, xsdt, true) < 0) {
        if (xsdt && rsdt)
            log_warn("acpi", "XSDT unusable; falling back to RSDT");
        if (!rsdt || acpi_parse_root(&ps, rsdt, false) < 0)
            log_err("acpi", "no usable RSDT/XSDT; no ACPI tables");
    }
    acpi_parse_tables(&ps);
    log_info("acpi", "rev %u: %u CPUs (+%u disabled), %u nodes, %u IOAPICs, %u tables (%u bad)",
             out->revision, out->ncpus, out->ncpus_disabled, out->nnodes, out->nioapics,
             out->tables_found, out->tables_bad);
    return 0;
}

unsigned acpi_node_of_apic(const struct acpi_info *ai, uint32_t apic_id)
{
    for (unsigned i = 0; ai && i < ai->ncpus; i++) {
        if (ai->cpus[i].apic_id == apic_id)
            return ai->cpus[i].node;
    }
    return 0;
}
