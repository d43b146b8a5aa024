/*
 * Host tests for hv/emul/decode.c. The encodings in `cases` were produced by GNU as and checked
 * with objdump (the text is the AT&T source); a few hand-made ones cover what as never
 * emits (ignored REX, SIB no-base with REX.B). Every decode reads from an exactly-sized heap
 * copy, so ASan reports any read past `len`.
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

#include "hv/emul/decode.h"
#include "support.h"

#define NONE (-1)
#define RIP  INSN_BASE_RIP

/* Decodes n bytes from an exactly-sized heap copy. */
static int decode_exact(const uint8_t *b, size_t n, struct insn *in)
{
    uint8_t *copy = malloc(n ? n : 1);
    int rc;

    memcpy(copy, b, n);
    rc = insn_decode(n ? copy : NULL, n, in);
    free(copy);
    return rc;
}

#define DECODE(in, ...) \
    decode_exact((const uint8_t[]){ __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ }), (in))

struct dcase {
    const char *text;
    uint8_t b[INSN_MAX_LEN];
    uint8_t n;
    uint8_t op, size, dst_size;
    int8_t reg;
    bool high, rep, a32;
    char seg;                /* 0 none, 'f' FS, 'g' GS */
    int8_t base, index;
    uint8_t scale;
    int64_t disp;
    uint64_t imm;
};

#define BYTES(...) .b = { __VA_ARGS__ }, .n = sizeof((uint8_t[]){ __VA_ARGS__ })
#define MEM(b_, i_, s_, d_) .base = (b_), .index = (i_), .scale = (s_), .disp = (d_)

