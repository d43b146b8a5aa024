/*
 * The AMD-V backend: EFER.SVME and VM_HSAVE_PA on each host CPU, one VMCB
 * per vCPU, nested paging per VM. Every MSR and port exits (all-ones
 * permission maps); time slices come from the local APIC timer (SVM has no
 * preemption timer), whose interrupt exits the guest through the INTR
 * intercept. All vCPUs use ASID 1 and the TLB is flushed whenever a
 * different vCPU enters on a CPU: QEMU TCG has only 16 ASIDs and no
 * flush-by-ASID, and this is correct everywhere.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/fpu.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/slpt.h"
#include "arch/x86_64/svm/svm.h"
#include "arch/x86_64/svm/svm_npt.h"
#include "arch/x86_64/svm/svm_state.h"
#include "arch/x86_64/trap.h"
#include "hv/vm/dirty.h"
#include "hv/vm/gpt.h"
#include "hv/base/log.h"
#include "hv/base/mem.h"
#include "hv/base/spinlock.h"
#include "hv/base/time.h"
#include "hv/vm/vcpu_ops.h"

#define MSR_VM_HSAVE_PA 0xc0010117

struct svm_caps svm_caps;

static uint64_t hsave_pa[MAX_CPUS], host_area_pa[MAX_CPUS];
static struct vcpu *last_run[MAX_CPUS];
static uint64_t msrpm_pa, iopm_pa;
static struct svm_vcpu svm_vcpus[VM_MAX][VM_MAX_VCPUS];
static uint64_t npt_roots[VM_MAX];

static void timer_handler(struct trap_frame *tf)
{
    (void)tf;
    this_cpu()->timer_fired = true;
}

static int svm_global_init(void)
{
    static struct spinlock lock;
    static int done;
    int rc = 0;
    spin_lock(&lock);
    if (!done) {
        struct cpuid_regs r = cpuid(0x8000000a, 0);
        svm_caps.asids = r.ebx;
        svm_caps.nrips = r.edx & (1u << 3);
        svm_caps.decode = r.edx & (1u << 7);
        svm_caps.npt_1g = cpuid(0x80000001, 0).edx & (1u << 26);
        /* All ones: every MSR access and every port exits to hv/. */
        msrpm_pa = frame_alloc(0, MSRPM_SIZE / PAGE_SIZE, 1, 0);
        iopm_pa = frame_alloc(0, IOPM_SIZE / PAGE_SIZE, 1, 0);
        if (!msrpm_pa || !iopm_pa || !(r.edx & 1)) {
            rc = !(r.edx & 1) ? -ENOTSUP : -ENOMEM;
        } else {
            memset(phys_to_virt(msrpm_pa), 0xff, MSRPM_SIZE);
            memset(phys_to_virt(iopm_pa), 0xff, IOPM_SIZE);
            trap_set_handler(VEC_TIMER, timer_handler);
            done = 1;
        }
    }
    spin_unlock(&lock);
    return rc;
}

static int svm_cpu_init(void)
{
    unsigned c = this_cpu()->index;
    if (hsave_pa[c])
        return 0;
    int rc = svm_global_init();
    if (rc)
        return rc;
    uint64_t hs = frame_alloc(this_cpu()->node, 1, 1, FRAME_ZERO);
    uint64_t ha = frame_alloc(this_cpu()->node, 1, 1, FRAME_ZERO);
    if (!hs || !ha)
        return -ENOMEM;
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
    wrmsr(MSR_VM_HSAVE_PA, hs);
    if (cpuid(1, 0).ecx & (1u << 26))
        write_cr4(read_cr4() | (1ul << 18));   /* XSETBV emulation and FPU switching use XSAVE */
    fpu_cpu_init();
    hsave_pa[c] = hs;
    host_area_pa[c] = ha;
    log_info("svm", "cpu %u: SVM on (%u ASIDs%s%s)", c, svm_caps.asids,
             svm_caps.nrips ? ", nrips" : "", svm_caps.decode ? ", decode assists" : "");
    return 0;
}

static void svm_vm_destroy(struct vm *vm)
{
    uint64_t *root = vm->arch;
    if (root && *root)
        npt_free_tables(*root, slpt_frame_free, slpt_frame_p2v, NULL);
    if (root)
        *root = 0;
    vm->arch = NULL;
}

