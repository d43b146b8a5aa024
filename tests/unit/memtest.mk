UNIT_TESTS += memtest
memtest_SRCS := tests/unit/test_memtest.c tests/guest/memtest/memtest_core.c
memtest_CFLAGS := -Itests/guest/memtest