static const struct dcase cases[] = {
    /* MOV r/m, r and r, r/m; ModRM/SIB forms */
    { "movl %eax,0x10(%rbx)", BYTES(0x89, 0x43, 0x10), .op = INSN_STORE, .size = 4,
      .reg = GPR_RAX, MEM(GPR_RBX, NONE, 1, 0x10) },
    { "movb %ah,(%rbx)", BYTES(0x88, 0x23), .op = INSN_STORE, .size = 1, .reg = GPR_RAX,
      .high = true, MEM(GPR_RBX, NONE, 1, 0) },
    { "movb %bh,-0x80(%rcx)", BYTES(0x88, 0x79, 0x80), .op = INSN_STORE, .size = 1,
      .reg = GPR_RBX, .high = true, MEM(GPR_RCX, NONE, 1, -0x80) },
    { "movb %sil,(%rdi)", BYTES(0x40, 0x88, 0x37), .op = INSN_STORE, .size = 1, .reg = GPR_RSI,
      MEM(GPR_RDI, NONE, 1, 0) },
    { "movb %dil,0x7f(%rax)", BYTES(0x40, 0x88, 0x78, 0x7f), .op = INSN_STORE, .size = 1,
      .reg = GPR_RDI, MEM(GPR_RAX, NONE, 1, 0x7f) },
    { "movb %spl,(%rax)", BYTES(0x40, 0x88, 0x20), .op = INSN_STORE, .size = 1, .reg = GPR_RSP,
      MEM(GPR_RAX, NONE, 1, 0) },
    { "movb (%rax),%dh", BYTES(0x8a, 0x30), .op = INSN_LOAD, .size = 1, .dst_size = 1,
      .reg = GPR_RDX, .high = true, MEM(GPR_RAX, NONE, 1, 0) },
    { "movb (%r13),%al", BYTES(0x41, 0x8a, 0x45, 0x00), .op = INSN_LOAD, .size = 1,
      .dst_size = 1, .reg = GPR_RAX, MEM(GPR_R13, NONE, 1, 0) },
    { "movq %r9,0x12345678(%r13)", BYTES(0x4d, 0x89, 0x8d, 0x78, 0x56, 0x34, 0x12),
      .op = INSN_STORE, .size = 8, .reg = GPR_R9, MEM(GPR_R13, NONE, 1, 0x12345678) },
    { "movq %rax,(%r12)", BYTES(0x49, 0x89, 0x04, 0x24), .op = INSN_STORE, .size = 8,
      .reg = GPR_RAX, MEM(GPR_R12, NONE, 1, 0) },
    { "movq 0x100(,%rcx,8),%rdx", BYTES(0x48, 0x8b, 0x14, 0xcd, 0x00, 0x01, 0x00, 0x00),
      .op = INSN_LOAD, .size = 8, .dst_size = 8, .reg = GPR_RDX, MEM(NONE, GPR_RCX, 8, 0x100) },
    { "movl (,%r11,4),%r15d", BYTES(0x46, 0x8b, 0x3c, 0x9d, 0x00, 0x00, 0x00, 0x00),
      .op = INSN_LOAD, .size = 4, .dst_size = 4, .reg = GPR_R15, MEM(NONE, GPR_R11, 4, 0) },
    { "movq 0x10(%rax,%r12,2),%rbx", BYTES(0x4a, 0x8b, 0x5c, 0x60, 0x10), .op = INSN_LOAD,
      .size = 8, .dst_size = 8, .reg = GPR_RBX, MEM(GPR_RAX, GPR_R12, 2, 0x10) },
    { "movl (%rbx,%r12,1),%eax", BYTES(0x42, 0x8b, 0x04, 0x23), .op = INSN_LOAD, .size = 4,
      .dst_size = 4, .reg = GPR_RAX, MEM(GPR_RBX, GPR_R12, 1, 0) },
    { "movl 0(%r13,%rax,2),%eax", BYTES(0x41, 0x8b, 0x44, 0x45, 0x00), .op = INSN_LOAD,
      .size = 4, .dst_size = 4, .reg = GPR_RAX, MEM(GPR_R13, GPR_RAX, 2, 0) },
    { "movl 0x4(%rsp),%eax", BYTES(0x8b, 0x44, 0x24, 0x04), .op = INSN_LOAD, .size = 4,
      .dst_size = 4, .reg = GPR_RAX, MEM(GPR_RSP, NONE, 1, 4) },
    { "movl %eax,0x1000", BYTES(0x89, 0x04, 0x25, 0x00, 0x10, 0x00, 0x00), .op = INSN_STORE,
      .size = 4, .reg = GPR_RAX, MEM(NONE, NONE, 1, 0x1000) },
    { "(hand) REX.B SIB base 101 mod 00: no base", BYTES(0x41, 0x8b, 0x04, 0x25, 0x00, 0x10,
      0x00, 0x00), .op = INSN_LOAD, .size = 4, .dst_size = 4, .reg = GPR_RAX,
      MEM(NONE, NONE, 1, 0x1000) },
    { "movw %cx,(%rdx)", BYTES(0x66, 0x89, 0x0a), .op = INSN_STORE, .size = 2, .reg = GPR_RCX,
      MEM(GPR_RDX, NONE, 1, 0) },
    { "movw 0x20(%rbp),%r10w", BYTES(0x66, 0x44, 0x8b, 0x55, 0x20), .op = INSN_LOAD,
      .size = 2, .dst_size = 2, .reg = GPR_R10, MEM(GPR_RBP, NONE, 1, 0x20) },
    { "(hand) REX then 66: REX ignored", BYTES(0x48, 0x66, 0x89, 0x03), .op = INSN_STORE,
      .size = 2, .reg = GPR_RAX, MEM(GPR_RBX, NONE, 1, 0) },
    { "(hand) 40 66 88 23: REX ignored, AH", BYTES(0x40, 0x66, 0x88, 0x23), .op = INSN_STORE,
      .size = 1, .reg = GPR_RAX, .high = true, MEM(GPR_RBX, NONE, 1, 0) },
    { "(hand) 48 41 89 03: last REX wins", BYTES(0x48, 0x41, 0x89, 0x03), .op = INSN_STORE,
      .size = 4, .reg = GPR_RAX, MEM(GPR_R11, NONE, 1, 0) },
    /* RIP-relative */
    { "movl 0x1234(%rip),%eax", BYTES(0x8b, 0x05, 0x34, 0x12, 0x00, 0x00), .op = INSN_LOAD,
      .size = 4, .dst_size = 4, .reg = GPR_RAX, MEM(RIP, NONE, 1, 0x1234) },
    { "movq 0x1234(%rip),%r14", BYTES(0x4c, 0x8b, 0x35, 0x34, 0x12, 0x00, 0x00),
      .op = INSN_LOAD, .size = 8, .dst_size = 8, .reg = GPR_R14, MEM(RIP, NONE, 1, 0x1234) },
    { "(hand) REX.B rm 101 mod 00: still RIP", BYTES(0x41, 0x8b, 0x05, 0xf0, 0xff, 0xff, 0xff),
      .op = INSN_LOAD, .size = 4, .dst_size = 4, .reg = GPR_RAX, MEM(RIP, NONE, 1, -0x10) },
    { "movl 0x10(%eip),%eax", BYTES(0x67, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00),
      .op = INSN_LOAD, .size = 4, .dst_size = 4, .reg = GPR_RAX, .a32 = true,
      MEM(RIP, NONE, 1, 0x10) },
    { "movl %eax,(%eax)", BYTES(0x67, 0x89, 0x00), .op = INSN_STORE, .size = 4,
      .reg = GPR_RAX, .a32 = true, MEM(GPR_RAX, NONE, 1, 0) },
    /* MOV r/m, imm */
    { "movw $0x8000,(%rax)", BYTES(0x66, 0xc7, 0x00, 0x00, 0x80), .op = INSN_STORE_IMM,
      .size = 2, .reg = NONE, MEM(GPR_RAX, NONE, 1, 0), .imm = 0x8000 },
    { "movl $0x12345678,0x8(%rsp)", BYTES(0xc7, 0x44, 0x24, 0x08, 0x78, 0x56, 0x34, 0x12),
      .op = INSN_STORE_IMM, .size = 4, .reg = NONE, MEM(GPR_RSP, NONE, 1, 8),
      .imm = 0x12345678 },
    { "movq $-2,(%rax)", BYTES(0x48, 0xc7, 0x00, 0xfe, 0xff, 0xff, 0xff), .op = INSN_STORE_IMM,
      .size = 8, .reg = NONE, MEM(GPR_RAX, NONE, 1, 0), .imm = 0xfffffffffffffffeull },
    { "movb $0xab,0(%rip)", BYTES(0xc6, 0x05, 0x00, 0x00, 0x00, 0x00, 0xab),
      .op = INSN_STORE_IMM, .size = 1, .reg = NONE, MEM(RIP, NONE, 1, 0), .imm = 0xab },
    /* MOVZX / MOVSX / MOVSXD */
    { "movzbl (%rsi),%eax", BYTES(0x0f, 0xb6, 0x06), .op = INSN_LOAD_ZX, .size = 1,
      .dst_size = 4, .reg = GPR_RAX, MEM(GPR_RSI, NONE, 1, 0) },
    { "movzwl 4(%rdi),%edx", BYTES(0x0f, 0xb7, 0x57, 0x04), .op = INSN_LOAD_ZX, .size = 2,
      .dst_size = 4, .reg = GPR_RDX, MEM(GPR_RDI, NONE, 1, 4) },
    { "movzbw (%rax),%ax", BYTES(0x66, 0x0f, 0xb6, 0x00), .op = INSN_LOAD_ZX, .size = 1,
      .dst_size = 2, .reg = GPR_RAX, MEM(GPR_RAX, NONE, 1, 0) },
    { "movzbq (%rax),%r8", BYTES(0x4c, 0x0f, 0xb6, 0x00), .op = INSN_LOAD_ZX, .size = 1,
      .dst_size = 8, .reg = GPR_R8, MEM(GPR_RAX, NONE, 1, 0) },
    { "movsbl (%rax),%ecx", BYTES(0x0f, 0xbe, 0x08), .op = INSN_LOAD_SX, .size = 1,
      .dst_size = 4, .reg = GPR_RCX, MEM(GPR_RAX, NONE, 1, 0) },
    { "movswq (%rbx),%rsi", BYTES(0x48, 0x0f, 0xbf, 0x33), .op = INSN_LOAD_SX, .size = 2,
      .dst_size = 8, .reg = GPR_RSI, MEM(GPR_RBX, NONE, 1, 0) },
    { "movsbw (%rax),%di (reg 7 is DI, not BH)", BYTES(0x66, 0x0f, 0xbe, 0x38),
      .op = INSN_LOAD_SX, .size = 1, .dst_size = 2, .reg = GPR_RDI, MEM(GPR_RAX, NONE, 1, 0) },
    { "movslq 8(%rcx),%rax", BYTES(0x48, 0x63, 0x41, 0x08), .op = INSN_LOAD_SX, .size = 4,
      .dst_size = 8, .reg = GPR_RAX, MEM(GPR_RCX, NONE, 1, 8) },
    { "(hand) 63 without REX.W", BYTES(0x63, 0x03), .op = INSN_LOAD, .size = 4, .dst_size = 4,
      .reg = GPR_RAX, MEM(GPR_RBX, NONE, 1, 0) },
    /* moffs */
    { "movabs 0x1122334455667788,%al", BYTES(0xa0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22,
      0x11), .op = INSN_LOAD, .size = 1, .dst_size = 1, .reg = GPR_RAX,
      MEM(NONE, NONE, 1, 0x1122334455667788) },
    { "movabs 0x1122334455667788,%rax", BYTES(0x48, 0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33,
      0x22, 0x11), .op = INSN_LOAD, .size = 8, .dst_size = 8, .reg = GPR_RAX,
      MEM(NONE, NONE, 1, 0x1122334455667788) },
    { "movabs %eax,0xfedcba9876543210", BYTES(0xa3, 0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc,
      0xfe), .op = INSN_STORE, .size = 4, .reg = GPR_RAX,
      MEM(NONE, NONE, 1, (int64_t)0xfedcba9876543210ull) },
    { "movabs %ax,0xfee00000", BYTES(0x66, 0xa3, 0x00, 0x00, 0xe0, 0xfe, 0, 0, 0, 0),
      .op = INSN_STORE, .size = 2, .reg = GPR_RAX, MEM(NONE, NONE, 1, 0xfee00000) },
    { "addr32 mov 0x92345678,%eax", BYTES(0x67, 0xa1, 0x78, 0x56, 0x34, 0x92), .op = INSN_LOAD,
      .size = 4, .dst_size = 4, .reg = GPR_RAX, .a32 = true, MEM(NONE, NONE, 1, 0x92345678) },
    /* string ops */
    { "rep stosb", BYTES(0xf3, 0xaa), .op = INSN_STOS, .size = 1, .reg = GPR_RAX, .rep = true,
      MEM(GPR_RDI, NONE, 1, 0) },
    { "rep stosl", BYTES(0xf3, 0xab), .op = INSN_STOS, .size = 4, .reg = GPR_RAX, .rep = true,
      MEM(GPR_RDI, NONE, 1, 0) },
    { "rep stosq", BYTES(0xf3, 0x48, 0xab), .op = INSN_STOS, .size = 8, .reg = GPR_RAX,
      .rep = true, MEM(GPR_RDI, NONE, 1, 0) },
    { "stosw", BYTES(0x66, 0xab), .op = INSN_STOS, .size = 2, .reg = GPR_RAX,
      MEM(GPR_RDI, NONE, 1, 0) },
    { "rep stosb (%edi)", BYTES(0x67, 0xf3, 0xaa), .op = INSN_STOS, .size = 1, .reg = GPR_RAX,
      .rep = true, .a32 = true, MEM(GPR_RDI, NONE, 1, 0) },
    { "(hand) fs stosb: override ignored", BYTES(0x64, 0xaa), .op = INSN_STOS, .size = 1,
      .reg = GPR_RAX, MEM(GPR_RDI, NONE, 1, 0) },
    { "rep movsb", BYTES(0xf3, 0xa4), .op = INSN_MOVS, .size = 1, .reg = NONE, .rep = true,
      MEM(GPR_RSI, NONE, 1, 0) },
    { "movsq", BYTES(0x48, 0xa5), .op = INSN_MOVS, .size = 8, .reg = NONE,
      MEM(GPR_RSI, NONE, 1, 0) },
    { "rep movsw", BYTES(0x66, 0xf3, 0xa5), .op = INSN_MOVS, .size = 2, .reg = NONE,
      .rep = true, MEM(GPR_RSI, NONE, 1, 0) },
    { "movsb %fs:(%rsi),%es:(%rdi)", BYTES(0x64, 0xa4), .op = INSN_MOVS, .size = 1,
      .reg = NONE, .seg = 'f', MEM(GPR_RSI, NONE, 1, 0) },
    /* segment overrides */
    { "movl %fs:0x28,%eax", BYTES(0x64, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00),
      .op = INSN_LOAD, .size = 4, .dst_size = 4, .reg = GPR_RAX, .seg = 'f',
      MEM(NONE, NONE, 1, 0x28) },
    { "movl %gs:(%rax),%ecx", BYTES(0x65, 0x8b, 0x08), .op = INSN_LOAD, .size = 4,
      .dst_size = 4, .reg = GPR_RCX, .seg = 'g', MEM(GPR_RAX, NONE, 1, 0) },
    { "(hand) 64 65 8b 00: last override wins", BYTES(0x64, 0x65, 0x8b, 0x00), .op = INSN_LOAD,
      .size = 4, .dst_size = 4, .reg = GPR_RAX, .seg = 'g', MEM(GPR_RAX, NONE, 1, 0) },
    /* CMP / TEST */
    { "cmpb %al,(%rbx)", BYTES(0x38, 0x03), .op = INSN_CMP, .size = 1, .reg = GPR_RAX,
      MEM(GPR_RBX, NONE, 1, 0) },
    { "cmpl (%rbx),%ecx", BYTES(0x3b, 0x0b), .op = INSN_CMP_REV, .size = 4, .reg = GPR_RCX,
      MEM(GPR_RBX, NONE, 1, 0) },
    { "cmpl $0x1000,(%rax)", BYTES(0x81, 0x38, 0x00, 0x10, 0x00, 0x00), .op = INSN_CMP,
      .size = 4, .reg = NONE, MEM(GPR_RAX, NONE, 1, 0), .imm = 0x1000 },
    { "cmpq $-1,8(%rdx)", BYTES(0x48, 0x83, 0x7a, 0x08, 0xff), .op = INSN_CMP, .size = 8,
      .reg = NONE, MEM(GPR_RDX, NONE, 1, 8), .imm = ~0ull },
    { "cmpb $0x80,(%rax)", BYTES(0x80, 0x38, 0x80), .op = INSN_CMP, .size = 1, .reg = NONE,
      MEM(GPR_RAX, NONE, 1, 0), .imm = 0x80 },
    { "cmpw $5,(%rax)", BYTES(0x66, 0x83, 0x38, 0x05), .op = INSN_CMP, .size = 2, .reg = NONE,
      MEM(GPR_RAX, NONE, 1, 0), .imm = 5 },
    { "testl %eax,(%rdx)", BYTES(0x85, 0x02), .op = INSN_TEST, .size = 4, .reg = GPR_RAX,
      MEM(GPR_RDX, NONE, 1, 0) },
    { "testb $0x40,(%rsi)", BYTES(0xf6, 0x06, 0x40), .op = INSN_TEST, .size = 1, .reg = NONE,
      MEM(GPR_RSI, NONE, 1, 0), .imm = 0x40 },
    { "testq $0x100,(%rdi)", BYTES(0x48, 0xf7, 0x07, 0x00, 0x01, 0x00, 0x00), .op = INSN_TEST,
      .size = 8, .reg = NONE, MEM(GPR_RDI, NONE, 1, 0), .imm = 0x100 },
    { "testw $0x1234,(%rdi)", BYTES(0x66, 0xf7, 0x07, 0x34, 0x12), .op = INSN_TEST, .size = 2,
      .reg = NONE, MEM(GPR_RDI, NONE, 1, 0), .imm = 0x1234 },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

#define EXPECT(c, field, got, want) do { \
    if ((long long)(got) != (long long)(want)) \
        fail_msg("%s: %s = %#llx, want %#llx", (c)->text, field, \
                 (unsigned long long)(got), (unsigned long long)(want)); \
} while (0)

