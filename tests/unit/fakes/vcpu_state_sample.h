/* A 64-bit Linux guest's vCPU state as a good source sends it: every value one the guest's own
 * writes could have made (tests of msr_state_check and of the migration target): a kernel at
 * CPL 0 with flat code and stack segments, null DS/ES/FS/GS (unusable, FS/GS bases from their
 * MSRs), no LDT and a busy 64-bit TSS. */
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
    s.cs = (struct seg){ .sel = 0x10, .attr = 0xa9b, .limit = 0xffffffff };
    s.ss = (struct seg){ .sel = 0x18, .attr = 0xc93, .limit = 0xffffffff };
    s.ds.attr = s.es.attr = s.fs.attr = s.gs.attr = s.ldtr.attr = SEG_UNUSABLE;
    s.tr = (struct seg){ .sel = 0x40, .attr = 0x8b, .limit = 0x206f,
                         .base = 0xfffffe0000003000ull };
    s.star = 0x0023001000000000ull;
    s.lstar = 0xffffffff81a00080ull;
    s.cstar = 0xffffffff81a01b00ull;
    s.sfmask = 0x257fd5;
    s.kernel_gs_base = 0xffff888007a00000ull;
    s.gs.base = 0x7f0000001000ull;
    s.gdtr.base = 0xfffffe0000001000ull;
    s.gdtr.limit = 0x7f;
    s.idtr.base = 0xfffffe0000000000ull;
    s.idtr.limit = 0xfff;
    s.tsc_aux = 1;
    return s;
}

/* The same guest's CPU as a 32-bit protected-mode kernel with PAE paging would hold it. */
static inline struct vcpu_state vcpu_state_sample_pae(void)
{
    struct vcpu_state s = vcpu_state_sample();
    s.efer = 0x800;
    s.cr4 = 0x6b0;
    s.rip = 0xc1000000;
    s.cs = (struct seg){ .sel = 0x60, .attr = 0xc9b, .limit = 0xffffffff };
    s.ss = (struct seg){ .sel = 0x68, .attr = 0xc93, .limit = 0xffffffff };
    s.ds = s.es = (struct seg){ .sel = 0x7b, .attr = 0xcf3, .limit = 0xffffffff };
    s.tr = (struct seg){ .sel = 0x80, .attr = 0x8b, .limit = 0x206b, .base = 0xc1a00000 };
    return s;
}

#endif
