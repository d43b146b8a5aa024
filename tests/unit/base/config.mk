UNIT_TESTS += config
config_SRCS := tests/unit/base/test_config.c hv/base/config.c hv/base/cmdline.c tests/unit/fakes/support.c
