UNIT_TESTS += vsw_config
vsw_config_SRCS := tests/unit/net/test_vsw_config.c hv/base/config.c hv/base/cmdline.c \
	tests/unit/fakes/support.c
