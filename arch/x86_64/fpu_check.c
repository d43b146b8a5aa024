/* Whether an XSAVE area from another host may be loaded here (arch/x86_64/fpu.h). Pure: no
 * instruction touches the CPU, so the host unit tests run it with any CPU's description. */
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/fpu.h"

#define LEGACY_AND_HEADER 576

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

int fpu_area_valid(const struct fpu_caps *c, const void *area, size_t n, uint64_t xcr0,
                   char *why, size_t wn)
{
    const uint8_t *a = area;
    if (n < LEGACY_AND_HEADER || n > c->area_size || n % 64) {
        snprintf(why, wn, "XSAVE area of %zu bytes (this CPU's is %zu)", n, c->area_size);
        return -1;
    }
    uint64_t bv = rd64(a + 512);
    /* Standard form: XCOMP_BV and the header's reserved bytes are zero (XRSTOR #GP). */
    for (unsigned i = 520; i < LEGACY_AND_HEADER; i++)
        if (a[i]) {
            snprintf(why, wn, "XSAVE header byte %u is 0x%02x, not 0", i - 512, a[i]);
            return -1;
        }
    if (bv & ~(xcr0 & c->supported)) {
        snprintf(why, wn, "XSTATE_BV 0x%llx names components outside 0x%llx",
                 (unsigned long long)bv, (unsigned long long)(xcr0 & c->supported));
        return -1;
    }
    for (unsigned i = 2; i < 64; i++)
        if ((bv >> i & 1) && c->comp_end[i] > n) {
            snprintf(why, wn, "XSAVE component %u ends at byte %u, past the %zu sent", i,
                     c->comp_end[i], n);
            return -1;
        }
    uint32_t mxcsr;
    memcpy(&mxcsr, a + 24, 4);
    if (mxcsr & ~c->mxcsr_mask) {
        snprintf(why, wn, "MXCSR 0x%x sets bits outside MXCSR_MASK 0x%x", mxcsr,
                 c->mxcsr_mask);
        return -1;
    }
    return 0;
}
