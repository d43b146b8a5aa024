/*
 * Host tests for hv/console/console.c: dispatch through a test command table and the line editor.
 * A fake struct con appends everything written to `out`, so each test checks the exact
 * bytes a serial terminal would receive.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hv/base/cmdline.h"
#include "hv/console/console.h"
#include "support.h"

static char out[8192];
static size_t out_len;
static unsigned writes;

static void sink(void *ctx, const char *s, size_t n)
{
    assert_ptr_equal(ctx, &out);
    assert_true(out_len + n < sizeof(out));
    memcpy(out + out_len, s, n);
    out_len += n;
    out[out_len] = 0;
    writes++;
}

static struct con con = { .write = sink, .ctx = &out };

/* ---- the test command table ---- */

static int calls;
static int seen_argc;
static char seen_argv[CMDLINE_MAX_ARGS][64];
static const char *seen_cmd;

static int record(const char *name, int argc, char **argv)
{
    calls++;
    seen_cmd = name;
    seen_argc = argc;
    for (int i = 0; i < argc && i < CMDLINE_MAX_ARGS; i++) {
        assert_true(strlen(argv[i]) < sizeof(seen_argv[i]));
        strcpy(seen_argv[i], argv[i]);
    }
    return 0;
}

static int cmd_echo(struct con *c, int argc, char **argv)
{
    record("echo", argc, argv);
    for (int i = 1; i < argc; i++)
        con_printf(c, "%s%s", argv[i], i + 1 < argc ? " " : "\n");
    return 0;
}

static int cmd_fail(struct con *c, int argc, char **argv)
{
    record("fail", argc, argv);
    con_puts(c, "error: no\n");
    return -EBUSY;
}

static int cmd_vm(struct con *c, int argc, char **argv)
{
    (void)c;
    record("vm", argc, argv);
    return argc;
}

static const struct con_cmd table[] = {
    { .name = "echo", .usage = "WORDS...", .help = "print the words", .run = cmd_echo },
    { .name = "fail", .usage = "", .help = "always fails", .run = cmd_fail },
    { .name = "vm", .usage = "start|stop NAME [args=\"...\"]", .help = "VMs", .run = cmd_vm },
    { .name = "vmx", .usage = "", .help = "prefix twin of vm", .run = cmd_vm },
};
#define NTABLE (sizeof(table) / sizeof(table[0]))

static int setup(void **state)
{
    (void)state;
    out_len = 0;
    out[0] = 0;
    writes = 0;
    calls = 0;
    seen_argc = -1;
    seen_cmd = NULL;
    memset(seen_argv, 0, sizeof(seen_argv));
    unit_log_reset();
    return 0;
}

static int exec(const char *line)
{
    char buf[512];

    assert_true(strlen(line) < sizeof(buf));
    strcpy(buf, line);
    return con_execute(&con, table, NTABLE, buf);
}

/* ---- output helpers ---- */

static void test_output_helpers(void **state)
{
    char big[700];

    (void)state;
    con_write(&con, "ab\0c", 4);                /* raw bytes, NUL included */
    assert_int_equal(out_len, 4);
    assert_memory_equal(out, "ab\0c", 4);
    out_len = 0;
    con_puts(&con, "hello\n");
    con_printf(&con, "%d-%s|%5u|\n", -3, "x", 42u);
    assert_string_equal(out, "hello\n-3-x|   42|\n");
    /* con_printf caps one call at 511 bytes */
    out_len = 0;
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    con_printf(&con, "%s", big);
    assert_int_equal(out_len, 511);
    assert_int_equal(out[510], 'z');
}

static void test_usage_format(void **state)
{
    (void)state;
    con_usage(&con, &table[0]);
    assert_string_equal(out, "usage: echo WORDS...\n");
    out_len = 0;
    con_usage(&con, &table[1]);                 /* no arguments: no trailing blank */
    assert_string_equal(out, "usage: fail\n");
    out_len = 0;
    con_usage(&con, &table[2]);
    assert_string_equal(out, "usage: vm start|stop NAME [args=\"...\"]\n");
}

/* ---- con_execute ---- */

