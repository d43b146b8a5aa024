/*
 * 16550A UART model; see hv/dev/vuart.h for the contract. Register layout and
 * bits are from the PC16550D datasheet, section 8 (Registers), Table II.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hv/dev/dev_ids.h"
#include "hv/dev/vuart.h"

/* Port offsets. With LCR.DLAB set, 0 and 1 are the divisor latch (DLL, DLM). */
enum {
    UART_RBR_THR = 0, UART_IER = 1, UART_IIR_FCR = 2, UART_LCR = 3,
    UART_MCR = 4, UART_LSR = 5, UART_MSR = 6, UART_SCR = 7,
};

#define IER_RDI      0x01    /* received data available */
#define IER_THRI     0x02    /* THR empty */
#define IER_MASK     0x0f    /* bits 4-7 are always 0 on a 16550 (Linux probes this) */
#define IIR_NO_INT   0x01
#define IIR_THRI     0x02
#define IIR_RDI      0x04
#define IIR_FIFO     0xc0    /* FIFOs enabled: what tells a 16550A from a 16450 */
#define FCR_ENABLE   0x01
#define FCR_CLR_RX   0x02    /* self-clearing */
#define FCR_CLR_TX   0x04    /* self-clearing; the transmitter is always empty */
#define LCR_DLAB     0x80
#define MCR_DTR      0x01
#define MCR_RTS      0x02
#define MCR_OUT1     0x04
#define MCR_OUT2     0x08
#define MCR_LOOP     0x10
#define MCR_MASK     0x1f    /* bits 5-7 are always 0 on a 16550 */
#define LSR_DR       0x01
#define LSR_THRE     0x20
#define LSR_TEMT     0x40
#define MSR_CTS      0x10
#define MSR_DSR      0x20
#define MSR_RI       0x40
#define MSR_DCD      0x80

_Static_assert((UART_DEV_RING & (UART_DEV_RING - 1)) == 0, "ring index uses a mask");
_Static_assert(sizeof(struct uart_dev_state) == 8 + UART_DEV_FIFO, "migration record layout");

void uart_dev_init(struct uart_dev *u)
{
    memset(u, 0, sizeof(*u));
    u->dll = 1;     /* 115200 baud, what firmware leaves behind */
}

static bool rx_push(struct uart_dev *u, uint8_t c)
{
    if (u->rx_len == UART_DEV_FIFO)
        return false;
    u->rx[(u->rx_head + u->rx_len) % UART_DEV_FIFO] = c;
    u->rx_len++;
    return true;
}

static uint8_t rx_pop(struct uart_dev *u)
{
    uint8_t c;

    if (!u->rx_len)
        return 0;
    c = u->rx[u->rx_head];
    u->rx_head = (u->rx_head + 1) % UART_DEV_FIFO;
    u->rx_len--;
    u->rx_bytes++;
    return c;
}

int uart_dev_input(struct uart_dev *u, uint8_t c)
{
    return rx_push(u, c) ? 0 : -ENOSPC;
}

static void uart_transmit(struct uart_dev *u, uint8_t c)
{
    u->tx_bytes++;
    if (u->mcr & MCR_LOOP) {
        /* 8.6.3: in loopback the transmitter feeds the receiver; a full FIFO overruns. */
        (void)rx_push(u, c);
        return;
    }
    u->out[u->out_total & (UART_DEV_RING - 1)] = (char)c;
    u->out_total++;
}

/*
 * Highest-priority pending source (Table IV: line status, then received data,
 * then THR empty, then modem status). The transmitter is always empty, so THRE
 * is pending whenever it is enabled; there are no line or modem status events.
 */
static uint8_t uart_iir(const struct uart_dev *u)
{
    uint8_t iir = IIR_NO_INT;

    if ((u->ier & IER_RDI) && u->rx_len)
        iir = IIR_RDI;
    else if (u->ier & IER_THRI)
        iir = IIR_THRI;
    return iir | ((u->fcr & FCR_ENABLE) ? IIR_FIFO : 0);
}

bool uart_dev_irq(const struct uart_dev *u)
{
    return (u->mcr & MCR_OUT2) && !(u->mcr & MCR_LOOP) && !(uart_iir(u) & IIR_NO_INT);
}

