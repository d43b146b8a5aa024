/*
 * Logging: every module logs through log_err/warn/info/dbg(module, fmt, ...).
 * Messages go to a ring buffer that the console's `log` command shows; errors
 * and warnings are also echoed to the serial console as they happen.
 */
#ifndef HV_LOG_H
#define HV_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DBG };

void log_write(enum log_level lvl, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(enum log_level lvl, const char *mod, const char *fmt, va_list ap);

#define log_err(mod, ...)  log_write(LOG_ERR, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_write(LOG_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...) log_write(LOG_INFO, mod, __VA_ARGS__)
#define log_dbg(mod, ...)  log_write(LOG_DBG, mod, __VA_ARGS__)

/* Writer for messages that must reach the operator now (errors, warnings). */
typedef void (*log_output_fn)(const char *s, size_t n);
/* now() says whether the output may be written from here at this moment (NULL: always). */
void log_set_output(log_output_fn fn, bool (*now)(void));
/* Writes the errors and warnings that waited (called by the control plane between commands). */
bool log_flush_pending(void);
bool log_pending(void);
void log_set_level(enum log_level max_stored);
/* Straight to the output, bypassing the ring and locks: for crash paths. */
void log_emergency(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copies the ring, oldest first; calls fn on each chunk. */
void log_dump(void (*fn)(void *ctx, const char *s, size_t n), void *ctx);
void __attribute__((noreturn, format(printf, 1, 2))) panic(const char *fmt, ...);
/* How panic() stops this CPU (the arch layer's cli; hlt), set once at boot. */
void log_set_halt(void (*fn)(void));

#endif
