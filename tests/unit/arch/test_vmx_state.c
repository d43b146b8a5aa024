/*
 * Host tests for arch/x86_64/vmx/vmx_state.c: struct vcpu_state <-> VMCS
 * guest-state fields. The VMCS is a table keyed by field encoding behind
 * vmcs_read_raw/vmcs_write_raw (vmx.c is not linked). The fake fails the
 * test on a value wider than the width in encoding bits 14:13, on a write to
 * a read-only or host-state field, on a high-half (bit 0) access, and on a
 * read of a field nobody wrote. vmx_caps holds CR fixed bits as a real CPU
 * reports them; the CR0/CR4 guest/host masks are set as vmx.c sets them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "arch/x86_64/vmx/vmcs.h"
#include "arch/x86_64/vmx/vmx.h"
#include "support.h"

struct vmx_caps_cache vmx_caps;

/* ---- the fake VMCS ---- */

#define MAX_FIELDS 128

static struct field { uint32_t enc; uint64_t val; unsigned writes; } vmcs[MAX_FIELDS];
static unsigned nfields;

static struct field *field(uint32_t enc, bool create)
{
    for (unsigned i = 0; i < nfields; i++)
        if (vmcs[i].enc == enc)
            return &vmcs[i];
    if (!create)
        return NULL;
    assert_true(nfields < MAX_FIELDS);
    vmcs[nfields] = (struct field){ .enc = enc };
    return &vmcs[nfields++];
}

static void vmcs_set(uint32_t enc, uint64_t v)
{
    field(enc, true)->val = v;
}

uint64_t vmcs_read_raw(uint32_t enc)
{
    struct field *f = field(enc, false);
    if (!f)
        fail_msg("VMREAD of field %#x that was never written", enc);
    return f->val;
}

void vmcs_write_raw(uint32_t enc, uint64_t v)
{
    unsigned width = (enc >> 13) & 3, type = (enc >> 10) & 3;
    static const uint64_t max[4] = { 0xffff, ~0ull, 0xffffffff, ~0ull };

    if (enc & 1)
        fail_msg("VMWRITE %#x: high-half access", enc);
    if (type == 1)
        fail_msg("VMWRITE %#x: read-only data field", enc);
    if (type == 3)
        fail_msg("VMWRITE %#x: host-state field from the guest-state code", enc);
    if (v > max[width])
        fail_msg("VMWRITE %#x: value %#llx wider than the field (width code %u)", enc,
                 (unsigned long long)v, width);
    struct field *f = field(enc, true);
    f->val = v;
    f->writes++;
}

#define V(F) vmcs_get((F).enc)
static uint64_t vmcs_get(uint32_t enc)
{
    struct field *f = field(enc, false);
    if (!f)
        fail_msg("field %#x was not written", enc);
    return f->val;
}

/* ---- realistic CPU and guest ---- */

#define CR0_FIXED0 0x80000021ull            /* PE, NE, PG */
#define CR0_FIXED1 0xffffffffull
#define CR4_FIXED0 0x2000ull                /* VMXE */
#define CR4_FIXED1 0x3767ffull
#define CR0_MASK   0xffffffff80000021ull    /* fixed0 | ~fixed1 */
#define CR4_MASK   0xffffffffffc8b800ull

#define ENTRY_CTLS_BASE 0xd1ffu             /* default1 0x11ff + load PAT/EFER, no IA-32e */
#define ENTRY_IA32E     (1u << 9)

static void set_caps(uint64_t cr0_fixed0)
{
    memset(&vmx_caps, 0, sizeof(vmx_caps));
    vmx_caps.cr0_fixed0 = cr0_fixed0;
    vmx_caps.cr0_fixed1 = CR0_FIXED1;
    vmx_caps.cr4_fixed0 = CR4_FIXED0;
    vmx_caps.cr4_fixed1 = CR4_FIXED1;
    vmx_caps.entry = ENTRY_CTLS_BASE;
    /* EPT, and unrestricted guest when PE/PG are free (vmx.c's vmx_controls_init) */
    vmx_caps.pin = 0x7f;
    vmx_caps.vnmi = true;
    vmx_caps.proc = 1u << 31;
    vmx_caps.proc2 = (1u << 1) | (cr0_fixed0 & 1 ? 0 : 1u << 7);
    vmx_caps.ug = !(cr0_fixed0 & 1);
    vmx_caps.hlt = true;
    vmx_caps.phys_bits = 39;
    /* what vmx.c's write_controls puts into every VMCS */
    vmcs_set(VMCS_CR0_MASK.enc, vmx_caps.cr0_fixed0 | ~vmx_caps.cr0_fixed1);
    vmcs_set(VMCS_CR4_MASK.enc, vmx_caps.cr4_fixed0 | ~vmx_caps.cr4_fixed1);
}

static int setup(void **state)
{
    (void)state;
    memset(vmcs, 0, sizeof(vmcs));
    nfields = 0;
    set_caps(CR0_FIXED0);
    vmcs_set(VMCS_ENTRY_CTLS.enc, ENTRY_CTLS_BASE);
    vmcs_set(VMCS_ENTRY_INTR_INFO.enc, 0x80000b0e);      /* a #PF with error code pending */
    return 0;
}

static struct seg seg(uint16_t sel, uint32_t attr, uint32_t limit, uint64_t base)
{
    return (struct seg){ .sel = sel, .attr = attr, .limit = limit, .base = base };
}

/* A Linux-like kernel halted in 64-bit mode. */
static struct vcpu_state long_mode_state(void)
{
    struct vcpu_state s;

    memset(&s, 0, sizeof(s));
    s.version = VCPU_STATE_VERSION;
    s.activity = ACT_HALTED;
    for (unsigned i = 0; i < GPR_COUNT; i++)
        s.gpr[i] = 0x1111111111111111ull * (i + 1);
    s.gpr[GPR_RSP] = 0xffffc90000003f58ull;
    s.rip = 0xffffffff81000123ull;
    s.rflags = 0x246;
    s.cr0 = 0x80050033;                     /* PG AM WP NE ET MP PE */
    s.cr3 = 0x10a3000;
    s.cr4 = 0x3506f0;                       /* no VMXE: the guest does not see it */
    s.dr7 = 0x400;
    s.efer = 0xd01;                         /* NXE LMA LME SCE */
    s.pat = 0x0007040600070406ull;
    s.cs = seg(0x10, 0xa9b, 0xffffffff, 0);                       /* L, G, P, S, type b */
    s.ss = seg(0x18, 0xc93, 0xffffffff, 0);                       /* D/B, G, P, S, type 3 */
    s.ds = seg(0x18, 0xc93, 0xffffffff, 0);
    s.es = seg(0x18, 0xd93, 0xffffffff, 0);                       /* with AVL */
    s.fs = seg(0, SEG_UNUSABLE, 0, 0x7f0012345000ull);            /* null, base via MSR */
    s.gs = seg(0, SEG_UNUSABLE | 0xc93, 0xffffffff, 0xffff888000000000ull);
    s.ldtr = seg(0, SEG_UNUSABLE, 0, 0);
    s.tr = seg(0x40, 0x8b, 0x67, 0xfffffe0000003000ull);          /* busy 64-bit TSS */
    s.gdtr = (struct dtable){ .base = 0xfffffe0000001000ull, .limit = 0x7f };
    s.idtr = (struct dtable){ .base = 0xfffffe0000000000ull, .limit = 0xfff };
    s.sysenter_cs = 0x10;
    s.sysenter_esp = 0xfffffe0000002000ull;
    s.sysenter_eip = 0xffffffff81a00140ull;
    s.interruptibility = INTR_STI | INTR_NMI;
    return s;
}

