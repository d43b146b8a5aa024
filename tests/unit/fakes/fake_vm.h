/*
 * A fake VM for device tests: a device set with its buses, guest RAM the MMIO
 * bus must avoid, and a guest clock only the test advances. Accesses go
 * through the same calls the exit path makes (dev_set_pio for port I/O,
 * bus_access for MMIO), so a test drives a device exactly as a guest would.
 * Frames come from fake_env.c (counted: fake_frames_out shows leaks).
 */
#ifndef FAKE_VM_H
#define FAKE_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/dev/device.h"

#define FAKE_VM_RAM (64ull << 20)       /* guest RAM at 0..64 MiB */
#define FAKE_VM_VCPUS 64                /* vCPUs whose kicks are counted */
/* The part of guest RAM devices can DMA to (dev_platform.guest_map): 0..1 MiB, page by page
 * dirty-logged. Beyond it (still RAM to the MMIO bus) a device's map finds nothing. */
#define FAKE_VM_DMA_RAM (1ull << 20)
#define FAKE_VM_DMA_PAGES (FAKE_VM_DMA_RAM / 4096)

struct fake_vm {
    struct dev_set devs;
    uint64_t now_ns;                    /* the guest clock devices read (dev_now_ns) */
    unsigned exits;                     /* guest_exit requests seen... */
    uint32_t exit_code;                 /* ...and the last one's code */
    uint64_t wall_ns;                   /* the host's wall clock (dev_wall_ns), test-moved */
    unsigned intr_kicks;                /* intr_changed calls (a controller's output rose) */
    unsigned resets;                    /* reset requests (the CPU reset line) */
    unsigned power_offs;                /* power-off requests (ACPI S5) */
    unsigned vcpu_kicks[FAKE_VM_VCPUS]; /* vcpu_kick calls, per vCPU woken */
    /* DMA: the RAM behind guest_map (fake_vm_ram makes it; NULL: devices reach no RAM), the
     * maps that found RAM, those for a device's write, and the pages those logged dirty. */
    uint8_t *ram;
    unsigned ram_maps, ram_write_maps;
    uint64_t ram_dirty[FAKE_VM_DMA_PAGES / 64];
};

void fake_vm_init(struct fake_vm *fv);
/* fake_vm_init, then the machine's devices (aborts, saying why, if they cannot be built). */
void fake_vm_build(struct fake_vm *fv, const struct dev_machine *m);
void fake_vm_destroy(struct fake_vm *fv);

uint32_t fake_vm_in(struct fake_vm *fv, uint16_t port, unsigned size);
void fake_vm_out(struct fake_vm *fv, uint16_t port, unsigned size, uint32_t val);
static inline uint8_t fake_vm_inb(struct fake_vm *fv, uint16_t port)
{
    return (uint8_t)fake_vm_in(fv, port, 1);
}
static inline void fake_vm_outb(struct fake_vm *fv, uint16_t port, uint8_t v)
{
    fake_vm_out(fv, port, 1, v);
}
/* Later accesses are vCPU n's (dev_set.vcpu): per-vCPU devices answer as n's. */
static inline void fake_vm_set_vcpu(struct fake_vm *fv, unsigned n) { fv->devs.vcpu = n; }
/* Polls the devices at now_ns (dev_set_poll): the next event's time, 0 if none. */
uint64_t fake_vm_poll(struct fake_vm *fv);
/* Advances both clocks by ns (the guest clock and the wall clock move together). */
void fake_vm_advance(struct fake_vm *fv, uint64_t ns);

/* Guest RAM [0, FAKE_VM_DMA_RAM) for devices' DMA, zeroed and 4 KiB aligned, made on the first
 * call (fake_vm_destroy frees it); a test builds rings and buffers there. */
uint8_t *fake_vm_ram(struct fake_vm *fv);
/* Did a device map page gpa >> 12 to write (logged dirty, as a migration would see it)? */
bool fake_vm_ram_dirty(const struct fake_vm *fv, uint64_t gpa);
/* Forgets the dirty pages and the map counts (a new round of dirty logging). */
void fake_vm_ram_clear_dirty(struct fake_vm *fv);

/* 0, -ENOENT (nothing there: the guest would be stopped) or the device's error. */
int fake_vm_mmio_read(struct fake_vm *fv, uint64_t gpa, unsigned size, uint64_t *val);
int fake_vm_mmio_write(struct fake_vm *fv, uint64_t gpa, unsigned size, uint64_t val);
/* RDMSR/WRMSR of a device's MSR (dev_set_msr): 0, -ENOENT (none claims it: #GP) or the
 * device's error (#GP). */
int fake_vm_rdmsr(struct fake_vm *fv, uint32_t msr, uint64_t *val);
int fake_vm_wrmsr(struct fake_vm *fv, uint32_t msr, uint64_t val);

/*
 * Moves every device's state from one fake VM to another the way a migration
 * does: save each, stage each on the target (checked), then load all. 0, or
 * the first refusal (nothing loaded) with its reason in why.
 */
int fake_vm_migrate(struct fake_vm *from, struct fake_vm *to, char *why, size_t whylen);

/* A record of d's (n bytes) with byte off XORed by x must be refused, with a reason, and leave
 * nothing staged. Aborts the test (cmocka) otherwise. */
void fake_vm_expect_refused(struct device *d, const uint8_t *rec, size_t n, size_t off, uint8_t x);

/* cmocka's setup and teardown for a test file whose fake VM `v` runs machine m. */
#define FAKE_VM_FIXTURE(v, m)                                                                   \
    static int setup(void **state)                                                              \
    {                                                                                           \
        (void)state;                                                                            \
        fake_vm_build(&(v), (m));                                                               \
        return 0;                                                                               \
    }                                                                                           \
    static int teardown(void **state)                                                           \
    {                                                                                           \
        (void)state;                                                                            \
        fake_vm_destroy(&(v));                                                                  \
        return 0;                                                                               \
    }

#endif
