/*
 * Host tests for hv/vm/dirty.c over arch/x86_64/slpt.c: the KVM dirty-log selftest's oracle,
 * in every mode, on EPT and NPT tables from the real builders (a 1 GiB, a 2 MiB and 4 KiB
 * leaves, so starting has to split them).
 *
 * A fake CPU plays the hardware for NV vCPUs: guest writes walk the table like the CPU,
 * take write faults on protected leaves (the backend's path: vm_dirty_fault, own TLB
 * flushed), set the leaf's D flag when A/D is on (NPT: always; EPT: while the VM asks for
 * it, switched at "entry" as vmx.c does) and append to a 512-entry PML log (full: an exit
 * before the write, drained with the real vmx_pml_drain). Each vCPU has a TLB that caches
 * W and D per translation (a large leaf's for all its pages) until a flush, and may drop
 * it at any time. sched_kick is the IPI: the kicked vCPU first goes on writing through
 * whatever it has cached, then exits (PML drained) and enters (flush request, A/D/PML
 * switch). Frames come from the host heap at "physical" address ptr - DIRECT_MAP_BASE, so
 * phys_to_virt works unchanged.
 *
 * The oracle: the guest writes the round number into pages. After each harvest a dirty
 * page holds round or round-1, a clean one <= round; the host copies the dirty pages, and
 * any page still differing from the guest's (written after the cut) must be reported by the
 * next harvest. A final harvest with the guest quiet leaves nothing different.
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

#include "arch/x86_64/slpt.h"
#include "arch/x86_64/svm/svm_npt.h"
#include "arch/x86_64/vmx/vmx_caps.h"
#include "hv/vm/dirty.h"
#include "hv/vm/gpt.h"
#include "hv/base/mem.h"
#include "hv/vm/sched.h"
#include "hv/base/time.h"
#include "hv/vm/vcpu_ops.h"
#include "support.h"

#define KiB 1024ull
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define PG  (4 * KiB)
#define NV 2
#define HOT 48                  /* pages most writes go to, so stale TLB entries get used */

/* ---- frames: the host heap as "physical" memory ------------------------------------- */

enum frame_kind { K_TABLE, K_SPLIT, K_BITMAP, K_KINDS };

static struct frame { void *p; uint64_t pages; enum frame_kind kind; } frames[8192];
static unsigned nframes, live[K_KINDS];

static uint64_t alloc_kind(uint64_t pages, enum frame_kind kind)
{
    assert_true(nframes < sizeof(frames) / sizeof(frames[0]));
    void *p = aligned_alloc(PG, pages * PG);
    assert_non_null(p);
    memset(p, 0, pages * PG);
    frames[nframes++] = (struct frame){ p, pages, kind };
    live[kind]++;
    return virt_to_phys(p);
}

uint64_t frame_alloc(unsigned node, uint64_t pages, uint64_t align_pages, unsigned flags)
{
    (void)node;
    assert_int_equal(align_pages, 1);
    /* dirty.c asks for a zeroed bitmap; slpt.c's split tables are written in full. */
    return alloc_kind(pages, flags & FRAME_ZERO ? K_BITMAP : K_SPLIT);
}

void frame_free(uint64_t pa, uint64_t pages)
{
    for (unsigned i = 0; i < nframes; i++)
        if (frames[i].p == phys_to_virt(pa)) {
            assert_int_equal(frames[i].pages, pages);
            live[frames[i].kind]--;
            free(frames[i].p);
            frames[i] = frames[--nframes];
            return;
        }
    fail_msg("frame_free of 0x%llx, not allocated", (unsigned long long)pa);
}

static void frames_release_all(void)
{
    while (nframes)
        frame_free(virt_to_phys(frames[0].p), frames[0].pages);
}

static uint64_t table_alloc(void *ctx)
{
    (void)ctx;
    return alloc_kind(1, K_TABLE);
}

static void *table_p2v(uint64_t pa, void *ctx)
{
    (void)ctx;
    return phys_to_virt(pa);
}

/* ---- the fake CPU ---------------------------------------------------------------------- */

struct tlbe { uint32_t gen; bool w, d; };

struct fcpu {
    bool ad_on, pml_on;          /* EPT: what the "VMCS" has; NPT: A/D is always on */
    uint16_t pml_index;
    uint64_t pml[VMX_PML_ENTRIES];
    uint32_t gen;                /* TLB generation: older entries are gone */
    bool stuck;                  /* ignores kicks: a vCPU that does not exit */
};

