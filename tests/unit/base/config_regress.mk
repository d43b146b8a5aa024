UNIT_TESTS += config_regress
config_regress_SRCS := tests/unit/base/test_config_regress.c hv/base/config.c hv/base/cmdline.c tests/unit/fakes/support.c