static void assert_seg_equal(const struct seg *a, const struct seg *b)
{
    assert_int_equal(a->sel, b->sel);
    assert_int_equal(a->attr, b->attr);
    assert_int_equal(a->limit, b->limit);
    assert_int_equal(a->base, b->base);
}

/* Every field the VMCS holds came back; nothing else was touched. */
static void assert_state_equal(const struct vcpu_state *out, const struct vcpu_state *in)
{
    assert_int_equal(out->version, VCPU_STATE_VERSION);
    assert_int_equal(out->activity, in->activity);
    assert_int_equal(out->gpr[GPR_RSP], in->gpr[GPR_RSP]);
    assert_int_equal(out->rip, in->rip);
    assert_int_equal(out->rflags, in->rflags);
    assert_int_equal(out->cr0, in->cr0);
    assert_int_equal(out->cr3, in->cr3);
    assert_int_equal(out->cr4, in->cr4);
    assert_int_equal(out->dr7, in->dr7);
    assert_int_equal(out->efer, in->efer);
    assert_int_equal(out->pat, in->pat);
    assert_seg_equal(&out->es, &in->es);
    assert_seg_equal(&out->cs, &in->cs);
    assert_seg_equal(&out->ss, &in->ss);
    assert_seg_equal(&out->ds, &in->ds);
    assert_seg_equal(&out->fs, &in->fs);
    assert_seg_equal(&out->gs, &in->gs);
    assert_seg_equal(&out->ldtr, &in->ldtr);
    assert_seg_equal(&out->tr, &in->tr);
    assert_int_equal(out->gdtr.base, in->gdtr.base);
    assert_int_equal(out->gdtr.limit, in->gdtr.limit);
    assert_int_equal(out->idtr.base, in->idtr.base);
    assert_int_equal(out->idtr.limit, in->idtr.limit);
    assert_int_equal(out->sysenter_cs, in->sysenter_cs);
    assert_int_equal(out->sysenter_esp, in->sysenter_esp);
    assert_int_equal(out->sysenter_eip, in->sysenter_eip);
    assert_int_equal(out->interruptibility, in->interruptibility);
}

/* Fields that are not in the VMCS keep whatever the caller had there. */
static void assert_untouched(const struct vcpu_state *out, uint8_t fill)
{
    uint64_t f64;
    memset(&f64, fill, sizeof(f64));
    for (unsigned i = 0; i < GPR_COUNT; i++)
        if (i != GPR_RSP)
            assert_int_equal(out->gpr[i], f64);
    assert_int_equal(out->cr2, f64);
    assert_int_equal(out->cr8, f64);
    assert_int_equal(out->xcr0, f64);
    assert_int_equal(out->lstar, f64);
    assert_int_equal(out->kernel_gs_base, f64);
    assert_int_equal(out->tsc, f64);
}

static void read_into(struct vcpu_state *out, uint8_t fill)
{
    memset(out, fill, sizeof(*out));
    vmx_read_guest_state(out);
}

/* ---- field encodings ---- */

#define WIDTH_OF(F) _Generic((F), vmcs16_t: 0u, vmcs64_t: 1u, vmcs32_t: 2u, vmcsnat_t: 3u)
#define CHECK_WIDTH(F)                                                                    \
    do {                                                                                  \
        if (WIDTH_OF(F) != (((F).enc >> 13) & 3))                                         \
            fail_msg("%s: encoding %#x has width code %u, typed as %u", #F, (F).enc,       \
                     ((F).enc >> 13) & 3, WIDTH_OF(F));                                   \
    } while (0)

