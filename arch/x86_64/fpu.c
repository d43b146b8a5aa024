#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/fpu.h"

#define XSAVE_LEGACY_AND_HEADER 576         /* 512 legacy + 64 header; AVX starts here */

static size_t area_size;
static uint64_t supported;
static struct fpu_caps caps;    /* for fpu_area_check */
static bool fxsave_only;        /* no XSAVE: FXSAVE/FXRSTOR of x87 and SSE, same layout */

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

/* The same on every CPU: what fpu_area_check compares an incoming area with, taken once (by
 * the first CPU here). XSAVE of the SSE component (FXSAVE without XSAVE) only stores: it
 * changes no register. MXCSR_MASK 0 means the default 0xFFBF (SDM Vol. 1 11.6.6). */
static void caps_init(void)
{
    static uint8_t buf[XSAVE_LEGACY_AND_HEADER] __attribute__((aligned(64)));
    static int taken;
    uint32_t mask;
    if (__atomic_exchange_n(&taken, 1, __ATOMIC_ACQ_REL))
        return;
    if (fxsave_only) {
        uint64_t unused;
        fpu_put(buf, &unused);          /* FXSAVE: the only place it may be (check-nosse) */
    } else {
        uint64_t old = get_xcr0();
        fpu_set_xcr0(supported);
        __asm__ volatile("xsave64 %0" : "+m"(buf) : "a"(0x2u), "d"(0u) : "memory");
        fpu_set_xcr0(old);
    }
    memcpy(&mask, buf + 28, 4);
    caps.mxcsr_mask = mask ? mask : 0xffbf;
    caps.supported = supported;
    caps.area_size = area_size;
    for (unsigned i = 2; i < 63 && !fxsave_only; i++)
        if (supported >> i & 1) {
            struct cpuid_regs r = cpuid(0xd, i);
            caps.comp_end[i] = r.ebx + r.eax;
        }
}

void fpu_cpu_init(void)
{
    if (!(cpuid(1, 0).ecx & (1u << 26)) || !(read_cr4() & (1ul << 18))) {
        /*
         * A CPU without XSAVE (QEMU's qemu64, pre-2008 parts): FXSAVE's 512 bytes are the
         * XSAVE area's legacy region, so the area keeps the standard layout (legacy region,
         * header with XSTATE_BV = x87|SSE) and migrates like any other.
         */
        supported = 0x3;
        area_size = XSAVE_LEGACY_AND_HEADER;
        fxsave_only = true;
        caps_init();
        return;
    }
    struct cpuid_regs r = cpuid(0xd, 0);
    supported = ((uint64_t)r.edx << 32) | r.eax;
    area_size = (r.ecx + 63) & ~63ul;
    caps_init();
}

size_t fpu_area_size(void) { return area_size; }
uint64_t fpu_xcr0_supported(void) { return supported; }

size_t fpu_area_size_for(uint64_t xcr0)
{
    size_t end = XSAVE_LEGACY_AND_HEADER;
    xcr0 &= supported;
    for (unsigned i = 2; i < 63 && !fxsave_only; i++) {
        if (!(xcr0 >> i & 1))
            continue;
        struct cpuid_regs r = cpuid(0xd, i);       /* EAX size, EBX offset (standard form) */
        if (r.ebx + r.eax > end)
            end = r.ebx + r.eax;
    }
    end = (end + 63) & ~(size_t)63;
    return end < area_size ? end : area_size;
}

int fpu_area_check(const void *area, size_t n, uint64_t xcr0, char *why, size_t wn)
{
    return fpu_area_valid(&caps, area, n, xcr0, why, wn);
}

void fpu_area_init(void *area)
{
    memset(area, 0, area_size);
    *(uint16_t *)area = 0x37f;                     /* FCW after FNINIT */
    *(uint32_t *)((uint8_t *)area + 24) = 0x1f80;  /* MXCSR reset value */
}

uint64_t fpu_live_xcr0(uint64_t fallback)
{
    return area_size && !fxsave_only ? get_xcr0() : fallback;
}

void fpu_put(void *area, uint64_t *xcr0)
{
    if (!area_size || !area)
        return;
    if (fxsave_only) {
        uint64_t bv = 0x3;
        __asm__ volatile("fxsave64 %0" : "+m"(*(uint8_t (*)[512])area) :: "memory");
        memcpy((uint8_t *)area + 512, &bv, 8);
        return;
    }
    *xcr0 = get_xcr0();
    fpu_set_xcr0(supported);
    __asm__ volatile("xsave64 %0" : "+m"(*(uint8_t (*)[area_size])area)
                     : "a"(~0u), "d"(~0u) : "memory");
}

void fpu_load(const void *area, uint64_t xcr0)
{
    if (!area_size || !area)
        return;
    if (fxsave_only) {
        __asm__ volatile("fxrstor64 %0" :: "m"(*(const uint8_t (*)[512])area) : "memory");
        return;
    }
    fpu_set_xcr0(supported);
    __asm__ volatile("xrstor64 %0" :: "m"(*(const uint8_t (*)[area_size])area),
                     "a"(~0u), "d"(~0u) : "memory");
    fpu_set_xcr0(xcr0 ? xcr0 : 1);
}
