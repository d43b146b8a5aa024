/*
 * VMCB state-save area <-> struct vcpu_state. The conventions (SVME, CPL,
 * unusable segments, interrupt shadow, pending event) are in svm_state.h.
 */
#include <errno.h>

#include "arch/x86_64/svm/svm_state.h"

#define ATTR_MASK   0xfffu
#define ATTR_DPL    0x60u
#define ATTR_DPL_SHIFT 5
#define ATTR_P      0x80u
#define RFLAGS_IF   (1ull << 9)
#define RFLAGS_FIXED 0x2ull          /* bit 1 always reads as 1 */

uint16_t svm_attrib_from_attr(uint32_t attr)
{
    if ((attr & SEG_UNUSABLE) || !(attr & ATTR_P))
        return attr & ATTR_DPL;
    return attr & ATTR_MASK;
}

uint32_t svm_attr_from_attrib(uint16_t attrib)
{
    if (!(attrib & ATTR_P))
        return SEG_UNUSABLE | (attrib & ATTR_DPL);
    return attrib & ATTR_MASK;
}

static void seg_write(struct vmcb_seg *d, const struct seg *g)
{
    d->sel = g->sel;
    d->attrib = svm_attrib_from_attr(g->attr);
    d->limit = g->limit;
    d->base = g->base;
}

static void seg_read(const struct vmcb_seg *d, struct seg *g)
{
    *g = (struct seg){ .sel = d->sel, .attr = svm_attr_from_attrib(d->attrib), .limit = d->limit,
                       .base = d->base };
}

int svm_event_encode(const struct vcpu_event *e, uint64_t *out)
{
    static const uint8_t type[] = {
        [EVENT_EXTINT] = EVTINJ_TYPE_INTR, [EVENT_NMI] = EVTINJ_TYPE_NMI,
        [EVENT_EXCEPTION] = EVTINJ_TYPE_EXCEPTION, [EVENT_SOFTINT] = EVTINJ_TYPE_SOFT,
    };
    if (e->type == EVENT_NONE) {
        *out = 0;
        return 0;
    }
    if (e->type > EVENT_SOFTINT)
        return -EINVAL;
    uint64_t v = e->vector | (uint64_t)type[e->type] << EVTINJ_TYPE_SHIFT | EVTINJ_V;
    /* APM 15.20: only exceptions push an error code. */
    if (e->has_error && e->type == EVENT_EXCEPTION)
        v |= EVTINJ_EV | (uint64_t)e->error << EVTINJ_ERROR_SHIFT;
    *out = v;
    return 0;
}

void svm_event_decode(uint64_t v, struct vcpu_event *e)
{
    static const uint8_t type[8] = {
        [EVTINJ_TYPE_INTR] = EVENT_EXTINT, [EVTINJ_TYPE_NMI] = EVENT_NMI,
        [EVTINJ_TYPE_EXCEPTION] = EVENT_EXCEPTION, [EVTINJ_TYPE_SOFT] = EVENT_SOFTINT,
    };
    *e = (struct vcpu_event){ .type = EVENT_NONE };
    if (!(v & EVTINJ_V))
        return;
    e->type = type[(v & EVTINJ_TYPE_MASK) >> EVTINJ_TYPE_SHIFT];
    if (e->type == EVENT_NONE)      /* reserved type: not something VMRUN would deliver */
        return;
    e->vector = v & EVTINJ_VECTOR_MASK;
    e->has_error = !!(v & EVTINJ_EV);
    e->error = e->has_error ? (uint32_t)(v >> EVTINJ_ERROR_SHIFT) : 0;
}

/* Raised by executing an instruction that is still at RIP: INT n, INT3, INTO. */
static bool reexecutes(uint64_t v)
{
    uint64_t type = (v & EVTINJ_TYPE_MASK) >> EVTINJ_TYPE_SHIFT;
    uint64_t vec = v & EVTINJ_VECTOR_MASK;
    return type == EVTINJ_TYPE_SOFT || (type == EVTINJ_TYPE_EXCEPTION && (vec == 3 || vec == 4));
}

uint64_t svm_event_requeue(uint64_t exitintinfo, uint64_t injected)
{
    const uint64_t id = EVTINJ_V | EVTINJ_TYPE_MASK | EVTINJ_VECTOR_MASK;
    const uint64_t keep = id | EVTINJ_EV | 0xffffffffull << EVTINJ_ERROR_SHIFT;

    if (!(exitintinfo & EVTINJ_V))
        return 0;
    if (reexecutes(exitintinfo) && (injected & id) != (exitintinfo & id))
        return 0;
    return exitintinfo & keep;
}

