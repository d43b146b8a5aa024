/*
 * The named feature table and feature sets; see hv/cpu/cpu_features.h. Leaf 1
 * and 7 bits: SDM Vol. 2A Tables 3-8, 3-10 and the leaf 7 / 0xD descriptions;
 * 0x8000000x bits: APM Vol. 3 E.4.2, E.4.6, E.4.7.
 */
#include <errno.h>
#include <string.h>

#include "hv/cpu/cpu_features.h"

#define F(n, l, s, r, b)  { .name = n, .leaf = l, .subleaf = s, .reg = CPU_##r, .bit = b }
#define FL(n, l, s, r, b, fl) \
    { .name = n, .leaf = l, .subleaf = s, .reg = CPU_##r, .bit = b, .flags = fl }
#define E1 0x80000001u

const struct cpu_feat_info cpu_feat_table[CPU_FEAT_COUNT] = {
    [CPU_FEAT_FPU] = F("fpu", 1, 0, EDX, 0),
    [CPU_FEAT_VME] = F("vme", 1, 0, EDX, 1),
    [CPU_FEAT_DE] = F("de", 1, 0, EDX, 2),
    [CPU_FEAT_PSE] = F("pse", 1, 0, EDX, 3),
    [CPU_FEAT_TSC] = F("tsc", 1, 0, EDX, 4),
    [CPU_FEAT_MSR] = F("msr", 1, 0, EDX, 5),
    [CPU_FEAT_PAE] = F("pae", 1, 0, EDX, 6),
    [CPU_FEAT_MCE] = F("mce", 1, 0, EDX, 7),
    [CPU_FEAT_CX8] = F("cx8", 1, 0, EDX, 8),
    [CPU_FEAT_APIC] = F("apic", 1, 0, EDX, 9),
    [CPU_FEAT_SEP] = F("sep", 1, 0, EDX, 11),
    [CPU_FEAT_MTRR] = F("mtrr", 1, 0, EDX, 12),
    [CPU_FEAT_PGE] = F("pge", 1, 0, EDX, 13),
    [CPU_FEAT_MCA] = F("mca", 1, 0, EDX, 14),
    [CPU_FEAT_CMOV] = F("cmov", 1, 0, EDX, 15),
    [CPU_FEAT_PAT] = F("pat", 1, 0, EDX, 16),
    [CPU_FEAT_PSE36] = F("pse36", 1, 0, EDX, 17),
    [CPU_FEAT_PSN] = F("psn", 1, 0, EDX, 18),
    [CPU_FEAT_CLFLUSH] = F("clflush", 1, 0, EDX, 19),
    [CPU_FEAT_DS] = F("ds", 1, 0, EDX, 21),
    [CPU_FEAT_ACPI] = F("acpi", 1, 0, EDX, 22),
    [CPU_FEAT_MMX] = F("mmx", 1, 0, EDX, 23),
    [CPU_FEAT_FXSR] = F("fxsr", 1, 0, EDX, 24),
    [CPU_FEAT_SSE] = F("sse", 1, 0, EDX, 25),
    [CPU_FEAT_SSE2] = F("sse2", 1, 0, EDX, 26),
    [CPU_FEAT_SS] = F("ss", 1, 0, EDX, 27),
    [CPU_FEAT_HTT] = FL("htt", 1, 0, EDX, 28, CPU_FEAT_DYNAMIC),
    [CPU_FEAT_TM] = F("tm", 1, 0, EDX, 29),
    [CPU_FEAT_PBE] = F("pbe", 1, 0, EDX, 31),

    [CPU_FEAT_SSE3] = F("sse3", 1, 0, ECX, 0),
    [CPU_FEAT_PCLMULQDQ] = F("pclmulqdq", 1, 0, ECX, 1),
    [CPU_FEAT_DTES64] = F("dtes64", 1, 0, ECX, 2),
    [CPU_FEAT_MONITOR] = F("monitor", 1, 0, ECX, 3),
    [CPU_FEAT_DS_CPL] = F("ds_cpl", 1, 0, ECX, 4),
    [CPU_FEAT_VMX] = F("vmx", 1, 0, ECX, 5),
    [CPU_FEAT_SMX] = F("smx", 1, 0, ECX, 6),
    [CPU_FEAT_EST] = F("est", 1, 0, ECX, 7),
    [CPU_FEAT_TM2] = F("tm2", 1, 0, ECX, 8),
    [CPU_FEAT_SSSE3] = F("ssse3", 1, 0, ECX, 9),
    [CPU_FEAT_CNXT_ID] = F("cnxt_id", 1, 0, ECX, 10),
    [CPU_FEAT_SDBG] = F("sdbg", 1, 0, ECX, 11),
    [CPU_FEAT_FMA] = F("fma", 1, 0, ECX, 12),
    [CPU_FEAT_CX16] = F("cx16", 1, 0, ECX, 13),
    [CPU_FEAT_XTPR] = F("xtpr", 1, 0, ECX, 14),
    [CPU_FEAT_PDCM] = F("pdcm", 1, 0, ECX, 15),
    [CPU_FEAT_PCID] = F("pcid", 1, 0, ECX, 17),
    [CPU_FEAT_DCA] = F("dca", 1, 0, ECX, 18),
    [CPU_FEAT_SSE4_1] = F("sse4_1", 1, 0, ECX, 19),
    [CPU_FEAT_SSE4_2] = F("sse4_2", 1, 0, ECX, 20),
    [CPU_FEAT_X2APIC] = F("x2apic", 1, 0, ECX, 21),
    [CPU_FEAT_MOVBE] = F("movbe", 1, 0, ECX, 22),
    [CPU_FEAT_POPCNT] = F("popcnt", 1, 0, ECX, 23),
    [CPU_FEAT_TSC_DEADLINE] = F("tsc_deadline", 1, 0, ECX, 24),
    [CPU_FEAT_AES] = F("aes", 1, 0, ECX, 25),
    [CPU_FEAT_XSAVE] = F("xsave", 1, 0, ECX, 26),
    [CPU_FEAT_OSXSAVE] = FL("osxsave", 1, 0, ECX, 27, CPU_FEAT_DYNAMIC),
    [CPU_FEAT_AVX] = F("avx", 1, 0, ECX, 28),
    [CPU_FEAT_F16C] = F("f16c", 1, 0, ECX, 29),
    [CPU_FEAT_RDRAND] = F("rdrand", 1, 0, ECX, 30),
    [CPU_FEAT_HYPERVISOR] = FL("hypervisor", 1, 0, ECX, 31, CPU_FEAT_DYNAMIC),

    [CPU_FEAT_FSGSBASE] = F("fsgsbase", 7, 0, EBX, 0),
    [CPU_FEAT_TSC_ADJUST] = F("tsc_adjust", 7, 0, EBX, 1),
    [CPU_FEAT_SGX] = F("sgx", 7, 0, EBX, 2),
    [CPU_FEAT_BMI1] = F("bmi1", 7, 0, EBX, 3),
    [CPU_FEAT_HLE] = F("hle", 7, 0, EBX, 4),
    [CPU_FEAT_AVX2] = F("avx2", 7, 0, EBX, 5),
    [CPU_FEAT_FDP_EXCPTN_ONLY] = FL("fdp_excptn_only", 7, 0, EBX, 6, CPU_FEAT_INFO),
    [CPU_FEAT_SMEP] = F("smep", 7, 0, EBX, 7),
    [CPU_FEAT_BMI2] = F("bmi2", 7, 0, EBX, 8),
    [CPU_FEAT_ERMS] = F("erms", 7, 0, EBX, 9),
    [CPU_FEAT_INVPCID] = F("invpcid", 7, 0, EBX, 10),
    [CPU_FEAT_RTM] = F("rtm", 7, 0, EBX, 11),
    [CPU_FEAT_RDT_M] = F("rdt_m", 7, 0, EBX, 12),
    [CPU_FEAT_ZERO_FCS_FDS] = FL("zero_fcs_fds", 7, 0, EBX, 13, CPU_FEAT_INFO),
    [CPU_FEAT_MPX] = F("mpx", 7, 0, EBX, 14),
    [CPU_FEAT_RDT_A] = F("rdt_a", 7, 0, EBX, 15),
    [CPU_FEAT_AVX512F] = F("avx512f", 7, 0, EBX, 16),
    [CPU_FEAT_AVX512DQ] = F("avx512dq", 7, 0, EBX, 17),
    [CPU_FEAT_RDSEED] = F("rdseed", 7, 0, EBX, 18),
    [CPU_FEAT_ADX] = F("adx", 7, 0, EBX, 19),
    [CPU_FEAT_SMAP] = F("smap", 7, 0, EBX, 20),
    [CPU_FEAT_AVX512IFMA] = F("avx512ifma", 7, 0, EBX, 21),
    [CPU_FEAT_CLFLUSHOPT] = F("clflushopt", 7, 0, EBX, 23),
    [CPU_FEAT_CLWB] = F("clwb", 7, 0, EBX, 24),
    [CPU_FEAT_INTEL_PT] = F("intel_pt", 7, 0, EBX, 25),
    [CPU_FEAT_AVX512PF] = F("avx512pf", 7, 0, EBX, 26),
    [CPU_FEAT_AVX512ER] = F("avx512er", 7, 0, EBX, 27),
    [CPU_FEAT_AVX512CD] = F("avx512cd", 7, 0, EBX, 28),
    [CPU_FEAT_SHA_NI] = F("sha_ni", 7, 0, EBX, 29),
    [CPU_FEAT_AVX512BW] = F("avx512bw", 7, 0, EBX, 30),
    [CPU_FEAT_AVX512VL] = F("avx512vl", 7, 0, EBX, 31),

    [CPU_FEAT_PREFETCHWT1] = F("prefetchwt1", 7, 0, ECX, 0),
    [CPU_FEAT_AVX512VBMI] = F("avx512vbmi", 7, 0, ECX, 1),
    [CPU_FEAT_UMIP] = F("umip", 7, 0, ECX, 2),
    [CPU_FEAT_PKU] = F("pku", 7, 0, ECX, 3),
    [CPU_FEAT_OSPKE] = FL("ospke", 7, 0, ECX, 4, CPU_FEAT_DYNAMIC),
    [CPU_FEAT_WAITPKG] = F("waitpkg", 7, 0, ECX, 5),
    [CPU_FEAT_AVX512_VBMI2] = F("avx512_vbmi2", 7, 0, ECX, 6),
    [CPU_FEAT_CET_SS] = F("cet_ss", 7, 0, ECX, 7),
    [CPU_FEAT_GFNI] = F("gfni", 7, 0, ECX, 8),
    [CPU_FEAT_VAES] = F("vaes", 7, 0, ECX, 9),
    [CPU_FEAT_VPCLMULQDQ] = F("vpclmulqdq", 7, 0, ECX, 10),
    [CPU_FEAT_AVX512_VNNI] = F("avx512_vnni", 7, 0, ECX, 11),
    [CPU_FEAT_AVX512_BITALG] = F("avx512_bitalg", 7, 0, ECX, 12),
    [CPU_FEAT_TME] = F("tme", 7, 0, ECX, 13),
    [CPU_FEAT_AVX512_VPOPCNTDQ] = F("avx512_vpopcntdq", 7, 0, ECX, 14),
    [CPU_FEAT_LA57] = F("la57", 7, 0, ECX, 16),
    [CPU_FEAT_RDPID] = F("rdpid", 7, 0, ECX, 22),
    [CPU_FEAT_KL] = F("kl", 7, 0, ECX, 23),
    [CPU_FEAT_BUS_LOCK_DETECT] = F("bus_lock_detect", 7, 0, ECX, 24),
    [CPU_FEAT_CLDEMOTE] = F("cldemote", 7, 0, ECX, 25),
    [CPU_FEAT_MOVDIRI] = F("movdiri", 7, 0, ECX, 27),
    [CPU_FEAT_MOVDIR64B] = F("movdir64b", 7, 0, ECX, 28),
    [CPU_FEAT_ENQCMD] = F("enqcmd", 7, 0, ECX, 29),
    [CPU_FEAT_SGX_LC] = F("sgx_lc", 7, 0, ECX, 30),
    [CPU_FEAT_PKS] = F("pks", 7, 0, ECX, 31),

    [CPU_FEAT_AVX512_4VNNIW] = F("avx512_4vnniw", 7, 0, EDX, 2),
    [CPU_FEAT_AVX512_4FMAPS] = F("avx512_4fmaps", 7, 0, EDX, 3),
    [CPU_FEAT_FSRM] = F("fsrm", 7, 0, EDX, 4),
    [CPU_FEAT_UINTR] = F("uintr", 7, 0, EDX, 5),
    [CPU_FEAT_AVX512_VP2INTERSECT] = F("avx512_vp2intersect", 7, 0, EDX, 8),
    [CPU_FEAT_SRBDS_CTRL] = F("srbds_ctrl", 7, 0, EDX, 9),
    [CPU_FEAT_MD_CLEAR] = F("md_clear", 7, 0, EDX, 10),
    [CPU_FEAT_RTM_ALWAYS_ABORT] = F("rtm_always_abort", 7, 0, EDX, 11),
    [CPU_FEAT_TSX_FORCE_ABORT] = F("tsx_force_abort", 7, 0, EDX, 13),
    [CPU_FEAT_SERIALIZE] = F("serialize", 7, 0, EDX, 14),
    [CPU_FEAT_HYBRID] = F("hybrid", 7, 0, EDX, 15),
    [CPU_FEAT_TSXLDTRK] = F("tsxldtrk", 7, 0, EDX, 16),
    [CPU_FEAT_PCONFIG] = F("pconfig", 7, 0, EDX, 18),
    [CPU_FEAT_ARCH_LBR] = F("arch_lbr", 7, 0, EDX, 19),
    [CPU_FEAT_CET_IBT] = F("cet_ibt", 7, 0, EDX, 20),
    [CPU_FEAT_AMX_BF16] = F("amx_bf16", 7, 0, EDX, 22),
    [CPU_FEAT_AVX512_FP16] = F("avx512_fp16", 7, 0, EDX, 23),
    [CPU_FEAT_AMX_TILE] = F("amx_tile", 7, 0, EDX, 24),
    [CPU_FEAT_AMX_INT8] = F("amx_int8", 7, 0, EDX, 25),
    [CPU_FEAT_SPEC_CTRL] = F("spec_ctrl", 7, 0, EDX, 26),
    [CPU_FEAT_STIBP] = F("stibp", 7, 0, EDX, 27),
    [CPU_FEAT_L1D_FLUSH] = F("l1d_flush", 7, 0, EDX, 28),
    [CPU_FEAT_ARCH_CAPABILITIES] = F("arch_capabilities", 7, 0, EDX, 29),
    [CPU_FEAT_CORE_CAPABILITIES] = F("core_capabilities", 7, 0, EDX, 30),
    [CPU_FEAT_SSBD] = F("ssbd", 7, 0, EDX, 31),

    [CPU_FEAT_AVX_VNNI] = F("avx_vnni", 7, 1, EAX, 4),
    [CPU_FEAT_AVX512_BF16] = F("avx512_bf16", 7, 1, EAX, 5),
    [CPU_FEAT_CMPCCXADD] = F("cmpccxadd", 7, 1, EAX, 7),
    [CPU_FEAT_FZRM] = F("fzrm", 7, 1, EAX, 10),
    [CPU_FEAT_FSRS] = F("fsrs", 7, 1, EAX, 11),
    [CPU_FEAT_FSRC] = F("fsrc", 7, 1, EAX, 12),
    [CPU_FEAT_FRED] = F("fred", 7, 1, EAX, 17),
    [CPU_FEAT_LKGS] = F("lkgs", 7, 1, EAX, 18),
    [CPU_FEAT_WRMSRNS] = F("wrmsrns", 7, 1, EAX, 19),
    [CPU_FEAT_AMX_FP16] = F("amx_fp16", 7, 1, EAX, 21),
    [CPU_FEAT_HRESET] = F("hreset", 7, 1, EAX, 22),
    [CPU_FEAT_AVX_IFMA] = F("avx_ifma", 7, 1, EAX, 23),
    [CPU_FEAT_LAM] = F("lam", 7, 1, EAX, 26),

    [CPU_FEAT_XSAVEOPT] = F("xsaveopt", 0xd, 1, EAX, 0),
    [CPU_FEAT_XSAVEC] = F("xsavec", 0xd, 1, EAX, 1),
    [CPU_FEAT_XGETBV1] = F("xgetbv1", 0xd, 1, EAX, 2),
    [CPU_FEAT_XSAVES] = F("xsaves", 0xd, 1, EAX, 3),
    [CPU_FEAT_XFD] = F("xfd", 0xd, 1, EAX, 4),

    [CPU_FEAT_LAHF_LM] = F("lahf_lm", E1, 0, ECX, 0),
    [CPU_FEAT_CMP_LEGACY] = F("cmp_legacy", E1, 0, ECX, 1),
    [CPU_FEAT_SVM] = F("svm", E1, 0, ECX, 2),
    [CPU_FEAT_EXTAPIC] = F("extapic", E1, 0, ECX, 3),
    [CPU_FEAT_CR8_LEGACY] = F("cr8_legacy", E1, 0, ECX, 4),
    [CPU_FEAT_LZCNT] = F("lzcnt", E1, 0, ECX, 5),
    [CPU_FEAT_SSE4A] = F("sse4a", E1, 0, ECX, 6),
    [CPU_FEAT_MISALIGNSSE] = F("misalignsse", E1, 0, ECX, 7),
    [CPU_FEAT_PREFETCHW] = F("prefetchw", E1, 0, ECX, 8),
    [CPU_FEAT_OSVW] = F("osvw", E1, 0, ECX, 9),
    [CPU_FEAT_IBS] = F("ibs", E1, 0, ECX, 10),
    [CPU_FEAT_XOP] = F("xop", E1, 0, ECX, 11),
    [CPU_FEAT_SKINIT] = F("skinit", E1, 0, ECX, 12),
    [CPU_FEAT_WDT] = F("wdt", E1, 0, ECX, 13),
    [CPU_FEAT_LWP] = F("lwp", E1, 0, ECX, 15),
    [CPU_FEAT_FMA4] = F("fma4", E1, 0, ECX, 16),
    [CPU_FEAT_TCE] = F("tce", E1, 0, ECX, 17),
    [CPU_FEAT_NODEID_MSR] = F("nodeid_msr", E1, 0, ECX, 19),
    [CPU_FEAT_TBM] = F("tbm", E1, 0, ECX, 21),
    [CPU_FEAT_TOPOEXT] = F("topoext", E1, 0, ECX, 22),
    [CPU_FEAT_PERFCTR_CORE] = F("perfctr_core", E1, 0, ECX, 23),
    [CPU_FEAT_PERFCTR_NB] = F("perfctr_nb", E1, 0, ECX, 24),
    [CPU_FEAT_BPEXT] = F("bpext", E1, 0, ECX, 26),
    [CPU_FEAT_PTSC] = F("ptsc", E1, 0, ECX, 27),
    [CPU_FEAT_PERFCTR_LLC] = F("perfctr_llc", E1, 0, ECX, 28),
    [CPU_FEAT_MWAITX] = F("mwaitx", E1, 0, ECX, 29),

    [CPU_FEAT_SYSCALL] = F("syscall", E1, 0, EDX, 11),
    [CPU_FEAT_NX] = F("nx", E1, 0, EDX, 20),
    [CPU_FEAT_MMXEXT] = F("mmxext", E1, 0, EDX, 22),
    [CPU_FEAT_FXSR_OPT] = F("fxsr_opt", E1, 0, EDX, 25),
    [CPU_FEAT_PDPE1GB] = F("pdpe1gb", E1, 0, EDX, 26),
    [CPU_FEAT_RDTSCP] = F("rdtscp", E1, 0, EDX, 27),
    [CPU_FEAT_LM] = F("lm", E1, 0, EDX, 29),
    [CPU_FEAT_3DNOWEXT] = F("3dnowext", E1, 0, EDX, 30),
    [CPU_FEAT_3DNOW] = F("3dnow", E1, 0, EDX, 31),

    [CPU_FEAT_INVTSC] = F("invtsc", 0x80000007, 0, EDX, 8),

    [CPU_FEAT_CLZERO] = F("clzero", 0x80000008, 0, EBX, 0),
    [CPU_FEAT_IRPERF] = F("irperf", 0x80000008, 0, EBX, 1),
    [CPU_FEAT_XSAVEERPTR] = F("xsaveerptr", 0x80000008, 0, EBX, 2),
    [CPU_FEAT_RDPRU] = F("rdpru", 0x80000008, 0, EBX, 4),
    [CPU_FEAT_WBNOINVD] = F("wbnoinvd", 0x80000008, 0, EBX, 9),
    [CPU_FEAT_AMD_IBPB] = F("amd_ibpb", 0x80000008, 0, EBX, 12),
    [CPU_FEAT_AMD_IBRS] = F("amd_ibrs", 0x80000008, 0, EBX, 14),
    [CPU_FEAT_AMD_STIBP] = F("amd_stibp", 0x80000008, 0, EBX, 15),
    [CPU_FEAT_AMD_STIBP_ALWAYS_ON] = F("amd_stibp_always_on", 0x80000008, 0, EBX, 17),
    [CPU_FEAT_AMD_PPIN] = F("amd_ppin", 0x80000008, 0, EBX, 23),
    [CPU_FEAT_AMD_SSBD] = F("amd_ssbd", 0x80000008, 0, EBX, 24),
    [CPU_FEAT_VIRT_SSBD] = F("virt_ssbd", 0x80000008, 0, EBX, 25),
    [CPU_FEAT_AMD_SSB_NO] = F("amd_ssb_no", 0x80000008, 0, EBX, 26),
};

/* Other spellings accepted on input: the psABI's and the SDM's names. */
static const struct { const char *alias; enum cpu_feat f; } aliases[] = {
    { "abm", CPU_FEAT_LZCNT }, { "sce", CPU_FEAT_SYSCALL }, { "cmpxchg8b", CPU_FEAT_CX8 },
    { "cmpxchg16b", CPU_FEAT_CX16 }, { "lahf", CPU_FEAT_LAHF_LM },
    { "lahf_sahf", CPU_FEAT_LAHF_LM }, { "pni", CPU_FEAT_SSE3 }, { "sse4.1", CPU_FEAT_SSE4_1 },
    { "sse4.2", CPU_FEAT_SSE4_2 }, { "bmi", CPU_FEAT_BMI1 }, { "sha", CPU_FEAT_SHA_NI },
    { "pclmul", CPU_FEAT_PCLMULQDQ }, { "3dnowprefetch", CPU_FEAT_PREFETCHW },
};

void cpu_featset_and(struct cpu_featset *out, const struct cpu_featset *a,
                     const struct cpu_featset *b)
{
    for (unsigned i = 0; i < CPU_FEATSET_WORDS; i++)
        out->w[i] = a->w[i] & b->w[i];
}

bool cpu_featset_subset(const struct cpu_featset *a, const struct cpu_featset *b)
{
    for (unsigned i = 0; i < CPU_FEATSET_WORDS; i++)
        if (a->w[i] & ~b->w[i])
            return false;
    return true;
}

bool cpu_featset_equal(const struct cpu_featset *a, const struct cpu_featset *b)
{
    return cpu_featset_subset(a, b) && cpu_featset_subset(b, a);
}

unsigned cpu_featset_count(const struct cpu_featset *s)
{
    unsigned n = 0;

    for (unsigned i = 0; i < CPU_FEATSET_WORDS; i++)
        n += __builtin_popcountll(s->w[i]);
    return n;
}

unsigned cpu_featset_format(const struct cpu_featset *s, char sep, char *buf, size_t len)
{
    size_t total = 0, off = 0;
    unsigned n = 0;

    for (unsigned f = 0; f < CPU_FEAT_COUNT; f++)
        if (cpu_featset_has(s, f))
            total += strlen(cpu_feat_table[f].name) + (n++ ? 1 : 0);
    if (!len)
        return n;
    buf[0] = 0;
    /* If the whole list does not fit, keep room for a separator and "..." after the last name. */
    size_t limit = total + 1 <= len ? len : (len > 4 ? len - 4 : 0);
    for (unsigned f = 0; f < CPU_FEAT_COUNT; f++) {
        if (!cpu_featset_has(s, f))
            continue;
        size_t nl = strlen(cpu_feat_table[f].name), need = nl + (off ? 1 : 0);
        if (off + need + 1 > limit)
            break;
        if (off)
            buf[off++] = sep;
        memcpy(buf + off, cpu_feat_table[f].name, nl + 1);
        off += nl;
    }
    if (total + 1 > len && len > 4) {
        if (off)
            buf[off++] = sep;
        memcpy(buf + off, "...", 4);
    }
    return n;
}

unsigned cpu_featset_missing(const struct cpu_featset *want, const struct cpu_featset *have,
                             char *buf, size_t len)
{
    struct cpu_featset m;

    for (unsigned i = 0; i < CPU_FEATSET_WORDS; i++)
        m.w[i] = want->w[i] & ~have->w[i];
    return cpu_featset_format(&m, ',', buf, len);
}

int cpu_feat_lookup(const char *name)
{
    int f = -ENOENT;

    for (unsigned i = 0; i < CPU_FEAT_COUNT && f < 0; i++)
        if (!strcmp(cpu_feat_table[i].name, name))
            f = i;
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]) && f < 0; i++)
        if (!strcmp(aliases[i].alias, name))
            f = aliases[i].f;
    if (f >= 0 && cpu_feat_table[f].flags)
        return -EINVAL;
    return f;
}

int cpu_featset_parse(const char *list, struct cpu_featset *s, char *bad, size_t badlen)
{
    char name[32];

    memset(s, 0, sizeof(*s));
    while (*list) {
        size_t n = strcspn(list, ",");
        int f = -ENOENT;

        if (n > 0 && n < sizeof(name)) {
            memcpy(name, list, n);
            name[n] = 0;
            f = cpu_feat_lookup(name);
        }
        if (f < 0) {
            if (badlen) {
                size_t c = n < badlen - 1 ? n : badlen - 1;
                memcpy(bad, list, c);
                bad[c] = 0;
            }
            return f;
        }
        cpu_featset_add(s, f);
        list += n;
        if (*list == ',' && *++list == 0) {
            if (badlen)
                bad[0] = 0;             /* the offending name is the empty one after it */
            return -EINVAL;             /* a trailing comma: an empty name */
        }
    }
    return 0;
}

bool cpu_feat_in_regs(enum cpu_feat f, const uint32_t regs[4])
{
    return regs[cpu_feat_table[f].reg] >> cpu_feat_table[f].bit & 1;
}
