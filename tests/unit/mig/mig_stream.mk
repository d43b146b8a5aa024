UNIT_TESTS += mig_stream
mig_stream_SRCS := tests/unit/mig/test_mig_stream.c hv/mig/mig_stream.c $(COMPRESS_SRCS) hv/base/crc32c.c