static void check_case(const struct dcase *c, const struct insn *in)
{
    int8_t seg = c->seg == 'f' ? INSN_SEG_FS : c->seg == 'g' ? INSN_SEG_GS : -1;

    EXPECT(c, "len", in->len, c->n);
    EXPECT(c, "op", in->op, c->op);
    EXPECT(c, "size", in->size, c->size);
    EXPECT(c, "dst_size", in->dst_size, c->dst_size);
    EXPECT(c, "reg", in->reg, c->reg);
    EXPECT(c, "high_byte", in->high_byte, c->high);
    EXPECT(c, "rep", in->rep, c->rep);
    EXPECT(c, "addr_size", in->addr_size, c->a32 ? 4 : 8);
    EXPECT(c, "seg", in->seg, seg);
    EXPECT(c, "base", in->base, c->base);
    EXPECT(c, "index", in->index, c->index);
    EXPECT(c, "scale", in->scale, c->scale);
    EXPECT(c, "disp", in->disp, c->disp);
    EXPECT(c, "imm", in->imm, c->imm);
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCASES; i++) {
        const struct dcase *c = &cases[i];
        uint8_t padded[32];
        struct insn in;
        int rc = decode_exact(c->b, c->n, &in);

        if (rc)
            fail_msg("%s: rc %d", c->text, rc);
        check_case(c, &in);
        /* Trailing bytes must not change the result. */
        memset(padded, 0xcc, sizeof(padded));
        memcpy(padded, c->b, c->n);
        assert_int_equal(decode_exact(padded, sizeof(padded), &in), 0);
        check_case(c, &in);
    }
}

