/*
 * The host's own descriptor tables: a flat 64-bit GDT with a TSS per CPU
 * (IST stacks for #DF, NMI and #MC so a broken stack still reports), and one
 * IDT shared by all CPUs whose stubs live in isr.S.
 */
#include <stddef.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/trap.h"

struct cpu cpus[MAX_CPUS];
unsigned cpu_count;

struct idt_entry {
    uint16_t off0, sel;
    uint8_t ist, type;
    uint16_t off1;
    uint32_t off2, reserved;
} __attribute__((packed));

static struct idt_entry idt[256] __attribute__((aligned(16)));
static uint8_t ist_stacks[MAX_CPUS][3][CPU_IST_SIZE] __attribute__((aligned(16)));
extern const uint64_t isr_table[256];

_Static_assert(sizeof(struct tss64) == 104, "TSS layout");
_Static_assert(offsetof(struct cpu, self) == 0, "this_cpu() reads %gs:0");

struct desc_ptr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

static void idt_init_once(void)
{
    static int done;
    if (done)
        return;
    for (int v = 0; v < 256; v++) {
        uint64_t a = isr_table[v];
        idt[v] = (struct idt_entry){
            .off0 = a & 0xffff, .sel = GDT_CODE64, .type = 0x8e,
            .off1 = (a >> 16) & 0xffff, .off2 = a >> 32,
        };
    }
    idt[TRAP_DF].ist = 1;
    idt[TRAP_NMI].ist = 2;
    idt[TRAP_MC].ist = 3;
    done = 1;
}

void cpu_setup(struct cpu *c)
{
    uint64_t tss = (uint64_t)&c->tss;

    idt_init_once();
    c->self = c;
    memset(&c->tss, 0, sizeof(c->tss));
    for (int i = 0; i < 3; i++)
        c->tss.ist[i] = (uint64_t)&ist_stacks[c->index][i][CPU_IST_SIZE];
    c->tss.iomap_base = sizeof(c->tss);

    c->gdt[0] = 0;
    c->gdt[1] = 0x00af9a000000ffffull;    /* 64-bit code, DPL0 */
    c->gdt[2] = 0x00cf92000000ffffull;    /* data, DPL0 */
    c->gdt[3] = (sizeof(c->tss) - 1) | ((tss & 0xffffff) << 16) | (0x89ull << 40) |
                ((tss >> 24) & 0xff) << 56;
    c->gdt[4] = tss >> 32;
    c->gdt[5] = c->gdt[6] = 0;

    struct desc_ptr g = { sizeof(c->gdt) - 1, (uint64_t)c->gdt };
    struct desc_ptr i = { sizeof(idt) - 1, (uint64_t)idt };
    __asm__ volatile("lgdt %0\n\t"
                     "pushq %1\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1:\n\t"
                     "mov %2, %%ax\n\t"
                     "mov %%ax, %%ds\n\t"
                     "mov %%ax, %%es\n\t"
                     "mov %%ax, %%ss\n\t"
                     "xor %%eax, %%eax\n\t"
                     "mov %%ax, %%fs\n\t"
                     "mov %%ax, %%gs\n\t"
                     "ltr %w3\n\t"
                     "lidt %4"
                     :: "m"(g), "i"(GDT_CODE64), "i"(GDT_DATA), "r"(GDT_TSS), "m"(i)
                     : "rax", "memory");
    wrmsr(MSR_GS_BASE, (uint64_t)c);
}
