UNIT_TESTS += cpu_baseline
cpu_baseline_SRCS := tests/unit/test_cpu_baseline.c tests/unit/fake_cpuid.c hv/cpu_policy.c \
	hv/cpu_features.c hv/cpu_baseline.c tests/unit/support.c
