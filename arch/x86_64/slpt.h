/*
 * Second-level page tables (EPT and NPT): one builder, walker and dirty-log engine for both.
 * Both are 4-level radix trees with the write bit at bit 1; they differ in what "present"
 * means (EPT: any of R/W/X, NPT: P), in the flags of table and leaf entries (EPT: R|W|X and
 * the memory type, SDM vol. 3C 29.3.2; NPT: P|RW|US, every walk being a user access, APM
 * vol. 2 15.25.5) and in where the leaf's dirty flag is (EPT bit 9, SDM 28.2.4; NPT bit 6).
 * struct slpt_fmt says all that for the builder, walker and freer; the VT-x and SVM backends
 * each own one and nothing else of the tables. The dirty-log walkers need only the present
 * and dirty bits (struct slpt), the rest being the same in both. Write protection clears W on 4 KiB leaves so the first write after a harvest
 * faults; the A/D modes clear D so the hardware sets it (and PML logs it) again.
 */
#ifndef ARCH_SLPT_H
#define ARCH_SLPT_H

#include <stdbool.h>
#include <stdint.h>

/* Bits both formats share, which the dirty-log walkers below rely on. */
#define SLPT_W     0x2ull               /* write allowed */
#define SLPT_LARGE 0x80ull              /* a 2 MiB or 1 GiB leaf */
#define SLPT_ADDR  0x000ffffffffff000ull
#define SLPT_TABLE 0x7ull               /* non-leaf entries: EPT R|W|X, NPT P|RW|US */

#define SLPT_GPA_LIMIT (1ull << 48)     /* a 4-level walk */
#define SLPT_HPA_LIMIT (1ull << 52)     /* MAXPHYADDR at most */
#define SLPT_NOT_MAPPED (~0ull)

struct slpt_fmt {
    uint64_t present;           /* any of these set: the entry is present */
    uint64_t table;             /* flags of an entry pointing to the next table */
    uint64_t leaf;              /* flags of every leaf the builder writes */
    uint64_t large;             /* marks a 2 MiB (level 2) or 1 GiB (level 3) leaf */
    uint64_t dirty;             /* the leaves' D flag */
    uint64_t addr;              /* the address bits of an entry */
};

/* A VM's table for dirty logging: split tables come from the frame allocator on `node`. */
struct slpt {
    uint64_t root;
    uint64_t present;           /* the format's present bits: EPT 0x7, NPT 0x1 */
    uint64_t dirty;             /* the leaves' D flag: EPT 1 << 9, NPT 1 << 6 */
    unsigned node;
};

/* The guest-physical range [gpa, gpa + size) backed by host-physical [hpa, hpa + size). */
struct slpt_chunk { uint64_t gpa, hpa, size; };

typedef uint64_t (*slpt_alloc_fn)(void *ctx);     /* a zeroed 4 KiB page, 0 if none */
typedef void *(*slpt_p2v_fn)(uint64_t pa, void *ctx);
typedef void (*slpt_free_fn)(uint64_t pa, void *ctx);

/*
 * Maps every chunk (gpa, hpa, size 4 KiB-aligned, gpa + size <= 2^48, hpa + size <= 2^52)
 * into the tables rooted at *root (allocated first if 0): 1 GiB leaves where use_1g and
 * gpa, hpa and what is left of the chunk allow, else 2 MiB, else 4 KiB. Chunks are checked
 * and mapped in order: -EINVAL for a bad chunk or one overlapping a mapping already there
 * (what earlier chunks mapped stays), -ENOMEM when alloc fails; otherwise the number of
 * table pages allocated. Whatever was linked stays reachable from *root for
 * slpt_free_tables().
 */
int slpt_map_chunks(const struct slpt_fmt *f, uint64_t *root, const struct slpt_chunk *c,
                    unsigned n, bool use_1g, slpt_alloc_fn alloc, slpt_p2v_fn p2v, void *ctx);
/* Every chunk well-formed (as above) and their guest ranges pairwise disjoint. */
bool slpt_chunks_valid(const struct slpt_chunk *c, unsigned n);
/* Walks the tables like the CPU: the host-physical address for gpa, or SLPT_NOT_MAPPED.
 * *level (if not NULL) gets the leaf's level: 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB. */
uint64_t slpt_translate(const struct slpt_fmt *f, uint64_t root, uint64_t gpa, slpt_p2v_fn p2v,
                        void *ctx, unsigned *level);
/* Frees every table page under root and root itself (0: none); returns how many. */
unsigned slpt_free_tables(const struct slpt_fmt *f, uint64_t root, slpt_free_fn free_page,
                          slpt_p2v_fn p2v, void *ctx);

/* The host's frames for the callbacks above; ctx points to the NUMA node (unsigned). */
uint64_t slpt_frame_alloc(void *node);
void *slpt_frame_p2v(uint64_t pa, void *ctx);
void slpt_frame_free(uint64_t pa, void *ctx);

/* ro: splits every large leaf covering [gpa, gpa+size) into 4 KiB leaves and clears W on
 * them; !ro: sets W on the 4 KiB leaves again (split tables stay). */
int slpt_protect_range(const struct slpt *t, uint64_t gpa, uint64_t size, bool ro);
/* Splits like slpt_protect_range and clears D on every 4 KiB leaf (W stays as it is). */
int slpt_clean_range(const struct slpt *t, uint64_t gpa, uint64_t size);
/* Test-and-clears D on every leaf in [gpa, gpa+size) and sets bit (page - gpa / 4 KiB) in
 * bits for each 4 KiB page that was dirty (every page of a large leaf). Returns how many. */
uint64_t slpt_harvest_dirty(const struct slpt *t, uint64_t gpa, uint64_t size, uint64_t *bits);
/* The 4 KiB leaf for gpa, or NULL. */
uint64_t *slpt_leaf(const struct slpt *t, uint64_t gpa);

#endif
