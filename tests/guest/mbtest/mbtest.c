/*
 * The Multiboot test kernel (tests/system/test_multiboot.py boots it on both backends): it
 * checks what a Multiboot loader promised (EAX magic, the information structure: memory
 * sizes, the memory map, the command line, each module's place, string and contents), finds
 * ferry's ACPI tables (RSDP by scanning the BIOS area, RSDT, MADT: its CPUs, the I/O APIC, the
 * IRQ 0 override), takes PIT interrupts through the I/O APIC and local APIC timer interrupts,
 * starts every other CPU by INIT/SIPI, and reports on COM1 and through the debug-exit port:
 * "MBTEST ok ..." and code 0x55, or "MBTEST fail: why" and code 0x80 + n. It also reads the
 * TSC's rate from the hypervisor's timing leaf and checks it against the ACPI PM timer. On the way it
 * misbehaves as a buggy guest would and checks the architectural answer: an I/O APIC route to
 * an APIC that does not exist (the interrupt goes nowhere), an ICR write with reserved bits set
 * (ignored: the IPI still goes), a SIPI to a CPU that does not exist (nothing happens), a
 * vector raised again and again without an EOI (one delivery until the EOI, then the one
 * pending), a timer divide register of 0 (divide by 2). NMIs: a self NMI with interrupts off,
 * and one sent from inside the NMI handler, which must wait for the handler's IRET.
 * x2APIC (SDM 11.12): CPUID offers it and the TSC-deadline timer; IA32_APIC_BASE's EXTD
 * switches every CPU to it, after which its registers are MSRs (the xAPIC page reads all
 * ones), the ID is 32 bits and the LDR derived, illegal transitions and reserved bits are
 * #GP; a SELF IPI, IPIs to each AP by 32-bit destination and a TSC-deadline timer interrupt
 * (not before the deadline, the MSR reading 0 after) arrive.
 *
 * DR7 must be the guest's own across exits (VT-x: the load/save debug controls).
 *
 * Command line (after the kernel's name): mem=MiB cpus=N mods=M, what the VM was given.
 * A module's contents must be "module NAME\n" with NAME its string in the module list.
 *
 * With the word "pae" (and mem=MiB, at least 8) it checks nothing of that: it turns on PAE
 * paging and runs there forever, rewriting 64 pages from 4 MiB with each generation's pattern
 * after checking the previous one, and prints "MBTEST pae gen=N ok" about once a second (a
 * 32-bit PAE guest for migration tests: VT-x takes its PDPTEs from the VMCS).
 *
 * With the word "dirty" (mem=, ws=, kibps=) it dirties memory at a set rate instead: see
 * dirty_loop.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PASS        0x55
#define LAPIC       0xfee00000u
#define PM_TMR      0x608
#define PM_HZ       3579545u
#define VEC_PIT     0x30
#define VEC_LAPIC   0x31
#define VEC_IPI     0x32
#define VEC_NOEOI   0x33
#define VEC_SPUR    0xff
#define MSR_APIC_BASE 0x1bu
#define MSR_TSC_DEADLINE 0x6e0u
#define APIC_EN     (1u << 11)
#define APIC_EXTD   (1u << 10)
#define APIC_BSP    (1u << 8)

struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4], mmap_length, mmap_addr, drives_length, drives_addr, config_table;
    uint32_t boot_loader_name;
};

extern char tramp_start[], tramp_end[];
extern void isr_pit(void), isr_lapic(void), isr_ipi(void), isr_noeoi(void), isr_other(void);
extern void isr_spurious(void), isr_nmi(void), isr_gp(void);

static volatile uint32_t pit_ticks, lapic_ticks, ap_count, ap_seen, ipis, noeoi, nmis;
static volatile uint32_t x2_go, ap_x2;
static volatile uint64_t nmi_iret_tsc, nmi_second_tsc;  /* first handler's end, the next NMI */
volatile uint32_t gp_count;                  /* start.S's isr_gp counts here */
static volatile uint64_t lapic_tsc;          /* the TSC at the last local APIC timer interrupt */
static uint8_t my_id;
static uint64_t idt[256];

