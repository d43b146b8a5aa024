/*
 * Logging: every module logs through log_err/warn/info/dbg(module, fmt, ...).
 * Messages go to a ring buffer that the console's `log` command shows; errors
 * and warnings are also echoed to the serial console as they happen.
 */
#ifndef HV_LOG_H
#define HV_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DBG };

void log_write(enum log_level lvl, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(enum log_level lvl, const char *mod, const char *fmt, va_list ap);

#define log_err(mod, ...)  log_write(LOG_ERR, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_write(LOG_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...) log_write(LOG_INFO, mod, __VA_ARGS__)
#define log_dbg(mod, ...)  log_write(LOG_DBG, mod, __VA_ARGS__)

#endif
