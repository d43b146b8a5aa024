/*
 * Named CPU features: one table entry per CPUID feature bit ferry knows by
 * name (leaf, subleaf, register, bit), and a feature set, a bitmap indexed by
 * the table. Sets are what baselines are made of, what the migration check
 * compares and what the console prints ("avx2,bmi2"). Names follow Linux's
 * /proc/cpuinfo where one exists (the psABI's LZCNT is "lzcnt", alias "abm";
 * SCE is "syscall", alias "sce"). Dynamic features (OSXSAVE, OSPKE, HTT, the
 * hypervisor bit) are computed by ferry per VM or per vCPU, info features
 * describe how the host's hardware behaves (FCS/FDS deprecation): neither is
 * ever part of a feature set. Bit positions: SDM Vol. 2A CPUID Tables 3-8 to
 * 3-10 and APM Vol. 3 Appendix E.
 */
#ifndef HV_CPU_FEATURES_H
#define HV_CPU_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cpu_reg { CPU_EAX, CPU_EBX, CPU_ECX, CPU_EDX };

enum cpu_feat {
    /* leaf 1 EDX */
    CPU_FEAT_FPU, CPU_FEAT_VME, CPU_FEAT_DE, CPU_FEAT_PSE, CPU_FEAT_TSC, CPU_FEAT_MSR,
    CPU_FEAT_PAE, CPU_FEAT_MCE, CPU_FEAT_CX8, CPU_FEAT_APIC, CPU_FEAT_SEP, CPU_FEAT_MTRR,
    CPU_FEAT_PGE, CPU_FEAT_MCA, CPU_FEAT_CMOV, CPU_FEAT_PAT, CPU_FEAT_PSE36, CPU_FEAT_PSN,
    CPU_FEAT_CLFLUSH, CPU_FEAT_DS, CPU_FEAT_ACPI, CPU_FEAT_MMX, CPU_FEAT_FXSR, CPU_FEAT_SSE,
    CPU_FEAT_SSE2, CPU_FEAT_SS, CPU_FEAT_HTT, CPU_FEAT_TM, CPU_FEAT_PBE,
    /* leaf 1 ECX */
    CPU_FEAT_SSE3, CPU_FEAT_PCLMULQDQ, CPU_FEAT_DTES64, CPU_FEAT_MONITOR, CPU_FEAT_DS_CPL,
    CPU_FEAT_VMX, CPU_FEAT_SMX, CPU_FEAT_EST, CPU_FEAT_TM2, CPU_FEAT_SSSE3, CPU_FEAT_CNXT_ID,
    CPU_FEAT_SDBG, CPU_FEAT_FMA, CPU_FEAT_CX16, CPU_FEAT_XTPR, CPU_FEAT_PDCM, CPU_FEAT_PCID,
    CPU_FEAT_DCA, CPU_FEAT_SSE4_1, CPU_FEAT_SSE4_2, CPU_FEAT_X2APIC, CPU_FEAT_MOVBE,
    CPU_FEAT_POPCNT, CPU_FEAT_TSC_DEADLINE, CPU_FEAT_AES, CPU_FEAT_XSAVE, CPU_FEAT_OSXSAVE,
    CPU_FEAT_AVX, CPU_FEAT_F16C, CPU_FEAT_RDRAND, CPU_FEAT_HYPERVISOR,
    /* leaf 7.0 EBX */
    CPU_FEAT_FSGSBASE, CPU_FEAT_TSC_ADJUST, CPU_FEAT_SGX, CPU_FEAT_BMI1, CPU_FEAT_HLE,
    CPU_FEAT_AVX2, CPU_FEAT_FDP_EXCPTN_ONLY, CPU_FEAT_SMEP, CPU_FEAT_BMI2, CPU_FEAT_ERMS,
    CPU_FEAT_INVPCID, CPU_FEAT_RTM, CPU_FEAT_RDT_M, CPU_FEAT_ZERO_FCS_FDS, CPU_FEAT_MPX,
    CPU_FEAT_RDT_A, CPU_FEAT_AVX512F, CPU_FEAT_AVX512DQ, CPU_FEAT_RDSEED, CPU_FEAT_ADX,
    CPU_FEAT_SMAP, CPU_FEAT_AVX512IFMA, CPU_FEAT_CLFLUSHOPT, CPU_FEAT_CLWB, CPU_FEAT_INTEL_PT,
    CPU_FEAT_AVX512PF, CPU_FEAT_AVX512ER, CPU_FEAT_AVX512CD, CPU_FEAT_SHA_NI,
    CPU_FEAT_AVX512BW, CPU_FEAT_AVX512VL,
    /* leaf 7.0 ECX */
    CPU_FEAT_PREFETCHWT1, CPU_FEAT_AVX512VBMI, CPU_FEAT_UMIP, CPU_FEAT_PKU, CPU_FEAT_OSPKE,
    CPU_FEAT_WAITPKG, CPU_FEAT_AVX512_VBMI2, CPU_FEAT_CET_SS, CPU_FEAT_GFNI, CPU_FEAT_VAES,
    CPU_FEAT_VPCLMULQDQ, CPU_FEAT_AVX512_VNNI, CPU_FEAT_AVX512_BITALG, CPU_FEAT_TME,
    CPU_FEAT_AVX512_VPOPCNTDQ, CPU_FEAT_LA57, CPU_FEAT_RDPID, CPU_FEAT_KL,
    CPU_FEAT_BUS_LOCK_DETECT, CPU_FEAT_CLDEMOTE, CPU_FEAT_MOVDIRI, CPU_FEAT_MOVDIR64B,
    CPU_FEAT_ENQCMD, CPU_FEAT_SGX_LC, CPU_FEAT_PKS,
    /* leaf 7.0 EDX */
    CPU_FEAT_AVX512_4VNNIW, CPU_FEAT_AVX512_4FMAPS, CPU_FEAT_FSRM, CPU_FEAT_UINTR,
    CPU_FEAT_AVX512_VP2INTERSECT, CPU_FEAT_SRBDS_CTRL, CPU_FEAT_MD_CLEAR,
    CPU_FEAT_RTM_ALWAYS_ABORT, CPU_FEAT_TSX_FORCE_ABORT, CPU_FEAT_SERIALIZE, CPU_FEAT_HYBRID,
    CPU_FEAT_TSXLDTRK, CPU_FEAT_PCONFIG, CPU_FEAT_ARCH_LBR, CPU_FEAT_CET_IBT,
    CPU_FEAT_AMX_BF16, CPU_FEAT_AVX512_FP16, CPU_FEAT_AMX_TILE, CPU_FEAT_AMX_INT8,
    CPU_FEAT_SPEC_CTRL, CPU_FEAT_STIBP, CPU_FEAT_L1D_FLUSH, CPU_FEAT_ARCH_CAPABILITIES,
    CPU_FEAT_CORE_CAPABILITIES, CPU_FEAT_SSBD,
    /* leaf 7.1 EAX */
    CPU_FEAT_AVX_VNNI, CPU_FEAT_AVX512_BF16, CPU_FEAT_CMPCCXADD, CPU_FEAT_FZRM, CPU_FEAT_FSRS,
    CPU_FEAT_FSRC, CPU_FEAT_FRED, CPU_FEAT_LKGS, CPU_FEAT_WRMSRNS, CPU_FEAT_AMX_FP16,
    CPU_FEAT_HRESET, CPU_FEAT_AVX_IFMA, CPU_FEAT_LAM,
    /* leaf 0xD.1 EAX */
    CPU_FEAT_XSAVEOPT, CPU_FEAT_XSAVEC, CPU_FEAT_XGETBV1, CPU_FEAT_XSAVES, CPU_FEAT_XFD,
    /* leaf 0x80000001 ECX */
    CPU_FEAT_LAHF_LM, CPU_FEAT_CMP_LEGACY, CPU_FEAT_SVM, CPU_FEAT_EXTAPIC, CPU_FEAT_CR8_LEGACY,
    CPU_FEAT_LZCNT, CPU_FEAT_SSE4A, CPU_FEAT_MISALIGNSSE, CPU_FEAT_PREFETCHW, CPU_FEAT_OSVW,
    CPU_FEAT_IBS, CPU_FEAT_XOP, CPU_FEAT_SKINIT, CPU_FEAT_WDT, CPU_FEAT_LWP, CPU_FEAT_FMA4,
    CPU_FEAT_TCE, CPU_FEAT_NODEID_MSR, CPU_FEAT_TBM, CPU_FEAT_TOPOEXT, CPU_FEAT_PERFCTR_CORE,
    CPU_FEAT_PERFCTR_NB, CPU_FEAT_BPEXT, CPU_FEAT_PTSC, CPU_FEAT_PERFCTR_LLC, CPU_FEAT_MWAITX,
    /* leaf 0x80000001 EDX (AMD also mirrors leaf 1 EDX bits there: see cpu_baseline.c) */
    CPU_FEAT_SYSCALL, CPU_FEAT_NX, CPU_FEAT_MMXEXT, CPU_FEAT_FXSR_OPT, CPU_FEAT_PDPE1GB,
    CPU_FEAT_RDTSCP, CPU_FEAT_LM, CPU_FEAT_3DNOWEXT, CPU_FEAT_3DNOW,
    /* leaf 0x80000007 EDX */
    CPU_FEAT_INVTSC,
    /* leaf 0x80000008 EBX */
    CPU_FEAT_CLZERO, CPU_FEAT_IRPERF, CPU_FEAT_XSAVEERPTR, CPU_FEAT_RDPRU, CPU_FEAT_WBNOINVD,
    CPU_FEAT_AMD_IBPB, CPU_FEAT_AMD_IBRS, CPU_FEAT_AMD_STIBP, CPU_FEAT_AMD_STIBP_ALWAYS_ON,
    CPU_FEAT_AMD_PPIN, CPU_FEAT_AMD_SSBD, CPU_FEAT_VIRT_SSBD, CPU_FEAT_AMD_SSB_NO,
    CPU_FEAT_COUNT
};

