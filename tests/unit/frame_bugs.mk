UNIT_TESTS += frame_bugs
frame_bugs_SRCS := tests/unit/test_frame_bugs.c hv/frame.c tests/unit/support.c
