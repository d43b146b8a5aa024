UNIT_TESTS += console_bugs
console_bugs_SRCS := tests/unit/test_console_bugs.c hv/console.c hv/cmdline.c tests/unit/support.c
