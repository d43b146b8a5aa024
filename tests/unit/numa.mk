UNIT_TESTS += numa
numa_SRCS := tests/unit/test_numa.c hv/numa.c
