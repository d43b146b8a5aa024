/*
 * 16550A UART device model: the per-VM serial port (COM1, ports 0x3F8-0x3FF)
 * the guest writes its console to. Transmit is instantaneous: bytes written
 * to THR land in an output ring that the console reads with a cursor, so
 * several readers can follow the output independently and each learns how
 * much it lost when the ring lapped it. Input from the console goes into a
 * 64-byte receive FIFO. Registers behave like a 16550A closely enough for
 * Linux's 8250 probe (scratch, IER, loopback and FIFO tests). The interrupt
 * output (what IIR reports pending) drives the configured line (IRQ 4 for
 * COM1) while MCR.OUT2 is set, as a PC gates it, and not in loopback. Line
 * status errors and modem status deltas never occur. The caller serializes all calls on one device (the VM's lock).
 * Reference: TI/National PC16550D datasheet.
 */
#ifndef HV_DEV_UART_H
#define HV_DEV_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/dev/device.h"

#define UART_DEV_COM1_BASE 0x3f8
#define UART_DEV_NPORTS    8
#define UART_DEV_RING      65536   /* a power of two */
#define UART_DEV_FIFO      64

struct uart_dev {
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;      /* registers */
    uint8_t rx[UART_DEV_FIFO];                      /* input from the console, FIFO */
    uint32_t rx_head, rx_len;
    char out[UART_DEV_RING];    /* output ring: byte i (since boot) is out[i % UART_DEV_RING] */
    uint64_t out_total;         /* bytes ever written; the ring holds the last UART_DEV_RING */
    uint64_t tx_bytes;          /* THR writes, loopback included */
    uint64_t rx_bytes;          /* bytes the guest read from RBR */
    uint8_t irq;                /* the interrupt line (configuration, not state) */
};

/* Power-on state: FIFOs off, 115200 8N1 divisor (1), everything empty. */
void uart_dev_init(struct uart_dev *u);

/*
 * One port access at `offset` 0..7 from the base port; `size` must be 1.
 * Reads store the byte in *val (zero-extended), writes take its low byte.
 * Returns 0, or -EINVAL for a bad offset or size (nothing changes).
 */
int uart_dev_io(struct uart_dev *u, unsigned offset, bool write, unsigned size, uint32_t *val);

/*
 * Copies up to n bytes of output starting at *cursor (a byte count since
 * boot) into buf and advances *cursor past them. If the ring has overwritten
 * bytes at the cursor, skips ahead to the oldest byte held and stores how many
 * were skipped in *lost (else 0; lost may be NULL). A cursor beyond the output
 * (the device was reset) is moved back to its end. Returns bytes copied.
 */
size_t uart_dev_read_output(const struct uart_dev *u, uint64_t *cursor, char *buf, size_t n,
                            uint64_t *lost);

/* Queues one byte of console input; -ENOSPC when the receive FIFO is full. */
int uart_dev_input(struct uart_dev *u, uint8_t c);
/* The interrupt output: an enabled source pending, OUT2 set, not in loopback. */
bool uart_dev_irq(const struct uart_dev *u);

/*
 * Migration record: the registers and the receive FIFO (oldest byte first in
 * rx[0..rx_len)), not the output ring. Byte fields only, so the layout is the
 * same on every host.
 */
struct uart_dev_state {
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr, rx_len;
    uint8_t rx[UART_DEV_FIFO];
};

void uart_dev_save(const struct uart_dev *u, struct uart_dev_state *s);
/* -EINVAL, leaving the device untouched, if rx_len > 64 or a reserved register bit is set. */
int uart_dev_restore(struct uart_dev *u, const struct uart_dev_state *s);

/*
 * The device type (hv/dev/device.h): "uart16550", record version 1 = struct
 * uart_dev_state byte for byte (72 bytes). Its configuration names the base port.
 */
struct vuart_cfg {
    uint16_t port;              /* 8 ports from here */
    uint8_t irq;                /* the line it drives */
};
extern const struct dev_type vuart_type;
/* The model behind a device of vuart_type. */
static inline struct uart_dev *vuart_of(struct device *d) { return d->state; }
/* Console input into the device, its interrupt line updated (the caller holds the set's lock). */
int vuart_input(struct device *d, uint8_t c);

#endif
