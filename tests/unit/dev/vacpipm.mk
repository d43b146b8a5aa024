UNIT_TESTS += vacpipm
vacpipm_SRCS := tests/unit/dev/test_vacpipm.c $(DEV_MACHINE_SRCS) tests/unit/fakes/fake_vm.c \
	tests/unit/fakes/fake_env.c tests/unit/fakes/support.c
