/*
 * MMIO emulation (hv/emul/mmio.c) against a real device on a fake VM's MMIO
 * bus, the way hv/vm/vcpu.c uses it after an EPT violation or nested page
 * fault: the bytes at RIP, the faulting address, the device's access function.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_dev.h"
#include "fake_env.h"
#include "fake_vm.h"
#include "hv/cpu/vcpu_state.h"
#include "hv/emul/decode.h"
#include "hv/emul/mmio.h"

const struct dev_type *const dev_known_types[] = { &testdev_type };
const unsigned dev_known_count = 1;

#define MMIO 0xfed00000ull
static const struct testdev_cfg cfg = { .port = 0x510, .mmio = MMIO };

struct at { struct fake_vm *fv; uint64_t gpa; };

static int access_fn(void *ctx, bool write, unsigned size, uint64_t *val)
{
    struct at *a = ctx;
    return bus_access(&a->fv->devs.bus, BUS_MMIO, a->gpa, write, size, val);
}

static struct fake_vm fv;
static uint64_t gpr[GPR_COUNT];

static int setup(void **state)
{
    char err[120];
    (void)state;
    fake_vm_init(&fv);
    memset(gpr, 0, sizeof(gpr));
    return dev_add(&fv.devs, &testdev_type, 0, &cfg, err, sizeof(err));
}

static int teardown(void **state)
{
    (void)state;
    fake_vm_destroy(&fv);
    return 0;
}

static struct emul_mmio_result run(const char *code, size_t n, uint64_t gpa)
{
    struct at a = { &fv, gpa };
    struct emul_mmio_result r;
    uint8_t buf[15] = { 0 };
    memcpy(buf, code, n);
    emul_mmio(buf, sizeof(buf), 64, gpr, 0x2, access_fn, &a, &r);
    return r;
}

static void test_store_then_load(void **state)
{
    (void)state;
    gpr[GPR_RCX] = 0xfeedface12345678ull;
    struct emul_mmio_result r = run("\x89\x08", 2, MMIO + 8);        /* mov [rax], ecx */
    assert_int_equal(r.status, EMUL_MMIO_DONE);
    assert_int_equal(r.len, 2);
    assert_true(r.advance);
    uint64_t v;
    assert_int_equal(fake_vm_mmio_read(&fv, MMIO + 8, 4, &v), 0);
    assert_int_equal(v, 0x12345678);
    gpr[GPR_RDX] = ~0ull;
    r = run("\x8b\x50\x08", 3, MMIO + 8);                           /* mov edx, [rax+8] */
    assert_int_equal(r.status, EMUL_MMIO_DONE);
    assert_int_equal(r.len, 3);
    assert_int_equal(gpr[GPR_RDX], 0x12345678);                      /* zero-extended */
}

static void test_store_immediate(void **state)
{
    (void)state;
    struct emul_mmio_result r = run("\xc7\x00\x44\x33\x22\x11", 6, MMIO + 12);  /* mov dword [rax], imm */
    assert_int_equal(r.status, EMUL_MMIO_DONE);
    assert_int_equal(r.len, 6);
    uint64_t v;
    assert_int_equal(fake_vm_mmio_read(&fv, MMIO + 12, 4, &v), 0);
    assert_int_equal(v, 0x11223344);
}

static void test_device_refusal_is_a_fault(void **state)
{
    (void)state;
    gpr[GPR_RAX] = 0x77;
    struct emul_mmio_result r = run("\x0f\xb6\x03", 3, MMIO);       /* movzx eax, byte [rbx] */
    assert_int_equal(r.status, EMUL_MMIO_DEVICE_ERROR);             /* testdev: 4-byte only */
    assert_int_equal(r.err, -EINVAL);
    assert_int_equal(gpr[GPR_RAX], 0x77);                            /* untouched */
}

static void test_rep_stos_one_element_per_exit(void **state)
{
    (void)state;
    gpr[GPR_RAX] = 0xabcdef01;
    gpr[GPR_RCX] = 2;
    gpr[GPR_RDI] = MMIO;
    struct emul_mmio_result r = run("\xf3\xab", 2, MMIO);           /* rep stosd */
    assert_int_equal(r.status, EMUL_MMIO_DONE);
    assert_false(r.advance);                                         /* one more to go */
    assert_int_equal(gpr[GPR_RCX], 1);
    assert_int_equal(gpr[GPR_RDI], MMIO + 4);
    r = run("\xf3\xab", 2, MMIO + 4);
    assert_true(r.advance);
    assert_int_equal(gpr[GPR_RCX], 0);
    uint64_t v;
    assert_int_equal(fake_vm_mmio_read(&fv, MMIO + 4, 4, &v), 0);
    assert_int_equal(v, 0xabcdef01);
}

static void test_what_is_not_emulated(void **state)
{
    (void)state;
    struct emul_mmio_result r = run("\xa5", 1, MMIO);                /* movsd */
    assert_int_equal(r.status, EMUL_MMIO_UNSUPPORTED);
    assert_int_equal(r.op, INSN_MOVS);
    r = run("\x0f\x0b", 2, MMIO);                                    /* ud2 */
    assert_int_equal(r.status, EMUL_MMIO_UNDECODABLE);
    assert_true(r.err < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_then_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_immediate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_refusal_is_a_fault, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rep_stos_one_element_per_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_what_is_not_emulated, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
