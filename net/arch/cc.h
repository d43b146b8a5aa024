/*
 * lwIP compiler/platform glue (arch/cc.h). Kept free of <stdio.h> so the same header builds
 * in the freestanding core and on the host: diagnostics and assertions go through
 * net/sys_arch.c into the hv log.
 */
#ifndef NET_ARCH_CC_H
#define NET_ARCH_CC_H

#include <stdint.h>

#include "net/port.h"

// ssize_t comes from the C library (newlib or glibc), not lwIP's "int" fallback.
#include <limits.h>
#include <sys/types.h>
#ifndef SSIZE_MAX
#define SSIZE_MAX LONG_MAX
#endif
#define LWIP_NO_UNISTD_H 1

// The C library's <endian.h> may have defined it already (to the same value).
#ifndef BYTE_ORDER
#define BYTE_ORDER LITTLE_ENDIAN
#endif

// lwIP's own <ctype.h> replacements: newlib's ctype needs its locale tables at link time.
#define LWIP_NO_CTYPE_H 1

// x is a parenthesised printf argument list, e.g. ("%d\n", n).
#define LWIP_PLATFORM_DIAG(x)   do { net_diag x; } while (0)
#define LWIP_PLATFORM_ASSERT(x) net_assert_fail((x), __FILE__, __LINE__)

#endif
