/*
 * The TSC is the host clock. It is calibrated once at boot against the ACPI
 * PM timer (3.579545 MHz, ACPI 6.4 sec. 4.8.3.3) when the FADT names one,
 * else against PIT channel 2 (1.193182 MHz) gated through port 0x61 — the
 * only reference Bochs + OVMF offer, having no ACPI.
 */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/tsc.h"
#include "hv/base/time.h"

#define PM_HZ  3579545ull
#define PIT_HZ 1193182ull
/* Long enough that the reads at either end (microseconds under emulation) cost < 0.01%:
 * hosts that a guest migrates between must agree on the rate of the same clock (a guest
 * watching its TSC against kvm-clock notices 0.05%). */
#define CAL_MS 100

static uint64_t tsc_khz = 1000000;   /* 1 GHz guess until calibrated */
static uint64_t tsc_boot;

static uint64_t cal_pm(uint16_t port, bool wide)
{
    uint32_t mask = wide ? 0xffffffffu : 0xffffffu;
    uint32_t ticks = PM_HZ * CAL_MS / 1000, elapsed = 0;
    uint32_t first = inl(port) & mask, last;
    uint64_t t0;
    /* Start and stop just as the counter moves, so both ends are measured alike. */
    for (unsigned i = 0; ((last = inl(port) & mask)) == first && i < 1000000; i++)
        ;
    t0 = rdtsc();
    while (elapsed < ticks) {
        uint32_t now = inl(port) & mask;
        elapsed += (now - last) & mask;
        last = now;
    }
    uint64_t t1 = rdtsc();
    return (t1 - t0) * PM_HZ / elapsed / 1000;
}

static uint64_t cal_pit(void)
{
    uint16_t count = PIT_HZ * CAL_MS / 1000;
    outb(0x61, (inb(0x61) & ~0x02) | 0x01);   /* gate on, speaker off */
    outb(0x43, 0xb0);                          /* ch2, lo/hi, mode 0 */
    outb(0x42, count & 0xff);
    outb(0x42, count >> 8);
    uint64_t t0 = rdtsc();
    /* OUT2 (bit 5) rises at terminal count; bound the wait for PIT-less boards. */
    for (uint64_t i = 0; !(inb(0x61) & 0x20); i++)
        if (i > 100000000ull)
            return 0;
    uint64_t t1 = rdtsc();
    return (t1 - t0) * PIT_HZ / count / 1000;
}

const char *tsc_calibrate(uint16_t pm_port, bool pm_32)
{
    const char *src = "pit";
    uint64_t khz = 0;
    tsc_boot = rdtsc();
    if (pm_port) {
        khz = cal_pm(pm_port, pm_32);
        src = "acpi pm timer";
    }
    if (!khz)
        khz = cal_pit();
    if (!khz) {
        src = "none (assumed 1 GHz)";
        khz = 1000000;
    }
    tsc_khz = khz;
    return src;
}

uint64_t time_tsc_khz(void) { return tsc_khz; }

uint64_t time_ns(void)
{
    if (!tsc_boot)
        return 0;
    uint64_t d = rdtsc() - tsc_boot;
    /* d * 1e6 / khz without overflowing for ~centuries at GHz rates */
    return d / tsc_khz * 1000000 + d % tsc_khz * 1000000 / tsc_khz;
}

static int64_t wall_s;
static uint64_t wall_tsc;

void time_set_wall(int64_t unix_s, uint64_t tsc)
{
    wall_s = unix_s;
    wall_tsc = tsc;
}

uint64_t time_wall_ns(void)
{
    if (wall_s <= 0)
        return 0;
    uint64_t d = rdtsc() - wall_tsc;
    return (uint64_t)wall_s * 1000000000u + d / tsc_khz * 1000000 + d % tsc_khz * 1000000 / tsc_khz;
}

void time_delay_us(uint64_t us)
{
    uint64_t end = rdtsc() + us * tsc_khz / 1000;
    while ((int64_t)(rdtsc() - end) < 0)
        cpu_relax();
}
