/* LZ4 block compression (hv/base/compress.h). */
#include "hv/base/compress.h"

#include <errno.h>

#include "lz4.h"

_Static_assert(sizeof(LZ4_stream_t) <= COMPRESS_STATE_SIZE, "LZ4's state outgrew ours");

#define COMPRESS_MAX (1u << 30)

size_t compress_block(struct compress_state *st, const void *src, size_t n, void *dst,
                      size_t cap)
{
    if (!n || n > COMPRESS_MAX)
        return 0;
    if (cap > COMPRESS_MAX)
        cap = COMPRESS_MAX;
    int r = LZ4_compress_fast_extState(st->b, src, dst, (int)n, (int)cap, 1);
    return r > 0 ? (size_t)r : 0;
}

int decompress_block(const void *src, size_t n, void *dst, size_t want)
{
    if (!n || n > COMPRESS_MAX || !want || want > COMPRESS_MAX)
        return -EINVAL;
    int r = LZ4_decompress_safe(src, dst, (int)n, (int)want);
    return r >= 0 && (size_t)r == want ? 0 : -EINVAL;
}
