/* Interrupt delivery, device clocks and HLT wake-ups; see hv/vm/intr.h. */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "hv/base/time.h"
#include "hv/dev/dev_ids.h"
#include "hv/dev/vkvmclock.h"
#include "hv/dev/vpic.h"
#include "hv/dev/vuart.h"
#include "hv/vm/intr.h"
#include "hv/vm/pvclock.h"
#include "hv/vm/sched.h"
#include "hv/vm/vcpu_ops.h"

/* The PIC's output rose: vCPU 0 must look (it may sleep in HLT or run on another CPU). */
void vm_intr_changed(void *ctx)
{
    struct vm *vm = ctx;
    if (vm->nvcpus && vm->vcpus[0].pcpu)
        sched_kick(vm->vcpus[0].pcpu);
}

void vm_intr_init(struct vm *vm)
{
    vm->pic = dev_find(&vm->devs, DEV_ID_PIC, 0);
    vm->kvmclock = dev_find(&vm->devs, DEV_ID_KVMCLOCK, 0);
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vm->vcpus[i].pvclock_gen = vm->kvmclock ? ((struct vkvmclock *)vm->kvmclock->state)->gen : 0;
}

static bool intr_pending(struct vcpu *v)
{
    return v->index == 0 && v->vm->pic && vpic_intr(v->vm->pic);
}

/* Polls the VM's device clocks (vCPU 0 does, for the whole VM); the next event in TSC, 0: none. */
static uint64_t poll_devices(struct vcpu *v)
{
    if (v->index)
        return 0;
    struct dev_set *s = &v->vm->devs;
    spin_lock(&s->lock);
    uint64_t now = time_ns(), tsc = rdtsc(), next = dev_set_poll(s, now);
    spin_unlock(&s->lock);
    if (!next)
        return 0;
    /* Rounded up so that the exit comes after the event, not just before it. */
    return tsc + (next - now) * time_tsc_khz() / 1000000 + 1;
}

void vcpu_intr_before_entry(struct vcpu *v)
{
    struct cpu *c = this_cpu();
    pvclock_before_entry(v);
    uint64_t next = poll_devices(v);
    c->deadline_tsc = next && (int64_t)(next - c->slice_end_tsc) < 0 ? next : c->slice_end_tsc;
    bool pending = intr_pending(v);
    if (!hv_ops->vcpu_irq_ready(v, pending))
        return;
    struct dev_set *s = &v->vm->devs;
    spin_lock(&s->lock);
    bool still = vpic_intr(v->vm->pic);
    uint8_t vec = still ? vpic_ack(v->vm->pic) : 0;
    spin_unlock(&s->lock);
    if (still) {
        struct vcpu_event e = { .type = EVENT_EXTINT, .vector = vec };
        hv_ops->vcpu_inject(v, &e);
        v->interrupts++;
    }
}

bool vcpu_halt_wakes(struct vcpu *v, uint64_t *wake_tsc)
{
    *wake_tsc = poll_devices(v);
    return v->halt_if && intr_pending(v);
}

void vm_console_input(struct vm *vm, uint8_t ch)
{
    struct device *d = dev_find(&vm->devs, DEV_ID_UART16550, 0);
    if (!d)
        return;
    spin_lock(&vm->devs.lock);
    vuart_input(d, ch);
    spin_unlock(&vm->devs.lock);
}
