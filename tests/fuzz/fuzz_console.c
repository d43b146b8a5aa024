// libFuzzer target: the serial console as an operator types at it. The bytes go through the
// real control loop (hv/console/control.c: line editor of console.c, `vm console` attach and
// its keystroke queue), the real tokenizer and dispatch (console.c, hv/base/cmdline.c) and every
// handler of the real command table (hv/console/cmd_*.c, commands.c) with the real argument
// rules below them (hv/mgmt/mgmt_args.c, mgmt_mig.c, mgmt_cpu.c with hv/cpu/). The management
// actions they end in are fakes that keep a little state and check what they are asked
// (tests/fuzz/fuzz_console_mgmt.c).
//
// Build (make fuzz does) and run from the repository root:
//   make build/fuzz_console && build/fuzz_console -max_total_time=60 -max_len=1024 \
//       -dict=tests/fuzz/console.dict build/fuzz_corpus_console
// FUZZ_CONSOLE_SHOW=1 in the environment shows what the terminal receives (for a reproducer).
// An empty corpus directory gets seeds (each command of the table in its documented forms,
// help for each, its examples); the target refuses to start if a command of the table has no
// seed, or no examples in `help`, or an example that is not a line of that command.
// The link wraps con_execute and cmdline_split (-Wl,--wrap): the wrappers see each command's
// line, words and return, which control.c drops.
//
// Input: byte 0 is how many bytes reach the UART between two passes of the loop (0: all at
// once), the rest is what is typed. Every input starts from the same VMs ("web" running, "db"
// paused with a local disk), switch sw0 on eth0, and a Ctrl-C that drops whatever line the
// previous input left; after the last byte the loop runs IDLE_PASSES more passes (an attached
// guest takes its queued keystrokes), then the input ends. `reboot` ends it early.
//
// Checks, beyond the sanitizers:
//  - what runs is what the echo showed: the terminal line of the prompt ends with the executed
//    line (trailing blanks aside); that line is printable ASCII, shorter than CON_LINE_MAX;
//  - no handler reads past its line or words: the line is a heap copy of exactly its length,
//    argv[argc..] point at poisoned memory; words hold no '"' (cmdline.h: quotes are removed);
//  - a command returns 0 or a negative errno (console.h); one that fails printed a line
//    starting "error:" or its usage ("usage: CMD", `help CMD` shows CMD's), unless its action
//    reports the outcome as a result line (ping without replies, bench failure, dirty pages
//    missed); one that succeeds printed no "error:" line; a command prints whole lines;
//  - the fake actions check their arguments against mgmt's documented rules: create options
//    (name, mem 2-1048576 even, cpus 1-8, node, NICs and MACs, image/kernel exclusive);
//    migrate downtime 1-60000, bandwidth 1-100000, throttle 0-99, port, dirty mode; inject
//    hold 1-MIG_HOLD_MAX_S; ping count 1-1000; bench 1-600 s; a switch uplink never ""; dirty
//    start/stop/verify only on a VM mgmt_dirty_check accepted; indices within mgmt's counts;
//    reboot only for a bare `reboot` after "rebooting";
//  - keystrokes typed while attached reach the guest in order, none lost while fewer than 512
//    wait (control.c's queue), Ctrl-] detaches;
//  - output is bounded: outside commands at most OUT_PER_BYTE bytes per typed byte (echo,
//    erase, prompts), a line's redraw per key that may recall one from the history, plus a
//    little per attach and per one-shot message (a migration the fake
//    completes MIG_PASSES passes after it started, printed only while nothing is typed);
//    at most CMD_OUT_MAX per command.
#include <dirent.h>
#include <errno.h>
#include <sanitizer/asan_interface.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "drivers/uart.h"
#include "hv/base/cmdline.h"
#include "hv/base/log.h"
#include "hv/base/time.h"
#include "hv/console/console.h"
#include "hv/console/control.h"
#include "hv/mgmt/mgmt_net.h"
#include "hv/mgmt/mgmt_vm.h"
#include "tests/fuzz/fuzz_console.h"

#define IDLE_PASSES 40
#define CMD_OUT_MAX (128 * 1024)        /* `ping ADDR 1000` prints ~50 KiB */
#define OUT_PER_BYTE 20                 /* Ctrl-] "\n[detached]\n" and a prompt: 19 */
/* A key that may recall a line (Ctrl-P/N, the final byte of Up/Down) redraws it (CR, the
 * prompt, the line, EL), and each character it brings may later be erased ("\b \b"). */
