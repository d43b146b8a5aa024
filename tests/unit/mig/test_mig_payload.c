/*
 * Host tests for hv/mig/mig_stream.c's payloads: the vCPU state encoding field by
 * field and at its documented offsets, HELLO, REFUSE/ERROR, the small fixed
 * records, and RAM runs (encoder and parser edge cases).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hv/base/compress.h"
#include "hv/base/delta.h"
#include "hv/mig/mig_stream.h"

static uint8_t sbuf[1u << 20];
static struct mig_enc enc;
static uint8_t pages[MIG_RAM_MAX_PAGES + 1][MIG_PAGE_SIZE];

static uint64_t rng;
static uint64_t rnd64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Bytes a successful encoder call added to enc's output. */
#define ENC_ADDED(call) ({ size_t before_ = enc.len; assert_int_equal((call), 0); \
                           enc.len - before_; })

static const uint8_t nonce[MIG_AUTH_BYTES] = "0123456789abcdef0123456789abcdef";
static const uint8_t policy_blob[40] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

static struct mig_hello sample_hello(void)
{
    struct mig_hello h = {
        .version = MIG_STREAM_VERSION, .features = MIG_FEAT_LZ4, .streams = 1, .vcpus = 2,
        .mem_bytes = 64ull << 20,
        .name = "web-1", .policy = policy_blob, .policy_len = sizeof(policy_blob),
        .ndevices = 2, .devices = { { 1, 0, 1 }, { 7, 3, 2 } },
    };
    return h;
}

/* Every field a different value; attributes and enumerations in range. */
static struct vcpu_state sample_vcpu(uint64_t seed)
{
    struct vcpu_state s;
    struct seg *segs[] = { &s.es, &s.cs, &s.ss, &s.ds, &s.fs, &s.gs, &s.ldtr, &s.tr };
    uint64_t *u64s[] = { &s.rip, &s.rflags, &s.cr0, &s.cr2, &s.cr3, &s.cr4, &s.cr8, &s.dr7,
                         &s.efer, &s.pat, &s.xcr0, &s.sysenter_cs, &s.sysenter_esp,
                         &s.sysenter_eip, &s.star, &s.lstar, &s.cstar, &s.sfmask,
                         &s.kernel_gs_base, &s.tsc, &s.tsc_aux };

    rng = seed;
    memset(&s, 0, sizeof(s));
    s.version = VCPU_STATE_VERSION;
    s.activity = ACT_HALTED;
    for (int i = 0; i < GPR_COUNT; i++)
        s.gpr[i] = rnd64();
    for (size_t i = 0; i < sizeof(u64s) / sizeof(u64s[0]); i++)
        *u64s[i] = rnd64();
    for (size_t i = 0; i < 8; i++) {
        segs[i]->sel = (uint16_t)rnd64();
        segs[i]->attr = (uint32_t)(rnd64() & 0xfff) | (i == 6 ? SEG_UNUSABLE : 0);
        segs[i]->limit = (uint32_t)rnd64();
        segs[i]->base = rnd64();
    }
    s.gdtr.base = rnd64();
    s.gdtr.limit = (uint32_t)rnd64();
    s.idtr.base = rnd64();
    s.idtr.limit = (uint32_t)rnd64();
    s.interruptibility = INTR_STI | INTR_NMI;
    s.pending.type = EVENT_EXCEPTION;
    s.pending.vector = 13;
    s.pending.has_error = 1;
    s.pending.error = (uint32_t)rnd64();
    return s;
}

static void fill_pages(void)
{
    for (size_t i = 0; i < sizeof(pages); i++)
        ((uint8_t *)pages)[i] = (uint8_t)(i * 7 + i / 4096);
}

#define CHECK_FIELD(f) assert_true(a->f == b->f)
#define CHECK_SEG(s) do { CHECK_FIELD(s.sel); CHECK_FIELD(s.attr); CHECK_FIELD(s.limit); \
                          CHECK_FIELD(s.base); } while (0)

static void check_vcpu_equal(const struct vcpu_state *a, const struct vcpu_state *b)
{
    CHECK_FIELD(version);
    CHECK_FIELD(activity);
    for (int i = 0; i < GPR_COUNT; i++)
        CHECK_FIELD(gpr[i]);
    CHECK_FIELD(rip); CHECK_FIELD(rflags);
    CHECK_FIELD(cr0); CHECK_FIELD(cr2); CHECK_FIELD(cr3); CHECK_FIELD(cr4); CHECK_FIELD(cr8);
    CHECK_FIELD(dr7); CHECK_FIELD(efer); CHECK_FIELD(pat); CHECK_FIELD(xcr0);
    CHECK_SEG(es); CHECK_SEG(cs); CHECK_SEG(ss); CHECK_SEG(ds);
    CHECK_SEG(fs); CHECK_SEG(gs); CHECK_SEG(ldtr); CHECK_SEG(tr);
    CHECK_FIELD(gdtr.base); CHECK_FIELD(gdtr.limit);
    CHECK_FIELD(idtr.base); CHECK_FIELD(idtr.limit);
    CHECK_FIELD(sysenter_cs); CHECK_FIELD(sysenter_esp); CHECK_FIELD(sysenter_eip);
    CHECK_FIELD(star); CHECK_FIELD(lstar); CHECK_FIELD(cstar); CHECK_FIELD(sfmask);
    CHECK_FIELD(kernel_gs_base); CHECK_FIELD(tsc); CHECK_FIELD(tsc_aux);
    CHECK_FIELD(interruptibility);
    CHECK_FIELD(pending.type); CHECK_FIELD(pending.vector); CHECK_FIELD(pending.has_error);
    CHECK_FIELD(pending.error);
}

