UNIT_TESTS += cpu_policy
CPU_POLICY_SRCS := hv/cpu/cpu_policy.c hv/cpu/cpu_host_rules.c hv/cpu/cpu_features.c tests/unit/fakes/fake_cpuid.c \
	tests/unit/fakes/support.c
cpu_policy_SRCS := tests/unit/cpu/test_cpu_policy.c $(CPU_POLICY_SRCS)
