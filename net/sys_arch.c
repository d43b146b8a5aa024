// lwIP system hooks for NO_SYS: time, diagnostics and assertions. No hardware access here;
// the clock and the fatal path come from the environment through net/port.h.
#include <stdarg.h>

#include "hv/base/log.h"
#include "lwip/sys.h"
#include "net/port.h"

u32_t sys_now(void)
{
    // lwIP compares times with wrapping 32-bit arithmetic, so truncation is fine.
    return (u32_t)net_clock_ms();
}

void net_diag(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(LOG_DBG, "lwip", fmt, ap);
    va_end(ap);
}

void net_assert_fail(const char *msg, const char *file, int line)
{
    log_err("lwip", "assertion \"%s\" failed at %s:%d", msg, file, line);
    net_panic(msg);
}
