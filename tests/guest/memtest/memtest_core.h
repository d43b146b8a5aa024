/*
 * memtest's hardware-free core, shared by the guest (memtest.c adds the
 * UART, CPUID, TSC and halting) and the host unit test
 * (tests/unit/guest/test_memtest.c): cmdline parsing, number formatting, the
 * deterministic page contents and their checksums, the per-vCPU slice
 * layout and one loop iteration with its heartbeat line.
 *
 * Guest pages are addressed by guest-physical address; `map` is added to a
 * GPA to get a pointer (0 in the guest, which runs identity-mapped; the
 * host test points it into a buffer).
 */
#ifndef MEMTEST_CORE_H
#define MEMTEST_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MT_PAGE 4096u
#define MT_WORDS (MT_PAGE / 8)
#define MT_SWEEP_MAX 256u           /* pages re-verified per heartbeat */
#define MT_LINE_MAX 512u

/* scribble: the KVM dirty-log selftest's guest, fast writes of the iteration number into
 * random pages and nothing checked but the TSC (for dirty-logging tests). */
enum mt_mode { MT_MODE_NORMAL, MT_MODE_IDLE, MT_MODE_TRIPLE, MT_MODE_SCRIBBLE };

struct mt_config {
    uint64_t hb;                    /* iterations per heartbeat, >= 1 */
    uint64_t pages;                 /* pages dirtied per iteration */
    uint64_t delay;                 /* PAUSEs after each iteration */
    enum mt_mode mode;
    uint64_t xcr0;                  /* vCPU 0 loads it with XSETBV after the banner (0: no) */
    bool hypercall;                 /* vCPU 0 makes one (VMCALL/VMMCALL) after the banner... */
    uint64_t hypercall_nr;          /* ...with this number in RAX */
    bool pit;                       /* vCPU 0 times 6M TSC cycles with PIT channel 2 */
    bool tpr;                       /* vCPU 0 checks CR8 against the local APIC's TPR */
    bool exit;                      /* vCPU 0 then writes exit_code to the debug-exit port */
    uint64_t exit_code;             /* (4 bytes, port 0xF4) */
    unsigned bad_words;             /* words not understood (ignored) */
    const char *bad;                /* the first of them, bad_len bytes */
    unsigned bad_len;
};

#define MT_DEFAULT_HB 64
#define MT_DEFAULT_PAGES 16
#define MT_IDLE_DELAY 100000        /* idle mode's default delay */

/* Defaults, then every `key=value` word of cmdline (NULL = none). */
void mt_parse_cmdline(const char *cmdline, struct mt_config *c);

/* ---- output lines ---- */

struct mt_line {
    unsigned len;
    char buf[MT_LINE_MAX];          /* always NUL-terminated */
};

void mt_line_reset(struct mt_line *l);
void mt_put_str(struct mt_line *l, const char *s);
void mt_put_strn(struct mt_line *l, const char *s, unsigned n);
void mt_put_dec(struct mt_line *l, uint64_t v);
/* Lower-case hex, at least `digits` digits, no prefix. */
void mt_put_hex(struct mt_line *l, uint64_t v, unsigned digits);
/* Ends the line with "\n", truncating the text if it has to. */
void mt_line_end(struct mt_line *l);

/* ---- page contents ---- */

struct mt_record { uint64_t gen, sum; };

/* Word `w` of the page at `gpa` in generation `gen`. */
uint64_t mt_word(uint64_t gpa, unsigned w, uint64_t gen);
/* Detects any change of a single word (hence any single flipped bit). */
uint64_t mt_checksum(const uint64_t *page);
/* Fills the page and returns its record. */
struct mt_record mt_fill(uint64_t *page, uint64_t gpa, uint64_t gen);
/* The page matches its record: checksum and every word as generated. */
bool mt_page_ok(const uint64_t *page, uint64_t gpa, const struct mt_record *r);

/* ---- per-vCPU slice ---- */

/*
 * [base, base + pages * 4096): the first table_pages hold one mt_record per
 * test page (256 a page), the next test_pages are tested.
 */
struct mt_slice { uint64_t base, pages, table_pages, test_pages; };

/* Test memory [free_base rounded up to 4 KiB, mem_size) split evenly. */
void mt_slice_init(struct mt_slice *s, uint64_t free_base, uint64_t mem_size,
                   unsigned vcpu, unsigned nvcpus);

struct mt_vcpu {
    struct mt_config cfg;
    struct mt_slice slice;
    unsigned index;
    uintptr_t map;
    uint64_t (*rdtsc)(void);
    uint64_t rng;
    uint64_t iter, seq;             /* seq of the last heartbeat printed */
    uint64_t dirtied, dirtied_total;
    uint64_t last_tsc;
    uint64_t sweep_next;
};

uint64_t mt_xorshift(uint64_t *state);

/* Fills every test page with generation 0 and writes the records. */
void mt_vcpu_init(struct mt_vcpu *v, const struct mt_config *cfg, const struct mt_slice *s,
                  unsigned index, uintptr_t map, uint64_t (*rdtsc)(void));

enum { MT_STEP_QUIET = 0, MT_STEP_HB = 1, MT_STEP_BAD = -1 };
/*
 * One iteration. MT_STEP_HB: `out` holds a heartbeat line (possibly one
 * saying the TSC went backwards); MT_STEP_BAD: `out` holds the line for a
 * page that failed verification, and the caller stops.
 */
int mt_step(struct mt_vcpu *v, struct mt_line *out);

#endif
