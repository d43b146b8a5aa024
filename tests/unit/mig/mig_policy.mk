UNIT_TESTS += mig_policy
mig_policy_SRCS := tests/unit/mig/test_mig_policy.c hv/mig/mig_policy.c
