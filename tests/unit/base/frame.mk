UNIT_TESTS += frame
frame_SRCS := tests/unit/base/test_frame.c hv/base/frame.c tests/unit/fakes/support.c
