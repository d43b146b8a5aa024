UNIT_TESTS += vuart
vuart_SRCS := tests/unit/dev/test_vuart.c $(DEV_MACHINE_SRCS) tests/unit/fakes/fake_env.c \
	tests/unit/fakes/support.c