static void test_vmcs_encoding_widths(void **state)
{
    (void)state;
    /* the typed constants in vmcs.h must agree with SDM app. B (bits 14:13) */
    CHECK_WIDTH(VMCS_VPID);
    CHECK_WIDTH(VMCS_GUEST_ES_SEL); CHECK_WIDTH(VMCS_GUEST_CS_SEL);
    CHECK_WIDTH(VMCS_GUEST_SS_SEL); CHECK_WIDTH(VMCS_GUEST_DS_SEL);
    CHECK_WIDTH(VMCS_GUEST_FS_SEL); CHECK_WIDTH(VMCS_GUEST_GS_SEL);
    CHECK_WIDTH(VMCS_GUEST_LDTR_SEL); CHECK_WIDTH(VMCS_GUEST_TR_SEL);
    CHECK_WIDTH(VMCS_HOST_ES_SEL); CHECK_WIDTH(VMCS_HOST_CS_SEL); CHECK_WIDTH(VMCS_HOST_SS_SEL);
    CHECK_WIDTH(VMCS_HOST_DS_SEL); CHECK_WIDTH(VMCS_HOST_FS_SEL); CHECK_WIDTH(VMCS_HOST_GS_SEL);
    CHECK_WIDTH(VMCS_HOST_TR_SEL);
    CHECK_WIDTH(VMCS_IO_BITMAP_A); CHECK_WIDTH(VMCS_IO_BITMAP_B); CHECK_WIDTH(VMCS_MSR_BITMAP);
    CHECK_WIDTH(VMCS_TSC_OFFSET); CHECK_WIDTH(VMCS_EPT_POINTER); CHECK_WIDTH(VMCS_GUEST_PHYS_ADDR);
    CHECK_WIDTH(VMCS_LINK_POINTER); CHECK_WIDTH(VMCS_GUEST_DEBUGCTL); CHECK_WIDTH(VMCS_GUEST_PAT);
    CHECK_WIDTH(VMCS_GUEST_EFER); CHECK_WIDTH(VMCS_HOST_PAT); CHECK_WIDTH(VMCS_HOST_EFER);
    CHECK_WIDTH(VMCS_PIN_CTLS); CHECK_WIDTH(VMCS_PROC_CTLS); CHECK_WIDTH(VMCS_EXCEPTION_BITMAP);
    CHECK_WIDTH(VMCS_PF_ERR_MASK); CHECK_WIDTH(VMCS_PF_ERR_MATCH);
    CHECK_WIDTH(VMCS_CR3_TARGET_COUNT); CHECK_WIDTH(VMCS_EXIT_CTLS);
    CHECK_WIDTH(VMCS_EXIT_MSR_STORE_CNT); CHECK_WIDTH(VMCS_EXIT_MSR_LOAD_CNT);
    CHECK_WIDTH(VMCS_ENTRY_CTLS); CHECK_WIDTH(VMCS_ENTRY_MSR_LOAD_CNT);
    CHECK_WIDTH(VMCS_ENTRY_INTR_INFO); CHECK_WIDTH(VMCS_ENTRY_EXC_ERROR);
    CHECK_WIDTH(VMCS_ENTRY_INSN_LEN); CHECK_WIDTH(VMCS_PROC_CTLS2); CHECK_WIDTH(VMCS_INSN_ERROR);
    CHECK_WIDTH(VMCS_EXIT_REASON); CHECK_WIDTH(VMCS_EXIT_INTR_INFO);
    CHECK_WIDTH(VMCS_EXIT_INTR_ERROR); CHECK_WIDTH(VMCS_IDT_VECTORING_INFO);
    CHECK_WIDTH(VMCS_IDT_VECTORING_ERR); CHECK_WIDTH(VMCS_EXIT_INSN_LEN);
    CHECK_WIDTH(VMCS_EXIT_INSN_INFO);
    CHECK_WIDTH(VMCS_GUEST_ES_LIMIT); CHECK_WIDTH(VMCS_GUEST_CS_LIMIT);
    CHECK_WIDTH(VMCS_GUEST_SS_LIMIT); CHECK_WIDTH(VMCS_GUEST_DS_LIMIT);
    CHECK_WIDTH(VMCS_GUEST_FS_LIMIT); CHECK_WIDTH(VMCS_GUEST_GS_LIMIT);
    CHECK_WIDTH(VMCS_GUEST_LDTR_LIMIT); CHECK_WIDTH(VMCS_GUEST_TR_LIMIT);
    CHECK_WIDTH(VMCS_GUEST_GDTR_LIMIT); CHECK_WIDTH(VMCS_GUEST_IDTR_LIMIT);
    CHECK_WIDTH(VMCS_GUEST_ES_AR); CHECK_WIDTH(VMCS_GUEST_CS_AR); CHECK_WIDTH(VMCS_GUEST_SS_AR);
    CHECK_WIDTH(VMCS_GUEST_DS_AR); CHECK_WIDTH(VMCS_GUEST_FS_AR); CHECK_WIDTH(VMCS_GUEST_GS_AR);
    CHECK_WIDTH(VMCS_GUEST_LDTR_AR); CHECK_WIDTH(VMCS_GUEST_TR_AR);
    CHECK_WIDTH(VMCS_GUEST_INTERRUPTIBILITY); CHECK_WIDTH(VMCS_GUEST_ACTIVITY);
    CHECK_WIDTH(VMCS_GUEST_SYSENTER_CS); CHECK_WIDTH(VMCS_PREEMPT_TIMER);
    CHECK_WIDTH(VMCS_HOST_SYSENTER_CS);
    CHECK_WIDTH(VMCS_CR0_MASK); CHECK_WIDTH(VMCS_CR4_MASK); CHECK_WIDTH(VMCS_CR0_SHADOW);
    CHECK_WIDTH(VMCS_CR4_SHADOW); CHECK_WIDTH(VMCS_EXIT_QUAL); CHECK_WIDTH(VMCS_GUEST_LINEAR_ADDR);
    CHECK_WIDTH(VMCS_GUEST_CR0); CHECK_WIDTH(VMCS_GUEST_CR3); CHECK_WIDTH(VMCS_GUEST_CR4);
    CHECK_WIDTH(VMCS_GUEST_ES_BASE); CHECK_WIDTH(VMCS_GUEST_CS_BASE);
    CHECK_WIDTH(VMCS_GUEST_SS_BASE); CHECK_WIDTH(VMCS_GUEST_DS_BASE);
    CHECK_WIDTH(VMCS_GUEST_FS_BASE); CHECK_WIDTH(VMCS_GUEST_GS_BASE);
    CHECK_WIDTH(VMCS_GUEST_LDTR_BASE); CHECK_WIDTH(VMCS_GUEST_TR_BASE);
    CHECK_WIDTH(VMCS_GUEST_GDTR_BASE); CHECK_WIDTH(VMCS_GUEST_IDTR_BASE);
    CHECK_WIDTH(VMCS_GUEST_DR7); CHECK_WIDTH(VMCS_GUEST_RSP); CHECK_WIDTH(VMCS_GUEST_RIP);
    CHECK_WIDTH(VMCS_GUEST_RFLAGS); CHECK_WIDTH(VMCS_GUEST_PENDING_DBG);
    CHECK_WIDTH(VMCS_GUEST_SYSENTER_ESP); CHECK_WIDTH(VMCS_GUEST_SYSENTER_EIP);
    CHECK_WIDTH(VMCS_HOST_CR0); CHECK_WIDTH(VMCS_HOST_CR3); CHECK_WIDTH(VMCS_HOST_CR4);
    CHECK_WIDTH(VMCS_HOST_FS_BASE); CHECK_WIDTH(VMCS_HOST_GS_BASE); CHECK_WIDTH(VMCS_HOST_TR_BASE);
    CHECK_WIDTH(VMCS_HOST_GDTR_BASE); CHECK_WIDTH(VMCS_HOST_IDTR_BASE);
    CHECK_WIDTH(VMCS_HOST_SYSENTER_ESP); CHECK_WIDTH(VMCS_HOST_SYSENTER_EIP);
    CHECK_WIDTH(VMCS_HOST_RSP); CHECK_WIDTH(VMCS_HOST_RIP);
}

/* ---- access rights ---- */

static void test_ar_from_attr(void **state)
{
    (void)state;
    assert_int_equal(vmx_ar_from_attr(0xa9b), 0xa09b);        /* 64-bit code: L, G */
    assert_int_equal(vmx_ar_from_attr(0xc9b), 0xc09b);        /* 32-bit code: D, G */
    assert_int_equal(vmx_ar_from_attr(0xc93), 0xc093);        /* flat data */
    assert_int_equal(vmx_ar_from_attr(0xd93), 0xd093);        /* ... with AVL */
    assert_int_equal(vmx_ar_from_attr(0x93), 0x93);           /* real-mode data */
    assert_int_equal(vmx_ar_from_attr(0xf3), 0xf3);           /* DPL 3 data */
    assert_int_equal(vmx_ar_from_attr(0x8b), 0x8b);           /* busy TSS */
    assert_int_equal(vmx_ar_from_attr(0x82), 0x82);           /* LDT */
    assert_int_equal(vmx_ar_from_attr(SEG_UNUSABLE), 0x10000);
    assert_int_equal(vmx_ar_from_attr(SEG_UNUSABLE | 0xc93), 0x1c093);
    /* SDM 25.4.1: AR bits 8-11 and 17-31 are reserved; nothing may leak into them */
    assert_int_equal(vmx_ar_from_attr(0xffffffff), 0x1f0ff);
    assert_int_equal(vmx_ar_from_attr(0xfffe0000), 0);
}

