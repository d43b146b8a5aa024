/*
 * 64-bit-mode instruction decoder for MMIO emulation (see decode.h). Every byte goes through
 * the cursor, which stops at min(len, 15): a read past it is either truncation or an
 * instruction over the 15-byte limit, and both are -EINVAL.
 */
#include <errno.h>
#include <string.h>

#include "hv/emul/decode.h"

#define REX_W 0x8
#define REX_R 0x4
#define REX_X 0x2
#define REX_B 0x1

#define FL_CF (1ull << 0)
#define FL_PF (1ull << 2)
#define FL_AF (1ull << 4)
#define FL_ZF (1ull << 6)
#define FL_SF (1ull << 7)
#define FL_OF (1ull << 11)
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

struct cursor {
    const uint8_t *code;
    size_t avail;          /* min(len, INSN_MAX_LEN) */
    size_t pos;            /* always <= avail */
};

struct prefixes {
    uint8_t rex;           /* REX immediately before the opcode, 0 if none */
    uint8_t rep;           /* last of F2/F3, 0 if none */
    bool opsz, adsz, lock;
    bool m32;              /* 32-bit protected mode: no REX, 32-bit addresses, absolute disp32 */
    int8_t seg;
};

static uint64_t size_mask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

static int peek(const struct cursor *c, uint8_t *b)
{
    if (c->pos >= c->avail)
        return -EINVAL;
    *b = c->code[c->pos];
    return 0;
}

static int fetch(struct cursor *c, uint8_t *b)
{
    int rc = peek(c, b);

    if (!rc)
        c->pos++;
    return rc;
}

/* Little-endian field of 1, 2, 4 or 8 bytes, sign-extended to 64 bits. */
static int fetch_signed(struct cursor *c, unsigned bytes, int64_t *v)
{
    uint64_t u = 0, sign;

    if (bytes > c->avail - c->pos)
        return -EINVAL;
    for (unsigned i = 0; i < bytes; i++)
        u |= (uint64_t)c->code[c->pos + i] << (8 * i);
    c->pos += bytes;
    sign = 1ull << (8 * bytes - 1);
    *v = (int64_t)((u ^ sign) - sign);
    return 0;
}

/* Operand size of a non-byte form: REX.W wins over 0x66 (SDM 2.2.1.2). */
static unsigned op_size(const struct prefixes *px)
{
    return (px->rex & REX_W) ? 8 : px->opsz ? 2 : 4;
}

/* Immediate of `size` (imm32 sign-extended for 64-bit operands), masked to size. */
static int fetch_imm(struct cursor *c, unsigned size, struct insn *out)
{
    int64_t v;
    int rc = fetch_signed(c, size == 8 ? 4 : size, &v);

    if (!rc)
        out->imm = (uint64_t)v & size_mask(size);
    return rc;
}

/* SDM 2.1.1, 2.2.1: legacy prefixes in any order, then at most one effective REX. */
static int decode_prefixes(struct cursor *c, struct prefixes *px, uint8_t *opc, bool m32)
{
    memset(px, 0, sizeof(*px));
    px->seg = -1;
    px->m32 = m32;
    for (;;) {
        uint8_t b;
        int rc = fetch(c, &b);

        if (rc)
            return rc;
        if (!px->m32 && (b & 0xf0) == 0x40) {   /* INC/DEC outside 64-bit mode */
            px->rex = b;            /* a later REX replaces an earlier one */
            continue;
        }
        switch (b) {
        case 0x66: px->opsz = true; break;
        case 0x67: px->adsz = true; break;
        case 0xf0: px->lock = true; break;
        case 0xf2: case 0xf3: px->rep = b; break;
        case 0x26: px->seg = INSN_SEG_ES; break;
        case 0x2e: px->seg = INSN_SEG_CS; break;
        case 0x36: px->seg = INSN_SEG_SS; break;
        case 0x3e: px->seg = INSN_SEG_DS; break;
        case 0x64: px->seg = INSN_SEG_FS; break;
        case 0x65: px->seg = INSN_SEG_GS; break;
        default:
            *opc = b;
            return 0;
        }
        px->rex = 0;                /* SDM 2.2.1: REX not right before the opcode is ignored */
    }
}

