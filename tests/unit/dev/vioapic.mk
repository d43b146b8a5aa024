UNIT_TESTS += vioapic
vioapic_SRCS := tests/unit/dev/test_vioapic.c $(DEV_MACHINE_SRCS) tests/unit/fakes/fake_vm.c \
	tests/unit/fakes/fake_env.c tests/unit/fakes/support.c
