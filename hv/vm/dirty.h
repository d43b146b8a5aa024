/*
 * Dirty logging: which guest pages were written since the last harvest. One
 * interface over every backend and mode (enum dirty_mode in hv/vm/vm.h):
 *  - WP: 4 KiB leaves of EPT/NPT write-protected; the first write to a page
 *    faults, is logged and let through; harvest protects those pages again.
 *  - AD: the CPU sets the leaf's dirty flag (EPT with A/D enabled in the EPTP,
 *    NPT always); harvest test-and-clears the flags.
 *  - PML (VT-x): the CPU also appends the GPA of each dirty-flag 0->1 change
 *    to a per-vCPU log, drained into the VM's bitmap at every exit; harvest
 *    clears the flags of the pages it reports so they are logged again.
 * Harvest hands back the bitmap only after every vCPU has dropped the cached
 * translations that could let a write past the logging, so the caller, who
 * reads the pages after harvest returns, never loses a write between rounds.
 */
#ifndef HV_DIRTY_H
#define HV_DIRTY_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/vm/vm.h"

#define DIRTY_MODE_BIT(m) (1u << (m))

const char *dirty_mode_name(enum dirty_mode m);     /* "auto", "wp", "ad", "pml" */
int dirty_mode_parse(const char *s, enum dirty_mode *m);
/* The modes the backend offers, as DIRTY_MODE_BIT()s (WP always). */
unsigned vm_dirty_modes(void);

/* Starts logging in mode (AUTO: PML > AD > WP); -ENOTSUP if mode is not offered, -EBUSY if
 * logging is on already, -ENOMEM. The mode used is in vm->dirty_mode. */
int vm_dirty_start(struct vm *vm, enum dirty_mode mode);
/* Copies and clears the bitmap into out (vm->mem_size / 4 KiB bits); returns pages set. */
uint64_t vm_dirty_harvest(struct vm *vm, uint64_t *out);
void vm_dirty_stop(struct vm *vm);
/* From a backend's write fault: logs gpa and makes its page writable; false if it is not
 * logged RAM (then the fault is an MMIO access). The caller flushes its own translations. */
bool vm_dirty_fault(struct vm *vm, uint64_t gpa);
/* Every vCPU flushes its second-level TLB entries (and, under PML, has drained its log at an
 * exit) before its next entry; waits for the ones in the guest. 0 or -ETIMEDOUT. */
int vm_flush_all(struct vm *vm);

#endif
