/* Interrupt delivery, device clocks and HLT wake-ups; see hv/vm/intr.h. */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "hv/base/time.h"
#include "hv/dev/dev_ids.h"
#include "hv/dev/vkvmclock.h"
#include "hv/dev/vlapic.h"
#include "hv/dev/vpic.h"
#include "hv/dev/vuart.h"
#include "hv/vm/guest_boot.h"
#include "hv/vm/intr.h"
#include "hv/vm/pvclock.h"
#include "hv/vm/sched.h"
#include "hv/vm/vcpu_ops.h"

void vm_vcpu_kick(void *ctx, unsigned vcpu)
{
    struct vm *vm = ctx;
    if (vcpu < vm->nvcpus && vm->vcpus[vcpu].pcpu)
        sched_kick(vm->vcpus[vcpu].pcpu);
}

/* The PIC's output rose: vCPU 0 must look (it may sleep in HLT or run on another CPU). */
void vm_intr_changed(void *ctx) { vm_vcpu_kick(ctx, 0); }

void vm_intr_init(struct vm *vm)
{
    vm->pic = dev_find(&vm->devs, DEV_ID_PIC, 0);
    vm->lapic = dev_find(&vm->devs, DEV_ID_LAPIC, 0);
    vm->kvmclock = dev_find(&vm->devs, DEV_ID_KVMCLOCK, 0);
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vm->vcpus[i].pvclock_gen = vm->kvmclock ? ((struct vkvmclock *)vm->kvmclock->state)->gen : 0;
}

/* Where the vCPU's next interrupt comes from: its local APIC, the 8259 pair (through LINT0
 * in ExtINT mode, or as a machine without APICs wires it to vCPU 0), or nowhere. Lock held. */
enum intr_src { INTR_NONE, INTR_LAPIC, INTR_PIC };

static enum intr_src intr_source(struct vcpu *v)
{
    struct vm *vm = v->vm;
    if (vm->lapic) {
        if (vlapic_pending(vm->lapic, v->index) >= 0)
            return INTR_LAPIC;
        if (vm->pic && vlapic_extint_enabled(vm->lapic, v->index) && vpic_intr(vm->pic))
            return INTR_PIC;
        return INTR_NONE;
    }
    return v->index == 0 && vm->pic && vpic_intr(vm->pic) ? INTR_PIC : INTR_NONE;
}

/* Polls the VM's device clocks: the next event in TSC for vCPU 0 (which keeps time for the
 * whole VM and sleeps until then), 0 if none or for another vCPU. The set's lock is held. */
static uint64_t poll_devices(struct vcpu *v)
{
    struct dev_set *s = &v->vm->devs;
    uint64_t now = time_ns(), tsc = rdtsc();
    /* Only when something is due or a device was touched since the last poll: most exits
     * (a UART byte, a CPUID) change no timer, and polling every device costs each of them.
     * Another vCPU polls only after its own accesses (its APIC timer, a device it programmed);
     * if that brought the VM's next event forward, vCPU 0 may sleep past it: it is kicked. */
    if (s->poll_stale || (!v->index && s->poll_next && now >= s->poll_next)) {
        uint64_t before = s->poll_next;
        s->poll_next = dev_set_poll(s, now);
        s->poll_stale = false;
        if (v->index && s->poll_next && (!before || s->poll_next < before))
            vm_vcpu_kick(v->vm, 0);
    }
    if (v->index || !s->poll_next)
        return 0;
    /* Rounded up so that the exit comes after the event, not just before it. */
    return tsc + (s->poll_next - now) * time_tsc_khz() / 1000000 + 1;
}

void vcpu_intr_before_entry(struct vcpu *v)
{
    struct cpu *c = this_cpu();
    struct dev_set *s = &v->vm->devs;
    int vec = -1;
    pvclock_before_entry(v);
    /* One look under the lock: the devices polled, where an interrupt would come from, and
     * (if the guest can take it now) its acknowledge; else the backend opens a window. */
    spin_lock(&s->lock);
    if (hv_ops->vcpu_cr8_push && v->vm->lapic)
        hv_ops->vcpu_cr8_push(v, (uint8_t)(((struct vlapic *)v->vm->lapic->state)
                                               ->cpu[v->index].tpr >> 4));
    uint64_t next = poll_devices(v);
    /* An NMI first: it goes whenever the guest is not inside an NMI handler (or a shadow). */
    if (hv_ops->vcpu_nmi_ready && hv_ops->vcpu_nmi_ready(v, v->nmi_pending)) {
        struct vcpu_event e = { .type = EVENT_NMI, .vector = 2 };
        hv_ops->vcpu_inject(v, &e);
        v->nmi_pending = false;
    }
    enum intr_src src = intr_source(v);
    if (hv_ops->vcpu_irq_ready(v, src != INTR_NONE))
        vec = src == INTR_LAPIC ? vlapic_ack(v->vm->lapic, v->index) : vpic_ack(v->vm->pic);
    spin_unlock(&s->lock);
    c->deadline_tsc = next && (int64_t)(next - c->slice_end_tsc) < 0 ? next : c->slice_end_tsc;
    if (vec >= 0) {
        struct vcpu_event e = { .type = EVENT_EXTINT, .vector = (uint8_t)vec };
        hv_ops->vcpu_inject(v, &e);
        v->interrupts++;
    }
}

