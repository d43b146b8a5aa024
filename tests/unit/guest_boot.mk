UNIT_TESTS += guest_boot
guest_boot_SRCS := tests/unit/test_guest_boot.c hv/guest_boot.c tests/unit/support.c
