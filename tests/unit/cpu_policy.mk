UNIT_TESTS += cpu_policy
cpu_policy_SRCS := tests/unit/test_cpu_policy.c tests/unit/fake_cpuid.c hv/cpu_policy.c hv/cpu_features.c tests/unit/support.c
