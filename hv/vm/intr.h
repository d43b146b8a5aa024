/*
 * Interrupts into vCPUs and the guest's device clocks (hv/vm/intr.c).
 *
 * Each vCPU has a local APIC (hv/dev/vlapic.h); the machine's 8259 pair
 * reaches vCPU 0 through its LINT0 in ExtINT mode (virtual wire, as firmware
 * leaves a PC). Before every entry vCPU 0 polls the VM's timekeeping devices
 * (which raises their lines and fires APIC timers), and when the vCPU's APIC
 * has a vector that beats its PPR, or the PIC requests through LINT0, the
 * vCPU either injects it (the CPU's acknowledge: vlapic_ack or vpic_ack) or,
 * while the guest cannot take one, arms an interrupt-window exit. A HLT puts
 * the vCPU to sleep in the scheduler until an interrupt it can take is
 * pending or the next device event is due; an interrupt raised from another
 * CPU (console input) kicks the vCPU's CPU.
 */
#ifndef HV_VM_INTR_H
#define HV_VM_INTR_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/vm/vm.h"

/* After the machine is built: find the interrupt controller. */
void vm_intr_init(struct vm *vm);
/* The platform hook (struct dev_platform): a controller's output may have risen. */
void vm_intr_changed(void *ctx);
/* The platform hook: a local APIC accepted something for that vCPU. */
void vm_vcpu_kick(void *ctx, unsigned vcpu);

/* Before an entry, on the vCPU's CPU: poll the devices, inject or open a window. Sets the
 * CPU's deadline_tsc to the sooner of the slice's end and the next device event. */
void vcpu_intr_before_entry(struct vcpu *v);
/* Before an entry, on the vCPU's CPU: INIT, SIPI and NMI events its local APIC took
 * (hv/dev/vlapic.h). INIT resets it to wait-for-SIPI (its TSC kept); a SIPI in that state starts
 * it in real mode at the vector's page; an NMI waits in vcpu->nmi_pending for an entry that can
 * inject it. False while it waits for a SIPI (it is marked halted: not entered). */
bool vcpu_take_ipis(struct vcpu *v);
/* After vcpu->init was (re)written (a boot, a reset, an incoming migration): a wait-for-SIPI
 * state makes the vCPU wait (the backend is given it as running); init.tsc becomes relative
 * to the VM's TSC origin (vm->tsc_origin, set when its first vCPU is created), so vCPUs created
 * at different moments still read one TSC. */
void vcpu_init_loaded(struct vcpu *v);
/* A saved vCPU's NMI that waits for injection goes back to its local APIC's latch, whose
 * record carries it (to a migration's target, or back to this vCPU's next entry). */
void vcpu_nmi_unpend(struct vcpu *v);
/* A halted vCPU (HLT with RFLAGS.IF as halt_if, or an AP in wait-for-SIPI): may it run
 * again? If not, *wake_tsc gets when to look again (0: only a kick wakes it). An INIT or SIPI
 * IPI waiting always lets it run (vcpu_take_ipis then decides). */
bool vcpu_halt_wakes(struct vcpu *v, uint64_t *wake_tsc);

/*
 * The local APIC's own CPU MSRs for a VM with one (hv/dev/vlapic.h), each only where the VM's
 * CPU policy has its feature: IA32_APIC_BASE (fixed base 0xFEE00000, EN and EXTD switch the
 * APIC's mode, BSP on vCPU 0) and IA32_TSC_DEADLINE (0x6E0, against the guest's TSC now). The
 * x2APIC registers are the device's, on the VM's MSR bus (vcpu.c). 0, -EPERM (#GP), or 1: not
 * one of them (or the VM has no local APIC: hv/vm/msr.c answers).
 */
int vcpu_apic_msr(struct vcpu *v, uint32_t msr, bool write, uint64_t *val);

/* Right after an exit: what the guest did without exiting that ferry keeps elsewhere (a CR8
 * write on SVM goes to the local APIC's TPR). */
void vcpu_after_exit(struct vcpu *v);

/* CR8 as the local APIC's TPR (bits 7:4); without a local APIC it reads 0, writes vanish. */
void vcpu_cr8(struct vcpu *v, bool write, uint64_t *val);

/* Console input into the VM's COM1 (serialized with the vCPUs' device accesses). */
int vm_console_input(struct vm *vm, uint8_t ch);

#endif
