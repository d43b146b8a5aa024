/*
 * VMCS guest-state area <-> the arch-neutral struct vcpu_state. Segment
 * access rights: VMX keeps bits 8-11 of the 12-bit attribute at 12-15 and
 * "unusable" at bit 16 (SDM vol. 3 sec. 25.4.1).
 */
#include "arch/x86_64/vmx/vmcs.h"
#include "arch/x86_64/vmx/vmx.h"

#define EFER_LMA (1ull << 10)
#define ENTRY_IA32E (1u << 9)

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
 * load; VMX's guest-state checks (SDM 26.3.1.2) insist, and the entry would fail.
 */
uint32_t vmx_loaded_attr(unsigned i, uint32_t attr)
{
    if (attr & SEG_UNUSABLE)
        return attr;
    if (i == 7 && ((attr & 0xf) == 1 || (attr & 0xf) == 9))
        return attr | 2;                /* available -> busy TSS */
    if (i < 6 && (attr & 0x10))
        return attr | 1;                /* code or data: accessed */
    return attr;
}

/* SDM 26.2.1.3: the hardware exceptions that push an error code. */
static bool pushes_error(uint8_t v)
{
    return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

/*
 * The state's pending event (what the next entry delivers: one a previous exit interrupted,
 * or one ferry injected) into the VM-entry interruption fields. The neutral form of a
 * software interrupt has RIP at its return address (as SVM's NRIP has it); VMX pushes RIP
 * plus the entry's instruction length, so it goes in with length 0 where IA32_VMX_MISC[30]
 * allows, else with length 1 from RIP - 1 (never executed: the handler runs). An error code
 * goes only with the exceptions that push one, an NMI is vector 2: what VM entry checks.
 */
static void write_pending(const struct vcpu_state *s)
{
    static const uint8_t type[] = { [EVENT_EXTINT] = 0, [EVENT_NMI] = 2,
                                    [EVENT_EXCEPTION] = 3, [EVENT_SOFTINT] = 4 };
    const struct vcpu_event *e = &s->pending;
    uint32_t info = 0;
    if (e->type != EVENT_NONE && e->type <= EVENT_SOFTINT &&
        (e->type != EVENT_EXCEPTION || e->vector < 32)) {
        info = (e->type == EVENT_NMI ? 2 : e->vector) | (uint32_t)type[e->type] << 8 | 1u << 31;
        if (e->type == EVENT_EXCEPTION && pushes_error(e->vector) &&
            (s->cr0 & 1)) {
            info |= 1u << 11;
            vmcs_write32(VMCS_ENTRY_EXC_ERROR, e->has_error ? e->error : 0);
        }
        if (e->type == EVENT_SOFTINT) {
            unsigned len = vmx_caps.inject_len0 ? 0 : 1;
            vmcs_writenat(VMCS_GUEST_RIP, s->rip - len);
            vmcs_write32(VMCS_ENTRY_INSN_LEN, len);
        }
    }
    vmcs_write32(VMCS_ENTRY_INTR_INFO, info);
}

/* The event the next entry would deliver, in the neutral form (write_pending). */
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
    if (t >= 4)                          /* software events: RIP to the return address */
        s->rip += vmcs_read32(VMCS_ENTRY_INSN_LEN);
    if (info & (1u << 11)) {
        e->has_error = 1;
        e->error = vmcs_read32(VMCS_ENTRY_EXC_ERROR);
    }
}

void vmx_write_guest_state(const struct vcpu_state *s)
{
    for (unsigned i = 0; i < 8; i++) {
        const struct seg *g = seg_of((struct vcpu_state *)s, i);
        vmcs_write16(segs[i].sel, g->sel);
        vmcs_write32(segs[i].limit, g->limit);
        vmcs_write32(segs[i].ar, vmx_ar_from_attr(vmx_loaded_attr(i, g->attr)));
        vmcs_writenat(segs[i].base, g->base);
    }
    vmcs_writenat(VMCS_GUEST_GDTR_BASE, s->gdtr.base);
    vmcs_write32(VMCS_GUEST_GDTR_LIMIT, s->gdtr.limit);
    vmcs_writenat(VMCS_GUEST_IDTR_BASE, s->idtr.base);
    vmcs_write32(VMCS_GUEST_IDTR_LIMIT, s->idtr.limit);
    vmcs_writenat(VMCS_CR0_SHADOW, s->cr0);
    vmcs_writenat(VMCS_CR4_SHADOW, s->cr4);
    vmcs_writenat(VMCS_GUEST_CR0, vmx_fixed_cr_guest(s->cr0, 0));
    vmcs_writenat(VMCS_GUEST_CR4, vmx_fixed_cr_guest(s->cr4, 4));
    vmcs_writenat(VMCS_GUEST_CR3, s->cr3);
    vmcs_writenat(VMCS_GUEST_DR7, s->dr7);
    vmcs_writenat(VMCS_GUEST_RSP, s->gpr[GPR_RSP]);
    vmcs_writenat(VMCS_GUEST_RIP, s->rip);
    vmcs_writenat(VMCS_GUEST_RFLAGS, s->rflags | 2);
    vmcs_writenat(VMCS_GUEST_PENDING_DBG, 0);
    vmcs_write64(VMCS_GUEST_EFER, s->efer);
    vmcs_write64(VMCS_GUEST_PAT, s->pat);
    vmcs_write64(VMCS_GUEST_DEBUGCTL, 0);
    vmcs_write32(VMCS_GUEST_SYSENTER_CS, (uint32_t)s->sysenter_cs);
    vmcs_writenat(VMCS_GUEST_SYSENTER_ESP, s->sysenter_esp);
    vmcs_writenat(VMCS_GUEST_SYSENTER_EIP, s->sysenter_eip);
    vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, s->interruptibility & (INTR_STI | INTR_MOVSS | INTR_NMI));
    vmcs_write32(VMCS_GUEST_ACTIVITY, s->activity == ACT_HALTED ? 1 : 0);
    uint32_t entry = vmcs_read32(VMCS_ENTRY_CTLS) & ~ENTRY_IA32E;
    vmcs_write32(VMCS_ENTRY_CTLS, entry | (s->efer & EFER_LMA ? ENTRY_IA32E : 0));
    write_pending(s);
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
