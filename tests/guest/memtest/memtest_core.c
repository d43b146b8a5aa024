/*
 * memtest core: everything that needs no hardware, so the host unit test
 * runs the same code as the guest. See memtest_core.h and
 * docs/guest-boot.md for the output format.
 */
#include "memtest_core.h"

/* ---- cmdline ---- */

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static bool word_is(const char *w, unsigned n, const char *lit)
{
    unsigned i = 0;

    for (; i < n && lit[i]; i++)
        if (w[i] != lit[i])
            return false;
    return i == n && !lit[i];
}

/* Decimal, at most 12 digits (no overflow, and far more than any sane value). */
static bool parse_dec(const char *s, unsigned n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || n > 12)
        return false;
    for (unsigned i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

static bool parse_word(const char *w, unsigned n, struct mt_config *c, bool *delay_set)
{
    unsigned k = 0;
    uint64_t v;

    while (k < n && w[k] != '=')
        k++;
    if (k == n)
        return false;
    const char *val = w + k + 1;
    unsigned vn = n - k - 1;

    if (word_is(w, k, "hb"))
        return parse_dec(val, vn, &v) && v >= 1 && (c->hb = v, true);
    if (word_is(w, k, "pages"))
        return parse_dec(val, vn, &c->pages);
    if (word_is(w, k, "delay"))
        return parse_dec(val, vn, &c->delay) && (*delay_set = true);
    if (word_is(w, k, "pit"))
        return parse_dec(val, vn, &v) && v == 1 && (c->pit = true);
    if (word_is(w, k, "tpr"))
        return parse_dec(val, vn, &v) && v == 1 && (c->tpr = true);
    if (word_is(w, k, "exit"))
        return parse_dec(val, vn, &v) && v <= 0xffffffffu && (c->exit_code = v, c->exit = true);
    if (word_is(w, k, "hypercall"))
        return parse_dec(val, vn, &c->hypercall_nr) && (c->hypercall = true);
    if (word_is(w, k, "xcr0"))
        return parse_dec(val, vn, &v) && v >= 1 && (c->xcr0 = v, true);
    if (!word_is(w, k, "mode"))
        return false;
    if (word_is(val, vn, "triple"))
        c->mode = MT_MODE_TRIPLE;
    else if (word_is(val, vn, "idle"))
        c->mode = MT_MODE_IDLE;
    else if (word_is(val, vn, "normal"))
        c->mode = MT_MODE_NORMAL;
    else if (word_is(val, vn, "scribble"))
        c->mode = MT_MODE_SCRIBBLE;
    else
        return false;
    return true;
}

void mt_parse_cmdline(const char *s, struct mt_config *c)
{
    bool delay_set = false;

    *c = (struct mt_config){ .hb = MT_DEFAULT_HB, .pages = MT_DEFAULT_PAGES };
    while (s && *s) {
        unsigned n = 0;

        while (is_space(*s))
            s++;
        while (s[n] && !is_space(s[n]))
            n++;
        if (n && !parse_word(s, n, c, &delay_set)) {
            if (!c->bad_words++) {
                c->bad = s;
                c->bad_len = n;
            }
        }
        s += n;
    }
    if (c->mode == MT_MODE_IDLE) {
        c->pages = 0;
        if (!delay_set)
            c->delay = MT_IDLE_DELAY;
    }
}

/* ---- lines ---- */

void mt_line_reset(struct mt_line *l)
{
    l->len = 0;
    l->buf[0] = 0;
}

static void put_char(struct mt_line *l, char c)
{
    if (l->len + 1 < MT_LINE_MAX) {
        l->buf[l->len++] = c;
        l->buf[l->len] = 0;
    }
}

void mt_put_str(struct mt_line *l, const char *s)
{
    while (*s)
        put_char(l, *s++);
}

void mt_put_strn(struct mt_line *l, const char *s, unsigned n)
{
    for (unsigned i = 0; i < n && s[i]; i++)
        put_char(l, s[i]);
}

void mt_put_dec(struct mt_line *l, uint64_t v)
{
    char tmp[20];
    unsigned n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        put_char(l, tmp[--n]);
}

void mt_put_hex(struct mt_line *l, uint64_t v, unsigned digits)
{
    char tmp[16];
    unsigned n = 0;

    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    for (; digits > n && digits <= 16; digits--)
        put_char(l, '0');
    while (n)
        put_char(l, tmp[--n]);
}

void mt_line_end(struct mt_line *l)
{
    if (l->len + 1 >= MT_LINE_MAX)
        l->len = MT_LINE_MAX - 2;
    l->buf[l->len++] = '\n';
    l->buf[l->len] = 0;
}

/* ---- page contents ---- */

/* splitmix64's finaliser: cheap, and every input bit reaches every output bit. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t mt_word(uint64_t gpa, unsigned w, uint64_t gen)
{
    return mix(gpa + (uint64_t)w * 8 + gen * 0x9e3779b97f4a7c15ull);
}

/*
 * s1 = sum of words, s2 = sum of the running s1 (position-weighted). A
 * change d != 0 of word w changes the result by d * (1 + 2 * (512 - w)):
 * d times an odd number, never 0 mod 2^64.
 */
uint64_t mt_checksum(const uint64_t *p)
{
    uint64_t s1 = 0, s2 = 0;

    for (unsigned w = 0; w < MT_WORDS; w++) {
        s1 += p[w];
        s2 += s1;
    }
    return s1 + 2 * s2;
}

struct mt_record mt_fill(uint64_t *p, uint64_t gpa, uint64_t gen)
{
    struct mt_record r = { .gen = gen };

    for (unsigned w = 0; w < MT_WORDS; w++)
        p[w] = mt_word(gpa, w, gen);
    r.sum = mt_checksum(p);
    return r;
}

bool mt_page_ok(const uint64_t *p, uint64_t gpa, const struct mt_record *r)
{
    uint64_t s1 = 0, s2 = 0;
    bool same = true;

    for (unsigned w = 0; w < MT_WORDS; w++) {
        uint64_t x = p[w];

        same &= x == mt_word(gpa, w, r->gen);
        s1 += x;
        s2 += s1;
    }
    return same && s1 + 2 * s2 == r->sum;
}

/* ---- slices ---- */

void mt_slice_init(struct mt_slice *s, uint64_t free_base, uint64_t mem_size,
                   unsigned vcpu, unsigned nvcpus)
{
    uint64_t start = (free_base + MT_PAGE - 1) & ~(uint64_t)(MT_PAGE - 1);
    uint64_t per = 0;

    if (start < mem_size && nvcpus)
        per = (mem_size - start) / MT_PAGE / nvcpus;
    s->base = start + (uint64_t)vcpu * per * MT_PAGE;
    s->pages = per;
    /* Each table page serves itself plus 256 test pages. */
    s->table_pages = (per + 256) / 257;
    s->test_pages = per - s->table_pages;
}

/* ---- the loop ---- */

uint64_t mt_xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static struct mt_record *records(const struct mt_vcpu *v)
{
    return (struct mt_record *)(v->slice.base + v->map);
}

static uint64_t page_gpa(const struct mt_vcpu *v, uint64_t i)
{
    return v->slice.base + (v->slice.table_pages + i) * MT_PAGE;
}

static uint64_t *page_ptr(const struct mt_vcpu *v, uint64_t gpa)
{
    return (uint64_t *)(gpa + v->map);
}

void mt_vcpu_init(struct mt_vcpu *v, const struct mt_config *cfg, const struct mt_slice *s,
                  unsigned index, uintptr_t map, uint64_t (*rdtsc)(void))
{
    *v = (struct mt_vcpu){ .cfg = *cfg, .slice = *s, .index = index, .map = map,
                           .rdtsc = rdtsc };
    v->rng = 0x9e3779b97f4a7c15ull * (index + 1);   /* xorshift needs a nonzero seed */
    for (uint64_t i = 0; i < s->test_pages; i++) {
        uint64_t gpa = page_gpa(v, i);

        records(v)[i] = mt_fill(page_ptr(v, gpa), gpa, 0);
    }
    v->last_tsc = rdtsc();
}

static void hb_head(const struct mt_vcpu *v, struct mt_line *out, uint64_t dirtied)
{
    mt_put_str(out, "HB seq=");
    mt_put_dec(out, v->seq + 1);
    mt_put_str(out, " vcpu=");
    mt_put_dec(out, v->index);
    mt_put_str(out, " dirtied=");
    mt_put_dec(out, dirtied);
}

static int bad_page(struct mt_vcpu *v, uint64_t i, struct mt_line *out)
{
    hb_head(v, out, v->dirtied_total);
    mt_put_str(out, " check=BAD page=0x");
    mt_put_hex(out, page_gpa(v, i), 1);
    mt_put_str(out, " tsc=");
    mt_put_dec(out, v->rdtsc());
    mt_line_end(out);
    return MT_STEP_BAD;
}

static bool verify(const struct mt_vcpu *v, uint64_t i)
{
    uint64_t gpa = page_gpa(v, i);

    return mt_page_ok(page_ptr(v, gpa), gpa, &records(v)[i]);
}

static int heartbeat(struct mt_vcpu *v, struct mt_line *out)
{
    /*
     * Re-verify a rotating window of at most MT_SWEEP_MAX pages rather than
     * the whole slice, so a heartbeat costs the same on a 4 GiB guest as
     * on a small one; small slices are swept completely every time.
     */
    uint64_t n = v->slice.test_pages < MT_SWEEP_MAX ? v->slice.test_pages : MT_SWEEP_MAX;

    if (v->cfg.mode == MT_MODE_SCRIBBLE)
        n = 0;                      /* scribbled pages no longer match their records */

    for (uint64_t k = 0; k < n; k++) {
        uint64_t i = v->sweep_next;

        v->sweep_next = (i + 1) % v->slice.test_pages;
        if (!verify(v, i))
            return bad_page(v, i, out);
    }
    uint64_t tsc = v->rdtsc();

    hb_head(v, out, v->dirtied);
    mt_put_str(out, tsc < v->last_tsc ? " check=BAD tsc went backwards" : " check=ok");
    mt_put_str(out, " tsc=");
    mt_put_dec(out, tsc);
    mt_line_end(out);
    v->last_tsc = tsc;
    v->seq++;
    v->dirtied = 0;
    return MT_STEP_HB;
}

int mt_step(struct mt_vcpu *v, struct mt_line *out)
{
    mt_line_reset(out);
    for (uint64_t k = 0; k < v->cfg.pages && v->slice.test_pages; k++) {
        uint64_t i = mt_xorshift(&v->rng) % v->slice.test_pages;
        uint64_t gpa = page_gpa(v, i);
        struct mt_record *r = &records(v)[i];

        if (v->cfg.mode == MT_MODE_SCRIBBLE) {
            page_ptr(v, gpa)[0] = v->iter;
            v->dirtied++;
            v->dirtied_total++;
            continue;
        }
        if (!mt_page_ok(page_ptr(v, gpa), gpa, r))
            return bad_page(v, i, out);
        *r = mt_fill(page_ptr(v, gpa), gpa, r->gen + 1);
        v->dirtied++;
        v->dirtied_total++;
    }
    if (++v->iter % v->cfg.hb)
        return MT_STEP_QUIET;
    return heartbeat(v, out);
}
