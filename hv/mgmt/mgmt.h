/*
 * hv/mgmt/: the operations behind ferry's management interfaces. The serial console calls
 * them today and the network management API will call them the same way, so they return data
 * in plain C structs and never print. A failure is a negative errno and, where the caller
 * passes err, a one-line reason the console prints after "error: " unchanged. VMs are named by
 * string; an attached console holds a small integer handle (mgmt_vm.h). Everything here runs
 * on the control plane (the BSP's loop), one call at a time.
 */
#ifndef HV_MGMT_H
#define HV_MGMT_H

#include <stddef.h>
#include <stdint.h>

#define MGMT_ERR_MAX 512        /* room for a reason that quotes a whole command line */

/* "a.b.c.d" to a network-order address: 0 or -EINVAL. */
int mgmt_ip4_parse(const char *s, uint32_t *addr_be);

#endif