static void test_dispatch_argv(void **state)
{
    (void)state;
    assert_int_equal(exec("vm start web args=\"console=ttyS0 quiet\""), 4);
    assert_int_equal(calls, 1);
    assert_string_equal(seen_cmd, "vm");
    assert_int_equal(seen_argc, 4);
    assert_string_equal(seen_argv[0], "vm");
    assert_string_equal(seen_argv[1], "start");
    assert_string_equal(seen_argv[2], "web");
    assert_string_equal(seen_argv[3], "args=console=ttyS0 quiet");
    assert_int_equal(out_len, 0);               /* dispatch itself prints nothing */
}

static void test_dispatch_exact_name(void **state)
{
    (void)state;
    assert_int_equal(exec("vmx"), 1);           /* not taken by the "vm" entry */
    assert_int_equal(calls, 1);
    assert_int_equal(seen_argc, 1);
    assert_string_equal(seen_argv[0], "vmx");
    setup(NULL);
    assert_int_equal(exec("\t  echo   a\tb  \r\n"), 0);
    assert_string_equal(seen_cmd, "echo");
    assert_int_equal(seen_argc, 3);
    assert_string_equal(out, "a b\n");
}

static void test_handler_result_passed_back(void **state)
{
    (void)state;
    assert_int_equal(exec("fail now"), -EBUSY);
    assert_int_equal(calls, 1);
    assert_int_equal(seen_argc, 2);
    assert_string_equal(out, "error: no\n");
}

static void test_unknown_command(void **state)
{
    (void)state;
    assert_int_equal(exec("launch rockets"), -ENOENT);
    assert_int_equal(calls, 0);
    assert_string_equal(out, "error: unknown command 'launch' (type 'help')\n");
    out_len = 0;
    assert_int_equal(exec("ECHO hi"), -ENOENT);   /* names are case sensitive */
    assert_string_equal(out, "error: unknown command 'ECHO' (type 'help')\n");
    out_len = 0;
    assert_int_equal(exec("ech"), -ENOENT);
    assert_int_equal(exec("\"echo x\""), -ENOENT);  /* one quoted word is not a command line */
    assert_int_equal(calls, 0);
    /* an empty table knows nothing */
    char line[] = "echo";
    out_len = 0;
    assert_int_equal(con_execute(&con, table, 0, line), -ENOENT);
    assert_string_equal(out, "error: unknown command 'echo' (type 'help')\n");
}

static void test_quoting_errors(void **state)
{
    char line[512] = "echo";

    (void)state;
    assert_int_equal(exec("echo \"unterminated"), -EINVAL);
    assert_int_equal(calls, 0);
    assert_string_equal(out, "error: unterminated quote\n");
    out_len = 0;
    for (int i = 1; i < CMDLINE_MAX_ARGS; i++)
        strcat(line, " w");
    assert_int_equal(exec(line), 0);            /* exactly CMDLINE_MAX_ARGS words */
    assert_int_equal(seen_argc, CMDLINE_MAX_ARGS);
    assert_int_equal(calls, 1);
    out_len = 0;
    strcat(line, " over");
    assert_int_equal(exec(line), -E2BIG);
    assert_int_equal(calls, 1);
    assert_string_equal(out, "error: too many words (at most 32)\n");
}

static void test_empty_line(void **state)
{
    static const char *const empty[] = { "", " ", "\t\t", "  \r\n", "\n" };

    (void)state;
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++)
        assert_int_equal(exec(empty[i]), 0);
    assert_int_equal(calls, 0);
    assert_int_equal(writes, 0);
}

/* ---- con_line_feed ---- */

static struct con_line line;
static int lines_done;

/* Feeds a byte string the way control.c does: a complete line is taken and len reset. */
static void feed(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (con_line_feed(&line, (unsigned char)s[i], &con)) {
            lines_done++;
            assert_int_equal(strlen(line.buf), line.len);
            line.len = 0;
        }
    }
}

#define FEED(lit) feed(lit, sizeof(lit) - 1)

static int line_setup(void **state)
{
    setup(state);
    memset(&line, 0, sizeof(line));
    lines_done = 0;
    return 0;
}

/* Feeds one string that must end in exactly one complete line; returns that line. */
static const char *one_line(const char *s)
{
    size_t n = strlen(s);
    bool done = false;

    for (size_t i = 0; i < n; i++) {
        bool r = con_line_feed(&line, (unsigned char)s[i], &con);
        if (r && (done || i + 1 != n))
            fail_msg("line completed early at byte %zu of '%s'", i, s);
        done = r;
    }
    assert_true(done);
    assert_int_equal(strlen(line.buf), line.len);
    return line.buf;
}

