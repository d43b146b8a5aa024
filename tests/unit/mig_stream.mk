UNIT_TESTS += mig_stream
mig_stream_SRCS := tests/unit/test_mig_stream.c hv/mig_stream.c hv/crc32c.c
