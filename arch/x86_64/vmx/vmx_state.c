/*
 * VMCS guest-state area <-> the arch-neutral struct vcpu_state. Segment
 * access rights: VMX keeps bits 8-11 of the 12-bit attribute at 12-15 and
 * "unusable" at bit 16 (SDM vol. 3 sec. 25.4.1). Loading supplies what VM
 * entry requires and a record from either vendor may lack (accessed and busy
 * types, G, unusable for not present, virtual-8086 access rights, the pending
 * single-step of TF in a shadow, an injected NMI's blocking); the VMCS image
 * it writes is vmx_guest_from_state's, which vmx_guest_state_check() holds to
 * VM entry's checks (vmx_guest_check.c).
 */
#include <string.h>

#include "arch/x86_64/vmx/vmcs.h"
#include "arch/x86_64/vmx/vmx.h"

#define EFER_LMA (1ull << 10)
#define ENTRY_IA32E (1u << 9)
#define ATTR_P (1u << 7)
#define ATTR_G (1u << 11)
#define RFLAGS_TF (1ull << 8)
#define RFLAGS_VM (1ull << 17)
#define PDBG_BS (1ull << 14)

struct seg_fields { vmcs16_t sel; vmcs32_t limit, ar; vmcsnat_t base; };

static const struct seg_fields segs[8] = {
    { VMCS_GUEST_ES_SEL, VMCS_GUEST_ES_LIMIT, VMCS_GUEST_ES_AR, VMCS_GUEST_ES_BASE },
    { VMCS_GUEST_CS_SEL, VMCS_GUEST_CS_LIMIT, VMCS_GUEST_CS_AR, VMCS_GUEST_CS_BASE },
    { VMCS_GUEST_SS_SEL, VMCS_GUEST_SS_LIMIT, VMCS_GUEST_SS_AR, VMCS_GUEST_SS_BASE },
    { VMCS_GUEST_DS_SEL, VMCS_GUEST_DS_LIMIT, VMCS_GUEST_DS_AR, VMCS_GUEST_DS_BASE },
    { VMCS_GUEST_FS_SEL, VMCS_GUEST_FS_LIMIT, VMCS_GUEST_FS_AR, VMCS_GUEST_FS_BASE },
    { VMCS_GUEST_GS_SEL, VMCS_GUEST_GS_LIMIT, VMCS_GUEST_GS_AR, VMCS_GUEST_GS_BASE },
    { VMCS_GUEST_LDTR_SEL, VMCS_GUEST_LDTR_LIMIT, VMCS_GUEST_LDTR_AR, VMCS_GUEST_LDTR_BASE },
    { VMCS_GUEST_TR_SEL, VMCS_GUEST_TR_LIMIT, VMCS_GUEST_TR_AR, VMCS_GUEST_TR_BASE },
};

uint32_t vmx_ar_from_attr(uint32_t a)
{
    return (a & 0xff) | ((a & 0xf00) << 4) | (a & SEG_UNUSABLE);
}

uint32_t vmx_attr_from_ar(uint32_t ar)
{
    return (ar & 0xff) | ((ar >> 4) & 0xf00) | (ar & SEG_UNUSABLE);
}

static struct seg *seg_of(struct vcpu_state *s, unsigned i)
{
    struct seg *all[8] = { &s->es, &s->cs, &s->ss, &s->ds, &s->fs, &s->gs, &s->ldtr, &s->tr };
    return all[i];
}

/*
 * The attribute of segment register i as a CPU holds it once loaded: a code or data segment
 * accessed, a TR's TSS busy. A state saved by AMD-V (a migration from another host) may lack
 * both: SVM does not check them and QEMU's TCG keeps the descriptor's type from before the
 * load; VMX's guest-state checks (SDM 26.3.1.2) insist, and the entry would fail. A segment
 * register other than CS and TR that is not present is what VMX calls unusable (the record's
 * convention, svm_state.h): SVM reads it that way, VMX would refuse it usable.
 */
uint32_t vmx_loaded_attr(unsigned i, uint32_t attr)
{
    if (attr & SEG_UNUSABLE)
        return attr;
    if (i != 1 && i != 7 && !(attr & ATTR_P))
        return attr | SEG_UNUSABLE;
    if (i == 7 && ((attr & 0xf) == 1 || (attr & 0xf) == 9))
        return attr | 2;                /* available -> busy TSS */
    if (i < 6 && (attr & 0x10))
        return attr | 1;                /* code or data: accessed */
    return attr;
}

/*
 * G as the limit says it must be (SDM 26.3.1.2): AMD CPUs do not keep G reliably (some drop
 * it for CS; SVM ignores it), while VMX checks it against the limit, which is what the CPU
 * uses. G only says how a descriptor's limit was scaled, so this changes nothing the guest
 * sees. A limit no descriptor can make (above 1 MiB without its 12 low bits set) is the
 * target's to refuse (msr_state_check).
 */