static struct {
    bool ept;
    unsigned hw_modes;           /* what the backend offers beyond WP */
    struct vm *vm;
    struct slpt t;
    uint64_t pages, hot[HOT];
    uint32_t *ram, *host;        /* the round that last wrote each page; the host's copy */
    bool *pending;               /* differs from the host's copy: due at the next harvest */
    struct tlbe *tlb[NV];
    struct fcpu cpu[NV];
    uint32_t value;              /* what the guest writes now */
    unsigned kick_writes;        /* writes a kicked vCPU makes before it exits ... */
    unsigned kick_after;         /* ... and after it entered again, while the harvest goes on */
    int64_t after_page;          /* >= 0: the page those later writes go to */
    bool extra_ok;               /* pages may be reported that were not written lately */
    uint64_t rng, now;
    unsigned faults, pml_full, window_writes, pending_seen;
} F;

static uint64_t rnd(void)
{
    F.rng ^= F.rng << 13;
    F.rng ^= F.rng >> 7;
    F.rng ^= F.rng << 17;
    return F.rng;
}

static void fake_slpt(struct vm *vm, struct slpt *t)
{
    (void)vm;
    *t = F.t;
}

static unsigned fake_dirty_modes(void) { return F.hw_modes; }

static const struct vcpu_ops fake_ops = {
    .name = "fake", .vm_slpt = fake_slpt, .dirty_modes = fake_dirty_modes,
};
const struct vcpu_ops *hv_ops = &fake_ops;

uint64_t time_ns(void) { return F.now += 1000000; }      /* 1 ms a look: timeouts come fast */

static bool hw_ad(const struct fcpu *c) { return !F.ept || c->ad_on; }

static void pml_log(void *ctx, uint64_t gpa) { vm_dirty_log(ctx, gpa); }

/* VM exit: the backend drains the log (vmx.c does it at every exit). */
static void cpu_exit(unsigned ci)
{
    struct fcpu *c = &F.cpu[ci];
    if (!c->pml_on || c->pml_index == VMX_PML_ENTRIES - 1)
        return;
    vmx_pml_drain(c->pml, c->pml_index, pml_log, F.vm);
    c->pml_index = VMX_PML_ENTRIES - 1;
}

/* VM entry: the flush request, then A/D and PML as the VM wants them (vmx.c dirty_sync). */
static void cpu_enter(unsigned ci)
{
    struct fcpu *c = &F.cpu[ci];
    bool flush = __atomic_exchange_n(&F.vm->vcpus[ci].flush_req, 0, __ATOMIC_ACQ_REL);
    bool changed = false;
    if (F.ept) {
        bool ad = vm_dirty_wants_ad(F.vm), pml = ad && vm_dirty_wants_pml(F.vm);
        changed = ad != c->ad_on || pml != c->pml_on;
        if (pml && !c->pml_on)
            c->pml_index = VMX_PML_ENTRIES - 1;
        c->ad_on = ad;
        c->pml_on = pml;
    }
    if (flush || changed)
        c->gen++;
}

/* Walks the table like the CPU: the leaf for gpa and how much it maps. */
static uint64_t *hw_walk(uint64_t gpa, uint64_t *size)
{
    uint64_t *tab = phys_to_virt(F.t.root);
    for (unsigned level = 4; level >= 1; level--) {
        unsigned shift = 12 + 9 * (level - 1);
        uint64_t *e = &tab[(gpa >> shift) & 511];
        assert_true(*e & F.t.present);
        if (level == 1 || (*e & SLPT_LARGE)) {
            *size = 1ull << shift;
            return e;
        }
        tab = phys_to_virt(*e & SLPT_ADDR);
    }
    return NULL;
}

static void tlb_fill(unsigned ci, uint64_t base, uint64_t size, bool d)
{
    for (uint64_t p = base / PG; p < (base + size) / PG && p < F.pages; p++)
        F.tlb[ci][p] = (struct tlbe){ F.cpu[ci].gen, true, d };
}