/* SIB byte (SDM Table 2-3, 2.2.1.2). Index 100 without REX.X is "no index"; base 101 with
 * mod=00 is "no base, disp32" whatever REX.B says. */
static int decode_sib(struct cursor *c, const struct prefixes *px, uint8_t mod,
                      struct insn *out, bool *disp32)
{
    uint8_t sib, idx, base;
    int rc = fetch(c, &sib);

    if (rc)
        return rc;
    idx = ((sib >> 3) & 7) | ((px->rex & REX_X) ? 8 : 0);
    base = sib & 7;
    if (idx != GPR_RSP) {
        out->index = (int8_t)idx;
        out->scale = (uint8_t)(1u << (sib >> 6));
    }
    if (base == 5 && mod == 0)
        *disp32 = true;
    else
        out->base = (int8_t)(base | ((px->rex & REX_B) ? 8 : 0));
    return 0;
}

/* ModRM memory operand with SIB and displacement; *regf gets the 3-bit reg field. mod=11 is a
 * register, not a memory access, so it cannot be what faulted: -EINVAL. */
static int decode_modrm(struct cursor *c, const struct prefixes *px, struct insn *out,
                        uint8_t *regf)
{
    uint8_t modrm, mod, rm;
    bool disp32;
    int rc = fetch(c, &modrm);

    if (rc)
        return rc;
    mod = modrm >> 6;
    rm = modrm & 7;
    *regf = (modrm >> 3) & 7;
    if (mod == 3)
        return -EINVAL;
    disp32 = mod == 2;
    out->scale = 1;
    if (rm == 4) {
        rc = decode_sib(c, px, mod, out, &disp32);
        if (rc)
            return rc;
    } else if (mod == 0 && rm == 5) {
        /* SDM 2.2.1.6: RIP-relative (EIP-relative with 0x67); in 32-bit mode an absolute disp32 */
        out->base = px->m32 ? -1 : INSN_BASE_RIP;
        disp32 = true;
    } else {
        out->base = (int8_t)(rm | ((px->rex & REX_B) ? 8 : 0));
    }
    if (mod == 1)
        return fetch_signed(c, 1, &out->disp);
    if (disp32)
        return fetch_signed(c, 4, &out->disp);
    return 0;
}

/* Register operand from ModRM.reg. An 8-bit register 4-7 without any REX is AH/CH/DH/BH;
 * with one (even 0x40) it is SPL/BPL/SIL/DIL (SDM 3.4.1.1). */
static void set_reg(struct insn *out, const struct prefixes *px, uint8_t regf, unsigned size)
{
    uint8_t r = regf | ((px->rex & REX_R) ? 8 : 0);

    out->high_byte = size == 1 && !px->rex && r >= 4;
    out->reg = (int8_t)(out->high_byte ? r - 4 : r);
}

/* The common "memory operand + ModRM.reg register" form. */
static int decode_rm_reg(struct cursor *c, const struct prefixes *px, struct insn *out,
                         enum insn_op op, unsigned mem_size, unsigned reg_size)
{
    uint8_t regf;
    int rc = decode_modrm(c, px, out, &regf);

    if (rc)
        return rc;
    out->op = op;
    out->size = (uint8_t)mem_size;
    set_reg(out, px, regf, reg_size);
    if (op == INSN_LOAD || op == INSN_LOAD_ZX || op == INSN_LOAD_SX)
        out->dst_size = (uint8_t)reg_size;
    return 0;
}

/* Memory operand + immediate, with ModRM.reg an opcode extension that must be `ext`.
 * imm_size 1 on a wider operand is an imm8 sign-extended to it (83 /7). */
static int decode_rm_imm(struct cursor *c, const struct prefixes *px, struct insn *out,
                         enum insn_op op, unsigned size, unsigned imm_size)
{
    uint8_t regf;
    int64_t v;
    int rc = decode_modrm(c, px, out, &regf);

