/* VM operations over hv/vm/vmctl.h: create, list, state changes, stats, the console attach. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/mem.h"
#include "hv/base/time.h"
#include "hv/dev/dev_ids.h"
#include "hv/dev/vuart.h"
#include "hv/mgmt/mgmt_internal.h"
#include "hv/mgmt/mgmt_vm.h"
#include "hv/vm/dirty.h"
#include "hv/vm/intr.h"
#include "hv/vm/vmctl.h"
#include "net/port.h"

_Static_assert(MGMT_VM_NAME_MAX == VM_NAME_MAX, "VM name sizes differ");
_Static_assert(MGMT_VM_MAX_VCPUS == VM_MAX_VCPUS, "vCPU limits differ");
_Static_assert(EXIT_COUNT <= MGMT_EXIT_MAX, "mgmt_vm_stats has too few exit slots");
_Static_assert(sizeof(((struct vm_config *)0)->image) ==
               sizeof(((struct mgmt_vm_create_args *)0)->image), "image sizes differ");
_Static_assert(sizeof(((struct vm_config *)0)->kernel) ==
               sizeof(((struct mgmt_vm_create_args *)0)->kernel), "kernel sizes differ");
_Static_assert(sizeof(((struct vm_config *)0)->initrd) ==
               sizeof(((struct mgmt_vm_create_args *)0)->initrd), "initrd sizes differ");
_Static_assert(sizeof(((struct vm_config *)0)->modules) ==
               sizeof(((struct mgmt_vm_create_args *)0)->modules), "modules sizes differ");
_Static_assert(sizeof(((struct vm_config *)0)->args) ==
               sizeof(((struct mgmt_vm_create_args *)0)->args), "args sizes differ");
_Static_assert(sizeof(((struct vm_config *)0)->cpu) ==
               sizeof(((struct mgmt_vm_create_args *)0)->cpu), "cpu sizes differ");

static const char *const exit_names[EXIT_COUNT] = {
    [EXIT_NONE] = "none", [EXIT_CPUID] = "cpuid", [EXIT_IO] = "io", [EXIT_MMIO] = "mmio",
    [EXIT_MSR_READ] = "rdmsr", [EXIT_MSR_WRITE] = "wrmsr", [EXIT_HLT] = "hlt",
    [EXIT_XSETBV] = "xsetbv", [EXIT_CR] = "cr", [EXIT_EXTINT] = "extint",
    [EXIT_PREEMPT] = "timeslice", [EXIT_SHUTDOWN] = "shutdown", [EXIT_EXCEPTION] = "exception",
    [EXIT_ENTRY_FAIL] = "entry-fail", [EXIT_UNHANDLED] = "unhandled",
    [EXIT_INVALID_INSN] = "invalid-insn", [EXIT_NOP] = "nop", [EXIT_DIRTY] = "dirty",
    [EXIT_HYPERCALL] = "hypercall", [EXIT_INTR_WINDOW] = "intr-window",
};

struct vm *mgmt_vm_get(const char *name, bool busy_ok, int *rc, char *err, size_t errlen)
{
    struct vm *vm = vm_find(name);
    if (!vm) {
        snprintf(err, errlen, "no VM named '%s'", name);
        *rc = -ENOENT;
        return NULL;
    }
    if (vm->migration != VM_MIG_NONE && !busy_ok) {
        snprintf(err, errlen, "vm %s is migrating %s%s", vm->name,
                 vm->migration == VM_MIG_OUT ? "out (migrate cancel " : "in",
                 vm->migration == VM_MIG_OUT ? "it first)" : "");
        *rc = -EBUSY;
        return NULL;
    }
    *rc = 0;
    return vm;
}

int mgmt_vm_check(const char *name, bool busy_ok, char *err, size_t errlen)
{
    int rc;
    mgmt_vm_get(name, busy_ok, &rc, err, errlen);
    return rc;
}

int mgmt_vm_create(const struct mgmt_vm_create_args *a, char *err, size_t errlen)
{
    struct vm_config cfg;
    int rc = mgmt_vm_create_check(a, frame_nodes(), err, errlen);
    if (rc)
        return rc;
    memset(&cfg, 0, sizeof(cfg));
    strcpy(cfg.name, a->name);
    cfg.mem_mib = a->mem_mib;
    cfg.cpus = a->cpus;
    cfg.node = a->node;
    strcpy(cfg.image, a->image);
    strcpy(cfg.kernel, a->kernel);
    strcpy(cfg.initrd, a->initrd);
    strcpy(cfg.modules, a->modules);
    strcpy(cfg.args, a->args);
    strcpy(cfg.cpu, a->cpu);
    strcpy(cfg.disk, a->disk);
    _Static_assert(MGMT_SWITCH_NAME_MAX == VM_SWITCH_MAX && MGMT_VM_NICS_MAX == VM_NICS_MAX,
                   "NIC limits differ");
    cfg.nnics = a->nnics;
    for (unsigned i = 0; i < a->nnics; i++) {
        strcpy(cfg.nics[i].sw, a->nics[i].sw);
        if (a->nics[i].mac_set) {
            memcpy(cfg.nics[i].mac, a->nics[i].mac, 6);
        } else {
            /* Locally administered, unicast: 02:fe and four random bytes. */
            uint32_t r = net_rand();
            uint8_t mac[6] = { 0x02, 0xfe, (uint8_t)(r >> 24), (uint8_t)(r >> 16),
                               (uint8_t)(r >> 8), (uint8_t)r };
            memcpy(cfg.nics[i].mac, mac, 6);
        }
    }
    return vm_create(&cfg, err, errlen);
}

