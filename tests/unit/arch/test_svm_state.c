/*
 * Host tests for arch/x86_64/svm/svm_state.c and the VMCB layout. Offsets
 * are checked on raw bytes (raw64() at the APM vol. 2 table B-1/B-2
 * offsets), not through struct vmcb, so a wrong member offset fails here
 * even if vmcb.h's own assertions were wrong in the same way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/svm/svm_state.h"
#include "support.h"

static struct vmcb *vmcb;

static int setup(void **state)
{
    (void)state;
    vmcb = aligned_alloc(4096, sizeof(*vmcb));
    if (!vmcb)
        return -1;
    memset(vmcb, 0, sizeof(*vmcb));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(vmcb);
    return 0;
}

static uint64_t raw64(unsigned off) { uint64_t v; memcpy(&v, (uint8_t *)vmcb + off, 8); return v; }
static uint32_t raw32(unsigned off) { uint32_t v; memcpy(&v, (uint8_t *)vmcb + off, 4); return v; }
static uint16_t raw16(unsigned off) { uint16_t v; memcpy(&v, (uint8_t *)vmcb + off, 2); return v; }
static uint8_t raw8(unsigned off) { return ((uint8_t *)vmcb)[off]; }
static void poke64(unsigned off, uint64_t v) { memcpy((uint8_t *)vmcb + off, &v, 8); }

#define ATTR_CODE64 0xa9bu   /* G, L, P, S, execute/read accessed */
#define ATTR_DATA   0xc93u   /* G, D/B, P, S, read/write accessed */
#define ATTR_TSS64  0x08bu   /* P, busy 64-bit TSS */

static void set_seg(struct seg *s, uint16_t sel, uint32_t attr, uint32_t limit, uint64_t base)
{
    *s = (struct seg){ .sel = sel, .attr = attr, .limit = limit, .base = base };
}

/* A 64-bit kernel at CPL 0 as a VMX host would save it: LDTR unusable, FS/GS with bases. */
static void long_mode_state(struct vcpu_state *s)
{
    memset(s, 0, sizeof(*s));
    s->version = VCPU_STATE_VERSION;
    s->activity = ACT_RUNNING;
    for (unsigned i = 0; i < GPR_COUNT; i++)
        s->gpr[i] = 0x1111111111111111ull * (i + 1);
    s->gpr[GPR_RSP] = 0xffffc90000123ff8ull;
    s->gpr[GPR_RAX] = 0xdeadbeefcafef00dull;
    s->rip = 0xffffffff81000123ull;
    s->rflags = 0x246;
    s->cr0 = 0x80050033;
    s->cr2 = 0x00007f1234567000ull;
    s->cr3 = 0x000000010abcd000ull;
    s->cr4 = 0x003506f0;
    s->cr8 = 0x5;
    s->dr7 = 0x400;
    s->efer = 0xd01;                       /* SCE, LME, LMA, NXE */
    s->pat = 0x0407050600070106ull;
    s->xcr0 = 0x7;
    set_seg(&s->cs, 0x10, ATTR_CODE64, 0xffffffff, 0);
    set_seg(&s->ss, 0x18, ATTR_DATA, 0xffffffff, 0);
    set_seg(&s->ds, 0x18, ATTR_DATA, 0xffffffff, 0);
    set_seg(&s->es, 0x18, ATTR_DATA, 0xffffffff, 0);
    set_seg(&s->fs, 0, SEG_UNUSABLE, 0, 0x00007f0000001000ull);
    set_seg(&s->gs, 0, SEG_UNUSABLE, 0, 0xffff888100000000ull);
    set_seg(&s->tr, 0x40, ATTR_TSS64, 0x67, 0xfffffe0000003000ull);
    set_seg(&s->ldtr, 0, SEG_UNUSABLE, 0, 0);
    s->gdtr = (struct dtable){ .base = 0xfffffe0000001000ull, .limit = 0x7f };
    s->idtr = (struct dtable){ .base = 0xfffffe0000000000ull, .limit = 0xfff };
    s->sysenter_cs = 0x10;
    s->sysenter_esp = 0xfffffe0000005000ull;
    s->sysenter_eip = 0xffffffff81a00000ull;
    s->star = 0x0023001000000000ull;
    s->lstar = 0xffffffff81c00080ull;
    s->cstar = 0xffffffff81c001c0ull;
    s->sfmask = 0x47700;
    s->kernel_gs_base = 0x00007f0000002000ull;
    s->tsc = 0x123456789ull;
    s->tsc_aux = 3;
    s->pending.type = EVENT_NONE;
}

