/*
 * CPU baselines; see hv/cpu/cpu_baseline.h. The psABI levels are data (the
 * features each level adds); applying one is a walk over the policy's table.
 *
 * Family/model/stepping under a baseline (leaf 1 EAX, and 0x80000001 EAX where
 * the host fills it, as AMD does): a fixed value that names no real part, so
 * a guest OS applies no model-specific errata workarounds or model-specific
 * MSR accesses, finds the CPU in none of its "not affected" lists (and so
 * keeps its speculative-execution mitigations on), and sees the same value on
 * every host. Model 0xF0 | level (0xF1..0xF4 for v1..v4, 0xFC for cluster),
 * stepping 0, in the vendor's own numbering: GenuineIntel family 6 (the
 * family all of Intel's VT-x parts but the last Pentium 4s report; family-6
 * models above 0xDF are unassigned), any other vendor family 0x1F (base 0xF +
 * extended 0x10; AMD's families reach 0x1A, so no Linux or Windows quirk
 * table matches it). The brand string says "ferry x86-64-v3 CPU".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv/cpu/cpu_baseline.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* The MAXPHYADDR a named baseline offers at most: the smallest of current x86-64 CPUs (Intel
 * client parts; 512 GiB), so that a VM on a baseline moves between any of them. */
#define BASELINE_PHYS_BITS 39
#define EXT_BASE      0x80000000u
#define E1            0x80000001u
#define XCR0_X87      0x1ull
#define XCR0_SSE      0x2ull
#define XCR0_YMM      0x4ull
#define XCR0_MPX      0x18ull      /* BNDREGS, BNDCSR */
#define XCR0_AVX512   0xe0ull      /* opmask, ZMM_Hi256, Hi16_ZMM */
#define XCR0_PKRU     0x200ull
#define XCR0_AMX      0x60000ull   /* XTILECFG, XTILEDATA */
#define E1_EDX_MIRROR 0x0183f3ffu  /* APM E.4.2: bits copied from leaf 1 EDX on AMD */

/* psABI Table "Micro-Architecture Levels", each level adding to the one before. */
static const enum cpu_feat level_v1[] = {
    CPU_FEAT_CMOV, CPU_FEAT_CX8, CPU_FEAT_FPU, CPU_FEAT_FXSR, CPU_FEAT_MMX, CPU_FEAT_SYSCALL,
    CPU_FEAT_SSE, CPU_FEAT_SSE2,
    /* Not in the psABI list (it is about user code), but what a 64-bit guest kernel runs on:
     * paging, TSC, MSRs, SYSENTER, APIC, the 64-bit mode itself. Every VT-x / AMD-V part has
     * them. Not MCA (no machine-check MSRs are virtualized) nor VME (virtual-8086 mode does
     * not exist in long mode, and QEMU's TCG lacks it). */
    CPU_FEAT_DE, CPU_FEAT_PSE, CPU_FEAT_TSC, CPU_FEAT_MSR, CPU_FEAT_PAE,
    CPU_FEAT_MCE, CPU_FEAT_APIC, CPU_FEAT_SEP, CPU_FEAT_MTRR, CPU_FEAT_PGE, CPU_FEAT_PAT,
    CPU_FEAT_PSE36, CPU_FEAT_CLFLUSH, CPU_FEAT_NX, CPU_FEAT_LM,
    /* ferry's local APIC has x2APIC mode on every host (cpu_host_rules.c). Not its
     * TSC-deadline timer: a deadline counts TSC ticks at the rate the guest learnt at boot, and
     * a baseline is for moving between different hosts, whose TSC rates differ (no TSC scaling
     * yet): every timer would stretch or shrink. The APIC's own timer counts a fixed 1 GHz. */
    CPU_FEAT_X2APIC,
};
static const enum cpu_feat level_v2[] = {
    CPU_FEAT_CX16, CPU_FEAT_LAHF_LM, CPU_FEAT_POPCNT, CPU_FEAT_SSE3, CPU_FEAT_SSE4_1,
    CPU_FEAT_SSE4_2, CPU_FEAT_SSSE3,
};
static const enum cpu_feat level_v3[] = {
    CPU_FEAT_AVX, CPU_FEAT_AVX2, CPU_FEAT_BMI1, CPU_FEAT_BMI2, CPU_FEAT_F16C, CPU_FEAT_FMA,
    CPU_FEAT_LZCNT, CPU_FEAT_MOVBE, CPU_FEAT_XSAVE,    /* the psABI's OSXSAVE: XSAVE, and */
};                                                      /* OSXSAVE follows the guest's CR4 */
static const enum cpu_feat level_v4[] = {
    CPU_FEAT_AVX512F, CPU_FEAT_AVX512BW, CPU_FEAT_AVX512CD, CPU_FEAT_AVX512DQ,
    CPU_FEAT_AVX512VL,
};

