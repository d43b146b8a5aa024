/* The control plane's loop; `vm console` attaches the serial console to a VM's UART. */
#ifndef HV_CONTROL_H
#define HV_CONTROL_H

#include <stdbool.h>

/* h: a handle from mgmt_console_open. */
void control_attach(int h);
/* True while the BSP may print: not inside a command, a half-typed line or an attached VM. */
bool control_console_idle(void);
/* The BSP's endless loop: the serial console, migrations, the network stack. */
void hv_control_loop(void) __attribute__((noreturn));

#endif
