UNIT_TESTS += decode
decode_SRCS := tests/unit/emul/test_decode.c hv/emul/decode.c tests/unit/fakes/support.c
