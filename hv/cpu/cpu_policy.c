/*
 * CPU policy; see hv/cpu/cpu_policy.h for the contract. Bit positions are from
 * SDM Vol. 2A "CPUID" (Tables 3-8 to 3-10) and APM Vol. 3 Appendix E. What the
 * guest sees is decided by data, not code: sub_enums says which subleaves of
 * a leaf are snapshotted, cpu_host_rules (cpu_host_rules.c) what is hidden or
 * set and why. The only
 * code-level decisions are the clamps of leaf 0 / 0x80000000 EAX to what the
 * table covers and the per-vCPU fields in policy_dynamic().
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hv/cpu/cpu_policy.h"
#include "hv/cpu/cpu_policy_int.h"
#include "hv/base/log.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define EXT_BASE   0x80000000u
#define HV_LAST    (CPU_POLICY_HV_BASE + 0xffu)

#define CR4_OSXSAVE         (1ull << 18)
#define CR4_PKE             (1ull << 22)
#define XSAVE_LEGACY_SIZE   576u          /* SDM 13.4: 512-byte legacy region + 64-byte header */
#define TOPO_SMT            1u            /* leaf 0xB/0x1F ECX[15:8] level types */
#define TOPO_CORE           2u

/* Which subleaves of a leaf the snapshot reads (all others: subleaf 0, ECX ignored). */
enum sub_kind {
    SUB_FIXED,      /* 0..max-1 */
    SUB_EAX_MAX,    /* 0..sub 0 EAX (the highest valid subleaf), at most max-1 */
    SUB_TYPED,      /* 0.. until EAX[4:0] (cache type) is 0, at most max */
    SUB_XSAVE,      /* 0, 1, then i where XCR0 or IA32_XSS bit i is supported */
};

struct sub_enum { uint32_t leaf; enum sub_kind kind; uint32_t max; };

static const struct sub_enum sub_enums[] = {
    { 0x4,         SUB_TYPED,   8 },   /* deterministic cache parameters */
    { 0x7,         SUB_EAX_MAX, 4 },   /* structured extended features */
    { 0xb,         SUB_FIXED,   1 },   /* topology: levels are synthesized per VM, */
    { 0x1f,        SUB_FIXED,   1 },   /* sub 0 only records that the leaf exists */
    { 0xd,         SUB_XSAVE,   64 },  /* XSAVE state components */
    { 0xf,         SUB_FIXED,   2 },   /* RDT monitoring */
    { 0x10,        SUB_FIXED,   4 },   /* RDT allocation */
    { 0x12,        SUB_FIXED,   4 },   /* SGX */
    { 0x14,        SUB_EAX_MAX, 2 },   /* Intel PT */
    { 0x17,        SUB_EAX_MAX, 4 },   /* SoC vendor */
    { 0x18,        SUB_EAX_MAX, 8 },   /* deterministic address translation */
    { 0x1d,        SUB_EAX_MAX, 2 },   /* AMX tile palettes */
    { 0x8000001d,  SUB_TYPED,   8 },   /* AMD cache topology */
    { 0x80000020,  SUB_FIXED,   4 },   /* AMD platform QoS */
};

bool cpu_policy_leaf_dynamic(uint32_t leaf)
{
    return leaf == 0xb || leaf == 0x1f || leaf == 0x8000001e;
}

static bool regs_zero(const struct cpuid_out *r)
{
    return !(r->eax | r->ebx | r->ecx | r->edx);
}

static void rules_apply(const struct cpu_rule *rules, size_t n, uint32_t leaf,
                        uint32_t subleaf, struct cpuid_out *r)
{
    for (size_t i = 0; i < n; i++) {
        const struct cpu_rule *ru = &rules[i];

        if (ru->leaf != leaf || (ru->subleaf != SUB_ANY && ru->subleaf != subleaf))
            continue;
        if (ru->regs & R_EAX)
            r->eax = (r->eax & ~ru->clear) | ru->set;
        if (ru->regs & R_EBX)
            r->ebx = (r->ebx & ~ru->clear) | ru->set;
        if (ru->regs & R_ECX)
            r->ecx = (r->ecx & ~ru->clear) | ru->set;
        if (ru->regs & R_EDX)
            r->edx = (r->edx & ~ru->clear) | ru->set;
    }
}

