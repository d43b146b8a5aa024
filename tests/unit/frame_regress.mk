UNIT_TESTS += frame_regress
frame_regress_SRCS := tests/unit/test_frame_regress.c hv/frame.c tests/unit/support.c
