/*
 * #VMEXIT decoding: the exit code (APM vol. 2 app. C) becomes an
 * arch-neutral struct hv_exit. Instruction lengths come from the VMCB's
 * next-RIP when the CPU offers NRIPS; otherwise IOIO exits carry the next
 * RIP in EXITINFO2 and the few other advancing exits are measured from the
 * guest's code bytes (prefixes + a known opcode). QEMU TCG has no NRIPS.
 */
#include "arch/x86_64/svm/svm.h"
#include "hv/vm/gpt.h"
#include "hv/vm/vcpu_ops.h"

/* Length of the instruction at RIP whose opcode (after prefixes) is `op` of op_len bytes. */
static uint32_t measured_len(struct vcpu *v, const uint8_t *op, unsigned op_len)
{
    uint8_t b[15];
    unsigned i = 0;
    if (hv_ops->vcpu_fetch(v, b, sizeof(b)))
        return 0;
    while (i < 14 && (b[i] == 0x66 || b[i] == 0x67 || b[i] == 0xf2 || b[i] == 0xf3 ||
                      b[i] == 0x2e || b[i] == 0x36 || b[i] == 0x3e || b[i] == 0x26 ||
                      b[i] == 0x64 || b[i] == 0x65 || (b[i] & 0xf0) == 0x40))
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
    return measured_len(v, op, n);
}

static void decode_io(struct hv_exit *e, const struct vmcb *vmcb)
{
    uint64_t i1 = vmcb->control.exitinfo1;
    e->reason = EXIT_IO;
    e->io.in = i1 & IOIO_IN;
    e->io.string = i1 & IOIO_STR;
    e->io.rep = i1 & IOIO_REP;
    e->io.size = (i1 & IOIO_SZ32) ? 4 : (i1 & IOIO_SZ16) ? 2 : 1;
    e->io.port = (uint16_t)(i1 >> IOIO_PORT_SHIFT);
    e->insn_len = (uint32_t)(vmcb->control.exitinfo2 - vmcb->save.rip);
}

void svm_decode_exit(struct vcpu *v, struct hv_exit *e)
{
    struct svm_vcpu *x = v->arch;
    const struct vmcb *vmcb = x->vmcb;
    static const uint8_t op_cpuid[] = { 0x0f, 0xa2 }, op_hlt[] = { 0xf4 },
                         op_rdmsr[] = { 0x0f, 0x32 }, op_wrmsr[] = { 0x0f, 0x30 },
                         op_xsetbv[] = { 0x0f, 0x01, 0xd1 };
    uint64_t code = vmcb->control.exitcode;

    e->vendor_reason = (uint32_t)code;
    switch (code) {
    case VMEXIT_INTR:
    case VMEXIT_NMI:
    case VMEXIT_SMI:
    case VMEXIT_INIT:
        e->reason = EXIT_EXTINT;
        return;
    case VMEXIT_CPUID:
        e->reason = EXIT_CPUID;
        e->insn_len = insn_len(v, vmcb, op_cpuid, 2);
        break;
    case VMEXIT_HLT:
        e->reason = EXIT_HLT;
        e->insn_len = insn_len(v, vmcb, op_hlt, 1);
        break;
    case VMEXIT_MSR: {
        bool wr = vmcb->control.exitinfo1 & 1;
        e->reason = wr ? EXIT_MSR_WRITE : EXIT_MSR_READ;
        e->insn_len = insn_len(v, vmcb, wr ? op_wrmsr : op_rdmsr, 2);
        break;
    }
    case VMEXIT_XSETBV:
        e->reason = EXIT_XSETBV;
        e->insn_len = insn_len(v, vmcb, op_xsetbv, 3);
        break;
    case VMEXIT_IOIO:
        decode_io(e, vmcb);
        return;
    case VMEXIT_NPF:
        /* EXITINFO1: the #PF-style error code (bit 1 write, bit 4 fetch); EXITINFO2: the GPA */
        e->reason = EXIT_MMIO;
        e->mmio.gpa = vmcb->control.exitinfo2;
        e->mmio.write = vmcb->control.exitinfo1 & 2;
        e->mmio.fetch = vmcb->control.exitinfo1 & 16;
        return;
    case VMEXIT_SHUTDOWN:
        e->reason = EXIT_SHUTDOWN;
        return;
    case VMEXIT_VMRUN:
    case VMEXIT_VMMCALL:
    case VMEXIT_VMLOAD:
    case VMEXIT_VMSAVE:
    case VMEXIT_STGI:
    case VMEXIT_CLGI:
    case VMEXIT_SKINIT:
    case VMEXIT_MONITOR:
    case VMEXIT_MWAIT:
        e->reason = EXIT_INVALID_INSN;
        return;
    case VMEXIT_INVD:
        /* INVD would drop dirty lines the host owns: do WBINVD's job, i.e. nothing. */
        e->reason = EXIT_NOP;
        e->insn_len = insn_len(v, vmcb, (const uint8_t[]){ 0x0f, 0x08 }, 2);
        break;
    case VMEXIT_INVALID:
        e->reason = EXIT_ENTRY_FAIL;
        return;
    default:
        e->reason = EXIT_UNHANDLED;
        return;
    }
    if (e->insn_len == 0)
        e->reason = EXIT_UNHANDLED;   /* could not measure the instruction: stop, do not guess */
}