    if (rc)
        return rc;
    out->op = op;
    out->size = (uint8_t)size;
    if (imm_size == size)
        return fetch_imm(c, size, out);
    rc = fetch_signed(c, imm_size, &v);
    if (!rc)
        out->imm = (uint64_t)v & size_mask(size);
    return rc;
}

/* Groups with an opcode extension in ModRM.reg: only `ext` is emulated. The others are valid
 * ALU ops (-ENOTSUP) except where the opcode map leaves them #UD (`ud_others`). */
static int check_ext(const struct cursor *c, uint8_t ext, bool ud_others)
{
    uint8_t modrm;
    int rc = peek(c, &modrm);

    if (rc)
        return rc;
    if (((modrm >> 3) & 7) == ext)
        return 0;
    return ud_others ? -EINVAL : -ENOTSUP;
}

/* C6/C7: group 11. /0 is MOV; C6 F8 / C7 F8 are XABORT / XBEGIN; the rest is #UD. */
static int decode_mov_imm(struct cursor *c, const struct prefixes *px, uint8_t opc,
                          struct insn *out)
{
    unsigned size = (opc & 1) ? op_size(px) : 1;
    uint8_t modrm;
    int rc = peek(c, &modrm);

    if (rc)
        return rc;
    if (modrm == 0xf8)
        return -ENOTSUP;
    rc = check_ext(c, 0, true);
    if (rc)
        return rc;
    return decode_rm_imm(c, px, out, INSN_STORE_IMM, size, size);
}

/* A0-A3: MOV between rAX and an absolute moffs (8 bytes, 4 zero-extended with 0x67). */
static int decode_moffs(struct cursor *c, const struct prefixes *px, uint8_t opc,
                        struct insn *out)
{
    unsigned size = (opc & 1) ? op_size(px) : 1;
    bool four = px->adsz || px->m32;
    int rc = fetch_signed(c, four ? 4 : 8, &out->disp);

    if (rc)
        return rc;
    if (four)
        out->disp = (int64_t)(uint32_t)out->disp;
    out->op = opc < 0xa2 ? INSN_LOAD : INSN_STORE;
    out->size = (uint8_t)size;
    out->reg = GPR_RAX;
    out->scale = 1;
    if (out->op == INSN_LOAD)
        out->dst_size = (uint8_t)size;
    return 0;
}

/* A4/A5 MOVS, AA/AB STOS. The destination is always ES:rDI (no override, SDM STOS). */
static int decode_string(const struct prefixes *px, uint8_t opc, struct insn *out)
{
    out->size = (uint8_t)((opc & 1) ? op_size(px) : 1);
    out->scale = 1;
    if (opc >= 0xaa) {
        out->op = INSN_STOS;
        out->reg = GPR_RAX;
        out->base = GPR_RDI;
        out->seg = -1;
    } else {
        out->op = INSN_MOVS;
        out->base = GPR_RSI;
    }
    return 0;
}

static int decode_0f(struct cursor *c, const struct prefixes *px, struct insn *out)
{
    unsigned osz = op_size(px);
    uint8_t opc;
    int rc = fetch(c, &opc);

    if (rc)
        return rc;
    switch (opc) {
    case 0xb6: return decode_rm_reg(c, px, out, INSN_LOAD_ZX, 1, osz);
    case 0xb7: return decode_rm_reg(c, px, out, INSN_LOAD_ZX, 2, osz);
    case 0xbe: return decode_rm_reg(c, px, out, INSN_LOAD_SX, 1, osz);
    case 0xbf: return decode_rm_reg(c, px, out, INSN_LOAD_SX, 2, osz);
    default: return -ENOTSUP;
    }
}

static int decode_opcode(struct cursor *c, const struct prefixes *px, uint8_t opc,
                         struct insn *out)
{
    unsigned osz = op_size(px), bsz = (opc & 1) ? osz : 1;
    int rc;