unsigned mgmt_vm_list(struct mgmt_vm_info *out, unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < VM_MAX && n < max; i++) {
        const struct vm *vm = &vms[i];
        struct mgmt_vm_info *o = &out[n];
        if (vm->state == VM_EMPTY)
            continue;
        memset(o, 0, sizeof(*o));
        strcpy(o->name, vm->name);
        o->state = vm_state_name(vm->state);
        o->mem_mib = vm->mem_size >> 20;
        o->nvcpus = vm->nvcpus;
        vm_nodes(vm, o->nodes, sizeof(o->nodes));
        for (unsigned j = 0; j < vm->nvcpus; j++)
            o->pcpus[j] = vm->vcpus[j].pcpu;
        n++;
    }
    return n;
}

int mgmt_vm_devices(const char *name, struct mgmt_dev_info *out, unsigned max, char *err,
                    size_t errlen)
{
    int rc;
    struct vm *vm = mgmt_vm_get(name, true, &rc, err, errlen);
    if (!vm)
        return rc;
    unsigned n = 0;
    for (; n < vm->devs.ndevs && n < max; n++) {
        const struct device *d = vm->devs.devs[n];
        struct mgmt_dev_info *o = &out[n];
        size_t len = 0;
        dev_label(d, o->label, sizeof(o->label));
        o->version = d->type->version;
        o->ranges[0] = 0;
        o->state[0] = 0;
        if (d->type->show) {
            spin_lock(&vm->devs.lock);
            d->type->show(d, o->state, sizeof(o->state));
            spin_unlock(&vm->devs.lock);
        }
        /* A network disk: its connection too (state, counters). */
        size_t sl = strlen(o->state);
        if (d->type->id == DEV_ID_VIRTIO_BLK && vm->disk_net && vm_disk_hooks() &&
            sl + 3 < sizeof(o->state)) {
            memcpy(o->state + sl, "; ", 3);
            vm_disk_hooks()->describe(vm->disk_net, o->state + sl + 2, sizeof(o->state) - sl - 2);
        }
        for (unsigned sp = 0; sp < BUS_SPACES; sp++)
            for (unsigned i = 0; i < vm->devs.bus.n[sp] && len < sizeof(o->ranges); i++) {
                const struct bus_range *r = &vm->devs.bus.r[sp][i];
                if (r->owner != d)
                    continue;
                len += (size_t)snprintf(o->ranges + len, sizeof(o->ranges) - len,
                                        "%s%s 0x%llx-0x%llx", len ? ", " : "",
                                        sp == BUS_PIO ? "io" : sp == BUS_MSR ? "msr" : "mmio",
                                        (unsigned long long)r->base,
                                        (unsigned long long)(r->base + r->size - 1));
            }
    }
    return (int)n;
}

