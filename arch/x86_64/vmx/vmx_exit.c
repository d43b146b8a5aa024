/*
 * VMX exit decoding: each basic exit reason (SDM vol. 3 app. C) that ferry
 * handles has an entry in a table of designated initializers that turns it
 * into an arch-neutral struct hv_exit. A reason without an entry becomes
 * EXIT_UNHANDLED: hv/ stops that VM with a VMCS dump.
 */
#include "arch/x86_64/vmx/vmcs.h"
#include "arch/x86_64/vmx/vmx.h"

typedef void (*vmx_exit_fn)(struct hv_exit *e, uint64_t qual);

static void exit_simple(struct hv_exit *e, uint64_t qual) { (void)e; (void)qual; }

static void exit_io(struct hv_exit *e, uint64_t q)
{
    /* SDM table 28-5: size-1 in 2:0, IN in 3, string 4, REP 5, port 31:16 */
    e->io.size = (q & 7) + 1;
    e->io.in = q & 8;
    e->io.string = q & 16;
    e->io.rep = q & 32;
    e->io.port = q >> 16;
}

static void exit_ept(struct hv_exit *e, uint64_t q)
{
    e->mmio.gpa = vmcs_read64(VMCS_GUEST_PHYS_ADDR);
    e->mmio.write = q & 2;
    e->mmio.fetch = q & 4;
}

static void exit_cr(struct hv_exit *e, uint64_t q)
{
    /* SDM table 28-3: CR number 3:0, access type 5:4 (0 = MOV to CR), GPR 11:8 */
    e->cr.cr = q & 15;
    e->cr.write = ((q >> 4) & 3) == 0;
    e->cr.gpr = (q >> 8) & 15;
}

static void exit_exception(struct hv_exit *e, uint64_t q)
{
    (void)q;
    e->exc.vector = vmcs_read32(VMCS_EXIT_INTR_INFO) & 0xff;
}

static const struct { uint8_t reason; vmx_exit_fn fn; } exit_table[VMX_EXIT_REASONS] = {
    [VMX_EXIT_EXCEPTION] = { EXIT_EXCEPTION, exit_exception },
    [VMX_EXIT_EXTINT] = { EXIT_EXTINT, exit_simple },
    [VMX_EXIT_TRIPLE] = { EXIT_SHUTDOWN, exit_simple },
    [VMX_EXIT_INTR_WINDOW] = { EXIT_INTR_WINDOW, exit_simple },
    [VMX_EXIT_NMI_WINDOW] = { EXIT_INTR_WINDOW, exit_simple },
    [VMX_EXIT_CPUID] = { EXIT_CPUID, exit_simple },
    [VMX_EXIT_HLT] = { EXIT_HLT, exit_simple },
    [VMX_EXIT_CR] = { EXIT_CR, exit_cr },
    [VMX_EXIT_IO] = { EXIT_IO, exit_io },
    [VMX_EXIT_RDMSR] = { EXIT_MSR_READ, exit_simple },
    [VMX_EXIT_WRMSR] = { EXIT_MSR_WRITE, exit_simple },
    [VMX_EXIT_BAD_GUEST] = { EXIT_ENTRY_FAIL, exit_simple },
    [VMX_EXIT_BAD_MSR_LOAD] = { EXIT_ENTRY_FAIL, exit_simple },
    [VMX_EXIT_EPT_VIOLATION] = { EXIT_MMIO, exit_ept },
    [VMX_EXIT_PREEMPT] = { EXIT_PREEMPT, exit_simple },
    [VMX_EXIT_XSETBV] = { EXIT_XSETBV, exit_simple },
    [VMX_EXIT_VMCALL] = { EXIT_HYPERCALL, exit_simple },   /* SDM 25.1.2: always exits */
    /* SDM 28.2.5: the log was drained at this exit (vmx.c); the write did not happen: retry. */
    [VMX_EXIT_PML_FULL] = { EXIT_DIRTY, exit_simple },
};

void vmx_decode_exit(struct vcpu *v, struct hv_exit *e)
{
    uint32_t raw = vmcs_read32(VMCS_EXIT_REASON);
    uint32_t basic = raw & 0xffff;
    (void)v;
    e->vendor_reason = basic;
    e->insn_len = vmcs_read32(VMCS_EXIT_INSN_LEN);
    if (raw & (1u << 31)) {           /* VM-entry failure */
        e->reason = EXIT_ENTRY_FAIL;
        return;
    }
    if (basic >= VMX_EXIT_REASONS || !exit_table[basic].fn) {
        e->reason = EXIT_UNHANDLED;
        return;
    }
    e->reason = exit_table[basic].reason;
    exit_table[basic].fn(e, vmcs_readnat(VMCS_EXIT_QUAL));
}

const char *vmx_exit_name(uint32_t basic)
{
    static const char *const names[VMX_EXIT_REASONS] = {
        [0] = "exception", [1] = "extint", [2] = "triple-fault", [3] = "init", [4] = "sipi",
        [7] = "intr-window", [9] = "task-switch", [10] = "cpuid", [12] = "hlt", [14] = "invlpg",
        [16] = "rdtsc", [18] = "vmcall", [28] = "cr", [29] = "dr", [30] = "io", [31] = "rdmsr",
        [32] = "wrmsr", [33] = "bad-guest-state", [34] = "bad-msr-load", [36] = "mwait",
        [40] = "pause", [48] = "ept-violation", [49] = "ept-misconfig", [52] = "preempt-timer",
        [54] = "wbinvd", [55] = "xsetbv", [62] = "pml-full",
    };
    return basic < VMX_EXIT_REASONS && names[basic] ? names[basic] : "?";
}