static void test_truncated(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCASES; i++) {
        for (size_t k = 0; k < cases[i].n; k++) {
            struct insn in;
            int rc = decode_exact(cases[i].b, k, &in);

            if (rc != -EINVAL)
                fail_msg("%s: %zu of %u bytes: rc %d", cases[i].text, k, cases[i].n, rc);
        }
    }
}

static void test_register_direct_rejected(void **state)
{
    struct insn in;

    (void)state;
    assert_int_equal(DECODE(&in, 0x89, 0xc0), -EINVAL);                    /* mov %eax,%eax */
    assert_int_equal(DECODE(&in, 0x8b, 0xc3), -EINVAL);                    /* mov %ebx,%eax */
    assert_int_equal(DECODE(&in, 0x40, 0x88, 0xe0), -EINVAL);              /* mov %spl,%al */
    assert_int_equal(DECODE(&in, 0x0f, 0xb6, 0xc0), -EINVAL);              /* movzbl %al,%eax */
    assert_int_equal(DECODE(&in, 0x48, 0x63, 0xc0), -EINVAL);              /* movslq %eax,%rax */
    assert_int_equal(DECODE(&in, 0xc7, 0xc0, 1, 0, 0, 0), -EINVAL);        /* mov $1,%eax */
    assert_int_equal(DECODE(&in, 0x83, 0xf8, 0x01), -EINVAL);              /* cmp $1,%eax */
    assert_int_equal(DECODE(&in, 0x85, 0xc0), -EINVAL);                    /* test %eax,%eax */
}

static void test_lock_rejected(void **state)
{
    struct insn in;

    (void)state;
    assert_int_equal(DECODE(&in, 0xf0, 0x89, 0x03), -EINVAL);
    assert_int_equal(DECODE(&in, 0xf0, 0x8b, 0x03), -EINVAL);
    assert_int_equal(DECODE(&in, 0xf0, 0xc6, 0x00, 0x01), -EINVAL);
    assert_int_equal(DECODE(&in, 0xf0, 0xf3, 0xaa), -EINVAL);
    assert_int_equal(DECODE(&in, 0xf0, 0x38, 0x03), -EINVAL);
    /* lock add %eax,(%rbx) is a valid locked RMW, just not emulated */
    assert_int_equal(DECODE(&in, 0xf0, 0x01, 0x03), -ENOTSUP);
}

