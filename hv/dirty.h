/*
 * Dirty logging: which guest pages were written since the last harvest.
 * One interface for every backend (write protection of the second-level
 * tables today; EPT A/D bits and PML are modes to add behind it). Harvest
 * hands back the bitmap, re-protects those pages and makes every vCPU drop
 * its cached translations before it runs again; pages are then read by the
 * caller after harvest returns, so no write is lost between rounds.
 */
#ifndef HV_DIRTY_H
#define HV_DIRTY_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/vm.h"

int vm_dirty_start(struct vm *vm);
/* Copies and clears the bitmap into out (vm->mem_size / 4 KiB bits); returns pages set. */
uint64_t vm_dirty_harvest(struct vm *vm, uint64_t *out);
void vm_dirty_stop(struct vm *vm);
/* From a backend's write fault: logs gpa and makes its page writable; false if it is not
 * logged RAM (then the fault is an MMIO access). The caller flushes its own translations. */
bool vm_dirty_fault(struct vm *vm, uint64_t gpa);
/* Every vCPU flushes its second-level TLB entries before its next entry (waits for running ones). */
int vm_flush_all(struct vm *vm);

#endif
