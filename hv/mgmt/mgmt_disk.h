/* Guest disks on NBD storage (hv/mgmt/mgmt_disk.c): the hooks main.c gives hv/vm. */
#ifndef HV_MGMT_MGMT_DISK_H
#define HV_MGMT_MGMT_DISK_H

#include "hv/vm/vm.h"

extern const struct vm_disk_hooks mgmt_disk_hooks;

#endif