static void test_length_limit(void **state)
{
    uint8_t b[32];
    struct insn in;

    (void)state;
    /* 13 x 66 + 89 03 = 15 bytes: legal */
    memset(b, 0x66, 13);
    b[13] = 0x89;
    b[14] = 0x03;
    assert_int_equal(decode_exact(b, 15, &in), 0);
    assert_int_equal(in.len, 15);
    assert_int_equal(in.size, 2);
    /* 14 x 66 + 89 03 = 16 bytes: #GP */
    memset(b, 0x66, 14);
    b[14] = 0x89;
    b[15] = 0x03;
    assert_int_equal(decode_exact(b, 16, &in), -EINVAL);
    /* Prefixes only, more than 15 */
    memset(b, 0x2e, sizeof(b));
    assert_int_equal(decode_exact(b, sizeof(b), &in), -EINVAL);
    /* N x 2e + movq $imm32, disp32(%rax) (11 bytes): 4 prefixes fit, 5 do not */
    for (unsigned n = 4; n <= 5; n++) {
        const uint8_t tail[] = { 0x48, 0xc7, 0x80, 1, 2, 3, 4, 5, 6, 7, 8 };

        memset(b, 0x2e, n);
        memcpy(b + n, tail, sizeof(tail));
        assert_int_equal(decode_exact(b, n + sizeof(tail), &in), n == 4 ? 0 : -EINVAL);
    }
    assert_int_equal(in.len, 0);    /* failed decode leaves no length behind */
    assert_int_equal(decode_exact(b, 0, &in), -EINVAL);
    assert_int_equal(DECODE(&in, 0x66, 0x67, 0x48), -EINVAL);
}

static void test_unsupported(void **state)
{
    struct insn in;

    (void)state;
    assert_int_equal(DECODE(&in, 0x01, 0x03), -ENOTSUP);                   /* add */
    assert_int_equal(DECODE(&in, 0x87, 0x03), -ENOTSUP);                   /* xchg */
    assert_int_equal(DECODE(&in, 0x0f, 0x10, 0x00), -ENOTSUP);             /* movups */
    assert_int_equal(DECODE(&in, 0xf3, 0x0f, 0xb8, 0x00), -ENOTSUP);       /* popcnt */
    assert_int_equal(DECODE(&in, 0xc5, 0xfe, 0x6f, 0x00), -ENOTSUP);       /* vmovdqu */
    assert_int_equal(DECODE(&in, 0x80, 0x00, 0x01), -ENOTSUP);             /* addb $1,(%rax) */
    assert_int_equal(DECODE(&in, 0xf6, 0x10), -ENOTSUP);                   /* notb (%rax) */
    assert_int_equal(DECODE(&in, 0xc6, 0xf8, 0x01), -ENOTSUP);             /* xabort */
    assert_int_equal(DECODE(&in, 0xc7, 0xf8, 0, 0, 0, 0), -ENOTSUP);       /* xbegin */
    assert_int_equal(DECODE(&in, 0xf2, 0xaa), -ENOTSUP);                   /* repne stos */
    assert_int_equal(DECODE(&in, 0xf3, 0x89, 0x03), -ENOTSUP);             /* xrelease mov */
    assert_int_equal(DECODE(&in, 0xf2, 0x8b, 0x03), -ENOTSUP);
    /* C6 /1../7 other than F8 are #UD */
    assert_int_equal(DECODE(&in, 0xc6, 0x08, 0x01), -EINVAL);
    assert_int_equal(DECODE(&in, 0xc7, 0x38, 0, 0, 0, 0), -EINVAL);
    /* truncated 0F escape */
    assert_int_equal(DECODE(&in, 0x0f), -EINVAL);
}

static struct insn decode_ok(const uint8_t *b, size_t n)
{
    struct insn in;

    assert_int_equal(decode_exact(b, n, &in), 0);
    return in;
}
#define INSN(...) \
    decode_ok((const uint8_t[]){ __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ }))

static void test_store_value(void **state)
{
    uint64_t gpr[GPR_COUNT] = { 0 };
    struct insn in;

    (void)state;
    gpr[GPR_RAX] = 0x1122334455667788ull;
    gpr[GPR_RSI] = 0xfedcba9876543210ull;
    gpr[GPR_RCX] = 0xaaaabbbbccccddddull;
    gpr[GPR_R9] = 0x0123456789abcdefull;
    in = INSN(0x88, 0x23);                                         /* movb %ah,(%rbx) */
    assert_int_equal(insn_store_value(&in, gpr), 0x77);
    in = INSN(0x40, 0x88, 0x37);                                   /* movb %sil,(%rdi) */
    assert_int_equal(insn_store_value(&in, gpr), 0x10);
    in = INSN(0x66, 0x89, 0x0a);                                   /* movw %cx,(%rdx) */
    assert_int_equal(insn_store_value(&in, gpr), 0xdddd);
    in = INSN(0x89, 0x43, 0x10);                                   /* movl %eax,0x10(%rbx) */
    assert_int_equal(insn_store_value(&in, gpr), 0x55667788);
    in = INSN(0x4d, 0x89, 0x8d, 0x78, 0x56, 0x34, 0x12);           /* movq %r9,... */
    assert_int_equal(insn_store_value(&in, gpr), 0x0123456789abcdefull);
    in = INSN(0x48, 0xc7, 0x00, 0xfe, 0xff, 0xff, 0xff);           /* movq $-2,(%rax) */
    assert_int_equal(insn_store_value(&in, gpr), 0xfffffffffffffffeull);
    in = INSN(0xc7, 0x00, 0xfe, 0xff, 0xff, 0xff);                 /* movl $-2,(%rax) */
    assert_int_equal(insn_store_value(&in, gpr), 0xfffffffeull);
    in = INSN(0xf3, 0x66, 0xab);                                   /* rep stosw */
    assert_int_equal(insn_store_value(&in, gpr), 0x7788);
    in = INSN(0xa2, 0, 0, 0, 0, 0, 0, 0, 0);                       /* movabs %al,0 */
    assert_int_equal(insn_store_value(&in, gpr), 0x88);
}

