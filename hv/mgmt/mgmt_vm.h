/*
 * VM operations: create (with the option rules the console and the network API share), list,
 * start/pause/resume/destroy, stats, dirty logging with its built-in oracle, and the console
 * attach (read a VM's UART output, feed it keystrokes). A VM being migrated belongs to the
 * migration engine: the state changes refuse it with -EBUSY.
 */
#ifndef HV_MGMT_VM_H
#define HV_MGMT_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MGMT_VM_NAME_MAX 32     /* with the NUL: names are 1-31 letters, digits, '-', '_' */
#define MGMT_VM_MAX_VCPUS 8
#define MGMT_VM_MEM_MIB_MIN 2
#define MGMT_VM_MEM_MIB_MAX 1048576         /* 1 TiB; the host's free memory decides */
#define MGMT_VM_NODES_MAX 32    /* room for vm_nodes()' "0+1" */
#define MGMT_EXIT_MAX 32

#define MGMT_VM_NICS_MAX      4
#define MGMT_SWITCH_NAME_MAX  16     /* with the NUL */

/* A switch name: 1-15 letters, digits, '-' or '_'. */
bool mgmt_switch_name_valid(const char *s);
/* "xx:xx:xx:xx:xx:xx" (hex) to a unicast, non-zero MAC: 0 or -EINVAL. */
int mgmt_mac_parse(const char *s, uint8_t mac[6]);

struct mgmt_nic_args {
    char sw[MGMT_SWITCH_NAME_MAX];
    uint8_t mac[6];
    bool mac_set;               /* else one is made up (locally administered) at create */
};

struct mgmt_vm_create_args {
    char name[MGMT_VM_NAME_MAX];
    uint64_t mem_mib;           /* even, MGMT_VM_MEM_MIB_MIN..MAX */
    unsigned cpus;              /* 1..MGMT_VM_MAX_VCPUS */
    int node;                   /* -1: placed by hv/vm/numa.c; else pinned (< nodes) */
    char image[48];             /* "memtest" or a loaded file's name */
    bool image_set;             /* image= was given (it excludes kernel=) */
    char kernel[48];            /* a bzImage or Multiboot kernel from \images\ ("": image=) */
    char initrd[48];            /* with kernel=: its initrd ("": none) */
    char modules[160];          /* with a Multiboot kernel=: "A,B,..." ("": none) */
    char args[256];             /* the guest's command line */
    char cpu[16];               /* CPU baseline: "host", "x86-64-v2", ... */
    char disk[128];             /* a virtio-blk's disk: an image from \images\ or nbd://... */
    unsigned nnics;             /* nic=SWITCH[,mac=..]: virtio-net NICs, in order */
    struct mgmt_nic_args nics[MGMT_VM_NICS_MAX];
};

/* 64 MiB, 1 vCPU, placed, memtest, host CPU; no name. */
void mgmt_vm_create_defaults(struct mgmt_vm_create_args *a);
bool mgmt_vm_name_valid(const char *s);
/* Sets option key ("mem", "cpus", "node", "image", "kernel", "initrd", "module", "args", "cpu",
 * "disk", "nic": repeatable, SWITCH[,mac=xx:xx:xx:xx:xx:xx])
 * from its
 * text (image= and kernel= exclude each other); nodes is the
 * host's NUMA node count. 0, or -EINVAL (unknown key or bad value: a unchanged). */
int mgmt_vm_create_set(struct mgmt_vm_create_args *a, const char *key, const char *val,
                       unsigned nodes);
/* Every field within its rules: 0 or -EINVAL with the reason in err. */
int mgmt_vm_create_check(const struct mgmt_vm_create_args *a, unsigned nodes, char *err,
                         size_t errlen);
int mgmt_vm_create(const struct mgmt_vm_create_args *a, char *err, size_t errlen);

struct mgmt_vm_info {
    char name[MGMT_VM_NAME_MAX];
    const char *state;          /* "created", "running", "paused", "stopped" */
    uint64_t mem_mib;
    unsigned nvcpus;
    char nodes[MGMT_VM_NODES_MAX];      /* "0", or "1+0" when its memory spans nodes */
    unsigned pcpus[MGMT_VM_MAX_VCPUS];  /* the host CPU each vCPU is pinned to */
};
/* Fills up to max entries in slot order; returns how many. */
unsigned mgmt_vm_list(struct mgmt_vm_info *out, unsigned max);

