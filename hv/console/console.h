/*
 * The management console: a command table {name, usage, help, handler}.
 * Handlers write to a struct con (serial now, a TCP session later), so the
 * same commands serve every sink. Output that scripts read is stable lines.
 */
#ifndef HV_CONSOLE_H
#define HV_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

#define CON_PROMPT "ferry> "
#define CON_LINE_MAX 256

struct con {
    void (*write)(void *ctx, const char *s, size_t n);
    void *ctx;
};

typedef int (*con_cmd_fn)(struct con *c, int argc, char **argv);

struct con_cmd {
    const char *name;
    const char *usage;     /* arguments, shown on misuse and by help */
    const char *help;
    const char *examples;  /* command lines, one a line: `help NAME` shows them */
    con_cmd_fn run;        /* returns 0, or a negative errno after printing why */
};

void con_write(struct con *c, const char *s, size_t n);
void con_puts(struct con *c, const char *s);
void con_printf(struct con *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void con_usage(struct con *c, const struct con_cmd *cmd);

/* Runs one line against a table; unknown commands and bad quoting get an error line. */
int con_execute(struct con *c, const struct con_cmd *table, size_t n, char *line);

/*
 * Line editing: feed characters; returns true when buf holds a complete line. Up and Down
 * (or Ctrl-P and Ctrl-N) walk the last CON_HISTORY lines entered; the line being typed comes
 * back below the newest.
 */
#define CON_HISTORY 32
struct con_line {
    char buf[CON_LINE_MAX];
    size_t len;
    int esc;               /* inside an escape sequence: bytes of it so far */
    bool last_cr;
    char hist[CON_HISTORY][CON_LINE_MAX];
    unsigned hist_count;   /* lines held, at most CON_HISTORY */
    unsigned hist_next;    /* the ring slot the next line goes to */
    unsigned hist_pos;     /* 0: the line being typed; k: the k-th newest */
    char draft[CON_LINE_MAX];
    size_t draft_len;
};
bool con_line_feed(struct con_line *l, int ch, struct con *echo);

extern const struct con_cmd con_commands[];
extern const size_t con_ncommands;

#endif
