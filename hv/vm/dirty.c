#include <errno.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/slpt.h"
#include "hv/vm/dirty.h"
#include "hv/base/log.h"
#include "hv/base/mem.h"
#include "hv/vm/sched.h"
#include "hv/base/time.h"
#include "hv/vm/vcpu_ops.h"

#define FLUSH_TIMEOUT_NS 2000000000ull

static const char *const mode_names[DIRTY_MODE_COUNT] = {
    [DIRTY_AUTO] = "auto", [DIRTY_WP] = "wp", [DIRTY_AD] = "ad", [DIRTY_PML] = "pml",
};

const char *dirty_mode_name(enum dirty_mode m)
{
    return (unsigned)m < DIRTY_MODE_COUNT ? mode_names[m] : "?";
}

int dirty_mode_parse(const char *s, enum dirty_mode *m)
{
    for (unsigned i = 0; i < DIRTY_MODE_COUNT; i++)
        if (!strcmp(s, mode_names[i])) {
            *m = (enum dirty_mode)i;
            return 0;
        }
    return -EINVAL;
}

unsigned vm_dirty_modes(void)
{
    return DIRTY_MODE_BIT(DIRTY_WP) | (hv_ops->dirty_modes ? hv_ops->dirty_modes() : 0);
}

static uint64_t bitmap_pages(const struct vm *vm)
{
    uint64_t bits = vm->gfn_end + 64;               /* whole words past the last frame */
    return (bits / 8 + PAGE_SIZE - 1) / PAGE_SIZE;
}

int vm_flush_all(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        __atomic_store_n(&vm->vcpus[i].flush_req, 1, __ATOMIC_SEQ_CST);
        sched_kick(vm->vcpus[i].pcpu);
    }
    /* A vCPU out of the guest (paused, halted, never started) flushes at its next entry. */
    uint64_t end = time_ns() + FLUSH_TIMEOUT_NS;
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

static enum dirty_mode best_mode(unsigned offered)
{
    if (offered & DIRTY_MODE_BIT(DIRTY_PML))
        return DIRTY_PML;
    return offered & DIRTY_MODE_BIT(DIRTY_AD) ? DIRTY_AD : DIRTY_WP;
}

int vm_dirty_start(struct vm *vm, enum dirty_mode mode)
{
    unsigned offered = vm_dirty_modes();
    if (vm->dirty_on || vm->dirty_bitmap)
        return -EBUSY;
    if (mode == DIRTY_AUTO)
        mode = best_mode(offered);
    if ((unsigned)mode >= DIRTY_MODE_COUNT || !(offered & DIRTY_MODE_BIT(mode)))
        return -ENOTSUP;
    uint64_t pages = bitmap_pages(vm);
    uint64_t pa = frame_alloc(vm->node, pages, 1, FRAME_ZERO);
    if (!pa)
        return -ENOMEM;
    vm->dirty_bitmap = phys_to_virt(pa);
    vm->dirty_bitmap_pages = pages;
    vm->dirty_mode = mode;
    vm->dirty_resync = false;
    struct slpt t;
    hv_ops->vm_slpt(vm, &t);
    int rc;
    if (mode == DIRTY_WP) {
        __atomic_store_n(&vm->dirty_on, true, __ATOMIC_SEQ_CST);
        rc = slpt_protect_range(&t, 0, vm->gfn_end << 12, true);
    } else {
        /* D clear first: PML logs only 0->1 changes, and a D left from before is no news. */
        rc = slpt_clean_range(&t, 0, vm->gfn_end << 12);
        __atomic_store_n(&vm->dirty_on, true, __ATOMIC_SEQ_CST);
    }
    /* Backends switch A/D and PML on at each vCPU's next entry, with the flush. */
    if (!rc)
        rc = vm_flush_all(vm);
    if (rc) {
        vm_dirty_stop(vm);
        return rc;
    }
    log_info("dirty", "vm %s: logging writes to %llu pages (%s)", vm->name,
             (unsigned long long)(vm->mem_size / PAGE_SIZE), mode_names[mode]);
    return 0;
}

/* After the bitmap was taken: make each page in it log its next write again. */
static void rearm(struct vm *vm, const struct slpt *t, const uint64_t *out, uint64_t words)
{
    uint64_t clear = vm->dirty_mode == DIRTY_WP ? SLPT_W : t->dirty;
    for (uint64_t w = 0; w < words; w++)
        for (uint64_t bits = out[w]; bits; bits &= bits - 1) {
            uint64_t *leaf = slpt_leaf(t, (w * 64 + __builtin_ctzll(bits)) * PAGE_SIZE);
            if (leaf)
                __atomic_and_fetch(leaf, ~clear, __ATOMIC_RELEASE);
        }
}

/*
 * Order matters (docs/architecture.md, dirty logging): under PML every vCPU first passes an
 * exit, which drains its log into the bitmap; then the bitmap is taken; then the pages are
 * re-armed (W or D cleared; under AD the D flags are the record and are test-and-cleared);
 * then every vCPU flushes, so no cached translation lets a write past unlogged once this
 * returns. Writes that slip through before the flush land in pages reported now.
 */
uint64_t vm_dirty_harvest(struct vm *vm, uint64_t *out)
{
    uint64_t words = (vm->gfn_end + 63) / 64, n = 0;
    bool ok = true;
    struct slpt t;
    hv_ops->vm_slpt(vm, &t);
    if (vm->dirty_mode == DIRTY_PML)
        ok = !vm_flush_all(vm);
    for (uint64_t w = 0; w < words; w++)
        out[w] = __atomic_exchange_n(&vm->dirty_bitmap[w], 0, __ATOMIC_ACQ_REL);
    if (vm->dirty_mode == DIRTY_AD)
        slpt_harvest_dirty(&t, 0, vm->gfn_end << 12, out);
    else
        rearm(vm, &t, out, words);
    ok = !vm_flush_all(vm) && ok;
    /* A vCPU that did not flush may still write through stale translations: everything is
     * dirty now and at the next harvest whose flush completes. */
    if (!ok)
        log_err("dirty", "vm %s: a vCPU did not flush in time; reporting every page",
                vm->name);
    bool all = !ok || vm->dirty_resync;
    vm->dirty_resync = !ok;
    if (all) {
        for (uint64_t w = 0; w < words; w++)
            out[w] = ~0ull;
        if (vm->gfn_end % 64)
            out[words - 1] = (1ull << (vm->gfn_end % 64)) - 1;
        vm_bitmap_ram_only(vm, out);
    }
    for (uint64_t w = 0; w < words; w++)
        n += __builtin_popcountll(out[w]);
    return n;
}

void vm_dirty_stop(struct vm *vm)
{
    if (!vm->dirty_bitmap)
        return;
    /* Writable again first, then no more marking; the flush waits until no vCPU can still be
     * inside vm_dirty_fault or a PML drain (both end before its next entry), and switches
     * A/D and PML off; then the bitmap goes. */
    struct slpt t;
    hv_ops->vm_slpt(vm, &t);
    if (vm->dirty_mode == DIRTY_WP)
        slpt_protect_range(&t, 0, vm->gfn_end << 12, false);
    __atomic_store_n(&vm->dirty_on, false, __ATOMIC_SEQ_CST);
    if (vm_flush_all(vm))
        log_err("dirty", "vm %s: a vCPU did not flush in time; its bitmap is not reused",
                vm->name);
    else
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
    vm_dirty_log(vm, gpa);
    __atomic_or_fetch(leaf, SLPT_W, __ATOMIC_RELEASE);
    return true;
}