/* -ENOENT if no VM has that name, -EBUSY if it is migrating (unless busy_ok), else 0. */
int mgmt_vm_check(const char *name, bool busy_ok, char *err, size_t errlen);
int mgmt_vm_start(const char *name, char *err, size_t errlen);
int mgmt_vm_pause(const char *name, char *err, size_t errlen);
int mgmt_vm_resume(const char *name, char *err, size_t errlen);
int mgmt_vm_destroy(const char *name, char *err, size_t errlen);

struct mgmt_vm_stats {
    char name[MGMT_VM_NAME_MAX];
    const char *state;
    uint64_t entries, guest_ms;
    unsigned nexits;                    /* the reasons seen, in enum order */
    struct { const char *reason; uint64_t count; } exits[MGMT_EXIT_MAX];
    bool dirty_used;                    /* dirty logging ran at least once */
    const char *dirty_mode;             /* of the current or last session */
    bool dirty_on;
    bool stopped;
    char stop_reason[160];
    uint64_t pages, nonzero_pages;      /* a migration sends the nonzero ones at least */
};
/* A VM's device as `vm devices` shows it: "uart16550#0", its record version, its ranges. */
#define MGMT_DEV_MAX 64
struct mgmt_dev_info {
    char label[32];
    unsigned version;
    char ranges[96];            /* "io 0x3f8-0x3ff", several separated by ", " */
    char state[384];            /* the device's own line (dev_type.show), "" if none */
};
/* The VM's devices in creation order (at most max): how many, or a negative errno. */
int mgmt_vm_devices(const char *name, struct mgmt_dev_info *out, unsigned max, char *err,
                    size_t errlen);

/* The next VM event for the console ("vm: NAME exited code=N", "vm: NAME powered off"); false when none. */
bool mgmt_vm_event(char *buf, size_t n);

/* Allowed while the VM migrates. */
int mgmt_vm_stats(const char *name, struct mgmt_vm_stats *out, char *err, size_t errlen);

/*
 * Dirty logging with an oracle (`vm dirty NAME start|verify|stop`). start snapshots guest RAM
 * (the VM paused meanwhile); verify does what a migration does with the snapshot as its copy
 * (a round while the guest runs, then pause and a last round) and compares with RAM: a page
 * that differs was written without being reported, a miss.
 */
enum mgmt_dirty_mode { MGMT_DIRTY_AUTO = 0, MGMT_DIRTY_WP, MGMT_DIRTY_AD, MGMT_DIRTY_PML };
/* "wp", "ad" or "pml" (not "auto"): 0 or -EINVAL. */
int mgmt_dirty_mode_parse(const char *s, enum mgmt_dirty_mode *m);
/* The VM exists and is not migrating (its dirty log would be the migration's). */
int mgmt_dirty_check(const char *name, char *err, size_t errlen);
/* On success *mode_used names the mode chosen ("wp", "ad", "pml"). */
int mgmt_dirty_start(const char *name, enum mgmt_dirty_mode mode, const char **mode_used,
                     char *err, size_t errlen);
int mgmt_dirty_stop(const char *name, char *err, size_t errlen);
struct mgmt_dirty_report { uint64_t pages, changed, dirty, missed; };
/* 0 when the check ran (missed > 0 is the failure it looks for), else -errno and err. */
int mgmt_dirty_verify(const char *name, struct mgmt_dirty_report *r, char *err,
                      size_t errlen);

/*
 * The console attach: a handle for the VM's UART, its buffered output from a cursor (lost:
 * bytes the ring overwrote before the reader got them) and input to it. A handle stays valid
 * until mgmt_console_alive says the VM is gone.
 */
int mgmt_console_open(const char *name, char *err, size_t errlen);    /* handle >= 0 */
bool mgmt_console_alive(int h);
size_t mgmt_console_read(int h, uint64_t *cursor, char *buf, size_t n, uint64_t *lost);
int mgmt_console_input(int h, uint8_t ch);

#endif
