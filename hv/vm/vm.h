/*
 * Virtual machines and their vCPUs, arch-neutral. A VM owns its guest RAM
 * (host-contiguous chunks on one or more NUMA nodes), a device set (the
 * machine's devices and the port-I/O and MMIO buses they claim ranges on),
 * a CPU policy and per-reason exit counters. vCPUs
 * are pinned to APs; the BSP (control plane) changes VM state only through
 * requests the vCPU loops act on at their next exit.
 */
#ifndef HV_VM_H
#define HV_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/cpu/cpu_policy.h"
#include "hv/dev/device.h"
#include "hv/dev/vuart.h"
#include "hv/base/spinlock.h"
#include "hv/cpu/vcpu_state.h"
#include "hv/vm/layout.h"
#include "hv/vm/linux_boot.h"
#include "hv/vm/multiboot.h"

#define VM_MAX 16
#define VM_MAX_VCPUS 8
#define VM_NAME_MAX 32
#define VM_MAX_CHUNKS 8            /* runs of host memory, on one or more nodes */


enum vm_state { VM_EMPTY = 0, VM_CREATED, VM_RUNNING, VM_PAUSED, VM_STOPPED };

/* How writes are logged (hv/vm/dirty.h): AUTO picks the best the hardware offers. */
enum dirty_mode { DIRTY_AUTO = 0, DIRTY_WP, DIRTY_AD, DIRTY_PML, DIRTY_MODE_COUNT };

/* Arch-neutral exit reasons: what hv/ handles. Vendor codes map onto these. */
enum hv_exit_reason {
    EXIT_NONE = 0, EXIT_CPUID, EXIT_IO, EXIT_MMIO, EXIT_MSR_READ, EXIT_MSR_WRITE, EXIT_HLT,
    EXIT_XSETBV, EXIT_CR, EXIT_EXTINT, EXIT_PREEMPT, EXIT_SHUTDOWN, EXIT_EXCEPTION,
    EXIT_ENTRY_FAIL, EXIT_UNHANDLED, EXIT_INVALID_INSN, EXIT_NOP, EXIT_DIRTY, EXIT_HYPERCALL,
    EXIT_INTR_WINDOW, EXIT_COUNT
};

struct hv_exit {
    uint32_t reason;            /* enum hv_exit_reason */
    uint32_t vendor_reason;     /* raw VMX exit reason / SVM exit code, for stats and dumps */
    uint32_t insn_len;          /* 0 when unknown */
    union {
        struct { uint16_t port; uint8_t size; bool in, string, rep; } io;
        struct { uint64_t gpa; bool write, fetch; } mmio;
        struct { uint32_t msr; } msr;
        struct { uint8_t cr; bool write; uint8_t gpr; } cr;
        struct { uint8_t vector; } exc;
    };
    /* Set by hv/ for the backend to apply at the next entry. */
    bool advance;               /* skip the exiting instruction */
};

struct vm_mem_chunk {
    uint64_t gpa, hpa, size;
    uint32_t node;
};

#define VCPU_REQ_PAUSE 0x1
#define VCPU_REQ_STOP  0x2
#define VCPU_REQ_SAVE  0x4           /* (paused) copy the state to vcpu->saved on its CPU */
#define VCPU_REQ_RESET 0x8           /* (paused) back to the power-on state (vcpu->init) */

struct vm;

