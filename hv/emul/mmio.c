/* MMIO emulation; see hv/emul/mmio.h. */
#include <string.h>

#include "hv/emul/decode.h"
#include "hv/emul/mmio.h"

static uint64_t size_mask(unsigned size) { return size == 8 ? ~0ull : (1ull << (size * 8)) - 1; }

void emul_mmio(const uint8_t *code, size_t n, unsigned bits, uint64_t *gpr, uint64_t rflags,
               emul_access_fn fn, void *ctx, struct emul_mmio_result *out)
{
    struct insn in;
    uint64_t val = 0;
    memset(out, 0, sizeof(*out));
    out->err = insn_decode_mode(code, n, bits, &in);
    if (out->err) {
        out->status = EMUL_MMIO_UNDECODABLE;
        return;
    }
    out->op = in.op;
    out->len = in.len;
    switch (in.op) {
    case INSN_STORE:
    case INSN_STORE_IMM:
    case INSN_STOS:
        val = in.op == INSN_STOS ? gpr[GPR_RAX] & size_mask(in.size) : insn_store_value(&in, gpr);
        out->err = fn(ctx, true, in.size, &val);
        break;
    case INSN_LOAD:
    case INSN_LOAD_ZX:
    case INSN_LOAD_SX:
        out->err = fn(ctx, false, in.size, &val);
        if (!out->err)
            insn_load_complete(&in, gpr, val);
        break;
    default:
        out->status = EMUL_MMIO_UNSUPPORTED;
        return;
    }
    if (out->err) {
        out->status = EMUL_MMIO_DEVICE_ERROR;
        return;
    }
    out->status = EMUL_MMIO_DONE;
    out->advance = in.op != INSN_STOS || !insn_string_step(&in, gpr, rflags);
}
