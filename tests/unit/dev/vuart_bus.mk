UNIT_TESTS += vuart_bus
vuart_bus_SRCS := tests/unit/dev/test_vuart_bus.c $(DEV_MACHINE_SRCS) tests/unit/fakes/fake_vm.c \
	tests/unit/fakes/fake_env.c tests/unit/fakes/support.c