static uint64_t wire(const uint8_t *p, int size)
{
    uint64_t v = 0;

    for (int i = size - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void test_vcpu_state_roundtrip(void **state)
{
    struct vcpu_state s = sample_vcpu(42), t;
    struct mig_rd rd;
    const uint8_t *w;
    int n;

    (void)state;
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    assert_int_equal(mig_rec_begin(&enc, MIG_REC_VCPU), 0);
    assert_int_equal(mig_put_u32(&enc, 3), 0);
    assert_int_equal(mig_put_vcpu_state(&enc, &s), 0);
    assert_int_equal(enc.pos - 8 - 4, MIG_VCPU_STATE_SIZE);
    n = (int)ENC_ADDED(mig_rec_end(&enc));
    assert_int_equal(n, 12 + 4 + MIG_VCPU_STATE_SIZE);

    /* Fixed offsets (docs/migration-stream.md), little-endian. */
    w = sbuf + 8 + 4;
    assert_int_equal(wire(w + 0, 4), MIG_VCPU_STATE_FORMAT);
    assert_int_equal(wire(w + 4, 4), s.activity);
    assert_true(wire(w + 8, 8) == s.gpr[GPR_RAX]);
    assert_true(wire(w + 8 + 15 * 8, 8) == s.gpr[GPR_R15]);
    assert_true(wire(w + 136, 8) == s.rip);
    assert_true(wire(w + 216, 8) == s.xcr0);
    assert_int_equal(wire(w + 224, 2), s.es.sel);
    assert_int_equal(wire(w + 226, 4), s.es.attr);
    assert_int_equal(wire(w + 230, 4), s.es.limit);
    assert_true(wire(w + 234, 8) == s.es.base);
    assert_true(wire(w + 224 + 7 * 18 + 10, 8) == s.tr.base);
    assert_true(wire(w + 368, 8) == s.gdtr.base);
    assert_int_equal(wire(w + 376, 4), s.gdtr.limit);
    assert_true(wire(w + 380, 8) == s.idtr.base);
    assert_true(wire(w + 392, 8) == s.sysenter_cs);
    assert_true(wire(w + 456, 8) == s.tsc);
    assert_true(wire(w + 464, 8) == s.tsc_aux);
    assert_int_equal(wire(w + 472, 4), s.interruptibility);
    assert_int_equal(w[476], s.pending.type);
    assert_int_equal(w[477], s.pending.vector);
    assert_int_equal(w[478], s.pending.has_error);
    assert_int_equal(wire(w + 479, 4), s.pending.error);

    mig_rd_init(&rd, w, MIG_VCPU_STATE_SIZE);
    memset(&t, 0xee, sizeof(t));
    assert_int_equal(mig_get_vcpu_state(&rd, &t), 0);
    assert_true(mig_rd_done(&rd));
    check_vcpu_equal(&s, &t);
    assert_memory_equal(&s, &t, sizeof(s));       /* reserved fields come back zero */

    /* Through the record helpers too, at the highest index. */
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    assert_int_equal(ENC_ADDED(mig_rec_vcpu(&enc, MIG_MAX_VCPUS - 1, &s)), n);
    {
        struct mig_record r = { .type = MIG_REC_VCPU, .len = (uint32_t)n - 12,
                                .payload = sbuf + 8 };
        uint32_t index;

        memset(&t, 0, sizeof(t));
        assert_int_equal(mig_parse_vcpu(&r, &index, &t), 0);
        assert_int_equal(index, MIG_MAX_VCPUS - 1);
        check_vcpu_equal(&s, &t);
    }
    assert_int_equal(mig_rec_vcpu(&enc, MIG_MAX_VCPUS, &s), -EINVAL);
}

static int vcpu_decode_after(void (*corrupt)(struct vcpu_state *), size_t cut, int fmt)
{
    struct vcpu_state s = sample_vcpu(7), t;
    struct mig_rd rd;
    uint8_t *w = sbuf + 8;

    memset(&t, 0, sizeof(t));
    if (corrupt)
        corrupt(&s);
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    assert_int_equal(mig_rec_begin(&enc, MIG_REC_VCPU), 0);
    mig_put_vcpu_state(&enc, &s);
    if (fmt >= 0)
        w[0] = (uint8_t)fmt;
    mig_rd_init(&rd, w, MIG_VCPU_STATE_SIZE - cut);
    return mig_get_vcpu_state(&rd, &t);
}

static void wait_sipi(struct vcpu_state *s) { s->activity = ACT_WAIT_SIPI; }
static void bad_activity(struct vcpu_state *s) { s->activity = ACT_WAIT_SIPI + 1; }
static void bad_attr(struct vcpu_state *s) { s->cs.attr |= 0x1000; }
static void bad_intr(struct vcpu_state *s) { s->interruptibility |= 0x4; }
static void bad_event(struct vcpu_state *s) { s->pending.type = EVENT_SOFTINT + 1; }
static void bad_has_error(struct vcpu_state *s) { s->pending.has_error = 2; }

static void test_vcpu_state_rejects(void **state)
{
    (void)state;
    assert_int_equal(vcpu_decode_after(NULL, 0, -1), 0);
    assert_int_equal(vcpu_decode_after(NULL, 0, 2), -EINVAL);
    assert_int_equal(vcpu_decode_after(NULL, 1, -1), -EINVAL);
    assert_int_equal(vcpu_decode_after(NULL, MIG_VCPU_STATE_SIZE, -1), -EINVAL);
    assert_int_equal(vcpu_decode_after(wait_sipi, 0, -1), 0);     /* an AP before its SIPI */
    assert_int_equal(vcpu_decode_after(bad_activity, 0, -1), -EINVAL);
    assert_int_equal(vcpu_decode_after(bad_attr, 0, -1), -EINVAL);
    assert_int_equal(vcpu_decode_after(bad_intr, 0, -1), -EINVAL);
    assert_int_equal(vcpu_decode_after(bad_event, 0, -1), -EINVAL);
    assert_int_equal(vcpu_decode_after(bad_has_error, 0, -1), -EINVAL);
}

static void test_reason(void **state)
{
    uint32_t code;
    const char *why;
    size_t len;

    (void)state;
    /* REFUSE and ERROR: code and reason; long reasons cut, unprintables replaced. */
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    assert_int_equal(ENC_ADDED(mig_rec_reason(&enc, MIG_REC_REFUSE, ENOMEM,
                                              "no memory on node 1")), 12 + 4 + 19);
    {
        struct mig_record r = { .type = MIG_REC_REFUSE, .len = 23, .payload = sbuf + 8 };

        assert_int_equal(mig_parse_reason(&r, &code, &why, &len), 0);
        assert_int_equal(code, ENOMEM);
        assert_int_equal(len, 19);
        assert_memory_equal(why, "no memory on node 1", 19);
    }
    {
        char longer[300];

        memset(longer, 'x', sizeof(longer) - 1);
        longer[sizeof(longer) - 1] = 0;
        longer[3] = '\n';
        mig_enc_init(&enc, sbuf, sizeof(sbuf));
        assert_int_equal(ENC_ADDED(mig_rec_reason(&enc, MIG_REC_ERROR, 5, longer)),
                         12 + 4 + MIG_REASON_MAX);
        struct mig_record r = { .type = MIG_REC_ERROR, .len = 4 + MIG_REASON_MAX,
                                .payload = sbuf + 8 };
        assert_int_equal(mig_parse_reason(&r, &code, &why, &len), 0);
        assert_int_equal(len, MIG_REASON_MAX);
        assert_int_equal(why[3], '?');
        sbuf[8 + 4 + 7] = 0x07;                 /* unprintable on the wire: refused */
        assert_int_equal(mig_parse_reason(&r, &code, &why, &len), -EINVAL);
    }
    assert_int_equal(mig_rec_reason(&enc, MIG_REC_STOP, 0, "x"), -EINVAL);
    assert_int_equal(mig_rec_auth(&enc, MIG_REC_HELLO, nonce), -EINVAL);
}

static int ram_count;
static int ram_count_cb(uint64_t gfn, uint32_t count, bool zero, const uint8_t *data, void *ctx)
{
    (void)gfn; (void)count; (void)zero; (void)data;
    ram_count++;
    return ctx ? *(int *)ctx : 0;
}

static size_t run(uint8_t *p, uint64_t gfn, uint32_t count, uint32_t flags)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(gfn >> (8 * i));
    for (int i = 0; i < 4; i++) {
        p[8 + i] = (uint8_t)(count >> (8 * i));
        p[12 + i] = (uint8_t)(flags >> (8 * i));
    }
    return MIG_RAM_RUN_SIZE;
}

static int ram_parse_count(const uint8_t *p, size_t n)
{
    int rc;

    ram_count = 0;
    rc = mig_ram_parse(p, n, ram_count_cb, NULL);
    if (rc)
        assert_int_equal(ram_count, 0);     /* invalid payloads make no callback at all */
    return rc;
}

static void test_ram_parse_edges(void **state)
{
    static uint8_t p[3 * MIG_PAGE_SIZE + 64];
    size_t n;
    int stop = 7;

    (void)state;
    assert_int_equal(ram_parse_count(p, 0), -EINVAL);                       /* no runs */
    run(p, 1, 0, MIG_RAM_ZERO);
    assert_int_equal(ram_parse_count(p, 16), -EINVAL);                      /* count 0 */
    run(p, 1, 1, MIG_RAM_ZERO | 2);
    assert_int_equal(ram_parse_count(p, 16), -EINVAL);                      /* flags */
    run(p, MIG_GFN_LIMIT - 1, 1, MIG_RAM_ZERO);
    assert_int_equal(ram_parse_count(p, 16), 0);                            /* last gfn */
    run(p, MIG_GFN_LIMIT - 1, 2, MIG_RAM_ZERO);
    assert_int_equal(ram_parse_count(p, 16), -EINVAL);                      /* past it */
    run(p, UINT64_MAX, 2, MIG_RAM_ZERO);
    assert_int_equal(ram_parse_count(p, 16), -EINVAL);                      /* wraps */
    run(p, UINT64_MAX - 0xfff, 0xffffffffu, MIG_RAM_ZERO);
    assert_int_equal(ram_parse_count(p, 16), -EINVAL);
    run(p, 0, 0xffffffffu, MIG_RAM_ZERO);
    assert_int_equal(ram_parse_count(p, 16), 0);                            /* 16 TiB of zeros */
    run(p, 0, 0xffffffffu, 0);
    assert_int_equal(ram_parse_count(p, 16 + MIG_PAGE_SIZE), -EINVAL);      /* data short */
    run(p, 0, 2, 0);
    assert_int_equal(ram_parse_count(p, 16 + 2 * MIG_PAGE_SIZE - 1), -EINVAL);
    assert_int_equal(ram_parse_count(p, 16 + 2 * MIG_PAGE_SIZE), 0);
    assert_int_equal(ram_parse_count(p, 16 + 2 * MIG_PAGE_SIZE + 1), -EINVAL); /* extra byte */
    assert_int_equal(ram_parse_count(p, 16 + 2 * MIG_PAGE_SIZE + 15), -EINVAL);
    /* A zero run with data: the data reads as a run header and fails. */
    memset(p, 0, sizeof(p));
    run(p, 9, 1, MIG_RAM_ZERO);
    assert_int_equal(ram_parse_count(p, 16 + MIG_PAGE_SIZE), -EINVAL);
    memset(p + 16, 0xaa, MIG_PAGE_SIZE);
    assert_int_equal(ram_parse_count(p, 16 + MIG_PAGE_SIZE), -EINVAL);
    /* A good run, then a bad one: still no callback for the good one. */
    n = run(p, 1, 1, 0) + MIG_PAGE_SIZE;
    n += run(p + n, 5, 0, 0);
    assert_int_equal(ram_parse_count(p, n), -EINVAL);
    /* Three good runs; a callback's non-zero result stops the walk. */
    n = run(p, 1, 1, 0) + MIG_PAGE_SIZE;
    n += run(p + n, 2, 10, MIG_RAM_ZERO);
    n += run(p + n, 12, 1, 0) + MIG_PAGE_SIZE;
    assert_int_equal(ram_parse_count(p, n), 0);
    assert_int_equal(ram_count, 3);
    ram_count = 0;
    assert_int_equal(mig_ram_parse(p, n, ram_count_cb, &stop), 7);
    assert_int_equal(ram_count, 1);
    assert_int_equal(mig_ram_parse(p, n, NULL, NULL), 0);                    /* validate only */
}

static void test_ram_run_put(void **state)
{
    static uint8_t small[12 + 8 + 16 + MIG_PAGE_SIZE + 8];
    size_t len;

    (void)state;
    fill_pages();
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    assert_int_equal(mig_ram_run_put(&enc, 0, 1, true, NULL), -EINVAL);      /* no record */
    assert_int_equal(mig_rec_begin(&enc, MIG_REC_DEVICE), 0);
    assert_int_equal(mig_ram_run_put(&enc, 0, 1, true, NULL), -EINVAL);      /* not RAM */
    assert_int_equal(mig_rec_end(&enc), -EMSGSIZE);
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put(&enc, 0, 0, true, NULL), -EINVAL);      /* count 0 */
    assert_int_equal(mig_ram_run_put(&enc, MIG_GFN_LIMIT, 1, true, NULL), -EINVAL);
    assert_int_equal(mig_ram_run_put(&enc, 0, 1, false, NULL), -EINVAL);     /* no data */
    /* 65 pages never fit: refused whole, nothing written, the record stays good. */
    assert_int_equal(mig_ram_run_put(&enc, 0, MIG_RAM_MAX_PAGES + 1, false, pages), -E2BIG);
    assert_int_equal(enc.pos, 16);
    assert_int_equal(mig_ram_run_put(&enc, 0, 1u << 30, true, NULL), 0);     /* 16 bytes */
    assert_int_equal(ENC_ADDED(mig_rec_end(&enc)), 12 + 8 + 16);

    /* A buffer that holds one page: the second is -ENOSPC, the first still ends fine. */
    mig_enc_init(&enc, small, sizeof(small));
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put(&enc, 3, 1, false, pages[0]), 0);
    assert_int_equal(mig_ram_run_put(&enc, 4, 1, false, pages[1]), -ENOSPC);
    assert_int_equal(mig_rec_room(&enc), 8);
    len = ENC_ADDED(mig_rec_end(&enc));
    assert_int_equal(len, 12 + 8 + 16 + MIG_PAGE_SIZE);
    assert_int_equal(mig_ram_parse(small + 16, len - 20, NULL, NULL), 0);
}

