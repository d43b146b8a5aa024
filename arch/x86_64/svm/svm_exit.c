/*
 * #VMEXIT decoding: each exit code (APM vol. 2 app. C) that ferry handles has
 * an entry in a table of designated initializers that turns it into an
 * arch-neutral struct hv_exit. A code without an entry becomes EXIT_UNHANDLED:
 * hv/ stops that VM with a VMCB dump. Instruction lengths come from the VMCB's
 * next-RIP when the CPU offers NRIPS; otherwise IOIO exits carry the next RIP
 * in EXITINFO2 and the few other advancing exits are measured from the
 * guest's code bytes (prefixes + a known opcode). QEMU TCG has no NRIPS.
 */
#include "arch/x86_64/svm/svm.h"
#include "hv/vm/gpt.h"
#include "hv/vm/vcpu_ops.h"

/* Length of the instruction at RIP whose opcode (after prefixes) is `op` of op_len bytes. */
static uint32_t measured_len(struct vcpu *v, const struct vmcb *vmcb, const uint8_t *op,
                             unsigned op_len)
{
    uint8_t b[15];
    unsigned i = 0;
    /* REX prefixes exist in 64-bit code only (CS.L with EFER.LMA); elsewhere 0x40-0x4f are
     * INC/DEC (an AP's real-mode trampoline runs CPUID). */
    bool rex = (vmcb->save.efer & (1ull << 10)) && (vmcb->save.cs.attrib & SEG_ATTR_L);
    if (hv_ops->vcpu_fetch(v, b, sizeof(b)))
        return 0;
    while (i < 14 && (b[i] == 0x66 || b[i] == 0x67 || b[i] == 0xf2 || b[i] == 0xf3 ||
                      b[i] == 0x2e || b[i] == 0x36 || b[i] == 0x3e || b[i] == 0x26 ||
                      b[i] == 0x64 || b[i] == 0x65 || (rex && (b[i] & 0xf0) == 0x40)))
        i++;
    for (unsigned k = 0; k < op_len; k++)
        if (i + k >= sizeof(b) || b[i + k] != op[k])
            return 0;       /* not the instruction the exit says: the backend will stop the VM */
    return i + op_len;
}

static uint32_t insn_len(struct vcpu *v, const struct vmcb *vmcb, const uint8_t *op, unsigned n)
{
    if (svm_caps.nrips && vmcb->control.nrip > vmcb->save.rip)
        return (uint32_t)(vmcb->control.nrip - vmcb->save.rip);
    return measured_len(v, vmcb, op, n);
}

typedef void (*svm_exit_fn)(struct vcpu *v, const struct vmcb *vmcb, struct hv_exit *e);

static void exit_simple(struct vcpu *v, const struct vmcb *vmcb, struct hv_exit *e)
{
    (void)v, (void)vmcb, (void)e;
}

/* The exit retires the instruction `op`: its length, or stop the VM if it cannot be measured. */
static void advance(struct vcpu *v, const struct vmcb *vmcb, struct hv_exit *e, const uint8_t *op,
                    unsigned n)
{
    e->insn_len = insn_len(v, vmcb, op, n);
    if (e->insn_len == 0)
        e->reason = EXIT_UNHANDLED;   /* could not measure the instruction: stop, do not guess */
}

static void exit_cpuid(struct vcpu *v, const struct vmcb *vmcb, struct hv_exit *e)
{
    advance(v, vmcb, e, (const uint8_t[]){ 0x0f, 0xa2 }, 2);
}

static void exit_hlt(struct vcpu *v, const struct vmcb *vmcb, struct hv_exit *e)
{
    advance(v, vmcb, e, (const uint8_t[]){ 0xf4 }, 1);
}

static void exit_msr(struct vcpu *v, const struct vmcb *vmcb, struct hv_exit *e)
{
    /* EXITINFO1: 0 RDMSR, 1 WRMSR */
    if (vmcb->control.exitinfo1 & 1) {
        e->reason = EXIT_MSR_WRITE;
        advance(v, vmcb, e, (const uint8_t[]){ 0x0f, 0x30 }, 2);
    } else {
        advance(v, vmcb, e, (const uint8_t[]){ 0x0f, 0x32 }, 2);
    }
}

static void exit_xsetbv(struct vcpu *v, const struct vmcb *vmcb, struct hv_exit *e)
{
    advance(v, vmcb, e, (const uint8_t[]){ 0x0f, 0x01, 0xd1 }, 3);
}

/* VMMCALL: ferry's hypercall instruction on AMD (APM vol. 3, VMMCALL). */
static void exit_vmmcall(struct vcpu *v, const struct vmcb *vmcb, struct hv_exit *e)
{
    advance(v, vmcb, e, (const uint8_t[]){ 0x0f, 0x01, 0xd9 }, 3);
}