const struct cpuid_leaf *cpu_policy_find(const struct cpu_policy *p, uint32_t leaf,
                                         uint32_t subleaf)
{
    for (unsigned i = 0; i < p->nleaves; i++) {
        const struct cpuid_leaf *e = &p->leaves[i];

        if (e->leaf == leaf && (!e->has_subleaf || e->subleaf == subleaf))
            return e;
    }
    return NULL;
}

static unsigned addr_bits(const struct cpu_policy *p, unsigned shift, unsigned absent)
{
    const struct cpuid_leaf *l = cpu_policy_find(p, 0x80000008, 0);
    unsigned v = l ? (l->regs.eax >> shift) & 0xff : 0;
    return v ? v : absent;
}

unsigned cpu_policy_phys_bits(const struct cpu_policy *p) { return addr_bits(p, 0, 36); }
unsigned cpu_policy_linear_bits(const struct cpu_policy *p) { return addr_bits(p, 8, 32); }

/* Applies the rules to `r` and stores the result unless there is nothing to show. */
static int policy_add(struct cpu_policy *p, uint32_t leaf, uint32_t subleaf, bool has_subleaf,
                      struct cpuid_out r)
{
    struct cpuid_leaf *e;

    rules_apply(cpu_host_rules, cpu_host_nrules, leaf, subleaf, &r);
    if (regs_zero(&r) && !cpu_policy_leaf_dynamic(leaf))
        return 0;
    if (p->nleaves == CPU_POLICY_MAX_LEAVES)
        return -ENOSPC;
    e = &p->leaves[p->nleaves++];
    e->leaf = leaf;
    e->subleaf = has_subleaf ? subleaf : 0;
    e->has_subleaf = has_subleaf;
    e->regs = r;
    return 0;
}

struct snap {
    struct cpu_policy *p;
    cpuid_raw_fn raw;
    void *ctx;
};

/*
 * Reads one (leaf, subleaf) from the host; a leaf the host reports as all zero
 * is absent. Leaf 0 / 0x80000000 EAX are clamped to how far the table goes.
 */
static int snap_one(struct snap *s, uint32_t leaf, uint32_t subleaf, bool has_subleaf,
                    struct cpuid_out *raw)
{
    struct cpuid_out r;

    *raw = s->raw(leaf, subleaf, s->ctx);
    if (regs_zero(raw))
        return 0;
    r = *raw;
    if (leaf == 0)
        r.eax = s->p->max_basic;
    else if (leaf == EXT_BASE)
        r.eax = s->p->max_ext;
    return policy_add(s->p, leaf, subleaf, has_subleaf, r);
}

/* XSAVE sub-leaf i >= 2 is valid when bit i is supported in XCR0 or IA32_XSS (after the rules). */
static bool xsave_sub_valid(const struct cpu_policy *p, uint32_t i)
{
    const struct cpuid_leaf *s0 = cpu_policy_find(p, 0xd, 0), *s1 = cpu_policy_find(p, 0xd, 1);
    uint64_t mask = 0;

    if (s0)
        mask |= s0->regs.eax | (uint64_t)s0->regs.edx << 32;
    if (s1)
        mask |= s1->regs.ecx | (uint64_t)s1->regs.edx << 32;
    return i < 64 && (mask >> i & 1);
}

