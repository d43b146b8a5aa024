/* The host clock: nanoseconds since boot from the calibrated TSC (arch/). */
#ifndef HV_TIME_H
#define HV_TIME_H

#include <stdint.h>

uint64_t time_ns(void);
/* The host's wall clock: ns since 1970-01-01 UTC, from the firmware's clock at boot (0 if it
 * had none) advanced by the TSC. */
uint64_t time_wall_ns(void);
void time_set_wall(int64_t unix_s, uint64_t tsc);
uint64_t time_tsc_khz(void);
void time_delay_us(uint64_t us);

#endif
