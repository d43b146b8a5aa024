/* The CPU policy's wire format; see hv/cpu/cpu_policy_codec.h. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "hv/cpu/cpu_policy_codec.h"
#include "hv/base/crc32c.h"

#define EXT_BASE 0x80000000u
#define MAGIC    "FCPL"

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, v >> 16); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, v >> 32); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

int cpu_policy_serialize(const struct cpu_policy *p, uint8_t *buf, size_t len)
{
    size_t n = CPU_POLICY_BLOB_HDR + (size_t)p->nleaves * CPU_POLICY_BLOB_LEAF + 4;

    if (p->nleaves > CPU_POLICY_MAX_LEAVES || len < n)
        return -ENOSPC;
    memset(buf, 0, n);
    memcpy(buf, MAGIC, 4);
    put16(buf + 4, CPU_POLICY_CODEC_VERSION);
    put16(buf + 6, (uint16_t)p->nleaves);
    strncpy((char *)buf + 8, p->name, 15);
    memcpy(buf + 24, p->vendor, 12);
    put32(buf + 36, p->max_basic);
    put32(buf + 40, p->max_ext);
    put64(buf + 44, p->xcr0_mask);
    put64(buf + 52, p->arch_caps);
    for (unsigned i = 0; i < p->nleaves; i++) {
        const struct cpuid_leaf *e = &p->leaves[i];
        uint8_t *l = buf + CPU_POLICY_BLOB_HDR + i * CPU_POLICY_BLOB_LEAF;

        put32(l, e->leaf);
        put32(l + 4, e->subleaf);
        put32(l + 8, e->has_subleaf ? 1 : 0);
        put32(l + 12, e->regs.eax);
        put32(l + 16, e->regs.ebx);
        put32(l + 20, e->regs.ecx);
        put32(l + 24, e->regs.edx);
    }
    put32(buf + n - 4, crc32c_update(0, buf, n - 4));
    return (int)n;
}

static bool name_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max);

    if (n == 0 || n == max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '_' || s[i] == '.'))
            return false;
    for (size_t i = n; i < max; i++)            /* one encoding per policy: NUL padding */
        if (s[i])
            return false;
    return true;
}

static bool leaf_in_range(const struct cpu_policy *p, uint32_t leaf)
{
    if (leaf <= p->max_basic)
        return true;
    if (leaf >= CPU_POLICY_HV_BASE && leaf <= CPU_POLICY_HV_MAX)
        return true;
    return p->max_ext && leaf >= EXT_BASE && leaf <= p->max_ext;
}

static int read_leaves(struct cpu_policy *p, const uint8_t *l)
{
    for (unsigned i = 0; i < p->nleaves; i++, l += CPU_POLICY_BLOB_LEAF) {
        struct cpuid_leaf *e = &p->leaves[i];
        uint32_t flags = get32(l + 8);

        e->leaf = get32(l);
        e->subleaf = get32(l + 4);
        e->has_subleaf = flags & 1;
        e->regs = (struct cpuid_out){ get32(l + 12), get32(l + 16), get32(l + 20),
                                      get32(l + 24) };
        if ((flags & ~1u) || (!e->has_subleaf && e->subleaf) || !leaf_in_range(p, e->leaf))
            return -EINVAL;
        if (i && (e->leaf < e[-1].leaf || (e->leaf == e[-1].leaf &&
                                            (e->subleaf <= e[-1].subleaf || !e->has_subleaf ||
                                             !e[-1].has_subleaf))))
            return -EINVAL;                     /* unsorted, duplicate, or ambiguous */
    }
    return 0;
}

/* What the header says must agree with the leaves it summarises. */
static int check_consistent(const struct cpu_policy *p)
{
    const struct cpuid_leaf *l0 = cpu_policy_find(p, 0, 0);
    const struct cpuid_leaf *e0 = cpu_policy_find(p, EXT_BASE, 0);
    const struct cpuid_leaf *d0 = cpu_policy_find(p, 0xd, 0);
    char vendor[12];

    if (!l0 || l0->regs.eax != p->max_basic)
        return -EINVAL;
    memcpy(vendor, &l0->regs.ebx, 4);
    memcpy(vendor + 4, &l0->regs.edx, 4);
    memcpy(vendor + 8, &l0->regs.ecx, 4);
    if (memcmp(vendor, p->vendor, 12))
        return -EINVAL;
    for (unsigned i = 0; i < 12; i++)
        if (p->vendor[i] < 0x20 || p->vendor[i] > 0x7e)
            return -EINVAL;
    if (p->max_basic > CPU_POLICY_MAX_BASIC)
        return -EINVAL;
    if (p->max_ext && (p->max_ext < EXT_BASE || p->max_ext > CPU_POLICY_MAX_EXT))
        return -EINVAL;
    if (e0 && e0->regs.eax != p->max_ext)
        return -EINVAL;
    if (p->xcr0_mask && !(p->xcr0_mask & 1))
        return -EINVAL;                         /* x87 is always there with XSAVE */
    if (d0 && (d0->regs.eax | (uint64_t)d0->regs.edx << 32) != p->xcr0_mask)
        return -EINVAL;
    if (p->arch_caps & ~(CPU_ARCH_CAPS_NOT_AFFECTED | CPU_ARCH_CAPS_AFFECTED))
        return -EINVAL;
    if (p->arch_caps && !cpu_policy_has(p, CPU_FEAT_ARCH_CAPABILITIES))
        return -EINVAL;
    return 0;
}

static int decode(struct cpu_policy *p, const uint8_t *buf, size_t len)
{
    size_t n;

    if (len < CPU_POLICY_BLOB_HDR + 4 || memcmp(buf, MAGIC, 4))
        return -EINVAL;
    if (get16(buf + 4) != CPU_POLICY_CODEC_VERSION)
        return -EPROTONOSUPPORT;
    p->nleaves = get16(buf + 6);
    n = CPU_POLICY_BLOB_HDR + (size_t)p->nleaves * CPU_POLICY_BLOB_LEAF + 4;
    if (p->nleaves > CPU_POLICY_MAX_LEAVES || len != n)
        return -EINVAL;
    if (get32(buf + n - 4) != crc32c_update(0, buf, n - 4))
        return -EINVAL;
    memcpy(p->name, buf + 8, 16);
    if (!name_ok(p->name, sizeof(p->name)))
        return -EINVAL;
    memcpy(p->vendor, buf + 24, 12);
    p->vendor[12] = 0;
    p->max_basic = get32(buf + 36);
    p->max_ext = get32(buf + 40);
    p->xcr0_mask = get64(buf + 44);
    p->arch_caps = get64(buf + 52);
    if (read_leaves(p, buf + CPU_POLICY_BLOB_HDR))
        return -EINVAL;
    return check_consistent(p);
}

int cpu_policy_deserialize(struct cpu_policy *p, const uint8_t *buf, size_t len)
{
    int rc;

    memset(p, 0, sizeof(*p));
    rc = decode(p, buf, len);
    if (rc)
        memset(p, 0, sizeof(*p));
    return rc;
}
