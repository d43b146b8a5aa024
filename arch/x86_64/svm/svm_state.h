/*
 * VMCB state-save area <-> the arch-neutral struct vcpu_state. Pure code on a
 * struct vmcb in memory (no VMRUN/VMLOAD here), unit-tested on the host.
 *
 * What the VMCB holds and these functions convert: ES/CS/SS/DS/FS/GS/LDTR/TR,
 * GDTR/IDTR, CR0/2/3/4, CR8 (as V_TPR), DR7, EFER, PAT (G_PAT), RFLAGS, RIP,
 * RSP and RAX (gpr[GPR_RSP], gpr[GPR_RAX]), STAR/LSTAR/CSTAR/SFMASK/
 * KERNEL_GS_BASE, SYSENTER_CS/ESP/EIP, the interrupt shadow and the pending
 * event (EVENTINJ). Everything else in the record is the caller's: the other
 * 14 GPRs (the VMRUN path keeps them in vcpu->gpr), activity (SVM has no HLT
 * state: the runtime intercepts HLT), XCR0, TSC (rdtsc + TSC_OFFSET), TSC_AUX,
 * and NMI blocking unless vNMI is on. svm_state_read leaves those fields as
 * they were, so a runtime's get_state copies vcpu->gpr first, then reads.
 *
 * Conventions, chosen so a record loads on either vendor:
 * - EFER.SVME (bit 12) must be 1 in the VMCB or VMRUN fails (APM 15.5.1):
 *   write sets it, read clears it (ferry offers no nested SVM, so the guest's
 *   own view of SVME is always 0).
 * - CPL: write takes it from SS.DPL (VMX keeps CPL there: SDM vol. 3,
 *   "Saving Segment Registers"); read puts the VMCB's CPL into SS.DPL,
 *   because AMD CPUs track CPL in the VMCB and SS.DPL may disagree with it
 *   (SYSRET leaves the SS attributes alone on some parts).
 * - Unusable segments: SVM has no "unusable" bit; a segment whose P bit is 0
 *   is what VMX calls unusable (VMX wants P=1 in every usable segment: SDM
 *   vol. 3, "Checks on Guest Segment Registers"). Write: SEG_UNUSABLE or
 *   P=0 -> attrib holds only the DPL (type, S, L, D/B, G of an unusable VMX
 *   segment are undefined). Read: P=0 -> SEG_UNUSABLE | DPL. So the boot
 *   record's LDTR (attr SEG_UNUSABLE) comes back bit-identical, any record is
 *   a fixed point after one write/read, and a record read here passes VMX's
 *   entry checks. The rule covers all eight segments, TR included (VMX would
 *   refuse TR with P=0, but SVM never holds one once the guest has run LTR).
 * - Interrupt shadow: INTR_STI or INTR_MOVSS -> shadow bit; shadow -> INTR_STI
 *   if RFLAGS.IF is 1, else INTR_MOVSS (VMX refuses STI blocking with IF=0:
 *   SDM vol. 3, "Checks on Guest Non-Register State"). INTR_NMI maps to
 *   V_NMI_MASK only when the VMCB has VINTR_NMI_ENABLE; otherwise NMI
 *   blocking is the runtime's (it must intercept IRET to see it end): write
 *   ignores it, read reports it clear.
 * - Pending event: EVENTINJ. For EVENT_SOFTINT the record's RIP is the
 *   return address (the instruction after INT n): SVM without NRIPS pushes
 *   RIP; with NRIPS it pushes NEXT_RIP, so write sets nrip = rip for it.
 *   EXITINTINFO is not read here: after every #VMEXIT the runtime turns it
 *   into the next EVENTINJ with svm_event_requeue(), so EVENTINJ always says
 *   what the next VMRUN delivers.
 * - Write also sets VMCB clean bits to 0 (it changed most cached groups) and
 *   leaves DR6 and DBGCTL alone (not in the record: the runtime initialises
 *   them once, DR6 = 0xffff0ff0, so get/set round trips do not clobber them).
 */
#ifndef SVM_STATE_H
#define SVM_STATE_H

#include <stdint.h>

#include "arch/x86_64/svm/vmcb.h"
#include "hv/cpu/vcpu_state.h"

#ifndef EFER_SVME
#define EFER_SVME (1ull << 12)
#endif

void svm_state_write(struct vmcb *vmcb, const struct vcpu_state *s);
void svm_state_read(const struct vmcb *vmcb, struct vcpu_state *s);

/* A 12-bit VMCB attrib for a record's segment attr, and back (see above). */
uint16_t svm_attrib_from_attr(uint32_t attr);
uint32_t svm_attr_from_attrib(uint16_t attrib);

/*
 * EVENTINJ for an event: 0 for EVENT_NONE, -EINVAL for an unknown type
 * (*out untouched). NMI and external interrupts never carry an error code.
 */
int svm_event_encode(const struct vcpu_event *e, uint64_t *out);
/* The event an EVENTINJ / EXITINTINFO value describes (EVENT_NONE if V is clear). */
void svm_event_decode(uint64_t v, struct vcpu_event *e);

/*
 * The EVENTINJ for the next VMRUN after an exit whose EXITINTINFO is
 * `exitintinfo`, where `injected` is what EVENTINJ held at the VMRUN that
 * exited. An event cut short by the exit is delivered again, except one the
 * guest raised itself with INT n, INT3 or INTO: RIP still points at that
 * instruction, which re-executes and raises it again. Those are re-injected
 * only when ferry had injected them (then nothing will re-execute).
 */
uint64_t svm_event_requeue(uint64_t exitintinfo, uint64_t injected);

#endif