struct level { const enum cpu_feat *f; size_t n; };

static const struct level levels[] = {
    { level_v1, ARRAY_SIZE(level_v1) }, { level_v2, ARRAY_SIZE(level_v2) },
    { level_v3, ARRAY_SIZE(level_v3) }, { level_v4, ARRAY_SIZE(level_v4) },
};

static const struct { const char *name, *desc; unsigned code; } baselines[] = {
    { CPU_BASELINE_HOST, "everything this host offers that ferry virtualizes", 0 },
    { "x86-64-v1", "psABI baseline: SSE2, CMOV, CX8, FXSR, MMX, SYSCALL (+platform)", 1 },
    { "x86-64-v2", "v1 + CX16, LAHF/SAHF, POPCNT, SSE3, SSSE3, SSE4.1, SSE4.2", 2 },
    { "x86-64-v3", "v2 + AVX, AVX2, BMI1, BMI2, F16C, FMA, LZCNT, MOVBE, XSAVE", 3 },
    { "x86-64-v4", "v3 + AVX512F, AVX512BW, AVX512CD, AVX512DQ, AVX512VL", 4 },
    { CPU_BASELINE_CLUSTER, "features common to a group of hosts (stored)", 0xc },
};

static struct cpu_featset cluster;
static bool cluster_set;

unsigned cpu_baseline_count(void) { return ARRAY_SIZE(baselines); }

const char *cpu_baseline_name(unsigned i)
{
    return i < ARRAY_SIZE(baselines) ? baselines[i].name : NULL;
}

const char *cpu_baseline_desc(unsigned i)
{
    return i < ARRAY_SIZE(baselines) ? baselines[i].desc : NULL;
}

static int baseline_index(const char *name)
{
    for (unsigned i = 0; i < ARRAY_SIZE(baselines); i++)
        if (!strcmp(baselines[i].name, name))
            return i;
    return -ENOENT;
}

static void level_set(unsigned level, struct cpu_featset *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned l = 0; l < level && l < ARRAY_SIZE(levels); l++)
        for (size_t i = 0; i < levels[l].n; i++)
            cpu_featset_add(out, levels[l].f[i]);
}

int cpu_baseline_features(const char *name, struct cpu_featset *out)
{
    int i = baseline_index(name);

    if (i < 0 || baselines[i].code == 0)
        return -ENOENT;
    if (!strcmp(name, CPU_BASELINE_CLUSTER)) {
        if (!cluster_set)
            return -ENODATA;
        *out = cluster;
        return 0;
    }
    level_set(baselines[i].code, out);
    return 0;
}

void cpu_baseline_set_cluster(const struct cpu_featset *s)
{
    level_set(1, &cluster);
    for (unsigned f = 0; f < CPU_FEAT_COUNT; f++)
        if (cpu_featset_has(s, f) && !cpu_feat_table[f].flags)
            cpu_featset_add(&cluster, f);
    /* Its value differs between hosts and the cluster's intersection of it is not known here:
     * without the MSR, guests assume they are affected by everything, which is safe. */
    cpu_featset_del(&cluster, CPU_FEAT_ARCH_CAPABILITIES);
    cluster_set = true;
}

