/*
 * CPU baselines: a VM's policy cut down to a fixed feature set, so that it
 * sees the same CPU on every host that can run it (and can migrate between
 * them). "host" keeps everything the host offers; "x86-64-v1".."x86-64-v4"
 * are the psABI micro-architecture levels (x86-64 psABI, "Micro-Architecture
 * Levels") plus the platform features every 64-bit guest relies on (paging,
 * TSC, SYSCALL, NX, ...); "cluster" is a stored set, the intersection of a
 * group of hosts' features (at least x86-64-v1).
 *
 * Applying a baseline to a host policy: every feature register (leaf 1
 * ECX/EDX, 7.x, 0xD.1 EAX, 0x80000001 ECX/EDX, 0x80000007, 0x80000008 EBX)
 * keeps only the baseline's named bits (plus the dynamic ones ferry computes);
 * unnamed bits go too. XCR0 is restricted to the components the features need
 * (x87|SSE, +YMM with AVX, +opmask/ZMM with AVX-512F) and the XSAVE leaf to
 * those components; leaves belonging to features the baseline lacks (MONITOR,
 * AMX, AMD topology) go, and max_ext stops at 0x80000008. Family/model/stepping
 * and the brand string become fixed values per baseline (cpu_baseline.c says
 * which and why); the vendor string stays the host's. Cache and topology
 * leaves are kept.
 */
#ifndef HV_CPU_BASELINE_H
#define HV_CPU_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#include "hv/cpu/cpu_features.h"
#include "hv/cpu/cpu_policy.h"

#define CPU_BASELINE_HOST    "host"
#define CPU_BASELINE_CLUSTER "cluster"

/* Baselines in display order: "host", "x86-64-v1".."x86-64-v4", "cluster". */
unsigned cpu_baseline_count(void);
const char *cpu_baseline_name(unsigned i);
const char *cpu_baseline_desc(unsigned i);

/*
 * The features baseline `name` exposes, all of which a host must have to run
 * it. 0; -ENOENT (unknown name, or "host", which has no fixed set); -ENODATA
 * ("cluster" not set yet).
 */
int cpu_baseline_features(const char *name, struct cpu_featset *out);

/*
 * Stores the cluster baseline: `s` plus x86-64-v1, without dynamic or info
 * features and without arch_capabilities (no baseline exposes that MSR).
 */
void cpu_baseline_set_cluster(const struct cpu_featset *s);
void cpu_baseline_clear_cluster(void);

/* XCR0 components a feature set allows (x87 and SSE always). */
uint64_t cpu_baseline_xcr0(const struct cpu_featset *s);

/*
 * Whether a host (its own policy) can run baseline `name`: 0, or the codes of
 * cpu_baseline_features, or -ENOTSUP with the features it lacks in `missing`
 * ("avx2,bmi2"). Placement uses this; nothing is changed.
 */
int cpu_baseline_check(const struct cpu_policy *host, const char *name, char *missing,
                       size_t len);

/*
 * Cuts a host policy (from cpu_policy_from_host) down to baseline `name`. The
 * same return codes as cpu_baseline_check, plus -EINVAL if p is not a host
 * policy; on any error p is unchanged.
 */
int cpu_policy_apply_baseline(struct cpu_policy *p, const char *name, char *missing,
                              size_t len);

/*
 * Whether this host (its own policy, vm_host_policy()) can run a VM with policy
 * `vm` (e.g. one arriving by migration) without the guest seeing anything change:
 * every feature the VM uses, every XSAVE component it may enable with the same
 * size and offset, and no weaker IA32_ARCH_CAPABILITIES. 0, or -ENOTSUP with
 * what is lacking in `missing`: feature names, "xcr0.pkru" (component
 * unsupported), "xsave.pkru" (different layout), "arch_caps.mds_no" (the VM
 * was told it is not affected, this host is), cut with "..." when long.
 */
int cpu_policy_check_host(const struct cpu_policy *vm, const struct cpu_policy *host,
                          char *missing, size_t len);

#endif