static void guest_write(unsigned ci, uint64_t page)
{
    struct fcpu *c = &F.cpu[ci];
    uint64_t gpa = page * PG;
    if (rnd() % 256 == 0)
        c->gen++;                            /* the CPU may drop its TLB whenever it likes */
    for (;;) {
        struct tlbe *e = &F.tlb[ci][page];
        if (e->gen == c->gen && e->w && (e->d || !hw_ad(c)))
            break;                           /* through the cached translation, as it is */
        uint64_t size, *leaf = hw_walk(gpa, &size);
        if (!(*leaf & SLPT_W)) {             /* EPT violation / nested page fault */
            F.faults++;
            cpu_exit(ci);
            assert_true(vm_dirty_fault(F.vm, gpa));
            c->gen++;                        /* the backend flushes its own translations */
            cpu_enter(ci);
            continue;
        }
        if (hw_ad(c) && !(*leaf & F.t.dirty)) {
            if (c->pml_on && c->pml_index >= VMX_PML_ENTRIES) {
                F.pml_full++;                /* log full: exit before the write happens */
                cpu_exit(ci);
                cpu_enter(ci);
                continue;
            }
            __atomic_or_fetch(leaf, F.t.dirty, __ATOMIC_SEQ_CST);
            if (c->pml_on)
                c->pml[c->pml_index--] = gpa;    /* 0 wraps to 0xFFFF: full */
        }
        tlb_fill(ci, gpa & ~(size - 1), size, hw_ad(c));
        break;
    }
    F.ram[page] = F.value;
}

static uint64_t pick_page(unsigned hot_percent)
{
    return rnd() % 100 < hot_percent ? F.hot[rnd() % HOT] : rnd() % F.pages;
}

/*
 * The IPI: the guest runs on until it arrives, then the vCPU exits and enters again, and
 * runs on while the control plane finishes its harvest (the caller only copies pages after
 * the harvest returns, so those writes are its business only from the next round on).
 */
void sched_kick(unsigned pcpu)
{
    unsigned ci = pcpu - 1;
    assert_true(ci < NV);
    if (F.cpu[ci].stuck)
        return;
    for (unsigned k = 0; k < F.kick_writes; k++) {
        guest_write(ci, pick_page(80));
        F.window_writes++;
    }
    cpu_exit(ci);
    cpu_enter(ci);
    for (unsigned k = 0; k < F.kick_after; k++)
        guest_write(ci, F.after_page >= 0 ? (uint64_t)F.after_page : pick_page(80));
}

static void guest_run(unsigned writes)
{
    for (unsigned k = 0; k < writes; k++)
        guest_write(rnd() % NV, pick_page(50));
}

/* Right after a harvest: a few writes to hot pages, which the TLBs may still hold as
 * writable (and dirty) from before. They must fault or set D again like any other. */
static void guest_burst(void)
{
    for (unsigned ci = 0; ci < NV; ci++)
        for (unsigned k = 0; k < 12; k++)
            guest_write(ci, F.hot[rnd() % HOT]);
}

/* ---- setup ----------------------------------------------------------------------------- */

/*
 * Guest RAM [0, 1 GiB + 4 MiB): a 1 GiB leaf, a 2 MiB leaf, then 2 MiB whose host address is
 * not 2 MiB-aligned (4 KiB leaves). Host addresses are never dereferenced.
 */
static const struct vm_mem_chunk chunks[] = {
    { 0, 0x40000000ull, GiB, 0 },
    { GiB, 0x80000000ull, 2 * MiB, 0 },
    { GiB + 2 * MiB, 0x90001000ull, 2 * MiB, 0 },
};

static uint64_t expected_hpa(uint64_t gpa)
{
    for (unsigned i = 0; i < 3; i++)
        if (gpa >= chunks[i].gpa && gpa < chunks[i].gpa + chunks[i].size)
            return chunks[i].hpa + gpa - chunks[i].gpa;
    return ~0ull;
}