void cpu_baseline_clear_cluster(void)
{
    memset(&cluster, 0, sizeof(cluster));
    cluster_set = false;
}

uint64_t cpu_baseline_xcr0(const struct cpu_featset *s)
{
    uint64_t x = XCR0_X87 | XCR0_SSE;

    if (!cpu_featset_has(s, CPU_FEAT_XSAVE))
        return x;
    if (cpu_featset_has(s, CPU_FEAT_AVX))
        x |= XCR0_YMM;
    if (cpu_featset_has(s, CPU_FEAT_AVX512F) && cpu_featset_has(s, CPU_FEAT_AVX))
        x |= XCR0_AVX512;
    if (cpu_featset_has(s, CPU_FEAT_MPX))
        x |= XCR0_MPX;
    if (cpu_featset_has(s, CPU_FEAT_PKU))
        x |= XCR0_PKRU;
    if (cpu_featset_has(s, CPU_FEAT_AMX_TILE))
        x |= XCR0_AMX;
    return x;
}

int cpu_baseline_check(const struct cpu_policy *host, const char *name, char *missing,
                       size_t len)
{
    struct cpu_featset want, have;
    int rc;

    if (len)
        missing[0] = 0;
    if (!strcmp(name, CPU_BASELINE_HOST))
        return 0;
    if ((rc = cpu_baseline_features(name, &want)))
        return rc;
    cpu_policy_features(host, &have);
    return cpu_featset_missing(&want, &have, missing, len) ? -ENOTSUP : 0;
}

/* Registers of (leaf, subleaf) made of feature bits (1 << enum cpu_reg). */
static unsigned feature_regs(uint32_t leaf, uint32_t sub)
{
    const unsigned a = 1u << CPU_EAX, b = 1u << CPU_EBX, c = 1u << CPU_ECX, d = 1u << CPU_EDX;

    switch (leaf) {
    case 1: return c | d;
    case 7: return sub == 0 ? b | c | d : a | b | c | d;   /* sub 0 EAX: the highest subleaf */
    case 0xd: return sub == 1 ? a : 0;
    case E1: return c | d;
    case 0x80000007: return a | b | c | d;                 /* RAS and power features, invtsc */
    case 0x80000008: return b;
    default: return 0;
    }
}

/* Bits of a feature register a baseline keeps: its named features there, and ferry's own. */
static uint32_t keep_bits(const struct cpu_featset *s, uint32_t leaf, uint32_t sub, unsigned reg)
{
    uint32_t m = 0;

    for (unsigned f = 0; f < CPU_FEAT_COUNT; f++) {
        const struct cpu_feat_info *fi = &cpu_feat_table[f];

        if (fi->leaf == leaf && fi->subleaf == sub && fi->reg == reg &&
            (cpu_featset_has(s, f) || (fi->flags & CPU_FEAT_DYNAMIC)))
            m |= 1u << fi->bit;
    }
    return m;
}

/* Leaves a baseline keeps, some only with the feature they belong to (-1: always). */
static const struct { uint32_t leaf; int feat; } kept_leaves[] = {
    { 0x0, -1 }, { 0x1, -1 }, { 0x2, -1 }, { 0x4, -1 }, { 0x5, CPU_FEAT_MONITOR }, { 0x6, -1 },
    { 0x7, -1 }, { 0xb, -1 }, { 0xd, CPU_FEAT_XSAVE }, { 0x15, -1 }, { 0x16, -1 },
    { 0x1d, CPU_FEAT_AMX_TILE }, { 0x1e, CPU_FEAT_AMX_TILE }, { 0x1f, -1 },
    { 0x40000000, -1 }, { 0x40000001, -1 },
    { 0x80000000, -1 }, { 0x80000001, -1 }, { 0x80000002, -1 }, { 0x80000003, -1 },
    { 0x80000004, -1 }, { 0x80000005, -1 }, { 0x80000006, -1 }, { 0x80000007, -1 },
    { 0x80000008, -1 }, { 0x8000001d, CPU_FEAT_TOPOEXT }, { 0x8000001e, CPU_FEAT_TOPOEXT },
};

