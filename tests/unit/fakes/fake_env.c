/* See fake_env.h. Failures abort: the fuzzer has no cmocka, and a test sees the abort. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/nic.h"
#include "fake_env.h"
#include "hv/base/mem.h"
#include "hv/base/time.h"

uint64_t fake_now_ns = 1000000;
uint64_t fake_ms = 1000;
uint64_t fake_rng = 0x853c49e6748fea9bull;
unsigned fake_frames_out;
struct nic *fake_nic;

static void __attribute__((noreturn)) fake_fail(const char *what)
{
    fprintf(stderr, "fake_env: %s\n", what);
    abort();
}

uint64_t frame_alloc(unsigned node, uint64_t pages, uint64_t align, unsigned flags)
{
    (void)node, (void)align;
    /* Drivers hand their frames to devices: they must come zeroed, never stale. */
    if (!(flags & FRAME_ZERO))
        fake_fail("frame_alloc without FRAME_ZERO");
    void *p = aligned_alloc(PAGE_SIZE, pages * PAGE_SIZE);
    if (!p)
        fake_fail("out of host memory");
    memset(p, 0, pages * PAGE_SIZE);
    fake_frames_out += pages;
    return virt_to_phys(p);
}

void frame_free(uint64_t phys, uint64_t pages)
{
    if (pages > fake_frames_out)
        fake_fail("frame_free of more pages than are out");
    free(phys_to_virt(phys));
    fake_frames_out -= pages;
}

/* Weak: a device fake may need its own clock (the e1000 fake ends a reset when polled). */
__attribute__((weak)) uint64_t time_ns(void) { return fake_now_ns; }
__attribute__((weak)) void time_delay_us(uint64_t us) { fake_now_ns += us * 1000; }

uint32_t fake_rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (uint32_t)((*s * 0x2545f4914f6cdd1dull) >> 32);
}

uint64_t net_clock_ms(void) { return fake_ms; }
uint32_t net_rand(void) { return fake_rng_next(&fake_rng); }

void net_panic(const char *msg)
{
    fprintf(stderr, "lwIP panic: %s\n", msg);
    abort();
}

int nic_register(struct nic *n)
{
    strcpy(n->name, "eth0");
    fake_nic = n;
    return 0;
}

unsigned nic_count(void) { return fake_nic ? 1 : 0; }
struct nic *nic_get(unsigned i) { return i == 0 ? fake_nic : NULL; }
