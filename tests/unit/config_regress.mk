UNIT_TESTS += config_regress
config_regress_SRCS := tests/unit/test_config_regress.c hv/config.c hv/cmdline.c tests/unit/support.c
