/* Guest-physical to host addresses, the RAM the MMIO bus must avoid, and stopping a VM. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/log.h"
#include "hv/base/mem.h"
#include "hv/vm/sched.h"
#include "hv/vm/vm.h"

struct vm vms[VM_MAX];

void *vm_gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < vm->nchunks; i++) {
        const struct vm_mem_chunk *c = &vm->chunks[i];
        if (gpa >= c->gpa && len <= c->size && gpa - c->gpa <= c->size - len)
            return phys_to_virt(c->hpa + (gpa - c->gpa));
    }
    return NULL;
}

bool vm_ram_overlaps(void *ctx, enum bus_space sp, uint64_t base, uint64_t size)
{
    const struct vm *vm = ctx;
    if (sp != BUS_MMIO)
        return false;
    for (unsigned i = 0; i < vm->nchunks; i++) {
        const struct vm_mem_chunk *c = &vm->chunks[i];
        if (base < c->gpa + c->size && c->gpa < base + size)
            return true;
    }
    return false;
}

void vm_stop(struct vm *vm, const char *fmt, ...)
{
    char reason[sizeof(vm->stop_reason)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);

    spin_lock(&vm->lock);
    bool first = vm->state != VM_STOPPED;
    if (first) {
        vm->state = VM_STOPPED;
        memcpy(vm->stop_reason, reason, sizeof(reason));
    }
    spin_unlock(&vm->lock);
    if (first)
        log_err("vm", "vm %s stopped: %s", vm->name, reason);
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        __atomic_or_fetch(&vm->vcpus[i].request, VCPU_REQ_STOP, __ATOMIC_SEQ_CST);
        if (vm->vcpus[i].pcpu)
            sched_kick(vm->vcpus[i].pcpu);
    }
}
