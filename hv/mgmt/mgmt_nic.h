/* Guest NICs on virtual switches (hv/mgmt/mgmt_nic.c): the hooks main.c gives hv/vm. */
#ifndef HV_MGMT_MGMT_NIC_H
#define HV_MGMT_MGMT_NIC_H

#include <stdint.h>

#include "hv/vm/vm.h"

#define MGMT_RARP_LEN 60            /* a minimum Ethernet frame (no FCS) */

extern const struct vm_net_hooks mgmt_nic_hooks;
/* The control loop's step: re-announces moved NICs on their schedule. */
void mgmt_nic_poll(void);
/* The RARP a moved NIC announces itself with (for tests). */
void mgmt_nic_rarp(const uint8_t mac[6], uint8_t frame[MGMT_RARP_LEN]);

#endif