static int snap_subleaves(struct snap *s, const struct sub_enum *se)
{
    struct cpuid_out raw;
    uint32_t last = se->max - 1;
    int rc;

    for (uint32_t sub = 0; sub <= last; sub++) {
        if (se->kind == SUB_XSAVE && sub >= 2 && !xsave_sub_valid(s->p, sub))
            continue;
        rc = snap_one(s, se->leaf, sub, true, &raw);
        if (rc)
            return rc;
        if (se->kind == SUB_EAX_MAX && sub == 0 && raw.eax < last)
            last = raw.eax;
        if (se->kind == SUB_TYPED && !(raw.eax & 0x1f))
            break;
    }
    return 0;
}

static int snap_leaf(struct snap *s, uint32_t leaf)
{
    struct cpuid_out raw;

    for (size_t i = 0; i < ARRAY_SIZE(sub_enums); i++)
        if (sub_enums[i].leaf == leaf)
            return snap_subleaves(s, &sub_enums[i]);
    return snap_one(s, leaf, 0, false, &raw);
}

static int snap_range(struct snap *s, uint32_t first, uint32_t last)
{
    for (uint32_t leaf = first; leaf <= last; leaf++) {
        int rc = snap_leaf(s, leaf);

        if (rc)
            return rc;
    }
    return 0;
}

static int policy_snapshot(struct cpu_policy *p, cpuid_raw_fn raw, void *ctx)
{
    struct snap s = { .p = p, .raw = raw, .ctx = ctx };
    struct cpuid_out zero = { 0 };
    uint32_t host_ext;
    int rc;

    p->max_basic = raw(0, 0, ctx).eax;
    if (p->max_basic > CPU_POLICY_MAX_BASIC)
        p->max_basic = CPU_POLICY_MAX_BASIC;
    host_ext = raw(EXT_BASE, 0, ctx).eax;
    p->max_ext = host_ext < EXT_BASE ? 0 : host_ext;
    if (p->max_ext > CPU_POLICY_MAX_EXT)
        p->max_ext = CPU_POLICY_MAX_EXT;

    rc = snap_range(&s, 0, p->max_basic);
    for (uint32_t leaf = CPU_POLICY_HV_BASE; !rc && leaf <= CPU_POLICY_HV_MAX; leaf++)
        rc = policy_add(p, leaf, 0, false, zero);   /* ferry's own, never the host's */
    if (!rc && p->max_ext)
        rc = snap_range(&s, EXT_BASE, p->max_ext);
    return rc;
}

int cpu_policy_from_host(struct cpu_policy *p, cpuid_raw_fn raw, void *ctx)
{
    const struct cpuid_leaf *e;
    struct cpuid_out v;
    int rc;

    memset(p, 0, sizeof(*p));
    memcpy(p->name, "host", sizeof("host"));
    v = raw(0, 0, ctx);
    memcpy(p->vendor, &v.ebx, 4);
    memcpy(p->vendor + 4, &v.edx, 4);
    memcpy(p->vendor + 8, &v.ecx, 4);

    rc = policy_snapshot(p, raw, ctx);
    if (rc) {
        log_err("cpu_policy", "host CPUID needs more than %d leaves", CPU_POLICY_MAX_LEAVES);
        return rc;
    }
    e = cpu_policy_find(p, 0xd, 0);
    if (e)
        p->xcr0_mask = e->regs.eax | (uint64_t)e->regs.edx << 32;
    log_info("cpu_policy", "%s: %s, max leaf 0x%x/0x%x, %u leaves, xcr0 0x%llx", p->name,
             p->vendor, p->max_basic, p->max_ext, p->nleaves,
             (unsigned long long)p->xcr0_mask);
    return 0;
}

/*
 * XSAVE area size for the components in `xcr0` (SDM 13.4, 13.5): standard
 * format is the end of the highest component; compacted packs them in order,
 * 64-byte aligning those with sub-leaf i ECX[1] set.
 */
