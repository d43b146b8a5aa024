/*
 * MMIO emulation: the instruction that touched a device's guest-physical
 * range, decoded (hv/emul/decode.h) and carried out against the device's
 * access function: a store hands the device the value, a load puts the
 * device's value in the destination register, STOS stores rAX and steps
 * rDI/rCX. The caller (hv/vm/vcpu.c) fetched the bytes at RIP and found the
 * device on the VM's MMIO bus; it turns the result into an advance, a #GP or
 * a stopped VM.
 */
#ifndef HV_EMUL_MMIO_H
#define HV_EMUL_MMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One device access: as bus_access_fn, with the offset already applied by the caller. */
typedef int (*emul_access_fn)(void *ctx, bool write, unsigned size, uint64_t *val);

enum emul_mmio_status {
    EMUL_MMIO_DONE,            /* carried out: advance by len unless !advance (REP STOS) */
    EMUL_MMIO_DEVICE_ERROR,    /* the device refused the access (size, alignment): #GP */
    EMUL_MMIO_UNDECODABLE,     /* not an instruction the decoder knows: stop the VM */
    EMUL_MMIO_UNSUPPORTED,     /* decoded, but not emulated on MMIO (MOVS, CMP, TEST) */
};

struct emul_mmio_result {
    uint8_t status;            /* enum emul_mmio_status */
    uint8_t op;                /* enum insn_op, when decoded */
    uint8_t len;               /* instruction length, when decoded */
    bool advance;              /* skip the instruction (false: a REP STOS has more to do) */
    int err;                   /* the decoder's or the device's error */
};

/* bits: the code's mode, 64 or 32 (insn_decode_mode); gpr: the vCPU's registers (RAX..R15),
 * updated for loads and STOS. */
void emul_mmio(const uint8_t *code, size_t n, unsigned bits, uint64_t *gpr, uint64_t rflags,
               emul_access_fn fn, void *ctx, struct emul_mmio_result *out);

#endif
