UNIT_TESTS += msr
msr_SRCS = tests/unit/test_msr.c hv/msr.c hv/cpu_baseline.c $(CPU_POLICY_SRCS)
