/* The host clock: nanoseconds since boot from the calibrated TSC (arch/). */
#ifndef HV_TIME_H
#define HV_TIME_H

#include <stdint.h>

uint64_t time_ns(void);
uint64_t time_tsc_khz(void);
void time_delay_us(uint64_t us);

#endif