static uint32_t xsave_size(const struct cpu_policy *p, uint64_t xcr0, bool compacted)
{
    uint32_t size = XSAVE_LEGACY_SIZE;

    for (unsigned i = 0; i < p->nleaves; i++) {
        const struct cpuid_leaf *e = &p->leaves[i];

        if (e->leaf != 0xd || e->subleaf < 2 || e->subleaf > 63 || !(xcr0 >> e->subleaf & 1))
            continue;
        if (!compacted) {
            if (e->regs.ebx + e->regs.eax > size)
                size = e->regs.ebx + e->regs.eax;
            continue;
        }
        if (e->regs.ecx & LD_ECX_ALIGN64)
            size = (size + 63) & ~63u;
        size += e->regs.eax;
    }
    return size;
}

static unsigned order(unsigned n)
{
    unsigned s = 0;

    while ((1u << s) < n && s < 31)
        s++;
    return s;
}

/*
 * Leaves 0xB / 0x1F (SDM "V2 Extended Topology"): each vCPU is a core with one
 * thread, all in one package, x2APIC ID = vCPU index. Not nvcpus SMT siblings:
 * guests treat siblings as sharing a core (and `nosmt` would offline them).
 */
static void policy_topology(uint32_t subleaf, unsigned vcpu, unsigned nvcpus,
                            struct cpuid_out *out)
{
    out->eax = 0;
    out->ebx = 0;
    out->ecx = subleaf & 0xff;
    out->edx = vcpu;
    if (subleaf == 0) {
        out->ebx = 1;
        out->ecx |= TOPO_SMT << 8;
    } else if (subleaf == 1) {
        out->eax = order(nvcpus);
        out->ebx = nvcpus;
        out->ecx |= TOPO_CORE << 8;
    }
}

/* Fills the fields that depend on the vCPU, the VM's size and the guest's CR4/XCR0. */
static void policy_dynamic(const struct cpu_policy *p, uint32_t leaf, uint32_t subleaf,
                           unsigned vcpu, unsigned nvcpus, uint64_t cr4, uint64_t xcr0,
                           struct cpuid_out *out)
{
    unsigned count = nvcpus > 0xff ? 0xff : nvcpus;

    xcr0 &= p->xcr0_mask;
    switch (leaf) {
    case 1:
        out->ebx |= (vcpu & 0xffu) << 24 | count << 16;
        out->edx |= nvcpus > 1 ? L1_EDX_HTT : 0;
        if ((out->ecx & L1_ECX_XSAVE) && (cr4 & CR4_OSXSAVE))
            out->ecx |= L1_ECX_OSXSAVE;         /* SDM: OSXSAVE is CR4.OSXSAVE, with XSAVE */
        break;
    case 0xb:
    case 0x1f:
        if (cpu_policy_find(p, leaf, 0))
            policy_topology(subleaf, vcpu, nvcpus, out);
        break;
    case 7:
        if (subleaf == 0 && (out->ecx & L7_ECX_PKU) && (cr4 & CR4_PKE))
            out->ecx |= L7_ECX_OSPKE;           /* SDM: OSPKE is CR4.PKE, with PKU */
        break;
    case 0xd:
        if (subleaf == 0) {
            out->ebx = xsave_size(p, xcr0, false);
            out->ecx = xsave_size(p, p->xcr0_mask, false);
        } else if (subleaf == 1 && (out->eax & LD1_EAX_XSAVES)) {
            out->ebx = xsave_size(p, xcr0, true);   /* XCR0 | IA32_XSS; XSS is always 0 */
        }
        break;
    case 0x8000001e:
        if (!cpu_policy_find(p, leaf, 0))
            break;
        out->eax = vcpu;            /* APM E.4.24: extended APIC ID */
        out->ebx = vcpu & 0xffu;    /* compute unit ID; one thread per unit */
        out->ecx = 0;               /* node 0, one node per package */
        break;
    }
}