#define OUT_PER_RECALL (4 * CON_LINE_MAX + 16)
#define OUT_PER_ATTACH 128              /* the fake guest's greeting and "[N bytes ... lost]" */
#define OUT_PER_MESSAGE 128             /* "migrate: vm=... done ..." and a prompt */
#define OUT_FIXED 64                    /* the first prompt, a stale attach's "[vm destroyed]" */
#define INQ_SIZE 512                    /* control.c's queue of keystrokes for the guest */
#define GUEST_FIFO 16                   /* the guest UART's receive FIFO */
#define CTRL_C 0x03
#define CTRL_RBRACKET 0x1d
#define SCREEN_W 1024

/* The input: what reaches the UART. */
static uint8_t *typed;
static size_t typed_len, typed_pos, chunk, chunk_left;
static unsigned idle_passes;
static jmp_buf loop_exit;

/* The attached guest, and a model of control.c's queue: what it should receive, in order. */
static int guest_handle = -1;
static bool guest_attached, guest_spoke;
static uint8_t guest_q[INQ_SIZE];
static size_t guest_q_head, guest_q_len;
static unsigned guest_fifo, attaches;

/* The terminal: the current line, the last one ended by '\n'. */
static char screen[SCREEN_W], last_line[SCREEN_W];
static size_t col, extent, last_len;
static int out_esc;
static size_t outside;                  /* bytes printed outside commands */

/* The command running. */
static bool in_cmd;
static char *cmd_line;
static char seg[CMD_OUT_MAX];
static size_t seg_len;
static int cmd_argc;
static char cmd_argv0[CON_LINE_MAX], cmd_argv1[CON_LINE_MAX];
static char poisoned[64] __attribute__((aligned(8)));
static bool show;                       /* FUZZ_CONSOLE_SHOW=1: the terminal's bytes to stderr */

/* ---- the UART and the terminal behind it ---- */

int uart_getc(void)
{
    if (typed_pos >= typed_len)
        return -1;
    if (chunk) {
        if (!chunk_left) {              /* a pause on the line: the loop makes a pass */
            chunk_left = chunk;
            return -1;
        }
        chunk_left--;
    }
    int ch = typed[typed_pos++];
    if (guest_attached) {
        if (ch == CTRL_RBRACKET) {
            guest_attached = false;
            guest_q_len = 0;
        } else if (guest_q_len < INQ_SIZE) {
            guest_q[(guest_q_head + guest_q_len++) % INQ_SIZE] = (uint8_t)ch;
        }
    }
    return ch;
}

static void term_put(char ch)
{
    if (out_esc == 1) {
        out_esc = ch == '[' ? 2 : 0;
        return;
    }
    if (out_esc == 2) {
        if (ch == 'K')
            extent = col;
        if (ch >= 0x40 && ch <= 0x7e)
            out_esc = 0;
        return;
    }
    switch (ch) {
    case '\n':
        memcpy(last_line, screen, extent);
        last_len = extent;
        col = extent = 0;
        return;
    case '\r':
        col = 0;
        return;
    case '\b':
        col -= col > 0;
        return;
    case 0x1b:
        out_esc = 1;
        return;
    }
    if (col < SCREEN_W) {
        screen[col++] = ch;
        extent = col > extent ? col : extent;
    }
}

void uart_write(const char *s, size_t n)
{
    if (show)
        fwrite(s, 1, n, stderr);
    for (size_t i = 0; i < n; i++) {
        term_put(s[i]);
        if (in_cmd) {
            FCHECK(seg_len < CMD_OUT_MAX);
            seg[seg_len++] = s[i];
        }
    }
    if (!in_cmd)
        outside += n;
}

/* ---- the rest of control.c's world ---- */

bool log_pending(void)
{
    return false;
}

bool log_flush_pending(void)
{
    return false;
}

void log_dump(void (*fn)(void *ctx, const char *s, size_t n), void *ctx)
{
    static const char lines[] = "[info] fuzz: booted\n[warn] fuzz: no disk\n";
    fn(ctx, lines, sizeof(lines) - 1);
}

uint64_t time_ns(void)
{
    return 0;
}

void net_assert_fail(const char *msg, const char *file, int line) __attribute__((noreturn));
void net_assert_fail(const char *msg, const char *file, int line)
{
    fprintf(stderr, "lwIP assertion %s at %s:%d\n", msg, file, line);
    abort();
}

