/*
 * Page-data compression for the migration stream: LZ4's block format (Debian's lz4 source,
 * lib/lz4.c, built freestanding and integer-only). The compressor needs a caller-owned state
 * (no heap); the decompressor checks every offset and length against its input and output,
 * so a hostile block can neither read nor write outside them.
 */
#ifndef HV_BASE_COMPRESS_H
#define HV_BASE_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

/* The compressor's working state: at least LZ4's LZ4_stream_t (checked in compress.c). */
#define COMPRESS_STATE_SIZE 16448
struct compress_state {
    _Alignas(8) uint8_t b[COMPRESS_STATE_SIZE];
};

/* n bytes from src into at most cap bytes at dst: the compressed length, or 0 when it does
 * not fit in cap (the data does not compress that well) or n is 0 or over 1 GiB. */
size_t compress_block(struct compress_state *st, const void *src, size_t n, void *dst,
                      size_t cap);

/* A compressed block of n bytes must expand to exactly want bytes at dst: 0, or -EINVAL for
 * a malformed block or one of another length (dst may then hold anything). */
int decompress_block(const void *src, size_t n, void *dst, size_t want);

#endif
