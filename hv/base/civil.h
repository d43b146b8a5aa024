/*
 * Proleptic Gregorian calendar arithmetic on days since 1970-01-01 (the
 * well-known era-based conversion: 400-year eras of 146097 days, years
 * starting in March so that the leap day is the last of the year). Used by
 * the host wall clock (from the firmware's broken-down time) and the guest's
 * CMOS RTC. Valid for any year in int64 range that fits.
 */
#ifndef HV_BASE_CIVIL_H
#define HV_BASE_CIVIL_H

#include <stdint.h>

struct civil_time {
    int64_t year;
    unsigned month, day;             /* 1-12, 1-31 */
    unsigned hour, minute, second;
    unsigned wday;                   /* 0 = Sunday */
};

static inline int64_t civil_days(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    uint64_t yoe = (uint64_t)(y - era * 400);
    uint64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    uint64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static inline int64_t civil_to_unix(const struct civil_time *t)
{
    return civil_days(t->year, t->month, t->day) * 86400 + t->hour * 3600 + t->minute * 60 +
           t->second;
}

static inline void civil_from_unix(int64_t s, struct civil_time *t)
{
    int64_t days = (s >= 0 ? s : s - 86399) / 86400, rem = s - days * 86400;
    t->hour = (unsigned)(rem / 3600);
    t->minute = (unsigned)(rem / 60 % 60);
    t->second = (unsigned)(rem % 60);
    t->wday = (unsigned)(((days % 7) + 11) % 7);        /* 1970-01-01 was a Thursday */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    uint64_t doe = (uint64_t)(z - era * 146097);
    uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint64_t mp = (5 * doy + 2) / 153;
    t->day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    t->month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    t->year = (int64_t)yoe + era * 400 + (t->month <= 2);
}

#endif
