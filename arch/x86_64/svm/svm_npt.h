/*
 * Nested page tables (APM vol. 2 sec. 15.25): the guest-physical to
 * host-physical map of a VM under SVM. They are ordinary x86-64 4-level page
 * tables in the host's paging mode, rooted at the VMCB's N_CR3, and every
 * access through them is checked as a user-mode access (15.25.5), so every
 * level carries P|RW|US. Memory type comes from the PAT/PCD/PWT bits, left 0
 * (WB; the guest's own PAT, G_PAT, combines with it). The tables are built,
 * walked and freed by the shared second-level code (arch/x86_64/slpt.c) with
 * npt_fmt; tables are reached through the caller's p2v, so the host unit tests
 * run it on simulated memory.
 */
#ifndef SVM_NPT_H
#define SVM_NPT_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/x86_64/slpt.h"

#define NPT_P     0x1ull
#define NPT_RW    0x2ull
#define NPT_US    0x4ull
#define NPT_PWT   0x8ull
#define NPT_PCD   0x10ull
#define NPT_A     0x20ull
#define NPT_D     0x40ull
#define NPT_PS    0x80ull          /* a 2 MiB (PDE) or 1 GiB (PDPE) leaf */
#define NPT_NX    (1ull << 63)
#define NPT_PERM  (NPT_P | NPT_RW | NPT_US)
#define NPT_ADDR_MASK 0x000ffffffffff000ull

#define NPT_GPA_LIMIT SLPT_GPA_LIMIT  /* 4-level tables */
#define NPT_HPA_LIMIT SLPT_HPA_LIMIT
#define NPT_NOT_MAPPED SLPT_NOT_MAPPED

/* The NPT format for the shared builder: P|RW|US on every level, PS on large leaves. */
extern const struct slpt_fmt npt_fmt;

/* NPT's names for the shared builder's types; alloc returns a zeroed 4 KiB page, 0 if none. */
#define npt_chunk slpt_chunk
typedef slpt_alloc_fn npt_alloc_fn;
typedef slpt_p2v_fn npt_p2v_fn;
typedef slpt_free_fn npt_free_fn;

/*
 * Maps every chunk (gpa, hpa, size all 4 KiB-aligned, gpa + size <= 2^48,
 * hpa + size <= 2^52) into the tables rooted at *root (allocated if 0): 1 GiB
 * pages where use_1g (CPUID 8000_0001 EDX[26]) and gpa/hpa/remaining size
 * allow, else 2 MiB, else 4 KiB. Returns the number of table pages allocated,
 * -EINVAL (bad chunk, chunks overlapping each other or an existing mapping)
 * or -ENOMEM. Chunks are checked against each other before anything is
 * written; on a later failure the pages already linked stay reachable from
 * *root, so npt_free_tables() reclaims them.
 */
int npt_map_chunks(uint64_t *root, const struct npt_chunk *c, unsigned n, bool use_1g,
                   npt_alloc_fn alloc, npt_p2v_fn p2v, void *ctx);

/* Walks the tables like the CPU: the host-physical address for gpa, or NPT_NOT_MAPPED.
 * *level (if not NULL) gets the leaf's level: 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB. */
uint64_t npt_translate(uint64_t root, uint64_t gpa, npt_p2v_fn p2v, void *ctx, unsigned *level);

/* Frees every table page under root and root itself; returns how many pages it freed. */
unsigned npt_free_tables(uint64_t root, npt_free_fn free_page, npt_p2v_fn p2v, void *ctx);

#endif
