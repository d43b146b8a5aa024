UNIT_TESTS += vuart
vuart_SRCS := tests/unit/dev/test_vuart.c hv/dev/vuart.c tests/unit/fakes/support.c
