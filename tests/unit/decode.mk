UNIT_TESTS += decode
decode_SRCS := tests/unit/test_decode.c hv/decode.c tests/unit/support.c
