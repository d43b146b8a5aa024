/*
 * `vm dirty NAME start [wp|ad|pml]|verify|stop`: dirty logging with a built-in oracle. start
 * snapshots guest RAM (the best mode unless one is named). verify does what a migration does
 * with the snapshot as its copy: a round while the guest runs (harvest, copy the reported
 * pages), then pause and a last round; then the copy must equal RAM. A page that differs was
 * written without being reported in time: missed (must be 0; extra dirty pages are allowed).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/mem.h"
#include "hv/mgmt/mgmt.h"
#include "hv/mgmt/mgmt_internal.h"
#include "hv/mgmt/mgmt_vm.h"
#include "hv/vm/dirty.h"
#include "hv/vm/vmctl.h"

_Static_assert(MGMT_DIRTY_AUTO == (int)DIRTY_AUTO && MGMT_DIRTY_WP == (int)DIRTY_WP &&
               MGMT_DIRTY_AD == (int)DIRTY_AD && MGMT_DIRTY_PML == (int)DIRTY_PML,
               "mgmt's dirty modes are hv/vm's");

static uint8_t *snapshots[VM_MAX];

void mgmt_dirty_forget(struct vm *vm)
{
    uint8_t **s = &snapshots[vm - vms];
    if (*s)
        frame_free(virt_to_phys(*s), vm->mem_size / PAGE_SIZE);
    *s = NULL;
}

/* Copies the pages set in bits from RAM into the snapshot; marks them in seen, and in diff
 * those whose copy was out of date. */
static void dirty_take(struct vm *vm, uint8_t *snap, const uint64_t *bits, uint64_t *seen,
                       uint64_t *diff)
{
    for (uint64_t w = 0; w < vm->mem_size / PAGE_SIZE / 64; w++) {
        seen[w] |= bits[w];
        for (uint64_t b = bits[w]; b; b &= b - 1) {
            uint64_t p = w * 64 + __builtin_ctzll(b), off = p * PAGE_SIZE;
            if (!memcmp(vm_page(vm, p), snap + off, PAGE_SIZE))
                continue;
            memcpy(snap + off, vm_page(vm, p), PAGE_SIZE);
            diff[w] |= 1ull << (p % 64);
        }
    }
}

static uint64_t popcount(const uint64_t *bits, uint64_t words)
{
    uint64_t n = 0;
    for (uint64_t w = 0; w < words; w++)
        n += __builtin_popcountll(bits[w]);
    return n;
}

static int verify(struct vm *vm, uint8_t *snap, struct mgmt_dirty_report *r, char *err,
                  size_t errlen)
{
    uint64_t pages = vm->mem_size / PAGE_SIZE, words = pages / 64, missed = 0;
    uint64_t frames = (3 * words * 8 + PAGE_SIZE - 1) / PAGE_SIZE;
    uint64_t pa = frame_alloc(vm->node, frames, 1, FRAME_ZERO);
    bool was_running = vm->state == VM_RUNNING;
    if (!pa) {
        snprintf(err, errlen, "no memory for the dirty check");
        return -ENOMEM;
    }
    uint64_t *bits = phys_to_virt(pa), *seen = bits + words, *diff = seen + words;
    if (was_running) {                  /* the guest writes on while its pages are copied */
        vm_dirty_harvest(vm, bits);
        dirty_take(vm, snap, bits, seen, diff);
        if (vm_pause(vm, err, errlen)) {
            frame_free(pa, frames);
            return -EIO;
        }
    }
    vm_dirty_harvest(vm, bits);
    dirty_take(vm, snap, bits, seen, diff);
    for (uint64_t p = 0; p < pages; p++) {
        if (!memcmp(vm_page(vm, p), snap + p * PAGE_SIZE, PAGE_SIZE))
            continue;
        missed++;
        diff[p / 64] |= 1ull << (p % 64);
        memcpy(snap + p * PAGE_SIZE, vm_page(vm, p), PAGE_SIZE);
    }
    r->pages = pages;
    r->changed = popcount(diff, words);
    r->dirty = popcount(seen, words);
    r->missed = missed;
    if (was_running) {
        char ignored[MGMT_ERR_MAX];
        vm_resume(vm, ignored, sizeof(ignored));
    }
    frame_free(pa, frames);
    return 0;
}