static void setup_vm(bool ept, uint64_t mem_size, const struct vm_mem_chunk *c, unsigned n)
{
    memset(&F, 0, sizeof(F));
    F.ept = ept;
    F.hw_modes = ept ? DIRTY_MODE_BIT(DIRTY_AD) | DIRTY_MODE_BIT(DIRTY_PML)
                     : DIRTY_MODE_BIT(DIRTY_AD);
    F.rng = 0x9e3779b97f4a7c15ull;
    F.vm = &vms[0];
    memset(F.vm, 0, sizeof(*F.vm));
    strcpy(F.vm->name, "t");
    F.vm->mem_size = mem_size;
    vm_layout(mem_size, &F.vm->low_end, &F.vm->gfn_end);
    F.vm->nchunks = n;
    memcpy(F.vm->chunks, c, n * sizeof(*c));
    F.vm->nvcpus = NV;
    for (unsigned i = 0; i < NV; i++)
        F.vm->vcpus[i] = (struct vcpu){ .vm = F.vm, .index = i, .pcpu = i + 1, .created = true };
    uint64_t root = 0;
    int rc;
    if (ept) {
        struct ept_chunk ec[VM_MAX_CHUNKS];
        for (unsigned i = 0; i < n; i++)
            ec[i] = (struct ept_chunk){ c[i].gpa, c[i].hpa, c[i].size };
        rc = ept_map_chunks(&root, ec, n, true, table_alloc, table_p2v, NULL);
        F.t = (struct slpt){ root, EPT_RWX, EPT_DIRTY, 0 };
    } else {
        struct npt_chunk nc[VM_MAX_CHUNKS];
        for (unsigned i = 0; i < n; i++)
            nc[i] = (struct npt_chunk){ c[i].gpa, c[i].hpa, c[i].size };
        rc = npt_map_chunks(&root, nc, n, true, table_alloc, table_p2v, NULL);
        F.t = (struct slpt){ root, NPT_P, NPT_D, 0 };
    }
    assert_true(rc > 0);
    F.pages = mem_size / PG;
    F.ram = calloc(F.pages, sizeof(*F.ram));
    F.host = calloc(F.pages, sizeof(*F.host));
    F.pending = calloc(F.pages, sizeof(*F.pending));
    for (unsigned i = 0; i < NV; i++)
        F.tlb[i] = calloc(F.pages, sizeof(*F.tlb[i]));
    for (unsigned i = 0; i < HOT; i++)   /* a third in each kind of leaf */
        F.hot[i] = i % 3 == 0 ? rnd() % (GiB / PG) : i % 3 == 1
                 ? (GiB + rnd() % (2 * MiB)) / PG : (GiB + 2 * MiB + rnd() % (2 * MiB)) / PG;
    for (unsigned i = 0; i < NV; i++)
        cpu_enter(i);
}

static int setup_ept(void **state)
{
    (void)state;
    setup_vm(true, GiB + 4 * MiB, chunks, 3);
    return 0;
}

static int setup_npt(void **state)
{
    (void)state;
    setup_vm(false, GiB + 4 * MiB, chunks, 3);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(F.ram);
    free(F.host);
    free(F.pending);
    for (unsigned i = 0; i < NV; i++)
        free(F.tlb[i]);
    frames_release_all();
    return 0;
}

/* ---- the oracle ------------------------------------------------------------------------ */

/* After start: every page of RAM has a 4 KiB leaf that maps what the chunk said. */
static void check_split(void)
{
    for (uint64_t p = 0; p < F.pages; p++) {
        uint64_t *leaf = slpt_leaf(&F.t, p * PG);
        if (!leaf || (*leaf & SLPT_ADDR) != expected_hpa(p * PG))
            fail_msg("page 0x%llx: leaf %p maps 0x%llx, not 0x%llx", (unsigned long long)p,
                     (void *)leaf, leaf ? (unsigned long long)(*leaf & SLPT_ADDR) : 0ull,
                     (unsigned long long)expected_hpa(p * PG));
    }
}

static uint64_t harvest_and_check(void)
{
    uint64_t words = F.pages / 64, counted = 0;
    uint64_t *out = calloc(words, sizeof(*out));
    uint64_t n = vm_dirty_harvest(F.vm, out);
    for (uint64_t p = 0; p < F.pages; p++) {
        bool dirty = out[p / 64] >> (p % 64) & 1;
        uint32_t v = F.ram[p];
        counted += dirty;
        if (F.pending[p] && !dirty)
            fail_msg("page 0x%llx written after the last cut (value %u) not reported now",
                     (unsigned long long)p, v);
        if (dirty && !F.extra_ok && v != F.value && v != F.value - 1)
            fail_msg("page 0x%llx reported dirty holds %u, round %u", (unsigned long long)p,
                     v, F.value);
        assert_true(v <= F.value);
        if (dirty)
            F.host[p] = v;
        F.pending[p] = F.host[p] != v;
        if (F.pending[p]) {
            assert_int_equal(v, F.value);      /* only this harvest's window is after the cut */
            F.pending_seen++;
        }
    }
    assert_int_equal(n, counted);
    free(out);
    return n;
}

