UNIT_TESTS += vdebugexit
vdebugexit_SRCS := tests/unit/dev/test_vdebugexit.c hv/dev/vdebugexit.c hv/dev/vpci.c hv/dev/vuart.c \
	hv/dev/machine.c hv/dev/device.c hv/dev/bus.c tests/unit/fakes/fake_vm.c \
	tests/unit/fakes/fake_env.c tests/unit/fakes/support.c