static uint64_t load(uint64_t before, const struct insn *in, uint64_t value)
{
    uint64_t gpr[GPR_COUNT];

    for (unsigned i = 0; i < GPR_COUNT; i++)
        gpr[i] = 0x5a5a5a5a5a5a5a5aull + i;
    gpr[in->reg] = before;
    insn_load_complete(in, gpr, value);
    for (unsigned i = 0; i < GPR_COUNT; i++)
        if ((int)i != in->reg)
            assert_int_equal(gpr[i], 0x5a5a5a5a5a5a5a5aull + i);
    return gpr[in->reg];
}

static void test_load_complete(void **state)
{
    const uint64_t ones = ~0ull, pat = 0x1111111111111111ull;
    struct insn in;

    (void)state;
    in = INSN(0x8a, 0x30);                                         /* movb (%rax),%dh */
    assert_int_equal(load(pat, &in, 0x12ab), 0x111111111111ab11ull);
    in = INSN(0x41, 0x8a, 0x45, 0x00);                             /* movb (%r13),%al */
    assert_int_equal(load(pat, &in, 0x12ab), 0x11111111111111abull);
    in = INSN(0x66, 0x44, 0x8b, 0x55, 0x20);                       /* movw ..,%r10w */
    assert_int_equal(load(pat, &in, 0xffff8000ull), 0x1111111111118000ull);
    in = INSN(0x8b, 0x05, 0x34, 0x12, 0x00, 0x00);                 /* movl ..,%eax */
    assert_int_equal(load(ones, &in, 0x80000000ull), 0x80000000ull);
    in = INSN(0x4c, 0x8b, 0x35, 0x34, 0x12, 0x00, 0x00);           /* movq ..,%r14 */
    assert_int_equal(load(pat, &in, 0x8877665544332211ull), 0x8877665544332211ull);
    in = INSN(0x0f, 0xb6, 0x06);                                   /* movzbl */
    assert_int_equal(load(ones, &in, 0xff80), 0x80);
    in = INSN(0x66, 0x0f, 0xb6, 0x00);                             /* movzbw */
    assert_int_equal(load(ones, &in, 0x80), 0xffffffffffff0080ull);
    in = INSN(0x4c, 0x0f, 0xb6, 0x00);                             /* movzbq */
    assert_int_equal(load(ones, &in, 0xfe), 0xfe);
    in = INSN(0x0f, 0xbe, 0x08);                                   /* movsbl */
    assert_int_equal(load(ones, &in, 0x80), 0xffffff80ull);
    assert_int_equal(load(ones, &in, 0x7f), 0x7f);
    in = INSN(0x48, 0x0f, 0xbf, 0x33);                             /* movswq */
    assert_int_equal(load(0, &in, 0x8000), 0xffffffffffff8000ull);
    in = INSN(0x66, 0x0f, 0xbe, 0x38);                             /* movsbw ..,%di */
    assert_int_equal(load(pat, &in, 0x80), 0x111111111111ff80ull);
    in = INSN(0x48, 0x63, 0x41, 0x08);                             /* movslq */
    assert_int_equal(load(0, &in, 0x80000000ull), 0xffffffff80000000ull);
    assert_int_equal(load(ones, &in, 0x7fffffffull), 0x7fffffffull);
    in = INSN(0x63, 0x03);                                         /* movsxd, no REX.W */
    assert_int_equal(load(ones, &in, 0x80000000ull), 0x80000000ull);
    in = INSN(0xa0, 0, 0, 0, 0, 0, 0, 0, 0);                       /* movabs ..,%al */
    assert_int_equal(load(pat, &in, 0x99), 0x1111111111111199ull);
    in = INSN(0x89, 0x43, 0x10);                                   /* a store: no effect */
    assert_int_equal(load(pat, &in, 0x99), pat);
}

static void test_effective_addr(void **state)
{
    uint64_t gpr[GPR_COUNT] = { 0 };
    struct insn in;

    (void)state;
    gpr[GPR_RAX] = 0x1000;
    gpr[GPR_RCX] = 0x2000;
    gpr[GPR_R12] = 0x10;
    gpr[GPR_RSI] = 0x3000;
    gpr[GPR_RDI] = 0x4000;
    in = INSN(0x4a, 0x8b, 0x5c, 0x60, 0x10);                       /* 0x10(%rax,%r12,2) */
    assert_int_equal(insn_effective_addr(&in, gpr, 0), 0x1030);
    in = INSN(0x88, 0x79, 0x80);                                   /* -0x80(%rcx) */
    assert_int_equal(insn_effective_addr(&in, gpr, 0), 0x1f80);
    in = INSN(0x48, 0x8b, 0x14, 0xcd, 0x00, 0x01, 0x00, 0x00);     /* 0x100(,%rcx,8) */
    assert_int_equal(insn_effective_addr(&in, gpr, 0), 0x10100);
    in = INSN(0x8b, 0x05, 0x34, 0x12, 0x00, 0x00);                 /* 0x1234(%rip) */
    assert_int_equal(insn_effective_addr(&in, gpr, 0x400000 + in.len), 0x40123a);
    in = INSN(0x41, 0x8b, 0x05, 0xf0, 0xff, 0xff, 0xff);           /* -0x10(%rip) */
    assert_int_equal(insn_effective_addr(&in, gpr, 0x400007), 0x3ffff7);
    in = INSN(0xa3, 0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe);
    assert_int_equal(insn_effective_addr(&in, gpr, 0), 0xfedcba9876543210ull);
    in = INSN(0x67, 0xa1, 0x78, 0x56, 0x34, 0x92);                 /* addr32 moffs */
    assert_int_equal(insn_effective_addr(&in, gpr, 0), 0x92345678);
    /* 0x67 truncates to 32 bits, also the EIP-relative sum */
    gpr[GPR_RAX] = 0xffffffff00001000ull;
    in = INSN(0x67, 0x89, 0x00);
    assert_int_equal(insn_effective_addr(&in, gpr, 0), 0x1000);
    in = INSN(0x67, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00);
    assert_int_equal(insn_effective_addr(&in, gpr, 0xfffffffcull), 0xc);
    /* 64-bit wrap-around is modular, not UB */
    gpr[GPR_RAX] = 0xfffffffffffffff0ull;
    in = INSN(0x89, 0x40, 0x20);                                   /* 0x20(%rax) */
    assert_int_equal(insn_effective_addr(&in, gpr, 0), 0x10);
    in = INSN(0xf3, 0xab);
    assert_int_equal(insn_effective_addr(&in, gpr, 0), 0x4000);
    in = INSN(0xf3, 0xa4);
    assert_int_equal(insn_effective_addr(&in, gpr, 0), 0x3000);
    assert_int_equal(insn_string_dst_addr(&in, gpr), 0x4000);
}

