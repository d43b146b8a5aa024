UNIT_TESTS += virtq
virtq_SRCS := tests/unit/dev/test_virtq.c hv/dev/virtq.c
