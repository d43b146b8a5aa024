/* Port I/O and MMIO buses; see hv/dev/bus.h. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "hv/base/mem.h"
#include "hv/dev/bus.h"

#define BUS_PIO_END  0x10000ull
#define BUS_MMIO_END (1ull << 52)
#define BUS_MSR_END  (1ull << 32)

static uint64_t space_end(enum bus_space sp)
{
    return sp == BUS_PIO ? BUS_PIO_END : sp == BUS_MSR ? BUS_MSR_END : BUS_MMIO_END;
}

void bus_init(struct bus *b, unsigned node, bus_reserved_fn reserved, void *ctx)
{
    memset(b, 0, sizeof(*b));
    b->node = node;
    b->reserved = reserved;
    b->reserved_ctx = ctx;
}

static uint64_t array_pages(unsigned cap)
{
    return ((uint64_t)cap * sizeof(struct bus_range) + PAGE_SIZE - 1) / PAGE_SIZE;
}

/* Doubles the array of sp (one page to begin with); claims are rare, lookups are not. */
static int grow(struct bus *b, enum bus_space sp)
{
    unsigned cap = b->cap[sp] ? b->cap[sp] * 2 : PAGE_SIZE / sizeof(struct bus_range);
    uint64_t pa = frame_alloc(b->node, array_pages(cap), 1, FRAME_ZERO);
    if (!pa)
        return -ENOMEM;
    struct bus_range *r = phys_to_virt(pa);
    if (b->r[sp]) {
        memcpy(r, b->r[sp], b->n[sp] * sizeof(*r));
        frame_free(virt_to_phys(b->r[sp]), array_pages(b->cap[sp]));
    }
    b->r[sp] = r;
    b->cap[sp] = cap;
    return 0;
}

/* Index of the first range whose base is above addr (0..n). */
static unsigned upper(const struct bus *b, enum bus_space sp, uint64_t addr)
{
    unsigned lo = 0, hi = b->n[sp];
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (b->r[sp][mid].base <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int bus_claim(struct bus *b, enum bus_space sp, uint64_t base, uint64_t size,
              bus_access_fn fn, void *opaque, const void *owner)
{
    if ((unsigned)sp >= BUS_SPACES)
        return -EINVAL;
    uint64_t end = space_end(sp);
    if (!fn || size == 0 || base >= end || size > end - base)
        return -EINVAL;
    unsigned i = upper(b, sp, base);
    /* The range before must end at or below base; the one at i must start at or after ours. */
    if (i > 0 && b->r[sp][i - 1].base + b->r[sp][i - 1].size > base)
        return -EBUSY;
    if (i < b->n[sp] && b->r[sp][i].base < base + size)
        return -EBUSY;
    if (b->reserved && b->reserved(b->reserved_ctx, sp, base, size))
        return -EBUSY;
    if (b->n[sp] == b->cap[sp]) {
        int rc = grow(b, sp);
        if (rc)
            return rc;
    }
    memmove(&b->r[sp][i + 1], &b->r[sp][i], (b->n[sp] - i) * sizeof(struct bus_range));
    b->r[sp][i] = (struct bus_range){ base, size, fn, opaque, owner };
    b->n[sp]++;
    return 0;
}

unsigned bus_release(struct bus *b, const void *owner)
{
    unsigned dropped = 0;
    for (unsigned sp = 0; sp < BUS_SPACES; sp++) {
        unsigned k = 0;
        for (unsigned i = 0; i < b->n[sp]; i++)
            if (b->r[sp][i].owner != owner)
                b->r[sp][k++] = b->r[sp][i];
        dropped += b->n[sp] - k;
        b->n[sp] = k;
    }
    return dropped;
}

const struct bus_range *bus_find(const struct bus *b, enum bus_space sp, uint64_t addr)
{
    if ((unsigned)sp >= BUS_SPACES)
        return NULL;
    unsigned i = upper(b, sp, addr);
    if (i == 0)
        return NULL;
    const struct bus_range *r = &b->r[sp][i - 1];
    return addr - r->base < r->size ? r : NULL;
}

int bus_access(const struct bus *b, enum bus_space sp, uint64_t addr, bool write,
               unsigned size, uint64_t *val)
{
    const struct bus_range *r = bus_find(b, sp, addr);
    if (!r)
        return -ENOENT;
    return r->fn(r->opaque, addr - r->base, write, size, val);
}

void bus_free(struct bus *b)
{
    for (unsigned sp = 0; sp < BUS_SPACES; sp++) {
        if (b->r[sp])
            frame_free(virt_to_phys(b->r[sp]), array_pages(b->cap[sp]));
        b->r[sp] = NULL;
        b->n[sp] = b->cap[sp] = 0;
    }
}