static void test_string_step(void **state)
{
    uint64_t gpr[GPR_COUNT] = { 0 };
    struct insn in;

    (void)state;
    in = INSN(0xf3, 0xab);                                         /* rep stosl, DF=0 */
    gpr[GPR_RDI] = 0x1000;
    gpr[GPR_RSI] = 0x7777;
    gpr[GPR_RCX] = 2;
    assert_true(insn_string_step(&in, gpr, 0x202));
    assert_int_equal(gpr[GPR_RDI], 0x1004);
    assert_int_equal(gpr[GPR_RCX], 1);
    assert_false(insn_string_step(&in, gpr, 0x202));
    assert_int_equal(gpr[GPR_RDI], 0x1008);
    assert_int_equal(gpr[GPR_RCX], 0);
    assert_int_equal(gpr[GPR_RSI], 0x7777);                        /* STOS leaves rSI */

    in = INSN(0x66, 0xf3, 0xa5);                                   /* rep movsw, DF=1 */
    gpr[GPR_RSI] = 0x2000;
    gpr[GPR_RDI] = 0x3000;
    gpr[GPR_RCX] = 5;
    assert_true(insn_string_step(&in, gpr, 0x202 | RFLAGS_DF));
    assert_int_equal(gpr[GPR_RSI], 0x1ffe);
    assert_int_equal(gpr[GPR_RDI], 0x2ffe);
    assert_int_equal(gpr[GPR_RCX], 4);

    in = INSN(0x48, 0xa5);                                         /* movsq, no rep */
    gpr[GPR_RSI] = 0;
    gpr[GPR_RDI] = 0x10;
    assert_false(insn_string_step(&in, gpr, RFLAGS_DF));
    assert_int_equal(gpr[GPR_RSI], 0xfffffffffffffff8ull);
    assert_int_equal(gpr[GPR_RDI], 0x8);
    assert_int_equal(gpr[GPR_RCX], 4);                             /* untouched */

    in = INSN(0x67, 0xf3, 0xaa);                                   /* rep stosb (%edi) */
    gpr[GPR_RDI] = 0x1ffffffffull;
    gpr[GPR_RCX] = 0x100000002ull;
    assert_true(insn_string_step(&in, gpr, 0));
    assert_int_equal(gpr[GPR_RDI], 0);                             /* EDI wraps, zero-extends */
    assert_int_equal(gpr[GPR_RCX], 1);
    assert_false(insn_string_step(&in, gpr, 0));
    assert_int_equal(gpr[GPR_RCX], 0);

    in = INSN(0x89, 0x03);                                         /* not a string op */
    gpr[GPR_RDI] = 5;
    assert_false(insn_string_step(&in, gpr, 0));
    assert_int_equal(gpr[GPR_RDI], 5);
}

#define CF 0x1u
#define PF 0x4u
#define AF 0x10u
#define ZF 0x40u
#define SF 0x80u
#define OF 0x800u

