UNIT_TESTS += numa
numa_SRCS := tests/unit/vm/test_numa.c hv/vm/numa.c