static int svm_vm_init(struct vm *vm)
{
    uint64_t *root = &npt_roots[vm - vms];
    struct slpt_chunk c[VM_MAX_CHUNKS];
    *root = 0;
    vm->arch = root;
    for (unsigned i = 0; i < vm->nchunks; i++)
        c[i] = (struct slpt_chunk){ vm->chunks[i].gpa, vm->chunks[i].hpa, vm->chunks[i].size };
    int n = npt_map_chunks(root, c, vm->nchunks, svm_caps.npt_1g, slpt_frame_alloc,
                           slpt_frame_p2v, &vm->node);
    if (n < 0) {
        svm_vm_destroy(vm);
        return n;
    }
    return 0;
}

#define RFLAGS_TF (1ull << 8)
#define RFLAGS_IF (1ull << 9)

static void svm_nmi_step_done(struct svm_vcpu *x, struct hv_exit *exit);

static void svm_set_state(struct vcpu *v, const struct vcpu_state *s)
{
    struct svm_vcpu *x = v->arch;
    svm_state_write(x->vmcb, s);
    x->sysenter_esp = s->sysenter_esp;
    x->sysenter_eip = s->sysenter_eip;
    x->vtpr = s->cr8 & 0xf;             /* loaded by ferry, not written by the guest */
    memcpy(v->gpr, s->gpr, sizeof(v->gpr));
    x->vmcb->control.tsc_offset = s->tsc - rdtsc();
    v->xcr0 = s->xcr0 ? s->xcr0 : 1;
    /* NMI blocking (inside an NMI handler) is ferry's on SVM: from the state, with the IRET
     * intercept that ends it; INIT's state clears it. An NMI the state still has to deliver
     * masks NMIs as svm_inject's does (a state saved by VT-x shows no blocking for it yet). */
    x->nmi_masked = (s->interruptibility & INTR_NMI) || s->pending.type == EVENT_NMI;
    x->nmi_after_iret = false;
    x->nmi_step = false;                /* a new state: ferry's single-step of an IRET ends */
    x->vmcb->control.intercept_exc &= ~(1u << 1);
    if (x->nmi_masked)
        x->vmcb->control.intercept1 |= VMCB_I1_IRET;
    else
        x->vmcb->control.intercept1 &= ~VMCB_I1_IRET;
}

static void svm_get_state(struct vcpu *v, struct vcpu_state *s)
{
    struct svm_vcpu *x = v->arch;
    uint64_t gpr[GPR_COUNT];
    memcpy(gpr, v->gpr, sizeof(gpr));
    svm_state_read(x->vmcb, s);
    s->sysenter_esp = x->sysenter_esp;
    s->sysenter_eip = x->sysenter_eip;
    /* RAX and RSP come from the VMCB, the rest from the GPR array. */
    uint64_t rax = s->gpr[GPR_RAX], rsp = s->gpr[GPR_RSP];
    memcpy(s->gpr, gpr, sizeof(gpr));
    s->gpr[GPR_RAX] = rax;
    s->gpr[GPR_RSP] = rsp;
    s->tsc = rdtsc() + x->vmcb->control.tsc_offset;
    s->xcr0 = v->xcr0;
    if (x->nmi_masked)
        s->interruptibility |= INTR_NMI;
    /* Between svm_nmi_ready arming the single-stepped IRET and the entry that runs it, the TF
     * is ferry's (the guest's was clear) and the IRET has not run: NMIs are still blocked. */
    if (x->nmi_step) {
        s->rflags &= ~RFLAGS_TF;
        s->interruptibility |= INTR_NMI;
    }
}

