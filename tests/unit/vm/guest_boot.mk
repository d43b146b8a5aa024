UNIT_TESTS += guest_boot
guest_boot_SRCS := tests/unit/vm/test_guest_boot.c hv/vm/guest_boot.c tests/unit/fakes/support.c