/* INVD would drop dirty lines the host owns: do WBINVD's job, i.e. nothing (EXIT_NOP). */
static void exit_invd(struct vcpu *v, const struct vmcb *vmcb, struct hv_exit *e)
{
    advance(v, vmcb, e, (const uint8_t[]){ 0x0f, 0x08 }, 2);
}

static void exit_io(struct vcpu *v, const struct vmcb *vmcb, struct hv_exit *e)
{
    uint64_t i1 = vmcb->control.exitinfo1;
    (void)v;
    e->io.in = i1 & IOIO_IN;
    e->io.string = i1 & IOIO_STR;
    e->io.rep = i1 & IOIO_REP;
    e->io.size = (i1 & IOIO_SZ32) ? 4 : (i1 & IOIO_SZ16) ? 2 : 1;
    e->io.port = (uint16_t)(i1 >> IOIO_PORT_SHIFT);
    e->insn_len = (uint32_t)(vmcb->control.exitinfo2 - vmcb->save.rip);
}

static void exit_npf(struct vcpu *v, const struct vmcb *vmcb, struct hv_exit *e)
{
    /* EXITINFO1: the #PF-style error code (bit 1 write, bit 4 fetch); EXITINFO2: the GPA */
    (void)v;
    e->mmio.gpa = vmcb->control.exitinfo2;
    e->mmio.write = vmcb->control.exitinfo1 & 2;
    e->mmio.fetch = vmcb->control.exitinfo1 & 16;
}

/* Indexed by exit code up to NPF (0x400), as KVM's svm_exit_handlers. */
#define SVM_EXIT_TABLE (VMEXIT_NPF + 1)

static const struct { uint8_t reason; svm_exit_fn fn; } exit_table[SVM_EXIT_TABLE] = {
    [VMEXIT_INTR] = { EXIT_EXTINT, exit_simple },
    [VMEXIT_NMI] = { EXIT_EXTINT, exit_simple },
    [VMEXIT_SMI] = { EXIT_EXTINT, exit_simple },
    [VMEXIT_INIT] = { EXIT_EXTINT, exit_simple },
    [VMEXIT_VINTR] = { EXIT_INTR_WINDOW, exit_simple },
    [VMEXIT_IRET] = { EXIT_INTR_WINDOW, exit_simple },   /* an NMI handler ends (svm_nmi_ready) */
    [VMEXIT_CPUID] = { EXIT_CPUID, exit_cpuid },
    [VMEXIT_HLT] = { EXIT_HLT, exit_hlt },
    [VMEXIT_MSR] = { EXIT_MSR_READ, exit_msr },
    [VMEXIT_XSETBV] = { EXIT_XSETBV, exit_xsetbv },
    [VMEXIT_IOIO] = { EXIT_IO, exit_io },
    [VMEXIT_NPF] = { EXIT_MMIO, exit_npf },
    [VMEXIT_SHUTDOWN] = { EXIT_SHUTDOWN, exit_simple },
    /* No nested SVM: the SVM instructions and MONITOR/MWAIT get #UD. */
    [VMEXIT_VMRUN] = { EXIT_INVALID_INSN, exit_simple },
    [VMEXIT_VMLOAD] = { EXIT_INVALID_INSN, exit_simple },
    [VMEXIT_VMSAVE] = { EXIT_INVALID_INSN, exit_simple },
    [VMEXIT_STGI] = { EXIT_INVALID_INSN, exit_simple },
    [VMEXIT_CLGI] = { EXIT_INVALID_INSN, exit_simple },
    [VMEXIT_SKINIT] = { EXIT_INVALID_INSN, exit_simple },
    [VMEXIT_MONITOR] = { EXIT_INVALID_INSN, exit_simple },
    [VMEXIT_MWAIT] = { EXIT_INVALID_INSN, exit_simple },
    [VMEXIT_INVD] = { EXIT_NOP, exit_invd },
    [VMEXIT_VMMCALL] = { EXIT_HYPERCALL, exit_vmmcall },
};

void svm_decode_exit(struct vcpu *v, struct hv_exit *e)
{
    struct svm_vcpu *x = v->arch;
    const struct vmcb *vmcb = x->vmcb;
    uint64_t code = vmcb->control.exitcode;

    e->vendor_reason = (uint32_t)code;
    if (code == VMEXIT_INVALID) {     /* VMRUN refused the guest state (APM 15.5.1) */
        e->reason = EXIT_ENTRY_FAIL;
        return;
    }
    if (code >= SVM_EXIT_TABLE || !exit_table[code].fn) {
        e->reason = EXIT_UNHANDLED;
        return;
    }
    e->reason = exit_table[code].reason;
    exit_table[code].fn(v, vmcb, e);
}
