/* Fake host CPUs for the CPU policy tests; see fake_cpuid.h. */
#include <string.h>

#include "fake_cpuid.h"

#define LEN(t) const size_t t##_len = sizeof(t) / sizeof(t[0])

const struct fake_leaf intel_host[] = {
    { 0x0, ANY, { 0x16, 0x756e6547, 0x6c65746e, 0x49656e69 } },    /* GenuineIntel */
    { 0x1, ANY, { 0x000906ea, 0x05100800, 0x7ffafbff, 0xbfebfbff } },
    { 0x2, ANY, { 0x00feff01, 0xf0, 0, 0 } },
    { 0x4, 0, { 0x1c004121, 0x01c0003f, 0x3f, 0 } },
    { 0x4, 1, { 0x1c004122, 0x01c0003f, 0x3f, 0 } },
    { 0x4, 2, { 0x1c004143, 0x00c0003f, 0x3ff, 0 } },
    { 0x4, 3, { 0x1c03c163, 0x02c0003f, 0x2fff, 6 } },
    { 0x4, 5, { 0x1c004121, 0x1, 0x2, 0x3 } },          /* past the null entry: undefined */
    { 0x5, ANY, { 0x40, 0x40, 3, 0x11142120 } },
    { 0x6, ANY, { 0x27f7, 2, 9, 0 } },
    { 0x7, 0, { 0, 0x029cffbf, 0x40000024, 0xbc048400 } },
    { 0xa, ANY, { 0x07300404, 0, 0, 0x603 } },
    { 0xb, 0, { 1, 2, 0x100, 5 } },
    { 0xb, 1, { 4, 12, 0x201, 5 } },
    { 0xb, 2, { 0, 0, 2, 5 } },
    { 0xd, 0, { 0x23f, 0x340, 0xa88, 0 } },
    { 0xd, 1, { 0xf, 0x3c0, 0x100, 0 } },
    { 0xd, 2, { 256, 576, 0, 0 } },                                /* AVX */
    { 0xd, 3, { 64, 960, 0, 0 } },                                 /* MPX BNDREGS */
    { 0xd, 4, { 16, 1024, 0, 0 } },                                /* MPX BNDCSR */
    { 0xd, 5, { 64, 1088, 0, 0 } },                                /* AVX-512 opmask */
    { 0xd, 8, { 128, 0, 1, 0 } },                                  /* PT, supervisor */
    { 0xd, 9, { 8, 2688, 2, 0 } },                                 /* PKRU, 64-aligned */
    { 0x12, 0, { 1, 0, 0, 0x241f } },
    { 0x14, 0, { 1, 0xf, 7, 0 } },
    { 0x14, 1, { 0x02490002, 0x003f3fff, 0, 0 } },
    { 0x15, ANY, { 2, 0x11c, 0, 0 } },
    { 0x16, ANY, { 0xe10, 0x1194, 0x64, 0 } },
    { 0x40000000, ANY, { 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d } }, /* KVMKVMKVM */
    { 0x80000000, ANY, { 0x80000008, 0, 0, 0 } },
    { 0x80000001, ANY, { 0, 0, 0x121, 0x2c100800 } },
    { 0x80000002, ANY, { 0x65746e49, 0x2952286c, 0x726f4320, 0x4d542865 } },
    { 0x80000006, ANY, { 0, 0, 0x01006040, 0 } },
    { 0x80000007, ANY, { 0, 0, 0, 0x100 } },
    { 0x80000008, ANY, { 0x3027, 0, 0, 0 } },
};

