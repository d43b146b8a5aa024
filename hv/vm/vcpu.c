/*
 * The generic half of every VM exit: the backend has turned the hardware's
 * exit into a struct hv_exit; this file decides what it means (device
 * models, CPU policy, MSR allow-list, MMIO emulation) and sets the result
 * (advance RIP, inject a fault) the backend applies at the next entry.
 * Returns false when the vCPU's time slice should end.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/fpu.h"
#include "arch/x86_64/percpu.h"
#include "hv/emul/decode.h"
#include "hv/emul/mmio.h"
#include "hv/vm/gpt.h"
#include "hv/vm/intr.h"
#include "hv/base/log.h"
#include "hv/vm/msr.h"
#include "hv/vm/pvclock.h"
#include "hv/vm/vcpu.h"
#include "hv/vm/vcpu_ops.h"

static void inject_fault(struct vcpu *v, uint8_t vector, bool has_error, uint32_t error)
{
    struct vcpu_event e = { .type = EVENT_EXCEPTION, .vector = vector, .has_error = has_error,
                            .error = error };
    hv_ops->vcpu_inject(v, &e);
}

void vcpu_inject_gp(struct vcpu *v) { inject_fault(v, 13, true, 0); }

static void handle_cpuid(struct vcpu *v, struct hv_exit *ex)
{
    struct vcpu_state s;
    struct cpuid_out out;
    hv_ops->vcpu_get_state(v, &s);
    uint32_t leaf = (uint32_t)v->gpr[GPR_RAX];
    v->xcr0 = fpu_live_xcr0(v->xcr0);   /* leaf 0xD's sizes follow the XCR0 in force */
    cpu_policy_cpuid(&v->vm->policy, leaf, (uint32_t)v->gpr[GPR_RCX],
                     v->index, v->vm->nvcpus, s.cr4, v->xcr0 ? v->xcr0 : 1, &out);
    if (pvclock_cpuid(leaf, &out)) {
        /* the paravirtual clock's leaves (hv/vm/pvclock.h) */
    } else if (leaf == 1 && !v->vm->lapic) {
        /* A machine without local APICs: CPUID says so, as a CPU with its APIC disabled
         * (no APIC, no x2APIC, no TSC-deadline timer). */
        out.edx &= ~(1u << 9);
        out.ecx &= ~(1u << 21 | 1u << 24);
    }
    v->gpr[GPR_RAX] = out.eax;
    v->gpr[GPR_RBX] = out.ebx;
    v->gpr[GPR_RCX] = out.ecx;
    v->gpr[GPR_RDX] = out.edx;
    ex->advance = true;
}

/* Port I/O to the VM's devices; an unclaimed port reads as all ones, writes vanish (as on a PC). */
static int port_io(struct vcpu *v, uint16_t port, bool write, unsigned size, uint32_t *val)
{
    struct vm *vm = v->vm;
    spin_lock(&vm->devs.lock);
    vm->devs.vcpu = v->index;
    vm->devs.poll_stale = true;
    int rc = dev_set_pio(&vm->devs, port, write, size, val);
    spin_unlock(&vm->devs.lock);
    return rc;
}

static uint64_t size_mask(unsigned size) { return size == 8 ? ~0ull : (1ull << (size * 8)) - 1; }

static bool handle_string_io(struct vcpu *v, struct hv_exit *ex)
{
    struct vcpu_state s;
    uint32_t val = 0;
    unsigned sz = ex->io.size;
    hv_ops->vcpu_get_state(v, &s);
    /* One element per exit; the REP form re-executes until RCX is 0. */
    if (ex->io.rep && v->gpr[GPR_RCX] == 0) {
        ex->advance = true;
        return true;
    }
    uint64_t addr = ex->io.in ? v->gpr[GPR_RDI] : v->gpr[GPR_RSI];
    if (!ex->io.in && gpt_read(v->vm, &s, addr, &val, sz))
        goto fault;
    if (port_io(v, ex->io.port, !ex->io.in, sz, &val))
        goto fault;
    if (ex->io.in && gpt_write(v->vm, &s, addr, &val, sz))
        goto fault;
    int64_t step = (s.rflags & (1u << 10)) ? -(int64_t)sz : (int64_t)sz;
    v->gpr[ex->io.in ? GPR_RDI : GPR_RSI] += step;
    if (ex->io.rep)
        v->gpr[GPR_RCX]--;
    ex->advance = !ex->io.rep || v->gpr[GPR_RCX] == 0;
    return true;
fault:
    vm_stop(v->vm, "string I/O on port 0x%x at unmapped address 0x%llx", ex->io.port,
            (unsigned long long)addr);
    return false;
}