static inline void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(p)); }
static inline uint8_t inb(uint16_t p)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p));
    return v;
}
static inline void outl(uint16_t p, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(p)); }
static inline uint32_t inl(uint16_t p)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p));
    return v;
}
static inline uint64_t rdmsr(uint32_t m)
{
    uint64_t v;
    __asm__ volatile("rdmsr" : "=A"(v) : "c"(m));
    return v;
}
static inline void wrmsr(uint32_t m, uint64_t v) { __asm__ volatile("wrmsr" :: "c"(m), "A"(v)); }
static inline uint64_t rdtsc(void)
{
    uint64_t v;
    __asm__ volatile("rdtsc" : "=A"(v));
    return v;
}
static bool x2apic_on(void) { return rdmsr(MSR_APIC_BASE) & APIC_EXTD; }
static inline uint32_t rd(uint32_t a) { return *(volatile uint32_t *)a; }
static inline void wr(uint32_t a, uint32_t v) { *(volatile uint32_t *)a = v; }

static void putc_(char c)
{
    while (!(inb(0x3fd) & 0x20))
        ;
    outb(0x3f8, (uint8_t)c);
}

static void puts_(const char *s)
{
    while (*s)
        putc_(*s++);
}

static void putu(uint32_t v)
{
    char b[11];
    int i = 10;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    puts_(b + i);
}

static void puthex(uint32_t v)
{
    puts_("0x");
    for (int s = 28; s >= 0; s -= 4)
        putc_("0123456789abcdef"[(v >> s) & 15]);
}