/* One logging session: start, rounds of guest writes and harvests, a quiet final harvest. */
static void session(enum dirty_mode want, enum dirty_mode expect, unsigned rounds)
{
    F.kick_writes = 24;
    F.kick_after = 8;
    F.after_page = -1;
    F.value++;
    guest_run(2000);                    /* not logged: the start leaves it behind */
    F.value++;                          /* what the guest writes while logging starts */
    assert_int_equal(vm_dirty_start(F.vm, want), 0);
    assert_int_equal(F.vm->dirty_mode, expect);
    assert_true(F.vm->dirty_on);
    check_split();
    memcpy(F.host, F.ram, F.pages * sizeof(*F.host));    /* round 0 copies everything */
    memset(F.pending, 0, F.pages);
    for (unsigned r = 0; r < rounds; r++) {
        F.value++;
        guest_burst();
        guest_run(3000);
        uint64_t n = harvest_and_check();
        assert_true(n > 0 && n < F.pages / 4);            /* logging, not "everything" */
    }
    F.value++;
    guest_burst();                      /* a last round of nothing but that */
    harvest_and_check();
    F.kick_writes = F.kick_after = 0;   /* the guest is paused */
    F.value++;
    harvest_and_check();
    assert_memory_equal(F.host, F.ram, F.pages * sizeof(*F.host));
    vm_dirty_stop(F.vm);
    assert_false(F.vm->dirty_on);
    assert_null(F.vm->dirty_bitmap);
    assert_int_equal(live[K_BITMAP], 0);
    assert_int_equal(F.vm->dirty_mode, expect);          /* kept for `vm stats` */
    guest_run(500);                     /* runs on unlogged; the next start sees old D flags */
}

static void check_exercised(enum dirty_mode m)
{
    assert_true(F.window_writes > 0);
    assert_true(F.pending_seen > 0);    /* writes after a cut happened and were caught next */
    if (m == DIRTY_WP)
        assert_true(F.faults > 0);
    if (m == DIRTY_PML)
        assert_true(F.pml_full > 0);
}

static void test_ept_wp(void **state)
{
    (void)state;
    session(DIRTY_WP, DIRTY_WP, 6);
    check_exercised(DIRTY_WP);
    session(DIRTY_AD, DIRTY_AD, 3);
}

static void test_ept_ad(void **state)
{
    (void)state;
    session(DIRTY_AD, DIRTY_AD, 6);
    check_exercised(DIRTY_AD);
    assert_int_equal(F.faults, 0);
    session(DIRTY_WP, DIRTY_WP, 3);
    session(DIRTY_AD, DIRTY_AD, 3);     /* D flags left from the first session are no news */
}

static void test_ept_pml(void **state)
{
    (void)state;
    session(DIRTY_AUTO, DIRTY_PML, 6);
    check_exercised(DIRTY_PML);
    assert_int_equal(F.faults, 0);
    session(DIRTY_AD, DIRTY_AD, 3);
    session(DIRTY_PML, DIRTY_PML, 3);   /* D left set would hide writes from the log */
    session(DIRTY_WP, DIRTY_WP, 2);
}

static void test_npt_wp(void **state)
{
    (void)state;
    session(DIRTY_WP, DIRTY_WP, 6);
    check_exercised(DIRTY_WP);
    session(DIRTY_AD, DIRTY_AD, 3);
}

static void test_npt_ad(void **state)
{
    (void)state;
    session(DIRTY_AUTO, DIRTY_AD, 6);   /* NPT's D flag is set on every write, logging or not */
    check_exercised(DIRTY_AD);
    assert_int_equal(F.faults, 0);
    session(DIRTY_WP, DIRTY_WP, 3);
    session(DIRTY_AD, DIRTY_AD, 3);
}

/*
 * The two ways a cached translation can hide a write, step by step: a page written before a
 * harvest and again after it through the same vCPU's TLB (the harvest must flush after it
 * re-arms the page), and a vCPU that resumes in the middle of a harvest and writes a page
 * before it is re-armed (the flush must come after the re-arming, not before).
 */