#define CPU_FEAT_DYNAMIC 0x1    /* ferry fills it per VM / vCPU; never in a set */
#define CPU_FEAT_INFO    0x2    /* describes the host's behaviour; never in a set */

struct cpu_feat_info {
    const char *name;
    uint32_t leaf;
    uint8_t subleaf, reg, bit, flags;    /* reg: enum cpu_reg */
};

extern const struct cpu_feat_info cpu_feat_table[CPU_FEAT_COUNT];

#define CPU_FEATSET_WORDS 4
_Static_assert(CPU_FEAT_COUNT <= 64 * CPU_FEATSET_WORDS, "feature set too small");

struct cpu_featset { uint64_t w[CPU_FEATSET_WORDS]; };

static inline bool cpu_featset_has(const struct cpu_featset *s, enum cpu_feat f)
{
    return s->w[f / 64] >> (f % 64) & 1;
}

static inline void cpu_featset_add(struct cpu_featset *s, enum cpu_feat f)
{
    s->w[f / 64] |= 1ull << (f % 64);
}

static inline void cpu_featset_del(struct cpu_featset *s, enum cpu_feat f)
{
    s->w[f / 64] &= ~(1ull << (f % 64));
}

/* out = a & b (out may alias either). */
void cpu_featset_and(struct cpu_featset *out, const struct cpu_featset *a,
                     const struct cpu_featset *b);
