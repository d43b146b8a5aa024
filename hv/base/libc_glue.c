/*
 * What newlib's libc needs from its environment. The core has no general
 * heap: frames come from the frame allocator. newlib's printf family may
 * still ask malloc for a buffer (wide-character conversions), so sbrk hands
 * out a small fixed arena and then reports ENOMEM, which printf survives.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define LIBC_HEAP (64 * 1024)

static uint8_t heap[LIBC_HEAP] __attribute__((aligned(16)));
static size_t heap_used;

void *sbrk(ptrdiff_t incr)
{
    if (incr < 0 || (size_t)incr > LIBC_HEAP - heap_used) {
        errno = ENOMEM;
        return (void *)-1;
    }
    void *p = heap + heap_used;
    heap_used += (size_t)incr;
    return p;
}
