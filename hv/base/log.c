/*
 * The log ring: 64 KiB of text lines "[seconds.micros] module: message",
 * oldest overwritten first. Errors and warnings are also written to the
 * console output as they happen, so an operator sees them without `log`.
 */
#include <stdio.h>
#include <string.h>

#include "hv/base/log.h"
#include "hv/base/spinlock.h"
#include "hv/base/time.h"

#define LOG_RING 65536

static char ring[LOG_RING];
static uint64_t head;           /* total bytes ever written */
static struct spinlock lock;
static log_output_fn output;
static bool (*output_now)(void);
/* Errors and warnings raised where the console cannot be written now (another CPU,
 * or mid-line): they wait here until the control plane flushes them. */
#define LOG_PENDING 8192
static char pending[LOG_PENDING];
static size_t pending_len;
static bool pending_lost;
static enum log_level max_level = LOG_INFO;
static const char *const level_tag[] = { "error: ", "warning: ", "", "" };

void log_set_output(log_output_fn fn, bool (*now)(void))
{
    output = fn;
    output_now = now;
}

bool log_pending(void)
{
    return __atomic_load_n(&pending_len, __ATOMIC_RELAXED) || pending_lost;
}

bool log_flush_pending(void)
{
    char copy[LOG_PENDING];
    size_t n;
    bool lost;

    spin_lock(&lock);
    n = pending_len;
    lost = pending_lost;
    memcpy(copy, pending, n);
    pending_len = 0;
    pending_lost = false;
    spin_unlock(&lock);
    if (n && output)
        output(copy, n);
    if (lost && output)
        output("(some messages were only logged: see `log`)\n", 45);
    return n || lost;
}
void log_set_level(enum log_level l) { max_level = l; }

static void ring_put(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ring[(head + i) % LOG_RING] = s[i];
    head += n;
}

void log_vwrite(enum log_level lvl, const char *mod, const char *fmt, va_list ap)
{
    char line[640];                     /* a migration result line (512) and the prefix */

    if (lvl > max_level)
        return;
    uint64_t ns = time_ns();
    int n = snprintf(line, sizeof(line), "[%5llu.%06llu] %s%s: ",
                     (unsigned long long)(ns / 1000000000), (unsigned long long)(ns / 1000 % 1000000),
                     level_tag[lvl], mod);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    size_t len = n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    bool now = lvl <= LOG_WARN && output && (!output_now || output_now());
    spin_lock(&lock);
    ring_put(line, len);
    if (lvl <= LOG_WARN && !now) {
        if (pending_len + len <= LOG_PENDING) {
            memcpy(pending + pending_len, line, len);
            pending_len += len;
        } else {
            pending_lost = true;
        }
    }
    spin_unlock(&lock);
    if (now)
        output(line, len);
}

void log_write(enum log_level lvl, const char *mod, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(lvl, mod, fmt, ap);
    va_end(ap);
}

void log_dump(void (*fn)(void *ctx, const char *s, size_t n), void *ctx)
{
    static char copy[LOG_RING];
    size_t len;

    spin_lock(&lock);
    uint64_t start = head > LOG_RING ? head - LOG_RING : 0;
    len = head - start;
    for (size_t i = 0; i < len; i++)
        copy[i] = ring[(start + i) % LOG_RING];
    spin_unlock(&lock);
    /* A wrapped ring starts mid-line: skip to the first whole one. */
    size_t off = 0;
    if (start)
        while (off < len && copy[off++] != '\n')
            ;
    fn(ctx, copy + off, len - off);
}

void log_emergency(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 1)
        n = sizeof(buf) - 1;
    if (output && n > 0)
        output(buf, n);
}

/* Set at boot by the arch layer (base may not call up into it); until then, spin. */
static void (*halt)(void);

void log_set_halt(void (*fn)(void)) { halt = fn; }

void panic(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    log_emergency("\n*** PANIC: %s\n", buf);
    if (halt)
        halt();
    for (;;)
        ;
}
