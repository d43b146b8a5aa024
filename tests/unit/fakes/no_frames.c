/*
 * For tests that link arch/x86_64/slpt.c only for its builder, which takes table pages
 * through the caller's callbacks: the host frame allocator (what splitting uses) must
 * never be reached, so any call fails the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "hv/base/mem.h"

uint64_t frame_alloc(unsigned node, uint64_t pages, uint64_t align_pages, unsigned flags)
{
    fail_msg("frame_alloc(node %u, %llu pages, align %llu, flags %#x) from a builder test",
             node, (unsigned long long)pages, (unsigned long long)align_pages, flags);
    return 0;
}

void frame_free(uint64_t pa, uint64_t pages)
{
    fail_msg("frame_free(%#llx, %llu) from a builder test", (unsigned long long)pa,
             (unsigned long long)pages);
}
