UNIT_TESTS += slpt
slpt_SRCS := tests/unit/arch/test_slpt.c arch/x86_64/slpt.c arch/x86_64/vmx/vmx_caps.c \
	arch/x86_64/svm/svm_npt.c tests/unit/fakes/support.c
