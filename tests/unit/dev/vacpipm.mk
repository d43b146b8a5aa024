UNIT_TESTS += vacpipm acpi_tables
vacpipm_SRCS := tests/unit/dev/test_vacpipm.c $(DEV_MACHINE_SRCS) tests/unit/fakes/fake_vm.c \
	tests/unit/fakes/fake_env.c tests/unit/fakes/support.c
acpi_tables_SRCS := tests/unit/dev/test_acpi_tables.c hv/dev/acpi_tables.c \
	tests/unit/fakes/support.c