void vcpu_after_exit(struct vcpu *v)
{
    uint8_t cr8;
    if (hv_ops->vcpu_cr8_pull && hv_ops->vcpu_cr8_pull(v, &cr8)) {
        uint64_t val = cr8;
        vcpu_cr8(v, true, &val);
    }
}

void vcpu_cr8(struct vcpu *v, bool write, uint64_t *val)
{
    struct device *d = v->vm->lapic;
    if (!d) {
        if (!write)
            *val = 0;
        return;
    }
    struct vlapic_cpu *c = &((struct vlapic *)d->state)->cpu[v->index];
    spin_lock(&v->vm->devs.lock);
    if (write)
        c->tpr = (uint32_t)(*val & 0xf) << 4;
    else
        *val = c->tpr >> 4;
    spin_unlock(&v->vm->devs.lock);
}

#define MSR_APIC_BASE      0x1bu
#define MSR_TSC_DEADLINE   0x6e0u
#define APIC_BASE_BSP      (1ull << 8)
#define APIC_BASE_EXTD     (1ull << 10)
#define APIC_BASE_EN       (1ull << 11)

int vcpu_apic_msr(struct vcpu *v, uint32_t msr, bool write, uint64_t *val)
{
    struct vm *vm = v->vm;
    struct device *d = vm->lapic;
    const struct cpu_policy *p = &vm->policy;
    int rc = 0;
    if (!d || (msr != MSR_APIC_BASE && msr != MSR_TSC_DEADLINE))
        return 1;
    if ((msr == MSR_APIC_BASE && !cpu_policy_has(p, CPU_FEAT_APIC)) ||
        (msr == MSR_TSC_DEADLINE && !cpu_policy_has(p, CPU_FEAT_TSC_DEADLINE)))
        return -EPERM;                  /* a CPU without the feature has no such MSR */
    uint64_t guest_tsc = 0;
    if (msr == MSR_TSC_DEADLINE && write) {
        struct vcpu_state st;
        hv_ops->vcpu_get_state(v, &st);
        guest_tsc = st.tsc;
    }
    spin_lock(&vm->devs.lock);
    vm->devs.vcpu = v->index;
    if (msr == MSR_APIC_BASE) {
        enum vlapic_mode m = vlapic_get_mode(d, v->index);
        if (!write) {
            *val = VLAPIC_BASE | (v->index == 0 ? APIC_BASE_BSP : 0) |
                   (m != VLAPIC_DISABLED ? APIC_BASE_EN : 0) |
                   (m == VLAPIC_X2APIC ? APIC_BASE_EXTD : 0);
        } else if ((*val & ~(APIC_BASE_BSP | APIC_BASE_EXTD | APIC_BASE_EN)) != VLAPIC_BASE ||
                   ((*val & APIC_BASE_EXTD) && !cpu_policy_has(p, CPU_FEAT_X2APIC)) ||
                   (*val & (APIC_BASE_EXTD | APIC_BASE_EN)) == APIC_BASE_EXTD) {
            /* Reserved bits, a relocated base (not offered), EXTD without x2APIC, or the
             * invalid EN=0 EXTD=1 (SDM 11.12.5). The BSP flag is the platform's: ignored. */
            rc = -EPERM;
        } else {
            m = !(*val & APIC_BASE_EN) ? VLAPIC_DISABLED
                : (*val & APIC_BASE_EXTD) ? VLAPIC_X2APIC : VLAPIC_XAPIC;
            rc = vlapic_set_mode(d, v->index, m) ? -EPERM : 0;
        }
    } else if (!write) {
        *val = vlapic_tsc_deadline_read(d, v->index);
    } else {
        rc = vlapic_tsc_deadline_write(d, v->index, *val, guest_tsc,
                                       (uint32_t)time_tsc_khz()) ? -EPERM : 0;
    }
    if (write)
        vm->devs.poll_stale = true;
    spin_unlock(&vm->devs.lock);
    return rc;
}

/* An INIT, SIPI or NMI for the vCPU is waiting (a racy look: vcpu_take_ipis takes it locked). */
static bool ipi_waiting(const struct vcpu *v)
{
    const struct device *d = v->vm->lapic;
    if (!d)
        return false;
    const struct vlapic_cpu *c = &((const struct vlapic *)d->state)->cpu[v->index];
    return __atomic_load_n(&c->init, __ATOMIC_ACQUIRE) ||
           __atomic_load_n(&c->sipi, __ATOMIC_ACQUIRE) ||
           __atomic_load_n(&c->nmi, __ATOMIC_ACQUIRE);
}