struct vcpu {
    struct vm *vm;
    unsigned index;
    unsigned pcpu;               /* the host CPU it is pinned to */
    uint64_t gpr[GPR_COUNT];     /* guest GPRs, saved/restored by the backend around every entry */
    void *arch;                  /* VMCS / VMCB and vendor state */
    volatile uint32_t request;   /* VCPU_REQ_* from the control plane */
    volatile bool paused;        /* acknowledged a pause request */
    volatile bool halted;
    bool halt_if;                /* RFLAGS.IF at the HLT: an interrupt can wake it */
    bool wait_sipi;              /* an AP after INIT: not entered until a SIPI (also halted) */
    bool nmi_pending;            /* an NMI its local APIC took, not injected yet */
    bool halt_nmi_blocked;       /* it halted inside an NMI handler: an NMI does not wake it */
    bool tsc_pending;            /* init.tsc counts from the VM's TSC origin (set at creation) */
    uint64_t saved_host_tsc;     /* host TSC when `saved` was taken (0: never ran) */
    bool started;
    struct vcpu_state init;      /* state to load at the first entry */
    struct vcpu_state saved;     /* filled on VCPU_REQ_SAVE (with the FPU in xsave) */
    void *xsave;                 /* guest FPU/SIMD state while not loaded (XSAVE area) */
    uint64_t xcr0;               /* the guest's XCR0 */
#define VCPU_LAZY_MSRS 6
    uint64_t lazy_msr[VCPU_LAZY_MSRS];  /* backend-kept: STAR, LSTAR, CSTAR, SFMASK, KGS, TSC_AUX */
    uint64_t lazy_cr2;
    uint64_t mtrr_def_type;
    struct hv_exit exit;         /* the last exit; its result is applied at the next entry */
    bool created;                /* the backend state exists (on pcpu) */
    volatile uint32_t flush_req; /* flush cached second-level translations before entering */
    volatile bool dead;          /* destroyed by its pcpu; the control plane may free it */
    uint64_t exits[EXIT_COUNT];
    uint64_t guest_tsc_ticks;    /* host TSC ticks spent in the guest */
    uint64_t entries;
    uint64_t interrupts;         /* external interrupts injected */
    uint32_t pvclock_gen;        /* the clock generation its time structure was written for */
    uint64_t throttle_until;     /* (TSC) not run before this while the VM is throttled */
};

enum vm_migration { VM_MIG_NONE, VM_MIG_OUT, VM_MIG_IN };

#define VM_DISK_MAX   128            /* disk=: a file name or "nbd://..." with its NUL */
#define VM_NICS_MAX   4
#define VM_SWITCH_MAX 16             /* a switch's name with its NUL (net/vswitch.h's) */

/* A guest NIC (virtio-net instance `index`) and its port on a virtual switch. */
struct vm_nic {
    struct vm *vm;
    unsigned index;
    char sw[VM_SWITCH_MAX];
    uint8_t mac[6];
    struct device *dev;              /* its virtio-net (devices never move once created) */
    void *port;                      /* the switch's, through vm_net_hooks (NULL: detached) */
};

/*
 * How VMs reach virtual switches (net/vswitch.h), which hv/vm may not include: main.c sets
 * hooks that hv/mgmt/mgmt_nic.c implements. attach runs when a VM with NICs is created (also
 * an incoming migration's skeleton), detach when it goes (destroyed, or migrated away: the
 * switch forgets its MACs); both on the control CPU. send runs on a vCPU's CPU with the VM's
 * device lock held. announce: frames that tell the network where the NIC is now (after a
 * migration), sent on the port.
 */
struct vm_net_hooks {
    int (*attach)(struct vm_nic *n, char *err, size_t errlen);
    void (*detach)(struct vm_nic *n);
    int (*send)(struct vm_nic *n, const void *frame, size_t len);
    void (*announce)(struct vm_nic *n);
};
void vm_set_net_hooks(const struct vm_net_hooks *h);

/*
 * Disks on network storage (disk=nbd://...), which hv/vm reaches through hooks as it does
 * switches (hv/mgmt/mgmt_disk.c over net/nbd.h). open connects and handshakes (control CPU;
 * it may take seconds): a handle and the disk's size. bind gives the handle its VM and
 * virtio-blk, and fills the backend the device submits to. close drops the connection; any
 * request still out is dropped without completing (the device goes next).
 */