static int svm_vcpu_create(struct vcpu *v)
{
    uint64_t pa = frame_alloc(this_cpu()->node, 1, 1, FRAME_ZERO);
    if (!pa)
        return -ENOMEM;
    struct svm_vcpu *x = &svm_vcpus[v->vm - vms][v->index];
    x->vmcb = phys_to_virt(pa);
    x->vmcb_pa = pa;
    v->arch = x;
    struct vmcb_control *c = &x->vmcb->control;
    c->intercept1 = VMCB_I1_INTR | VMCB_I1_NMI | VMCB_I1_SMI | VMCB_I1_INIT | VMCB_I1_CPUID |
                    VMCB_I1_HLT | VMCB_I1_INVD | VMCB_I1_IOIO_PROT | VMCB_I1_MSR_PROT |
                    VMCB_I1_SHUTDOWN;
    /* VMRUN must be intercepted; the other SVM instructions get #UD (no nested SVM). */
    c->intercept2 = VMCB_I2_VMRUN | VMCB_I2_VMMCALL | VMCB_I2_VMLOAD | VMCB_I2_VMSAVE |
                    VMCB_I2_STGI | VMCB_I2_CLGI | VMCB_I2_SKINIT | VMCB_I2_XSETBV |
                    VMCB_I2_MONITOR | VMCB_I2_MWAIT;
    c->iopm_base_pa = iopm_pa;
    c->msrpm_base_pa = msrpm_pa;
    c->guest_asid = 1;
    c->tlb_control = TLB_CONTROL_FLUSH_ALL;
    c->vintr = VINTR_MASKING;      /* host interrupts exit the guest whatever its IF */
    c->np_control = NP_ENABLE;
    c->n_cr3 = *(uint64_t *)v->vm->arch;
    x->vmcb->save.dr6 = 0xffff0ff0;
    x->vmcb->save.dbgctl = 0;
    svm_set_state(v, &v->init);
    return 0;
}

static void svm_vcpu_destroy(struct vcpu *v)
{
    struct svm_vcpu *x = v->arch;
    if (!x)
        return;
    if (last_run[this_cpu()->index] == v)
        last_run[this_cpu()->index] = NULL;
    frame_free(x->vmcb_pa, 1);
    x->vmcb = NULL;
    v->arch = NULL;
}

static void svm_vm_slpt(struct vm *vm, struct slpt *t)
{
    *t = (struct slpt){ *(uint64_t *)vm->arch, npt_fmt.present, npt_fmt.dirty, vm->node };
}

/*
 * Nested page tables are ordinary long-mode tables: the CPU sets A and D in them on every
 * walk and write (APM vol. 2 15.25), with no switch to turn that on or off, and a TLB entry
 * that already saw D set does not set it again, so a harvest's flush-all is all it needs.
 */
static unsigned svm_dirty_modes(void) { return DIRTY_MODE_BIT(DIRTY_AD); }

static void svm_retire(struct vcpu *v)
{
    struct vmcb *vm = ((struct svm_vcpu *)v->arch)->vmcb;
    if (!v->exit.advance)
        return;
    vm->save.rip += v->exit.insn_len;
    vm->control.int_state &= ~INT_STATE_SHADOW;       /* the instruction retired */
    v->exit.advance = false;
}

static int svm_vcpu_run(struct vcpu *v, struct hv_exit *exit)
{
    struct svm_vcpu *x = v->arch;
    struct vmcb *vm = x->vmcb;
    unsigned c = this_cpu()->index;

    svm_retire(v);                        /* the last exit's result (exit is &v->exit) */
    if (__atomic_exchange_n(&v->flush_req, 0, __ATOMIC_ACQ_REL))
        vm->control.tlb_control = TLB_CONTROL_FLUSH_ALL;
    if (last_run[c] != v) {
        vm->control.tlb_control = TLB_CONTROL_FLUSH_ALL;
        last_run[c] = v;
    }
    vm->save.rax = v->gpr[GPR_RAX];
    vm->control.clean = 0;          /* nothing is cached: TCG has no clean bits anyway */
    uint64_t injected = vm->control.event_inj;
    struct cpu *cpu = this_cpu();
    if (cpu->timer_fired) {
        cpu->timer_fired = false;
        cpu->slice_armed = false;
    }
    if (!cpu->slice_armed || cpu->armed_tsc != cpu->deadline_tsc) {
        /* Armed when the target moves, not at every entry (it would never expire). */
        int64_t left = (int64_t)(cpu->deadline_tsc - rdtsc());
        lapic_timer_oneshot(left > 0 ? (uint64_t)left * 1000 / time_tsc_khz() + 1 : 1);
        cpu->armed_tsc = cpu->deadline_tsc;
        cpu->slice_armed = true;
    }
    uint64_t t0 = rdtsc();
    svm_enter(v->gpr, x->vmcb_pa, host_area_pa[c]);
    v->guest_tsc_ticks += rdtsc() - t0;
    v->entries++;
    v->gpr[GPR_RAX] = vm->save.rax;
    vm->control.tlb_control = TLB_CONTROL_NONE;
    /* An event cut short by the exit is delivered again at the next VMRUN (APM 15.7.2). */
    vm->control.event_inj = svm_event_requeue(vm->control.exitintinfo, injected);
    memset(exit, 0, sizeof(*exit));
    svm_decode_exit(v, exit);
    if (x->nmi_step)
        svm_nmi_step_done(x, exit);
    /* A write to a write-protected RAM page while logging: logged, let through, retried. */
    if (exit->reason == EXIT_MMIO && exit->mmio.write && vm_dirty_fault(v->vm, exit->mmio.gpa)) {
        vm->control.tlb_control = TLB_CONTROL_FLUSH_ALL;
        exit->reason = EXIT_DIRTY;
    }
    if (exit->reason == EXIT_ENTRY_FAIL) {
        log_err("svm", "VMRUN failed: invalid guest state (exit code 0x%llx)",
                (unsigned long long)vm->control.exitcode);
        return -EIO;
    }
    return 0;
}

