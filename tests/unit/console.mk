UNIT_TESTS += console
console_SRCS := tests/unit/test_console.c hv/console.c hv/cmdline.c tests/unit/support.c