bool cpu_featset_subset(const struct cpu_featset *a, const struct cpu_featset *b);
bool cpu_featset_equal(const struct cpu_featset *a, const struct cpu_featset *b);
unsigned cpu_featset_count(const struct cpu_featset *s);

/*
 * The names of the features in `s`, in table order, separated by `sep`, into
 * buf (always NUL-terminated when len > 0). A list that does not fit ends in
 * "..." after the last name that does. Returns how many features s holds.
 */
unsigned cpu_featset_format(const struct cpu_featset *s, char sep, char *buf, size_t len);

/* The names of the features of `want` that `have` lacks, as "avx2,bmi2"; returns how many. */
unsigned cpu_featset_missing(const struct cpu_featset *want, const struct cpu_featset *have,
                             char *buf, size_t len);

/* A feature by name or alias; -ENOENT if unknown, -EINVAL for a dynamic or info feature. */
int cpu_feat_lookup(const char *name);

/*
 * Parses names separated by commas into s (cleared first). Returns 0, or
 * -ENOENT / -EINVAL (with the offending name copied to bad) like cpu_feat_lookup.
 */
int cpu_featset_parse(const char *list, struct cpu_featset *s, char *bad, size_t badlen);

/* The feature's bit in `regs` (the registers of its leaf and subleaf). */
bool cpu_feat_in_regs(enum cpu_feat f, const uint32_t regs[4]);

#endif