static void cached_translations(enum dirty_mode mode)
{
    uint64_t p = F.hot[0], q = F.hot[1];
    F.kick_writes = F.kick_after = 0;
    F.after_page = -1;
    assert_int_equal(vm_dirty_start(F.vm, mode), 0);
    memcpy(F.host, F.ram, F.pages * sizeof(*F.host));
    memset(F.pending, 0, F.pages);
    F.value++;
    guest_write(0, p);
    guest_write(0, p);
    assert_int_equal(harvest_and_check(), 1);
    F.value++;
    guest_write(0, p);
    assert_int_equal(harvest_and_check(), 1);
    F.value++;
    guest_write(0, q);
    F.kick_after = 1;                   /* vCPU 0 writes q as soon as it has flushed */
    F.after_page = (int64_t)q;
    assert_int_equal(harvest_and_check(), 1);
    F.kick_after = 0;
    F.value++;
    guest_write(0, q);
    assert_int_equal(harvest_and_check(), 1);
    F.value++;
    assert_int_equal(harvest_and_check(), 0);
    assert_memory_equal(F.host, F.ram, F.pages * sizeof(*F.host));
    vm_dirty_stop(F.vm);
}

static void test_cached_translations_ept(void **state)
{
    (void)state;
    cached_translations(DIRTY_WP);
    cached_translations(DIRTY_AD);
    cached_translations(DIRTY_PML);
}

static void test_cached_translations_npt(void **state)
{
    (void)state;
    cached_translations(DIRTY_WP);
    cached_translations(DIRTY_AD);
}

/* ---- modes, errors, flush timeouts, hypervisor writes, the PML index ------------------- */

static void test_mode_choice(void **state)
{
    (void)state;
    static const struct { unsigned hw; enum dirty_mode want; int rc; enum dirty_mode got; } t[] = {
        { DIRTY_MODE_BIT(DIRTY_AD) | DIRTY_MODE_BIT(DIRTY_PML), DIRTY_AUTO, 0, DIRTY_PML },
        { DIRTY_MODE_BIT(DIRTY_AD), DIRTY_AUTO, 0, DIRTY_AD },
        { 0, DIRTY_AUTO, 0, DIRTY_WP },
        { 0, DIRTY_WP, 0, DIRTY_WP },
        { 0, DIRTY_AD, -ENOTSUP, DIRTY_AUTO },
        { DIRTY_MODE_BIT(DIRTY_AD), DIRTY_PML, -ENOTSUP, DIRTY_AUTO },
        { DIRTY_MODE_BIT(DIRTY_AD), DIRTY_MODE_COUNT, -ENOTSUP, DIRTY_AUTO },
    };
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        F.hw_modes = t[i].hw;
        F.vm->dirty_mode = DIRTY_AUTO;
        assert_int_equal(vm_dirty_start(F.vm, t[i].want), t[i].rc);
        assert_int_equal(F.vm->dirty_mode, t[i].got);
        assert_int_equal(F.vm->dirty_on, t[i].rc == 0);
        if (t[i].rc == 0) {
            assert_int_equal(vm_dirty_start(F.vm, DIRTY_WP), -EBUSY);
            vm_dirty_stop(F.vm);
        }
        assert_null(F.vm->dirty_bitmap);
        assert_int_equal(live[K_BITMAP], 0);
    }
    vm_dirty_stop(F.vm);                /* not logging: nothing to do */
    for (unsigned m = 0; m < DIRTY_MODE_COUNT; m++) {
        enum dirty_mode back;
        assert_int_equal(dirty_mode_parse(dirty_mode_name(m), &back), 0);
        assert_int_equal(back, m);
    }
    enum dirty_mode x = DIRTY_WP;
    assert_int_equal(dirty_mode_parse("PML", &x), -EINVAL);
    assert_int_equal(dirty_mode_parse("", &x), -EINVAL);
    assert_int_equal(x, DIRTY_WP);
    assert_string_equal(dirty_mode_name(DIRTY_MODE_COUNT), "?");
    /* WP is offered whatever the backend says. */
    F.hw_modes = 0;
    assert_int_equal(vm_dirty_modes(), DIRTY_MODE_BIT(DIRTY_WP));
}