/* What the last mig_ram_parse_lz4 handed out, run by run. */
static struct { uint64_t gfn; uint32_t count; bool zero; uint8_t data[4 * MIG_PAGE_SIZE]; }
    got_runs[8];
static unsigned got_n;

static int ram_copy_cb(uint64_t gfn, uint32_t count, bool zero, const uint8_t *data, void *ctx)
{
    (void)ctx;
    assert_true(got_n < 8);
    got_runs[got_n].gfn = gfn;
    got_runs[got_n].count = count;
    got_runs[got_n].zero = zero;
    assert_true(zero == (data == NULL));
    if (data && count <= 4)
        memcpy(got_runs[got_n].data, data, (size_t)count * MIG_PAGE_SIZE);
    got_n++;
    return 0;
}

/* A hand-made LZ4 run's header and clen at p: their size. */
static size_t lz4_run(uint8_t *p, uint64_t gfn, uint32_t count, uint32_t flags, uint32_t clen)
{
    size_t hdr = run(p, gfn, count, flags);
    memcpy(p + hdr, &clen, 4);
    return hdr + 4;
}

static int lz4_parse(const uint8_t *p, size_t n, uint8_t *scratch)
{
    got_n = 0;
    int rc = mig_ram_parse_lz4(p, n, ram_copy_cb, NULL, scratch);
    if (rc)
        assert_int_equal(got_n, 0);         /* nothing applied from a record that fails */
    return rc;
}

