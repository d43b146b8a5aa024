/*
 * CRC-32C (Castagnoli; reflected polynomial 0x82F63B78, RFC 3720 B.4), the
 * checksum of the migration stream. With the crc32 instruction where CPUID
 * says SSE4.2 (it works on general registers only and touches no FPU/SIMD
 * state, so check-nosse allows it), else slicing-by-8 over const tables.
 *
 * crc32c_update() takes and returns a finished CRC (initial value and final
 * XOR 0xFFFFFFFF are applied inside, as zlib's crc32() does), so the CRC of no
 * data is 0 and calls chain: crc32c_update(crc32c_update(0, a, n), b, m) is
 * the CRC of a followed by b. Check value: "123456789" -> 0xE3069283.
 */
#ifndef HV_CRC32C_H
#define HV_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint32_t crc32c_update(uint32_t crc, const void *p, size_t n);

/* The two ways, for the tests: crc32c_hw only where crc32c_hw_ok(). */
uint32_t crc32c_sw(uint32_t crc, const void *p, size_t n);
uint32_t crc32c_hw(uint32_t crc, const void *p, size_t n);
bool crc32c_hw_ok(void);

#endif
