/*
 * memtest: ferry's self-checking test guest. Entered in long mode per
 * docs/guest-boot.md with RDI = this vCPU's boot-info page; every vCPU runs
 * memtest_main. vCPU 0 prints the banner and CPUID lines, then each vCPU
 * fills its slice of guest RAM and dirties/verifies pages forever,
 * printing heartbeats on the 16550. This file holds the hardware parts
 * (port I/O, CPUID, RDTSC, the line lock, halting); memtest_core.c the rest.
 */
#include <stddef.h>
#include <stdint.h>

#include "hv/vm/guest_boot.h"
#include "memtest_core.h"

extern char _end[];                       /* memtest.ld: end of the image, 4 KiB aligned */

/* Shared by all vCPUs (they run the same image); in .data via memtest.ld. */
static volatile uint32_t line_lock;
static volatile uint32_t banner_done;
static uint16_t uart;

/* gcc may emit calls to these even when freestanding. */
void *memset(void *d, int c, size_t n)
{
    unsigned char *p = d;

    while (n--)
        *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;

    while (n--)
        *p++ = *q++;
    return d;
}

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;

    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline void cpu_pause(void) { __asm__ volatile("pause" ::: "memory"); }

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                     : "a"(leaf), "c"(sub));
}

static __attribute__((noreturn)) void halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* An IDT with limit 0 makes int3 a #GP, then #DF, then a triple fault (shutdown). */
static __attribute__((noreturn)) void triple_fault(void)
{
    struct __attribute__((packed)) { uint16_t limit; uint64_t base; } idtr = { 0, 0 };

    __asm__ volatile("lidt %0; int3" : : "m"(idtr) : "memory");
    halt_forever();
}

static void uart_putc(char c)
{
    while (!(inb(uart + 5) & 0x20))       /* LSR.THRE */
        cpu_pause();
    outb(uart, (uint8_t)c);
}

/* Whole lines under one lock, so vCPUs never interleave within a line. */
static void print_line(const struct mt_line *l)
{
    while (__atomic_exchange_n(&line_lock, 1, __ATOMIC_ACQUIRE))
        while (line_lock)
            cpu_pause();
    for (unsigned i = 0; i < l->len; i++)
        uart_putc(l->buf[i]);
    __atomic_store_n(&line_lock, 0, __ATOMIC_RELEASE);
}

static void print_str(const char *s)
{
    struct mt_line l;

    mt_line_reset(&l);
    mt_put_str(&l, s);
    mt_line_end(&l);
    print_line(&l);
}

static void print_cpuid(uint32_t leaf, uint32_t sub)
{
    static const char *const reg[4] = { " eax=", " ebx=", " ecx=", " edx=" };
    struct mt_line l;
    uint32_t r[4];

    cpuid(leaf, sub, r);
    mt_line_reset(&l);
    mt_put_str(&l, "CPUID leaf=0x");
    mt_put_hex(&l, leaf, 1);
    for (unsigned i = 0; i < 4; i++) {
        mt_put_str(&l, reg[i]);
        mt_put_hex(&l, r[i], 8);
    }
    mt_line_end(&l);
    print_line(&l);
}

/*
 * Sets CR4.OSXSAVE and loads `x` into XCR0, then prints what XCR0 is and what CPUID 0xD
 * says now. If the hypervisor refuses (#UD or #GP), there is no IDT: the VM shuts down.
 */
static void load_xcr0(uint64_t x)
{
    struct mt_line l;
    uint64_t cr4;
    uint32_t lo, hi;

    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    __asm__ volatile("mov %0, %%cr4" : : "r"(cr4 | 1ull << 18));
    __asm__ volatile("xsetbv" : : "c"(0), "a"((uint32_t)x), "d"((uint32_t)(x >> 32)));
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    mt_line_reset(&l);
    mt_put_str(&l, "XCR0 now=0x");
    mt_put_hex(&l, (uint64_t)hi << 32 | lo, 1);
    mt_line_end(&l);
    print_line(&l);
    print_cpuid(0xd, 0);
}

/* CR8 is the local APIC's TPR bits 7:4 (SDM 10.8.6.1) both ways: a CR8 write shows in the
 * TPR register, a TPR write in CR8. The APIC page is not in this guest's page tables, so the
 * APIC goes to x2APIC mode (IA32_APIC_BASE.EXTD) and the TPR is MSR 0x808. Prints what it
 * read. */