/* LZ4 runs: encoded by the source's helper, expanded by the parser exactly; every malformed
 * form refused before any callback; refused outright on a stream without LZ4. */
static void test_ram_lz4(void **state)
{
    static uint8_t src[3 * MIG_PAGE_SIZE], block[3 * MIG_PAGE_SIZE], p[4 * MIG_PAGE_SIZE + 256];
    static uint8_t scratch[MIG_RAM_MAX_PAGES * MIG_PAGE_SIZE];
    static struct compress_state st;
    size_t clen, n;

    (void)state;
    for (size_t i = 0; i < sizeof(src); i++)      /* compressible, but not trivially */
        src[i] = (uint8_t)(i % 251 < 40 ? i * 7 : i / 4096 + 1);
    clen = compress_block(&st, src, sizeof(src), block, sizeof(src) - 1);
    assert_true(clen > 0 && clen < sizeof(src) / 2);
    fill_pages();

    /* Encoder: a packed run between a raw one and a zero one; the parser gives back all three. */
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put(&enc, 2, 1, false, pages[0]), 0);
    assert_int_equal(mig_ram_run_put_lz4(&enc, 10, 3, block, (uint32_t)clen), 0);
    assert_int_equal(mig_ram_run_put(&enc, 20, 5, true, NULL), 0);
    assert_int_equal(mig_ram_run_put_lz4(&enc, 30, 3, block, 0), -EINVAL);          /* empty */
    assert_int_equal(mig_ram_run_put_lz4(&enc, 30, 3, block, 3 * MIG_PAGE_SIZE), -EINVAL);
    assert_int_equal(mig_ram_run_put_lz4(&enc, 30, MIG_RAM_MAX_PAGES + 1, block, 10), -EINVAL);
    n = ENC_ADDED(mig_rec_end(&enc)) - 20;
    assert_int_equal(n, 16 + MIG_PAGE_SIZE + 16 + 4 + clen + 16);
    assert_int_equal(lz4_parse(sbuf + 16, n, scratch), 0);
    assert_int_equal(got_n, 3);
    assert_true(got_runs[0].gfn == 2 && got_runs[0].count == 1 && !got_runs[0].zero);
    assert_memory_equal(got_runs[0].data, pages[0], MIG_PAGE_SIZE);
    assert_true(got_runs[1].gfn == 10 && got_runs[1].count == 3 && !got_runs[1].zero);
    assert_memory_equal(got_runs[1].data, src, sizeof(src));
    assert_true(got_runs[2].gfn == 20 && got_runs[2].count == 5 && got_runs[2].zero);
    /* The same record on a stream that did not take LZ4. */
    assert_int_equal(mig_ram_parse(sbuf + 16, n, NULL, NULL), -EINVAL);

    /* Hand-made runs: the header, clen, the block. */
    n = lz4_run(p, 10, 3, MIG_RAM_LZ4, (uint32_t)clen);
    memcpy(p + n, block, clen);
    assert_int_equal(lz4_parse(p, n + clen, scratch), 0);
    assert_int_equal(lz4_parse(p, n + clen - 1, scratch), -EINVAL);       /* block cut short */
    assert_int_equal(lz4_parse(p, n + clen + 1, scratch), -EINVAL);       /* a byte after it */
    lz4_run(p, 10, 2, MIG_RAM_LZ4, (uint32_t)clen);
    assert_int_equal(lz4_parse(p, n + clen, scratch), -EINVAL);           /* expands to more */
    lz4_run(p, 10, 4, MIG_RAM_LZ4, (uint32_t)clen);
    assert_int_equal(lz4_parse(p, n + clen, scratch), -EINVAL);           /* ... to fewer */
    lz4_run(p, 10, 3, MIG_RAM_LZ4 | MIG_RAM_ZERO, (uint32_t)clen);
    assert_int_equal(lz4_parse(p, n + clen, scratch), -EINVAL);           /* both flags */
    lz4_run(p, 10, 3, MIG_RAM_LZ4, 0);
    assert_int_equal(lz4_parse(p, n, scratch), -EINVAL);                  /* clen 0 */
    lz4_run(p, 10, 1, MIG_RAM_LZ4, MIG_PAGE_SIZE);
    memcpy(p + n, pages[0], MIG_PAGE_SIZE);
    assert_int_equal(lz4_parse(p, n + MIG_PAGE_SIZE, scratch), -EINVAL);  /* not smaller */
    lz4_run(p, 10, 3, MIG_RAM_LZ4, 0xffffffffu);
    assert_int_equal(lz4_parse(p, n + clen, scratch), -EINVAL);           /* clen past the end */
    assert_int_equal(lz4_parse(p, 16 + 2, scratch), -EINVAL);             /* clen itself cut */
    /* More than a record's worth of packed pages (the scratch bound): 40 + 40 pages. */
    {
        static uint8_t big[40 * MIG_PAGE_SIZE], bblk[40 * MIG_PAGE_SIZE];
        static uint8_t q[2 * (20 + 40 * MIG_PAGE_SIZE)];
        size_t bl = compress_block(&st, big, sizeof(big), bblk, sizeof(big) - 1), m = 0;
        assert_true(bl > 0);
        for (int k = 0; k < 2; k++) {
            m += run(q + m, 100 + 40 * (uint64_t)k, 40, MIG_RAM_LZ4);
            memcpy(q + m, &(uint32_t){ (uint32_t)bl }, 4);
            memcpy(q + m + 4, bblk, bl);
            m += 4 + bl;
        }
        assert_int_equal(lz4_parse(q, m / 2, scratch), 0);
        assert_int_equal(lz4_parse(q, m, scratch), -EINVAL);
    }
    /* A corrupt block, its bytes flipped one at a time: refused, or (LZ4 has no checksum of
     * its own: the record's CRC catches the wire's errors) exactly the run's pages. Nothing
     * reads or writes out of bounds (ASan watches). */
    n = lz4_run(p, 10, 3, MIG_RAM_LZ4, (uint32_t)clen);
    for (size_t i = 0; i < clen; i++) {
        memcpy(p + n, block, clen);
        p[n + i] ^= 0xff;
        if (lz4_parse(p, n + clen, scratch) == 0)
            assert_true(got_n == 1 && got_runs[0].count == 3);
    }
}

