#include <errno.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/slpt.h"
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
    struct slpt t;
    hv_ops->vm_slpt(vm, &t);
    int rc = slpt_protect_range(&t, 0, vm->mem_size, true);
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
    struct slpt t;
    hv_ops->vm_slpt(vm, &t);
    for (uint64_t w = 0; w < words; w++) {
        uint64_t bits = __atomic_exchange_n(&vm->dirty_bitmap[w], 0, __ATOMIC_ACQ_REL);
        out[w] = bits;
        n += __builtin_popcountll(bits);
        for (; bits; bits &= bits - 1) {
            uint64_t *leaf = slpt_leaf(&t, (w * 64 + __builtin_ctzll(bits)) * PAGE_SIZE);
            if (leaf)
                __atomic_and_fetch(leaf, ~SLPT_W, __ATOMIC_RELEASE);
        }
    }
    vm_flush_all(vm);
    return n;
}

void vm_dirty_stop(struct vm *vm)
{
    if (!vm->dirty_bitmap)
        return;
    /* Writable again first, then no more marking; the flush waits until no vCPU can still be
     * inside vm_dirty_fault (it leaves it before its next entry), then the bitmap goes. */
    struct slpt t;
    hv_ops->vm_slpt(vm, &t);
    slpt_protect_range(&t, 0, vm->mem_size, false);
    __atomic_store_n(&vm->dirty_on, false, __ATOMIC_SEQ_CST);
    vm_flush_all(vm);
    frame_free(virt_to_phys(vm->dirty_bitmap), vm->dirty_bitmap_pages);
    vm->dirty_bitmap = NULL;
}

bool vm_dirty_fault(struct vm *vm, uint64_t gpa)
{
    struct slpt t;
    hv_ops->vm_slpt(vm, &t);
    uint64_t *leaf = slpt_leaf(&t, gpa);
    if (!leaf || !vm_gpa_to_hva(vm, gpa, 1))
        return false;                       /* not RAM: an MMIO access after all */
    /* A protected RAM page: logged while logging is on; while it is being switched off
     * (pages unprotected one by one) the write simply goes through. */
    if (__atomic_load_n(&vm->dirty_on, __ATOMIC_ACQUIRE))
        vm_dirty_mark(vm, gpa);
    __atomic_or_fetch(leaf, SLPT_W, __ATOMIC_RELEASE);
    return true;
}