/* A state from AMD-V: TR's TSS available, segments not accessed; VMX needs them as loaded. */
static void test_loaded_attr(void **state)
{
    (void)state;
    assert_int_equal(vmx_loaded_attr(7, 0x089), 0x08b);       /* 64-bit TSS: busy */
    assert_int_equal(vmx_loaded_attr(7, 0x081), 0x083);       /* 16-bit TSS: busy */
    assert_int_equal(vmx_loaded_attr(7, 0x08b), 0x08b);
    assert_int_equal(vmx_loaded_attr(7, SEG_UNUSABLE), SEG_UNUSABLE);
    assert_int_equal(vmx_loaded_attr(1, 0xa9a), 0xa9b);       /* CS: accessed */
    assert_int_equal(vmx_loaded_attr(2, 0xc92), 0xc93);       /* SS */
    assert_int_equal(vmx_loaded_attr(4, 0xc92), 0xc93);       /* FS */
    assert_int_equal(vmx_loaded_attr(3, SEG_UNUSABLE | 0xc92), SEG_UNUSABLE | 0xc92);
    assert_int_equal(vmx_loaded_attr(6, 0x082), 0x082);       /* LDT: a system type, kept */
    assert_int_equal(vmx_loaded_attr(0, 0x089), 0x089);       /* ES with S=0: not touched */
}

static void test_attr_from_ar(void **state)
{
    (void)state;
    assert_int_equal(vmx_attr_from_ar(0xa09b), 0xa9b);
    assert_int_equal(vmx_attr_from_ar(0xc093), 0xc93);
    assert_int_equal(vmx_attr_from_ar(0xd093), 0xd93);
    assert_int_equal(vmx_attr_from_ar(0x8b), 0x8b);
    assert_int_equal(vmx_attr_from_ar(0x10000), SEG_UNUSABLE);
    assert_int_equal(vmx_attr_from_ar(0x1c093), SEG_UNUSABLE | 0xc93);
    /* reserved AR bits do not show up in the 12-bit attribute */
    assert_int_equal(vmx_attr_from_ar(0xffffffff), SEG_UNUSABLE | 0xfff);
    assert_int_equal(vmx_attr_from_ar(0xfffe0f00), 0);
}

static void test_ar_round_trip_all(void **state)
{
    (void)state;
    for (uint32_t a = 0; a <= 0xfff; a++) {
        for (uint32_t u = 0; u <= SEG_UNUSABLE; u += SEG_UNUSABLE) {
            uint32_t ar = vmx_ar_from_attr(a | u);
            assert_int_equal(ar & 0xfffe0f00, 0);
            assert_int_equal(vmx_attr_from_ar(ar), a | u);
        }
    }
}

/* ---- whole-state conversion ---- */

static void test_round_trip_long_mode(void **state)
{
    (void)state;
    struct vcpu_state in = long_mode_state(), out;

    vmx_write_guest_state(&in, NULL);
    read_into(&out, 0xa5);
    assert_state_equal(&out, &in);
    assert_untouched(&out, 0xa5);
    read_into(&out, 0x5a);
    assert_state_equal(&out, &in);
    assert_untouched(&out, 0x5a);
}

/* The event the next entry delivers travels in the state (a migration saved between an exit
 * that interrupted a delivery and the entry that redelivers it must not lose it). */
static void test_pending_events(void **state)
{
    (void)state;
    struct vcpu_state in = long_mode_state(), out;

    /* An external interrupt, queued by ferry or copied from IDT-vectoring information. */
    in.pending = (struct vcpu_event){ .type = EVENT_EXTINT, .vector = 0xec };
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_ENTRY_INTR_INFO), 0x800000ec);
    read_into(&out, 0);
    assert_int_equal(out.pending.type, EVENT_EXTINT);
    assert_int_equal(out.pending.vector, 0xec);
    assert_int_equal(out.rip, in.rip);
    /* #PF with its error code; #UD gets none, whatever the record says. */
    in.pending = (struct vcpu_event){ .type = EVENT_EXCEPTION, .vector = 14, .has_error = 1,
                                      .error = 6 };
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_ENTRY_INTR_INFO), 0x80000b0e);
    assert_int_equal(V(VMCS_ENTRY_EXC_ERROR), 6);
    read_into(&out, 0);
    assert_true(out.pending.type == EVENT_EXCEPTION && out.pending.has_error &&
                out.pending.error == 6);
    in.pending = (struct vcpu_event){ .type = EVENT_EXCEPTION, .vector = 6, .has_error = 1 };
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_ENTRY_INTR_INFO), 0x80000306);
    /* An NMI is vector 2; an exception vector past 31 cannot be delivered: nothing queued. */
    in.pending = (struct vcpu_event){ .type = EVENT_NMI, .vector = 9 };
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_ENTRY_INTR_INFO), 0x80000202);
    in.pending = (struct vcpu_event){ .type = EVENT_EXCEPTION, .vector = 40 };
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_ENTRY_INTR_INFO), 0);
    /* INT 0x80: RIP is the return address in the state; VMX pushes RIP + length. */
    in.pending = (struct vcpu_event){ .type = EVENT_SOFTINT, .vector = 0x80 };
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_ENTRY_INTR_INFO), 0x80000480);
    assert_int_equal(V(VMCS_GUEST_RIP) + V(VMCS_ENTRY_INSN_LEN), in.rip);
    read_into(&out, 0);
    assert_int_equal(out.pending.type, EVENT_SOFTINT);
    assert_int_equal(out.rip, in.rip);
    vmx_caps.inject_len0 = true;
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_GUEST_RIP), in.rip);
    assert_int_equal(V(VMCS_ENTRY_INSN_LEN), 0);
    vmx_caps.inject_len0 = false;
    /* As vcpu_run leaves an INT3 whose delivery exited: at the INT3, length 1. */
    vmcs_write32(VMCS_ENTRY_INTR_INFO, 0x80000603);
    vmcs_write32(VMCS_ENTRY_INSN_LEN, 1);
    vmcs_writenat(VMCS_GUEST_RIP, 0xffffffff81000000ull);
    read_into(&out, 0);
    assert_int_equal(out.pending.type, EVENT_EXCEPTION);
    assert_int_equal(out.pending.vector, 3);
    assert_int_equal(out.rip, 0xffffffff81000001ull);
    in.pending = (struct vcpu_event){ .type = EVENT_NONE };
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_ENTRY_INTR_INFO), 0);
}

