UNIT_TESTS += dirty
dirty_SRCS := tests/unit/test_dirty.c hv/dirty.c arch/x86_64/slpt.c hv/vm_mem.c hv/gpt.c \
	arch/x86_64/vmx/vmx_caps.c arch/x86_64/svm/svm_npt.c tests/unit/support.c
