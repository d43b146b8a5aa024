/* Platform reset: the FADT reset register, then the 0xCF9 and keyboard-controller fallbacks. */
#ifndef DRIVERS_RESET_H
#define DRIVERS_RESET_H

#include "drivers/acpi.h"

void __attribute__((noreturn)) reset_system(const struct acpi_info *ai);

#endif
