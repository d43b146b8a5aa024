/*
 * Fixed-width little-endian fields of device state records: a cursor over a
 * record buffer whose size the framework already checked, so no bounds checks
 * here (the record's layout is a constant of its type and version).
 */
#ifndef HV_DEV_DEVREC_H
#define HV_DEV_DEVREC_H

#include <stdint.h>

static inline void devrec_put8(uint8_t **p, uint8_t v) { *(*p)++ = v; }
static inline void devrec_put16(uint8_t **p, uint16_t v)
{
    devrec_put8(p, (uint8_t)v);
    devrec_put8(p, (uint8_t)(v >> 8));
}
static inline void devrec_put32(uint8_t **p, uint32_t v)
{
    devrec_put16(p, (uint16_t)v);
    devrec_put16(p, (uint16_t)(v >> 16));
}
static inline void devrec_put64(uint8_t **p, uint64_t v)
{
    devrec_put32(p, (uint32_t)v);
    devrec_put32(p, (uint32_t)(v >> 32));
}

static inline uint8_t devrec_get8(const uint8_t **p) { return *(*p)++; }
static inline uint16_t devrec_get16(const uint8_t **p)
{
    uint16_t lo = devrec_get8(p);
    return (uint16_t)(lo | (uint16_t)devrec_get8(p) << 8);
}
static inline uint32_t devrec_get32(const uint8_t **p)
{
    uint32_t lo = devrec_get16(p);
    return lo | (uint32_t)devrec_get16(p) << 16;
}
static inline uint64_t devrec_get64(const uint8_t **p)
{
    uint64_t lo = devrec_get32(p);
    return lo | (uint64_t)devrec_get32(p) << 32;
}

#endif
