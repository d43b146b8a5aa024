UNIT_TESTS += crc32c
crc32c_SRCS := tests/unit/test_crc32c.c hv/crc32c.c
