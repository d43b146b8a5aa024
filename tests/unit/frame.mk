UNIT_TESTS += frame
frame_SRCS := tests/unit/test_frame.c hv/frame.c tests/unit/support.c
