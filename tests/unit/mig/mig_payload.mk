UNIT_TESTS += mig_payload
mig_payload_SRCS := tests/unit/mig/test_mig_payload.c hv/mig/mig_stream.c $(COMPRESS_SRCS) hv/base/crc32c.c