    switch (opc) {
    case 0x88: case 0x89: return decode_rm_reg(c, px, out, INSN_STORE, bsz, bsz);
    case 0x8a: case 0x8b: return decode_rm_reg(c, px, out, INSN_LOAD, bsz, bsz);
    case 0x38: case 0x39: return decode_rm_reg(c, px, out, INSN_CMP, bsz, bsz);
    case 0x3a: case 0x3b: return decode_rm_reg(c, px, out, INSN_CMP_REV, bsz, bsz);
    case 0x84: case 0x85: return decode_rm_reg(c, px, out, INSN_TEST, bsz, bsz);
    case 0x63:
        if (px->m32)
            return -ENOTSUP;        /* ARPL outside 64-bit mode */
        /* MOVSXD; without REX.W it is a plain 32/16-bit move (SDM MOVSXD). */
        if (px->rex & REX_W)
            return decode_rm_reg(c, px, out, INSN_LOAD_SX, 4, 8);
        return decode_rm_reg(c, px, out, INSN_LOAD, osz, osz);
    case 0xc6: case 0xc7: return decode_mov_imm(c, px, opc, out);
    case 0x80: case 0x81: case 0x83:
        rc = check_ext(c, 7, false);
        if (rc)
            return rc;
        return decode_rm_imm(c, px, out, INSN_CMP, bsz, opc == 0x83 ? 1 : bsz);
    case 0xf6: case 0xf7:
        rc = check_ext(c, 0, false);
        if (rc)
            return rc;
        return decode_rm_imm(c, px, out, INSN_TEST, bsz, bsz);
    case 0xa0: case 0xa1: case 0xa2: case 0xa3: return decode_moffs(c, px, opc, out);
    case 0xa4: case 0xa5: case 0xaa: case 0xab: return decode_string(px, opc, out);
    case 0x0f: return decode_0f(c, px, out);
    default: return -ENOTSUP;
    }
}

/* Prefixes that are legal in general but not on the decoded op. */
static int check_prefixes(const struct prefixes *px, struct insn *out)
{
    bool string = out->op == INSN_STOS || out->op == INSN_MOVS;

    if (px->lock)
        return -EINVAL;             /* SDM LOCK: #UD on MOV, CMP, TEST, string ops */
    if (string && px->rep == 0xf3)
        out->rep = true;
    else if (px->rep)
        return -ENOTSUP;            /* REPNE MOVS/STOS, or F2/F3 reserved/HLE on the rest */
    return 0;
}

int insn_decode_mode(const uint8_t *code, size_t len, unsigned bits, struct insn *out)
{
    struct cursor c = { .code = code, .avail = len < INSN_MAX_LEN ? len : INSN_MAX_LEN };
    struct prefixes px;
    uint8_t opc;
    int rc;

    memset(out, 0, sizeof(*out));
    out->reg = out->base = out->index = -1;
    if (bits != 64 && bits != 32)
        return -ENOTSUP;            /* 16-bit code (real mode, a 16-bit segment) */
    rc = decode_prefixes(&c, &px, &opc, bits == 32);
    if (rc)
        return rc;
    if (px.m32 && px.adsz)
        return -ENOTSUP;            /* 16-bit addressing forms */
    out->addr_size = px.adsz || px.m32 ? 4 : 8;
    out->seg = px.seg;
    rc = decode_opcode(&c, &px, opc, out);
    if (rc)
        return rc;
    rc = check_prefixes(&px, out);
    if (rc)
        return rc;
    out->len = (uint8_t)c.pos;
    return 0;
}

int insn_decode(const uint8_t *code, size_t len, struct insn *out)
{
    return insn_decode_mode(code, len, 64, out);
}

uint64_t insn_store_value(const struct insn *in, const uint64_t *gpr)
{
    uint64_t v;

    if (in->reg < 0)
        v = in->imm;
    else if (in->high_byte)
        v = gpr[in->reg] >> 8;
    else
        v = gpr[in->reg];
    return v & size_mask(in->size);
}