static void events_write(struct vmcb *vmcb, const struct vcpu_state *s)
{
    uint64_t inj;
    /* An impossible type is not dropped: a reserved EVENTINJ type makes VMRUN
     * fail with VMEXIT_INVALID, which stops the VM with a dump. */
    if (svm_event_encode(&s->pending, &inj))
        inj = EVTINJ_V | 1ull << EVTINJ_TYPE_SHIFT;
    vmcb->control.event_inj = inj;
    if (s->pending.type == EVENT_SOFTINT)
        vmcb->control.nrip = s->rip;    /* the return address with NRIPS (APM 15.20) */

    uint64_t st = vmcb->control.int_state & ~INT_STATE_SHADOW;
    if (s->interruptibility & (INTR_STI | INTR_MOVSS))
        st |= INT_STATE_SHADOW;
    vmcb->control.int_state = st;

    uint64_t vi = vmcb->control.vintr & ~VINTR_TPR_MASK;
    vi |= s->cr8 & 0xf;
    if (vi & VINTR_NMI_ENABLE)
        vi = (vi & ~VINTR_NMI_MASK) | (s->interruptibility & INTR_NMI ? VINTR_NMI_MASK : 0);
    vmcb->control.vintr = vi;
}

void svm_state_write(struct vmcb *vmcb, const struct vcpu_state *s)
{
    struct vmcb_save *v = &vmcb->save;

    seg_write(&v->es, &s->es);
    seg_write(&v->cs, &s->cs);
    seg_write(&v->ss, &s->ss);
    seg_write(&v->ds, &s->ds);
    seg_write(&v->fs, &s->fs);
    seg_write(&v->gs, &s->gs);
    seg_write(&v->ldtr, &s->ldtr);
    seg_write(&v->tr, &s->tr);
    v->gdtr = (struct vmcb_seg){ .limit = s->gdtr.limit, .base = s->gdtr.base };
    v->idtr = (struct vmcb_seg){ .limit = s->idtr.limit, .base = s->idtr.base };
    v->cpl = (s->ss.attr & ATTR_DPL) >> ATTR_DPL_SHIFT;
    v->efer = s->efer | EFER_SVME;
    v->cr0 = s->cr0;
    v->cr2 = s->cr2;
    v->cr3 = s->cr3;
    v->cr4 = s->cr4;
    v->dr7 = s->dr7;
    v->g_pat = s->pat;
    v->rflags = s->rflags | RFLAGS_FIXED;
    v->rip = s->rip;
    v->rsp = s->gpr[GPR_RSP];
    v->rax = s->gpr[GPR_RAX];
    v->star = s->star;
    v->lstar = s->lstar;
    v->cstar = s->cstar;
    v->sfmask = s->sfmask;
    v->kernel_gs_base = s->kernel_gs_base;
    v->sysenter_cs = s->sysenter_cs;
    v->sysenter_esp = s->sysenter_esp;
    v->sysenter_eip = s->sysenter_eip;
    events_write(vmcb, s);
    vmcb->control.clean = 0;
}

void svm_state_read(const struct vmcb *vmcb, struct vcpu_state *s)
{
    const struct vmcb_save *v = &vmcb->save;

    s->version = VCPU_STATE_VERSION;
    seg_read(&v->es, &s->es);
    seg_read(&v->cs, &s->cs);
    seg_read(&v->ss, &s->ss);
    seg_read(&v->ds, &s->ds);
    seg_read(&v->fs, &s->fs);
    seg_read(&v->gs, &s->gs);
    seg_read(&v->ldtr, &s->ldtr);
    seg_read(&v->tr, &s->tr);
    s->ss.attr = (s->ss.attr & ~ATTR_DPL) | (uint32_t)(v->cpl & 3) << ATTR_DPL_SHIFT;
    s->gdtr = (struct dtable){ .base = v->gdtr.base, .limit = v->gdtr.limit };
    s->idtr = (struct dtable){ .base = v->idtr.base, .limit = v->idtr.limit };
    s->efer = v->efer & ~EFER_SVME;
    s->cr0 = v->cr0;
    s->cr2 = v->cr2;
    s->cr3 = v->cr3;
    s->cr4 = v->cr4;
    s->cr8 = vmcb->control.vintr & 0xf;
    s->dr7 = v->dr7;
    s->pat = v->g_pat;
    s->rflags = v->rflags;
    s->rip = v->rip;
    s->gpr[GPR_RSP] = v->rsp;
    s->gpr[GPR_RAX] = v->rax;
    s->star = v->star;
    s->lstar = v->lstar;
    s->cstar = v->cstar;
    s->sfmask = v->sfmask;
    s->kernel_gs_base = v->kernel_gs_base;
    s->sysenter_cs = v->sysenter_cs;
    s->sysenter_esp = v->sysenter_esp;
    s->sysenter_eip = v->sysenter_eip;

    uint32_t intr = 0;
    if (vmcb->control.int_state & INT_STATE_SHADOW)
        intr |= v->rflags & RFLAGS_IF ? INTR_STI : INTR_MOVSS;
    if ((vmcb->control.vintr & VINTR_NMI_ENABLE) && (vmcb->control.vintr & VINTR_NMI_MASK))
        intr |= INTR_NMI;
    s->interruptibility = intr;
    svm_event_decode(vmcb->control.event_inj, &s->pending);
}