static uint32_t g_for_limit(uint32_t attr, uint32_t limit)
{
    if ((limit & 0xfff) != 0xfff)
        return attr & ~ATTR_G;
    return limit >> 20 ? attr | ATTR_G : attr;
}

/* Segment i's VMX access rights for the state's attribute. */
static uint32_t seg_ar(unsigned i, const struct seg *g, bool v86)
{
    if (v86 && i < 6)
        return 0xf3;        /* SDM 26.3.1.2: what a virtual-8086 load makes, whoever saved it */
    uint32_t a = vmx_loaded_attr(i, g->attr);
    return vmx_ar_from_attr(a & SEG_UNUSABLE ? a : g_for_limit(a, g->limit));
}

/* SDM 26.2.1.3: the hardware exceptions that push an error code (#CP with CET). */
static bool pushes_error(uint8_t v)
{
    return v == 8 || (v >= 10 && v <= 14) || v == 17 || (v == 21 && vmx_caps.cet);
}

uint32_t vmx_event_info(const struct vcpu_event *e, uint64_t cr0)
{
    static const uint8_t type[] = { [EVENT_EXTINT] = 0, [EVENT_NMI] = 2,
                                    [EVENT_EXCEPTION] = 3, [EVENT_SOFTINT] = 4 };
    if (e->type == EVENT_NONE || e->type > EVENT_SOFTINT ||
        (e->type == EVENT_EXCEPTION && e->vector >= 32))
        return 0;
    uint32_t info = (e->type == EVENT_NMI ? 2 : e->vector) | (uint32_t)type[e->type] << 8 |
                    1u << 31;
    if (e->type == EVENT_EXCEPTION && pushes_error(e->vector) && (cr0 & 1))
        info |= 1u << 11;
    return info;
}

/*
 * The state's pending event (what the next entry delivers: one a previous exit interrupted,
 * or one ferry injected) into the VM-entry interruption fields. The neutral form of a
 * software interrupt has RIP at its return address (as SVM's NRIP has it); VMX pushes RIP
 * plus the entry's instruction length, so it goes in with length 0 where IA32_VMX_MISC[30]
 * allows, else with length 1 from RIP - 1 (never executed: the handler runs; outside 64-bit
 * code the subtraction wraps at 4 GiB, as the pushed EIP does). An error code goes only with
 * the exceptions that push one, an NMI is vector 2: what VM entry checks. An NMI's delivery
 * ends an STI or MOV SS shadow and blocks NMIs again, so the blocking it would be refused
 * with (SDM 26.3.1.5) goes: an NMI SVM had injected but not yet delivered when the state was
 * saved comes with NMI blocking set (svm.c masks NMIs at injection).
 */
static void pending_to_guest(struct vmx_guest *x, const struct vcpu_state *s)
{
    const struct vcpu_event *e = &s->pending;
    x->intr_info = vmx_event_info(e, s->cr0);
    if (!x->intr_info)
        return;
    if (x->intr_info & (1u << 11))
        x->exc_error = e->has_error ? e->error : 0;
    if (e->type == EVENT_SOFTINT) {
        x->insn_len = vmx_caps.inject_len0 ? 0 : 1;
        x->rip -= x->insn_len;
        if (!(x->entry & ENTRY_IA32E) || !(x->ar[1] & (1u << 13)))
            x->rip &= 0xffffffffull;
    }
    if (e->type == EVENT_NMI)
        x->interruptibility &= ~(INTR_STI | INTR_MOVSS | INTR_NMI);
}

/*
 * With RFLAGS.TF set in an STI / MOV SS shadow or in HLT, the instruction before was
 * single-stepped and its #DB is pending: VMX requires BS in the pending debug exceptions then
 * (SDM 26.3.1.5), and an exit saves it. The record does not carry it (SVM has no such field),
 * so it is set from the state; IA32_DEBUGCTL.BTF is 0 (the loader writes DEBUGCTL 0).
 */
static uint64_t pending_dbg(const struct vmx_guest *x)
{
    bool shadow = x->interruptibility & (INTR_STI | INTR_MOVSS);
    return (x->rflags & RFLAGS_TF) && (shadow || x->activity == 1) ? PDBG_BS : 0;
}

bool vmx_pae_paging(const struct vcpu_state *s)
{
    return (s->cr0 & (1ull << 31)) && (s->cr4 & (1ull << 5)) && !(s->efer & EFER_LMA);
}