/* The exit after a single-stepped IRET (svm_nmi_ready): its #DB trap is ferry's (the NMI
 * window: nothing reaches the guest); any other exit with RIP still at the IRET means it has
 * not run: TF comes off and NMIs stay masked until it does. */
static void svm_nmi_step_done(struct svm_vcpu *x, struct hv_exit *exit)
{
    struct vmcb *vm = x->vmcb;
    x->nmi_step = false;
    vm->control.intercept_exc &= ~(1u << 1);
    if (vm->control.exitcode == VMEXIT_EXCP(1)) {
        exit->reason = EXIT_INTR_WINDOW;
    } else if (vm->save.rip == x->nmi_step_rip) {
        vm->save.rflags &= ~RFLAGS_TF;
        x->nmi_masked = true;
        vm->control.intercept1 |= VMCB_I1_IRET;
    }
}

static int svm_inject(struct vcpu *v, const struct vcpu_event *e)
{
    struct svm_vcpu *x = v->arch;
    uint64_t ev;
    int rc = svm_event_encode(e, &ev);
    if (!rc)
        x->vmcb->control.event_inj = ev;
    if (!rc && e->type == EVENT_NMI) {
        /* The CPU masks NMIs until the guest's IRET (APM 15.20); SVM does not show that
         * mask, so ferry keeps it: IRET is intercepted, and the next NMI waits for an exit
         * after it (svm_nmi_ready). */
        x->nmi_masked = true;
        x->vmcb->control.intercept1 |= VMCB_I1_IRET;
    }
    return rc;
}

static bool svm_nmi_ready(struct vcpu *v, bool pending)
{
    struct svm_vcpu *x = v->arch;
    struct vmcb *vm = x->vmcb;
    if (x->nmi_masked && v->exit.vendor_reason == VMEXIT_IRET) {
        /* The IRET has not run yet: let it (one entry); NMIs are open from the next exit on,
         * which an interrupt window brings soon if one waits (svm_irq_ready). With IF clear
         * no window comes: the IRET runs single-stepped instead (TF set, #DB intercepted: the
         * trap right after it exits, svm_nmi_step_done), as KVM does. A guest stepping
         * itself (TF already set) keeps the slower way. */
        vm->control.intercept1 &= ~VMCB_I1_IRET;
        x->nmi_masked = false;
        x->nmi_after_iret = pending;
        if (pending && !(vm->save.rflags & (RFLAGS_IF | RFLAGS_TF))) {
            vm->save.rflags |= RFLAGS_TF;
            vm->control.intercept_exc |= 1u << 1;
            x->nmi_step = true;
            x->nmi_step_rip = vm->save.rip;
        }
        return false;
    }
    x->nmi_after_iret = false;
    bool shadow = (vm->control.int_state & INT_STATE_SHADOW) && !v->exit.advance;
    return pending && !x->nmi_masked && !(vm->control.event_inj & EVTINJ_V) && !shadow;
}

#define VINTR_REQUEST (VINTR_IRQ | VINTR_IGN_TPR | VINTR_PRIO_MASK)

