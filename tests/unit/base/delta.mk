UNIT_TESTS += delta
delta_SRCS := tests/unit/base/test_delta.c hv/base/delta.c
