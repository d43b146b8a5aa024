/*
 * Host tests for arch/x86_64/svm/svm_exit.c: every exit code (APM vol. 2 app. C) becomes the
 * arch-neutral exit it should, with the instruction length taken from NRIPS when the CPU has
 * it and otherwise measured from the guest's code bytes (prefixes + the expected opcode);
 * an advancing exit whose instruction cannot be measured stops the VM (EXIT_UNHANDLED).
 * The guest's code comes from a fake vcpu_fetch.
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

#include "arch/x86_64/svm/svm.h"
#include "hv/vm/vcpu_ops.h"
#include "support.h"

struct svm_caps svm_caps;

static struct {
    uint8_t code[15];
    bool fail;
    unsigned fetches;
} G;

static int fake_fetch(struct vcpu *v, uint8_t *buf, size_t n)
{
    (void)v;
    G.fetches++;
    if (G.fail)
        return -EFAULT;
    assert_true(n <= sizeof(G.code));
    memcpy(buf, G.code, n);
    return 0;
}

static const struct vcpu_ops fake_ops = { .name = "fake", .vcpu_fetch = fake_fetch };
const struct vcpu_ops *hv_ops = &fake_ops;

static struct vmcb *vmcb;
static struct svm_vcpu sv;
static struct vcpu v;

static int setup(void **state)
{
    (void)state;
    vmcb = aligned_alloc(4096, sizeof(*vmcb));
    if (!vmcb)
        return -1;
    memset(vmcb, 0, sizeof(*vmcb));
    memset(&G, 0, sizeof(G));
    memset(&svm_caps, 0, sizeof(svm_caps));
    sv = (struct svm_vcpu){ .vmcb = vmcb };
    memset(&v, 0, sizeof(v));
    v.arch = &sv;
    vmcb->save.rip = 0x1000;
    vmcb->save.efer = 1ull << 10;       /* 64-bit code (LMA, CS.L) unless a test says otherwise */
    vmcb->save.cs.attrib = SEG_ATTR_L | 0x9b;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(vmcb);
    return 0;
}

static struct hv_exit decode(uint64_t code, uint64_t info1, uint64_t info2)
{
    struct hv_exit e;
    memset(&e, 0, sizeof(e));
    vmcb->control.exitcode = code;
    vmcb->control.exitinfo1 = info1;
    vmcb->control.exitinfo2 = info2;
    svm_decode_exit(&v, &e);
    assert_int_equal(e.vendor_reason, (uint32_t)code);
    return e;
}

static void set_code(const uint8_t *b, unsigned n)
{
    memset(G.code, 0x90, sizeof(G.code));
    memcpy(G.code, b, n);
}

/* The exit each code should give with no instruction bytes to measure (RIP on NOPs). */
static uint32_t expected_reason(uint64_t code)
{
    switch (code) {
    case VMEXIT_INTR: case VMEXIT_NMI: case VMEXIT_SMI: case VMEXIT_INIT:
        return EXIT_EXTINT;
    case VMEXIT_IOIO:
        return EXIT_IO;
    case VMEXIT_NPF:
        return EXIT_MMIO;
    case VMEXIT_SHUTDOWN:
        return EXIT_SHUTDOWN;
    case VMEXIT_VINTR:
    case VMEXIT_IRET:               /* an NMI handler's end: NMIs open again */
        return EXIT_INTR_WINDOW;
    case VMEXIT_VMRUN: case VMEXIT_VMLOAD: case VMEXIT_VMSAVE:
    case VMEXIT_STGI: case VMEXIT_CLGI: case VMEXIT_SKINIT: case VMEXIT_MONITOR:
    case VMEXIT_MWAIT:
        return EXIT_INVALID_INSN;
    case VMEXIT_INVALID:
        return EXIT_ENTRY_FAIL;
    default:                    /* CPUID, HLT, MSR, XSETBV, INVD, VMMCALL: unmeasurable here */
        return EXIT_UNHANDLED;
    }
}

