UNIT_TESTS += console
console_SRCS := tests/unit/console/test_console.c hv/console/console.c hv/base/cmdline.c tests/unit/fakes/support.c