static uint64_t rdmsr64(uint32_t m)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(m));
    return (uint64_t)hi << 32 | lo;
}

static void wrmsr64(uint32_t m, uint64_t v)
{
    __asm__ volatile("wrmsr" : : "c"(m), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static void tpr_check(void)
{
    uint64_t cr8;
    struct mt_line l;
    wrmsr64(0x1b, rdmsr64(0x1b) | (1u << 10));
    __asm__ volatile("mov %0, %%cr8" : : "r"(2ull) : "memory");
    uint64_t m1 = rdmsr64(0x808);
    wrmsr64(0x808, 0x30);
    __asm__ volatile("mov %%cr8, %0" : "=r"(cr8) : : "memory");
    __asm__ volatile("mov %0, %%cr8" : : "r"(0ull) : "memory");
    uint64_t m2 = rdmsr64(0x808);
    mt_line_reset(&l);
    mt_put_str(&l, "TPR cr8=2 tpr=0x");
    mt_put_hex(&l, m1, 1);
    mt_put_str(&l, " tpr=0x30 cr8=");
    mt_put_dec(&l, cr8);
    mt_put_str(&l, " cr8=0 tpr=0x");
    mt_put_hex(&l, m2, 1);
    mt_line_end(&l);
    print_line(&l);
}

/* One hypercall with nr in RAX, by the CPU's own instruction; prints what RAX came back as. */
static void hypercall(uint64_t nr)
{
    struct mt_line l;
    uint32_t r[4];
    uint64_t rax = nr;

    cpuid(0, 0, r);
    if (r[1] == 0x68747541 || r[1] == 0x6f677948)      /* "Auth"enticAMD, "Hygo"nGenuine */
        __asm__ volatile("vmmcall" : "+a"(rax) : : "memory");
    else
        __asm__ volatile("vmcall" : "+a"(rax) : : "memory");
    mt_line_reset(&l);
    mt_put_str(&l, "HYPERCALL nr=");
    mt_put_dec(&l, nr);
    mt_put_str(&l, " rax=0x");
    mt_put_hex(&l, rax, 1);
    mt_line_end(&l);
    print_line(&l);
}

/* Linux's way to calibrate the TSC: PIT channel 2 in mode 0 from 0xffff, gate on through port
 * 0x61; here it measures 6M TSC cycles (under 55 ms, the counter's range, from 110 MHz up) and
 * prints both, for the host to compare. The counter starts and is latched at two exits, which
 * the TSC brackets (read before and after each); the TSC figure is the distance between the
 * brackets' midpoints. Under an emulator the host may deschedule the vCPU inside a bracket, so
 * the measurement is taken five times and the one with the narrowest brackets is printed
 * (with OUT2 after it). */
static void pit_once(uint32_t *ticks, uint64_t *tsc, uint64_t *width)
{
    outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01));
    outb(0x43, 0xb0);
    outb(0x42, 0xff);
    uint64_t s0 = rdtsc();
    outb(0x42, 0xff);                        /* the count starts at this write */
    uint64_t s1 = rdtsc();
    while (rdtsc() - s1 < 6000000)
        cpu_pause();
    uint64_t e0 = rdtsc();
    outb(0x43, 0x80);                        /* latch channel 2 */
    uint64_t e1 = rdtsc();
    uint8_t lo = inb(0x42), hi = inb(0x42);
    *ticks = 0xffffu - (lo | (uint32_t)hi << 8);
    *tsc = (e0 + e1) / 2 - (s0 + s1) / 2;
    *width = (s1 - s0) + (e1 - e0);
}

static void pit_measure(void)
{
    struct mt_line l;
    uint32_t ticks = 0;
    uint64_t tsc = 0, width = ~0ull;
    for (int i = 0; i < 5; i++) {
        uint32_t t;
        uint64_t c, w;
        pit_once(&t, &c, &w);
        if (w < width) {
            ticks = t;
            tsc = c;
            width = w;
        }
    }
    mt_line_reset(&l);
    mt_put_str(&l, "PIT ticks=");
    mt_put_dec(&l, ticks);
    mt_put_str(&l, " tsc=");
    mt_put_dec(&l, tsc);
    mt_put_str(&l, " out2=");
    mt_put_dec(&l, (inb(0x61) >> 5) & 1);
    mt_line_end(&l);
    print_line(&l);
}

