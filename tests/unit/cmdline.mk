UNIT_TESTS += cmdline
cmdline_SRCS := tests/unit/test_cmdline.c hv/cmdline.c tests/unit/support.c
