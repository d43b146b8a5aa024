UNIT_TESTS += multiboot
multiboot_SRCS := tests/unit/vm/test_multiboot.c hv/vm/multiboot.c tests/unit/fakes/support.c
