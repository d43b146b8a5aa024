UNIT_TESTS += dev_uart
dev_uart_SRCS := tests/unit/test_dev_uart.c hv/dev_uart.c tests/unit/support.c