static void test_printable_echoed(void **state)
{
    (void)state;
    assert_string_equal(one_line("help me ~!\r"), "help me ~!");
    assert_string_equal(out, "help me ~!\n");
    assert_int_equal(line.len, 10);
}

static void test_line_endings(void **state)
{
    (void)state;
    FEED("a\r");
    assert_int_equal(lines_done, 1);
    FEED("b\n");
    assert_int_equal(lines_done, 2);
    FEED("c\r\n");                              /* CRLF: one line, not two */
    assert_int_equal(lines_done, 3);
    FEED("d\r\ne\r\n");
    assert_int_equal(lines_done, 5);
    assert_string_equal(out, "a\nb\nc\nd\ne\n");
    /* bare line endings still end (empty) lines: CR CR, LF LF, LF CR */
    out_len = 0;
    FEED("\r\r\n\n\n\r");
    assert_int_equal(lines_done, 5 + 5);
    assert_string_equal(out, "\n\n\n\n\n");
    assert_int_equal(line.len, 0);
    /* CR, then a character, then LF: LF ends the next line */
    FEED("\rx\n");
    assert_int_equal(lines_done, 12);
}

static void test_backspace_and_del(void **state)
{
    (void)state;
    FEED("abc\b");
    assert_int_equal(line.len, 2);
    FEED("\x7f");
    assert_int_equal(line.len, 1);
    assert_string_equal(out, "abc\b \b\b \b");
    FEED("\b\b\x7f");                           /* erasing past the start: no output */
    assert_int_equal(line.len, 0);
    assert_string_equal(out, "abc\b \b\b \b\b \b");
    assert_string_equal(one_line("xy\bz\r"), "xz");
}

static void test_ctrl_c_drops_line(void **state)
{
    (void)state;
    FEED("reboot");
    FEED("\x03");
    assert_int_equal(line.len, 0);
    assert_string_equal(out, "reboot^C\n" CON_PROMPT);
    assert_int_equal(lines_done, 0);            /* nothing to execute */
    out_len = 0;
    assert_string_equal(one_line("help\r"), "help");
}

static void test_ctrl_u_erases(void **state)
{
    (void)state;
    FEED("abc\x15");
    assert_int_equal(line.len, 0);
    assert_string_equal(out, "abc\b \b\b \b\b \b");
    out_len = 0;
    FEED("\x15");                               /* empty line: nothing to erase */
    assert_int_equal(out_len, 0);
    assert_string_equal(one_line("ok\n"), "ok");
}

static void test_escape_sequences_swallowed(void **state)
{
    (void)state;
    /* arrows (CSI and SS3), Home, Delete, Ctrl-Right with parameters, ICH ('@' is final) */
    assert_string_equal(one_line("l\x1b[As\x1b[D\x1bOB\x1b[H\x1b[3~\x1b[1;5C\x1b[2@\r"), "ls");
    assert_string_equal(out, "ls\n");
    assert_int_equal(line.esc, 0);
    line.len = 0;
    out_len = 0;
    /* a sequence split across reads keeps its state */
    FEED("a\x1b");
    FEED("[");
    FEED("B");
    FEED("b");
    assert_int_equal(line.len, 2);
    assert_memory_equal(line.buf, "ab", 2);
    assert_string_equal(out, "ab");
}

/* Up/Down (CSI and SS3) and Ctrl-P/N walk the lines entered; the line being typed waits
 * below the newest; empty lines and repeats are not kept; the oldest go past CON_HISTORY. */
