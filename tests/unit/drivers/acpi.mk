UNIT_TESTS += acpi
acpi_SRCS := tests/unit/drivers/test_acpi.c drivers/acpi.c tests/unit/fakes/support.c
