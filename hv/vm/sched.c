#include <errno.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/fpu.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/trap.h"
#include "hv/base/log.h"
#include "hv/vm/intr.h"
#include "hv/vm/sched.h"
#include "hv/vm/vcpu.h"
#include "hv/base/time.h"
#include "hv/vm/vcpu_ops.h"

struct runq {
    struct spinlock lock;
    struct vcpu *v[SCHED_MAX_VCPUS];
    unsigned n, next;
    struct vcpu *loaded;        /* whose lazy state is in the CPU */
    volatile bool ready;        /* backend initialised on this CPU */
};

static struct runq rq[MAX_CPUS];

void sched_kick(unsigned pcpu)
{
    if (pcpu != this_cpu()->index)
        lapic_send_ipi(cpus[pcpu].apic_id, VEC_WAKEUP | ICR_ASSERT);
}

unsigned sched_load(unsigned pcpu) { return rq[pcpu].n; }

bool sched_cpu_ready(unsigned pcpu) { return pcpu < MAX_CPUS && rq[pcpu].ready; }

unsigned sched_pick_cpu(unsigned node, const unsigned *taken, unsigned ntaken)
{
    unsigned best = 0, best_load = 0;
    for (int pass = 0; pass < 2 && !best; pass++)
        for (unsigned i = 1; i < cpu_count; i++) {
            if (!rq[i].ready || (pass == 0 && cpus[i].node != node))
                continue;
            unsigned load = rq[i].n;
            for (unsigned k = 0; k < ntaken; k++)
                load += taken[k] == i;
            if (!best || load < best_load) {
                best = i;
                best_load = load;
            }
        }
    return best;   /* 0: no AP can run guests */
}

int sched_add(struct vcpu *v)
{
    struct runq *q = &rq[v->pcpu];
    spin_lock(&q->lock);
    if (q->n == SCHED_MAX_VCPUS) {
        spin_unlock(&q->lock);
        return -ENOSPC;
    }
    q->v[q->n++] = v;
    spin_unlock(&q->lock);
    sched_kick(v->pcpu);
    return 0;
}

static void switch_to(struct runq *q, struct vcpu *v)
{
    if (q->loaded == v)
        return;
    if (q->loaded)
        hv_ops->vcpu_put(q->loaded);
    hv_ops->vcpu_load(v);
    q->loaded = v;
}

static void retire(struct runq *q, unsigned i)
{
    struct vcpu *v = q->v[i];
    if (q->loaded == v)
        q->loaded = NULL;
    if (v->created)
        hv_ops->vcpu_destroy(v);
    v->created = false;
    spin_lock(&q->lock);
    q->v[i] = q->v[--q->n];
    spin_unlock(&q->lock);
    __atomic_store_n(&v->dead, true, __ATOMIC_RELEASE);
}

/* A paused vCPU's state, read on its own CPU: the VMCS/VMCB and lazy state live here. */
static void save_state(struct runq *q, struct vcpu *v)
{
    if (v->created) {
        switch_to(q, v);
        hv_ops->vcpu_retire(v);     /* the state after the last exit's instruction */
        hv_ops->vcpu_get_state(v, &v->saved);
        v->saved_host_tsc = rdtsc();
        hv_ops->vcpu_put(v);        /* FPU into v->xsave, lazy MSRs into v */
        q->loaded = NULL;
    } else {
        v->saved = v->init;         /* never ran (an AP still waiting for its SIPI) */
        v->saved_host_tsc = 0;
        uint64_t origin = __atomic_load_n(&v->vm->tsc_origin, __ATOMIC_ACQUIRE);
        if (v->tsc_pending && origin) {
            /* Its TSC is the VM's: what it would read now had it been created. */
            v->saved_host_tsc = rdtsc();
            v->saved.tsc += v->saved_host_tsc - origin;
        }
    }
    if (v->wait_sipi)
        v->saved.activity = ACT_WAIT_SIPI;
    vcpu_nmi_unpend(v);
    __atomic_and_fetch(&v->request, ~VCPU_REQ_SAVE, __ATOMIC_RELEASE);
}

/* A guest reset (paused): the backend state goes and is made again from vcpu->init at the
 * next run, like a CPU's power-on; the FPU area back to its initial state. */
static void reset_vcpu(struct runq *q, struct vcpu *v)
{
    if (v->created) {
        if (q->loaded == v) {
            hv_ops->vcpu_put(v);
            q->loaded = NULL;
        }
        hv_ops->vcpu_destroy(v);
        v->created = false;
    }
    if (v->xsave)
        fpu_area_init(v->xsave);
    v->xcr0 = v->init.xcr0;
    v->halted = v->wait_sipi;           /* an AP of a Linux guest waits for its SIPI again */
    memset(&v->exit, 0, sizeof(v->exit));
    __atomic_and_fetch(&v->request, ~VCPU_REQ_RESET, __ATOMIC_RELEASE);
}

/*
 * Next runnable vCPU, retiring stopped ones and acknowledging pauses on the way. A throttled
 * vCPU (its VM's throttle_pct > 0, set while a migration converges) sits out until its
 * throttle_until; *wake gets the soonest such TSC (0: none) for when nothing can run.
 */