/* Once per pass of the loop: the input ends IDLE_PASSES passes after its last byte. */
void mgmt_net_service(void)
{
    FCHECK(!in_cmd);
    if (typed_pos >= typed_len && idle_passes++ == IDLE_PASSES)
        longjmp(loop_exit, 1);
}

void fcon_reboot(void)
{
    FCHECK(in_cmd && cmd_argc == 1 && seg_len == 10 && !memcmp(seg, "rebooting\n", 10));
    in_cmd = false;
    free(cmd_line);
    cmd_line = NULL;
    longjmp(loop_exit, 1);
}

/* ---- the VM console (hv/mgmt/mgmt_vm.c's attach) ---- */

int mgmt_console_open(const char *name, char *err, size_t errlen)
{
    int rc = fmgmt_vm_lookup(name, true, err, errlen);
    if (rc)
        return rc;
    FCHECK(in_cmd && !guest_attached);
    guest_handle = 7;
    guest_attached = true;
    guest_spoke = false;
    guest_q_head = guest_q_len = 0;
    guest_fifo = 0;
    attaches++;
    return guest_handle;
}

bool mgmt_console_alive(int h)
{
    return h >= 0 && h == guest_handle;
}

size_t mgmt_console_read(int h, uint64_t *cursor, char *buf, size_t n, uint64_t *lost)
{
    static const char hello[] = "[guest] login: ";
    FCHECK(h == guest_handle && guest_attached && n >= sizeof(hello));
    guest_fifo = 0;                     /* the guest has read what it was given */
    if (guest_spoke)
        return 0;
    guest_spoke = true;
    memcpy(buf, hello, sizeof(hello) - 1);
    *cursor += sizeof(hello) - 1;
    *lost = 3;
    return sizeof(hello) - 1;
}

int mgmt_console_input(int h, uint8_t ch)
{
    FCHECK(h == guest_handle && guest_attached);
    if (guest_fifo == GUEST_FIFO)
        return -ENOSPC;
    FCHECK(guest_q_len && ch == guest_q[guest_q_head]);
    guest_q_head = (guest_q_head + 1) % INQ_SIZE;
    guest_q_len--;
    guest_fifo++;
    return 0;
}

/* ---- each command: its line, its words, what it printed ---- */

static size_t rtrim(const char *s, size_t n)
{
    while (n && s[n - 1] == ' ')
        n--;
    return n;
}

/* The terminal line the CR ended shows the prompt and then exactly the line that runs. */
static void check_echo(const char *line, size_t len)
{
    char want[sizeof(CON_PROMPT) + CON_LINE_MAX];
    size_t wn = rtrim(want, (size_t)snprintf(want, sizeof(want), "%s%s", CON_PROMPT, line));
    size_t ln = rtrim(last_line, last_len);
    for (size_t i = 0; i < len; i++)
        FCHECK(line[i] >= 0x20 && line[i] <= 0x7e);
    FCHECK(ln >= wn && !memcmp(last_line + ln - wn, want, wn));
}

static bool names(const char *u, size_t n, const char *cmd)
{
    size_t c = strlen(cmd);
    return n >= c && !memcmp(u, cmd, c) && (n == c || u[c] == ' ');
}

static void check_command(int rc)
{
    bool error = false, usage = false;
    FCHECK(rc <= 0);
    FCHECK(seg_len == 0 || seg[seg_len - 1] == '\n');
    for (size_t i = 0; i < seg_len;) {
        const char *l = seg + i;
        size_t n = (size_t)((const char *)memchr(l, '\n', seg_len - i) - l);
        error |= n >= 6 && !memcmp(l, "error:", 6);
        if (n >= 7 && !memcmp(l, "usage: ", 7)) {
            FCHECK(names(l + 7, n - 7, cmd_argv0) ||
                   (!strcmp(cmd_argv0, "help") && cmd_argc == 2 && names(l + 7, n - 7, cmd_argv1)));
            usage = true;
        }
        i += n + 1;
    }
    if (rc < 0 && !fcon_outcome_line)
        FCHECK(error || usage);
    if (rc == 0)
        FCHECK(!error);
}

