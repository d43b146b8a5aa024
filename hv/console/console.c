/*
 * Console core: formatted output to a sink, the line editor (printable
 * characters, backspace/DEL, Ctrl-C, Ctrl-U, history on Up/Down and Ctrl-P/N;
 * other escape sequences are swallowed) and command dispatch.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/cmdline.h"
#include "hv/console/console.h"

void con_write(struct con *c, const char *s, size_t n)
{
    c->write(c->ctx, s, n);
}

void con_puts(struct con *c, const char *s)
{
    con_write(c, s, strlen(s));
}

void con_printf(struct con *c, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    con_write(c, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void con_usage(struct con *c, const struct con_cmd *cmd)
{
    con_printf(c, "usage: %s%s%s\n", cmd->name, cmd->usage[0] ? " " : "", cmd->usage);
}

int con_execute(struct con *c, const struct con_cmd *table, size_t n, char *line)
{
    char *argv[CMDLINE_MAX_ARGS];
    int argc = cmdline_split(line, argv, CMDLINE_MAX_ARGS);

    if (argc == -E2BIG) {
        con_printf(c, "error: too many words (at most %d)\n", CMDLINE_MAX_ARGS);
        return argc;
    }
    if (argc == -EINVAL) {
        con_puts(c, "error: unterminated quote\n");
        return argc;
    }
    if (argc <= 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(argv[0], table[i].name) == 0)
            return table[i].run(c, argc, argv);
    con_printf(c, "error: unknown command '%s' (type 'help')\n", argv[0]);
    return -ENOENT;
}

/* The line on the terminal becomes s[0..n): redrawn after the prompt, the rest erased (VT100
 * EL), so a recall costs the line's length in output whatever was there. */
static void line_show(struct con_line *l, const char *s, size_t n, struct con *echo)
{
    memcpy(l->buf, s, n);
    l->len = n;
    con_puts(echo, "\r" CON_PROMPT);
    con_write(echo, s, n);
    con_puts(echo, "\x1b[K");
}

/* One step through the history: older (+1) or newer (-1); nothing past either end. */
static void line_recall(struct con_line *l, int dir, struct con *echo)
{
    if ((dir > 0 && l->hist_pos >= l->hist_count) || (dir < 0 && l->hist_pos == 0))
        return;
    if (l->hist_pos == 0) {                 /* the line being typed waits below the newest */
        memcpy(l->draft, l->buf, l->len);
        l->draft_len = l->len;
    }
    l->hist_pos += (unsigned)dir;
    if (l->hist_pos == 0) {
        line_show(l, l->draft, l->draft_len, echo);
        return;
    }
    const char *h = l->hist[(l->hist_next + CON_HISTORY - l->hist_pos) % CON_HISTORY];
    line_show(l, h, strlen(h), echo);
}

/* A line entered goes to the history, unless empty or the same as the newest. */
static void line_remember(struct con_line *l)
{
    l->hist_pos = 0;
    if (!l->len || (l->hist_count &&
                    !strcmp(l->hist[(l->hist_next + CON_HISTORY - 1) % CON_HISTORY], l->buf)))
        return;
    memcpy(l->hist[l->hist_next], l->buf, l->len + 1);
    l->hist_next = (l->hist_next + 1) % CON_HISTORY;
    if (l->hist_count < CON_HISTORY)
        l->hist_count++;
}

bool con_line_feed(struct con_line *l, int ch, struct con *echo)
{
    if (l->esc && ch < 0x20)
        l->esc = 0;                         /* a control character ends the sequence (VT100) */
    if (l->esc) {
        /* ESC [ params final, ESC O final: the final byte is 0x40..0x7e */
        if (l->esc == 1 && ch != '[' && ch != 'O') {
            l->esc = 0;
        } else if (l->esc > 1 && ch >= 0x40 && ch <= 0x7e) {
            if (l->esc == 2 && (ch == 'A' || ch == 'B'))    /* Up, Down (no parameters) */
                line_recall(l, ch == 'A' ? 1 : -1, echo);
            l->esc = 0;
        } else {
            l->esc++;
        }
        return false;
    }
    if (ch == '\n' && l->last_cr) {         /* CR LF counts once */
        l->last_cr = false;
        return false;
    }
    l->last_cr = ch == '\r';
    switch (ch) {
    case '\r':
    case '\n':
        l->buf[l->len] = 0;
        con_puts(echo, "\n");
        line_remember(l);
        return true;
    case 0x10:                              /* Ctrl-P, Ctrl-N: as Up, Down */
    case 0x0e:
        line_recall(l, ch == 0x10 ? 1 : -1, echo);
        return false;
    case 0x1b:
        l->esc = 1;
        return false;
    case 0x08:
    case 0x7f:
        if (l->len) {
            l->len--;
            con_puts(echo, "\b \b");
        }
        return false;
    case 0x03:                              /* Ctrl-C: drop the line */
        l->len = 0;
        l->hist_pos = 0;
        con_puts(echo, "^C\n" CON_PROMPT);
        return false;
    case 0x15:                              /* Ctrl-U: erase the line */
        while (l->len) {
            l->len--;
            con_puts(echo, "\b \b");
        }
        return false;
    }
    if (ch < 0x20 || ch > 0x7e || l->len >= CON_LINE_MAX - 1)
        return false;                       /* BEL would be nicer; silence is safer on scripts */
    l->buf[l->len++] = (char)ch;
    char c = (char)ch;
    con_write(echo, &c, 1);
    return false;
}
