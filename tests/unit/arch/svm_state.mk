UNIT_TESTS += svm_state
svm_state_SRCS := tests/unit/arch/test_svm_state.c arch/x86_64/svm/svm_state.c tests/unit/fakes/support.c
