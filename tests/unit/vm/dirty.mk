UNIT_TESTS += dirty
dirty_SRCS := tests/unit/vm/test_dirty.c hv/vm/dirty.c arch/x86_64/slpt.c hv/vm/vm_mem.c hv/vm/gpt.c \
	arch/x86_64/vmx/vmx_caps.c arch/x86_64/svm/svm_npt.c tests/unit/fakes/support.c
