UNIT_TESTS += console_regress
console_regress_SRCS := tests/unit/console/test_console_regress.c hv/console/console.c hv/base/cmdline.c tests/unit/fakes/support.c
