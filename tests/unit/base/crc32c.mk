UNIT_TESTS += crc32c
crc32c_SRCS := tests/unit/base/test_crc32c.c hv/base/crc32c.c