static bool handle_io(struct vcpu *v, struct hv_exit *ex)
{
    if (ex->io.string)
        return handle_string_io(v, ex);
    uint32_t val = (uint32_t)(v->gpr[GPR_RAX] & size_mask(ex->io.size));
    if (port_io(v, ex->io.port, !ex->io.in, ex->io.size, &val)) {
        vcpu_inject_gp(v);
        return true;
    }
    if (ex->io.in) {
        if (ex->io.size == 4)
            v->gpr[GPR_RAX] = val;      /* 32-bit results zero-extend */
        else
            v->gpr[GPR_RAX] = (v->gpr[GPR_RAX] & ~size_mask(ex->io.size)) |
                              (val & size_mask(ex->io.size));
    }
    ex->advance = true;
    return true;
}

struct mmio_target { const struct bus_range *r; uint64_t off; unsigned vcpu; };

static int mmio_access(void *ctx, bool write, unsigned size, uint64_t *val)
{
    const struct mmio_target *t = ctx;
    struct dev_set *s = ((struct device *)t->r->opaque)->set;
    spin_lock(&s->lock);
    s->vcpu = t->vcpu;                  /* the local APIC is the accessing vCPU's own */
    s->poll_stale = true;
    int rc = t->r->fn(t->r->opaque, t->off, write, size, val);
    spin_unlock(&s->lock);
    return rc;
}

static bool handle_mmio(struct vcpu *v, struct hv_exit *ex)
{
    struct mmio_target t = { bus_find(&v->vm->devs.bus, BUS_MMIO, ex->mmio.gpa), 0, v->index };
    struct emul_mmio_result res;
    uint8_t code[15];
    struct vcpu_state s;

    hv_ops->vcpu_get_state(v, &s);
    if (!t.r || ex->mmio.fetch) {
        vm_stop(v->vm, "%s of unmapped guest memory at GPA 0x%llx (rip 0x%llx)",
                ex->mmio.fetch ? "instruction fetch" : ex->mmio.write ? "write" : "read",
                (unsigned long long)ex->mmio.gpa, (unsigned long long)s.rip);
        return false;
    }
    t.off = ex->mmio.gpa - t.r->base;
    int rc = hv_ops->vcpu_fetch(v, code, sizeof(code));
    if (rc) {
        vm_stop(v->vm, "cannot decode the MMIO instruction at rip 0x%llx (%d)",
                (unsigned long long)s.rip, rc);
        return false;
    }
    /* The code's mode: 64-bit (EFER.LMA with CS.L), 32-bit (CS.D), else 16-bit (refused). */
    unsigned bits = (s.efer & (1ull << 10)) && (s.cs.attr & SEG_ATTR_L) ? 64
                    : (s.cs.attr & SEG_ATTR_DB) ? 32 : 16;
    emul_mmio(code, sizeof(code), bits, v->gpr, s.rflags, mmio_access, &t, &res);
    switch (res.status) {
    case EMUL_MMIO_UNDECODABLE:
        vm_stop(v->vm, "cannot decode the MMIO instruction at rip 0x%llx (%d)",
                (unsigned long long)s.rip, res.err);
        return false;
    case EMUL_MMIO_UNSUPPORTED:
        vm_stop(v->vm, "MMIO instruction at rip 0x%llx not emulated (op %u)",
                (unsigned long long)s.rip, res.op);
        return false;
    case EMUL_MMIO_DEVICE_ERROR:
        vcpu_inject_gp(v);
        return true;
    default:
        ex->insn_len = res.len;
        ex->advance = res.advance;
        return true;
    }
}