/*
 * A vCPU that does not answer the flush in time may still write through translations
 * cached before the pages were re-armed: that harvest and the next one whose flush
 * completes report every page, and nothing is lost.
 */
static void flush_timeout(enum dirty_mode mode)
{
    F.kick_writes = 8;
    F.value++;
    assert_int_equal(vm_dirty_start(F.vm, mode), 0);
    memcpy(F.host, F.ram, F.pages * sizeof(*F.host));
    memset(F.pending, 0, F.pages);
    F.value++;
    guest_run(3000);
    harvest_and_check();
    F.value++;
    for (unsigned k = 0; k < 400; k++)  /* vCPU 1 caches translations of hot pages */
        guest_write(1, F.hot[k % HOT]);
    F.cpu[1].stuck = true;
    F.extra_ok = true;
    unit_log_reset();
    assert_int_equal(harvest_and_check(), F.pages);
    assert_int_equal(unit_log_count[LOG_ERR], 1);
    assert_true(F.vm->dirty_resync);
    F.value++;
    for (unsigned k = 0; k < 400; k++)  /* ... and writes through them, unlogged */
        guest_write(1, F.hot[k % HOT]);
    F.cpu[1].stuck = false;
    assert_int_equal(harvest_and_check(), F.pages);
    assert_false(F.vm->dirty_resync);
    F.extra_ok = false;
    F.value++;
    guest_run(3000);
    assert_true(harvest_and_check() < F.pages / 4);
    F.kick_writes = 0;
    F.value++;
    harvest_and_check();
    assert_memory_equal(F.host, F.ram, F.pages * sizeof(*F.host));
    vm_dirty_stop(F.vm);
}

static void test_flush_timeout_ept(void **state)
{
    (void)state;
    flush_timeout(DIRTY_WP);
    flush_timeout(DIRTY_AD);
    flush_timeout(DIRTY_PML);
}

static void test_flush_timeout_npt(void **state)
{
    (void)state;
    flush_timeout(DIRTY_WP);
    flush_timeout(DIRTY_AD);
}

/* A stop whose flush times out must not free a bitmap a vCPU may still write to. */
static void test_stop_timeout_keeps_bitmap(void **state)
{
    (void)state;
    assert_int_equal(vm_dirty_start(F.vm, DIRTY_PML), 0);
    F.cpu[0].stuck = true;
    unit_log_reset();
    vm_dirty_stop(F.vm);
    assert_int_equal(unit_log_count[LOG_ERR], 1);
    assert_null(F.vm->dirty_bitmap);
    assert_false(F.vm->dirty_on);
    assert_int_equal(live[K_BITMAP], 1);    /* not reused; frames_release_all takes it */
}

/* Emulated string input writes guest RAM through the direct map: logged all the same. */
static void test_hypervisor_writes_logged(void **state)
{
    (void)state;
    uint64_t ram_pa = alloc_kind(64, K_TABLE);
    const struct vm_mem_chunk c = { 0, ram_pa, 64 * PG, 0 };
    setup_vm(true, 64 * PG, &c, 1);
    struct vcpu_state s = { 0 };        /* CR0.PG = 0: linear = guest-physical */
    uint32_t word = 0x12345678;
    uint64_t out[1];
    assert_int_equal(gpt_write(F.vm, &s, 5 * PG + 12, &word, 4), 0);   /* not logging: fine */
    for (enum dirty_mode m = DIRTY_WP; m < DIRTY_MODE_COUNT; m++) {
        assert_int_equal(vm_dirty_start(F.vm, m), 0);
        assert_int_equal(gpt_write(F.vm, &s, 3 * PG + 4094, &word, 4), 0);  /* two pages */
        assert_int_equal(vm_dirty_harvest(F.vm, out), 2);
        assert_int_equal(out[0], 3ull << 3);
        assert_int_equal(vm_dirty_harvest(F.vm, out), 0);
        vm_dirty_stop(F.vm);
    }
    assert_memory_equal((uint8_t *)phys_to_virt(ram_pa) + 3 * PG + 4094, &word, 4);
}

static void collect(void *ctx, uint64_t gpa)
{
    uint64_t *log = ctx;
    log[++log[0]] = gpa;
}

