/* Pure helpers for VT-x capability MSRs and the EPT format (unit-tested on the host). */
#ifndef VMX_CAPS_H
#define VMX_CAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/x86_64/slpt.h"

/*
 * A control value from its capability MSR (SDM vol. 3 app. A.3-A.5): bits
 * set in the low half must be 1, bits clear in the high half must be 0.
 * want: what we would like; need: what we cannot run without.
 * Returns 0 and *out, or -ENOTSUP if a needed bit is not allowed.
 */
int vmx_adjust_ctls(uint64_t cap, uint32_t want, uint32_t need, uint32_t *out);

/* CR0/CR4 under VMX: fixed0 bits forced to 1, bits clear in fixed1 forced to 0. */
static inline uint64_t vmx_fixed_cr(uint64_t v, uint64_t fixed0, uint64_t fixed1)
{
    return (v | fixed0) & fixed1;
}

/* EPT (SDM vol. 3 sec. 29.3.2): entry bits and the pointer format. */
#define EPT_R   0x1ull
#define EPT_W   0x2ull
#define EPT_X   0x4ull
#define EPT_RWX 0x7ull
#define EPT_MT_WB (6ull << 3)
#define EPT_LARGE (1ull << 7)
#define EPT_ACCESSED (1ull << 8)
#define EPT_DIRTY (1ull << 9)
#define EPT_ADDR_MASK 0x000ffffffffff000ull

/* The EPT format for the shared builder (arch/x86_64/slpt.c): tables R|W|X, leaves also WB. */
extern const struct slpt_fmt ept_fmt;

/* EPT's names for the shared builder's types. */
#define ept_chunk slpt_chunk
typedef slpt_alloc_fn ept_alloc_fn;
typedef slpt_p2v_fn ept_p2v_fn;

/*
 * slpt_map_chunks() with ept_fmt: every chunk (4 KiB-aligned) into a 4-level EPT rooted at
 * *root (allocated if 0), with 1 GiB pages where allowed and aligned, else 2 MiB, else 4 KiB.
 * Returns the number of table pages allocated, or -ENOMEM / -EINVAL.
 */
int ept_map_chunks(uint64_t *root, const struct ept_chunk *c, unsigned n, bool use_1g,
                   ept_alloc_fn alloc, ept_p2v_fn p2v, void *ctx);

/* Walks the EPT like the CPU: host physical address for gpa, or ~0 if not mapped. */
uint64_t ept_translate(uint64_t root, uint64_t gpa, ept_p2v_fn p2v, void *ctx, unsigned *level);

uint64_t ept_pointer(uint64_t root, bool ad);

/*
 * Page-modification log (SDM vol. 3C 28.2.5): a 4 KiB page of 512 GPAs the CPU fills from
 * index 511 downwards, one per EPT dirty flag it sets; the VMCS's PML index is the next free
 * slot and wraps to 0xFFFF after slot 0 (full: the next logging write exits instead). Calls
 * fn for each logged GPA (4 KiB-aligned) and returns how many there were.
 */
#define VMX_PML_ENTRIES 512
typedef void (*vmx_pml_fn)(void *ctx, uint64_t gpa);
unsigned vmx_pml_drain(const uint64_t *log, uint16_t index, vmx_pml_fn fn, void *ctx);

#endif