static void print_banner(const struct guest_boot_info *bi, const struct mt_config *cfg)
{
    struct mt_line l;

    mt_line_reset(&l);
    mt_put_str(&l, "MEMTEST start vcpus=");
    mt_put_dec(&l, bi->vcpu_count);
    mt_put_str(&l, " mem=");
    mt_put_dec(&l, bi->mem_size);
    mt_put_str(&l, " cmdline=");
    mt_put_str(&l, bi->cmdline);
    mt_line_end(&l);
    print_line(&l);
    if (cfg->bad_words) {
        mt_line_reset(&l);
        mt_put_str(&l, "MEMTEST ignored cmdline words=");
        mt_put_dec(&l, cfg->bad_words);
        mt_put_str(&l, " first=");
        mt_put_strn(&l, cfg->bad, cfg->bad_len);
        mt_line_end(&l);
        print_line(&l);
    }
    print_cpuid(0, 0);
    print_cpuid(1, 0);
    print_cpuid(7, 0);
    print_cpuid(0xd, 0);
    print_cpuid(0x80000001, 0);
    print_cpuid(0x80000008, 0);         /* address sizes */
}

static void print_ready(const struct mt_vcpu *v)
{
    struct mt_line l;

    mt_line_reset(&l);
    mt_put_str(&l, "MEMTEST vcpu=");
    mt_put_dec(&l, v->index);
    mt_put_str(&l, " slice=0x");
    mt_put_hex(&l, v->slice.base, 1);
    mt_put_str(&l, " pages=");
    mt_put_dec(&l, v->slice.pages);
    mt_put_str(&l, " test_pages=");
    mt_put_dec(&l, v->slice.test_pages);
    mt_put_str(&l, " ready");
    mt_line_end(&l);
    print_line(&l);
}

void memtest_main(const struct guest_boot_info *bi)
{
    static struct mt_vcpu vcpus[GUEST_MAX_VCPUS];
    struct mt_config cfg;
    struct mt_slice slice;
    struct mt_line l;

    uart = GUEST_UART_PORT;                  /* until the boot info is known good */
    if (__builtin_memcmp(bi->magic, "FERRYGST", 8) || bi->version != GUEST_BOOT_INFO_VERSION ||
        bi->vcpu_index >= GUEST_MAX_VCPUS) {
        print_str("MEMTEST bad boot info");
        halt_forever();
    }
    uart = bi->uart_port;
    mt_parse_cmdline(bi->cmdline, &cfg);
    if (bi->vcpu_index == 0) {
        print_banner(bi, &cfg);
        if (cfg.mode == MT_MODE_TRIPLE) {
            print_str("TRIPLE now");
            triple_fault();
        }
        if (cfg.xcr0)
            load_xcr0(cfg.xcr0);
        if (cfg.tpr)
            tpr_check();
        if (cfg.hypercall)
            hypercall(cfg.hypercall_nr);
        if (cfg.pit)
            pit_measure();
        if (cfg.exit) {
            print_str("EXIT now");
            __asm__ volatile("outl %0, %w1" : : "a"((uint32_t)cfg.exit_code), "Nd"(0xf4));
            halt_forever();                  /* not reached: the VM is stopped */
        }
        __atomic_store_n(&banner_done, 1, __ATOMIC_RELEASE);
    } else {
        if (cfg.mode == MT_MODE_TRIPLE)
            halt_forever();                  /* vCPU 0 takes the whole VM down */
        while (!__atomic_load_n(&banner_done, __ATOMIC_ACQUIRE))
            cpu_pause();
    }

    struct mt_vcpu *v = &vcpus[bi->vcpu_index];

    mt_slice_init(&slice, (uint64_t)(uintptr_t)_end, bi->mem_size, bi->vcpu_index,
                  bi->vcpu_count);
    mt_vcpu_init(v, &cfg, &slice, bi->vcpu_index, 0, rdtsc);
    print_ready(v);
    for (;;) {
        int rc = mt_step(v, &l);

        if (rc != MT_STEP_QUIET)
            print_line(&l);
        if (rc == MT_STEP_BAD)
            halt_forever();
        for (uint64_t i = 0; i < cfg.delay; i++)
            cpu_pause();
    }
}