static void test_every_code(void **state)
{
    (void)state;
    static const uint8_t nops[] = { 0x90 };
    set_code(nops, 1);
    for (uint64_t code = 0; code < 0x500; code++) {
        struct hv_exit e = decode(code, 0, vmcb->save.rip);
        if (e.reason != expected_reason(code))
            fail_msg("exit code %#llx: reason %u, want %u", (unsigned long long)code, e.reason,
                     expected_reason(code));
    }
    assert_int_equal(decode(VMEXIT_INVALID, 0, 0).reason, EXIT_ENTRY_FAIL);
    assert_int_equal(decode(VMEXIT_BUSY, 0, 0).reason, EXIT_UNHANDLED);
    assert_int_equal(decode(0x8000000000000400ull, 0, 0).reason, EXIT_UNHANDLED);
}

static void test_events_do_not_fetch(void **state)
{
    (void)state;
    static const uint64_t codes[] = { VMEXIT_INTR, VMEXIT_NMI, VMEXIT_SMI, VMEXIT_INIT,
                                      VMEXIT_SHUTDOWN, VMEXIT_VINTR, VMEXIT_VMRUN, VMEXIT_MWAIT, VMEXIT_NPF,
                                      VMEXIT_INVALID, VMEXIT_IOIO, 0x7e };
    G.fail = true;
    for (unsigned i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        struct hv_exit e = decode(codes[i], 0, vmcb->save.rip + 1);
        assert_int_equal(e.reason, expected_reason(codes[i]));
        if (codes[i] != VMEXIT_IOIO)
            assert_int_equal(e.insn_len, 0);
    }
    assert_int_equal(G.fetches, 0);
}

struct measured { uint64_t code, info1; uint8_t op[3]; unsigned op_len; uint32_t reason; };

static const struct measured measured[] = {
    { VMEXIT_CPUID, 0, { 0x0f, 0xa2 }, 2, EXIT_CPUID },
    { VMEXIT_HLT, 0, { 0xf4 }, 1, EXIT_HLT },
    { VMEXIT_MSR, 0, { 0x0f, 0x32 }, 2, EXIT_MSR_READ },
    { VMEXIT_MSR, 1, { 0x0f, 0x30 }, 2, EXIT_MSR_WRITE },
    { VMEXIT_XSETBV, 0, { 0x0f, 0x01, 0xd1 }, 3, EXIT_XSETBV },
    { VMEXIT_INVD, 0, { 0x0f, 0x08 }, 2, EXIT_NOP },
    { VMEXIT_VMMCALL, 0, { 0x0f, 0x01, 0xd9 }, 3, EXIT_HYPERCALL },
};
#define NMEASURED (sizeof(measured) / sizeof(measured[0]))

static void test_measured_lengths(void **state)
{
    (void)state;
    for (unsigned i = 0; i < NMEASURED; i++) {
        const struct measured *m = &measured[i];
        uint8_t b[15];
        /* bare */
        set_code(m->op, m->op_len);
        struct hv_exit e = decode(m->code, m->info1, 0);
        assert_int_equal(e.reason, m->reason);
        assert_int_equal(e.insn_len, m->op_len);
        /* behind prefixes: operand size, segment, REX */
        b[0] = 0x66, b[1] = 0x2e, b[2] = 0x48;
        memcpy(b + 3, m->op, m->op_len);
        set_code(b, 3 + m->op_len);
        e = decode(m->code, m->info1, 0);
        assert_int_equal(e.reason, m->reason);
        assert_int_equal(e.insn_len, 3 + m->op_len);
        /* some other instruction: not guessed */
        b[0] = 0x0f, b[1] = 0x0b;
        set_code(b, 2);
        e = decode(m->code, m->info1, 0);
        assert_int_equal(e.reason, EXIT_UNHANDLED);
        assert_int_equal(e.insn_len, 0);
        /* 14 prefixes leave no room for the opcode */
        memset(b, 0x66, sizeof(b));
        memcpy(G.code, b, sizeof(b));
        assert_int_equal(decode(m->code, m->info1, 0).reason, EXIT_UNHANDLED);
        /* the code cannot be read */
        set_code(m->op, m->op_len);
        G.fail = true;
        assert_int_equal(decode(m->code, m->info1, 0).reason, EXIT_UNHANDLED);
        G.fail = false;
        /* Outside 64-bit code (an AP's real-mode trampoline) 0x48 is DEC, not a REX prefix:
         * the instruction at RIP is not the exit's, so it is not measured as one. */
        vmcb->save.efer = 0;
        vmcb->save.cs.attrib = 0x9b;
        b[0] = 0x66, b[1] = 0x2e, b[2] = 0x48;
        memcpy(b + 3, m->op, m->op_len);
        set_code(b, 3 + m->op_len);
        assert_int_equal(decode(m->code, m->info1, 0).reason, EXIT_UNHANDLED);
        b[2] = 0x66;                                 /* legacy prefixes still count there */
        set_code(b, 3 + m->op_len);
        e = decode(m->code, m->info1, 0);
        assert_int_equal(e.reason, m->reason);
        assert_int_equal(e.insn_len, 3 + m->op_len);
        vmcb->save.efer = 1ull << 10;
        vmcb->save.cs.attrib = SEG_ATTR_L | 0x9b;
    }
}