/*
 * XSETBV always exits. A policy without XSAVE (x86-64-v1/v2) makes it #UD, as
 * on a CPU without XSAVE: ferry cannot stop the guest setting CR4.OSXSAVE, so
 * the exit is where the hidden feature is refused. Otherwise XCR0 must be
 * architecturally valid and within the policy's mask (#GP).
 */
static bool handle_xsetbv(struct vcpu *v, struct hv_exit *ex)
{
    uint64_t x = (v->gpr[GPR_RDX] << 32) | (uint32_t)v->gpr[GPR_RAX];
    const struct cpu_policy *p = &v->vm->policy;

    if (!cpu_policy_has(p, CPU_FEAT_XSAVE)) {
        inject_fault(v, 6, false, 0);
        return true;
    }
    if ((uint32_t)v->gpr[GPR_RCX] != 0 || !cpu_policy_xcr0_ok(p, x) ||
        (x & ~fpu_xcr0_supported())) {
        vcpu_inject_gp(v);
        return true;
    }
    fpu_set_xcr0(x);
    v->xcr0 = x;
    ex->advance = true;
    return true;
}

static bool handle_cr(struct vcpu *v, struct hv_exit *ex)
{
    struct vcpu_state s;
    hv_ops->vcpu_get_state(v, &s);
    uint64_t *reg = &s.gpr[ex->cr.gpr];
    if (ex->cr.cr == 8) {               /* CR8 is the local APIC's TPR bits 7:4 (SDM 10.8.6) */
        if (ex->cr.write && (*reg >> 4)) {
            vcpu_inject_gp(v);          /* reserved bits 63:4 */
            return true;
        }
        vcpu_cr8(v, ex->cr.write, reg);
    } else if (ex->cr.write && (ex->cr.cr == 0 || ex->cr.cr == 4)) {
        if (cr_write(&v->vm->policy, &s, ex->cr.cr, *reg)) {
            vcpu_inject_gp(v);
            return true;
        }
    } else {
        vm_stop(v->vm, "unexpected CR%u %s exit", ex->cr.cr, ex->cr.write ? "write" : "read");
        return false;
    }
    hv_ops->vcpu_set_state(v, &s);
    ex->advance = true;
    return true;
}

/*
 * VMCALL (VT-x) / VMMCALL (AMD-V): ferry offers no hypercalls yet, so every call number is
 * unknown and answers as KVM does, -KVM_ENOSYS (-1000) in RAX, or -KVM_EPERM (-1) from a
 * CPL other than 0; never #UD and never a stopped VM (guests probe hypervisors this way).
 */
#define HYPERCALL_ENOSYS ((uint64_t)-1000)
#define HYPERCALL_EPERM  ((uint64_t)-1)

static void handle_hypercall(struct vcpu *v, struct hv_exit *ex)
{
    struct vcpu_state s;
    hv_ops->vcpu_get_state(v, &s);
    unsigned cpl = (s.ss.attr >> 5) & 3;            /* SS.DPL is the CPL (SDM 5.5) */
    v->gpr[GPR_RAX] = cpl ? HYPERCALL_EPERM : HYPERCALL_ENOSYS;
    ex->advance = true;
}

/* An MSR a device claimed on the VM's MSR bus (the x2APIC's): 0, -EPERM (#GP: the device
 * refused), 1 if none did. The lookup needs no lock (claims happen while no vCPU runs). */
static int dev_msr(struct vcpu *v, uint32_t msr, bool write, uint64_t *val)
{
    const struct bus_range *r = bus_find(&v->vm->devs.bus, BUS_MSR, msr);
    if (!r)
        return 1;
    struct dev_set *s = &v->vm->devs;
    spin_lock(&s->lock);
    s->vcpu = v->index;                 /* the x2APIC is the accessing vCPU's own */
    if (write)
        s->poll_stale = true;
    int rc = r->fn(r->opaque, msr - r->base, write, 8, val);
    spin_unlock(&s->lock);
    return rc ? -EPERM : 0;
}

