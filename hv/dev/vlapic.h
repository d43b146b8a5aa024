/*
 * The local APICs of a VM (Intel SDM Vol. 3A chapter 11, "Advanced Programmable Interrupt
 * Controller"): one device holds up to VLAPIC_MAX_VCPUS of them, APIC ID = vCPU index, all
 * behind the one MMIO page at 0xFEE00000 (xAPIC mode) and the MSRs 0x800-0x8FF (x2APIC mode,
 * claimed on the VM's MSR bus); the vCPU making the access (dev_vcpu, set by the exit path
 * with the set's lock held) picks whose registers it sees, as on a PC where every CPU sees its
 * own APIC at the same address.
 *
 * Modes (11.12.5, vlapic_set_mode, driven by IA32_APIC_BASE's EN and EXTD bits): disabled,
 * xAPIC (the reset state) and x2APIC; x2APIC -> xAPIC and disabled -> x2APIC are refused (the
 * WRMSR takes #GP), an INIT keeps x2APIC mode. In x2APIC mode the MMIO page behaves as a
 * disabled APIC's and the registers are MSRs (11.12.1.2): 32-bit APIC ID, LDR derived from
 * it (cluster in 31:16, a bit per member, read-only), no DFR/APR, the ICR one 64-bit register
 * with a 32-bit destination, SELF IPI; a reserved bit in a write, a read of a write-only
 * register or a write to a read-only one is #GP.
 *
 * Registers (SDM table 11-1): ID, version (0x00050014: version 0x14, 6 LVT entries), TPR, APR
 * and PPR (computed, 11.8.3.1 and 11.6.2.4), EOI, LDR, DFR, SVR, ISR/TMR/IRR, ESR (write, then
 * read: 11.5.3), the LVT (CMCI, timer, thermal, perf, LINT0, LINT1, error), ICR and the timer's
 * initial/current count and divide configuration. Accesses must be 32 bits wide (others are
 * -EINVAL: the guest takes a fault); a 32-bit access at an offset that is not 16-byte aligned
 * reads 0 and is dropped; a reserved register reads 0, drops writes and logs "illegal register
 * address" (ESR bit 7). Writes to read-only registers are dropped. The CMCI LVT is kept but not
 * advertised (the version says 6 entries, so guests leave it alone).
 *
 * Interrupts: vlapic_accept puts a fixed interrupt into a vCPU's IRR (the I/O APIC, the timer,
 * IPIs); vlapic_pending / vlapic_ack are the CPU's view (the highest IRR vector whose priority
 * class beats the PPR's, then IRR -> ISR); an EOI (the register, or vlapic_eoi) retires the
 * highest ISR vector and, for a level-triggered one, calls cfg->eoi_level so the I/O APIC can
 * clear its remote IRR. NMI, INIT and SIPI IPIs are recorded for their target and taken by the
 * VM with vlapic_take_events. An interrupt or event for a vCPU other than the one making the
 * access kicks it (dev_vcpu_kick).
 *
 * Timer (11.5.4): one-shot, periodic and TSC-deadline; the count runs at VLAPIC_TIMER_HZ
 * (1 GHz: one tick per ns before the divider) of the device clock and is computed when read,
 * never ticked; the poll hook delivers expiries (periods missed between two polls collapse
 * into one interrupt, like a real IRR bit) and says when the next is due.
 *
 * Record version 2 (fixed size, little-endian): per vCPU every register, IRR/ISR/TMR, the
 * timer's elapsed ticks and periods delivered (relative to the device clock, so it resumes on
 * any host), the TSC deadline and its remaining ns, pending NMI/INIT/SIPI, the mode.
 *
 * Every function here assumes the set's lock is held.
 */
#ifndef HV_DEV_VLAPIC_H
#define HV_DEV_VLAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/dev/device.h"

#define VLAPIC_BASE        0xfee00000ull
#define VLAPIC_SIZE        0x1000ull
#define VLAPIC_MSR_BASE    0x800u           /* x2APIC: MSR 0x800 + (xAPIC offset >> 4) */
#define VLAPIC_MSR_COUNT   0x100u
#define VLAPIC_MAX_VCPUS   64
#define VLAPIC_VERSION     0x00050014u      /* version 0x14, max LVT entry 5 */
/* The timer's input clock before the divider (the "bus" or core crystal clock the guest is
 * told about, e.g. in CPUID 0x15/0x16 or a calibration): one tick per ns of the device clock. */
#define VLAPIC_TIMER_HZ    1000000000ull

/* A level-triggered vector was EOIed by vcpu (tell the I/O APIC); set lock held. */
typedef void (*vlapic_eoi_fn)(struct device *lapic, unsigned vcpu, uint8_t vector);

struct vlapic_cfg {
    uint64_t base;                 /* 0: VLAPIC_BASE */
    unsigned nvcpus;               /* 1..VLAPIC_MAX_VCPUS; 0: the set's (the VM's vCPUs) */
    vlapic_eoi_fn eoi_level;       /* may be NULL */
    /* Reset vCPU 0 as a PC firmware leaves it for the OS (MP spec 3.6.2.2, virtual wire
     * mode): SVR enabled, LINT0 ExtINT, LINT1 NMI, so the 8259's INTR reaches vCPU 0 of a
     * guest booted without firmware. False: the SDM's power-on state (11.4.7.1). */
    bool bios_virtual_wire;
};

enum vlapic_lvt { VLAPIC_LVT_CMCI, VLAPIC_LVT_TIMER, VLAPIC_LVT_THERMAL, VLAPIC_LVT_PERF,
                  VLAPIC_LVT_LINT0, VLAPIC_LVT_LINT1, VLAPIC_LVT_ERROR, VLAPIC_LVT_N };

