/*
 * lwIP port environment. net/ is linked into the freestanding core and into host tests, and
 * each side supplies the first three hooks below: a monotonic millisecond clock (core: TSC;
 * tests: a fake clock they advance), a random source (core: RDRAND/TSC mixing; tests: a seeded
 * PRNG) and a fatal-error path (core: halt with the message; tests: fail the test).
 * net/sys_arch.c builds lwIP's sys_now, diagnostic and assertion hooks on top of them.
 */
#ifndef NET_PORT_H
#define NET_PORT_H

#include <stdint.h>

/* Supplied by the environment. */
uint64_t net_clock_ms(void);
uint32_t net_rand(void);
void net_panic(const char *msg) __attribute__((noreturn));

/* Implemented in net/sys_arch.c; lwIP's arch/cc.h routes LWIP_PLATFORM_DIAG/ASSERT here. */
void net_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void net_assert_fail(const char *msg, const char *file, int line) __attribute__((noreturn));

#endif
