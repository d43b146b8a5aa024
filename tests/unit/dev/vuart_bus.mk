UNIT_TESTS += vuart_bus
vuart_bus_SRCS := tests/unit/dev/test_vuart_bus.c hv/dev/vuart.c hv/dev/machine.c hv/dev/vdebugexit.c hv/dev/vpci.c \
	hv/dev/device.c hv/dev/bus.c tests/unit/fakes/fake_vm.c tests/unit/fakes/fake_env.c \
	tests/unit/fakes/support.c
