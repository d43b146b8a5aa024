/*
 * x86-64 instruction decoder for MMIO emulation. An EPT violation (VT-x) or a
 * nested page fault without decode assists (SVM) tells us the faulting address
 * but not what the guest was doing; insn_decode() turns the bytes at RIP into
 * a struct insn, and the helpers below apply it: the value a store writes, the
 * register update of a load, the flags of a CMP/TEST, the RSI/RDI/RCX update
 * of a string op. On SVM without NRIPS, insn.len is also the instruction
 * length to skip. 64-bit and 32-bit modes are decoded, and only the forms a guest
 * plausibly uses on MMIO: MOV (88/89/8A/8B, C6/C7, A0-A3 moffs), MOVZX, MOVSX,
 * MOVSXD, STOS, MOVS, and CMP/TEST with a memory operand. Anything else that
 * is a valid instruction returns -ENOTSUP; bad encodings (truncated, longer
 * than 15 bytes, #UD forms, register-direct ModRM) return -EINVAL. The decoder
 * never reads past `len` bytes. Segment bases are not applied: in 64-bit mode
 * only an FS/GS override (insn.seg) contributes one, and the caller adds it.
 */
#ifndef HV_DECODE_H
#define HV_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/cpu/vcpu_state.h"

#define INSN_MAX_LEN  15          /* SDM 2.3.11: longer is #GP */
#define INSN_BASE_RIP (-2)        /* insn.base of a RIP-relative operand */
#define RFLAGS_DF     (1ull << 10)

enum insn_op {
    INSN_STORE,        /* 88/89 MOV r/m,r; A2/A3 MOV moffs,rAX */
    INSN_LOAD,         /* 8A/8B MOV r,r/m; A0/A1 MOV rAX,moffs; 63 without REX.W */
    INSN_LOAD_ZX,      /* 0F B6/B7 MOVZX */
    INSN_LOAD_SX,      /* 0F BE/BF MOVSX; REX.W 63 MOVSXD */
    INSN_STOS,         /* AA/AB: store rAX to ES:rDI */
    INSN_MOVS,         /* A4/A5: copy [rSI] (DS or override) to ES:[rDI] */
    INSN_STORE_IMM,    /* C6/C7 /0 MOV r/m,imm */
    INSN_CMP,          /* 38/39 CMP r/m,r; 80/81/83 /7 CMP r/m,imm: flags of mem - src */
    INSN_CMP_REV,      /* 3A/3B CMP r,r/m: flags of reg - mem */
    INSN_TEST,         /* 84/85 TEST r/m,r; F6/F7 /0 TEST r/m,imm: flags of mem & src */
};

enum insn_seg { INSN_SEG_ES, INSN_SEG_CS, INSN_SEG_SS, INSN_SEG_DS, INSN_SEG_FS, INSN_SEG_GS };

struct insn {
    uint8_t len;         /* total bytes including prefixes, 1..15 */
    uint8_t op;          /* enum insn_op */
    uint8_t size;        /* memory access size in bytes: 1, 2, 4, 8 */
    uint8_t dst_size;    /* loads: destination register size (2, 4, 8 for MOVZX/MOVSX); else 0 */
    int8_t reg;          /* register operand (enum gpr), -1 if none (immediate, MOVS) */
    bool high_byte;      /* reg names AH/CH/DH/BH: 8-bit reg 4-7 without REX; reg is then 0-3 */
    bool rep;            /* F3 prefix on STOS/MOVS */
    uint8_t addr_size;   /* 8, or 4 with a 0x67 prefix */
    int8_t seg;          /* last segment override (enum insn_seg) on the operand, -1 none */
    int8_t base, index;  /* memory operand: enum gpr or -1; base INSN_BASE_RIP if RIP-relative */
    uint8_t scale;       /* 1, 2, 4, 8 (1 when there is no index) */
    int64_t disp;        /* displacement; absolute address for moffs */
    uint64_t imm;        /* STORE_IMM/CMP/TEST immediate, already extended and masked to size */
};

/* Decodes one 64-bit-mode instruction from code[0..len). 0, -EINVAL (bad encoding or truncated),
 * or -ENOTSUP (valid but not emulated). *out is meaningless unless 0 is returned. */
int insn_decode(const uint8_t *code, size_t len, struct insn *out);
/* The same for code of `bits` 64 or 32 (protected mode with a 32-bit code segment: a Multiboot
 * kernel, an AP's trampoline after its far jump): there 0x40-0x4F are INC/DEC (-ENOTSUP), not
 * REX; addresses are 32-bit; ModRM mod=00 r/m=101 is an absolute disp32, moffs 4 bytes; 0x67
 * (16-bit addressing) and 63 (ARPL) are -ENOTSUP. bits 16 (real mode): -ENOTSUP. */
int insn_decode_mode(const uint8_t *code, size_t len, unsigned bits, struct insn *out);

/* Source operand masked to size: the value a store/STOS writes, or what CMP/TEST compares
 * the memory operand against. Meaningless for MOVS and loads. */
uint64_t insn_store_value(const struct insn *in, const uint64_t *gpr);

/* Writes a loaded value to the destination register with x86 semantics: 8/16-bit writes keep
 * the rest of the register, 32-bit writes zero-extend to 64, MOVZX/MOVSX/MOVSXD extend from
 * size to dst_size first. No effect for other ops. */
void insn_load_complete(const struct insn *in, uint64_t *gpr, uint64_t value);

/* RFLAGS after a CMP/CMP_REV/TEST whose memory operand read `value`: CF PF AF ZF SF OF are
 * replaced (TEST clears CF, OF and AF), every other bit kept. Other ops return rflags. */
uint64_t insn_flags_complete(const struct insn *in, const uint64_t *gpr, uint64_t value,
                             uint64_t rflags);

/* Effective address (without segment base) of the memory operand, truncated to addr_size.
 * next_rip = RIP + len matters only for RIP-relative operands. For STOS this is ES:rDI, for
 * MOVS the source rSI; insn_string_dst_addr() gives the MOVS destination. */
uint64_t insn_effective_addr(const struct insn *in, const uint64_t *gpr, uint64_t next_rip);
uint64_t insn_string_dst_addr(const struct insn *in, const uint64_t *gpr);

/* After one STOS/MOVS iteration: moves rDI (and rSI for MOVS) by size, down if RFLAGS.DF is
 * set, and with rep decrements rCX. With addr_size 4 the registers are ESI/EDI/ECX and the
 * writes zero-extend. True if a rep op has iterations left (rCX != 0). Callers must not start
 * a rep op whose rCX is already 0: it performs no access and so never faults. */
bool insn_string_step(const struct insn *in, uint64_t *gpr, uint64_t rflags);

#endif
