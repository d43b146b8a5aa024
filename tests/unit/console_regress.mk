UNIT_TESTS += console_regress
console_regress_SRCS := tests/unit/test_console_regress.c hv/console.c hv/cmdline.c tests/unit/support.c