static void test_write_vmcs_contents(void **state)
{
    (void)state;
    struct vcpu_state in = long_mode_state();

    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_GUEST_CS_SEL), 0x10);
    assert_int_equal(V(VMCS_GUEST_CS_AR), 0xa09b);
    assert_int_equal(V(VMCS_GUEST_CS_LIMIT), 0xffffffff);
    assert_int_equal(V(VMCS_GUEST_SS_AR), 0xc093);
    assert_int_equal(V(VMCS_GUEST_ES_AR), 0xd093);
    assert_int_equal(V(VMCS_GUEST_FS_AR), 0x10000);
    assert_int_equal(V(VMCS_GUEST_FS_BASE), 0x7f0012345000ull);
    assert_int_equal(V(VMCS_GUEST_GS_AR), 0x1c093);
    assert_int_equal(V(VMCS_GUEST_GS_BASE), 0xffff888000000000ull);
    assert_int_equal(V(VMCS_GUEST_LDTR_AR), 0x10000);
    assert_int_equal(V(VMCS_GUEST_LDTR_SEL), 0);
    assert_int_equal(V(VMCS_GUEST_TR_SEL), 0x40);
    assert_int_equal(V(VMCS_GUEST_TR_AR), 0x8b);
    assert_int_equal(V(VMCS_GUEST_TR_LIMIT), 0x67);
    assert_int_equal(V(VMCS_GUEST_TR_BASE), 0xfffffe0000003000ull);
    assert_int_equal(V(VMCS_GUEST_GDTR_BASE), 0xfffffe0000001000ull);
    assert_int_equal(V(VMCS_GUEST_GDTR_LIMIT), 0x7f);
    assert_int_equal(V(VMCS_GUEST_IDTR_LIMIT), 0xfff);
    /* the CPU runs with the forced bits; the guest reads its own values from the shadows */
    assert_int_equal(V(VMCS_GUEST_CR0), 0x80050033);
    assert_int_equal(V(VMCS_CR0_SHADOW), 0x80050033);
    assert_int_equal(V(VMCS_GUEST_CR4), 0x3526f0);            /* VMXE set */
    assert_int_equal(V(VMCS_CR4_SHADOW), 0x3506f0);           /* VMXE hidden */
    assert_int_equal(V(VMCS_GUEST_CR3), 0x10a3000);
    assert_int_equal(V(VMCS_GUEST_EFER), 0xd01);
    assert_int_equal(V(VMCS_GUEST_PAT), 0x0007040600070406ull);
    assert_int_equal(V(VMCS_GUEST_RIP), 0xffffffff81000123ull);
    assert_int_equal(V(VMCS_GUEST_RSP), 0xffffc90000003f58ull);
    assert_int_equal(V(VMCS_GUEST_RFLAGS), 0x246);
    assert_int_equal(V(VMCS_GUEST_DR7), 0x400);
    assert_int_equal(V(VMCS_GUEST_SYSENTER_CS), 0x10);
    assert_int_equal(V(VMCS_GUEST_SYSENTER_ESP), 0xfffffe0000002000ull);
    assert_int_equal(V(VMCS_GUEST_SYSENTER_EIP), 0xffffffff81a00140ull);
    assert_int_equal(V(VMCS_GUEST_INTERRUPTIBILITY), INTR_STI | INTR_NMI);
    assert_int_equal(V(VMCS_GUEST_ACTIVITY), 1);              /* HLT */
    assert_int_equal(V(VMCS_GUEST_PENDING_DBG), 0);
    assert_int_equal(V(VMCS_GUEST_DEBUGCTL), 0);
    assert_int_equal(V(VMCS_ENTRY_CTLS), ENTRY_CTLS_BASE | ENTRY_IA32E);
    assert_int_equal(V(VMCS_ENTRY_INTR_INFO), 0);
    /* the controls this module does not own are left alone */
    assert_int_equal(V(VMCS_CR0_MASK), CR0_MASK);
    assert_int_equal(V(VMCS_CR4_MASK), CR4_MASK);
}

static void test_cr4_vmxe_hidden_on_read(void **state)
{
    (void)state;
    struct vcpu_state in = long_mode_state(), out;

    vmx_write_guest_state(&in, NULL);
    /* the guest ran and flipped guest-owned CR4.PGE and CR0.TS without exits */
    vmcs_set(VMCS_GUEST_CR4.enc, 0x3526f0 & ~0x80ull);
    vmcs_set(VMCS_GUEST_CR0.enc, 0x80050033 | 0x8);
    read_into(&out, 0);
    assert_int_equal(out.cr4, 0x350670);          /* PGE from the CPU, VMXE from the shadow */
    assert_int_equal(out.cr0, 0x8005003b);
    assert_int_equal(V(VMCS_GUEST_CR4) & 0x2000, 0x2000);
}

static void test_cr_forced_bits_round_trip(void **state)
{
    (void)state;
    struct vcpu_state in = long_mode_state(), out;

    in.cr0 &= ~0x20ull;               /* NE clear: VMX forces it on */
    in.cr4 |= 0x800;                  /* UMIP, not allowed by this CPU's fixed1 */
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_GUEST_CR0), 0x80050033);
    assert_int_equal(V(VMCS_GUEST_CR4), 0x3526f0);
    assert_int_equal(V(VMCS_CR0_SHADOW), 0x80050013);
    assert_int_equal(V(VMCS_CR4_SHADOW), 0x350ef0);
    read_into(&out, 0);
    assert_int_equal(out.cr0, 0x80050013);
    assert_int_equal(out.cr4, 0x350ef0);
}

/* 32-bit protected mode without paging on a CPU without unrestricted guest. */
static void test_protected_mode_clears_ia32e(void **state)
{
    (void)state;
    struct vcpu_state in = long_mode_state(), out;

    vmcs_set(VMCS_ENTRY_CTLS.enc, ENTRY_CTLS_BASE | ENTRY_IA32E);   /* left from long mode */
    in.cr0 = 0x11;
    in.cr4 = 0;
    in.efer = 0;
    in.cs = seg(0x08, 0xc9b, 0xffffffff, 0);
    in.activity = ACT_RUNNING;
    in.interruptibility = 0;
    in.rflags = 0x2;
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_ENTRY_CTLS), ENTRY_CTLS_BASE);
    assert_int_equal(V(VMCS_GUEST_CR0), 0x80000031);         /* PG, NE forced */
    assert_int_equal(V(VMCS_GUEST_CR4), 0x2000);
    assert_int_equal(V(VMCS_GUEST_CS_AR), 0xc09b);
    assert_int_equal(V(VMCS_GUEST_ACTIVITY), 0);
    read_into(&out, 0);
    assert_state_equal(&out, &in);
    assert_int_equal(out.cr0, 0x11);

    /* and back to long mode */
    in = long_mode_state();
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_ENTRY_CTLS), ENTRY_CTLS_BASE | ENTRY_IA32E);
}

static void test_lme_without_lma_is_not_ia32e(void **state)
{
    (void)state;
    struct vcpu_state in = long_mode_state();

    in.efer = 0x901;                  /* NXE LME SCE, paging not on yet: LMA clear */
    in.cr0 = 0x11;
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_ENTRY_CTLS), ENTRY_CTLS_BASE);
    in.efer = 0x400;                  /* LMA alone decides */
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_ENTRY_CTLS), ENTRY_CTLS_BASE | ENTRY_IA32E);
}

/* Real mode under unrestricted guest: PE and PG are not forced. */
static void test_real_mode_unrestricted(void **state)
{
    (void)state;
    struct vcpu_state in, out;

    set_caps(CR0_FIXED0 & ~0x80000001ull);
    memset(&in, 0, sizeof(in));
    in.cr0 = 0x60000010;              /* reset value: CD NW ET */
    in.rflags = 0x2;
    in.rip = 0xfff0;
    in.cs = seg(0xf000, 0x9b, 0xffff, 0xffff0000);
    in.ds = in.es = in.fs = in.gs = in.ss = seg(0, 0x93, 0xffff, 0);
    in.ldtr = seg(0, 0x82, 0xffff, 0);
    in.tr = seg(0, 0x8b, 0xffff, 0);
    in.idtr.limit = 0xffff;
    in.gdtr.limit = 0xffff;
    in.pat = 0x0007040600070406ull;
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_GUEST_CR0), 0x60000030);         /* only NE forced */
    assert_int_equal(V(VMCS_CR0_MASK), 0xffffffff00000020ull);
    assert_int_equal(V(VMCS_ENTRY_CTLS), ENTRY_CTLS_BASE);
    assert_int_equal(V(VMCS_GUEST_CS_AR), 0x9b);
    assert_int_equal(V(VMCS_GUEST_ACTIVITY), 0);
    read_into(&out, 0);
    assert_state_equal(&out, &in);
}

