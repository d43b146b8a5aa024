/* Guest-physical to host addresses, device registration, and stopping a VM. */
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

int vm_register_io(struct vm *vm, uint16_t base, uint16_t count, io_handler_fn fn, void *dev)
{
    if (vm->nio == VM_MAX_IO || count == 0 || (uint32_t)base + count > 0x10000)
        return -ENOSPC;
    vm->io[vm->nio++] = (struct vm_io){ base, count, fn, dev };
    return 0;
}

int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t size, mmio_handler_fn fn, void *dev)
{
    if (vm->nmmio == VM_MAX_MMIO || size == 0 || vm_gpa_to_hva(vm, base, 1))
        return -ENOSPC;
    vm->mmio[vm->nmmio++] = (struct vm_mmio){ base, size, fn, dev };
    return 0;
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
