# LZ4 (Debian's lz4 source package, unpacked by tools/deps.sh like lwIP and mbedTLS): only its
# block format (lib/lz4.c), built freestanding and without a heap, behind hv/base/compress.h.
# The migration stream compresses page data with it (docs/migration-stream.md, "Compression").
LZ4_DIR ?= build/third_party/lz4/lib
LZ4_SRCS := $(LZ4_DIR)/lz4.c
LZ4_CFLAGS := -I$(LZ4_DIR) -DLZ4_HEAPMODE=0 -DLZ4_FREESTANDING=1 \
	-DLZ4_memcpy=__builtin_memcpy -DLZ4_memset=__builtin_memset -DLZ4_memmove=__builtin_memmove
# What a host-built test or fuzzer adds to link the stream's page codecs: the compressor and
# page deltas (hv/base/delta.c).
COMPRESS_SRCS := hv/base/compress.c hv/base/delta.c $(LZ4_SRCS)