bool mgmt_vm_event(char *buf, size_t n)
{
    char name[VM_NAME_MAX];
    uint32_t code;
    bool off;
    if (vm_reset_event(buf, n))
        return true;
    if (!vm_exit_event(name, sizeof(name), &code, &off))
        return false;
    if (off)
        snprintf(buf, n, "vm: %s powered off", name);
    else
        snprintf(buf, n, "vm: %s exited code=%u", name, code);
    return true;
}

int mgmt_vm_start(const char *name, char *err, size_t errlen)
{
    int rc;
    struct vm *vm = mgmt_vm_get(name, false, &rc, err, errlen);
    return vm ? vm_start(vm, err, errlen) : rc;
}

int mgmt_vm_pause(const char *name, char *err, size_t errlen)
{
    int rc;
    struct vm *vm = mgmt_vm_get(name, false, &rc, err, errlen);
    return vm ? vm_pause(vm, err, errlen) : rc;
}

int mgmt_vm_resume(const char *name, char *err, size_t errlen)
{
    int rc;
    struct vm *vm = mgmt_vm_get(name, false, &rc, err, errlen);
    return vm ? vm_resume(vm, err, errlen) : rc;
}

int mgmt_vm_destroy(const char *name, char *err, size_t errlen)
{
    int rc;
    struct vm *vm = mgmt_vm_get(name, false, &rc, err, errlen);
    if (!vm)
        return rc;
    mgmt_dirty_forget(vm);
    return vm_destroy(vm, err, errlen);
}

/* Pages that are not all zeros: what a migration must send at least. */
static uint64_t nonzero_pages(struct vm *vm)
{
    uint64_t nonzero = 0;
    for (uint64_t p = 0; p < vm->gfn_end; p++) {
        const uint64_t *page = (const uint64_t *)vm_page(vm, p);   /* NULL: the PC hole */
        for (unsigned w = 0; page && w < PAGE_SIZE / 8; w++)
            if (page[w]) {
                nonzero++;
                break;
            }
    }
    return nonzero;
}

int mgmt_vm_stats(const char *name, struct mgmt_vm_stats *out, char *err, size_t errlen)
{
    uint64_t total[EXIT_COUNT] = { 0 }, ticks = 0;
    int rc;
    struct vm *vm = mgmt_vm_get(name, true, &rc, err, errlen);
    if (!vm)
        return rc;
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        for (unsigned r = 0; r < EXIT_COUNT; r++)
            total[r] += vm->vcpus[i].exits[r];
        ticks += vm->vcpus[i].guest_tsc_ticks;
        out->entries += vm->vcpus[i].entries;
    }
    strcpy(out->name, vm->name);
    out->state = vm_state_name(vm->state);
    out->guest_ms = ticks / (time_tsc_khz() ? time_tsc_khz() : 1);
    for (unsigned r = 1; r < EXIT_COUNT; r++)
        if (total[r]) {
            out->exits[out->nexits].reason = exit_names[r];
            out->exits[out->nexits++].count = total[r];
        }
    out->dirty_used = vm->dirty_mode != DIRTY_AUTO;
    out->dirty_mode = dirty_mode_name(vm->dirty_mode);
    out->dirty_on = vm->dirty_on;
    out->stopped = vm->state == VM_STOPPED;
    if (out->stopped)
        snprintf(out->stop_reason, sizeof(out->stop_reason), "%s", vm->stop_reason);
    out->pages = vm->mem_size / PAGE_SIZE;
    out->nonzero_pages = nonzero_pages(vm);
    return 0;
}

/* The attach: a handle is the VM's slot. Kept trivial, to re-point at the UART's new home. */
int mgmt_console_open(const char *name, char *err, size_t errlen)
{
    int rc;
    struct vm *vm = mgmt_vm_get(name, true, &rc, err, errlen);
    return vm ? (int)(vm - vms) : rc;
}

bool mgmt_console_alive(int h)
{
    return h >= 0 && h < VM_MAX && vms[h].state != VM_EMPTY && vm_console_uart(&vms[h]);
}

size_t mgmt_console_read(int h, uint64_t *cursor, char *buf, size_t n, uint64_t *lost)
{
    return uart_dev_read_output(vm_console_uart(&vms[h]), cursor, buf, n, lost);
}

int mgmt_console_input(int h, uint8_t ch)
{
    return vm_console_input(&vms[h], ch);
}