/* The target's pages for DELTA runs: held[] stands for pages 0-7; any other is not there. */
static uint8_t held[8][MIG_PAGE_SIZE];
static bool held_wide;                      /* ...or, while set, every page below 1024 */
static const uint8_t *held_page(uint64_t gfn, void *ctx)
{
    (void)ctx;
    return gfn < (held_wide ? 1024 : 8) ? held[gfn % 8] : NULL;
}

static int delta_parse(const uint8_t *p, size_t n, uint8_t *scratch)
{
    got_n = 0;
    int rc = mig_ram_parse_ex(p, n, ram_copy_cb, NULL, scratch, true, held_page, NULL);
    if (rc)
        assert_int_equal(got_n, 0);         /* nothing applied from a record that fails */
    return rc;
}

/* A hand-made DELTA run of one page at p: its size. */
static size_t delta_run1(uint8_t *p, uint64_t gfn, const uint8_t *d, uint16_t dlen)
{
    size_t m = run(p, gfn, 1, MIG_RAM_DELTA);
    memcpy(p + m, &dlen, 2);
    memcpy(p + m + 2, d, dlen);
    return m + 2 + dlen;
}

/* DELTA runs: the source's helper puts what delta_encode made, the parser rebuilds each page
 * from the target's copy; every malformed form, a page the target lacks, and a stream that
 * did not take deltas are refused before any callback. */