void vmx_guest_from_state(struct vmx_guest *x, const struct vcpu_state *s, uint32_t entry,
                          const uint64_t *pdpte)
{
    bool v86 = s->rflags & RFLAGS_VM;
    memset(x, 0, sizeof(*x));
    for (unsigned i = 0; i < 8; i++) {
        const struct seg *g = seg_of((struct vcpu_state *)s, i);
        x->sel[i] = g->sel;
        x->limit[i] = g->limit;
        x->ar[i] = seg_ar(i, g, v86);
        x->base[i] = g->base;
    }
    x->gdtr_base = s->gdtr.base;
    x->gdtr_limit = s->gdtr.limit;
    x->idtr_base = s->idtr.base;
    x->idtr_limit = s->idtr.limit;
    x->cr0 = vmx_fixed_cr_guest(s->cr0, 0);
    x->cr4 = vmx_fixed_cr_guest(s->cr4, 4);
    x->cr3 = s->cr3;
    x->dr7 = s->dr7;
    x->rsp = s->gpr[GPR_RSP];
    x->rip = s->rip;
    x->rflags = s->rflags | 2;
    x->efer = s->efer;
    x->pat = s->pat;
    x->sysenter_cs = (uint32_t)s->sysenter_cs;
    x->sysenter_esp = s->sysenter_esp;
    x->sysenter_eip = s->sysenter_eip;
    x->interruptibility = s->interruptibility & (INTR_STI | INTR_MOVSS | INTR_NMI);
    x->activity = s->activity == ACT_HALTED ? 1 : 0;
    x->entry = (entry & ~ENTRY_IA32E) | (s->efer & EFER_LMA ? ENTRY_IA32E : 0);
    x->pin = vmx_caps.pin;
    x->proc = vmx_caps.proc;
    x->proc2 = vmx_caps.proc2;
    x->link_ptr = ~0ull;                /* vmx.c's write_controls */
    if (pdpte && vmx_pae_paging(s))
        memcpy(x->pdpte, pdpte, sizeof(x->pdpte));
    pending_to_guest(x, s);
    x->pending_dbg = pending_dbg(x);
}

void vmx_write_guest_state(const struct vcpu_state *s, const uint64_t *pdpte)
{
    struct vmx_guest x;
    vmx_guest_from_state(&x, s, vmcs_read32(VMCS_ENTRY_CTLS), pdpte);
    for (unsigned i = 0; i < 8; i++) {
        vmcs_write16(segs[i].sel, x.sel[i]);
        vmcs_write32(segs[i].limit, x.limit[i]);
        vmcs_write32(segs[i].ar, x.ar[i]);
        vmcs_writenat(segs[i].base, x.base[i]);
    }
    vmcs_writenat(VMCS_GUEST_GDTR_BASE, x.gdtr_base);
    vmcs_write32(VMCS_GUEST_GDTR_LIMIT, x.gdtr_limit);
    vmcs_writenat(VMCS_GUEST_IDTR_BASE, x.idtr_base);
    vmcs_write32(VMCS_GUEST_IDTR_LIMIT, x.idtr_limit);
    vmcs_writenat(VMCS_CR0_SHADOW, s->cr0);
    vmcs_writenat(VMCS_CR4_SHADOW, s->cr4);
    vmcs_writenat(VMCS_GUEST_CR0, x.cr0);
    vmcs_writenat(VMCS_GUEST_CR4, x.cr4);
    vmcs_writenat(VMCS_GUEST_CR3, x.cr3);
    vmcs_writenat(VMCS_GUEST_DR7, x.dr7);
    vmcs_writenat(VMCS_GUEST_RSP, x.rsp);
    vmcs_writenat(VMCS_GUEST_RIP, x.rip);
    vmcs_writenat(VMCS_GUEST_RFLAGS, x.rflags);
    vmcs_writenat(VMCS_GUEST_PENDING_DBG, x.pending_dbg);
    vmcs_write64(VMCS_GUEST_EFER, x.efer);
    vmcs_write64(VMCS_GUEST_PAT, x.pat);
    vmcs_write64(VMCS_GUEST_DEBUGCTL, x.debugctl);
    vmcs_write32(VMCS_GUEST_SYSENTER_CS, x.sysenter_cs);
    vmcs_writenat(VMCS_GUEST_SYSENTER_ESP, x.sysenter_esp);
    vmcs_writenat(VMCS_GUEST_SYSENTER_EIP, x.sysenter_eip);
    vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, x.interruptibility);
    vmcs_write32(VMCS_GUEST_ACTIVITY, x.activity);
    vmcs_write32(VMCS_ENTRY_CTLS, x.entry);
    vmcs_write32(VMCS_ENTRY_INTR_INFO, x.intr_info);
    vmcs_write32(VMCS_ENTRY_EXC_ERROR, x.exc_error);
    vmcs_write32(VMCS_ENTRY_INSN_LEN, x.insn_len);
    if (vmx_pae_paging(s))
        for (unsigned i = 0; i < 4; i++)
            vmcs_write64((vmcs64_t){ VMCS_GUEST_PDPTE0.enc + 2 * i }, x.pdpte[i]);
}