struct vblk_backend;
struct vm_disk_hooks {
    int (*open)(const char *uri, void **handle, uint64_t *sectors, char *err, size_t errlen);
    void (*bind)(void *handle, struct vm *vm, struct device *dev, struct vblk_backend *be);
    void (*close)(void *handle);
    /* One line for `vm devices` (the connection's state and counters). */
    int (*describe)(void *handle, char *buf, size_t n);
};
void vm_set_disk_hooks(const struct vm_disk_hooks *h);
const struct vm_disk_hooks *vm_disk_hooks(void);
/* A frame from the switch for NIC n (control CPU): into the guest if it runs, else dropped
 * (a paused VM's devices are being saved or loaded). 0 or -EAGAIN (dropped). */
int vm_nic_rx(struct vm_nic *n, const void *frame, size_t len);
/* After a VM resumed on a new host: each NIC announces itself (hooks->announce: RARP on the
 * switch) and asks its guest to (virtio-net GUEST_ANNOUNCE: gratuitous ARP). */
void vm_nics_announce(struct vm *vm);

struct vm {
    enum vm_state state;
    enum vm_migration migration;  /* the migration engine owns its state changes meanwhile */
    /* It arrived by a live migration with this identity (the source's first nonce): how a
     * source that lost the acknowledgement learns it runs here, however long ago. */
    bool arrived;
    uint8_t arrival[32];
    char name[VM_NAME_MAX];
    uint64_t mem_size;           /* bytes of RAM (without the hole) */
    uint64_t low_end;            /* RAM is [0, low_end) and, past it, [4 GiB, gfn_end << 12) */
    uint64_t gfn_end;            /* frame numbers run to here (the hole's are no RAM) */
    unsigned node;
    unsigned nchunks;
    struct vm_mem_chunk chunks[VM_MAX_CHUNKS];
    unsigned nvcpus;
    struct vcpu vcpus[VM_MAX_VCPUS];
    struct dev_set devs;         /* its devices and their port/MMIO buses (hv/dev/device.h) */
    uint64_t tsc_origin;         /* host TSC at which a fresh guest's TSC reads 0 (0: unset) */
    struct device *pic;          /* the 8259 pair whose output is vCPU 0's INTR (hv/vm/intr.h) */
    struct device *kvmclock;     /* the paravirtual clock's state (hv/vm/pvclock.h) */
    struct device *lapic;        /* the vCPUs' local APICs (hv/dev/vlapic.h) */
    struct cpu_policy policy;
    void *arch;                  /* EPT / NPT root and vendor per-VM state */
    char image[48];
    char initrd[48];             /* with kernel=: the initrd's file name, for a reset's reload */
    char modules[160];           /* with a Multiboot kernel=: module=, for a reset's reload */
    bool linux_guest;            /* booted through the Linux boot protocol (kernel=) */
    struct linux_boot linux_boot;
    bool mb_guest;               /* a Multiboot kernel (kernel=, hv/vm/multiboot.h) */
    struct mb_boot mb_boot;
    char cmdline[256];
    /* disk=: the image's private copy the virtio-blk serves (host frames), 0 pages: none. */
    char disk[VM_DISK_MAX];
    uint64_t disk_hpa, disk_pages;
    void *disk_net;                  /* a disk on network storage: vm_disk_hooks' handle */
    uint64_t disk_sectors;           /* ...its size (what a migration's HELLO says) */
    unsigned nnics;
    struct vm_nic nics[VM_NICS_MAX];
    char stop_reason[160];
    volatile bool exited;        /* the guest ended itself through the debug-exit port... */
    uint32_t exit_code;          /* ...with this code */
    bool powered_off;            /* ...or turned itself off (ACPI S5) */
    bool exit_reported;          /* the console said so (vm_exit_event) */
    volatile bool reset_pending; /* the guest pulled the reset line (vm_reset_event serves it) */
    unsigned resets;             /* guest resets in the current storm window... */
    uint64_t reset_window_ns;    /* ...which began then (host time) */
    struct spinlock lock;
    /* Dirty logging (hv/vm/dirty.c): one bit per 4 KiB of guest RAM, set by write faults,
     * drained PML logs and the hypervisor's own writes (A/D mode keeps the rest in the D bits). */
    volatile bool dirty_on;
    volatile uint32_t throttle_pct;  /* share of time its vCPUs sit out (migration converging) */
    enum dirty_mode dirty_mode;  /* of the current or last session (AUTO: never started) */
    bool dirty_resync;           /* a flush timed out: report every page until one completes */
    uint64_t *dirty_bitmap;
    uint64_t dirty_bitmap_pages;
};