int __real_cmdline_split(char *line, char **argv, int max);
int __wrap_cmdline_split(char *line, char **argv, int max)
{
    size_t len = strlen(line);
    int argc = __real_cmdline_split(line, argv, max);
    for (int i = 0; i < argc; i++) {
        FCHECK(argv[i] >= line && argv[i] + strlen(argv[i]) <= line + len);
        FCHECK(!strchr(argv[i], '"'));
    }
    for (int i = argc > 0 ? argc : 0; i < max; i++)
        argv[i] = poisoned;             /* a handler that reads past argc trips ASan */
    cmd_argc = argc;
    strcpy(cmd_argv0, argc > 0 ? argv[0] : "");
    strcpy(cmd_argv1, argc > 1 ? argv[1] : "");
    return argc;
}

int __real_con_execute(struct con *c, const struct con_cmd *table, size_t n, char *line);
int __wrap_con_execute(struct con *c, const struct con_cmd *table, size_t n, char *line)
{
    size_t len = strlen(line);
    FCHECK(table == con_commands && n == con_ncommands && len < CON_LINE_MAX && !in_cmd);
    check_echo(line, len);
    cmd_line = malloc(len + 1);         /* exactly the line: ASan sees a read past it */
    memcpy(cmd_line, line, len + 1);
    in_cmd = true;
    seg_len = 0;
    cmd_argc = 0;
    fcon_outcome_line = false;
    int rc = __real_con_execute(c, table, n, cmd_line);
    in_cmd = false;
    free(cmd_line);
    cmd_line = NULL;
    check_command(rc);
    return rc;
}

/* ---- the run ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    typed_len = size;                   /* Ctrl-C, then data[1..] */
    typed = malloc(typed_len);
    typed[0] = CTRL_C;
    memcpy(typed + 1, data + 1, size - 1);
    typed_pos = 0;
    chunk = chunk_left = data[0];
    idle_passes = 0;
    guest_handle = -1;                  /* an attach the last input left is stale */
    guest_attached = false;
    guest_q_len = 0;
    attaches = 0;
    col = extent = last_len = 0;
    out_esc = 0;
    outside = 0;
    fmgmt_reset();
    if (!setjmp(loop_exit))
        hv_control_loop();
    FCHECK(!in_cmd && !cmd_line);
    size_t recalls = 0;
    for (size_t i = 0; i < typed_len; i++)
        recalls += typed[i] == 0x10 || typed[i] == 0x0e || typed[i] == 'A' || typed[i] == 'B';
    FCHECK(outside <= OUT_FIXED + OUT_PER_BYTE * typed_len + OUT_PER_ATTACH * attaches +
                      OUT_PER_MESSAGE * fmgmt_messages + OUT_PER_RECALL * recalls);
    free(typed);
    return 0;
}

/* ---- seeds ---- */

static const struct seed { uint8_t chunk; const char *text; } seeds[] = {
    { 0, "help\rhelp vm\rhelp nosuch\rhelp a b\r" },
    { 0, "version\rversion x\r" },
    { 0, "host\rhost numa-spanning on\rhost numa-spanning maybe\r" },
    { 0, "mem\rmem map\rmem x\r" },
    { 0, "log\rlog x\r" },
    { 0, "vm list\rvm create t1 mem=128 cpus=2 node=1 image=memtest args=\"console=ttyS0 quiet\" "
         "cpu=x86-64-v2\rvm start t1\rvm pause t1\rvm resume t1\rvm stats t1\rvm devices t1\r"
         "vm destroy t1\r" },
    { 0, "vm create lx kernel=vmlinuz initrd=initrd.img disk=nbd://10.0.0.5/d "
         "nic=sw0,mac=02:00:00:00:00:01 nic=sw0\rvm create mb kernel=mb.elf module=a.bin,b.bin\r" },
    { 0, "vm create bad.name\rvm create x mem=3\rvm frob web\rvm start nope\r" },
    { 0, "vm dirty web start ad\rvm dirty web verify\rvm dirty web stop\rvm dirty db start\r"
         "vm dirty db verify\rvm dirty web start wp\r" },
    { 4, "vm console web\rhello\x03\x1dvm list\r" },
    { 0, "cpu show\rcpu show web\rcpu baselines\r" },
    { 0, "cpu baseline set cluster sse4_2,avx2 aes\rcpu baseline compute 10.0.0.2 10.0.0.98\r" },
    { 0, "pci\rnet\rnet ip eth0 10.0.0.1/24 gw 10.0.0.254\rnet ip eth1 dhcp\r" },
    { 0, "net bench 10.0.0.2 5\rnet bench 10.0.0.99\rping 10.0.0.2 3\rping 10.0.0.99 2\r" },
    { 0, "net bench 10.0.0.2 streams=2\rnet bench 10.0.0.2 2 streams=9\rnet bench 10.0.0.2 x\r" },
    { 0, "switch create sw1 uplink=eth1\rswitch list\rswitch list sw1\rswitch destroy sw1\r" },
    { 0, "migrate web 10.0.0.2:7700 downtime=300 bandwidth=1000 throttle=50 dirty=pml "
         "storage=copy\rmigrate status\rmigrate cancel web\rmigrate db 10.0.0.3\r" },
    { 0, "migrate inject lose-ack\rmigrate inject hold-final 5\rmigrate inject bogus\r" },
    { 0, "cluster key generate\rcluster key generate\rcluster key\r" },
    { 0, "reboot\r" },
    { 1, "vm lisx\x7ft\r\x1b[Ahelp\rabc\x15help\r\n\"unterminated\r" },
    { 0, "a b c d e f g h i j k l m n o p q r s t u v w x y z 1 2 3 4 5 6 7\r" },
};
#define NSEEDS (sizeof(seeds) / sizeof(seeds[0]))