/* Register write of `size` bytes: 8/16-bit keep the rest, 32-bit zero-extends (SDM 3.4.1.1). */
static void write_reg(uint64_t *gpr, int reg, bool high, unsigned size, uint64_t v)
{
    uint64_t m = size_mask(size);

    if (high)
        gpr[reg] = (gpr[reg] & ~0xff00ull) | ((v & 0xff) << 8);
    else if (size == 4 || size == 8)
        gpr[reg] = v & m;
    else
        gpr[reg] = (gpr[reg] & ~m) | (v & m);
}

void insn_load_complete(const struct insn *in, uint64_t *gpr, uint64_t value)
{
    uint64_t sign;

    if (in->reg < 0 || !in->size)
        return;
    value &= size_mask(in->size);
    switch (in->op) {
    case INSN_LOAD:
        write_reg(gpr, in->reg, in->high_byte, in->size, value);
        break;
    case INSN_LOAD_ZX:
        write_reg(gpr, in->reg, false, in->dst_size, value);
        break;
    case INSN_LOAD_SX:
        sign = 1ull << (8 * in->size - 1);
        write_reg(gpr, in->reg, false, in->dst_size, (value ^ sign) - sign);
        break;
    default:
        break;
    }
}

static bool parity_even(uint64_t v)
{
    uint8_t p = (uint8_t)v;

    p ^= p >> 4;
    p ^= p >> 2;
    p ^= p >> 1;
    return !(p & 1);
}

uint64_t insn_flags_complete(const struct insn *in, const uint64_t *gpr, uint64_t value,
                             uint64_t rflags)
{
    uint64_t m = size_mask(in->size), src = insn_store_value(in, gpr), a, b, r, f = 0;
    unsigned top = 8u * in->size - 1;

    if (!in->size)
        return rflags;
    value &= m;
    if (in->op == INSN_TEST) {
        r = value & src;            /* SDM TEST: CF = OF = 0, AF undefined (we clear it) */
    } else if (in->op == INSN_CMP || in->op == INSN_CMP_REV) {
        a = in->op == INSN_CMP ? value : src;
        b = in->op == INSN_CMP ? src : value;
        r = (a - b) & m;
        if (a < b)
            f |= FL_CF;
        if (((a ^ b) & (a ^ r)) >> top & 1)
            f |= FL_OF;
        if ((a ^ b ^ r) & 0x10)
            f |= FL_AF;
    } else {
        return rflags;
    }
    if (!r)
        f |= FL_ZF;
    if (r >> top & 1)
        f |= FL_SF;
    if (parity_even(r))
        f |= FL_PF;
    return (rflags & ~FL_ARITH) | f;
}

static uint64_t addr_mask(const struct insn *in)
{
    return in->addr_size == 4 ? 0xffffffffull : ~0ull;
}

uint64_t insn_effective_addr(const struct insn *in, const uint64_t *gpr, uint64_t next_rip)
{
    uint64_t ea = (uint64_t)in->disp;

    if (in->base == INSN_BASE_RIP)
        ea += next_rip;
    else if (in->base >= 0)
        ea += gpr[in->base];
    if (in->index >= 0)
        ea += gpr[in->index] * in->scale;
    return ea & addr_mask(in);
}

uint64_t insn_string_dst_addr(const struct insn *in, const uint64_t *gpr)
{
    return gpr[GPR_RDI] & addr_mask(in);
}

bool insn_string_step(const struct insn *in, uint64_t *gpr, uint64_t rflags)
{
    uint64_t am = addr_mask(in);
    uint64_t delta = (rflags & RFLAGS_DF) ? 0 - (uint64_t)in->size : in->size;

    if (in->op != INSN_STOS && in->op != INSN_MOVS)
        return false;
    /* With 0x67 the registers are ESI/EDI/ECX and, like any 32-bit write, zero-extend. */
    gpr[GPR_RDI] = (gpr[GPR_RDI] + delta) & am;
    if (in->op == INSN_MOVS)
        gpr[GPR_RSI] = (gpr[GPR_RSI] + delta) & am;
    if (!in->rep)
        return false;
    gpr[GPR_RCX] = (gpr[GPR_RCX] - 1) & am;
    return gpr[GPR_RCX] != 0;
}
