/* The control plane's loop; `vm console` attaches the serial console to a VM's UART. */
#ifndef HV_CONTROL_H
#define HV_CONTROL_H

#include <stdbool.h>

#include "hv/vm/vm.h"

void control_attach(struct vm *vm);
/* True while the BSP may print: not inside a command, a half-typed line or an attached VM. */
bool control_console_idle(void);

#endif
