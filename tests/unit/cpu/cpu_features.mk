UNIT_TESTS += cpu_features
cpu_features_SRCS = tests/unit/cpu/test_cpu_features.c $(CPU_POLICY_SRCS)
