/*
 * The host rules: what a VM never sees of the host's CPUID, what ferry sets,
 * and why (hv/cpu/cpu_policy_int.h has the rule type). Bit positions: SDM Vol. 2A
 * CPUID Tables 3-8 to 3-10, APM Vol. 3 Appendix E.
 */
#include "hv/cpu/cpu_policy_int.h"

const struct cpu_rule cpu_host_rules[] = {
    { 1, SUB_ANY, R_ECX, L1_ECX_VMX | L1_ECX_SMX, 0,
      "no nested VMX; SMX (GETSEC) is host-only" },
    { 1, SUB_ANY, R_ECX, L1_ECX_MONITOR, 0,
      "MONITOR/MWAIT exit to ferry; guests idle with HLT" },
    { 1, SUB_ANY, R_ECX, 0, L1_ECX_X2APIC | L1_ECX_TSC_DEADLINE,
      "ferry's local APIC (hv/dev/vlapic.c) has x2APIC mode and the TSC-deadline timer on "
      "every host, whatever the CPU has (a VM without local APICs sees neither)" },
    { 1, SUB_ANY, R_ECX, L1_ECX_DTES64 | L1_ECX_PDCM, 0,
      "no virtual PMU: no debug store, no IA32_PERF_CAPABILITIES" },
    { 1, SUB_ANY, R_EDX, L1_EDX_DS, 0, "no virtual PMU: no debug store" },
    /* Features that are MSRs (or need them): ferry's allow-list (hv/vm/msr.c) would #GP them. */
    { 1, SUB_ANY, R_ECX, BIT(4) | BIT(7) | BIT(8) | BIT(10) | BIT(11) | BIT(14) | BIT(18), 0,
      "MSR-backed, not virtualized: DS-CPL, EIST, TM2, L1 context ID, silicon debug, xTPR, DCA" },
    { 1, SUB_ANY, R_EDX, BIT(14) | BIT(18) | BIT(22) | BIT(29) | BIT(31), 0,
      "no machine-check (MCG_*), serial-number, thermal-monitor (ACPI, TM, PBE) MSRs" },
    { 7, 0, R_EBX, BIT(1), 0, "no IA32_TSC_ADJUST" },
    { 7, 0, R_ECX, BIT(7) | BIT(13) | BIT(23) | BIT(24) | BIT(31), 0,
      "CET shadow stacks, TME, Key Locker, bus-lock detection, PKS: their MSRs are not "
      "virtualized" },
    { 7, 0, R_EDX, BIT(5) | BIT(9) | BIT(13) | BIT(19) | BIT(20), 0,
      "UINTR, MCU_OPT_CTRL, TSX_FORCE_ABORT, arch LBR, CET IBT: MSRs not virtualized" },
    { 7, 0, R_EDX, BIT(26) | BIT(27) | BIT(28) | BIT(30) | BIT(31), 0,
      "IA32_SPEC_CTRL / PRED_CMD / FLUSH_CMD / CORE_CAPABILITIES are not virtualized yet "
      "(ARCH_CAPABILITIES is, from the policy)" },
    { 7, 1, R_EAX, BIT(17) | BIT(18) | BIT(22), 0, "FRED (and LKGS with it), HRESET: MSRs" },
    { 7, 1, R_EBX, BIT(0), 0, "no PPIN MSRs" },
    { 7, 2, R_EDX, 0x1f, 0, "IA32_SPEC_CTRL controls (PSFD, IPRED, RRSBA, DDPD, BHI): no "
      "SPEC_CTRL" },
    { 1, SUB_ANY, R_ECX, 0, L1_ECX_HYPERVISOR, "tell the guest it runs on a hypervisor" },
    { 1, SUB_ANY, R_ECX, L1_ECX_OSXSAVE, 0, "per vCPU: follows the guest's CR4.OSXSAVE" },
    { 1, SUB_ANY, R_EBX, L1_EBX_APIC_IDS, 0, "per vCPU: APIC ID and logical count" },
    { 1, SUB_ANY, R_EDX, L1_EDX_HTT, 0, "per VM: set when it has more than one vCPU" },
    { 6, SUB_ANY, R_EAX, ~L6_EAX_ARAT, 0,
      "no thermal/power MSRs; ARAT stays: the guest never enters deep C-states" },
    { 6, SUB_ANY, R_EBX | R_ECX | R_EDX, ~0u, 0, "no thermal/power MSRs (EPB, HCFC)" },
    { 7, 0, R_EBX, L7_EBX_SGX, 0, "no SGX: EPC and ENCLS are not virtualized" },
    { 7, 0, R_ECX, L7_ECX_SGX_LC, 0, "no SGX launch control (no SGX)" },
    { 7, 0, R_EBX, L7_EBX_PT, 0, "no Intel PT: the RTIT MSRs are not virtualized" },
    { 7, 0, R_EBX, L7_EBX_RDT_M | L7_EBX_RDT_A, 0,
      "no RDT: IA32_PQR_ASSOC and the resctrl MSRs are not virtualized" },
    { 7, 0, R_ECX, L7_ECX_OSPKE, 0, "per vCPU: follows the guest's CR4.PKE" },
    { 7, 0, R_ECX, L7_ECX_WAITPKG, 0,
      "UMWAIT/TPAUSE #UD: ferry does not set 'enable user wait and pause'" },
    { 7, 0, R_EDX, L7_EDX_HYBRID, 0, "vCPUs float over core types; leaf 0x1A would lie" },
    { 7, 0, R_EDX, L7_EDX_PCONFIG, 0, "PCONFIG programs the host's memory encryption keys" },
    { 0xa, SUB_ANY, R_ALL, ~0u, 0, "no virtual PMU" },
    { 0xb, SUB_ANY, R_ALL, ~0u, 0, "per VM: synthesized x2APIC topology" },
    { 0xd, 0, R_EBX | R_ECX, ~0u, 0, "per vCPU: XSAVE sizes follow the guest's XCR0" },
    { 0xd, 1, R_EBX, ~0u, 0, "per vCPU: compacted size follows the guest's XCR0" },
    { 0xd, 1, R_ECX | R_EDX, ~0u, 0,
      "no IA32_XSS: supervisor states (PT, CET) are not exposed" },
    { 0xf, SUB_ANY, R_ALL, ~0u, 0, "no RDT monitoring (leaf 7)" },
    { 0x10, SUB_ANY, R_ALL, ~0u, 0, "no RDT allocation (leaf 7)" },
    { 0x12, SUB_ANY, R_ALL, ~0u, 0, "no SGX (leaf 7)" },
    { 0x14, SUB_ANY, R_ALL, ~0u, 0, "no Intel PT (leaf 7)" },
    { 0x1a, SUB_ANY, R_ALL, ~0u, 0, "no hybrid core types (leaf 7)" },
    { 0x1b, SUB_ANY, R_ALL, ~0u, 0, "no PCONFIG (leaf 7)" },
    { 0x1f, SUB_ANY, R_ALL, ~0u, 0, "per VM: synthesized x2APIC topology" },
    { 0x40000000, SUB_ANY, R_EAX, ~0u, CPU_POLICY_HV_MAX, "highest hypervisor leaf" },
    { 0x40000000, SUB_ANY, R_EBX, ~0u, SIG4('F', 'e', 'r', 'r'), "signature FerryFerryFe" },
    { 0x40000000, SUB_ANY, R_ECX, ~0u, SIG4('y', 'F', 'e', 'r'), "signature FerryFerryFe" },
    { 0x40000000, SUB_ANY, R_EDX, ~0u, SIG4('r', 'y', 'F', 'e'), "signature FerryFerryFe" },
    { 0x40000001, SUB_ANY, R_EAX, ~0u, CPU_POLICY_VERSION, "ferry CPU policy version" },
    { 0x80000001, SUB_ANY, R_ECX, E1_ECX_SVM, 0, "no nested SVM" },
    { 0x80000001, SUB_ANY, R_ECX, E1_ECX_PERFCTR, 0, "no virtual PMU: AMD counter extensions" },
    { 0x80000001, SUB_ANY, R_ECX, BIT(3) | BIT(9) | BIT(10) | BIT(12) | BIT(13) | BIT(15) |
      BIT(19) | BIT(26) | BIT(27) | BIT(29), 0,
      "extended APIC space, OSVW, IBS, SKINIT, watchdog, LWP, node ID, breakpoint masks, "
      "perf TSC, MONITORX: no virtual APIC, or MSRs not virtualized" },
    { 0x80000001, SUB_ANY, R_EDX, BIT(14), 0, "AMD's copy of leaf 1 MCA" },
    { 0x80000007, SUB_ANY, R_EAX | R_EBX | R_ECX, ~0u, 0, "no RAS (MCA) or power MSRs" },
    { 0x80000007, SUB_ANY, R_EDX, ~0u, 0,
      "no power management, nor an invariant TSC: a guest's TSC rate is its host's and changes "
      "when it migrates (no TSC scaling); guests keep time with the paravirtual clock" },
    { 0x80000008, SUB_ANY, R_EBX, BIT(1) | BIT(12) | BIT(14) | BIT(15) | BIT(17) | BIT(23) |
      BIT(24) | BIT(25), 0,
      "IRPERF, AMD IBPB/IBRS/STIBP/SSBD, VIRT_SPEC_CTRL, PPIN: MSRs not virtualized yet" },
    { 0x8000000a, SUB_ANY, R_ALL, ~0u, 0, "no nested virtualization: no SVM features" },
    { 0x8000001e, SUB_ANY, R_ALL, ~0u, 0, "per vCPU: extended APIC ID and topology" },
    { 0x80000020, SUB_ANY, R_ALL, ~0u, 0, "no AMD platform QoS (leaf 7 RDT bits)" },
};

const size_t cpu_host_nrules = sizeof(cpu_host_rules) / sizeof(cpu_host_rules[0]);