/* 8.6.3: in loopback, CTS <- RTS, DSR <- DTR, RI <- OUT1, DCD <- OUT2. */
static uint8_t uart_msr(const struct uart_dev *u)
{
    uint8_t m = u->mcr, msr = 0;

    if (!(m & MCR_LOOP))
        return MSR_DCD | MSR_DSR | MSR_CTS;     /* a terminal is always attached */
    msr |= (m & MCR_RTS) ? MSR_CTS : 0;
    msr |= (m & MCR_DTR) ? MSR_DSR : 0;
    msr |= (m & MCR_OUT1) ? MSR_RI : 0;
    msr |= (m & MCR_OUT2) ? MSR_DCD : 0;
    return msr;
}

static uint8_t uart_read(struct uart_dev *u, unsigned offset)
{
    bool dlab = u->lcr & LCR_DLAB;

    switch (offset) {
    case UART_RBR_THR:
        return dlab ? u->dll : rx_pop(u);
    case UART_IER:
        return dlab ? u->dlm : u->ier;
    case UART_IIR_FCR:
        return uart_iir(u);
    case UART_LCR:
        return u->lcr;
    case UART_MCR:
        return u->mcr;
    case UART_LSR:
        return LSR_THRE | LSR_TEMT | (u->rx_len ? LSR_DR : 0);
    case UART_MSR:
        return uart_msr(u);
    default:
        return u->scr;
    }
}

static void uart_write(struct uart_dev *u, unsigned offset, uint8_t v)
{
    bool dlab = u->lcr & LCR_DLAB;

    switch (offset) {
    case UART_RBR_THR:
        if (dlab)
            u->dll = v;
        else
            uart_transmit(u, v);
        break;
    case UART_IER:
        if (dlab)
            u->dlm = v;
        else
            u->ier = v & IER_MASK;
        break;
    case UART_IIR_FCR:
        if (v & FCR_CLR_RX)
            u->rx_head = u->rx_len = 0;
        u->fcr = v & ~(FCR_CLR_RX | FCR_CLR_TX);
        break;
    case UART_LCR:
        u->lcr = v;
        break;
    case UART_MCR:
        u->mcr = v & MCR_MASK;
        break;
    case UART_SCR:
        u->scr = v;
        break;
    default:
        break;      /* LSR and MSR are read-only (writes are for factory test) */
    }
}

int uart_dev_io(struct uart_dev *u, unsigned offset, bool write, unsigned size, uint32_t *val)
{
    if (size != 1 || offset >= UART_DEV_NPORTS)
        return -EINVAL;
    if (write)
        uart_write(u, offset, (uint8_t)*val);
    else
        *val = uart_read(u, offset);
    return 0;
}

size_t uart_dev_read_output(const struct uart_dev *u, uint64_t *cursor, char *buf, size_t n,
                            uint64_t *lost)
{
    uint64_t total = u->out_total, c = *cursor, skipped = 0;
    size_t len, pos, first;

    if (c > total)
        c = total;
    if (total - c > UART_DEV_RING) {
        skipped = total - UART_DEV_RING - c;
        c = total - UART_DEV_RING;
    }
    len = total - c < n ? (size_t)(total - c) : n;
    pos = (size_t)(c & (UART_DEV_RING - 1));
    first = len < UART_DEV_RING - pos ? len : UART_DEV_RING - pos;
    if (len) {
        memcpy(buf, u->out + pos, first);
        memcpy(buf + first, u->out, len - first);
    }
    *cursor = c + len;
    if (lost)
        *lost = skipped;
    return len;
}

void uart_dev_save(const struct uart_dev *u, struct uart_dev_state *s)
{
    memset(s, 0, sizeof(*s));
    s->ier = u->ier;
    s->lcr = u->lcr;
    s->mcr = u->mcr;
    s->scr = u->scr;
    s->dll = u->dll;
    s->dlm = u->dlm;
    s->fcr = u->fcr;
    s->rx_len = (uint8_t)u->rx_len;
    for (uint32_t i = 0; i < u->rx_len; i++)
        s->rx[i] = u->rx[(u->rx_head + i) % UART_DEV_FIFO];
}