static void test_history(void **state)
{
    (void)state;
    FEED("one\rtwo\rtwo\r\r");
    assert_int_equal(line.hist_count, 2);
    out_len = 0;
    FEED("dr");
    FEED("\x1b[A");                             /* Up: two, in place of dr */
    assert_int_equal(line.len, 3);
    assert_memory_equal(line.buf, "two", 3);
    assert_string_equal(out, "dr\r" CON_PROMPT "two\x1b[K");
    FEED("\x1bOA");                             /* Up (SS3): one */
    assert_memory_equal(line.buf, "one", 3);
    FEED("\x10");                               /* Ctrl-P past the oldest: still one */
    assert_memory_equal(line.buf, "one", 3);
    FEED("\x1b[B\x0e");                        /* Down, Ctrl-N: back to dr */
    assert_int_equal(line.len, 2);
    assert_memory_equal(line.buf, "dr", 2);
    FEED("\x1b[B");                             /* past the newest: nothing */
    assert_memory_equal(line.buf, "dr", 2);
    FEED("\x15\x1b[A");                         /* a recalled line can be edited and run */
    assert_string_equal(one_line("\bo!\r"), "two!");
    line.len = 0;
    FEED("\x1b[1;5A");                          /* Ctrl-Up (parameters): swallowed */
    assert_int_equal(line.len, 0);
    FEED("x\x03\x1b[A");                        /* Ctrl-C ends the walk */
    assert_memory_equal(line.buf, "two!", 4);
    line.len = 0;
    line.hist_pos = 0;
    char cmd[8];
    for (unsigned i = 0; i < CON_HISTORY + 8; i++) {
        snprintf(cmd, sizeof(cmd), "c%u\r", i);
        feed(cmd, strlen(cmd));
    }
    assert_int_equal(line.hist_count, CON_HISTORY);
    for (unsigned i = 0; i < CON_HISTORY + 3; i++)
        FEED("\x1b[A");
    snprintf(cmd, sizeof(cmd), "c%u", 8);       /* the oldest kept */
    assert_int_equal(line.len, strlen(cmd));
    assert_memory_equal(line.buf, cmd, strlen(cmd));
}

static void test_overlong_capped(void **state)
{
    char s[400];

    (void)state;
    memset(s, 'q', 300);
    feed(s, 300);
    assert_int_equal(line.len, CON_LINE_MAX - 1);
    assert_int_equal(out_len, CON_LINE_MAX - 1);    /* the excess is not echoed */
    FEED("\b");
    assert_int_equal(line.len, CON_LINE_MAX - 2);
    FEED("rs");                                     /* room for one more */
    assert_int_equal(line.len, CON_LINE_MAX - 1);
    assert_int_equal(line.buf[CON_LINE_MAX - 2], 'r');
    memset(s, 'q', CON_LINE_MAX - 2);
    s[CON_LINE_MAX - 2] = 'r';
    s[CON_LINE_MAX - 1] = 0;
    assert_string_equal(one_line("\r"), s);
}

static void test_non_printables_ignored(void **state)
{
    static const int junk[] = { 0x00, 0x01, 0x07, '\t', 0x0b, 0x0c, 0x1f, 0x80, 0xa0, 0xff,
                                -1, 0x100 };

    (void)state;
    FEED("a");
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        assert_false(con_line_feed(&line, junk[i], &con));
    FEED("b");
    assert_int_equal(line.len, 2);
    assert_memory_equal(line.buf, "ab", 2);
    assert_string_equal(out, "ab");
    assert_string_equal(one_line(" ~\r"), "ab ~");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_output_helpers, setup),
        cmocka_unit_test_setup(test_usage_format, setup),
        cmocka_unit_test_setup(test_dispatch_argv, setup),
        cmocka_unit_test_setup(test_dispatch_exact_name, setup),
        cmocka_unit_test_setup(test_handler_result_passed_back, setup),
        cmocka_unit_test_setup(test_unknown_command, setup),
        cmocka_unit_test_setup(test_quoting_errors, setup),
        cmocka_unit_test_setup(test_empty_line, setup),
        cmocka_unit_test_setup(test_printable_echoed, line_setup),
        cmocka_unit_test_setup(test_line_endings, line_setup),
        cmocka_unit_test_setup(test_backspace_and_del, line_setup),
        cmocka_unit_test_setup(test_ctrl_c_drops_line, line_setup),
        cmocka_unit_test_setup(test_ctrl_u_erases, line_setup),
        cmocka_unit_test_setup(test_escape_sequences_swallowed, line_setup),
        cmocka_unit_test_setup(test_history, line_setup),
        cmocka_unit_test_setup(test_overlong_capped, line_setup),
        cmocka_unit_test_setup(test_non_printables_ignored, line_setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
