UNIT_TESTS += cpu_policy
CPU_POLICY_SRCS := hv/cpu_policy.c hv/cpu_host_rules.c hv/cpu_features.c tests/unit/fake_cpuid.c \
	tests/unit/support.c
cpu_policy_SRCS := tests/unit/test_cpu_policy.c $(CPU_POLICY_SRCS)
