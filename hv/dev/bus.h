/*
 * A VM's buses: port I/O (16-bit addresses), MMIO (guest-physical) and MSRs (the
 * 32-bit index of RDMSR/WRMSR, for devices whose registers are MSRs: the x2APIC), each a
 * sorted array of claimed ranges. A claim that overlaps another range, or
 * that the owner of the address space reserved (guest RAM, for MMIO), is
 * refused with -EBUSY; there is no fixed cap (the arrays grow from host
 * frames). The exit path finds the owner of an address by binary search.
 *
 * Claims and releases happen while no vCPU of the VM runs (device creation,
 * destruction); lookups may then run concurrently on any number of CPUs.
 * (Firecracker's Bus::insert; ACRN's io_req dispatch.)
 */
#ifndef HV_DEV_BUS_H
#define HV_DEV_BUS_H

#include <stdbool.h>
#include <stdint.h>

enum bus_space { BUS_PIO, BUS_MMIO, BUS_MSR, BUS_SPACES };

/*
 * One access of size bytes at offset off from the range's base. Reads store
 * the value (zero-extended) in *val, writes take its low size bytes. Returns 0
 * or a negative error the exit path turns into a fault for the guest.
 */
typedef int (*bus_access_fn)(void *opaque, uint64_t off, bool write, unsigned size,
                             uint64_t *val);

/* Tells whether [base, base+size) in sp is reserved by the VM (e.g. guest RAM). */
typedef bool (*bus_reserved_fn)(void *ctx, enum bus_space sp, uint64_t base, uint64_t size);

struct bus_range {
    uint64_t base, size;
    bus_access_fn fn;
    void *opaque;          /* handed to fn */
    const void *owner;     /* what bus_release() matches (a device) */
};

struct bus {
    struct bus_range *r[BUS_SPACES];    /* sorted by base, never overlapping */
    unsigned n[BUS_SPACES], cap[BUS_SPACES];
    unsigned node;                       /* NUMA node the arrays come from */
    bus_reserved_fn reserved;            /* may be NULL */
    void *reserved_ctx;
};

void bus_init(struct bus *b, unsigned node, bus_reserved_fn reserved, void *ctx);
/*
 * Claims [base, base+size) of sp for fn(opaque, ...). 0, -EINVAL (size 0, the
 * range wraps or leaves the space: ports end at 0x10000, MMIO at 2^52, MSRs at 2^32),
 * -EBUSY (overlaps a claimed or reserved range), -ENOMEM.
 */
int bus_claim(struct bus *b, enum bus_space sp, uint64_t base, uint64_t size,
              bus_access_fn fn, void *opaque, const void *owner);
/* Drops every range owner claimed, in every space; returns how many. */
unsigned bus_release(struct bus *b, const void *owner);
/* The range holding addr, or NULL. */
const struct bus_range *bus_find(const struct bus *b, enum bus_space sp, uint64_t addr);
/* Dispatches one access; -ENOENT when nothing claims addr. */
int bus_access(const struct bus *b, enum bus_space sp, uint64_t addr, bool write,
               unsigned size, uint64_t *val);
/* Frees the arrays; the bus is empty (and reusable after bus_init) afterwards. */
void bus_free(struct bus *b);

#endif
