UNIT_TESTS += acpi
acpi_SRCS := tests/unit/test_acpi.c drivers/acpi.c tests/unit/support.c