static __attribute__((noreturn)) void finish(uint32_t code)
{
    outl(0xf4, code);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static __attribute__((noreturn)) void fail(unsigned n, const char *why, uint32_t val)
{
    puts_("MBTEST fail: ");
    puts_(why);
    puts_(" (");
    puthex(val);
    puts_(")\n");
    finish(0x80 + n);
}

static size_t len(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static bool starts(const char *s, const char *p)
{
    while (*p)
        if (*s++ != *p++)
            return false;
    return true;
}

/* The number after "key=" in the command line, or fail. */
static uint32_t arg(const char *cmd, const char *key)
{
    size_t k = len(key);
    for (const char *p = cmd; *p; p++) {
        if ((p == cmd || p[-1] == ' ') && starts(p, key) && p[k] == '=') {
            uint32_t v = 0;
            for (p += k + 1; *p >= '0' && *p <= '9'; p++)
                v = v * 10 + (uint32_t)(*p - '0');
            return v;
        }
    }
    fail(2, "command line lacks an argument", (uint32_t)k);
}

static uint32_t pm_now(void) { return inl(PM_TMR); }

/* Spins until *counter reaches want or `ms` of PM-timer time pass: false on the timeout. */
static bool wait_for(volatile uint32_t *counter, uint32_t want, uint32_t ms)
{
    uint32_t t0 = pm_now(), limit = ms * (PM_HZ / 1000);
    while (*counter < want)
        if (pm_now() - t0 > limit)
            return false;
    return true;
}

static void delay_us(uint32_t us)
{
    uint32_t t0 = pm_now(), n = us * 4;       /* ~3.58 ticks per us: at least that long */
    while (pm_now() - t0 < n)
        ;
}

static void ipi(uint8_t dest, uint32_t lo);

void on_interrupt(uint32_t vector)
{
    if (vector == 2) {
        /* The first NMI sends itself another: NMIs are blocked until this handler's IRET,
         * so it must not arrive in here. */
        if (++nmis == 1) {
            ipi(my_id, 0x4400);
            delay_us(2000);
            if (nmis != 1)
                fail(28, "an NMI arrived inside the NMI handler", nmis);
            nmi_iret_tsc = rdtsc();
        } else if (nmis == 2) {
            nmi_second_tsc = rdtsc();
        }
        return;                              /* no EOI for an NMI */
    }
    if (vector == VEC_PIT)
        pit_ticks++;
    else if (vector == VEC_LAPIC) {
        lapic_tsc = rdtsc();
        lapic_ticks++;
    } else if (vector == VEC_IPI)
        __atomic_fetch_add(&ipis, 1, __ATOMIC_SEQ_CST);     /* from any CPU */
    else if (vector == VEC_NOEOI) {
        noeoi++;
        return;                              /* no EOI: the bug under test */
    } else
        fail(3, "an unexpected interrupt or exception", vector);
    if (x2apic_on())
        wrmsr(0x80b, 0);                     /* EOI, x2APIC */
    else
        wr(LAPIC + 0xb0, 0);                 /* EOI */
}

static void gate(unsigned v, void (*fn)(void))
{
    uint32_t a = (uint32_t)fn;
    idt[v] = (a & 0xffffu) | (uint64_t)0x08 << 16 | (uint64_t)0x8e00 << 32 |
             (uint64_t)(a >> 16) << 48;
}

static uint8_t sum(const uint8_t *p, uint32_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

static void check_info(uint32_t magic, const struct mb_info *mi, const char *cmd)
{
    if (magic != 0x2badb002)
        fail(1, "EAX is not the Multiboot magic", magic);
    const uint32_t need = 1 | 4 | 8 | 64;    /* memory, cmdline, modules, memory map */
    if ((mi->flags & need) != need)
        fail(4, "info flags lack memory, cmdline, modules or map", mi->flags);
    uint32_t mem = arg(cmd, "mem"), mods = arg(cmd, "mods");
    if (mi->mem_lower != 636)
        fail(5, "mem_lower is not 636 KiB", mi->mem_lower);
    if (mi->mem_upper != mem * 1024 - 1024)
        fail(6, "mem_upper is not the VM's memory above 1 MiB", mi->mem_upper);
    /* The map: entries sorted, no overlap, RAM (type 1) up to mem MiB less the legacy hole. */
    uint32_t ram_kib = 0, end = 0, top = 0;
    for (uint32_t a = mi->mmap_addr; a < mi->mmap_addr + mi->mmap_length;) {
        uint32_t size = rd(a), base = rd(a + 4), base_hi = rd(a + 8), l = rd(a + 12);
        uint32_t type = rd(a + 20);
        if (size < 20 || base_hi || rd(a + 16) || base < end)
            fail(7, "a memory map entry is malformed or out of order", a);
        if (type == 1)
            ram_kib += l >> 10;
        end = base + l;
        top = type == 1 ? end : top;
        a += size + 4;
    }
    if (ram_kib != mem * 1024 - (1024 - 636) || top != mem << 20)
        fail(8, "the memory map's RAM is not the VM's", ram_kib);
    if (mi->mods_count != mods)
        fail(9, "module count", mi->mods_count);
    uint32_t prev_end = 0x100000;
    for (uint32_t i = 0; i < mods; i++) {
        uint32_t m = mi->mods_addr + 16 * i, start = rd(m), stop = rd(m + 4);
        const char *name = (const char *)rd(m + 8);
        if (start & 0xfff || start < prev_end || stop <= start || stop > mem << 20)
            fail(10, "a module is misplaced", start);
        /* Its contents: "module NAME\n". */
        const char *c = (const char *)start;
        size_t n = len(name);
        if (stop - start != 8 + n || !starts(c, "module ") || !starts(c + 7, name) ||
            c[7 + n] != '\n')
            fail(11, "a module's contents do not match its string", i);
        prev_end = stop;
    }
    if (!(mi->flags & (1u << 9)) || !starts((const char *)mi->boot_loader_name, "ferry"))
        fail(12, "no boot loader name", mi->flags);
}

struct madt_facts { uint32_t ncpus, ids[8], ioapic, irq0_gsi; };

/* RSDP in 0xE0000-0xFFFFF, RSDT, MADT: the CPUs, the I/O APIC, where IRQ 0 goes. */
static void find_madt(struct madt_facts *f)
{
    const uint8_t *rsdp = 0;
    for (uint32_t a = 0xe0000; a < 0x100000 && !rsdp; a += 16)
        if (starts((const char *)a, "RSD PTR ") && !sum((const uint8_t *)a, 20))
            rsdp = (const uint8_t *)a;
    if (!rsdp)
        fail(13, "no RSDP in the BIOS area", 0);
    const uint8_t *rsdt = (const uint8_t *)rd((uint32_t)rsdp + 16);
    if (!starts((const char *)rsdt, "RSDT") || sum(rsdt, rd((uint32_t)rsdt + 4)))
        fail(14, "bad RSDT", (uint32_t)rsdt);
    const uint8_t *madt = 0;
    for (uint32_t i = 36; i < rd((uint32_t)rsdt + 4); i += 4) {
        const uint8_t *t = (const uint8_t *)rd((uint32_t)rsdt + i);
        if (starts((const char *)t, "APIC"))
            madt = t;
    }
    if (!madt || sum(madt, rd((uint32_t)madt + 4)))
        fail(15, "no MADT, or a bad one", (uint32_t)madt);
    f->ncpus = 0;
    f->ioapic = 0;
    f->irq0_gsi = 0;
    for (const uint8_t *e = madt + 44; e < madt + rd((uint32_t)madt + 4); e += e[1]) {
        if (e[1] < 2)
            fail(16, "a MADT entry of length < 2", e[0]);
        if (e[0] == 0 && (rd((uint32_t)e + 4) & 1) && f->ncpus < 8)
            f->ids[f->ncpus++] = e[3];
        else if (e[0] == 1)
            f->ioapic = rd((uint32_t)e + 4);
        else if (e[0] == 2 && e[3] == 0)
            f->irq0_gsi = rd((uint32_t)e + 4);
    }
    if (!f->ioapic || f->irq0_gsi != 2)
        fail(17, "the MADT lacks the I/O APIC or IRQ 0's override", f->irq0_gsi);
}

static void cpuid(uint32_t leaf, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(0));
}

/* The hypervisor's timing leaf (KVM's block at 0x40000100, leaf +0x10): the TSC's rate must be
 * what the TSC does against the ACPI PM timer over 100 ms (within 2%), the APIC timer's 1 GHz. */
static uint32_t check_timing_leaf(void)
{
    uint32_t r[4];
    cpuid(0x40000100, r);
    if (r[1] != 0x4b4d564b || r[0] < 0x40000110)
        fail(31, "no KVM leaf block with a timing leaf", r[0]);
    cpuid(0x40000110, r);
    uint32_t khz = r[0];
    if (!khz || r[1] != 1000000)
        fail(32, "timing leaf: no TSC rate, or an APIC timer clock not 1 GHz", r[1]);
    uint32_t lo0, hi0, lo1, hi1, t0 = pm_now();
    __asm__ volatile("rdtsc" : "=a"(lo0), "=d"(hi0));
    while (pm_now() - t0 < PM_HZ / 10)
        ;
    __asm__ volatile("rdtsc" : "=a"(lo1), "=d"(hi1));
    uint64_t ticks = ((uint64_t)hi1 << 32 | lo1) - ((uint64_t)hi0 << 32 | lo0);
    if (ticks >> 32)
        fail(34, "a TSC faster than 40 GHz", (uint32_t)(ticks >> 32));
    uint32_t measured = (uint32_t)ticks / 100;     /* ticks per ms over 100 ms: kHz */
    if (measured < khz - khz / 50 || measured > khz + khz / 50)
        fail(33, "the timing leaf's TSC rate is not the TSC's", measured);
    return khz;
}

static void ioapic_route(uint32_t base, unsigned pin, uint32_t lo, uint8_t dest)
{
    wr(base, 0x11 + 2 * pin);
    wr(base + 0x10, (uint32_t)dest << 24);
    wr(base, 0x10 + 2 * pin);
    wr(base + 0x10, lo);
}

static void ipi(uint8_t dest, uint32_t lo)
{
    wr(LAPIC + 0x310, (uint32_t)dest << 24);
    wr(LAPIC + 0x300, lo);
    while (rd(LAPIC + 0x300) & (1u << 12))   /* delivery status */
        ;
}

void ap_main(void)
{
    wr(LAPIC + 0xf0, 0x100 | VEC_SPUR);
    uint32_t id = rd(LAPIC + 0x20) >> 24;
    __atomic_fetch_or(&ap_seen, 1u << id, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&ap_count, 1, __ATOMIC_SEQ_CST);
    /* Later, on the BSP's word: x2APIC mode, then take IPIs. */
    struct __attribute__((packed)) { uint16_t limit; uint32_t base; } idtr = { sizeof(idt) - 1, (uint32_t)idt };
    __asm__ volatile("lidt %0" :: "m"(idtr));
    while (!x2_go)
        __asm__ volatile("pause");
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_EXTD);
    wrmsr(0x80f, 0x100 | VEC_SPUR);
    if (rdmsr(0x802) == id)
        __atomic_fetch_add(&ap_x2, 1, __ATOMIC_SEQ_CST);
    for (;;)
        __asm__ volatile("sti; hlt");
}

/* Expects the last RDMSR/WRMSR to have taken a #GP (the n-th so far). */
static void expect_gp(unsigned n, unsigned code, const char *why)
{
    if (gp_count != n)
        fail(code, why, gp_count);
}

/* The x2APIC and the TSC-deadline timer (SDM 11.12, 11.5.4.1), with every AP running. */
static uint32_t check_x2apic(uint8_t me, uint32_t ncpus, const uint32_t *ids, uint32_t tsc_khz)
{
    uint32_t r[4];
    cpuid(1, r);
    if (!(r[2] & (1u << 21)) || !(r[2] & (1u << 24)))
        fail(31, "CPUID offers no x2APIC or no TSC-deadline timer", r[2]);
    gate(13, isr_gp);
    uint64_t base = rdmsr(MSR_APIC_BASE);
    if ((base & ~0xfffull) != LAPIC || (base & 0xfff) != (APIC_EN | APIC_BSP))
        fail(32, "IA32_APIC_BASE is not 0xFEE00000, enabled, BSP, xAPIC", (uint32_t)base);
    (void)rdmsr(0x802);
    expect_gp(1, 33, "an x2APIC register answered in xAPIC mode");
    wrmsr(MSR_APIC_BASE, LAPIC | APIC_EXTD);
    expect_gp(2, 34, "IA32_APIC_BASE took EN=0 EXTD=1");
    wrmsr(MSR_APIC_BASE, base | APIC_EXTD);
    expect_gp(2, 35, "IA32_APIC_BASE refused x2APIC mode");
    if (rdmsr(0x802) != me)
        fail(35, "the x2APIC ID is not the APIC ID", (uint32_t)rdmsr(0x802));
    if (rd(LAPIC + 0x30) != 0xffffffffu)
        fail(36, "the xAPIC page still answers in x2APIC mode", rd(LAPIC + 0x30));
    if (rdmsr(0x80d) != ((uint32_t)(me >> 4) << 16 | 1u << (me & 15)))
        fail(37, "the x2APIC logical ID is not the derived one", (uint32_t)rdmsr(0x80d));
    wrmsr(MSR_APIC_BASE, base);
    expect_gp(3, 38, "x2APIC -> xAPIC was allowed");
    wrmsr(0x808, 0x100);
    expect_gp(4, 39, "a reserved TPR bit was taken");
    (void)rdmsr(0x80b);
    expect_gp(5, 39, "the write-only EOI register was read");
    if ((rdmsr(MSR_APIC_BASE) & 0xfff) != (APIC_EN | APIC_EXTD | APIC_BSP))
        fail(32, "IA32_APIC_BASE does not say x2APIC", (uint32_t)rdmsr(MSR_APIC_BASE));
    /* SELF IPI, then one IPI to each AP by its 32-bit destination. */
    uint32_t before = ipis;
    wrmsr(0x83f, VEC_IPI);
    if (!wait_for(&ipis, before + 1, 1000))
        fail(40, "no SELF IPI", ipis - before);
    x2_go = 1;
    if (!wait_for(&ap_x2, ncpus - 1, 5000))
        fail(41, "an AP did not reach x2APIC mode with its own ID", ap_x2);
    before = ipis;
    for (uint32_t i = 0; i < ncpus; i++)
        if (ids[i] != me)
            wrmsr(0x830, (uint64_t)ids[i] << 32 | 0x4000 | VEC_IPI);
    if (!wait_for(&ipis, before + ncpus - 1, 2000))
        fail(42, "IPIs to the APs in x2APIC mode were lost", ipis - before);
    /* The TSC-deadline timer: 2 ms ahead; not before, and the MSR reads 0 after. */
    wrmsr(0x832, 0x40000 | VEC_LAPIC);
    uint32_t ticks = lapic_ticks;
    uint64_t deadline = rdtsc() + 2ull * tsc_khz;
    wrmsr(MSR_TSC_DEADLINE, deadline);
    if (!wait_for(&lapic_ticks, ticks + 1, 2000))
        fail(43, "no TSC-deadline timer interrupt", lapic_ticks - ticks);
    if (lapic_tsc < deadline)
        fail(44, "the TSC-deadline interrupt came before the deadline",
             (uint32_t)(deadline - lapic_tsc));
    if (rdmsr(MSR_TSC_DEADLINE) != 0)
        fail(45, "IA32_TSC_DEADLINE is not 0 after it fired", 0);
    /* Disarmed by writing 0: nothing comes. */
    wrmsr(MSR_TSC_DEADLINE, rdtsc() + tsc_khz);
    wrmsr(MSR_TSC_DEADLINE, 0);
    delay_us(3000);
    if (lapic_ticks != ticks + 1)
        fail(46, "a disarmed TSC deadline fired", lapic_ticks - ticks);
    return (uint32_t)ipis;
}

/* DR7 set by the guest survives a VM exit: an execute breakpoint (L0) at an address nothing
 * runs, port I/O (an exit), DR7 read back. */
static void check_dr7(void)
{
    uint32_t v;
    __asm__ volatile("mov %0, %%dr0" :: "r"(0xfffff000u));
    __asm__ volatile("mov %0, %%dr7" :: "r"(0x401u));
    (void)pm_now();
    (void)inb(0x3fd);
    __asm__ volatile("mov %%dr7, %0" : "=r"(v));
    __asm__ volatile("mov %0, %%dr7" :: "r"(0x400u));
    if (v != 0x401)
        fail(47, "DR7 did not survive an exit", v);
}

static bool has_word(const char *cmd, const char *w)
{
    size_t k = len(w);
    for (const char *p = cmd; *p; p++)
        if ((p == cmd || p[-1] == ' ') && starts(p, w) && (p[k] == ' ' || !p[k]))
            return true;
    return false;
}

/* PAE paging: four page directories of 2 MiB pages map the first 4 GiB as they are. */
static uint64_t pae_pdpt[4] __attribute__((aligned(32)));
static uint64_t pae_pd[4][512] __attribute__((aligned(4096)));

#define PAE_BASE  0x400000u
#define PAE_PAGES 64u

static uint32_t pattern(uint32_t addr, uint32_t gen)
{
    return (addr * 2654435761u) ^ (gen * 0x9e3779b9u) ^ 0x5a5a5a5au;
}

static __attribute__((noreturn)) void pae_loop(uint32_t mem)
{
    if (mem < 8)
        fail(48, "pae needs mem=8 or more", mem);
    for (uint32_t i = 0; i < 4; i++) {
        pae_pdpt[i] = (uint32_t)pae_pd[i] | 1;                    /* present */
        for (uint32_t j = 0; j < 512; j++)
            pae_pd[i][j] = (uint64_t)(i * 512 + j) << 21 | 0x83;  /* P RW PS */
    }
    uint32_t cr;
    __asm__ volatile("mov %0, %%cr3" :: "r"((uint32_t)pae_pdpt));
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr));
    __asm__ volatile("mov %0, %%cr4" :: "r"(cr | 0x20));         /* PAE */
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr));
    __asm__ volatile("mov %0, %%cr0" :: "r"(cr | 0x80000000u) : "memory");  /* PG */
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr));
    if (!(cr & 0x20))
        fail(49, "CR4.PAE did not stick", cr);
    puts_("MBTEST pae paging on\n");
    uint32_t t0 = pm_now();
    for (uint32_t gen = 1;; gen++) {
        for (uint32_t a = PAE_BASE; a < PAE_BASE + PAE_PAGES * 4096; a += 4) {
            volatile uint32_t *p = (volatile uint32_t *)a;
            if (gen > 1 && *p != pattern(a, gen - 1))
                fail(50, "PAE: a word lost its value", a);
            *p = pattern(a, gen);
        }
        if (pm_now() - t0 >= PM_HZ) {
            t0 = pm_now();
            puts_("MBTEST pae gen=");
            putu(gen);
            puts_(" ok\n");
        }
    }
}

