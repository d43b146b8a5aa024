UNIT_TESTS += mig_payload
mig_payload_SRCS := tests/unit/test_mig_payload.c hv/mig_stream.c hv/crc32c.c