extern struct vm vms[VM_MAX];

struct vm *vm_find(const char *name);
void *vm_gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len);
/* Guest page pfn in host memory (RAM may be split across NUMA nodes: chunks); NULL past RAM. */
/* Clears, in a bitmap over [0, gfn_end), the bits of the hole's frames (they are no RAM). */
static inline void vm_bitmap_ram_only(const struct vm *vm, uint64_t *bits)
{
    for (uint64_t f = vm->low_end >> 12; f < VM_HIGH_RAM >> 12 && f < vm->gfn_end; f++)
        bits[f / 64] &= ~(1ull << (f % 64));
}

static inline uint8_t *vm_page(struct vm *vm, uint64_t pfn)
{
    return vm_gpa_to_hva(vm, pfn << 12, 4096);
}

/*
 * Logs a write to guest RAM at gpa while dirty logging is on: from a write fault, a drained PML
 * log, or the hypervisor writing guest memory itself (those writes bypass EPT/NPT). Callers run
 * on a vCPU's CPU between an exit and the next entry (vm_dirty_stop waits for that).
 */
static inline void vm_dirty_log(struct vm *vm, uint64_t gpa)
{
    uint64_t page = gpa >> 12;
    if (!__atomic_load_n(&vm->dirty_on, __ATOMIC_ACQUIRE) || gpa >= vm->gfn_end << 12)
        return;
    __atomic_or_fetch(&vm->dirty_bitmap[page / 64], 1ull << (page % 64), __ATOMIC_RELAXED);
}

/* For backends before each entry: EPT/NPT A/D flags, and PML, on for this VM now? */
static inline bool vm_dirty_wants_ad(struct vm *vm)
{
    return __atomic_load_n(&vm->dirty_on, __ATOMIC_ACQUIRE) &&
           (vm->dirty_mode == DIRTY_AD || vm->dirty_mode == DIRTY_PML);
}

static inline bool vm_dirty_wants_pml(struct vm *vm)
{
    return __atomic_load_n(&vm->dirty_on, __ATOMIC_ACQUIRE) && vm->dirty_mode == DIRTY_PML;
}

/* The 16550 the console shows and types into (the machine's uart16550#0), or NULL. */
struct uart_dev *vm_console_uart(struct vm *vm);
/* For the buses: does [base, base+size) of guest-physical space overlap the VM's RAM? */
bool vm_ram_overlaps(void *vm, enum bus_space sp, uint64_t base, uint64_t size);

/* The next VM whose guest exited (or powered off) and was not reported yet: its name and code;
 * false if none. */
bool vm_exit_event(char *name, size_t n, uint32_t *code, bool *power_off);
/* Carries out the next guest reset request (the control plane calls it): the image reloaded,
 * devices and vCPUs at their power-on state, running again. True if one was served; msg says
 * what happened ("vm: NAME reset by the guest", or why the VM was stopped instead). */
bool vm_reset_event(char *msg, size_t n);

/* Every vCPU's saved TSC as it read at the moment vCPU 0's state was saved (each was saved on
 * its own CPU a little apart; the guest's TSCs are one clock), for a migration's records. */
void vm_saved_tsc_align(struct vm *vm);
/* Marks the VM stopped with a reason (once) and asks every vCPU to stop; callable from a vCPU. */
void vm_stop(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
