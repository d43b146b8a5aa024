/*
 * The device framework: a device type describes itself (name, a stable
 * migration type id, the version and size of its state record, and create /
 * reset / save / check / load / destroy); a machine description lists what a
 * VM gets, in creation order; a VM's device set holds the devices and the
 * buses they claim their port and MMIO ranges on (hv/dev/bus.h).
 *
 * State records are fixed-width and little-endian (hv/dev/devrec.h), hold no
 * host pointers or host clocks, and are versioned by the type: a record of
 * another version is refused, never guessed at. Migration checks every
 * device's record as it arrives (dev_stage) and loads them only once all of
 * them arrived and passed (dev_set_load_staged), so a bad record leaves every
 * device untouched. Adding a device: docs/architecture.md, "How to add a device".
 */
#ifndef HV_DEV_DEVICE_H
#define HV_DEV_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/base/spinlock.h"
#include "hv/dev/bus.h"

#define DEV_RECORD_MAX 16384      /* bytes of one device's state record */
#define DEV_NAME_MAX   24         /* "name#instance" for messages */

struct device;

struct dev_type {
    const char *name;             /* "uart16550": in messages and `vm devices` */
    uint16_t id;                  /* stable migration type id (hv/dev/dev_ids.h), never reused */
    uint16_t version;             /* of the record this build saves and loads */
    uint32_t record_size;         /* exact bytes of that record, <= DEV_RECORD_MAX */
    uint32_t state_size;          /* bytes of the device's private state, zeroed at create */
    /* Claims ranges (dev_claim_*) and sets the power-on state; cfg comes from the machine. */
    int (*create)(struct device *d, const void *cfg, char *err, size_t errlen);
    void (*reset)(struct device *d);                      /* power-on state again */
    void (*save)(const struct device *d, uint8_t *rec);   /* record_size bytes */
    /* Is rec loadable into d? 0, or -EINVAL with a reason; must not change d. */
    int (*check)(const struct device *d, const uint8_t *rec, char *why, size_t whylen);
    void (*load)(struct device *d, const uint8_t *rec);   /* only after check passed */
    void (*destroy)(struct device *d);                    /* optional: ranges go anyway */
    /* Optional, for devices that keep time: bring outputs (interrupt lines) up to now and
     * return the guest-clock time (ns) at which they next change, 0 if nothing is due. */
    uint64_t (*poll)(struct device *d, uint64_t now_ns);
    /* Optional: has the device work in flight outside the VM (a disk request at network
     * storage)? A migration saves it only once it has none (the set locked). */
    bool (*busy)(const struct device *d);
    /* Optional, for `vm devices`: a line of what the device is and did (the set locked). */
    void (*show)(const struct device *d, char *buf, size_t n);
};

struct dev_set;

struct device {
    const struct dev_type *type;
    uint16_t instance;
    struct dev_set *set;
    void *state;                  /* state_size bytes, the type's */
    uint8_t *staged;              /* an incoming record that passed check, not yet loaded */
    bool has_staged;
};

/* One entry of a machine description: create type as instance, with cfg. */
struct dev_machine_entry {
    const struct dev_type *type;
    uint16_t instance;
    const void *cfg;
};

struct dev_machine {
    const char *name;
    const struct dev_machine_entry *devs;
    unsigned ndevs;
};

