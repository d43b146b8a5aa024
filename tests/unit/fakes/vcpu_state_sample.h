/* A 64-bit Linux guest's vCPU state as a good source sends it: every value one the guest's own
 * writes could have made (tests of msr_state_check and of the migration target). */
#ifndef VCPU_STATE_SAMPLE_H
#define VCPU_STATE_SAMPLE_H

#include <string.h>

#include "hv/cpu/vcpu_state.h"

static inline struct vcpu_state vcpu_state_sample(void)
{
    struct vcpu_state s;
    memset(&s, 0, sizeof(s));
    s.version = VCPU_STATE_VERSION;
    s.rip = 0xffffffff81000000ull;
    s.rflags = 0x246;
    s.cr0 = 0x80050033;
    s.cr3 = 0x1000;
    s.cr4 = 0x3506f0;
    s.dr7 = 0x400;
    s.efer = 0xd01;
    s.pat = 0x0007040600070406ull;
    s.xcr0 = 0x7;
    s.cs.attr = 0xa9b;
    s.star = 0x0023001000000000ull;
    s.lstar = 0xffffffff81a00080ull;
    s.cstar = 0xffffffff81a01b00ull;
    s.sfmask = 0x257fd5;
    s.kernel_gs_base = 0xffff888007a00000ull;
    s.gs.base = 0x7f0000001000ull;
    s.gdtr.base = 0xfffffe0000001000ull;
    s.tsc_aux = 1;
    return s;
}

#endif
