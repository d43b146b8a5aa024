UNIT_TESTS += gpt
gpt_SRCS := tests/unit/vm/test_gpt.c hv/vm/gpt.c hv/vm/vm_mem.c tests/unit/fakes/support.c
