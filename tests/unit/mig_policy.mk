UNIT_TESTS += mig_policy
mig_policy_SRCS := tests/unit/test_mig_policy.c hv/mig_policy.c
