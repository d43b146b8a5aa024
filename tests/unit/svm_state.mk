UNIT_TESTS += svm_state
svm_state_SRCS := tests/unit/test_svm_state.c arch/x86_64/svm/svm_state.c tests/unit/support.c
