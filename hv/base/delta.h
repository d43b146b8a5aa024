/*
 * A page's change against an older copy of it (XBZRLE-like, as QEMU's migration sends pages
 * it sent before): a list of ops, each
 *
 *     skip  uleb128   bytes left as they are
 *     n     uleb128   bytes that change, 1 or more
 *     n bytes         their new values
 *
 * with both lengths at most two uleb128 bytes (the page is 4 KiB), the ops walking forward
 * over at most DELTA_PAGE bytes; bytes past the last op stay. An empty delta: no change.
 * A page rewritten word by word has no short delta (delta_encode gives up at cap); a page
 * where a counter, a list link or a few lines changed has one of a few dozen bytes.
 */
#ifndef HV_DELTA_H
#define HV_DELTA_H

#include <stddef.h>
#include <stdint.h>

#define DELTA_PAGE 4096u

/* new against old (DELTA_PAGE bytes each) into out: its length, or -1 as soon as it would
 * take more than cap bytes (the work stops there too). */
int delta_encode(const uint8_t *old, const uint8_t *new, uint8_t *out, size_t cap);

/* Applies d (len bytes) to page, which holds the old copy: 0, or -1 if d is malformed (an op
 * cut short, a length of 0 changed bytes or of more than two uleb128 bytes, past the page's
 * end). A failed page may be partly written: apply into a scratch copy. Work: O(len). */
int delta_apply(uint8_t *page, const uint8_t *d, size_t len);

#endif
