UNIT_TESTS += memtest
memtest_SRCS := tests/unit/guest/test_memtest.c tests/guest/memtest/memtest_core.c
memtest_CFLAGS := -Itests/guest/memtest