static void test_ram_delta(void **state)
{
    static uint8_t now[3][MIG_PAGE_SIZE], body[3 * (2 + MIG_PAGE_SIZE)], p[2 * MIG_PAGE_SIZE];
    static uint8_t scratch[MIG_RAM_MAX_PAGES * MIG_PAGE_SIZE];
    uint32_t blen = 0;
    size_t n;

    (void)state;
    fill_pages();
    for (int i = 0; i < 8; i++)
        memcpy(held[i], pages[i], MIG_PAGE_SIZE);
    for (int i = 0; i < 3; i++) {                  /* pages 4-6 changed a little */
        memcpy(now[i], held[4 + i], MIG_PAGE_SIZE);
        now[i][100 * i] ^= 0x55;
        now[i][4095] ^= (uint8_t)(i + 1);
        int d = delta_encode(held[4 + i], now[i], body + blen + 2, MIG_PAGE_SIZE / 2);
        assert_true(d > 0 && d < 16);
        memcpy(body + blen, &(uint16_t){ (uint16_t)d }, 2);
        blen += 2 + (uint32_t)d;
    }
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    assert_int_equal(mig_rec_ram_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put(&enc, 2, 1, false, pages[0]), 0);
    assert_int_equal(mig_ram_run_put_delta(&enc, 4, 3, body, blen), 0);
    /* The helper checks the body holds exactly count entries. */
    assert_int_equal(mig_ram_run_put_delta(&enc, 4, 2, body, blen), -EINVAL);
    assert_int_equal(mig_ram_run_put_delta(&enc, 4, 4, body, blen), -EINVAL);
    assert_int_equal(mig_ram_run_put_delta(&enc, 4, 3, body, blen - 1), -EINVAL);
    assert_int_equal(mig_ram_run_put_delta(&enc, 4, 0, body, 0), -EINVAL);
    n = ENC_ADDED(mig_rec_end(&enc)) - 20;
    assert_int_equal(n, 16 + MIG_PAGE_SIZE + 16 + blen);
    assert_int_equal(delta_parse(sbuf + 16, n, scratch), 0);
    assert_int_equal(got_n, 2);
    assert_true(got_runs[1].gfn == 4 && got_runs[1].count == 3 && !got_runs[1].zero);
    for (int i = 0; i < 3; i++)
        assert_memory_equal(got_runs[1].data + i * MIG_PAGE_SIZE, now[i], MIG_PAGE_SIZE);
    assert_memory_equal(held[4], pages[4], MIG_PAGE_SIZE);    /* the parser wrote no page */
    /* Not taken: without page() (or scratch), and with LZ4 only. */
    assert_int_equal(mig_ram_parse_ex(sbuf + 16, n, NULL, NULL, scratch, true, NULL, NULL),
                     -EINVAL);
    assert_int_equal(mig_ram_parse_ex(sbuf + 16, n, NULL, NULL, NULL, false, held_page, NULL),
                     -EINVAL);
    assert_int_equal(mig_ram_parse_lz4(sbuf + 16, n, NULL, NULL, scratch), -EINVAL);
    /* DELTA runs go in RAM records only. */
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    assert_int_equal(mig_rec_disk_begin(&enc, 0), 0);
    assert_int_equal(mig_ram_run_put_delta(&enc, 4, 3, body, blen), -EINVAL);

    /* Hand-made: one page, one op. */
    const uint8_t d1[] = { 7, 2, 0xaa, 0xbb };
    n = delta_run1(p, 3, d1, sizeof(d1));
    assert_int_equal(delta_parse(p, n, scratch), 0);
    assert_int_equal(got_runs[0].data[7], 0xaa);
    assert_int_equal(got_runs[0].data[8], 0xbb);
    assert_memory_equal(got_runs[0].data + 9, held[3] + 9, MIG_PAGE_SIZE - 9);
    assert_int_equal(delta_parse(p, n - 1, scratch), -EINVAL);          /* cut short */
    assert_int_equal(delta_parse(p, n + 1, scratch), -EINVAL);          /* a byte after it */
    assert_int_equal(delta_parse(p, 16 + 1, scratch), -EINVAL);         /* dlen itself cut */
    n = delta_run1(p, 8, d1, sizeof(d1));
    assert_int_equal(delta_parse(p, n, scratch), -EINVAL);              /* no page 8 here */
    const uint8_t bad[] = { 7, 0 };                                     /* an op of 0 bytes */
    n = delta_run1(p, 3, bad, sizeof(bad));
    assert_int_equal(delta_parse(p, n, scratch), -EINVAL);
    n = run(p, 3, 1, MIG_RAM_DELTA);
    memcpy(p + n, &(uint16_t){ MIG_PAGE_SIZE }, 2);                     /* dlen of a page */
    memset(p + n + 2, 0, MIG_PAGE_SIZE);
    assert_int_equal(delta_parse(p, n + 2 + MIG_PAGE_SIZE, scratch), -EINVAL);
    n = run(p, 3, 1, MIG_RAM_DELTA | MIG_RAM_ZERO);                     /* two encodings */
    memcpy(p + n, &(uint16_t){ 0 }, 2);
    assert_int_equal(delta_parse(p, n + 2, scratch), -EINVAL);
    n = run(p, 3, 1, MIG_RAM_DELTA);                                    /* no change: fine */
    memcpy(p + n, &(uint16_t){ 0 }, 2);
    assert_int_equal(delta_parse(p, n + 2, scratch), 0);
    assert_memory_equal(got_runs[0].data, held[3], MIG_PAGE_SIZE);
    /* LZ4 and DELTA pages share the record's bound: a run of 64 delta pages goes, one more
     * page (of either) does not. */
    {
        static uint8_t q[3 * 16 + 4 + MIG_PAGE_SIZE + (MIG_RAM_MAX_PAGES + 1) * 2];
        static uint8_t blk[MIG_PAGE_SIZE], zeros[MIG_PAGE_SIZE];
        static struct compress_state st;
        held_wide = true;
        size_t m = run(q, 0, MIG_RAM_MAX_PAGES, MIG_RAM_DELTA);
        memset(q + m, 0, MIG_RAM_MAX_PAGES * 2);
        m += MIG_RAM_MAX_PAGES * 2;
        assert_int_equal(delta_parse(q, m, scratch), 0);
        size_t m2 = m + run(q + m, 70, 1, MIG_RAM_DELTA);
        memset(q + m2, 0, 2);
        assert_int_equal(delta_parse(q, m2 + 2, scratch), -EINVAL);
        size_t bl = compress_block(&st, zeros, MIG_PAGE_SIZE, blk, MIG_PAGE_SIZE - 1);
        assert_true(bl > 0);
        m2 = m + lz4_run(q + m, 70, 1, MIG_RAM_LZ4, (uint32_t)bl);
        memcpy(q + m2, blk, bl);
        assert_int_equal(delta_parse(q, m2 + bl, scratch), -EINVAL);
        held_wide = false;
    }
}

