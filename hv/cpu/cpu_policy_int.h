/*
 * Private to the CPU policy files: CPUID bit names the rules and the per-vCPU
 * code use, and the rule type. A rule says, for one leaf (and subleaf, or
 * SUB_ANY) and the registers in `regs`: r = (r & ~clear) | set, and why.
 */
#ifndef HV_CPU_POLICY_INT_H
#define HV_CPU_POLICY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "hv/cpu/cpu_policy.h"

#define BIT(n)     (1u << (n))
#define SIG4(a, b, c, d) \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define SUB_ANY    UINT32_MAX

/* Registers a rule applies to. */
#define R_EAX 0x1u
#define R_EBX 0x2u
#define R_ECX 0x4u
#define R_EDX 0x8u
#define R_ALL 0xfu

#define L1_ECX_DTES64       BIT(2)
#define L1_ECX_MONITOR      BIT(3)
#define L1_ECX_VMX          BIT(5)
#define L1_ECX_SMX          BIT(6)
#define L1_ECX_PDCM         BIT(15)
#define L1_ECX_X2APIC       BIT(21)
#define L1_ECX_TSC_DEADLINE BIT(24)
#define L1_ECX_XSAVE        BIT(26)
#define L1_ECX_OSXSAVE      BIT(27)
#define L1_ECX_HYPERVISOR   BIT(31)
#define L1_EBX_APIC_IDS     0xffff0000u   /* [31:24] initial APIC ID, [23:16] logical count */
#define L1_EDX_DS           BIT(21)
#define L1_EDX_HTT          BIT(28)
#define L6_EAX_ARAT         BIT(2)
#define L7_EBX_SGX          BIT(2)
#define L7_EBX_RDT_M        BIT(12)
#define L7_EBX_RDT_A        BIT(15)
#define L7_EBX_PT           BIT(25)
#define L7_ECX_PKU          BIT(3)
#define L7_ECX_OSPKE        BIT(4)
#define L7_ECX_WAITPKG      BIT(5)
#define L7_ECX_SGX_LC       BIT(30)
#define L7_EDX_HYBRID       BIT(15)
#define L7_EDX_PCONFIG      BIT(18)
#define LD1_EAX_XSAVES      BIT(3)
#define LD_ECX_ALIGN64      BIT(1)        /* sub-leaf i >= 2: 64-byte aligned when compacted */
#define E1_ECX_SVM          BIT(2)
#define E1_ECX_PERFCTR      (BIT(23) | BIT(24) | BIT(28))  /* core, DF (NB), LLC counters */
struct cpu_rule {
    uint32_t leaf, subleaf;     /* SUB_ANY: every subleaf */
    uint32_t regs;              /* R_* */
    uint32_t clear, set;
    const char *why;
};

extern const struct cpu_rule cpu_host_rules[];
extern const size_t cpu_host_nrules;

#endif