/* What devices may ask of the VM they are in (hv/vm fills it; a test's fake VM its own). */
struct dev_platform {
    /* The guest asked to end with this code (the debug-exit port): called on a vCPU's CPU. */
    void (*guest_exit)(void *ctx, uint32_t code);
    /* An interrupt controller's output may have risen: whoever takes it should look (a kick
     * of the vCPU it goes to). Called with the set locked, on any CPU. */
    void (*intr_changed)(void *ctx);
    /* Wall-clock time (ns since 1970-01-01 UTC) of the host, for the RTC; NULL reads 0. */
    uint64_t (*wall_ns)(void *ctx);
    /* The guest pulled the CPU reset line (8042 command, port 0xCF9): the VM stops running
     * at once and restarts as after power-on. Called with the set locked, on a vCPU's CPU. */
    void (*reset)(void *ctx);
    /* A local APIC accepted an interrupt for vCPU `vcpu`: wake its host CPU (an IPI) so it
     * looks before its next entry. Called with the set locked, on any CPU. */
    void (*vcpu_kick)(void *ctx, unsigned vcpu);
    /* The guest turned the machine off (ACPI S5): the VM stops for good, as after a
     * debug-exit. Called with the set locked, on a vCPU's CPU. */
    void (*power_off)(void *ctx);
    /* DMA: a host pointer to guest RAM [gpa, gpa+len) when all of it is RAM and contiguous
     * on the host, else NULL; write: the device will write there (logged dirty for a
     * migration under way). Called with the set locked, on any CPU. */
    void *(*guest_map)(void *ctx, uint64_t gpa, uint64_t len, bool write);
    /* A frame NIC `nic` (the device's instance) sends: copied before the call returns. 0, or
     * an error (dropped). Called with the set locked, on a vCPU's CPU. */
    int (*net_tx)(void *ctx, unsigned nic, const void *frame, size_t len);
};

/*
 * Interrupt lines: the machine's wires from devices to interrupt controllers, numbered as
 * ISA IRQs / GSIs (0-23). A device drives a line with dev_irq_set (level) or dev_irq_pulse
 * (an edge); each controller that registered with dev_irq_sink sees every change (the 8259
 * pair and, later, the I/O APIC both listen to the ISA lines, as on a PC).
 */
#define DEV_IRQ_LINES 24
#define DEV_IRQ_SINKS 2

typedef void (*dev_irq_fn)(struct device *sink, unsigned line, bool level);

/* A VM's devices, in creation order, and its buses. */
struct dev_set {
    struct bus bus;
    struct device **devs;         /* in creation order; each device stays where it is */
    unsigned ndevs, cap;
    unsigned node;
    unsigned nvcpus;              /* the VM's vCPUs (per-vCPU devices size themselves by it) */
    /* The guest's clock, for devices that keep time (timers); NULL reads as 0. */
    uint64_t (*clock_ns)(void *ctx);
    void *clock_ctx;
    const struct dev_platform *platform;  /* NULL: requests are ignored */
    void *platform_ctx;
    uint32_t irq_level;           /* the lines' current levels, bit per line */
    struct { struct device *dev; dev_irq_fn fn; } sinks[DEV_IRQ_SINKS];
    unsigned nsinks;
    /* The vCPU making the current access; the caller sets it with the set's lock held (per-vCPU
     * devices such as the local APIC answer as that vCPU's). 0 for accesses from outside. */
    unsigned vcpu;
    /* Serializes the devices: every access, poll and input from outside takes it (the VM
     * layer does; the framework's functions assume it is held). */
    struct spinlock lock;
    /* For the VM's poller: the last poll's answer (guest-clock ns, 0: nothing due), and
     * whether an access since may have moved it (then the next entry polls again). */
    uint64_t poll_next;
    bool poll_stale;
};

void dev_set_init(struct dev_set *s, unsigned node, bus_reserved_fn reserved, void *ctx);
/* Creates m's devices in order; on failure destroys those it made and says which failed. */
int dev_set_build(struct dev_set *s, const struct dev_machine *m, char *err, size_t errlen);
/* Creates one device: -EEXIST (type and instance taken), -EINVAL (bad type), -ENOMEM, or
 * the create hook's error (-EBUSY for a range clash). Nothing remains of a failed one. */
int dev_add(struct dev_set *s, const struct dev_type *t, uint16_t instance, const void *cfg,
            char *err, size_t errlen);
