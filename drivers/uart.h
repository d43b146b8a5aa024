/* 16550 UART on an I/O port: the serial console (COM1, 115200 8N1 by default). */
#ifndef DRIVERS_UART_H
#define DRIVERS_UART_H

#include <stddef.h>
#include <stdint.h>

#define UART_COM1 0x3f8

int uart_init(uint16_t port, uint32_t baud);
void uart_write(const char *s, size_t n);   /* "\n" goes out as "\r\n" */
int uart_getc(void);                        /* -1 when nothing is waiting */

#endif