const struct fake_leaf amd_host[] = {
    { 0x0, ANY, { 0x10, 0x68747541, 0x444d4163, 0x69746e65 } },    /* AuthenticAMD */
    { 0x1, ANY, { 0x00a20f12, 0x02100800, 0x7ef8320b, 0x178bfbff } },
    { 0x5, ANY, { 0x40, 0x40, 3, 0x11 } },
    { 0x6, ANY, { 4, 0, 1, 0 } },
    { 0x7, 0, { 0, 0x219c97a9, 0x0040068c, 0x10 } },
    { 0xb, 0, { 1, 2, 0x100, 2 } },
    { 0xb, 1, { 7, 32, 0x201, 2 } },
    { 0xd, 0, { 0x7, 0x340, 0x340, 0 } },
    { 0xd, 1, { 0xf, 0x340, 0x1800, 0 } },
    { 0xd, 2, { 256, 576, 0, 0 } },
    { 0xd, 11, { 16, 0, 1, 0 } },                                  /* CET_U, supervisor */
    { 0xd, 12, { 24, 0, 1, 0 } },                                  /* CET_S, supervisor */
    { 0xf, 0, { 0, 0xff, 0, 2 } },
    { 0xf, 1, { 0, 0x7f, 0x1ff, 7 } },
    { 0x10, 0, { 0, 2, 0, 0 } },
    { 0x10, 1, { 0xf, 0, 4, 0xf } },
    { 0x80000000, ANY, { 0x80000028, 0x68747541, 0x444d4163, 0x69746e65 } },
    { 0x80000001, ANY, { 0x00a20f12, 0x20000000, 0x75c237ff, 0x2fd3fbff } },
    { 0x80000008, ANY, { 0x3030, 0x791ef257, 0x501f, 0x10000 } },
    { 0x8000000a, ANY, { 1, 0x8000, 0, 0x1ebfbcff } },
    { 0x8000001d, 0, { 0x4121, 0x01c0003f, 0x3f, 0 } },
    { 0x8000001d, 1, { 0x4122, 0x00c0003f, 0x3f, 0 } },
    { 0x8000001d, 2, { 0x4143, 0x01c0003f, 0x3ff, 2 } },
    { 0x8000001d, 3, { 0x3c163, 0x03c0003f, 0x7fff, 1 } },
    { 0x8000001e, ANY, { 2, 0x101, 0, 0 } },
    { 0x80000020, 0, { 0, 0xe, 0, 0 } },
    { 0x80000021, ANY, { 0x62fcf, 0x15c, 0, 0 } },
    { 0x80000022, ANY, { 7, 0x84106, 3, 0 } },                    /* beyond ferry's cap */
};

/* Intel-like, but claiming basic leaves up to 0x7f (with a leaf 0x1f) and empty extended ones. */
const struct fake_leaf wide_host[] = {
    { 0x0, ANY, { 0x7f, 0x756e6547, 0x6c65746e, 0x49656e69 } },
    { 0x1, ANY, { 0x000906ea, 0x05100800, 0x7ffafbff, 0xbfebfbff } },
    { 0x1f, 0, { 1, 2, 0x100, 5 } },
    { 0x80000000, ANY, { 0x80000021, 0, 0, 0 } },                  /* but no leaves */
    { 0x1f, 1, { 4, 12, 0x201, 5 } },
    { 0x40, ANY, { 0xdead, 0xbeef, 1, 2 } },
    { 0x7f, ANY, { 0x7f7f, 0x7f7f, 0x7f7f, 0x7f7f } },
};

/* A host with only leaves 0 and 1: no XSAVE leaf, no topology, no extended leaves. */
const struct fake_leaf tiny_host[] = {
    { 0x0, ANY, { 0x1, 0x756e6547, 0x6c65746e, 0x49656e69 } },
    { 0x1, ANY, { 0x00000663, 0x00000800, 0x80000001, 0x0781abfd } },
};


/*
 * Intel Xeon with AVX-512 (Skylake-SP-like, 0x50654): F, CD, BW, DQ, VL; XSAVE
 * components x87 SSE AVX MPX(2) opmask ZMM_Hi256 Hi16_ZMM PKRU (XCR0 0x2ff).
 */
