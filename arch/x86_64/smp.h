/* Bringing up application processors and giving them work. */
#ifndef ARCH_SMP_H
#define ARCH_SMP_H

#include <stdint.h>

#include "boot/boot_info.h"

/* Boots every AP in cpus[1..cpu_count); returns how many came online. */
unsigned smp_boot_aps(const struct boot_info *bi, uint64_t cr3);
unsigned smp_online(void);
/* Runs fn(arg) on a parked AP; returns -EBUSY if it has work already. */
int smp_run_on(unsigned cpu, void (*fn)(void *), void *arg);

#endif