static bool leaf_kept(const struct cpu_featset *s, uint32_t leaf)
{
    for (size_t i = 0; i < ARRAY_SIZE(kept_leaves); i++)
        if (kept_leaves[i].leaf == leaf)
            return kept_leaves[i].feat < 0 || cpu_featset_has(s, kept_leaves[i].feat);
    return false;
}

/* Leaf 1 EAX for a baseline: see the top of this file. */
static uint32_t baseline_fms(const char *vendor, unsigned code)
{
    uint32_t model = 0xf0 | code;

    if (!strcmp(vendor, "GenuineIntel"))
        return (model >> 4) << 16 | 0x6u << 8 | (model & 0xf) << 4;
    return 0x10u << 20 | (model >> 4) << 16 | 0xfu << 8 | (model & 0xf) << 4;
}

static uint32_t *reg_ptr(struct cpuid_out *r, unsigned reg)
{
    uint32_t *regs[4] = { &r->eax, &r->ebx, &r->ecx, &r->edx };

    return regs[reg];
}

struct cut {
    const struct cpu_featset *s;
    uint64_t xcr0;
    uint32_t max_ext, fms, leaf1_edx;
    char brand[48];
};

/* One entry under the baseline; false if the guest should not see it at all. */
static bool cut_entry(const struct cut *c, struct cpuid_leaf *e)
{
    struct cpuid_out *r = &e->regs;
    uint32_t host_edx = r->edx;
    unsigned regs = feature_regs(e->leaf, e->subleaf);

    if (!leaf_kept(c->s, e->leaf) || (e->leaf >= EXT_BASE && e->leaf > c->max_ext))
        return false;
    for (unsigned reg = 0; reg < 4; reg++)
        if (regs >> reg & 1)
            *reg_ptr(r, reg) &= keep_bits(c->s, e->leaf, e->subleaf, reg);
    if (e->leaf == 1) {
        r->eax = c->fms;
        r->ebx &= ~0xffu;                       /* brand index */
    } else if (e->leaf == E1) {
        r->eax = r->eax ? c->fms : 0;           /* AMD repeats the signature here */
        r->ebx = 0;                             /* AMD brand ID and package type */
        r->edx |= host_edx & E1_EDX_MIRROR & c->leaf1_edx;
    } else if (e->leaf == 0xd && e->subleaf == 0) {
        r->eax = (uint32_t)c->xcr0;
        r->edx = (uint32_t)(c->xcr0 >> 32);
    } else if (e->leaf == 0xd && e->subleaf >= 2) {
        if (e->subleaf > 63 || !(c->xcr0 >> e->subleaf & 1))
            return false;
    } else if (e->leaf == EXT_BASE) {
        r->eax = c->max_ext;
    } else if (e->leaf >= 0x80000002 && e->leaf <= 0x80000004) {
        memcpy(r, c->brand + (e->leaf - 0x80000002) * 16, 16);
    } else if (e->leaf == 0x80000008) {
        /* MAXPHYADDR at most BASELINE_PHYS_BITS, linear addresses 48 bits unless the baseline
         * has LA57 (a VM moves only to hosts with at least its own); the guest-physical size
         * (bits 23:16, nested paging's) as MAXPHYADDR. */
        unsigned phys = r->eax & 0xff, linear = r->eax >> 8 & 0xff;
        if (phys > BASELINE_PHYS_BITS)
            phys = BASELINE_PHYS_BITS;
        if (linear > 48 && !cpu_featset_has(c->s, CPU_FEAT_LA57))
            linear = 48;
        r->eax = linear << 8 | phys;
        r->edx = 0;                             /* INVLPGB and RDPRU limits: features hidden */
    }
    return !(r->eax | r->ebx | r->ecx | r->edx) ? cpu_policy_leaf_dynamic(e->leaf) : true;
}

