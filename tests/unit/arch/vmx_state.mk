UNIT_TESTS += vmx_state
vmx_state_SRCS := tests/unit/arch/test_vmx_state.c arch/x86_64/vmx/vmx_state.c \
	arch/x86_64/vmx/vmx_guest_check.c tests/unit/fakes/support.c