/* Does what waits end a halt? INIT always; a SIPI only in wait-for-SIPI (elsewhere the CPU
 * ignores it, SDM 3A 9.4); an NMI only outside wait-for-SIPI and outside an NMI handler (a
 * blocked NMI stays latched and HLT goes on, SDM 6.7.1). */
static bool ipi_wakes(const struct vcpu *v)
{
    const struct device *d = v->vm->lapic;
    if (!d)
        return false;
    const struct vlapic_cpu *c = &((const struct vlapic *)d->state)->cpu[v->index];
    return __atomic_load_n(&c->init, __ATOMIC_ACQUIRE) ||
           (v->wait_sipi && __atomic_load_n(&c->sipi, __ATOMIC_ACQUIRE)) ||
           (!v->wait_sipi && !v->halt_nmi_blocked && __atomic_load_n(&c->nmi, __ATOMIC_ACQUIRE));
}

bool vcpu_take_ipis(struct vcpu *v)
{
    if (ipi_waiting(v)) {
        struct vlapic_events ev;
        spin_lock(&v->vm->devs.lock);
        bool took = vlapic_take_events(v->vm->lapic, v->index, &ev);
        spin_unlock(&v->vm->devs.lock);
        bool was_waiting = v->wait_sipi;
        struct vcpu_state s;
        if (took && ev.init && v->index == 0) {
            /* The BSP does not wait for a SIPI (SDM 3A 9.4): on a PC it restarts at the reset
             * vector, firmware a ferry VM does not have. Ignored: a guest that wants its BSP
             * back resets the machine (the reset register, the 8042). */
            ev.init = false;
        }
        if (took && ev.init) {
            /* SDM 10.4.2 / table 10-1: the CPU resets to wait-for-SIPI; its TSC runs on. */
            hv_ops->vcpu_retire(v);
            hv_ops->vcpu_get_state(v, &s);
            uint64_t tsc = s.tsc;
            guest_boot_init_state(&s);
            s.tsc = tsc;
            s.activity = ACT_RUNNING;   /* the backend's view; ferry holds it (wait_sipi) */
            hv_ops->vcpu_set_state(v, &s);
            memset(&v->exit, 0, sizeof(v->exit));
            v->wait_sipi = true;
            v->nmi_pending = false;         /* INIT resets the NMI state too */
        }
        if (took && ev.sipi && v->wait_sipi) {
            hv_ops->vcpu_get_state(v, &s);
            guest_boot_sipi_state(&s, ev.sipi_vector);
            hv_ops->vcpu_set_state(v, &s);
            v->wait_sipi = false;
            v->halted = false;
        }
        /* An NMI (IPI, I/O APIC, local APIC) waits for vcpu_intr_before_entry; one that comes
         * while another waits merges with it, as on the CPU's NMI latch. An AP waiting for its
         * SIPI ignores it. */
        if (took && ev.nmi && !was_waiting && !ev.init)
            v->nmi_pending = true;
    }
    if (v->wait_sipi)
        v->halted = true;
    return !v->wait_sipi;
}

void vcpu_nmi_unpend(struct vcpu *v)
{
    struct device *d = v->vm->lapic;
    if (!v->nmi_pending || !d)
        return;
    spin_lock(&v->vm->devs.lock);
    ((struct vlapic *)d->state)->cpu[v->index].nmi = true;
    spin_unlock(&v->vm->devs.lock);
    v->nmi_pending = false;
}

void vcpu_init_loaded(struct vcpu *v)
{
    v->tsc_pending = true;
    v->nmi_pending = false;
    v->wait_sipi = v->init.activity == ACT_WAIT_SIPI;
    if (v->wait_sipi)
        v->init.activity = ACT_RUNNING;
    v->halted = v->wait_sipi;
}

bool vcpu_halt_wakes(struct vcpu *v, uint64_t *wake_tsc)
{
    spin_lock(&v->vm->devs.lock);
    *wake_tsc = poll_devices(v);
    bool pending = intr_source(v) != INTR_NONE;
    spin_unlock(&v->vm->devs.lock);
    if (ipi_wakes(v))
        return true;                     /* vcpu_take_ipis takes it */
    return !v->wait_sipi && ((v->nmi_pending && !v->halt_nmi_blocked) || (v->halt_if && pending));
}

int vm_console_input(struct vm *vm, uint8_t ch)
{
    struct device *d = dev_find(&vm->devs, DEV_ID_UART16550, 0);
    if (!d)
        return -ENODEV;
    spin_lock(&vm->devs.lock);
    int rc = vuart_input(d, ch);
    vm->devs.poll_stale = true;
    spin_unlock(&vm->devs.lock);
    return rc;
}