/*
 * A dirtier at a set rate, for comparing migrations (bench/vs_qemu.py runs it under QEMU and
 * under ferry): "dirty mem=MiB ws=MiB kibps=K". It rewrites the ws MiB from 4 MiB, page after
 * page, each with its lap's pattern over every word (it does not compress), at K KiB/s of
 * guest time (the ACPI PM timer), after checking the page still holds the last lap's. Once a
 * second: "MBTEST dirty lap=N pages=M ok" (M: pages written so far).
 */
static __attribute__((noreturn)) void dirty_loop(uint32_t mem, uint32_t ws, uint32_t kibps)
{
    if (mem < 8 || !ws || ws > mem - 4 || !kibps)
        fail(51, "dirty needs mem= of 8 or more, ws= of 1 to mem - 4, kibps=", ws);
    uint32_t pages = ws * 256, next = 0, lap = 1, written = 0, acc = 0, secs = 0;
    uint32_t last = pm_now(), ticks = 0;                /* ticks: PM timer, < 1 s */
    for (;;) {
        uint32_t now = pm_now();
        ticks += (now - last) & 0xffffff;               /* the counter is 24 bits wide */
        last = now;
        while (ticks >= PM_HZ / 100) {                  /* 10 ms: kibps / 400 pages */
            ticks -= PM_HZ / 100;
            acc += kibps;
            if (++secs % 100 == 0) {
                puts_("MBTEST dirty lap=");
                putu(lap);
                puts_(" pages=");
                putu(written);
                puts_(" ok\n");
            }
        }
        if (acc > 64 * 400)                             /* a stall is not made up for */
            acc = 64 * 400;
        while (acc >= 400) {
            acc -= 400;
            uint32_t base = PAE_BASE + next * 4096;
            for (uint32_t a = base; a < base + 4096; a += 4) {
                volatile uint32_t *w = (volatile uint32_t *)a;
                if (lap > 1 && *w != pattern(a, lap - 1))
                    fail(52, "dirty: a word lost its value", a);
                *w = pattern(a, lap);
            }
            written++;
            if (++next == pages) {
                next = 0;
                lap++;
            }
        }
    }
}

