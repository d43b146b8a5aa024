UNIT_TESTS += msr
msr_SRCS = tests/unit/vm/test_msr.c hv/vm/msr.c hv/vm/guest_boot.c hv/cpu/cpu_baseline.c $(CPU_POLICY_SRCS)
