/* Page deltas (hv/base/delta.h). Integer-only, no allocation: built into the core and hosts. */
#include <string.h>

#include "hv/base/delta.h"

/* A stretch of at most this many unchanged bytes between changed ones goes out as changed
 * bytes: a new op would cost two length bytes or more. */
#define DELTA_FOLD 2

static size_t uleb_len(size_t v) { return v < 128 ? 1 : 2; }

static size_t put_uleb(uint8_t *out, size_t v)
{
    if (v < 128) {
        out[0] = (uint8_t)v;
        return 1;
    }
    out[0] = (uint8_t)(0x80 | (v & 0x7f));
    out[1] = (uint8_t)(v >> 7);
    return 2;
}

static int get_uleb(const uint8_t *d, size_t len, size_t *o, size_t *v)
{
    if (*o >= len)
        return -1;
    uint8_t b0 = d[(*o)++];
    if (!(b0 & 0x80)) {
        *v = b0;
        return 0;
    }
    if (*o >= len || (d[*o] & 0x80))
        return -1;                    /* cut short, or a third byte */
    *v = (size_t)(b0 & 0x7f) | (size_t)d[(*o)++] << 7;
    return 0;
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

int delta_encode(const uint8_t *old, const uint8_t *new, uint8_t *out, size_t cap)
{
    size_t i = 0, o = 0, last = 0;    /* last: where the previous op's changed bytes ended */

    while (i < DELTA_PAGE) {
        while (i < DELTA_PAGE && old[i] == new[i]) {
            if (!(i & 7) && load64(old + i) == load64(new + i))
                i += 8;               /* aligned words: DELTA_PAGE is a multiple of 8 */
            else
                i++;
        }
        if (i == DELTA_PAGE)
            break;
        size_t start = i, end;
        for (;;) {
            while (i < DELTA_PAGE && old[i] != new[i])
                i++;
            end = i;
            size_t j = i;
            while (j < DELTA_PAGE && j - i <= DELTA_FOLD && old[j] == new[j])
                j++;
            if (j == DELTA_PAGE || j - i > DELTA_FOLD)
                break;
            i = j;                    /* a short unchanged stretch, then more changes */
        }
        size_t skip = start - last, n = end - start;
        if (uleb_len(skip) + uleb_len(n) + n > cap - o)
            return -1;
        o += put_uleb(out + o, skip);
        o += put_uleb(out + o, n);
        memcpy(out + o, new + start, n);
        o += n;
        last = i = end;
    }
    return (int)o;
}

int delta_apply(uint8_t *page, const uint8_t *d, size_t len)
{
    size_t o = 0, at = 0;

    while (o < len) {
        size_t skip, n;
        if (get_uleb(d, len, &o, &skip) || get_uleb(d, len, &o, &n) || !n ||
            skip > DELTA_PAGE - at || n > DELTA_PAGE - at - skip || n > len - o)
            return -1;
        at += skip;
        memcpy(page + at, d + o, n);
        at += n;
        o += n;
    }
    return 0;
}
