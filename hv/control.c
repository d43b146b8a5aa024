/*
 * The control plane: the BSP's endless loop. It reads the serial console,
 * runs commands, and drives the network stack's timers. Nothing here may
 * block: every step polls and returns.
 */
#include "arch/x86_64/cpu.h"
#include "drivers/uart.h"
#include "hv/console.h"
#include "hv/host.h"
#include "net/net.h"

static void serial_sink(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    uart_write(s, n);
}

void hv_control_loop(void)
{
    static struct con_line line;
    struct con serial = { .write = serial_sink };

    con_puts(&serial, "\n" CON_PROMPT);
    for (;;) {
        int ch;
        while ((ch = uart_getc()) >= 0) {
            if (!con_line_feed(&line, ch, &serial))
                continue;
            con_execute(&serial, con_commands, con_ncommands, line.buf);
            line.len = 0;
            con_puts(&serial, CON_PROMPT);
        }
        net_poll();
        cpu_relax();
    }
}
