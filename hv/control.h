/* The control plane's loop; `vm console` attaches the serial console to a VM's UART. */
#ifndef HV_CONTROL_H
#define HV_CONTROL_H

#include "hv/vm.h"

void control_attach(struct vm *vm);

#endif
