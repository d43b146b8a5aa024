UNIT_TESTS += vmx_caps
vmx_caps_SRCS := tests/unit/arch/test_vmx_caps.c arch/x86_64/vmx/vmx_caps.c tests/unit/fakes/support.c
