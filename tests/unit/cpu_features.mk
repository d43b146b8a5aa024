UNIT_TESTS += cpu_features
cpu_features_SRCS := tests/unit/test_cpu_features.c tests/unit/fake_cpuid.c hv/cpu_policy.c \
	hv/cpu_features.c tests/unit/support.c