static bool svm_irq_ready(struct vcpu *v, bool pending)
{
    struct svm_vcpu *x = v->arch;
    struct vmcb *vm = x->vmcb;
    bool ready = false;
    if (pending) {
        /* The exiting instruction retires first and takes its shadow with it. */
        bool shadow = (vm->control.int_state & INT_STATE_SHADOW) && !v->exit.advance;
        ready = !(vm->control.event_inj & EVTINJ_V) && (vm->save.rflags & RFLAGS_IF) && !shadow;
    }
    /* APM 15.21.4: a virtual interrupt request at top priority; its delivery is intercepted
     * (VINTR), so the guest exits the moment it could take an interrupt. */
    if ((pending && !ready) || x->nmi_after_iret) {
        vm->control.vintr |= VINTR_REQUEST;
        vm->control.intercept1 |= VMCB_I1_VINTR;
    } else {
        vm->control.vintr &= ~VINTR_REQUEST;
        vm->control.intercept1 &= ~VMCB_I1_VINTR;
    }
    return ready;
}

/* The guest's CR8 is V_TPR (APM 15.21.1, V_INTR_MASKING: no exit); the local APIC's TPR is
 * the truth, so what the guest wrote is pulled into it after each exit and pushed back before
 * each entry (an MMIO or x2APIC TPR write, a migration's record). */
static bool svm_cr8_pull(struct vcpu *v, uint8_t *cr8)
{
    struct svm_vcpu *x = v->arch;
    uint8_t now = x->vmcb->control.vintr & 0xf;
    if (now == x->vtpr)
        return false;
    *cr8 = now;
    x->vtpr = now;
    return true;
}

static void svm_cr8_push(struct vcpu *v, uint8_t cr8)
{
    struct svm_vcpu *x = v->arch;
    x->vmcb->control.vintr = (x->vmcb->control.vintr & ~VINTR_TPR_MASK) | (cr8 & 0xf);
    x->vtpr = cr8 & 0xf;
}

static int svm_fetch(struct vcpu *v, uint8_t *buf, size_t n)
{
    struct vcpu_state s;
    svm_get_state(v, &s);
    return gpt_read(v->vm, &s, gpt_code_address(&s), buf, n);
}

static void svm_dump(struct vcpu *v)
{
    struct svm_vcpu *x = v->arch;
    struct vmcb_control *c = &x->vmcb->control;
    struct vcpu_state s;
    svm_get_state(v, &s);
    log_err("svm", "vm %s vcpu %u: exit code 0x%llx info1 0x%llx info2 0x%llx exitintinfo 0x%llx",
            v->vm->name, v->index, (unsigned long long)c->exitcode,
            (unsigned long long)c->exitinfo1, (unsigned long long)c->exitinfo2,
            (unsigned long long)c->exitintinfo);
    log_err("svm", "  intercepts cr %x dr %x exc %x 1 %x 2 %x np %llx n_cr3 %llx asid %u", c->intercept_cr,
            c->intercept_dr, c->intercept_exc, c->intercept1, c->intercept2,
            (unsigned long long)c->np_control, (unsigned long long)c->n_cr3, c->guest_asid);
    vcpu_state_log(v->vm->name, v->index, &s);
}

/* VMSAVE/VMLOAD and the VMCB carry the MSRs and CR2: only the FPU is lazy here. */
static void svm_vcpu_load(struct vcpu *v) { fpu_load(v->xsave, v->xcr0); }
static void svm_vcpu_put(struct vcpu *v) { fpu_put(v->xsave, &v->xcr0); }

const struct vcpu_ops svm_ops = {
    .name = "svm",
    .cpu_init = svm_cpu_init,
    .vm_init = svm_vm_init,
    .vm_destroy = svm_vm_destroy,
    .vcpu_create = svm_vcpu_create,
    .vcpu_destroy = svm_vcpu_destroy,
    .vcpu_run = svm_vcpu_run,
    .vcpu_get_state = svm_get_state,
    .vcpu_retire = svm_retire,
    .vcpu_set_state = svm_set_state,
    .vcpu_inject = svm_inject,
    .vcpu_irq_ready = svm_irq_ready,
    .vcpu_nmi_ready = svm_nmi_ready,
    .vcpu_cr8_pull = svm_cr8_pull,
    .vcpu_cr8_push = svm_cr8_push,
    .vcpu_fetch = svm_fetch,
    .vcpu_dump = svm_dump,
    .vcpu_put = svm_vcpu_put,
    .vcpu_load = svm_vcpu_load,
    .vm_slpt = svm_vm_slpt,
    .dirty_modes = svm_dirty_modes,
};