struct vlapic_cpu {
    uint32_t tpr, ldr, dfr, svr;
    uint32_t esr;                  /* what ESR reads: latched at the last ESR write */
    uint32_t esr_pending;          /* errors since the last ESR write */
    uint32_t icr_lo, icr_hi;
    uint32_t lvt[VLAPIC_LVT_N];
    uint32_t initial, dcr;
    uint32_t irr[8], isr[8], tmr[8];
    /* one-shot / periodic: ticks = base_ticks + (now - start_ns) / divider */
    uint64_t start_ns, base_ticks;
    uint64_t seen;                 /* expiries delivered since the count was written */
    uint64_t tsc_deadline;         /* IA32_TSC_DEADLINE as written (0: disarmed) */
    uint64_t deadline_ns;          /* device-clock time it expires, while armed */
    bool hw_disabled;              /* IA32_APIC_BASE.EN clear (vlapic_set_mode) */
    bool x2apic;                   /* x2APIC mode (IA32_APIC_BASE.EXTD) */
    bool nmi, init, sipi;          /* events for the VM to take */
    uint8_t sipi_vector;
};

struct vlapic {
    unsigned n;
    uint64_t base;
    vlapic_eoi_fn eoi_level;
    bool bios_virtual_wire;
    struct vlapic_cpu cpu[VLAPIC_MAX_VCPUS];
};

/* NMI, INIT and SIPI IPIs a vCPU received since it last looked. */
struct vlapic_events {
    bool nmi;
    bool init;                     /* the APIC itself was INIT-reset when it arrived */
    bool sipi;                     /* the VM honours it only in wait-for-SIPI */
    uint8_t sipi_vector;           /* start at sipi_vector << 12 */
};

extern const struct dev_type vlapic_type;

/* A fixed interrupt for vcpu: IRR set, TMR set for level, cleared for edge (11.8.4). Vectors
 * 0-15 log "receive illegal vector" (ESR bit 6) instead; a software- or hardware-disabled APIC
 * drops it. 0, -EINVAL (no such vCPU), -EPERM (dropped: disabled or illegal vector). */
int vlapic_accept(struct device *d, unsigned vcpu, uint8_t vector, bool level);
/*
 * An interrupt message from the I/O APIC (or an MSI): delivery mode as in a redirection entry
 * (0 fixed, 1 lowest priority, 4 NMI, 5 INIT; SMI, SIPI, ExtINT and reserved are dropped),
 * destination as for an IPI (physical: APIC ID, 0xFF everyone; logical: LDR/DFR), level sets
 * the TMR bit of a fixed vector so its EOI reaches cfg->eoi_level. Lowest priority goes to the
 * lowest-numbered target (no arbitration). Returns how many APICs took it (a software-disabled
 * APIC or a vector below 16 drops a fixed one).
 */
unsigned vlapic_deliver_msg(struct device *d, uint8_t dest, bool logical, unsigned mode,
                            uint8_t vector, bool level);
/* The vector the vCPU should take now, -1 if none beats the PPR. */
int vlapic_pending(const struct device *d, unsigned vcpu);
/* The CPU's acknowledge: that vector moves IRR -> ISR and is returned; -1 if none. */
int vlapic_ack(struct device *d, unsigned vcpu);
/* EOI: the highest ISR vector retires (*level: it was level-triggered, and cfg->eoi_level was
 * called); -1 with ISR empty. A write to the EOI register does the same. */
int vlapic_eoi(struct device *d, unsigned vcpu, bool *level);
/* Takes (and clears) vcpu's pending NMI/INIT/SIPI: true if there was any. */
bool vlapic_take_events(struct device *d, unsigned vcpu, struct vlapic_events *ev);
/* Should the 8259's INTR go to this vCPU (11.5.1, virtual wire): LINT0 unmasked in ExtINT
 * mode on an enabled APIC, or the APIC hardware-disabled (then INTR is the CPU's own pin). */
bool vlapic_extint_enabled(const struct device *d, unsigned vcpu);
enum vlapic_mode { VLAPIC_DISABLED, VLAPIC_XAPIC, VLAPIC_X2APIC };

/* The mode IA32_APIC_BASE's EN/EXTD say (VLAPIC_DISABLED for a vCPU that does not exist). */
enum vlapic_mode vlapic_get_mode(const struct device *d, unsigned vcpu);
/*
 * A WRMSR to IA32_APIC_BASE that changes EN/EXTD (the MSR is the VM's). Disabling resets that
 * APIC (11.4.3) and takes it off the bus (its MMIO reads all ones, drops writes; it accepts no
 * fixed interrupts); xAPIC -> x2APIC keeps the registers but the LDR, which becomes the
 * derived one. 0, -EPERM (a transition 11.12.5 forbids), -EINVAL (no such vCPU or mode).
 */
int vlapic_set_mode(struct device *d, unsigned vcpu, enum vlapic_mode m);
/*
 * IA32_TSC_DEADLINE (MSR 0x6E0, SDM 11.5.4.1). The VM passes the guest's TSC now and its rate
 * (kHz); the deadline becomes a device-clock time (rounded up, so the TSC has passed it when
 * the interrupt comes). Ignored unless the LVT timer is in TSC-deadline mode; 0 disarms; a
 * deadline in the past fires at the next poll. 0 or -EINVAL (no such vCPU, tsc_khz 0).
 */
int vlapic_tsc_deadline_write(struct device *d, unsigned vcpu, uint64_t deadline,
                              uint64_t guest_tsc_now, uint32_t tsc_khz);
/* The MSR's value: the armed deadline, 0 once it fired or outside TSC-deadline mode. */
uint64_t vlapic_tsc_deadline_read(const struct device *d, unsigned vcpu);

#endif