static void test_flags(void **state)
{
    uint64_t gpr[GPR_COUNT] = { 0 };
    const uint64_t base = 0x202 | RFLAGS_DF;
    struct insn in;

    (void)state;
    in = INSN(0x38, 0x03);                                         /* cmpb %al,(%rbx) */
    gpr[GPR_RAX] = 0xff20;
    assert_int_equal(insn_flags_complete(&in, gpr, 0x10, base), base | CF | SF | PF);
    assert_int_equal(insn_flags_complete(&in, gpr, 0x20, base | CF | OF), base | ZF | PF);
    in = INSN(0x3b, 0x0b);                                         /* cmpl (%rbx),%ecx */
    gpr[GPR_RCX] = 0x80000000;
    assert_int_equal(insn_flags_complete(&in, gpr, 1, base), base | OF | AF | PF);
    in = INSN(0x48, 0x83, 0x7a, 0x08, 0xff);                       /* cmpq $-1,8(%rdx) */
    assert_int_equal(insn_flags_complete(&in, gpr, 0, base), base | CF | AF);
    in = INSN(0x80, 0x38, 0x80);                                   /* cmpb $0x80,(%rax) */
    assert_int_equal(insn_flags_complete(&in, gpr, 0x7f, base), base | CF | SF | OF | PF);
    in = INSN(0xf6, 0x06, 0x40);                                   /* testb $0x40,(%rsi) */
    assert_int_equal(insn_flags_complete(&in, gpr, 0x41, base | CF | OF | ZF), base);
    assert_int_equal(insn_flags_complete(&in, gpr, 0x01, base), base | ZF | PF);
    in = INSN(0x85, 0x02);                                         /* testl %eax,(%rdx) */
    gpr[GPR_RAX] = 0xffffffff80000003ull;
    assert_int_equal(insn_flags_complete(&in, gpr, 0xffffffff, base), base | SF | PF);
    in = INSN(0x89, 0x03);                                         /* not CMP/TEST */
    assert_int_equal(insn_flags_complete(&in, gpr, 0, base | CF), base | CF);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* 32-bit protected-mode code (a Multiboot kernel's LAPIC accesses, as gcc -m32 emits them). */
static void test_32bit_mode(void **state)
{
    struct insn in;
    (void)state;
    static const uint8_t ld_moffs[] = { 0xa1, 0x20, 0x00, 0xe0, 0xfe, 0xc7 };   /* + junk */
    assert_int_equal(insn_decode_mode(ld_moffs, sizeof(ld_moffs), 32, &in), 0);
    assert_int_equal(in.len, 5);
    assert_int_equal(in.op, INSN_LOAD);
    assert_int_equal(in.size, 4);
    assert_int_equal(in.disp, 0xfee00020);
    assert_int_equal(in.addr_size, 4);
    /* The same bytes in 64-bit mode take an 8-byte moffs: what went wrong before. */
    static const uint8_t ld_moffs64[] = { 0xa1, 0x20, 0x00, 0xe0, 0xfe, 0, 0, 0, 0 };
    assert_int_equal(insn_decode(ld_moffs64, sizeof(ld_moffs64), &in), 0);
    assert_int_equal(in.len, 9);
    static const uint8_t st_imm[] = { 0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00 };
    assert_int_equal(insn_decode_mode(st_imm, sizeof(st_imm), 32, &in), 0);
    assert_int_equal(in.len, 10);
    assert_int_equal(in.op, INSN_STORE_IMM);
    assert_int_equal(in.base, -1);                  /* absolute, not EIP-relative */
    assert_int_equal(in.disp, (int32_t)0xfee000f0);
    assert_int_equal(in.imm, 0x1ff);
    uint64_t gpr[GPR_COUNT] = { 0 };
    assert_int_equal(insn_effective_addr(&in, gpr, 0x100000), 0xfee000f0);
    static const uint8_t st_reg[] = { 0x89, 0x3d, 0x80, 0x00, 0xe0, 0xfe };      /* mov %edi */
    assert_int_equal(insn_decode_mode(st_reg, sizeof(st_reg), 32, &in), 0);
    assert_int_equal(in.len, 6);
    assert_int_equal(in.reg, GPR_RDI);
    static const uint8_t ld_sib[] = { 0x8b, 0x44, 0x24, 0xfc };                  /* -4(%esp) */
    assert_int_equal(insn_decode_mode(ld_sib, sizeof(ld_sib), 32, &in), 0);
    gpr[GPR_RSP] = 0x2;
    assert_int_equal(insn_effective_addr(&in, gpr, 0), 0xfffffffeull);         /* wraps at 4 GiB */
    /* 0x48 is DEC EAX there, not REX.W; 16-bit addressing, ARPL and 16-bit code: not emulated. */
    static const uint8_t dec[] = { 0x48, 0x89, 0x07 }, a16[] = { 0x67, 0x8b, 0x07 };
    static const uint8_t arpl[] = { 0x63, 0x07 };
    assert_int_equal(insn_decode_mode(dec, sizeof(dec), 32, &in), -ENOTSUP);
    assert_int_equal(insn_decode_mode(a16, sizeof(a16), 32, &in), -ENOTSUP);
    assert_int_equal(insn_decode_mode(arpl, sizeof(arpl), 32, &in), -ENOTSUP);
    assert_int_equal(insn_decode_mode(ld_sib, sizeof(ld_sib), 16, &in), -ENOTSUP);
}

/* Random bytes, half of them starting with a prefix or supported opcode so that many decode. */
static void test_random_robustness(void **state)
{
    static const uint8_t lead[] = { 0x66, 0x67, 0xf3, 0x48, 0x41, 0x4c, 0x64, 0x88, 0x89, 0x8a,
                                    0x8b, 0xc6, 0xc7, 0x0f, 0x63, 0xa1, 0xa3, 0xaa, 0xa5, 0x38,
                                    0x3b, 0x81, 0x83, 0x85, 0xf6, 0xf7 };
    unsigned ok = 0;

    (void)state;
    for (unsigned iter = 0; iter < 100000; iter++) {
        size_t len = rng() % 17;
        uint8_t *b = malloc(len ? len : 1);
        uint64_t gpr[GPR_COUNT];
        struct insn in;
        int rc;

        for (size_t i = 0; i < len; i++)
            b[i] = (uint8_t)rng();
        for (size_t i = 0; i < len && i < 3 && (rng() & 1); i++)
            b[i] = lead[rng() % sizeof(lead)];
        rc = insn_decode_mode(len ? b : NULL, len, (iter & 1) ? 32 : 64, &in);
        free(b);
        if (rc) {
            assert_true(rc == -EINVAL || rc == -ENOTSUP);
            continue;
        }
        ok++;
        assert_true(in.len >= 1 && in.len <= len && in.len <= INSN_MAX_LEN);
        assert_true(in.size == 1 || in.size == 2 || in.size == 4 || in.size == 8);
        assert_true(in.reg >= -1 && in.reg < GPR_COUNT);
        assert_true(in.base >= INSN_BASE_RIP && in.base < GPR_COUNT);
        assert_true(in.index >= -1 && in.index < GPR_COUNT);
        for (unsigned i = 0; i < GPR_COUNT; i++)
            gpr[i] = rng();
        insn_effective_addr(&in, gpr, rng());
        insn_store_value(&in, gpr);
        insn_load_complete(&in, gpr, rng());
        insn_flags_complete(&in, gpr, rng(), rng());
        insn_string_step(&in, gpr, rng());
    }
    assert_true(ok > 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_32bit_mode),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_register_direct_rejected),
        cmocka_unit_test(test_lock_rejected),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_store_value),
        cmocka_unit_test(test_load_complete),
        cmocka_unit_test(test_effective_addr),
        cmocka_unit_test(test_string_step),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_random_robustness),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
