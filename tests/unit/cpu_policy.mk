UNIT_TESTS += cpu_policy
cpu_policy_SRCS := tests/unit/test_cpu_policy.c hv/cpu_policy.c tests/unit/support.c