/* Some seed line starts with the command's name. */
static bool seeded(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < NSEEDS; i++)
        for (const char *l = seeds[i].text; l; l = strchr(l, '\r'), l = l ? l + 1 : NULL)
            if (!strncmp(l, name, n) && (l[n] == ' ' || l[n] == '\r'))
                return true;
    return false;
}

static void write_seed(const char *dir, unsigned i, uint8_t chunk_byte, const char *text)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/seed-%02u", dir, i);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fputc(chunk_byte, f);
    fputs(text, f);
    fclose(f);
}

/* Into the first corpus directory, if it is empty (created if missing). */
static void write_seeds(const char *dir)
{
    char help[64];
    struct dirent *e;
    bool empty = true;
    DIR *d = opendir(dir);
    if (!d && (mkdir(dir, 0755) || !(d = opendir(dir))))
        return;
    while (empty && (e = readdir(d)))
        empty = e->d_name[0] == '.';
    closedir(d);
    if (!empty)
        return;
    for (unsigned i = 0; i < NSEEDS; i++)
        write_seed(dir, i, seeds[i].chunk, seeds[i].text);
    for (unsigned i = 0; i < con_ncommands; i++) {
        snprintf(help, sizeof(help), "help %s\r", con_commands[i].name);
        write_seed(dir, NSEEDS + i, 0, help);
    }
    /* Every command's examples, one seed each command: as `help` shows them, typed. */
    for (unsigned i = 0; i < con_ncommands; i++) {
        char text[1024];
        size_t n = 0;
        for (const char *s = con_commands[i].examples; *s && n < sizeof(text) - 2;) {
            size_t k = strcspn(s, "\n"), m = k;
            if (n + m + 1 < sizeof(text) - 1) {
                memcpy(text + n, s, m);
                n += m;
                text[n++] = '\r';
            }
            s += k + (s[k] == '\n');
        }
        text[n] = 0;
        write_seed(dir, NSEEDS + (unsigned)con_ncommands + i, 0, text);
    }
}

/* Each command has examples in `help`, each a line of that command. */
static bool examples_ok(const struct con_cmd *c)
{
    size_t len = strlen(c->name);
    if (!c->examples || !*c->examples)
        return false;
    for (const char *s = c->examples; *s;) {
        size_t k = strcspn(s, "\n");
        if (k < len || strncmp(s, c->name, len) || (k > len && s[len] != ' '))
            return false;
        s += k + (s[k] == '\n');
    }
    return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    for (size_t i = 0; i < con_ncommands; i++)
        if (!seeded(con_commands[i].name)) {
            fprintf(stderr, "fuzz_console: no seed for command '%s'\n", con_commands[i].name);
            abort();
        }
    for (size_t i = 0; i < con_ncommands; i++)
        if (!examples_ok(&con_commands[i])) {
            fprintf(stderr, "fuzz_console: command '%s' has no examples, or one that is not "
                    "a line of it\n", con_commands[i].name);
            abort();
        }
    ASAN_POISON_MEMORY_REGION(poisoned, sizeof(poisoned));
    show = getenv("FUZZ_CONSOLE_SHOW") != NULL;
    for (int i = 1; i < *argc; i++)
        if ((*argv)[i][0] != '-') {
            write_seeds((*argv)[i]);
            break;
        }
    return 0;
}