void cpu_policy_cpuid(const struct cpu_policy *p, uint32_t leaf, uint32_t subleaf,
                      unsigned vcpu, unsigned nvcpus, uint64_t guest_cr4,
                      uint64_t guest_xcr0, struct cpuid_out *out)
{
    const struct cpuid_leaf *e;

    memset(out, 0, sizeof(*out));
    if (leaf < CPU_POLICY_HV_BASE) {
        if (leaf > p->max_basic)
            leaf = p->max_basic;    /* SDM: above the maximum, the highest basic leaf */
    } else if (leaf > HV_LAST && (leaf < EXT_BASE || leaf > p->max_ext)) {
        return;
    }
    e = cpu_policy_find(p, leaf, subleaf);
    if (!e && !cpu_policy_leaf_dynamic(leaf))
        return;
    if (e)
        *out = e->regs;
    policy_dynamic(p, leaf, subleaf, vcpu, nvcpus, guest_cr4, guest_xcr0, out);
}

bool cpu_policy_has(const struct cpu_policy *p, enum cpu_feat f)
{
    const struct cpu_feat_info *fi = &cpu_feat_table[f];
    const struct cpuid_leaf *e;

    if (fi->flags)
        return false;
    e = cpu_policy_find(p, fi->leaf, fi->subleaf);
    if (!e)
        return false;
    return cpu_feat_in_regs(f, (const uint32_t[4]){ e->regs.eax, e->regs.ebx, e->regs.ecx,
                                                     e->regs.edx });
}

/*
 * SDM Vol. 1 13.3 and XSETBV: x87 always; AVX needs SSE; MPX's two components
 * together; AVX-512's three together and with SSE and AVX; AMX's two together.
 * And nothing the policy does not offer.
 */
bool cpu_policy_xcr0_ok(const struct cpu_policy *p, uint64_t x)
{
    if (!(x & 1) || (x & ~p->xcr0_mask))
        return false;
    if ((x & 4) && !(x & 2))
        return false;
    if ((x & 0x18) && (x & 0x18) != 0x18)
        return false;
    if ((x & 0xe0) && ((x & 0xe0) != 0xe0 || (x & 6) != 6))
        return false;
    return !(x & 0x60000) || (x & 0x60000) == 0x60000;
}

struct cpu_policy_fms cpu_policy_fms(const struct cpu_policy *p)
{
    const struct cpuid_leaf *e = cpu_policy_find(p, 1, 0);
    uint32_t a = e ? e->regs.eax : 0, base = a >> 8 & 0xf;
    struct cpu_policy_fms f = { .family = base, .model = a >> 4 & 0xf, .stepping = a & 0xf };

    if (base == 0xf)
        f.family += a >> 20 & 0xff;
    if (base == 0x6 || base == 0xf)
        f.model |= (a >> 16 & 0xf) << 4;
    return f;
}

void cpu_policy_set_arch_caps(struct cpu_policy *p, uint64_t host_value)
{
    p->arch_caps = 0;
    if (cpu_policy_has(p, CPU_FEAT_ARCH_CAPABILITIES))
        p->arch_caps = host_value & (CPU_ARCH_CAPS_NOT_AFFECTED | CPU_ARCH_CAPS_AFFECTED);
}

/* Features whose register state is an XSAVE component: unusable unless XCR0 can enable it. */
static const struct { enum cpu_feat f; uint64_t xcr0; } state_features[] = {
    { CPU_FEAT_AVX, 0x4 }, { CPU_FEAT_MPX, 0x18 }, { CPU_FEAT_AVX512F, 0xe0 },
    { CPU_FEAT_PKU, 0x200 }, { CPU_FEAT_AMX_TILE, 0x60000 },
};

void cpu_policy_features(const struct cpu_policy *p, struct cpu_featset *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned f = 0; f < CPU_FEAT_COUNT; f++)
        if (cpu_policy_has(p, f))
            cpu_featset_add(out, f);
    for (size_t i = 0; i < ARRAY_SIZE(state_features); i++)
        if ((p->xcr0_mask & state_features[i].xcr0) != state_features[i].xcr0)
            cpu_featset_del(out, state_features[i].f);
}
