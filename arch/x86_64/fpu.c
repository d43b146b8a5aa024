#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/fpu.h"
#include "hv/vm.h"

static size_t area_size;
static uint64_t supported;

void fpu_set_xcr0(uint64_t v)
{
    __asm__ volatile("xsetbv" :: "c"(0), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static uint64_t get_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

void fpu_cpu_init(void)
{
    if (!(cpuid(1, 0).ecx & (1u << 26)) || !(read_cr4() & (1ul << 18)))
        return;
    struct cpuid_regs r = cpuid(0xd, 0);
    supported = ((uint64_t)r.edx << 32) | r.eax;
    area_size = (r.ecx + 63) & ~63ul;
}

size_t fpu_area_size(void) { return area_size; }
uint64_t fpu_xcr0_supported(void) { return supported; }

void fpu_area_init(void *area)
{
    memset(area, 0, area_size);
    *(uint16_t *)area = 0x37f;                     /* FCW after FNINIT */
    *(uint32_t *)((uint8_t *)area + 24) = 0x1f80;  /* MXCSR reset value */
}

void fpu_put(struct vcpu *v)
{
    if (!area_size || !v->xsave)
        return;
    v->xcr0 = get_xcr0();
    fpu_set_xcr0(supported);
    __asm__ volatile("xsave64 %0" : "+m"(*(uint8_t (*)[area_size])v->xsave)
                     : "a"(~0u), "d"(~0u) : "memory");
}

void fpu_load(struct vcpu *v)
{
    if (!area_size || !v->xsave)
        return;
    fpu_set_xcr0(supported);
    __asm__ volatile("xrstor64 %0" :: "m"(*(uint8_t (*)[area_size])v->xsave),
                     "a"(~0u), "d"(~0u) : "memory");
    fpu_set_xcr0(v->xcr0 ? v->xcr0 : 1);
}
