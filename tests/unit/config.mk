UNIT_TESTS += config
config_SRCS := tests/unit/test_config.c hv/config.c hv/cmdline.c tests/unit/support.c
