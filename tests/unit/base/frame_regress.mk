UNIT_TESTS += frame_regress
frame_regress_SRCS := tests/unit/base/test_frame_regress.c hv/base/frame.c tests/unit/fakes/support.c
