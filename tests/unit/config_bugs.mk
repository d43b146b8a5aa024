UNIT_TESTS += config_bugs
config_bugs_SRCS := tests/unit/test_config_bugs.c hv/config.c hv/cmdline.c tests/unit/support.c
