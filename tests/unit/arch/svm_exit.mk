UNIT_TESTS += svm_exit
svm_exit_SRCS := tests/unit/arch/test_svm_exit.c arch/x86_64/svm/svm_exit.c tests/unit/fakes/support.c
