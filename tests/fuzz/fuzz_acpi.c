// libFuzzer target: the host's firmware ACPI tables (drivers/acpi.c, acpi_parse) as a broken
// or hostile firmware could lay them out.
//
// Build (make fuzz does) and run from the repository root:
//   make build/fuzz_acpi && build/fuzz_acpi -max_total_time=10 -max_len=16384
//
// The input is physical memory at BASE, the RSDP at its start. So that mutations reach the
// tables rather than dying on checksums, the harness fixes them: the RSDP's (both), and those
// of the tables laid end to end after it (each at the next 8-byte boundary past the previous
// one's length field). Every mapping is a fresh copy freed at the next map call, so ASan sees
// reads past a mapped length and uses of a stale mapping.
//
// Checks, beyond the sanitizers: counts within their arrays, at least one node and every CPU's
// node below the count, the SLIT's diagonal the local distance, acpi_node_of_apic in range.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/acpi.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)
#define BASE 0xe0000ull

static uint8_t mem[16384];
static size_t mem_len;
static void *mapped;

static const void *map(uint64_t phys, size_t len, void *ctx)
{
    (void)ctx;
    free(mapped);
    mapped = NULL;
    if (phys < BASE || phys - BASE > mem_len || len > mem_len - (phys - BASE))
        return NULL;
    mapped = malloc(len ? len : 1);
    memcpy(mapped, mem + (phys - BASE), len);
    return mapped;
}

static void fix_sum(uint8_t *p, size_t n, size_t at)
{
    uint8_t s = 0;
    p[at] = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    p[at] = (uint8_t)-s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct acpi_info ai;
    if (size < 36 || size > sizeof(mem))
        return 0;
    memcpy(mem, data, size);
    mem_len = size;
    fix_sum(mem, 20, 8);                        /* RSDP, ACPI 1.0 part */
    fix_sum(mem, 36, 32);                       /* its extended checksum */
    for (size_t off = 40; off + 36 <= size;) {
        uint32_t len;
        memcpy(&len, mem + off + 4, 4);
        if (len < 36 || len > size - off)
            break;
        fix_sum(mem + off, len, 9);
        off = (off + len + 7) & ~(size_t)7;
    }
    memset(&ai, 0x5a, sizeof(ai));
    acpi_parse(BASE, map, NULL, &ai);
    free(mapped);
    mapped = NULL;
    CHECK(ai.ncpus <= ACPI_MAX_CPUS && ai.nioapics <= ACPI_MAX_IOAPICS &&
          ai.nisos <= ACPI_MAX_ISOS && ai.nmem <= ACPI_MAX_MEM && ai.nmcfg <= ACPI_MAX_MCFG);
    CHECK(ai.nnodes >= 1 && ai.nnodes <= ACPI_MAX_NODES);
    for (unsigned i = 0; i < ai.ncpus; i++) {
        CHECK(ai.cpus[i].node < ai.nnodes);
        CHECK(acpi_node_of_apic(&ai, ai.cpus[i].apic_id) < ai.nnodes);
    }
    for (unsigned i = 0; i < ai.nnodes; i++)
        CHECK(ai.slit[i][i] == ACPI_DIST_LOCAL);
    CHECK(acpi_node_of_apic(&ai, 0xffffffffu) < ai.nnodes);
    return 0;
}