/* Leaf 7.0 EAX is the highest subleaf: what is left of them. */
static void fix_leaf7_max(struct cpu_policy *p)
{
    struct cpuid_leaf *l70 = NULL;
    uint32_t max = 0;

    for (unsigned i = 0; i < p->nleaves; i++) {
        struct cpuid_leaf *e = &p->leaves[i];

        if (e->leaf == 7 && e->subleaf == 0)
            l70 = e;
        else if (e->leaf == 7 && e->subleaf > max)
            max = e->subleaf;
    }
    if (l70)
        l70->regs.eax = max;
}

int cpu_policy_apply_baseline(struct cpu_policy *p, const char *name, char *missing,
                              size_t len)
{
    const struct cpuid_leaf *l1;
    struct cpu_featset want;
    struct cut c = { .s = &want };
    unsigned n = 0;
    int rc, i = baseline_index(name);

    if (strcmp(p->name, CPU_BASELINE_HOST)) {
        if (len)
            missing[0] = 0;
        return -EINVAL;
    }
    if ((rc = cpu_baseline_check(p, name, missing, len)) || i == 0)
        return rc;
    cpu_baseline_features(name, &want);
    c.xcr0 = p->xcr0_mask & cpu_baseline_xcr0(&want);
    c.max_ext = p->max_ext;
    if (c.max_ext > (cpu_featset_has(&want, CPU_FEAT_TOPOEXT) ? 0x8000001eu : 0x80000008u))
        c.max_ext = cpu_featset_has(&want, CPU_FEAT_TOPOEXT) ? 0x8000001eu : 0x80000008u;
    c.fms = baseline_fms(p->vendor, baselines[i].code);
    l1 = cpu_policy_find(p, 1, 0);
    c.leaf1_edx = l1 ? l1->regs.edx & keep_bits(&want, 1, 0, CPU_EDX) : 0;
    snprintf(c.brand, sizeof(c.brand), "ferry %s CPU", name);
    for (unsigned j = 0; j < p->nleaves; j++) {
        struct cpuid_leaf e = p->leaves[j];

        if (cut_entry(&c, &e))
            p->leaves[n++] = e;
    }
    memset(&p->leaves[n], 0, (p->nleaves - n) * sizeof(p->leaves[0]));
    p->nleaves = n;
    fix_leaf7_max(p);
    p->xcr0_mask = c.xcr0;
    p->max_ext = c.max_ext;
    p->arch_caps = 0;                           /* the MSR is not part of any baseline */
    snprintf(p->name, sizeof(p->name), "%s", name);
    return 0;
}

static bool list_cut(const char *buf, size_t off)
{
    return off >= 3 && !memcmp(buf + off - 3, "...", 3);
}

/*
 * Appends item to the comma-separated list in buf (off: its length). An item that
 * does not fit with room for ",..." after it ends the list with "..." instead.
 */
static void list_add(char *buf, size_t len, size_t *off, const char *item)
{
    const char *sep = *off ? "," : "";
    size_t n = strlen(sep) + strlen(item);

    if (!len || list_cut(buf, *off))
        return;
    if (*off + n + 4 < len)
        snprintf(buf + *off, len - *off, "%s%s", sep, item);
    else if (*off + strlen(sep) + 3 < len)
        snprintf(buf + *off, len - *off, "%s...", sep);
    *off += strlen(buf + *off);
}

static const char *const xstate_names[] = {
    [0] = "x87", [1] = "sse", [2] = "ymm", [3] = "bndregs", [4] = "bndcsr", [5] = "opmask",
    [6] = "zmm_hi256", [7] = "hi16_zmm", [9] = "pkru", [17] = "xtilecfg", [18] = "xtiledata",
};

static void xstate_name(unsigned i, const char *what, char *out, size_t len)
{
    if (i < ARRAY_SIZE(xstate_names) && xstate_names[i])
        snprintf(out, len, "%s.%s", what, xstate_names[i]);
    else
        snprintf(out, len, "%s.%u", what, i);
}

/*
 * XSAVE components the VM may enable: this host must support each one, with the
 * same size and standard-format offset (the migrated XSAVE image is restored as is).
 */
