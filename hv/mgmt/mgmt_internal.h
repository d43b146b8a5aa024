/* Shared by the files of hv/mgmt/ only: finding a VM the way every operation does. */
#ifndef HV_MGMT_INTERNAL_H
#define HV_MGMT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "hv/vm/vm.h"

/* The VM named name, or NULL with the reason in err: none by that name, or (unless busy_ok)
 * one the migration engine owns. *rc gets -ENOENT or -EBUSY. */
struct vm *mgmt_vm_get(const char *name, bool busy_ok, int *rc, char *err, size_t errlen);
/* Drops the dirty-check snapshot of a VM about to go away. */
void mgmt_dirty_forget(struct vm *vm);

#endif
