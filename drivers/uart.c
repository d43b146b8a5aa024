/*
 * 16550 UART, polled. Register offsets from the PC16550D data sheet: RBR/THR
 * 0, IER 1, FCR 2, LCR 3, MCR 4, LSR 5; divisor latch at 0/1 with LCR.DLAB.
 */
#include <errno.h>

#include "arch/x86_64/cpu.h"
#include "drivers/uart.h"
#include "hv/base/spinlock.h"

#define LSR_DR   0x01
#define LSR_THRE 0x20

static uint16_t base;
static struct spinlock tx_lock;

int uart_init(uint16_t port, uint32_t baud)
{
    if (baud == 0 || 115200 % baud)
        return -EINVAL;
    uint16_t div = 115200 / baud;
    outb(port + 1, 0x00);          /* no interrupts: the console polls */
    outb(port + 3, 0x80);          /* DLAB */
    outb(port + 0, div & 0xff);
    outb(port + 1, div >> 8);
    outb(port + 3, 0x03);          /* 8N1 */
    outb(port + 2, 0xc7);          /* FIFOs on, cleared, 14-byte threshold */
    outb(port + 4, 0x03);          /* DTR, RTS */
    base = port;
    return 0;
}

static void put_raw(char c)
{
    /* Bounded wait: a missing UART must not hang the host. */
    for (unsigned i = 0; i < 100000 && !(inb(base + 5) & LSR_THRE); i++)
        cpu_relax();
    outb(base, (uint8_t)c);
}

void uart_write(const char *s, size_t n)
{
    if (!base)
        return;
    spin_lock(&tx_lock);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            put_raw('\r');
        put_raw(s[i]);
    }
    spin_unlock(&tx_lock);
}

int uart_getc(void)
{
    if (!base || !(inb(base + 5) & LSR_DR))
        return -1;
    return inb(base);
}