int vmx_guest_state_check(const struct vcpu_state *s, const uint64_t *pdpte, char *why,
                          size_t n)
{
    const struct vmx_entry_caps c = {
        .cr0_fixed0 = vmx_caps.cr0_fixed0, .cr0_fixed1 = vmx_caps.cr0_fixed1,
        .cr4_fixed0 = vmx_caps.cr4_fixed0, .cr4_fixed1 = vmx_caps.cr4_fixed1,
        .phys_bits = vmx_caps.phys_bits, .linear_bits = 48, .hlt = vmx_caps.hlt,
        .inject_len0 = vmx_caps.inject_len0, .cet = vmx_caps.cet,
    };
    struct vmx_guest x;
    vmx_guest_from_state(&x, s, vmx_caps.entry, pdpte);
    return vmx_guest_check(&x, &c, why, n);
}

/* The event the next entry would deliver, in the neutral form (pending_to_guest). */
static void read_pending(struct vcpu_state *s)
{
    uint32_t info = vmcs_read32(VMCS_ENTRY_INTR_INFO);
    struct vcpu_event *e = &s->pending;
    *e = (struct vcpu_event){ .type = EVENT_NONE };
    if (!(info & (1u << 31)))
        return;
    switch (info >> 8 & 7) {
    case 0: e->type = EVENT_EXTINT; break;
    case 2: e->type = EVENT_NMI; break;
    case 3: e->type = EVENT_EXCEPTION; break;
    case 4: e->type = EVENT_SOFTINT; break;
    case 5: case 6: e->type = EVENT_EXCEPTION; break;     /* ICEBP, INT3, INTO */
    default: return;                                       /* MTF / other: not injected */
    }
    e->vector = (uint8_t)info;
    unsigned t = info >> 8 & 7;
    if (t >= 4) {                        /* software events: RIP to the return address */
        s->rip += vmcs_read32(VMCS_ENTRY_INSN_LEN);
        if (!(s->efer & EFER_LMA) || !(s->cs.attr & SEG_ATTR_L))
            s->rip &= 0xffffffffull;     /* wraps at 4 GiB outside 64-bit code */
    }
    if (info & (1u << 11)) {
        e->has_error = 1;
        e->error = vmcs_read32(VMCS_ENTRY_EXC_ERROR);
    }
}

void vmx_read_guest_state(struct vcpu_state *s)
{
    s->version = VCPU_STATE_VERSION;
    for (unsigned i = 0; i < 8; i++) {
        struct seg *g = seg_of(s, i);
        g->sel = vmcs_read16(segs[i].sel);
        g->limit = vmcs_read32(segs[i].limit);
        g->attr = vmx_attr_from_ar(vmcs_read32(segs[i].ar));
        g->base = vmcs_readnat(segs[i].base);
    }
    s->gdtr.base = vmcs_readnat(VMCS_GUEST_GDTR_BASE);
    s->gdtr.limit = vmcs_read32(VMCS_GUEST_GDTR_LIMIT);
    s->idtr.base = vmcs_readnat(VMCS_GUEST_IDTR_BASE);
    s->idtr.limit = vmcs_read32(VMCS_GUEST_IDTR_LIMIT);
    /* Guest-owned bits from the real register, VMX-forced bits from the shadow. */
    uint64_t m0 = vmcs_readnat(VMCS_CR0_MASK), m4 = vmcs_readnat(VMCS_CR4_MASK);
    s->cr0 = (vmcs_readnat(VMCS_GUEST_CR0) & ~m0) | (vmcs_readnat(VMCS_CR0_SHADOW) & m0);
    s->cr4 = (vmcs_readnat(VMCS_GUEST_CR4) & ~m4) | (vmcs_readnat(VMCS_CR4_SHADOW) & m4);
    s->cr3 = vmcs_readnat(VMCS_GUEST_CR3);
    s->dr7 = vmcs_readnat(VMCS_GUEST_DR7);
    s->gpr[GPR_RSP] = vmcs_readnat(VMCS_GUEST_RSP);
    s->rip = vmcs_readnat(VMCS_GUEST_RIP);
    s->rflags = vmcs_readnat(VMCS_GUEST_RFLAGS);
    s->efer = vmcs_read64(VMCS_GUEST_EFER);
    s->pat = vmcs_read64(VMCS_GUEST_PAT);
    s->sysenter_cs = vmcs_read32(VMCS_GUEST_SYSENTER_CS);
    s->sysenter_esp = vmcs_readnat(VMCS_GUEST_SYSENTER_ESP);
    s->sysenter_eip = vmcs_readnat(VMCS_GUEST_SYSENTER_EIP);
    s->interruptibility = vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY);
    s->activity = vmcs_read32(VMCS_GUEST_ACTIVITY) == 1 ? ACT_HALTED : ACT_RUNNING;
    read_pending(s);
}