static void test_pml_drain_indices(void **state)
{
    (void)state;
    static uint64_t pml[VMX_PML_ENTRIES], got[VMX_PML_ENTRIES + 1];
    for (unsigned i = 0; i < VMX_PML_ENTRIES; i++)
        pml[i] = (uint64_t)i << 12 | 0xabc;          /* low bits are not part of the GPA */
    static const struct { uint16_t index; unsigned n; } t[] = {
        { 511, 0 }, { 510, 1 }, { 509, 2 }, { 0, 511 }, { 0xffff, 512 }, { 512, 512 },
    };
    for (unsigned k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
        got[0] = 0;
        assert_int_equal(vmx_pml_drain(pml, t[k].index, collect, got), t[k].n);
        assert_int_equal(got[0], t[k].n);
        for (unsigned i = 0; i < t[k].n; i++)
            assert_int_equal(got[1 + i], (uint64_t)(VMX_PML_ENTRIES - t[k].n + i) << 12);
    }
}

/* The walker on its own: a dirty large leaf counts all its pages; W cleared and set again. */
static void test_slpt_walkers(void **state)
{
    (void)state;
    uint64_t *pdpt = phys_to_virt(*(uint64_t *)phys_to_virt(F.t.root) & SLPT_ADDR);
    assert_true(pdpt[0] & SLPT_LARGE);      /* the 1 GiB leaf */
    __atomic_or_fetch(&pdpt[0], F.t.dirty, __ATOMIC_SEQ_CST);
    uint64_t bits[2] = { 0, 0 };
    assert_int_equal(slpt_harvest_dirty(&F.t, GiB - 64 * PG, 128 * PG, bits), 64);
    assert_int_equal(bits[0], ~0ull);       /* the 1 GiB leaf's last 64 pages */
    assert_int_equal(bits[1], 0);           /* the 2 MiB leaf after it is clean */
    assert_false(pdpt[0] & F.t.dirty);
    assert_true(pdpt[0] & SLPT_LARGE);      /* harvesting never splits */

    assert_int_equal(slpt_protect_range(&F.t, GiB - 8 * PG, 16 * PG, true), 0);
    for (uint64_t p = 0; p < F.pages; p++) {
        uint64_t *leaf = slpt_leaf(&F.t, p * PG);
        bool in = p >= (GiB - 8 * PG) / PG && p < (GiB + 8 * PG) / PG;
        if (in)
            assert_true(leaf && !(*leaf & SLPT_W));
        else if (leaf)
            assert_true(*leaf & SLPT_W);
    }
    assert_null(slpt_leaf(&F.t, 0));                        /* that 2 MiB stayed whole */
    assert_non_null(slpt_leaf(&F.t, GiB + 2 * MiB - PG));   /* the 2 MiB leaf was split */
    assert_int_equal(slpt_protect_range(&F.t, 0, F.pages * PG, false), 0);
    assert_true(*slpt_leaf(&F.t, GiB) & SLPT_W);
    assert_int_equal(slpt_clean_range(&F.t, 0, F.pages * PG), 0);
    check_split();                          /* now everything is 4 KiB, mapped as before */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ept_wp, setup_ept, teardown),
        cmocka_unit_test_setup_teardown(test_ept_ad, setup_ept, teardown),
        cmocka_unit_test_setup_teardown(test_ept_pml, setup_ept, teardown),
        cmocka_unit_test_setup_teardown(test_npt_wp, setup_npt, teardown),
        cmocka_unit_test_setup_teardown(test_npt_ad, setup_npt, teardown),
        cmocka_unit_test_setup_teardown(test_cached_translations_ept, setup_ept, teardown),
        cmocka_unit_test_setup_teardown(test_cached_translations_npt, setup_npt, teardown),
        cmocka_unit_test_setup_teardown(test_mode_choice, setup_ept, teardown),
        cmocka_unit_test_setup_teardown(test_flush_timeout_ept, setup_ept, teardown),
        cmocka_unit_test_setup_teardown(test_flush_timeout_npt, setup_npt, teardown),
        cmocka_unit_test_setup_teardown(test_stop_timeout_keeps_bitmap, setup_ept, teardown),
        cmocka_unit_test_setup_teardown(test_hypervisor_writes_logged, NULL, teardown),
        cmocka_unit_test(test_pml_drain_indices),
        cmocka_unit_test_setup_teardown(test_slpt_walkers, setup_npt, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