static unsigned check_xsave(const struct cpu_policy *vm, const struct cpu_policy *host,
                            char *buf, size_t len, size_t *off)
{
    unsigned bad = 0;
    char item[32];

    for (unsigned i = 0; i < 64; i++) {
        const struct cpuid_leaf *a, *b;

        if (!(vm->xcr0_mask >> i & 1))
            continue;
        if (!(host->xcr0_mask >> i & 1) && (i > 1 || host->xcr0_mask)) {
            xstate_name(i, "xcr0", item, sizeof(item));
        } else {
            a = i >= 2 ? cpu_policy_find(vm, 0xd, i) : NULL;
            b = i >= 2 ? cpu_policy_find(host, 0xd, i) : NULL;
            if (!a || (b && a->regs.eax == b->regs.eax && a->regs.ebx == b->regs.ebx))
                continue;
            xstate_name(i, "xsave", item, sizeof(item));
        }
        bad++;
        list_add(buf, len, off, item);
    }
    return bad;
}

static const struct { unsigned bit; const char *name; } arch_cap_names[] = {
    { 0, "rdcl_no" }, { 2, "rsba" }, { 4, "ssb_no" }, { 5, "mds_no" },
    { 6, "if_pschange_mc_no" }, { 8, "taa_no" }, { 13, "sbdr_ssdp_no" }, { 14, "fbsdp_no" },
    { 15, "psdp_no" }, { 19, "rrsba" }, { 24, "pbrsb_no" },
};

/* The VM was told it is not affected by something this host is affected by. */
static unsigned check_arch_caps(const struct cpu_policy *vm, const struct cpu_policy *host,
                                char *buf, size_t len, size_t *off)
{
    uint64_t lost = (vm->arch_caps & ~host->arch_caps & CPU_ARCH_CAPS_NOT_AFFECTED) |
                    (host->arch_caps & ~vm->arch_caps & CPU_ARCH_CAPS_AFFECTED);
    unsigned bad = 0;
    char item[40];

    if (!cpu_policy_has(vm, CPU_FEAT_ARCH_CAPABILITIES))
        return 0;
    for (size_t i = 0; i < ARRAY_SIZE(arch_cap_names); i++)
        if (lost >> arch_cap_names[i].bit & 1) {
            snprintf(item, sizeof(item), "arch_caps.%s", arch_cap_names[i].name);
            list_add(buf, len, off, item);
            bad++;
        }
    return bad;
}

/* A VM told of more physical or linear address bits than this host has: its page tables may
 * use addresses (or set bits) this CPU refuses as reserved. */
static unsigned check_addr_bits(const struct cpu_policy *vm, const struct cpu_policy *host,
                                char *buf, size_t len, size_t *off)
{
    const unsigned a[2] = { cpu_policy_phys_bits(vm), cpu_policy_linear_bits(vm) };
    const unsigned b[2] = { cpu_policy_phys_bits(host), cpu_policy_linear_bits(host) };
    static const char *const name[2] = { "maxphyaddr", "linear_bits" };
    unsigned bad = 0;
    char item[40];

    for (size_t i = 0; i < 2; i++) {
        if (a[i] > b[i]) {
            snprintf(item, sizeof(item), "%s(%u>%u)", name[i], a[i], b[i]);
            list_add(buf, len, off, item);
            bad++;
        }
    }
    return bad;
}

int cpu_policy_check_host(const struct cpu_policy *vm, const struct cpu_policy *host,
                          char *missing, size_t len)
{
    struct cpu_featset want, have;
    size_t off;
    unsigned bad;

    if (len)
        missing[0] = 0;
    cpu_policy_features(vm, &want);
    cpu_policy_features(host, &have);
    bad = cpu_featset_missing(&want, &have, missing, len);
    off = len ? strlen(missing) : 0;
    bad += check_xsave(vm, host, missing, len, &off);
    bad += check_arch_caps(vm, host, missing, len, &off);
    bad += check_addr_bits(vm, host, missing, len, &off);
    return bad ? -ENOTSUP : 0;
}
