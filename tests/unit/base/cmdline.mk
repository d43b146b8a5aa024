UNIT_TESTS += cmdline
cmdline_SRCS := tests/unit/base/test_cmdline.c hv/base/cmdline.c tests/unit/fakes/support.c