/* ACCEPT and COMMIT_ACK carry their fields; unknown features and reserved bits are refused. */
static void test_accept_and_commit_ack(void **state)
{
    struct mig_record r;
    uint16_t f = 9;
    uint32_t us = 9;
    size_t n;

    (void)state;
    uint8_t token[MIG_JOIN_TOKEN], tok[MIG_JOIN_TOKEN];
    uint16_t streams = 0;
    for (unsigned i = 0; i < MIG_JOIN_TOKEN; i++)
        token[i] = (uint8_t)(0xa0 + i);
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    assert_int_equal(mig_rec_accept(&enc, 0x8000, 1, NULL), -EINVAL);
    assert_int_equal(mig_rec_accept(&enc, 0, 0, NULL), -EINVAL);               /* no stream */
    assert_int_equal(mig_rec_accept(&enc, 0, MIG_STREAMS_MAX + 1, token), -EINVAL);
    n = ENC_ADDED(mig_rec_accept(&enc, MIG_FEAT_LZ4, 3, token));
    assert_int_equal(n, 12 + 4 + MIG_JOIN_TOKEN);
    r = (struct mig_record){ .type = MIG_REC_ACCEPT, .len = 4 + MIG_JOIN_TOKEN,
                             .payload = sbuf + 8 };
    assert_int_equal(mig_parse_accept(&r, &f, &streams, tok), 0);
    assert_int_equal(f, MIG_FEAT_LZ4);
    assert_int_equal(streams, 3);
    assert_memory_equal(tok, token, MIG_JOIN_TOKEN);
    sbuf[8] = MIG_FEAT_LZ4 | MIG_FEAT_DELTA;
    assert_int_equal(mig_parse_accept(&r, &f, &streams, tok), 0);
    assert_int_equal(f, MIG_FEAT_LZ4 | MIG_FEAT_DELTA);
    sbuf[8] = 4;                                        /* an unknown feature */
    assert_int_equal(mig_parse_accept(&r, &f, &streams, tok), -EINVAL);
    sbuf[8] = 1;
    sbuf[10] = 0;                                       /* no stream granted */
    assert_int_equal(mig_parse_accept(&r, &f, &streams, tok), -EINVAL);
    sbuf[10] = MIG_STREAMS_MAX + 1;                     /* more than any host has */
    assert_int_equal(mig_parse_accept(&r, &f, &streams, tok), -EINVAL);
    r.len = 4;                                          /* version 6's ACCEPT */
    sbuf[10] = 1;
    assert_int_equal(mig_parse_accept(&r, &f, &streams, tok), -EINVAL);

    /* JOIN: the token and a stream past the first; STREAM_END: pass and pages. */
    const uint8_t *t;
    uint16_t k;
    uint32_t pass;
    uint64_t pages;
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    assert_int_equal(mig_rec_join(&enc, token, 0), -EINVAL);                   /* the first */
    assert_int_equal(mig_rec_join(&enc, token, MIG_STREAMS_MAX), -EINVAL);
    n = ENC_ADDED(mig_rec_join(&enc, token, 2));
    assert_int_equal(n, 12 + MIG_JOIN_TOKEN + 8);
    r = (struct mig_record){ .type = MIG_REC_JOIN, .len = MIG_JOIN_TOKEN + 8, .payload = sbuf + 8 };
    assert_int_equal(mig_parse_join(&r, &t, &k), 0);
    assert_int_equal(k, 2);
    assert_memory_equal(t, token, MIG_JOIN_TOKEN);
    sbuf[8 + MIG_JOIN_TOKEN + 2] = 1;                   /* reserved */
    assert_int_equal(mig_parse_join(&r, &t, &k), -EINVAL);
    sbuf[8 + MIG_JOIN_TOKEN + 2] = 0;
    sbuf[8 + MIG_JOIN_TOKEN] = 0;                       /* stream 0 cannot join */
    assert_int_equal(mig_parse_join(&r, &t, &k), -EINVAL);
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    n = ENC_ADDED(mig_rec_stream_end(&enc, 7, 12345));
    assert_int_equal(n, 12 + 16);
    r = (struct mig_record){ .type = MIG_REC_STREAM_END, .len = 16, .payload = sbuf + 8 };
    assert_int_equal(mig_parse_stream_end(&r, &pass, &pages), 0);
    assert_true(pass == 7 && pages == 12345);
    sbuf[12] = 1;                                       /* reserved */
    assert_int_equal(mig_parse_stream_end(&r, &pass, &pages), -EINVAL);

    /* RAM names its pass; its reserved word must be zero. */
    const uint8_t *runs;
    size_t rlen;
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    assert_int_equal(mig_rec_ram_begin(&enc, 9), 0);
    assert_int_equal(mig_ram_run_put(&enc, 5, 2, true, NULL), 0);
    n = ENC_ADDED(mig_rec_end(&enc));
    r = (struct mig_record){ .type = MIG_REC_RAM, .len = (uint32_t)n - 12, .payload = sbuf + 8 };
    assert_int_equal(mig_parse_ram(&r, &pass, &runs, &rlen), 0);
    assert_true(pass == 9 && runs == sbuf + 16 && rlen == 16);
    sbuf[13] = 1;
    assert_int_equal(mig_parse_ram(&r, &pass, &runs, &rlen), -EINVAL);
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    n = ENC_ADDED(mig_rec_commit_ack(&enc, 123456));
    assert_int_equal(n, 12 + 8);
    r = (struct mig_record){ .type = MIG_REC_COMMIT_ACK, .len = 8, .payload = sbuf + 8 };
    assert_int_equal(mig_parse_commit_ack(&r, &us), 0);
    assert_int_equal(us, 123456);
    sbuf[15] = 1;
    assert_int_equal(mig_parse_commit_ack(&r, &us), -EINVAL);
    r.type = MIG_REC_ACCEPT;
    assert_int_equal(mig_parse_commit_ack(&r, &us), -EINVAL);
}

