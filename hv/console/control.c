/*
 * The control plane: the BSP's endless loop. It reads the serial console,
 * runs commands, streams an attached VM's UART output, and drives the
 * network stack's timers. Nothing here may block: every step polls.
 */
#include <errno.h>

#include "drivers/uart.h"
#include "hv/base/log.h"
#include "hv/base/spinlock.h"
#include "hv/base/time.h"
#include "hv/console/console.h"
#include "hv/console/control.h"
#include "hv/mgmt/mgmt_mig.h"
#include "hv/mgmt/mgmt_net.h"
#include "hv/mgmt/mgmt_vm.h"

#define CTRL_RBRACKET 0x1d

static int attached = -1;       /* the mgmt_console_open handle of the attached VM */
static struct con_line line;
static bool in_command;
static bool started;

bool control_console_idle(void)
{
    /* Before the loop starts (boot) the console is ours. */
    return !started || (attached < 0 && !in_command && line.len == 0);
}
static uint64_t attached_cursor;
#define INQ_SIZE 512
static uint8_t inq[INQ_SIZE];      /* typed, not yet taken by the guest's UART */
static unsigned inq_head, inq_len;

static void serial_sink(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    uart_write(s, n);
}

void control_attach(int h)
{
    attached = h;
    inq_len = 0;
    attached_cursor = 0;       /* show everything still buffered */
}

/* While attached: guest output to the terminal, keystrokes to the guest, Ctrl-] leaves. */
static bool attached_step(struct con *con)
{
    char buf[256];
    uint64_t lost = 0;
    size_t n;
    int ch;

    if (!mgmt_console_alive(attached)) {
        con_puts(con, "\n[vm destroyed; detached]\n" CON_PROMPT);
        attached = -1;
        return false;
    }
    while ((n = mgmt_console_read(attached, &attached_cursor, buf, sizeof(buf), &lost))) {
        if (lost)       /* the ring wrapped past us: say so before the (cut) rest */
            con_printf(con, "[%llu bytes of output lost]\n", (unsigned long long)lost);
        lost = 0;
        con_write(con, buf, n);
    }
    /* What is typed waits in inq while the guest's receive FIFO is full (a line pasted or
     * typed faster than the guest reads), so nothing is lost up to INQ_SIZE bytes ahead of
     * the guest; past that, bytes are dropped as an overrun would. Ctrl-] always detaches. */
    while ((ch = uart_getc()) >= 0) {
        if (ch == CTRL_RBRACKET) {
            con_puts(con, "\n[detached]\n" CON_PROMPT);
            attached = -1;
            return false;
        }
        if (inq_len < INQ_SIZE)
            inq[(inq_head + inq_len++) % INQ_SIZE] = (uint8_t)ch;
    }
    while (inq_len && mgmt_console_input(attached, inq[inq_head]) != -ENOSPC) {
        inq_head = (inq_head + 1) % INQ_SIZE;
        inq_len--;
    }
    return true;
}

/*
 * The outgoing migrations' progress bar shares the prompt's line while the console is idle
 * (nothing typed): redrawn in place twice a second, erased before any message.
 */
#define BAR_PERIOD_NS 500000000ull
static bool bar_shown;
static uint64_t bar_next;

static bool bar_clear(struct con *con)
{
    if (!bar_shown)
        return false;
    con_puts(con, "\r\033[K");
    bar_shown = false;
    return true;
}

static void bar_step(struct con *con)
{
    char bar[200];
    uint64_t now = time_ns();
    if (now < bar_next || !control_console_idle())
        return;
    bar_next = now + BAR_PERIOD_NS;
    mgmt_migrate_progress(bar, sizeof(bar));
    if (!bar[0]) {
        if (bar_clear(con))
            con_puts(con, CON_PROMPT);
        return;
    }
    con_printf(con, "\r\033[K%s " CON_PROMPT, bar);
    bar_shown = true;
}

void hv_control_loop(void)
{
    struct con serial = { .write = serial_sink };

    started = true;
    con_puts(&serial, "\n" CON_PROMPT);
    for (;;) {
        int ch;
        /* Messages from other CPUs start on their own line, and the prompt follows them. */
        if (control_console_idle() && log_pending()) {
            if (!bar_clear(&serial))
                con_puts(&serial, "\n");
            log_flush_pending();
            con_puts(&serial, CON_PROMPT);
        }
        mgmt_migrate_poll();
        char msg[MGMT_MIGRATE_MESSAGE_MAX];
        if (control_console_idle() && (mgmt_migrate_message(msg, sizeof(msg)) ||
                                       mgmt_vm_event(msg, sizeof(msg)))) {
            con_puts(&serial, bar_clear(&serial) ? "" : "\n");
            con_puts(&serial, msg);             /* whole: con_printf's buffer is smaller */
            con_puts(&serial, "\n" CON_PROMPT);
        }
        bar_step(&serial);
        if (attached >= 0 && attached_step(&serial)) {
            mgmt_net_service();
            continue;
        }
        while (attached < 0 && (ch = uart_getc()) >= 0) {
            if (!con_line_feed(&line, ch, &serial))
                continue;
            in_command = true;
            bar_shown = false;          /* the command's output starts a new line */
            con_execute(&serial, con_commands, con_ncommands, line.buf);
            in_command = false;
            line.len = 0;
            log_flush_pending();
            if (attached < 0)
                con_puts(&serial, CON_PROMPT);
        }
        mgmt_net_service();
        spin_relax();
    }
}
