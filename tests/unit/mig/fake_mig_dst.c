/* See fake_mig_dst.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/fpu.h"
#include "fake_env.h"
#include "fake_mig_dst.h"
#include "hv/base/mem.h"
#include "hv/dev/machine.h"
#include "hv/mig/mig_devices.h"
#include "hv/mig/mig_int.h"
#include "hv/vm/intr.h"
#include "hv/vm/vcpu_ops.h"
#include "hv/vm/vmctl.h"
#include "net/vswitch.h"

struct vm vms[VM_MAX];
const struct vcpu_ops *hv_ops;
const struct dev_machine machine_ferry_min;
uint8_t *vm_ram[VM_MAX];
struct cpu_policy host_policy;
uint64_t page_lookups;
int start_fails;

int vm_host_policy(struct cpu_policy *p)
{
    *p = host_policy;
    return 0;
}

int vm_create(const struct vm_config *cfg, char *err, size_t errlen)
{
    unsigned i = 0;
    while (i < VM_MAX && vms[i].state != VM_EMPTY)
        i++;
    if (i == VM_MAX || cfg->mem_mib > 64) {
        snprintf(err, errlen, "no memory for %llu MiB", (unsigned long long)cfg->mem_mib);
        return -ENOMEM;
    }
    struct vm *vm = &vms[i];
    memset(vm, 0, sizeof(*vm));
    snprintf(vm->name, sizeof(vm->name), "%s", cfg->name);
    vm->state = VM_CREATED;
    vm->nvcpus = cfg->cpus;
    vm->mem_size = cfg->mem_mib << 20;
    vm->low_end = vm->mem_size;
    vm->gfn_end = vm->mem_size >> 12;
    vm->policy = *cfg->policy;
    vm_ram[i] = calloc(1, vm->mem_size);
    memset(vm_ram[i], 0xee, vm->mem_size);         /* a skeleton's memory is not known to be zero */
    for (unsigned k = 0; k < vm->nvcpus; k++) {
        vm->vcpus[k].vm = vm;
        vm->vcpus[k].index = k;
        vm->vcpus[k].xcr0 = 1;
        vm->vcpus[k].xsave = aligned_alloc(64, 4096);
        memset(vm->vcpus[k].xsave, 0, 4096);
    }
    if (cfg->disk_blank) {
        vm->disk_pages = (cfg->disk_sectors * 512 + 4095) / 4096;
        vm->disk_hpa = frame_alloc(0, vm->disk_pages, 1, FRAME_ZERO);
        vm->disk_sectors = cfg->disk_sectors;
        snprintf(vm->disk, sizeof(vm->disk), "%s", cfg->disk);
    }
    return 0;
}

int vm_destroy(struct vm *vm, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    unsigned i = (unsigned)(vm - vms);
    for (unsigned k = 0; k < vm->nvcpus; k++)
        free(vm->vcpus[k].xsave);
    if (vm->disk_pages)
        frame_free(vm->disk_hpa, vm->disk_pages);
    free(vm_ram[i]);
    vm_ram[i] = NULL;
    memset(vm, 0, sizeof(*vm));
    return 0;
}

int vm_start(struct vm *vm, char *err, size_t errlen)
{
    if (start_fails) {
        snprintf(err, errlen, "vm %s: no vCPU could be placed", vm->name);
        return -EIO;
    }
    vm->state = VM_RUNNING;
    return 0;
}

struct vm *vm_find(const char *name)
{
    for (unsigned i = 0; i < VM_MAX; i++)
        if (vms[i].state != VM_EMPTY && !strcmp(vms[i].name, name))
            return &vms[i];
    return NULL;
}

void *vm_gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len)
{
    page_lookups++;
    if (gpa >= vm->mem_size || len > vm->mem_size - gpa)
        return NULL;
    return vm_ram[vm - vms] + gpa;
}

void vm_nics_announce(struct vm *vm) { (void)vm; }
const struct vm_disk_hooks *vm_disk_hooks(void) { return NULL; }
void vcpu_init_loaded(struct vcpu *v) { (void)v; }
bool vsw_exists(const char *name) { return !strcmp(name, "lan"); }

/* An AVX-512 CPU's XSAVE layout (as tests/unit/arch/test_fpu_check.c). */
static const struct fpu_caps caps = {
    .supported = 0x2e7, .area_size = 2752, .mxcsr_mask = 0xffff,
    .comp_end = { [2] = 832, [5] = 1152, [6] = 1664, [7] = 2688, [9] = 2696 },
};
int fpu_area_check(const void *area, size_t n, uint64_t xcr0, char *why, size_t wn)
{
    return fpu_area_valid(&caps, area, n, xcr0, why, wn);
}
uint64_t fpu_xcr0_supported(void) { return caps.supported; }
size_t fpu_area_size(void) { return caps.area_size; }

/* The machine's devices are hv/dev's and tests/unit/mig/test_mig_devices.c's: none here. */
int mig_devices_known(const struct mig_hello *h, char *why, size_t n)
{
    (void)why, (void)n;
    return h->ndevices ? -EINVAL : 0;
}
int mig_devices_match(const struct dev_machine *m, const struct mig_hello *h, char *why, size_t n)
{
    (void)m, (void)h, (void)why, (void)n;
    return 0;
}
int mig_devices_stage(struct dev_set *s, const struct mig_record *r, char *why, size_t n)
{
    (void)s, (void)r;
    snprintf(why, n, "no devices here");
    return -EINVAL;
}
int mig_devices_commit(struct dev_set *s, char *why, size_t n)
{
    (void)s, (void)why, (void)n;
    return 0;
}

void mig_say(const char *fmt, ...) { (void)fmt; }
void mig_new_nonce(uint8_t out[32])
{
    for (unsigned i = 0; i < 32; i++)
        out[i] = (uint8_t)(0xd0 + i);
}

size_t mig_conn_write(struct mig_conn *c, const void *data, size_t n)
{
    if (c->closed)
        abort();                            /* the engine wrote to a connection it closed */
    if (c->out_len + n > sizeof(c->out))    /* the test reads faster than this fills */
        c->out_len = 0;
    memcpy(c->out + c->out_len, data, n);
    c->out_len += n;
    return n;
}
void mig_conn_close(struct mig_conn *c) { c->closed = true; }
uint32_t mig_conn_peer(const struct mig_conn *c) { return c->peer; }
const char *mig_conn_peer_name(const struct mig_conn *c) { return c ? c->name : NULL; }
size_t mig_conn_received(const struct mig_conn *c) { return c ? c->received : 0; }

