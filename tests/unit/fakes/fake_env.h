/*
 * The host services the NIC drivers and net/ call, faked for host tests and the fuzzer:
 * frames from the C heap (counted, so a test sees leaks), a nanosecond clock and lwIP's
 * millisecond clock that only the test advances, a deterministic net_rand, and a NIC
 * registry of one. Shared by tests/unit/drivers/, tests/unit/net/ and tests/fuzz/.
 */
#ifndef FAKE_ENV_H
#define FAKE_ENV_H

#include <stdint.h>

struct nic;

extern uint64_t fake_now_ns;        /* time_ns(); time_delay_us() advances it */
extern uint64_t fake_ms;            /* net_clock_ms() */
extern uint64_t fake_rng;           /* net_rand()'s xorshift64* state */
extern unsigned fake_frames_out;    /* pages from frame_alloc() not yet freed */
extern struct nic *fake_nic;        /* the NIC nic_register() took (named eth0) */

/* xorshift64*: deterministic, good enough for ports, ISNs and test input. */
uint32_t fake_rng_next(uint64_t *state);

#endif
