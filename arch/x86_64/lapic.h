/* Local APIC access in xAPIC (MMIO) or x2APIC (MSR) mode, whichever firmware left on. */
#ifndef ARCH_LAPIC_H
#define ARCH_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

void lapic_init(void);            /* per CPU: software-enable, spurious vector */
uint32_t lapic_id(void);
bool lapic_x2apic(void);
uint64_t lapic_base(void);
void lapic_eoi(void);
void lapic_send_ipi(uint32_t apic_id, uint32_t icr_low);
void lapic_wait_idle(void);

void lapic_timer_calibrate(void);     /* once, on the BSP */
void lapic_timer_oneshot(uint64_t us);
void lapic_timer_stop(void);

#define ICR_INIT    0x00000500u
#define ICR_STARTUP 0x00000600u
#define ICR_ASSERT  0x00004000u
#define ICR_LEVEL   0x00008000u

#endif
