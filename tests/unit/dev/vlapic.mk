UNIT_TESTS += vlapic
vlapic_SRCS := tests/unit/dev/test_vlapic.c hv/dev/vlapic.c hv/dev/device.c hv/dev/bus.c \
	tests/unit/fakes/fake_vm.c tests/unit/fakes/fake_env.c tests/unit/fakes/support.c
