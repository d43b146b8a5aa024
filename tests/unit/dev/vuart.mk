UNIT_TESTS += vuart
vuart_SRCS := tests/unit/dev/test_vuart.c hv/dev/vuart.c hv/dev/device.c hv/dev/bus.c hv/dev/machine.c \
	hv/dev/vdebugexit.c hv/dev/vpci.c \
	tests/unit/fakes/fake_env.c tests/unit/fakes/support.c
