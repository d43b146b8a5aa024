/*
 * The CPU policy on the wire: what the migration HELLO carries so the target
 * runs the VM with exactly the CPU it had. Version 1, little-endian:
 *
 *   0   "FCPL"               magic
 *   4   u16 version          CPU_POLICY_CODEC_VERSION
 *   6   u16 nleaves          <= CPU_POLICY_MAX_LEAVES
 *   8   name[16]             baseline name, NUL-terminated, [a-z0-9.-_]
 *   24  vendor[12]           printable; equal to leaf 0 EBX, EDX, ECX
 *   36  u32 max_basic, u32 max_ext
 *   44  u64 xcr0_mask        0 or with x87; equal to leaf 0xD.0 EDX:EAX if present
 *   52  u64 arch_caps        only CPU_ARCH_CAPS_* bits, and only with the CPUID bit
 *   60  nleaves x { u32 leaf, u32 subleaf, u32 flags (bit 0: has_subleaf), u32 eax, ebx,
 *                   ecx, edx }   strictly ascending by (leaf, subleaf), each in range
 *   end u32 CRC-32C of everything before it
 *
 * The decoder trusts nothing: any deviation is an error and leaves a zeroed
 * policy, so a hostile or corrupted blob can never become a guest's CPUID.
 */
#ifndef HV_CPU_POLICY_CODEC_H
#define HV_CPU_POLICY_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "hv/cpu/cpu_policy.h"

#define CPU_POLICY_CODEC_VERSION 1
#define CPU_POLICY_BLOB_HDR      60
#define CPU_POLICY_BLOB_LEAF     28
#define CPU_POLICY_BLOB_MAX      (CPU_POLICY_BLOB_HDR + \
                                  CPU_POLICY_MAX_LEAVES * CPU_POLICY_BLOB_LEAF + 4)

/* Bytes written, or -ENOSPC if len is too small (nothing useful written). */
int cpu_policy_serialize(const struct cpu_policy *p, uint8_t *buf, size_t len);

/*
 * 0, or -EINVAL (malformed, inconsistent or corrupted: the CRC does not
 * match) or -EPROTONOSUPPORT (another version); on error *p is zeroed.
 */
int cpu_policy_deserialize(struct cpu_policy *p, const uint8_t *buf, size_t len);

#endif