static void test_rflags_reserved_bit_1(void **state)
{
    (void)state;
    struct vcpu_state in = long_mode_state(), out;

    in.rflags = 0x200;                /* bit 1 must be 1 in the VMCS (SDM 28.3.1.4) */
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_GUEST_RFLAGS), 0x202);
    read_into(&out, 0);
    assert_int_equal(out.rflags, 0x202);
}

static void test_interruptibility_and_activity(void **state)
{
    (void)state;
    struct vcpu_state in = long_mode_state(), out;

    /* SMI blocking (bit 2) and undefined bits are not the guest's to set */
    in.interruptibility = 0xfffffff7 | INTR_NMI;
    in.activity = ACT_RUNNING;
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_GUEST_INTERRUPTIBILITY), INTR_STI | INTR_MOVSS | INTR_NMI);
    assert_int_equal(V(VMCS_GUEST_ACTIVITY), 0);
    read_into(&out, 0);
    assert_int_equal(out.interruptibility, 0xb);
    assert_int_equal(out.activity, ACT_RUNNING);

    /* an exit from HLT reports activity state 1 */
    vmcs_set(VMCS_GUEST_ACTIVITY.enc, 1);
    vmcs_set(VMCS_GUEST_INTERRUPTIBILITY.enc, INTR_MOVSS);
    read_into(&out, 0);
    assert_int_equal(out.activity, ACT_HALTED);
    assert_int_equal(out.interruptibility, INTR_MOVSS);
}

static void test_interrupt_info_cleared(void **state)
{
    (void)state;
    struct vcpu_state in = long_mode_state();

    assert_int_equal(V(VMCS_ENTRY_INTR_INFO), 0x80000b0e);
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_ENTRY_INTR_INFO), 0);
    vmcs_set(VMCS_ENTRY_INTR_INFO.enc, 0x80000020);            /* an external interrupt */
    vmx_write_guest_state(&in, NULL);
    assert_int_equal(V(VMCS_ENTRY_INTR_INFO), 0);
}

static void test_read_exit_state(void **state)
{
    (void)state;
    struct vcpu_state in = long_mode_state(), out;

    /* state as a VM exit leaves it: the guest moved on and loaded a new TR and CS */
    vmx_write_guest_state(&in, NULL);
    vmcs_set(VMCS_GUEST_RIP.enc, 0xffffffff81000200ull);
    vmcs_set(VMCS_GUEST_RSP.enc, 0xffffc90000003e00ull);
    vmcs_set(VMCS_GUEST_CS_SEL.enc, 0x33);
    vmcs_set(VMCS_GUEST_CS_AR.enc, 0xa0fb);                   /* DPL 3 64-bit code */
    vmcs_set(VMCS_GUEST_SS_AR.enc, 0xc0f3);
    vmcs_set(VMCS_GUEST_EFER.enc, 0x501);
    read_into(&out, 0);
    assert_int_equal(out.rip, 0xffffffff81000200ull);
    assert_int_equal(out.gpr[GPR_RSP], 0xffffc90000003e00ull);
    assert_int_equal(out.cs.sel, 0x33);
    assert_int_equal(out.cs.attr, 0xafb);
    assert_int_equal(out.ss.attr, 0xcf3);
    assert_int_equal(out.efer, 0x501);
    assert_int_equal(out.version, VCPU_STATE_VERSION);
}

/* ---- what VM entry would refuse (vmx_guest_check, SDM 26.3.1) ---- */

/* A 32-bit protected-mode kernel with PAE paging, running. */
static struct vcpu_state pae_state(void)
{
    struct vcpu_state s = long_mode_state();
    s.activity = ACT_RUNNING;
    s.interruptibility = 0;
    s.efer = 0x800;
    s.cr4 = 0x6b0;
    s.rip = 0xc1000000;
    s.cs = seg(0x60, 0xc9b, 0xffffffff, 0);
    s.ss = seg(0x68, 0xc93, 0xffffffff, 0);
    s.ds = s.es = seg(0x7b, 0xcf3, 0xffffffff, 0);
    s.tr = seg(0x80, 0x8b, 0x206b, 0xc1a00000);
    return s;
}

static void expect_entry(const struct vcpu_state *s, const char *fails, int line)
{
    char why[200];
    why[0] = 0;
    int rc = vmx_guest_state_check(s, NULL, why, sizeof(why));
    if (!fails && rc)
        fail_msg("line %d: refused: %s", line, why);
    if (fails && (rc != -EINVAL || !strstr(why, fails)))
        fail_msg("line %d: %s: not refused, or why='%s'", line, fails, why);
}
#define ENTERS(s) expect_entry(&(s), NULL, __LINE__)
#define FAILS(s, what) expect_entry(&(s), what, __LINE__)

/* The test state itself halts in an STI shadow: a conversion test, not a state entry takes. */
static void test_guest_state_check(void **state)
{
    (void)state;
    struct vcpu_state s = long_mode_state();
    FAILS(s, "HLT with blocking by STI or MOV SS");
    s.interruptibility = INTR_NMI;
    ENTERS(s);
    s = pae_state();
    ENTERS(s);
    s.efer |= 0x400;                        /* LMA without paging in long mode */
    s.cr0 &= ~0x80000000ull;
    set_caps(CR0_FIXED0 & ~0x80000001ull);
    FAILS(s, "IA-32e mode guest without CR0.PG");
}

/* Found by tests/fuzz/fuzz_vcpu_state.c: what AMD-V saves (types not accessed, an available
 * TSS, not-present segments for unusable ones, no G on a 4 GiB CS) loads as VMX wants. */
static void test_amd_style_state_enters(void **state)
{
    (void)state;
    struct vcpu_state s = long_mode_state();
    s.activity = ACT_RUNNING;
    s.interruptibility = 0;
    s.cs = seg(0x10, 0x29a, 0xffffffff, 0);
    s.ss = seg(0x18, 0x492, 0xffffffff, 0);
    s.ds = s.es = seg(0, 0x60, 0, 0);
    s.tr = seg(0x40, 0x89, 0x67, 0xfffffe0000003000ull);
    s.ldtr = seg(0, 0x2, 0, 0);
    vmx_write_guest_state(&s, NULL);
    assert_int_equal(V(VMCS_GUEST_CS_AR), 0xa09b);
    assert_int_equal(V(VMCS_GUEST_SS_AR), 0xc093);
    assert_int_equal(V(VMCS_GUEST_DS_AR), 0x10060);       /* unusable, DPL kept */
    assert_int_equal(V(VMCS_GUEST_TR_AR), 0x8b);
    assert_int_equal(V(VMCS_GUEST_LDTR_AR), 0x10002);
    ENTERS(s);
    s.cs.limit = 0xffff0;                   /* G set with a byte-granular limit: cleared */
    s.cs.attr = 0xa9b;
    vmx_write_guest_state(&s, NULL);
    assert_int_equal(V(VMCS_GUEST_CS_AR), 0x209b);
    ENTERS(s);
}