/* Overwrites every field the VMCB holds, so a read must restore each of them. */
static void scramble_vmcb_fields(struct vcpu_state *s)
{
    struct seg *segs[] = { &s->es, &s->cs, &s->ss, &s->ds, &s->fs, &s->gs, &s->ldtr, &s->tr };
    for (unsigned i = 0; i < 8; i++)
        memset(segs[i], 0x5a, sizeof(*segs[i]));
    memset(&s->gdtr, 0x5a, sizeof(s->gdtr));
    memset(&s->idtr, 0x5a, sizeof(s->idtr));
    memset(&s->pending, 0x5a, sizeof(s->pending));
    uint64_t *f[] = { &s->gpr[GPR_RAX], &s->gpr[GPR_RSP], &s->rip, &s->rflags, &s->cr0, &s->cr2,
                      &s->cr3, &s->cr4, &s->cr8, &s->dr7, &s->efer, &s->pat, &s->sysenter_cs,
                      &s->sysenter_esp, &s->sysenter_eip, &s->star, &s->lstar, &s->cstar,
                      &s->sfmask, &s->kernel_gs_base };
    for (unsigned i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        *f[i] = 0x5a5a5a5a5a5a5a5aull;
    s->interruptibility = 0x5a;
    s->version = 0x5a;
}

static void expect_same(const struct vcpu_state *a, const struct vcpu_state *b)
{
    if (memcmp(a, b, sizeof(*a))) {
        const uint8_t *x = (const void *)a, *y = (const void *)b;
        for (size_t i = 0; i < sizeof(*a); i++)
            if (x[i] != y[i])
                fail_msg("records differ from byte %zu (0x%02x vs 0x%02x)", i, x[i], y[i]);
    }
}

/* ---- round trips -------------------------------------------------------------- */

static void test_round_trip_long_mode(void **state)
{
    (void)state;
    struct vcpu_state s, out;
    long_mode_state(&s);
    svm_state_write(vmcb, &s);
    out = s;
    scramble_vmcb_fields(&out);
    svm_state_read(vmcb, &out);
    expect_same(&s, &out);
}

static void test_round_trip_user_mode_with_events(void **state)
{
    (void)state;
    struct vcpu_state s, out;
    long_mode_state(&s);
    set_seg(&s.cs, 0x33, ATTR_CODE64 | 0x60, 0xffffffff, 0);
    set_seg(&s.ss, 0x2b, ATTR_DATA | 0x60, 0xffffffff, 0);
    set_seg(&s.ldtr, 0x50, 0x82, 0xfff, 0xfffffe0000008000ull);   /* a present LDT */
    s.rflags = 0x202;
    s.interruptibility = INTR_STI;
    s.pending = (struct vcpu_event){ .type = EVENT_EXCEPTION, .vector = 14, .has_error = 1,
                                     .error = 0x7 };
    svm_state_write(vmcb, &s);
    out = s;
    scramble_vmcb_fields(&out);
    svm_state_read(vmcb, &out);
    expect_same(&s, &out);
}

static void test_read_leaves_caller_fields(void **state)
{
    (void)state;
    struct vcpu_state s, out;
    long_mode_state(&s);
    svm_state_write(vmcb, &s);
    memset(&out, 0xa5, sizeof(out));
    svm_state_read(vmcb, &out);
    for (unsigned i = 0; i < GPR_COUNT; i++)
        if (i != GPR_RAX && i != GPR_RSP)
            assert_int_equal(out.gpr[i], 0xa5a5a5a5a5a5a5a5ull);
    assert_int_equal(out.activity, 0xa5a5a5a5u);
    assert_int_equal(out.xcr0, 0xa5a5a5a5a5a5a5a5ull);
    assert_int_equal(out.tsc, 0xa5a5a5a5a5a5a5a5ull);
    assert_int_equal(out.tsc_aux, 0xa5a5a5a5a5a5a5a5ull);
    assert_int_equal(out.gpr[GPR_RAX], s.gpr[GPR_RAX]);
    assert_int_equal(out.gpr[GPR_RSP], s.gpr[GPR_RSP]);
    assert_int_equal(out.version, VCPU_STATE_VERSION);
    assert_int_equal(out.cs.reserved, 0);
    assert_int_equal(out.gdtr.reserved, 0);
}

/* ---- raw offsets ---------------------------------------------------------------- */

static void test_offsets_on_raw_bytes(void **state)
{
    (void)state;
    struct vcpu_state s;
    long_mode_state(&s);
    s.pending = (struct vcpu_event){ .type = EVENT_EXCEPTION, .vector = 13, .has_error = 1 };
    s.interruptibility = INTR_MOVSS;
    vmcb->control.clean = ~0u;
    svm_state_write(vmcb, &s);

    assert_int_equal(raw16(0x400), 0x18);                  /* ES */
    assert_int_equal(raw16(0x402), ATTR_DATA);
    assert_int_equal(raw16(0x410), 0x10);                  /* CS */
    assert_int_equal(raw16(0x412), ATTR_CODE64);
    assert_int_equal(raw32(0x414), 0xffffffff);
    assert_int_equal(raw64(0x418), 0);
    assert_int_equal(raw16(0x420), 0x18);                  /* SS */
    assert_int_equal(raw16(0x430), 0x18);                  /* DS */
    assert_int_equal(raw64(0x448), s.fs.base);             /* FS */
    assert_int_equal(raw16(0x442), 0);                     /* unusable: not present */
    assert_int_equal(raw64(0x458), s.gs.base);             /* GS */
    assert_int_equal(raw32(0x464), 0x7f);                  /* GDTR */
    assert_int_equal(raw64(0x468), s.gdtr.base);
    assert_int_equal(raw16(0x472), 0);                     /* LDTR */
    assert_int_equal(raw32(0x484), 0xfff);                 /* IDTR */
    assert_int_equal(raw64(0x488), s.idtr.base);
    assert_int_equal(raw16(0x490), 0x40);                  /* TR */
    assert_int_equal(raw16(0x492), ATTR_TSS64);
    assert_int_equal(raw32(0x494), 0x67);
    assert_int_equal(raw64(0x498), s.tr.base);
    assert_int_equal(raw8(0x4cb), 0);                      /* CPL */
    assert_int_equal(raw64(0x4d0), 0xd01 | EFER_SVME);     /* EFER, SVME set */
    assert_int_equal(raw64(0x548), s.cr4);
    assert_int_equal(raw64(0x550), s.cr3);
    assert_int_equal(raw64(0x558), s.cr0);
    assert_int_equal(raw64(0x560), 0x400);                 /* DR7 */
    assert_int_equal(raw64(0x570), 0x246);                 /* RFLAGS */
    assert_int_equal(raw64(0x578), s.rip);
    assert_int_equal(raw64(0x5d8), s.gpr[GPR_RSP]);
    assert_int_equal(raw64(0x5f8), s.gpr[GPR_RAX]);
    assert_int_equal(raw64(0x600), s.star);
    assert_int_equal(raw64(0x608), s.lstar);
    assert_int_equal(raw64(0x610), s.cstar);
    assert_int_equal(raw64(0x618), s.sfmask);
    assert_int_equal(raw64(0x620), s.kernel_gs_base);
    assert_int_equal(raw64(0x628), 0x10);                  /* SYSENTER_CS */
    assert_int_equal(raw64(0x630), s.sysenter_esp);
    assert_int_equal(raw64(0x638), s.sysenter_eip);
    assert_int_equal(raw64(0x640), s.cr2);
    assert_int_equal(raw64(0x668), s.pat);                 /* G_PAT */
    assert_int_equal(raw64(0x060) & 0xff, 5);              /* V_TPR = CR8 */
    assert_int_equal(raw64(0x068), 1);                     /* interrupt shadow */
    assert_int_equal(raw64(0x0a8), 0x80000b0dull);         /* EVENTINJ: #GP(0) */
    assert_int_equal(raw32(0x0c0), 0);                     /* every clean bit dropped */
}

static void test_layout_constants(void **state)
{
    (void)state;
    assert_int_equal(sizeof(struct vmcb), 4096);
    assert_int_equal(offsetof(struct vmcb, control.exitcode), 0x70);
    assert_int_equal(offsetof(struct vmcb, control.exitinfo1), 0x78);
    assert_int_equal(offsetof(struct vmcb, control.exitinfo2), 0x80);
    assert_int_equal(offsetof(struct vmcb, control.exitintinfo), 0x88);
    assert_int_equal(offsetof(struct vmcb, control.np_control), 0x90);
    assert_int_equal(offsetof(struct vmcb, control.n_cr3), 0xb0);
    assert_int_equal(offsetof(struct vmcb, control.nrip), 0xc8);
    assert_int_equal(offsetof(struct vmcb, control.insn_bytes), 0xd1);
    assert_int_equal(offsetof(struct vmcb, control.guest_asid), 0x58);
    assert_int_equal(offsetof(struct vmcb, control.tlb_control), 0x5c);
    assert_int_equal(offsetof(struct vmcb, control.iopm_base_pa), 0x40);
    assert_int_equal(offsetof(struct vmcb, control.msrpm_base_pa), 0x48);
    assert_int_equal(offsetof(struct vmcb, control.intercept2), 0x10);
    assert_int_equal(VMEXIT_CPUID, 0x72);
    assert_int_equal(VMEXIT_HLT, 0x78);
    assert_int_equal(VMEXIT_IOIO, 0x7b);
    assert_int_equal(VMEXIT_MSR, 0x7c);
    assert_int_equal(VMEXIT_SHUTDOWN, 0x7f);
    assert_int_equal(VMEXIT_VMRUN, 0x80);
    assert_int_equal(VMEXIT_XSETBV, 0x8d);
    assert_int_equal(VMEXIT_EXCP(14), 0x4e);
    assert_int_equal(VMEXIT_NPF, 0x400);
    assert_int_equal(VMEXIT_INVALID, 0xffffffffffffffffull);
    /* IOIO EXITINFO1 of "in al, 0x60" and "rep outsw" to port 0x3f8 with 64-bit addressing */
    assert_int_equal(IOIO_IN | IOIO_SZ8 | IOIO_A64 | (0x60ull << IOIO_PORT_SHIFT), 0x00600211);
    assert_int_equal(IOIO_STR | IOIO_REP | IOIO_SZ16 | IOIO_A64 | (0x3f8ull << IOIO_PORT_SHIFT),
                     0x03f8022c);
}

static void test_msrpm_bits(void **state)
{
    (void)state;
    assert_int_equal(svm_msrpm_bit(0), 0);
    assert_int_equal(svm_msrpm_bit(0x10), 0x20);            /* TSC */
    assert_int_equal(svm_msrpm_bit(0x1fff), 0x3ffe);
    assert_int_equal(svm_msrpm_bit(0xc0000080) / 8, 0x820); /* EFER: byte 0x820, bit 0 */
    assert_int_equal(svm_msrpm_bit(0xc0000080) % 8, 0);
    assert_int_equal(svm_msrpm_bit(0xc0000000), 0x800 * 8);
    assert_int_equal(svm_msrpm_bit(0xc0010000), 0x1000 * 8);
    assert_int_equal(svm_msrpm_bit(0xc0011fff) / 8, 0x17ff);
    assert_int_equal(svm_msrpm_bit(0x2000), -1);
    assert_int_equal(svm_msrpm_bit(0xbfffffff), -1);
    assert_int_equal(svm_msrpm_bit(0xc0002000), -1);
    assert_int_equal(svm_msrpm_bit(0xc000ffff), -1);
    assert_int_equal(svm_msrpm_bit(0xc0012000), -1);
    assert_int_equal(svm_msrpm_bit(0xffffffff), -1);
    assert_true(svm_msrpm_bit(0xc0011fff) + 1 < (int)MSRPM_SIZE * 8);
    assert_int_equal(IOPM_SIZE, 3 * 4096);
}

/* ---- EFER, CPL, segments ---------------------------------------------------------- */

static void test_svme_hidden(void **state)
{
    (void)state;
    struct vcpu_state s;
    long_mode_state(&s);
    s.efer |= EFER_SVME;        /* even if a record claims it, the guest never sees it */
    svm_state_write(vmcb, &s);
    assert_true(raw64(0x4d0) & EFER_SVME);
    svm_state_read(vmcb, &s);
    assert_int_equal(s.efer, 0xd01);
    poke64(0x4d0, 0x500);       /* LME|LMA without SVME: still read as such */
    svm_state_read(vmcb, &s);
    assert_int_equal(s.efer, 0x500);
}

static void test_cpl_from_ss(void **state)
{
    (void)state;
    struct vcpu_state s;
    long_mode_state(&s);
    for (uint32_t dpl = 0; dpl < 4; dpl++) {
        s.ss.attr = ATTR_DATA | dpl << 5;
        svm_state_write(vmcb, &s);
        assert_int_equal(raw8(0x4cb), dpl);
    }
    /* unusable SS (64-bit mode, null selector) still carries the CPL in its DPL */
    set_seg(&s.ss, 0, SEG_UNUSABLE | 0x60, 0, 0);
    svm_state_write(vmcb, &s);
    assert_int_equal(raw8(0x4cb), 3);
    assert_int_equal(raw16(0x422), 0x60);
    /* The VMCB's CPL wins over a stale SS.DPL (SYSRET on some AMD parts). */
    vmcb->save.ss.attrib = ATTR_DATA;
    vmcb->save.cpl = 3;
    svm_state_read(vmcb, &s);
    assert_int_equal(s.ss.attr, ATTR_DATA | 0x60);
    vmcb->save.ss.attrib = ATTR_DATA | 0x60;
    vmcb->save.cpl = 0;
    svm_state_read(vmcb, &s);
    assert_int_equal(s.ss.attr, ATTR_DATA);
}

static void test_unusable_segments(void **state)
{
    (void)state;
    /* attr on write -> raw attrib -> attr on read */
    static const struct { uint32_t attr; uint16_t attrib; uint32_t back; } cases[] = {
        { SEG_UNUSABLE, 0, SEG_UNUSABLE },               /* VMX boot record's LDTR */
        { SEG_UNUSABLE | 0xc093, 0, SEG_UNUSABLE },      /* VMX leaves garbage in the rest */
        { SEG_UNUSABLE | 0xf3, 0x60, SEG_UNUSABLE | 0x60 },
        { 0x13, 0, SEG_UNUSABLE },                        /* P=0 without the flag */
        { 0x82, 0x82, 0x82 },                             /* present LDT */
        { ATTR_TSS64, ATTR_TSS64, ATTR_TSS64 },
        { 0xfff, 0xfff, 0xfff },
        { 0xf000 | ATTR_DATA, ATTR_DATA, ATTR_DATA },     /* bits 12-15 are not attributes */
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(svm_attrib_from_attr(cases[i].attr), cases[i].attrib);
        assert_int_equal(svm_attr_from_attrib(cases[i].attrib), cases[i].back);
        /* the result is a fixed point */
        assert_int_equal(svm_attrib_from_attr(cases[i].back), cases[i].attrib);
    }
    /* what the hardware may leave in a not-present segment reads back as unusable */
    assert_int_equal(svm_attr_from_attrib(0x0013), SEG_UNUSABLE);
    assert_int_equal(svm_attr_from_attrib(0x0c73), SEG_UNUSABLE | 0x60);

    struct vcpu_state s, out;
    long_mode_state(&s);
    set_seg(&s.ds, 0, SEG_UNUSABLE | 0xc093, 0xffffffff, 0);
    svm_state_write(vmcb, &s);
    assert_int_equal(raw16(0x432), 0);
    assert_int_equal(raw16(0x472), 0);
    svm_state_read(vmcb, &out);
    assert_int_equal(out.ldtr.attr, SEG_UNUSABLE);
    assert_int_equal(out.ds.attr, SEG_UNUSABLE);
    assert_int_equal(out.ds.limit, 0xffffffff);
}

/* Any record, however odd, is a fixed point after one write and read. */
static void test_random_records_reach_fixed_point(void **state)
{
    (void)state;
    uint64_t x = 0x853c49e6748fea9bull;
    for (unsigned round = 0; round < 2000; round++) {
        struct vcpu_state s, r1, r2;
        uint8_t *p = (uint8_t *)&s;
        for (size_t i = 0; i < sizeof(s); i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            p[i] = (uint8_t)x;
        }
        if (round & 1)
            s.pending.type = x % 6;     /* mostly valid types */
        memset(vmcb, 0, sizeof(*vmcb));
        vmcb->control.vintr = round & 2 ? VINTR_NMI_ENABLE : 0;
        svm_state_write(vmcb, &s);
        r1 = s;
        svm_state_read(vmcb, &r1);
        svm_state_write(vmcb, &r1);
        r2 = r1;
        svm_state_read(vmcb, &r2);
        expect_same(&r1, &r2);
        assert_true(raw64(0x4d0) & EFER_SVME);
        assert_int_equal(r1.efer & EFER_SVME, 0);
        assert_true(r1.rflags & 2);
    }
}

/* ---- interruptibility --------------------------------------------------------------- */

static void test_interrupt_shadow(void **state)
{
    (void)state;
    struct vcpu_state s, out;
    long_mode_state(&s);
    vmcb->control.int_state = INT_STATE_GUEST_MASK;   /* a CPU-owned bit survives writes */

    s.interruptibility = INTR_STI;
    svm_state_write(vmcb, &s);
    assert_int_equal(raw64(0x68), INT_STATE_SHADOW | INT_STATE_GUEST_MASK);
    s.interruptibility = 0;
    svm_state_write(vmcb, &s);
    assert_int_equal(raw64(0x68), INT_STATE_GUEST_MASK);
    s.interruptibility = INTR_MOVSS;
    vmcb->control.clean = ~0u;
    svm_state_write(vmcb, &s);
    assert_int_equal(raw64(0x68) & INT_STATE_SHADOW, INT_STATE_SHADOW);

    /* shadow -> STI blocking when IF=1 (VMX's only legal choice), MOV SS blocking when IF=0 */
    vmcb->save.rflags = 0x202;
    svm_state_read(vmcb, &out);
    assert_int_equal(out.interruptibility, INTR_STI);
    vmcb->save.rflags = 0x2;
    svm_state_read(vmcb, &out);
    assert_int_equal(out.interruptibility, INTR_MOVSS);
    vmcb->control.int_state = 0;
    svm_state_read(vmcb, &out);
    assert_int_equal(out.interruptibility, 0);
}

static void test_nmi_blocking(void **state)
{
    (void)state;
    struct vcpu_state s, out;
    long_mode_state(&s);
    s.interruptibility = INTR_NMI;
    /* without vNMI: not the VMCB's business */
    svm_state_write(vmcb, &s);
    assert_int_equal(raw64(0x60) & VINTR_NMI_MASK, 0);
    svm_state_read(vmcb, &out);
    assert_int_equal(out.interruptibility, 0);
    /* with vNMI: V_NMI_MASK, and the runtime's other VINTR bits stay */
    vmcb->control.vintr = VINTR_NMI_ENABLE | VINTR_MASKING;
    svm_state_write(vmcb, &s);
    assert_int_equal(raw64(0x60), VINTR_NMI_ENABLE | VINTR_MASKING | VINTR_NMI_MASK | 5);
    svm_state_read(vmcb, &out);
    assert_int_equal(out.interruptibility, INTR_NMI);
    s.interruptibility = 0;
    svm_state_write(vmcb, &s);
    assert_int_equal(raw64(0x60), VINTR_NMI_ENABLE | VINTR_MASKING | 5);
}

static void test_tpr(void **state)
{
    (void)state;
    struct vcpu_state s, out;
    long_mode_state(&s);
    vmcb->control.vintr = VINTR_MASKING | VINTR_IRQ | (0x41ull << VINTR_VECTOR_SHIFT) | 0xf;
    s.cr8 = 0x3;
    svm_state_write(vmcb, &s);
    assert_int_equal(raw64(0x60), VINTR_MASKING | VINTR_IRQ | (0x41ull << VINTR_VECTOR_SHIFT) | 3);
    svm_state_read(vmcb, &out);
    assert_int_equal(out.cr8, 3);
}

/* ---- events ------------------------------------------------------------------------- */

static uint64_t encode(uint8_t type, uint8_t vector, bool has_error, uint32_t error)
{
    struct vcpu_event e = { .type = type, .vector = vector, .has_error = has_error,
                            .error = error };
    uint64_t v = 0x1234;
    assert_int_equal(svm_event_encode(&e, &v), 0);
    return v;
}

static void test_event_encoding(void **state)
{
    (void)state;
    assert_int_equal(encode(EVENT_NONE, 0, 0, 0), 0);
    assert_int_equal(encode(EVENT_EXCEPTION, 13, 1, 0), 0x80000b0dull);
    assert_int_equal(encode(EVENT_EXCEPTION, 14, 1, 0x6), 0x0000000680000b0eull);
    assert_int_equal(encode(EVENT_EXCEPTION, 6, 0, 0), 0x80000306ull);
    assert_int_equal(encode(EVENT_NMI, 2, 0, 0), 0x80000202ull);
    assert_int_equal(encode(EVENT_EXTINT, 0x30, 0, 0), 0x80000030ull);
    assert_int_equal(encode(EVENT_EXTINT, 0x30, 1, 5), 0x80000030ull);   /* no error code */
    assert_int_equal(encode(EVENT_SOFTINT, 0x80, 0, 0), 0x80000480ull);

    struct vcpu_event bad = { .type = 7, .vector = 1 };
    uint64_t v = 0x1234;
    assert_int_equal(svm_event_encode(&bad, &v), -EINVAL);
    assert_int_equal(v, 0x1234);

    struct vcpu_event e;
    svm_event_decode(0x0000000680000b0eull, &e);
    assert_int_equal(e.type, EVENT_EXCEPTION);
    assert_int_equal(e.vector, 14);
    assert_int_equal(e.has_error, 1);
    assert_int_equal(e.error, 6);
    svm_event_decode(0x80000202ull, &e);
    assert_int_equal(e.type, EVENT_NMI);
    svm_event_decode(0x00000b0eull, &e);                  /* V clear */
    assert_int_equal(e.type, EVENT_NONE);
    svm_event_decode(0x80000130ull, &e);                  /* reserved type 1 */
    assert_int_equal(e.type, EVENT_NONE);
    svm_event_decode(0x0000000580000030ull, &e);          /* error bits without EV */
    assert_int_equal(e.type, EVENT_EXTINT);
    assert_int_equal(e.has_error, 0);
    assert_int_equal(e.error, 0);
}

static void test_event_in_state(void **state)
{
    (void)state;
    struct vcpu_state s, out;
    long_mode_state(&s);
    vmcb->control.nrip = 0x77;

    s.pending = (struct vcpu_event){ .type = EVENT_EXTINT, .vector = 0x41 };
    svm_state_write(vmcb, &s);
    assert_int_equal(raw64(0xa8), 0x80000041ull);
    assert_int_equal(raw64(0xc8), 0x77);                  /* NEXT_RIP only matters for INT n */
    svm_state_read(vmcb, &out);
    assert_int_equal(out.pending.type, EVENT_EXTINT);
    assert_int_equal(out.pending.vector, 0x41);

    /* INT n: the record's RIP is the return address, given to NRIPS parts as NEXT_RIP */
    s.pending = (struct vcpu_event){ .type = EVENT_SOFTINT, .vector = 0x80 };
    svm_state_write(vmcb, &s);
    assert_int_equal(raw64(0xa8), 0x80000480ull);
    assert_int_equal(raw64(0xc8), s.rip);

    /* an impossible type becomes a reserved EVENTINJ type: VMRUN refuses it, nothing is lost */
    s.pending = (struct vcpu_event){ .type = 9, .vector = 3 };
    svm_state_write(vmcb, &s);
    assert_int_equal(raw64(0xa8), 0x80000100ull);

    s.pending = (struct vcpu_event){ .type = EVENT_NONE };
    svm_state_write(vmcb, &s);
    assert_int_equal(raw64(0xa8), 0);
    /* EXITINTINFO is the runtime's to requeue, not pending state */
    poke64(0x88, 0x80000030ull);
    svm_state_read(vmcb, &out);
    assert_int_equal(out.pending.type, EVENT_NONE);
}

static void test_event_requeue(void **state)
{
    (void)state;
    const uint64_t pf = 0x0000000680000b0eull, extint = 0x80000030ull, nmi = 0x80000202ull;
    const uint64_t intn = 0x80000480ull, int3 = 0x80000303ull, into = 0x80000304ull;

    assert_int_equal(svm_event_requeue(0, 0), 0);
    assert_int_equal(svm_event_requeue(0, pf), 0);          /* delivered */
    assert_int_equal(svm_event_requeue(0x00000b0eull, 0), 0);
    assert_int_equal(svm_event_requeue(extint, 0), extint); /* interrupted by e.g. an NPF */
    assert_int_equal(svm_event_requeue(nmi, 0), nmi);
    assert_int_equal(svm_event_requeue(pf, 0), pf);
    assert_int_equal(svm_event_requeue(pf, pf), pf);
    assert_int_equal(svm_event_requeue(pf | 0x7ffff000ull, 0), pf); /* reserved bits dropped */
    /* raised by the guest's own INT n / INT3 / INTO: re-executes from RIP */
    assert_int_equal(svm_event_requeue(intn, 0), 0);
    assert_int_equal(svm_event_requeue(int3, 0), 0);
    assert_int_equal(svm_event_requeue(into, 0), 0);
    assert_int_equal(svm_event_requeue(intn, extint), 0);
    assert_int_equal(svm_event_requeue(0x80000481ull, intn), 0);  /* a different INT n */
    /* injected by ferry: nothing would re-execute, so deliver again */
    assert_int_equal(svm_event_requeue(intn, intn), intn);
    assert_int_equal(svm_event_requeue(int3, int3), int3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_long_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_user_mode_with_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_leaves_caller_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offsets_on_raw_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_constants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msrpm_bits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_svme_hidden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cpl_from_ss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unusable_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_records_reach_fixed_point, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_shadow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nmi_blocking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tpr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_encoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_in_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_requeue, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
