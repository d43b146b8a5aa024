UNIT_TESTS += devfw
devfw_SRCS := tests/unit/dev/test_devfw.c hv/dev/device.c hv/dev/bus.c \
	tests/unit/fakes/fake_dev.c tests/unit/fakes/fake_vm.c tests/unit/fakes/fake_env.c \
	tests/unit/fakes/support.c