static struct vcpu *pick(struct runq *q, uint64_t *wake)
{
    uint64_t now = rdtsc();
    *wake = 0;
    for (unsigned tries = 0; tries <= q->n && q->n; tries++) {
        unsigned i = q->next++ % q->n;
        struct vcpu *v = q->v[i];
        uint32_t req = __atomic_load_n(&v->request, __ATOMIC_ACQUIRE);
        if (req & VCPU_REQ_STOP) {
            retire(q, i);
            tries = 0;
            continue;
        }
        if ((req & VCPU_REQ_SAVE) && (req & VCPU_REQ_PAUSE))
            save_state(q, v);
        if ((req & VCPU_REQ_RESET) && (req & VCPU_REQ_PAUSE))
            reset_vcpu(q, v);
        v->paused = req & VCPU_REQ_PAUSE;
        if (v->paused)
            continue;
        if (v->halted) {
            uint64_t t;
            if (!vcpu_halt_wakes(v, &t)) {
                if (t && (!*wake || (int64_t)(t - *wake) < 0))
                    *wake = t;
                continue;
            }
            v->halted = false;
        }
        if (v->throttle_until && (int64_t)(v->throttle_until - now) > 0) {
            if (!*wake || (int64_t)(v->throttle_until - *wake) < 0)
                *wake = v->throttle_until;
            continue;
        }
        return v;
    }
    return NULL;
}

static void run_slice(struct runq *q, struct vcpu *v)
{
    if (!v->created) {
        if (q->loaded) {
            hv_ops->vcpu_put(q->loaded);
            q->loaded = NULL;
        }
        if (v->tsc_pending) {
            /* The VM's first vCPU to be created sets its TSC's origin; the others (APs created
             * when their SIPI comes, vCPUs of a migrated VM a little later) count from it too,
             * so every vCPU reads the same TSC. */
            uint64_t now = rdtsc(), origin = 0;
            if (!__atomic_compare_exchange_n(&v->vm->tsc_origin, &origin, now, false,
                                             __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                now = now > origin ? now : origin;
            else
                origin = now;
            v->init.tsc += now - origin;
            v->tsc_pending = false;
        }
        int rc = hv_ops->vcpu_create(v);
        if (rc) {
            vm_stop(v->vm, "cannot create vcpu %u on cpu %u (%d)", v->index, v->pcpu, rc);
            return;
        }
        v->created = true;
    }
    switch_to(q, v);
    struct cpu *c = this_cpu();
    c->slice_end_tsc = rdtsc() + time_tsc_khz() * SCHED_SLICE_US / 1000;
    c->slice_armed = false;
    c->timer_fired = false;
    for (;;) {
        if (__atomic_load_n(&v->request, __ATOMIC_ACQUIRE))
            return;
        if (!vcpu_take_ipis(v))
            return;                     /* wait-for-SIPI: halted until one comes */
        vcpu_intr_before_entry(v);
        if (hv_ops->vcpu_run(v, &v->exit)) {
            vm_stop(v->vm, "VM entry failed on vcpu %u", v->index);
            hv_ops->vcpu_dump(v);
            return;
        }
        v->exits[v->exit.reason < EXIT_COUNT ? v->exit.reason : EXIT_UNHANDLED]++;
        vcpu_after_exit(v);
        if (!vcpu_handle_exit(v, &v->exit))
            return;
        /* Any exit past the slice's end ends it, whether or not the timer got its exit in. */
        if ((int64_t)(rdtsc() - c->slice_end_tsc) >= 0)
            return;
    }
}

static void sched_loop(void *arg)
{
    struct runq *q = arg;
    int rc = hv_ops->cpu_init();
    if (rc) {
        log_err("sched", "cpu %u cannot run guests (%d)", this_cpu()->index, rc);
        return;
    }
    q->ready = true;
    for (;;) {
        uint64_t wake;
        struct vcpu *v = pick(q, &wake);
        if (!v) {
            if (wake) {         /* a device event or a throttled vCPU's turn; or a kick */
                uint64_t left = wake - rdtsc();
                lapic_timer_oneshot((int64_t)left > 0 ? left * 1000 / time_tsc_khz() + 1 : 1);
            }
            cpu_sti_hlt();
            continue;
        }
        uint64_t t0 = rdtsc();
        run_slice(q, v);
        /* Throttled: sit out pct/(100-pct) of what it just ran (20% -> a quarter of it). */
        uint32_t pct = __atomic_load_n(&v->vm->throttle_pct, __ATOMIC_RELAXED);
        uint64_t now = rdtsc();
        v->throttle_until = pct && pct < 100 ? now + (now - t0) * pct / (100 - pct) : 0;
    }
}

/* The local APIC timer ends a slice (SVM) or wakes an AP whose vCPUs are all throttled. */
static void timer_wake(struct trap_frame *tf)
{
    (void)tf;
    this_cpu()->timer_fired = true;
}

void sched_start(void)
{
    trap_set_handler(VEC_TIMER, timer_wake);
    for (unsigned i = 1; i < cpu_count; i++)
        if (cpus[i].online)
            smp_run_on(i, sched_loop, &rq[i]);
    /* Wait (bounded) for the backends to come up so placement sees ready CPUs. */
    for (unsigned i = 1; i < cpu_count; i++)
        for (unsigned t = 0; t < 1000000 && cpus[i].online && !rq[i].ready; t++)
            cpu_relax();
}
