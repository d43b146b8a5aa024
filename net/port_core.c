/* The core's side of net/port.h: the TSC clock, RDRAND (or TSC mixing) and panic. */
#include "arch/x86_64/cpu.h"
#include "hv/base/log.h"
#include "hv/base/time.h"
#include "net/port.h"

uint64_t net_clock_ms(void)
{
    return time_ns() / 1000000;
}

uint32_t net_rand(void)
{
    static uint64_t state;
    static int have_rdrand = -1;
    if (have_rdrand < 0)
        have_rdrand = (cpuid(1, 0).ecx >> 30) & 1;
    if (have_rdrand) {
        uint32_t v;
        unsigned char ok;
        for (int i = 0; i < 10; i++) {
            __asm__ volatile("rdrand %0; setc %1" : "=r"(v), "=qm"(ok));
            if (ok)
                return v;
        }
    }
    /* splitmix64 over the TSC: not cryptographic, but TCP ISNs only need to be unpredictable-ish */
    uint64_t z = (state += 0x9e3779b97f4a7c15ull ^ rdtsc());
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)(z ^ (z >> 31));
}

void net_panic(const char *msg)
{
    panic("lwip: %s", msg);
}
