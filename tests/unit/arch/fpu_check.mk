UNIT_TESTS += fpu_check
fpu_check_SRCS := tests/unit/arch/test_fpu_check.c arch/x86_64/fpu_check.c