/* Starts logging in mode and snapshots RAM (the VM is paused). */
static int start(struct vm *vm, enum dirty_mode mode, char *err, size_t errlen)
{
    uint64_t pa = frame_alloc(vm->node, vm->mem_size / PAGE_SIZE, 1, 0);
    int rc = pa ? vm_dirty_start(vm, mode) : -ENOMEM;
    if (rc) {
        if (pa)
            frame_free(pa, vm->mem_size / PAGE_SIZE);
        if (rc == -ENOTSUP) {
            unsigned m = vm_dirty_modes();
            snprintf(err, errlen, "dirty mode '%s' is not available on this CPU (offered:%s%s%s)",
                     dirty_mode_name(mode), m & DIRTY_MODE_BIT(DIRTY_WP) ? " wp" : "",
                     m & DIRTY_MODE_BIT(DIRTY_AD) ? " ad" : "",
                     m & DIRTY_MODE_BIT(DIRTY_PML) ? " pml" : "");
        } else {
            snprintf(err, errlen, "cannot start dirty logging (%d)", rc);
        }
        return rc;
    }
    snapshots[vm - vms] = phys_to_virt(pa);
    for (uint64_t p = 0; p < vm->mem_size / PAGE_SIZE; p++)
        memcpy(snapshots[vm - vms] + p * PAGE_SIZE, vm_page(vm, p), PAGE_SIZE);
    return 0;
}

/* The VM, if it exists and no migration owns its dirty log. */
static struct vm *get(const char *name, int *rc, char *err, size_t errlen)
{
    struct vm *vm = mgmt_vm_get(name, true, rc, err, errlen);
    if (vm && vm->migration != VM_MIG_NONE) {
        snprintf(err, errlen, "vm %s is migrating; its dirty log belongs to the migration",
                 vm->name);
        *rc = -EBUSY;
        return NULL;
    }
    if (vm && vm->mem_size > VM_LOW_RAM_END) {
        snprintf(err, errlen, "the dirty-logging check takes VMs of at most %llu MiB (no hole in "
                 "their RAM)", (unsigned long long)(VM_LOW_RAM_END >> 20));
        *rc = -EINVAL;
        return NULL;
    }
    return vm;
}

/* Logging must be off to start and on to verify; a stopped VM does neither. */
static int check_state(struct vm *vm, bool want_on, char *err, size_t errlen)
{
    if (!vm->dirty_on == !want_on && vm->state != VM_STOPPED)
        return 0;
    snprintf(err, errlen, "dirty logging is %s for vm %s", vm->dirty_on ? "on" : "off",
             vm->name);
    return -EINVAL;
}

int mgmt_dirty_check(const char *name, char *err, size_t errlen)
{
    int rc;
    get(name, &rc, err, errlen);
    return rc;
}

int mgmt_dirty_start(const char *name, enum mgmt_dirty_mode mode, const char **mode_used,
                     char *err, size_t errlen)
{
    int rc;
    struct vm *vm = get(name, &rc, err, errlen);
    if (!vm)
        return rc;
    if ((rc = check_state(vm, false, err, errlen)))
        return rc;
    bool was_running = vm->state == VM_RUNNING;
    if (was_running && vm_pause(vm, err, errlen))
        return -EIO;
    rc = start(vm, (enum dirty_mode)mode, err, errlen);
    if (was_running) {
        char ignored[MGMT_ERR_MAX];
        vm_resume(vm, ignored, sizeof(ignored));
    }
    if (!rc)
        *mode_used = dirty_mode_name(vm->dirty_mode);
    return rc;
}

int mgmt_dirty_verify(const char *name, struct mgmt_dirty_report *r, char *err, size_t errlen)
{
    int rc;
    struct vm *vm = get(name, &rc, err, errlen);
    if (!vm)
        return rc;
    if ((rc = check_state(vm, true, err, errlen)))
        return rc;
    return verify(vm, snapshots[vm - vms], r, err, errlen);
}

int mgmt_dirty_stop(const char *name, char *err, size_t errlen)
{
    int rc;
    struct vm *vm = get(name, &rc, err, errlen);
    if (!vm)
        return rc;
    vm_dirty_stop(vm);
    mgmt_dirty_forget(vm);
    return 0;
}
