UNIT_TESTS += vmx_caps
vmx_caps_SRCS := tests/unit/arch/test_vmx_caps.c arch/x86_64/vmx/vmx_caps.c arch/x86_64/slpt.c \
	tests/unit/fakes/no_frames.c tests/unit/fakes/support.c
