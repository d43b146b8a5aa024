UNIT_TESTS += linux_boot
linux_boot_SRCS := tests/unit/vm/test_linux_boot.c hv/vm/linux_boot.c hv/vm/guest_boot.c \
	tests/unit/fakes/support.c
