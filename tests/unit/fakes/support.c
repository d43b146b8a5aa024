#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

unsigned unit_log_count[4];
char unit_log_last[512];

void unit_log_reset(void)
{
    memset(unit_log_count, 0, sizeof(unit_log_count));
    unit_log_last[0] = 0;
}

void log_vwrite(enum log_level lvl, const char *mod, const char *fmt, va_list ap)
{
    int n = snprintf(unit_log_last, sizeof(unit_log_last), "%s: ", mod);
    vsnprintf(unit_log_last + n, sizeof(unit_log_last) - n, fmt, ap);
    if (lvl <= LOG_DBG)
        unit_log_count[lvl]++;
    if (getenv("UNIT_VERBOSE"))
        fprintf(stderr, "[log %d] %s\n", lvl, unit_log_last);
}

void log_write(enum log_level lvl, const char *mod, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(lvl, mod, fmt, ap);
    va_end(ap);
}
