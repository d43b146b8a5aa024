/* TSC calibration (arch side of hv/base/time.h). */
#ifndef ARCH_TSC_H
#define ARCH_TSC_H

#include <stdbool.h>
#include <stdint.h>

/* pm_tmr_port 0: no ACPI PM timer, use the PIT. Returns the source name. */
const char *tsc_calibrate(uint16_t pm_tmr_port, bool pm_tmr_32bit);

#endif
