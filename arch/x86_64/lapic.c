/*
 * Local APIC (SDM vol. 3, ch. 11). xAPIC registers sit at IA32_APIC_BASE in
 * the direct map (firmware MTRRs make that range uncacheable); in x2APIC
 * mode register r is MSR 0x800 + r/16 and the ICR is one 64-bit write.
 */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/trap.h"
#include "hv/base/log.h"
#include "hv/base/mem.h"
#include "hv/base/time.h"

#define APIC_ID   0x020
#define APIC_EOI  0x0b0
#define APIC_SVR  0x0f0
#define APIC_ICRL 0x300
#define APIC_ICRH 0x310
#define APIC_BASE_X2APIC (1ull << 10)
#define ICR_PENDING (1u << 12)

static volatile uint32_t *mmio(unsigned reg)
{
    return (volatile uint32_t *)phys_to_virt(lapic_base() + reg);
}

uint64_t lapic_base(void)
{
    return rdmsr(MSR_IA32_APIC_BASE) & 0xffffff000ull;
}

bool lapic_x2apic(void)
{
    return rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_X2APIC;
}

static uint32_t lapic_read(unsigned reg)
{
    if (lapic_x2apic())
        return (uint32_t)rdmsr(0x800 + reg / 16);
    return *mmio(reg);
}

static void lapic_write(unsigned reg, uint32_t v)
{
    if (lapic_x2apic())
        wrmsr(0x800 + reg / 16, v);
    else
        *mmio(reg) = v;
}

void lapic_init(void)
{
    lapic_write(APIC_SVR, 0x100 | VEC_SPURIOUS);
}

uint32_t lapic_id(void)
{
    uint32_t id = lapic_read(APIC_ID);
    return lapic_x2apic() ? id : id >> 24;
}

void lapic_eoi(void)
{
    lapic_write(APIC_EOI, 0);
}

void lapic_wait_idle(void)
{
    if (lapic_x2apic())
        return;     /* x2APIC ICR writes have no delivery-status bit */
    while (*mmio(APIC_ICRL) & ICR_PENDING)
        cpu_relax();
}

void lapic_send_ipi(uint32_t apic_id, uint32_t icr_low)
{
    if (lapic_x2apic()) {
        wrmsr(0x830, ((uint64_t)apic_id << 32) | icr_low);
        return;
    }
    lapic_wait_idle();
    *mmio(APIC_ICRH) = apic_id << 24;
    *mmio(APIC_ICRL) = icr_low;
    lapic_wait_idle();
}

/*
 * The local APIC timer as a time-slice source (SVM has no preemption timer):
 * one-shot, divide by 16, calibrated once against the TSC.
 */
#define APIC_LVT_TIMER 0x320
#define APIC_TIMER_ICR 0x380
#define APIC_TIMER_CCR 0x390
#define APIC_TIMER_DCR 0x3e0

static uint64_t timer_ticks_per_ms;

void lapic_timer_calibrate(void)
{
    lapic_write(APIC_TIMER_DCR, 0x3);               /* divide by 16 */
    lapic_write(APIC_LVT_TIMER, (1u << 16) | VEC_TIMER);  /* masked while we measure */
    lapic_write(APIC_TIMER_ICR, 0xffffffffu);
    time_delay_us(10000);
    uint32_t left = lapic_read(APIC_TIMER_CCR);
    lapic_write(APIC_TIMER_ICR, 0);
    timer_ticks_per_ms = (0xffffffffull - left) / 10;
    log_info("apic", "timer: %llu ticks per ms", (unsigned long long)timer_ticks_per_ms);
}

void lapic_timer_oneshot(uint64_t us)
{
    uint64_t ticks = timer_ticks_per_ms * us / 1000;
    lapic_write(APIC_TIMER_DCR, 0x3);
    lapic_write(APIC_LVT_TIMER, VEC_TIMER);
    lapic_write(APIC_TIMER_ICR, ticks > 0xffffffffu ? 0xffffffffu : ticks ? (uint32_t)ticks : 1);
}

void lapic_timer_stop(void)
{
    lapic_write(APIC_TIMER_ICR, 0);
}