static bool state_valid(const struct uart_dev_state *s)
{
    return s->rx_len <= UART_DEV_FIFO && !(s->ier & ~IER_MASK) && !(s->mcr & ~MCR_MASK) &&
           !(s->fcr & (FCR_CLR_RX | FCR_CLR_TX));
}

int uart_dev_restore(struct uart_dev *u, const struct uart_dev_state *s)
{
    if (!state_valid(s))
        return -EINVAL;
    u->ier = s->ier;
    u->lcr = s->lcr;
    u->mcr = s->mcr;
    u->scr = s->scr;
    u->dll = s->dll;
    u->dlm = s->dlm;
    u->fcr = s->fcr;
    memcpy(u->rx, s->rx, sizeof(u->rx));
    u->rx_head = 0;
    u->rx_len = s->rx_len;
    return 0;
}

/* ---- the device type ---- */

#define VUART_RECORD_V1 (8 + UART_DEV_FIFO)

static int vuart_access(void *opaque, uint64_t off, bool write, unsigned size, uint64_t *val)
{
    uint32_t v = (uint32_t)*val;
    struct uart_dev *u = vuart_of(opaque);
    int rc = uart_dev_io(u, (unsigned)off, write, size, &v);
    if (!rc && !write)
        *val = v;
    dev_irq_set(opaque, u->irq, uart_dev_irq(u));
    return rc;
}

int vuart_input(struct device *d, uint8_t c)
{
    struct uart_dev *u = vuart_of(d);
    int rc = uart_dev_input(u, c);
    dev_irq_set(d, u->irq, uart_dev_irq(u));
    return rc;
}

static int vuart_create(struct device *d, const void *cfg, char *err, size_t errlen)
{
    const struct vuart_cfg *c = cfg;
    uint16_t port = c ? c->port : UART_DEV_COM1_BASE;
    uart_dev_init(vuart_of(d));
    vuart_of(d)->irq = c ? c->irq : 4;
    int rc = dev_claim_pio(d, port, UART_DEV_NPORTS, vuart_access);
    if (rc)
        snprintf(err, errlen, "uart16550: ports 0x%x-0x%x %s", port, port + UART_DEV_NPORTS - 1,
                 rc == -EBUSY ? "are taken" : "cannot be claimed");
    return rc;
}

/* A reset clears the registers and input; the output ring keeps what the console has not read. */
static void vuart_reset(struct device *d)
{
    struct uart_dev *u = vuart_of(d);
    u->ier = u->lcr = u->mcr = u->scr = u->dlm = u->fcr = 0;
    u->dll = 1;
    u->rx_head = u->rx_len = 0;
    dev_irq_set(d, u->irq, false);
}

/* Record v1: ier lcr mcr scr dll dlm fcr rx_len, then the 64-byte FIFO oldest first. */
static void vuart_save(const struct device *d, uint8_t *rec)
{
    struct uart_dev_state s;
    uart_dev_save(d->state, &s);
    memcpy(rec, &s, VUART_RECORD_V1);
}

static int vuart_check(const struct device *d, const uint8_t *rec, char *why, size_t whylen)
{
    struct uart_dev_state s;
    (void)d;
    memcpy(&s, rec, sizeof(s));
    if (!state_valid(&s)) {
        snprintf(why, whylen, "rx_len %u or a reserved register bit out of range", s.rx_len);
        return -EINVAL;
    }
    return 0;
}

static void vuart_load(struct device *d, const uint8_t *rec)
{
    struct uart_dev_state s;
    memcpy(&s, rec, sizeof(s));
    (void)uart_dev_restore(vuart_of(d), &s);      /* checked before */
    dev_irq_set(d, vuart_of(d)->irq, uart_dev_irq(vuart_of(d)));
}

_Static_assert(sizeof(struct uart_dev_state) == VUART_RECORD_V1, "record v1 layout");

const struct dev_type vuart_type = {
    .name = "uart16550",
    .id = DEV_ID_UART16550,
    .version = 1,
    .record_size = VUART_RECORD_V1,
    .state_size = sizeof(struct uart_dev),
    .create = vuart_create,
    .reset = vuart_reset,
    .save = vuart_save,
    .check = vuart_check,
    .load = vuart_load,
};