void dev_set_reset(struct dev_set *s);
/* Destroys every device (newest first), frees their memory and the buses. */
void dev_set_destroy(struct dev_set *s);
struct device *dev_find(const struct dev_set *s, uint16_t type_id, uint16_t instance);
/* "uart16550#0" */
void dev_label(const struct device *d, char *buf, size_t n);
uint64_t dev_now_ns(const struct device *d);
/* The set's guest clock (0 without one). */
uint64_t dev_set_now(const struct dev_set *s);
/* The vCPU making the current access (dev_set.vcpu). */
unsigned dev_vcpu(const struct device *d);
/* Asks the platform to wake vcpu's host CPU (no-op without a platform that can). */
void dev_vcpu_kick(struct device *d, unsigned vcpu);
/* Asks the VM to end with code (no-op without a platform). */
void dev_guest_exit(struct device *d, uint32_t code);
/* Asks the VM to reset (no-op without a platform). */
void dev_guest_reset(struct device *d);
/* Asks the VM to power off (no-op without a platform). */
void dev_guest_power_off(struct device *d);
/* A frame out of the VM's NIC nic (dev_platform.net_tx); -ENODEV without a platform. */
int dev_net_tx(struct device *d, unsigned nic, const void *frame, size_t len);
/* Guest RAM for a device's DMA (dev_platform.guest_map); NULL without a platform or RAM. */
void *dev_guest_map(struct device *d, uint64_t gpa, uint64_t len, bool write);
/* The host's wall-clock time in ns since the Unix epoch (0 without a platform that knows). */
uint64_t dev_wall_ns(const struct device *d);

/* Drives a line to level; only a change reaches the controllers. Lines >= DEV_IRQ_LINES are
 * ignored. */
void dev_irq_set(struct device *d, unsigned line, bool level);
/* A rising then a falling edge: one event to an edge-triggered input. */
void dev_irq_pulse(struct device *d, unsigned line);
/* For a controller's create hook: it wants every line change; -ENOSPC past DEV_IRQ_SINKS. */
int dev_irq_sink(struct device *d, dev_irq_fn fn);
/* For controllers: tell the platform the output may have risen. */
void dev_intr_changed(struct device *d);
/* Does any device have work in flight (dev_type.busy)? Takes the set's lock. */
bool dev_set_busy(struct dev_set *s);
/* Polls every device that keeps time; the soonest next change (ns), 0 if none is due. */
uint64_t dev_set_poll(struct dev_set *s, uint64_t now_ns);

/* For create hooks: claim a range for this device (released when it is destroyed). */
int dev_claim_pio(struct device *d, uint16_t base, uint16_t count, bus_access_fn fn);
int dev_claim_mmio(struct device *d, uint64_t base, uint64_t size, bus_access_fn fn);
/* MSRs [base, base+count): the access is 8 bytes (EDX:EAX), off is msr - base. */
int dev_claim_msr(struct device *d, uint32_t base, uint32_t count, bus_access_fn fn);

/* Port I/O as a PC does it: an unclaimed port reads all ones and drops writes. */
int dev_set_pio(const struct dev_set *s, uint16_t port, bool write, unsigned size,
                uint32_t *val);

/* RDMSR/WRMSR of a device's MSR: 0, -ENOENT (no device claims it), or the device's error
 * (the guest takes #GP). For callers outside an exit (tests); the exit path dispatches the
 * range itself with the set's lock held (hv/vm/vcpu.c). */
int dev_set_msr(const struct dev_set *s, uint32_t msr, bool write, uint64_t *val);

/* ---- state records ---- */

/* Saves d's record into buf: its size, or -ENOSPC. */
int dev_save(const struct device *d, uint8_t *buf, size_t cap);
/*
 * An incoming record for d: the version must be d's type's, the length its
 * record_size, and the type's check must pass; then it is kept (staged) for
 * dev_set_load_staged. A second record for the same device is refused. 0 or
 * -EINVAL/-EEXIST with a reason in why; d is never changed.
 */
int dev_stage(struct device *d, uint16_t version, const uint8_t *rec, size_t len, char *why,
              size_t whylen);
/* 0 when every device has a staged record, else -ENOENT naming the first without. */
int dev_set_staged_complete(const struct dev_set *s, char *why, size_t whylen);
/* Loads every staged record (all were checked) and forgets them. */
void dev_set_load_staged(struct dev_set *s);
/* Forgets staged records without loading them. */
void dev_set_drop_staged(struct dev_set *s);

/* ---- known types (hv/dev/machine.c) ---- */

const struct dev_type *dev_type_by_id(uint16_t id);
/* Can this host load records of type id at version? 0, or -ENOENT/-EPROTO with a reason. */
int dev_type_check_known(uint16_t id, uint16_t version, char *why, size_t whylen);

#endif
