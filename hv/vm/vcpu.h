/* Generic VM-exit handling and the state-record log. */
#ifndef HV_VCPU_H
#define HV_VCPU_H

#include <stdbool.h>

#include "hv/vm/vm.h"

bool vcpu_handle_exit(struct vcpu *v, struct hv_exit *ex);
void vcpu_inject_gp(struct vcpu *v);

#endif