static void test_nrips_length(void **state)
{
    (void)state;
    svm_caps.nrips = true;
    G.fail = true;                  /* NRIPS: no need to read the code */
    for (unsigned i = 0; i < NMEASURED; i++) {
        vmcb->control.nrip = vmcb->save.rip + 7;
        struct hv_exit e = decode(measured[i].code, measured[i].info1, 0);
        assert_int_equal(e.reason, measured[i].reason);
        assert_int_equal(e.insn_len, 7);
    }
    assert_int_equal(G.fetches, 0);
    /* next-RIP not past RIP (TCG leaves it 0): measured instead */
    G.fail = false;
    vmcb->control.nrip = 0;
    set_code(measured[0].op, measured[0].op_len);
    struct hv_exit e = decode(measured[0].code, 0, 0);
    assert_int_equal(e.insn_len, 2);
    assert_int_equal(G.fetches, 1);
}

static void test_ioio(void **state)
{
    (void)state;
    /* OUTSB with REP, port 0x3f8: 8-bit; the next RIP comes in EXITINFO2 */
    struct hv_exit e = decode(VMEXIT_IOIO, IOIO_STR | IOIO_REP | 0x3f8ull << IOIO_PORT_SHIFT,
                              vmcb->save.rip + 2);
    assert_int_equal(e.reason, EXIT_IO);
    assert_false(e.io.in);
    assert_true(e.io.string);
    assert_true(e.io.rep);
    assert_int_equal(e.io.size, 1);
    assert_int_equal(e.io.port, 0x3f8);
    assert_int_equal(e.insn_len, 2);
    e = decode(VMEXIT_IOIO, IOIO_IN | IOIO_SZ32 | 0xcfcull << IOIO_PORT_SHIFT, vmcb->save.rip + 1);
    assert_true(e.io.in);
    assert_false(e.io.string || e.io.rep);
    assert_int_equal(e.io.size, 4);
    assert_int_equal(e.io.port, 0xcfc);
    assert_int_equal(e.insn_len, 1);
    e = decode(VMEXIT_IOIO, IOIO_SZ16 | 0x1f0ull << IOIO_PORT_SHIFT, vmcb->save.rip + 2);
    assert_int_equal(e.io.size, 2);
    assert_int_equal(G.fetches, 0);
}

static void test_npf(void **state)
{
    (void)state;
    struct hv_exit e = decode(VMEXIT_NPF, 0x2 | 0x1, 0xfee00030);
    assert_int_equal(e.reason, EXIT_MMIO);
    assert_int_equal(e.mmio.gpa, 0xfee00030);
    assert_true(e.mmio.write);
    assert_false(e.mmio.fetch);
    e = decode(VMEXIT_NPF, 0x10 | 0x4, 0x123456789000ull);
    assert_int_equal(e.mmio.gpa, 0x123456789000ull);
    assert_false(e.mmio.write);
    assert_true(e.mmio.fetch);
    assert_int_equal(e.insn_len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_do_not_fetch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_measured_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nrips_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ioio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_npf, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
