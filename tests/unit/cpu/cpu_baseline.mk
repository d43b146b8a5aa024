UNIT_TESTS += cpu_baseline
cpu_baseline_SRCS = tests/unit/cpu/test_cpu_baseline.c hv/cpu/cpu_baseline.c $(CPU_POLICY_SRCS)
