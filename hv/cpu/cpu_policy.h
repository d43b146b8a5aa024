/*
 * CPU policy: what a VM's CPUID returns. A policy is a per-VM table of
 * (leaf, subleaf) -> registers, built once by cpu_policy_from_host() from a
 * snapshot of the host's CPUID, with a const table of rules applied (each
 * rule clears and sets bits in one leaf and says why: features ferry does
 * not virtualize are hidden, the hypervisor leaves 0x40000000+ are ferry's).
 * Entries that end up all zero are not stored, so the table holds only what
 * the guest can see. cpu_policy_cpuid() answers a guest CPUID from the table
 * and fills in what depends on the vCPU: the APIC / x2APIC IDs and topology
 * (leaves 1, 0xB, 0x1F, 0x8000001E), OSXSAVE and OSPKE (guest CR4) and the
 * XSAVE area sizes (guest XCR0). Out-of-range leaves follow Intel: a basic leaf above
 * max_basic returns the highest basic leaf; unknown extended or hypervisor
 * leaves and subleaves not stored return zeros. Baselines (x86-64-v2, ...)
 * cut a host policy down further (hv/cpu/cpu_baseline.h). References: SDM Vol. 2A
 * CPUID, APM Vol. 3 Appendix E.
 */
#ifndef HV_CPU_POLICY_H
#define HV_CPU_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/cpu/cpu_features.h"

/* Named cpuid_out, not cpuid_regs: arch/x86_64/cpu.h owns that name for the core. */
struct cpuid_out { uint32_t eax, ebx, ecx, edx; };

/* The host's CPUID instruction (tests pass a fake). */
typedef struct cpuid_out (*cpuid_raw_fn)(uint32_t leaf, uint32_t subleaf, void *ctx);

#define CPU_POLICY_MAX_LEAVES 64
#define CPU_POLICY_VERSION    1           /* CPUID 0x40000001 EAX */
#define CPU_POLICY_MAX_BASIC  0x1fu       /* highest basic leaf ferry exposes */
#define CPU_POLICY_MAX_EXT    0x80000021u /* highest extended leaf ferry exposes */
#define CPU_POLICY_HV_BASE    0x40000000u /* hypervisor leaves 0x40000000..0x400000ff */
#define CPU_POLICY_HV_MAX     0x40000001u

/* has_subleaf false: the leaf ignores ECX and this entry answers every subleaf. */
struct cpuid_leaf {
    uint32_t leaf, subleaf;
    bool has_subleaf;
    struct cpuid_out regs;
};

struct cpu_policy {
    char name[16];
    unsigned nleaves;
    struct cpuid_leaf leaves[CPU_POLICY_MAX_LEAVES];
    uint32_t max_basic, max_ext;   /* as the guest sees them (leaf 0 / 0x80000000 EAX); */
                                   /* max_ext is 0 when there are no extended leaves */
    uint64_t xcr0_mask;            /* XCR0 bits the guest may set (leaf 0xD sub 0 EDX:EAX) */
    char vendor[13];               /* "GenuineIntel", "AuthenticAMD", ... */
    uint64_t arch_caps;            /* IA32_ARCH_CAPABILITIES as the guest reads it */
};

/*
 * IA32_ARCH_CAPABILITIES bits a guest may see (SDM Vol. 4 Table 2-2). Only
 * facts about the hardware, never controls of MSRs ferry does not virtualize
 * (TSX_CTRL, FB_CLEAR_CTRL, ...) nor IBRS_ALL (no SPEC_CTRL): "not affected"
 * bits RDCL_NO, SSB_NO, MDS_NO, IF_PSCHANGE_MC_NO, TAA_NO, SBDR_SSDP_NO,
 * FBSDP_NO, PSDP_NO, PBRSB_NO, and "affected" bits RSBA and RRSBA. A VM may
 * only move to a host with at least its "not affected" bits and at most its
 * "affected" ones.
 */
#define CPU_ARCH_CAPS_NOT_AFFECTED 0x0100e171ull
#define CPU_ARCH_CAPS_AFFECTED     0x00080004ull

/*
 * Snapshots the host's CPUID through `raw` and applies the "host" rules.
 * Returns 0, or -ENOSPC if the exposed leaves do not fit CPU_POLICY_MAX_LEAVES
 * (the policy is then unusable: a VM must not run with leaves missing).
 */
int cpu_policy_from_host(struct cpu_policy *p, cpuid_raw_fn raw, void *ctx);

/*
 * What the guest's CPUID(leaf, subleaf) returns on vCPU `vcpu` of `nvcpus`,
 * given the guest's CR4 (OSXSAVE, bit 18, is reflected in leaf 1 ECX bit 27 when the
 * policy has XSAVE; PKE, bit 22, in leaf 7 ECX bit 4 (OSPKE) when it has PKU)
 * and XCR0 (leaf 0xD sub 0 EBX is the XSAVE area size for the enabled features).
 */
void cpu_policy_cpuid(const struct cpu_policy *p, uint32_t leaf, uint32_t subleaf,
                      unsigned vcpu, unsigned nvcpus, uint64_t guest_cr4,
                      uint64_t guest_xcr0, struct cpuid_out *out);

/* The stored entry for (leaf, subleaf), or NULL: what the guest sees before per-vCPU fields. */
const struct cpuid_leaf *cpu_policy_find(const struct cpu_policy *p, uint32_t leaf,
                                         uint32_t subleaf);

/*
 * Sets the value the guest reads from IA32_ARCH_CAPABILITIES from the host's,
 * keeping the bits above; 0 when the policy does not expose the MSR (CPUID
 * 7.0 EDX[29]).
 */
void cpu_policy_set_arch_caps(struct cpu_policy *p, uint64_t host_value);

/* Whether XSETBV may load `xcr0` into XCR0 under this policy (else #GP). */
bool cpu_policy_xcr0_ok(const struct cpu_policy *p, uint64_t xcr0);

/* Family, model and stepping as software computes them from leaf 1 EAX (SDM Vol. 2A CPUID). */
struct cpu_policy_fms { unsigned family, model, stepping; };
struct cpu_policy_fms cpu_policy_fms(const struct cpu_policy *p);

/* Leaf 0x80000008 EAX: the guest's MAXPHYADDR (7:0) and linear-address width (15:8); 36 and
 * 32 where the leaf is absent (SDM Vol. 3A 4.1.4). */
unsigned cpu_policy_phys_bits(const struct cpu_policy *p);
unsigned cpu_policy_linear_bits(const struct cpu_policy *p);

/* Leaves filled in per vCPU (topology): stored even when the host's values are all zero. */
bool cpu_policy_leaf_dynamic(uint32_t leaf);

/* Whether the guest sees feature f (never true for dynamic or info features). */
bool cpu_policy_has(const struct cpu_policy *p, enum cpu_feat f);

/*
 * The named features the guest can use: those it sees, without dynamic and
 * info ones, and without AVX, AVX-512F, MPX, PKU or AMX when xcr0_mask lacks
 * their state components (a host that claims PKU but cannot enable PKRU does
 * not offer PKU).
 */
void cpu_policy_features(const struct cpu_policy *p, struct cpu_featset *out);

#endif