/* Found by the fuzzer: virtual-8086 segments go in as a virtual-8086 load makes them. */
static void test_v86_access_rights(void **state)
{
    (void)state;
    struct vcpu_state s = pae_state();
    s.rflags = 0x20202;
    s.cs = seg(0x1234, 0xc9b, 0xffff, 0x12340);
    s.ss = s.ds = s.es = s.fs = s.gs = seg(0x40, 0x93, 0xffff, 0x400);
    vmx_write_guest_state(&s, NULL);
    assert_int_equal(V(VMCS_GUEST_CS_AR), 0xf3);
    assert_int_equal(V(VMCS_GUEST_GS_AR), 0xf3);
    assert_int_equal(V(VMCS_GUEST_TR_AR), 0x8b);
    ENTERS(s);
}

/* Found by the fuzzer: RFLAGS.TF in an STI / MOV SS shadow or in HLT needs BS pending. */
static void test_pending_dbg_bs(void **state)
{
    (void)state;
    struct vcpu_state s = pae_state();
    s.rflags = 0x302;                       /* TF IF */
    vmx_write_guest_state(&s, NULL);
    assert_int_equal(V(VMCS_GUEST_PENDING_DBG), 0);
    s.interruptibility = INTR_STI;
    vmx_write_guest_state(&s, NULL);
    assert_int_equal(V(VMCS_GUEST_PENDING_DBG), 0x4000);
    ENTERS(s);
    s.interruptibility = 0;
    s.activity = ACT_HALTED;
    vmx_write_guest_state(&s, NULL);
    assert_int_equal(V(VMCS_GUEST_PENDING_DBG), 0x4000);
    ENTERS(s);
}

/* Found by the fuzzer: an NMI SVM injected but had not delivered comes with NMI blocking (and
 * maybe a shadow); its delivery ends both, and VMX refuses them with the injection. */
static void test_nmi_injection_blocking(void **state)
{
    (void)state;
    struct vcpu_state s = pae_state();
    s.interruptibility = INTR_NMI | INTR_STI;
    s.pending = (struct vcpu_event){ .type = EVENT_NMI, .vector = 2 };
    vmx_write_guest_state(&s, NULL);
    assert_int_equal(V(VMCS_GUEST_INTERRUPTIBILITY), 0);
    assert_int_equal(V(VMCS_ENTRY_INTR_INFO), 0x80000202);
    ENTERS(s);
}

/* Found by the fuzzer: INT n returning to 0 outside 64-bit code went in at RIP 2^64 - 1. */
static void test_softint_rip_wraps(void **state)
{
    (void)state;
    struct vcpu_state s = pae_state(), out;
    s.rip = 0;
    s.pending = (struct vcpu_event){ .type = EVENT_SOFTINT, .vector = 0x80 };
    vmx_write_guest_state(&s, NULL);
    assert_int_equal(V(VMCS_GUEST_RIP), 0xffffffff);
    assert_int_equal(V(VMCS_ENTRY_INSN_LEN), 1);
    ENTERS(s);
    read_into(&out, 0);
    assert_int_equal(out.rip, 0);
}

/* PAE paging: VM entry takes the PDPTEs from the VMCS (SDM 26.3.2.4), so the loader writes
 * the four it is given (read from the guest's table at CR3 by vmx.c), and the state check
 * refuses a present one with reserved bits (26.3.1.6) as entry would. Outside PAE paging,
 * none is written. */
static void test_pae_pdptes(void **state)
{
    (void)state;
    char why[200];
    struct vcpu_state s = pae_state();
    assert_true(vmx_pae_paging(&s));
    const uint64_t p[4] = { 0x1001, 0x2001, 0, 0x7ffffff000ull | 0x19 };    /* PWT PCD */
    vmx_write_guest_state(&s, p);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(vmcs_get(VMCS_GUEST_PDPTE0.enc + 2 * i), p[i]);
    assert_int_equal(vmx_guest_state_check(&s, p, why, sizeof(why)), 0);
    static const uint64_t bad[] = {
        0x2003,                             /* R/W: reserved in a PAE PDPTE */
        0x2005,                             /* U/S */
        0x2021,                             /* bits 8:5: A */
        0x2081,                             /* PS */
        0x8000002001ull,                    /* bit 39: past this CPU's 39 address bits */
        0x8000000000002001ull,              /* XD: reserved here too */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t q[4] = { p[0], bad[i], p[2], p[3] };
        why[0] = 0;
        if (vmx_guest_state_check(&s, q, why, sizeof(why)) != -EINVAL ||
            !strstr(why, "PDPTE"))
            fail_msg("PDPTE 0x%llx: not refused (%s)", (unsigned long long)bad[i], why);
        q[1] = bad[i] & ~1ull;              /* not present: the rest is free */
        assert_int_equal(vmx_guest_state_check(&s, q, why, sizeof(why)), 0);
    }
    /* Without them (NULL) none is present: entry takes it, the guest's first access faults. */
    assert_int_equal(vmx_guest_state_check(&s, NULL, why, sizeof(why)), 0);
    /* IA-32e mode, or no paging: the PDPTE fields are not VM entry's, none written. */
    setup(NULL);
    s = long_mode_state();
    s.activity = ACT_RUNNING;
    s.interruptibility = 0;
    assert_false(vmx_pae_paging(&s));
    vmx_write_guest_state(&s, p);
    assert_null(field(VMCS_GUEST_PDPTE0.enc, false));
    s = pae_state();
    s.cr0 &= ~0x80000000ull;
    assert_false(vmx_pae_paging(&s));
}

/* Injection (vmx_inject, and a migrated pending event): the error-code bit goes with the
 * exceptions that push one in protected mode only; a real-mode #GP has none (VM entry refuses
 * the bit with CR0.PE clear under unrestricted guest, SDM 26.2.1.3). */