void mb_main(uint32_t magic, const struct mb_info *mi)
{
    const char *cmd = (mi->flags & 4) ? (const char *)mi->cmdline : "";
    puts_("MBTEST start: ");
    puts_(cmd);
    putc_('\n');
    if (has_word(cmd, "pae"))
        pae_loop(arg(cmd, "mem"));
    if (has_word(cmd, "dirty"))
        dirty_loop(arg(cmd, "mem"), arg(cmd, "ws"), arg(cmd, "kibps"));
    check_dr7();
    check_info(magic, mi, cmd);

    uint32_t tsc_khz = check_timing_leaf();
    struct madt_facts f;
    find_madt(&f);
    uint32_t cpus = arg(cmd, "cpus");
    if (f.ncpus != cpus)
        fail(18, "the MADT's CPU count is not the VM's", f.ncpus);

    /* Interrupts: the IDT, the 8259 pair masked, this CPU's local APIC on. */
    for (unsigned v = 0; v < 256; v++)
        gate(v, isr_other);
    gate(VEC_PIT, isr_pit);
    gate(VEC_LAPIC, isr_lapic);
    gate(VEC_IPI, isr_ipi);
    gate(2, isr_nmi);
    gate(VEC_NOEOI, isr_noeoi);
    gate(VEC_SPUR, isr_spurious);
    struct __attribute__((packed)) { uint16_t limit; uint32_t base; } idtr = { sizeof(idt) - 1, (uint32_t)idt };
    __asm__ volatile("lidt %0" :: "m"(idtr));
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    wr(LAPIC + 0xf0, 0x100 | VEC_SPUR);
    wr(LAPIC + 0x80, 0);
    uint8_t me = (uint8_t)(rd(LAPIC + 0x20) >> 24);
    my_id = me;

    /* The PIT at 100 Hz, IRQ 0 through the I/O APIC's pin the MADT names, to this CPU. */
    ioapic_route(f.ioapic, f.irq0_gsi, VEC_PIT, me);
    outb(0x43, 0x34);
    outb(0x40, 11932 & 0xff);
    outb(0x40, 11932 >> 8);
    __asm__ volatile("sti");
    if (!wait_for(&pit_ticks, 5, 5000))
        fail(19, "no PIT interrupts through the I/O APIC", pit_ticks);
    /* Routed to an APIC that does not exist: the PIT's interrupts go nowhere. */
    ioapic_route(f.ioapic, f.irq0_gsi, VEC_PIT, 9);
    uint32_t before = pit_ticks;
    delay_us(50000);
    if (pit_ticks != before)
        fail(23, "an I/O APIC route to a missing APIC delivered", pit_ticks - before);
    ioapic_route(f.ioapic, f.irq0_gsi, VEC_PIT | 0x10000, me);    /* masked again */

    /* An ICR write with reserved bits (31:20) set: ignored, the self IPI still arrives. */
    ipi(me, 0xfff04000 | VEC_IPI);
    if (!wait_for(&ipis, 1, 1000))
        fail(24, "an IPI with reserved ICR bits was lost", ipis);
    /* The same vector three times without an EOI: one delivery (it stays in service), the
     * next held in IRR; the EOI lets exactly that one in. */
    for (int i = 0; i < 3; i++)
        ipi(me, 0x4000 | VEC_NOEOI);
    delay_us(2000);
    if (noeoi != 1)
        fail(25, "a vector in service was delivered again before its EOI", noeoi);
    wr(LAPIC + 0xb0, 0);
    if (!wait_for(&noeoi, 2, 1000))
        fail(26, "the pending vector did not come after the EOI", noeoi);
    delay_us(2000);
    if (noeoi != 2)
        fail(27, "more than one pending delivery of a vector", noeoi);
    wr(LAPIC + 0xb0, 0);
    /* An NMI IPI to itself: taken through vector 2 whatever IF says; a second one sent from
     * inside the handler waits for its IRET (on_interrupt), then comes. */
    __asm__ volatile("cli");
    ipi(me, 0x4400);
    /* Spin without exits (RDTSC, no port reads) for up to 50 ms: nothing but the waiting NMI
     * itself should end this, right after the handler's IRET. */
    uint64_t spin0 = rdtsc();
    while (nmis < 2 && rdtsc() - spin0 < 50ull * tsc_khz)
        __asm__ volatile("pause");
    if (!wait_for(&nmis, 2, 1000))
        fail(29, "NMIs were lost", nmis);
    delay_us(2000);
    if (nmis != 2)
        fail(30, "more NMIs than were sent", nmis);
    __asm__ volatile("sti");
    /* A SIPI to an APIC ID no CPU has: nothing happens (the CPUs are counted below). */
    ipi(7, 0x4608);

    /* The local APIC timer, periodic, divide register 0 (divide by 2). */
    wr(LAPIC + 0x3e0, 0x0);
    wr(LAPIC + 0x320, 0x20000 | VEC_LAPIC);
    wr(LAPIC + 0x380, 800000);                /* 1.6 ms at ferry's 1 GHz timer clock / 2 */
    if (!wait_for(&lapic_ticks, 5, 5000))
        fail(20, "no local APIC timer interrupts", lapic_ticks);
    wr(LAPIC + 0x320, 0x10000);

    /* Every other CPU by INIT, then SIPI twice (vector 8: the trampoline at 0x8000). */
    for (char *s = tramp_start, *d = (char *)0x8000; s < tramp_end;)
        *d++ = *s++;
    for (uint32_t i = 0; i < f.ncpus; i++) {
        if (f.ids[i] == me)
            continue;
        ipi((uint8_t)f.ids[i], 0x4500);       /* INIT, level assert */
        delay_us(10000);
        ipi((uint8_t)f.ids[i], 0x4608);       /* SIPI, vector 8 */
        delay_us(200);
        ipi((uint8_t)f.ids[i], 0x4608);
    }
    if (!wait_for(&ap_count, f.ncpus - 1, 5000))
        fail(21, "not every AP started", ap_count);
    for (uint32_t i = 0; i < f.ncpus; i++)
        if (f.ids[i] != me && !(ap_seen & (1u << f.ids[i])))
            fail(22, "an AP did not report its own APIC ID", f.ids[i]);

    uint32_t ipis_total = check_x2apic(me, f.ncpus, f.ids, tsc_khz);

    puts_("MBTEST ok cpus=");
    putu(f.ncpus);
    puts_(" mods=");
    putu(mi->mods_count);
    puts_(" pit=");
    putu(pit_ticks);
    puts_(" lapic=");
    putu(lapic_ticks);
    puts_(" aps=");
    putu(ap_count);
    puts_(" bad=ok nmi=");
    putu(nmis);
    puts_(" tsc_khz=");
    putu(tsc_khz);
    puts_(" x2apic=ok ipis=");
    putu(ipis_total);
    puts_(" nmi_wait_us=");                  /* from the handler's IRET to the next NMI */
    putu((uint32_t)(nmi_second_tsc - nmi_iret_tsc) / (tsc_khz / 1000u));    /* 32-bit math */
    putc_('\n');
    finish(PASS);
}
