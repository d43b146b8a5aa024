/* VM control for the console (and later the network control plane). */
#ifndef HV_VMCTL_H
#define HV_VMCTL_H

#include <stddef.h>
#include <stdint.h>

#include "hv/vm/vm.h"

struct vm_config {
    char name[VM_NAME_MAX];
    uint64_t mem_mib;
    unsigned cpus;
    int node;                   /* -1: placed by hv/vm/numa.c; else pinned */
    char image[48];
    char kernel[48];                    /* a Linux bzImage instead of image= (hv/vm/linux_boot.h) */
    char initrd[48];                    /* with kernel=: its initial ramdisk ("": none) */
    char modules[160];                  /* with a Multiboot kernel=: "A,B,..." ("": none) */
    char args[256];
    char cpu[16];                       /* CPU baseline: "host", "x86-64-v2", ... ("": host) */
    char disk[VM_DISK_MAX];             /* a disk image from \images\ or nbd://... (virtio-blk) */
    void *disk_net;                     /* nbd: a handle vm_disk_hooks()->open gave (taken) */
    uint64_t disk_sectors;              /* ...and its size; with disk_blank, a local disk's */
    bool disk_blank;                    /* disk= names a local disk made empty (all zero) here,
                                           of disk_sectors: an incoming storage=copy's */
    unsigned nnics;                     /* virtio-net NICs, each on a named virtual switch */
    struct { char sw[VM_SWITCH_MAX]; uint8_t mac[6]; } nics[VM_NICS_MAX];
    const struct cpu_policy *policy;    /* if set, used as is instead (an incoming migration's) */
};

/* Each returns 0, or a negative errno with a one-line reason in err. */
int vm_create(const struct vm_config *cfg, char *err, size_t errlen);
int vm_start(struct vm *vm, char *err, size_t errlen);
int vm_pause(struct vm *vm, char *err, size_t errlen);
int vm_resume(struct vm *vm, char *err, size_t errlen);
int vm_destroy(struct vm *vm, char *err, size_t errlen);
const char *vm_state_name(enum vm_state s);
/* "0", or "1+0" when the VM's memory spans nodes (the vCPUs' node first). */
void vm_nodes(const struct vm *vm, char *buf, size_t n);
int vm_save_vcpus(struct vm *vm);
/* storage=copy: the local disk's write log (hv/dev/vvirtio_blk.h, vvirtio_blk_log) on, or off
 * with NULL. 0, or -ENODEV (no local disk). */
int vm_disk_log(struct vm *vm, uint64_t *log);

/* This host's own CPU policy ("host": CPUID after the host rules, IA32_ARCH_CAPABILITIES). */
int vm_host_policy(struct cpu_policy *p);

#endif
