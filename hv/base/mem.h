/*
 * Physical memory: the direct map (all RAM at DIRECT_MAP_BASE) and the frame
 * allocator. Frames are managed per NUMA node in zones (one bitmap each,
 * stored in the zone's first pages); callers name the node they want and
 * whether another node will do. Page-table pages for guests come from pools
 * reserved at VM creation, never from here on an exit path.
 */
#ifndef HV_MEM_H
#define HV_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include "boot/boot_info.h"

#define PAGE_SIZE 4096ull
#define PAGE_SHIFT 12

static inline void *phys_to_virt(uint64_t pa) { return (void *)(pa + DIRECT_MAP_BASE); }
static inline uint64_t virt_to_phys(const void *va) { return (uint64_t)va - DIRECT_MAP_BASE; }

#define FRAME_MAX_ZONES 64
#define FRAME_MAX_NODES 16
#define FRAME_LOW_LIMIT 0x100000ull    /* below 1 MiB stays out: AP trampoline, legacy */

/* frame_alloc flags */
#define FRAME_STRICT 0x1               /* only the named node */
#define FRAME_ZERO   0x2

struct frame_node_range { uint64_t base, end; uint32_t node; };

struct frame_zone {
    uint64_t base, pages, free;
    uint64_t bitmap_pages;             /* the zone's first pages hold its bitmap */
    uint64_t *bitmap;                  /* bit set = frame in use */
    uint32_t node;
    uint64_t hint;
};

struct frame_stats {
    uint64_t ram_pages;                /* RAM the firmware reported on this node */
    uint64_t total_pages;              /* managed by the allocator */
    uint64_t free_pages;
    unsigned zones;
};

typedef void *(*frame_p2v_fn)(uint64_t phys);

/* Ranges (SRAT) give each address its node; none means everything is node 0. */
int frame_init(const struct boot_mem_region *regions, unsigned nregions,
               const struct frame_node_range *ranges, unsigned nranges, unsigned nnodes,
               frame_p2v_fn p2v);
uint64_t frame_alloc(unsigned node, uint64_t pages, uint64_t align_pages, unsigned flags);
void frame_free(uint64_t phys, uint64_t pages);
void frame_node_stats(unsigned node, struct frame_stats *out);
/* Free blocks of align pages (aligned) on node; *largest = the longest run of them, in pages. */
uint64_t frame_node_blocks(unsigned node, uint64_t align, uint64_t *largest);
unsigned frame_nodes(void);
unsigned frame_zone_count(void);
const struct frame_zone *frame_zone_get(unsigned i);

#endif