const struct fake_leaf intel_avx512_host[] = {
    { 0x0, ANY, { 0x16, 0x756e6547, 0x6c65746e, 0x49656e69 } },    /* GenuineIntel */
    { 0x1, ANY, { 0x00050654, 0x00400800, 0x7ffefbff, 0xbfebfbff } },
    { 0x2, ANY, { 0x76036301, 0x00f0b5ff, 0, 0x00c30000 } },
    { 0x4, 0, { 0x7c004121, 0x01c0003f, 0x3f, 0 } },
    { 0x4, 1, { 0x7c004122, 0x01c0003f, 0x3f, 0 } },
    { 0x4, 2, { 0x7c004143, 0x03c0003f, 0x3ff, 0 } },
    { 0x4, 3, { 0x7c0fc163, 0x0280003f, 0xdfff, 4 } },
    { 0x5, ANY, { 0x40, 0x40, 3, 0x2020 } },
    { 0x6, ANY, { 0x77, 2, 9, 0 } },
    { 0x7, 0, { 0, 0xd39ffffb, 0x00000018, 0xbc000400 } },
    { 0xa, ANY, { 0x07300404, 0, 0, 0x603 } },
    { 0xb, 0, { 1, 2, 0x100, 0x40 } },
    { 0xb, 1, { 6, 40, 0x201, 0x40 } },
    { 0xd, 0, { 0x2ff, 0xa88, 0xa88, 0 } },
    { 0xd, 1, { 0xf, 0xa08, 0, 0 } },
    { 0xd, 2, { 256, 576, 0, 0 } },                                /* AVX */
    { 0xd, 3, { 64, 960, 0, 0 } },                                 /* MPX BNDREGS */
    { 0xd, 4, { 64, 1024, 0, 0 } },                                /* MPX BNDCSR */
    { 0xd, 5, { 64, 1088, 0, 0 } },                                /* opmask */
    { 0xd, 6, { 512, 1152, 0, 0 } },                               /* ZMM_Hi256 */
    { 0xd, 7, { 1024, 1664, 0, 0 } },                              /* Hi16_ZMM */
    { 0xd, 9, { 8, 2688, 0, 0 } },                                 /* PKRU */
    { 0x15, ANY, { 2, 0xa8, 0, 0 } },
    { 0x16, ANY, { 0x834, 0xed8, 0x64, 0 } },
    { 0x80000000, ANY, { 0x80000008, 0, 0, 0 } },
    { 0x80000001, ANY, { 0, 0, 0x121, 0x2c100800 } },
    { 0x80000002, ANY, { 0x65746e49, 0x2952286c, 0x6f655820, 0x2952286e } },
    { 0x80000003, ANY, { 0x6c6f4720, 0x31362064, 0x43205830, 0x40205550 } },
    { 0x80000004, ANY, { 0x302e3220, 0x7a484730, 0, 0 } },
    { 0x80000006, ANY, { 0, 0, 0x04008040, 0 } },
    { 0x80000007, ANY, { 0, 0, 0, 0x100 } },
    { 0x80000008, ANY, { 0x302e, 0, 0, 0 } },
};

LEN(intel_host);
LEN(amd_host);
LEN(wide_host);
LEN(tiny_host);
LEN(intel_avx512_host);

static const struct fake_leaf *fake_find(const struct fake_host *h, uint32_t leaf, uint32_t sub)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->t[i].leaf == leaf && (h->t[i].sub == ANY || h->t[i].sub == sub))
            return &h->t[i];
    return NULL;
}

struct cpuid_out fake_cpuid(uint32_t leaf, uint32_t sub, void *ctx)
{
    struct fake_host *h = ctx;
    const struct fake_leaf *f, *l0 = fake_find(h, 0, 0);
    struct cpuid_out zero = { 0 };

    h->calls++;
    if (h->noisy)
        return (struct cpuid_out){ ~0u, ~0u, ~0u, ~0u };
    if (leaf < 0x40000000 && l0 && leaf > l0->r.eax)
        leaf = l0->r.eax;           /* SDM: highest basic leaf */
    f = fake_find(h, leaf, sub);
    return f ? f->r : zero;
}