static void test_hello_rejects(void **state)
{
    struct mig_hello h = sample_hello(), out;
    struct mig_record r;
    int n;

    (void)state;
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    n = (int)ENC_ADDED(mig_rec_hello(&enc, &h));
    r = (struct mig_record){ .type = MIG_REC_HELLO, .len = (uint32_t)n - 12,
                             .payload = sbuf + 8 };
    assert_int_equal(mig_parse_hello(&r, &out), 0);
    assert_int_equal(out.features, MIG_FEAT_LZ4);

#define HELLO_BAD(stmt) do { uint8_t save = sbuf[off]; stmt; \
        assert_int_equal(mig_parse_hello(&r, &out), -EINVAL); sbuf[off] = save; } while (0)
    {
        size_t off;

        off = 8 + 0;  HELLO_BAD(sbuf[off] = 1);                 /* version 1: an old peer */
        off = 8 + 2;  HELLO_BAD(sbuf[off] = 4);                 /* an unknown feature */
        off = 8 + 3;  HELLO_BAD(sbuf[off] = 0x80);
        off = 8 + 4;  HELLO_BAD(sbuf[off] = 0);                 /* 0 vCPUs */
        off = 8 + 5;  HELLO_BAD(sbuf[off] = 1);                 /* 258 vCPUs */
        off = 8 + 8;  HELLO_BAD(sbuf[off] = 1);                 /* not page-sized */
        off = 8 + 16; HELLO_BAD(sbuf[off] = 0);                 /* empty name */
        off = 8 + 18; HELLO_BAD(sbuf[off] = ' ');               /* space in the name */
        off = 8 + 30; HELLO_BAD(sbuf[off] = 'x');               /* garbage after the NUL */
        off = 8 + 48; HELLO_BAD(sbuf[off]++);                   /* policy length */
        off = 8 + 52; HELLO_BAD(sbuf[off] = 3);                 /* device count */
        off = 8 + 54; HELLO_BAD(sbuf[off] = 0);                 /* no stream */
        off = 8 + 54; HELLO_BAD(sbuf[off] = MIG_STREAMS_MAX + 1);  /* too many */
        off = 8 + 55; HELLO_BAD(sbuf[off] = 1);
        /* Device entries: type u16, instance u16, version u16, reserved u16. */
        size_t dev = 8 + MIG_HELLO_FIXED + h.policy_len;
        off = dev + 0; HELLO_BAD(sbuf[off] = 0);                /* type 0 */
        off = dev + 4; HELLO_BAD(sbuf[off] = 0);                /* version 0 */
        off = dev + 6; HELLO_BAD(sbuf[off] = 1);                /* reserved */
        off = dev + 8 + 7; HELLO_BAD(sbuf[off] = 1);            /* the second's reserved */
    }
    r.len--;
    assert_int_equal(mig_parse_hello(&r, &out), -EINVAL);
    r.len = 40;
    assert_int_equal(mig_parse_hello(&r, &out), -EINVAL);

    /* The encoder refuses what the decoder would. */
    h.vcpus = 0;
    assert_int_equal(mig_rec_hello(&enc, &h), -EINVAL);
    h = sample_hello();
    h.features = 0x10;
    assert_int_equal(mig_rec_hello(&enc, &h), -EINVAL);
    h = sample_hello();
    h.streams = 0;
    assert_int_equal(mig_rec_hello(&enc, &h), -EINVAL);
    h.streams = MIG_STREAMS_MAX + 1;
    assert_int_equal(mig_rec_hello(&enc, &h), -EINVAL);
    h = sample_hello();
    strcpy(h.name, "two words");
    assert_int_equal(mig_rec_hello(&enc, &h), -EINVAL);
    h = sample_hello();
    h.ndevices = MIG_MAX_DEVICES + 1;
    assert_int_equal(mig_rec_hello(&enc, &h), -EINVAL);
    h = sample_hello();
    memset(h.name, 'n', sizeof(h.name));                      /* no NUL */
    assert_int_equal(mig_rec_hello(&enc, &h), -EINVAL);
}

static void test_small_parsers_reject(void **state)
{
    uint8_t p[16] = { 0 };
    struct mig_record r = { .type = MIG_REC_ROUND_END, .len = 16, .payload = p };
    struct mig_dev_id id;
    const uint8_t *b;
    uint32_t u32;
    uint64_t u64;
    size_t n;

    (void)state;
    assert_int_equal(mig_parse_round_end(&r, &u32, &u64), 0);
    p[4] = 1;
    assert_int_equal(mig_parse_round_end(&r, &u32, &u64), -EINVAL);     /* reserved */
    r.type = MIG_REC_TSC;
    p[4] = 0;
    assert_int_equal(mig_parse_tsc(&r, &u64, &u32), 0);
    p[12] = 1;
    assert_int_equal(mig_parse_tsc(&r, &u64, &u32), -EINVAL);
    r.type = MIG_REC_DEVICE;
    r.len = 9;
    memset(p, 0, sizeof(p));
    p[4] = 1;
    assert_int_equal(mig_parse_device(&r, &id, &b, &n), -EINVAL);       /* type 0 */
    p[0] = 1;
    assert_int_equal(mig_parse_device(&r, &id, &b, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(id.version, 1);
    p[6] = 1;
    assert_int_equal(mig_parse_device(&r, &id, &b, &n), -EINVAL);       /* reserved */
    p[6] = 0;
    p[4] = 0;
    assert_int_equal(mig_parse_device(&r, &id, &b, &n), -EINVAL);       /* version 0 */
    p[4] = 1;
    r.len = 8;
    assert_int_equal(mig_parse_device(&r, &id, &b, &n), -EINVAL);       /* no record */
    /* XSAVE: a vCPU index below MIG_MAX_VCPUS and at least the legacy area and header. */
    static uint8_t xs[4 + MIG_XSAVE_MIN];
    struct mig_record x = { .type = MIG_REC_XSAVE, .len = sizeof(xs), .payload = xs };
    memset(xs, 0, sizeof(xs));
    xs[0] = 3;
    assert_int_equal(mig_parse_xsave(&x, &u32, &b, &n), 0);
    assert_int_equal(u32, 3);
    assert_int_equal(n, MIG_XSAVE_MIN);
    x.len--;
    assert_int_equal(mig_parse_xsave(&x, &u32, &b, &n), -EINVAL);
    x.len++;
    xs[1] = 1;                                                          /* vCPU 259 */
    assert_int_equal(mig_parse_xsave(&x, &u32, &b, &n), -EINVAL);
    r.type = MIG_REC_AUTH_CHALLENGE;
    assert_int_equal(mig_parse_auth(&r, &b), -EINVAL);                  /* 4 bytes */
    mig_enc_init(&enc, sbuf, sizeof(sbuf));
    assert_int_equal(mig_rec_device(&enc, &(struct mig_dev_id){ 0, 0, 1 }, "a", 1), -EINVAL);
    assert_int_equal(mig_rec_device(&enc, &(struct mig_dev_id){ 1, 0, 0 }, "a", 1), -EINVAL);
    assert_int_equal(mig_rec_device(&enc, &(struct mig_dev_id){ 1, 0, 1 }, "a", 0), -EINVAL);
    assert_int_equal(mig_rec_xsave(&enc, 0, xs, MIG_XSAVE_MIN - 1), -EINVAL);
    assert_int_equal(mig_rec_xsave(&enc, MIG_MAX_VCPUS, xs, MIG_XSAVE_MIN), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vcpu_state_roundtrip),
        cmocka_unit_test(test_vcpu_state_rejects),
        cmocka_unit_test(test_reason),
        cmocka_unit_test(test_ram_parse_edges),
        cmocka_unit_test(test_ram_run_put),
        cmocka_unit_test(test_ram_lz4),
        cmocka_unit_test(test_ram_delta),
        cmocka_unit_test(test_accept_and_commit_ack),
        cmocka_unit_test(test_hello_rejects),
        cmocka_unit_test(test_small_parsers_reject),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
