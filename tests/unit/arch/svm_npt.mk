UNIT_TESTS += svm_npt
svm_npt_SRCS := tests/unit/arch/test_svm_npt.c arch/x86_64/svm/svm_npt.c arch/x86_64/slpt.c \
	tests/unit/fakes/no_frames.c tests/unit/fakes/support.c
