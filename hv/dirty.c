#include <errno.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "hv/dirty.h"
#include "hv/log.h"
#include "hv/mem.h"
#include "hv/sched.h"
#include "hv/time.h"
#include "hv/vcpu_ops.h"

static uint64_t bitmap_pages(const struct vm *vm)
{
    uint64_t bits = vm->mem_size / PAGE_SIZE;
    return (bits / 8 + PAGE_SIZE - 1) / PAGE_SIZE;
}

int vm_flush_all(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        __atomic_store_n(&vm->vcpus[i].flush_req, 1, __ATOMIC_SEQ_CST);
        sched_kick(vm->vcpus[i].pcpu);
    }
    /* A vCPU out of the guest (paused, halted, never started) flushes at its next entry. */
    uint64_t end = time_ns() + 2000000000ull;
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = &vm->vcpus[i];
        while (__atomic_load_n(&v->flush_req, __ATOMIC_ACQUIRE) && !v->paused && !v->halted &&
               !v->dead && v->created)
            if (time_ns() > end)
                return -ETIMEDOUT;
            else
                cpu_relax();
    }
    return 0;
}

int vm_dirty_start(struct vm *vm)
{
    if (vm->dirty_on)
        return -EBUSY;
    uint64_t pages = bitmap_pages(vm);
    uint64_t pa = frame_alloc(vm->node, pages, 1, FRAME_ZERO);
    if (!pa)
        return -ENOMEM;
    vm->dirty_bitmap = phys_to_virt(pa);
    vm->dirty_bitmap_pages = pages;
    __atomic_store_n(&vm->dirty_on, true, __ATOMIC_SEQ_CST);
    int rc = hv_ops->dirty_start(vm);
    if (!rc)
        rc = vm_flush_all(vm);
    if (rc) {
        vm_dirty_stop(vm);
        return rc;
    }
    log_info("dirty", "vm %s: logging writes to %llu pages", vm->name,
             (unsigned long long)(vm->mem_size / PAGE_SIZE));
    return 0;
}

uint64_t vm_dirty_harvest(struct vm *vm, uint64_t *out)
{
    uint64_t words = vm->mem_size / PAGE_SIZE / 64, n = 0;
    for (uint64_t w = 0; w < words; w++) {
        uint64_t bits = __atomic_exchange_n(&vm->dirty_bitmap[w], 0, __ATOMIC_ACQ_REL);
        out[w] = bits;
        n += __builtin_popcountll(bits);
        for (; bits; bits &= bits - 1)
            hv_ops->dirty_protect(vm, (w * 64 + __builtin_ctzll(bits)) * PAGE_SIZE);
    }
    vm_flush_all(vm);
    return n;
}

void vm_dirty_stop(struct vm *vm)
{
    if (!vm->dirty_bitmap)
        return;
    __atomic_store_n(&vm->dirty_on, false, __ATOMIC_SEQ_CST);
    hv_ops->dirty_stop(vm);
    vm_flush_all(vm);
    frame_free(virt_to_phys(vm->dirty_bitmap), vm->dirty_bitmap_pages);
    vm->dirty_bitmap = NULL;
}