/* The MSRs of devices (the MSR bus), of the paravirtual clock (hv/vm/pvclock.h) and of the
 * local APIC (hv/vm/intr.h): 0 handled, -EPERM #GP, 1 not theirs. */
static int pv_msr(struct vcpu *v, bool write)
{
    uint64_t val = (v->gpr[GPR_RDX] << 32) | (uint32_t)v->gpr[GPR_RAX];
    uint32_t msr = (uint32_t)v->gpr[GPR_RCX];
    int rc = dev_msr(v, msr, write, &val);
    if (rc == 1)
        rc = pvclock_msr(v, msr, write, &val);
    if (rc == 1)
        rc = vcpu_apic_msr(v, msr, write, &val);
    if (rc == 1)
        return 1;
    if (!rc && !write) {
        v->gpr[GPR_RAX] = (uint32_t)val;
        v->gpr[GPR_RDX] = val >> 32;
    }
    return rc;
}

static bool stop_with_dump(struct vcpu *v, struct hv_exit *ex, const char *what)
{
    vm_stop(v->vm, "%s on vcpu %u (vendor reason %u)", what, v->index, ex->vendor_reason);
    hv_ops->vcpu_dump(v);
    return false;
}

bool vcpu_handle_exit(struct vcpu *v, struct hv_exit *ex)
{
    switch (ex->reason) {
    case EXIT_CPUID:
        handle_cpuid(v, ex);
        return true;
    case EXIT_IO:
        return handle_io(v, ex);
    case EXIT_MMIO:
        return handle_mmio(v, ex);
    case EXIT_MSR_READ:
    case EXIT_MSR_WRITE: {
        bool write = ex->reason == EXIT_MSR_WRITE;
        int rc = pv_msr(v, write);
        if (rc == 1)
            rc = msr_access(v, (uint32_t)v->gpr[GPR_RCX], write);
        if (rc)
            vcpu_inject_gp(v);
        else
            ex->advance = true;
        return true;
    }
    case EXIT_HLT: {
        /* Asleep until an interrupt it can take (hv/vm/intr.c); IF cannot change meanwhile. */
        struct vcpu_state s;
        hv_ops->vcpu_get_state(v, &s);
        ex->advance = true;
        v->halt_if = s.rflags & (1u << 9);
        v->halt_nmi_blocked = s.interruptibility & INTR_NMI;
        v->halted = true;
        return false;
    }
    case EXIT_INTR_WINDOW:
        return true;                    /* the guest can take the interrupt now: next entry */
    case EXIT_XSETBV:
        return handle_xsetbv(v, ex);
    case EXIT_CR:
        return handle_cr(v, ex);
    case EXIT_EXTINT:
        /* The host interrupt (an IPI) is still pending: take it now. */
        cpu_sti();
        __asm__ volatile("nop");
        cpu_cli();
        return !v->request && (int64_t)(rdtsc() - this_cpu()->slice_end_tsc) < 0;
    case EXIT_PREEMPT:
        /* The slice's end, or a device event due: then polling at the next entry delivers it. */
        return (int64_t)(rdtsc() - this_cpu()->slice_end_tsc) < 0;
    case EXIT_INVALID_INSN:
        inject_fault(v, 6, false, 0);   /* #UD: e.g. SVM instructions, no nested virtualization */
        return true;
    case EXIT_NOP:
        ex->advance = true;
        return true;
    case EXIT_HYPERCALL:
        handle_hypercall(v, ex);
        return true;
    case EXIT_DIRTY:
        return true;                    /* the backend logged the page; the write retries */
    case EXIT_SHUTDOWN:
        return stop_with_dump(v, ex, "triple fault");
    case EXIT_ENTRY_FAIL:
        return stop_with_dump(v, ex, "VM entry failed");
    default:
        return stop_with_dump(v, ex, "unhandled exit");
    }
}