static void test_event_info(void **state)
{
    (void)state;
    const struct vcpu_event gp = { .type = EVENT_EXCEPTION, .vector = 13, .has_error = 1 };
    const struct vcpu_event ud = { .type = EVENT_EXCEPTION, .vector = 6 };
    const struct vcpu_event nmi = { .type = EVENT_NMI, .vector = 0 };
    const struct vcpu_event irq = { .type = EVENT_EXTINT, .vector = 0x30 };
    const struct vcpu_event cp = { .type = EVENT_EXCEPTION, .vector = 21, .has_error = 1 };
    const struct vcpu_event big = { .type = EVENT_EXCEPTION, .vector = 32 };
    assert_int_equal(vmx_event_info(&gp, 0x80000011), 0x80000b0d);
    assert_int_equal(vmx_event_info(&gp, 0x10), 0x8000030d);        /* real mode */
    assert_int_equal(vmx_event_info(&ud, 0x80000011), 0x80000306);
    assert_int_equal(vmx_event_info(&nmi, 0x11), 0x80000202);
    assert_int_equal(vmx_event_info(&irq, 0x11), 0x80000030);
    assert_int_equal(vmx_event_info(&big, 0x11), 0);
    assert_int_equal(vmx_event_info(&cp, 0x11), 0x80000315);        /* #CP: no CET, no code */
    vmx_caps.cet = true;
    assert_int_equal(vmx_event_info(&cp, 0x11), 0x80000b15);
    /* a pending #GP of a real-mode state enters */
    struct vcpu_state s = pae_state();
    s.cr0 = 0x10;
    s.cr4 = 0;
    s.efer = 0;
    s.cs = seg(0x1000, 0x9b, 0xffff, 0x10000);
    s.ss = s.ds = s.es = s.fs = s.gs = seg(0, 0x93, 0xffff, 0);
    s.tr = seg(0, 0x8b, 0xffff, 0);
    s.rip = 0x100;
    s.pending = gp;
    set_caps(CR0_FIXED0 & ~0x80000001ull);
    vmx_write_guest_state(&s, NULL);
    assert_int_equal(V(VMCS_ENTRY_INTR_INFO), 0x8000030d);
    ENTERS(s);
}

/* The checker itself: one broken field of a good image at a time (SDM 26.3.1, 26.2.1.3). */
static void test_checker_rules(void **state)
{
    (void)state;
    static const struct vmx_entry_caps c = {
        .cr0_fixed0 = CR0_FIXED0, .cr0_fixed1 = CR0_FIXED1, .cr4_fixed0 = CR4_FIXED0,
        .cr4_fixed1 = CR4_FIXED1, .phys_bits = 39, .linear_bits = 48, .hlt = true,
    };
    struct vcpu_state s = long_mode_state();
    struct vmx_guest good, g;
    char why[200];
    s.interruptibility = 0;
    s.activity = ACT_RUNNING;
    vmx_guest_from_state(&good, &s, ENTRY_CTLS_BASE, NULL);
    assert_int_equal(vmx_guest_check(&good, &c, why, sizeof(why)), 0);
#define BROKEN(change, text)                                                               \
    do {                                                                                   \
        g = good;                                                                          \
        change;                                                                            \
        why[0] = 0;                                                                        \
        if (vmx_guest_check(&g, &c, why, sizeof(why)) != -EINVAL || !strstr(why, text))    \
            fail_msg("%s: not refused, or why='%s'", #change, why);                        \
    } while (0)
    BROKEN(g.cr0 &= ~0x20ull, "CR0 has a bit fixed");
    BROKEN(g.cr4 &= ~0x2000ull, "CR4 has a bit fixed");
    BROKEN(g.cr3 = 1ull << 39, "CR3 bits beyond");
    BROKEN(g.dr7 = 1ull << 32, "DR7");
    BROKEN(g.pat = 0x0207040600070406ull, "IA32_PAT");
    BROKEN(g.efer = 0x101, "LMA differs from the IA-32e");
    BROKEN(g.efer = 0x401, "LMA differs from LME");
    BROKEN(g.efer = 0x1d01, "IA32_EFER reserved");
    BROKEN(g.ar[VMX_SEG_CS] |= 1u << 14, "L and D/B");
    BROKEN(g.ar[VMX_SEG_TR] = 0x83, "TR: type");
    BROKEN(g.ar[VMX_SEG_SS] = 0xc091, "SS: type");
    BROKEN(g.limit[VMX_SEG_SS] = 0xffffe, "SS: G does not match");
    BROKEN(g.sel[VMX_SEG_TR] |= 4, "TR: selector TI");
    BROKEN(g.gdtr_limit = 0x10000, "GDTR/IDTR limit");
    BROKEN(g.rip = 0x0000800000000000ull, "RIP not canonical");
    BROKEN(g.rflags |= 1u << 15, "RFLAGS reserved");
    BROKEN(g.interruptibility = INTR_STI | INTR_MOVSS, "both STI and MOV SS");
    BROKEN(g.interruptibility = 4, "SMI");
    BROKEN((g.activity = 1, g.interruptibility = INTR_MOVSS), "HLT with blocking");
    BROKEN((g.activity = 1, g.intr_info = 0x80000b0e), "HLT with an injected event");
    BROKEN(g.pending_dbg = 1ull << 4, "pending debug exceptions reserved");
    BROKEN((g.rflags |= 0x100, g.interruptibility = INTR_MOVSS), "pending debug BS");
    BROKEN(g.link_ptr = 0, "link pointer");
    BROKEN(g.intr_info = 0x80000209, "NMI with a vector");
    BROKEN(g.intr_info = 0x8000030e, "deliver-error-code");
    BROKEN((g.intr_info = 0x80000b0e, g.exc_error = 1u << 16), "error code bits 31:16");
    BROKEN(g.intr_info = 0x80000480, "instruction length");
    BROKEN((g.rflags &= ~0x200ull, g.intr_info = 0x80000020), "RFLAGS.IF clear");
    BROKEN((g.entry &= ~ENTRY_IA32E, g.efer = 0x100, g.ar[VMX_SEG_CS] = 0xc09b,
            g.cr4 |= 1u << 17), "CR4.PCIDE outside IA-32e");
#undef BROKEN
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vmcs_encoding_widths),
        cmocka_unit_test(test_ar_from_attr),
        cmocka_unit_test(test_loaded_attr),
        cmocka_unit_test(test_attr_from_ar),
        cmocka_unit_test(test_ar_round_trip_all),
        cmocka_unit_test_setup(test_round_trip_long_mode, setup),
        cmocka_unit_test_setup(test_pending_events, setup),
        cmocka_unit_test_setup(test_write_vmcs_contents, setup),
        cmocka_unit_test_setup(test_cr4_vmxe_hidden_on_read, setup),
        cmocka_unit_test_setup(test_cr_forced_bits_round_trip, setup),
        cmocka_unit_test_setup(test_protected_mode_clears_ia32e, setup),
        cmocka_unit_test_setup(test_lme_without_lma_is_not_ia32e, setup),
        cmocka_unit_test_setup(test_real_mode_unrestricted, setup),
        cmocka_unit_test_setup(test_rflags_reserved_bit_1, setup),
        cmocka_unit_test_setup(test_interruptibility_and_activity, setup),
        cmocka_unit_test_setup(test_interrupt_info_cleared, setup),
        cmocka_unit_test_setup(test_read_exit_state, setup),
        cmocka_unit_test_setup(test_guest_state_check, setup),
        cmocka_unit_test_setup(test_amd_style_state_enters, setup),
        cmocka_unit_test_setup(test_v86_access_rights, setup),
        cmocka_unit_test_setup(test_pending_dbg_bs, setup),
        cmocka_unit_test_setup(test_nmi_injection_blocking, setup),
        cmocka_unit_test_setup(test_softint_rip_wraps, setup),
        cmocka_unit_test_setup(test_pae_pdptes, setup),
        cmocka_unit_test_setup(test_event_info, setup),
        cmocka_unit_test_setup(test_checker_rules, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
