/*
 * Per-CPU state of the host. Index 0 is the BSP (the control plane); APs
 * follow in the order the firmware listed them. %gs:0 points at the CPU's
 * own struct so this_cpu() is one load.
 */
#ifndef ARCH_PERCPU_H
#define ARCH_PERCPU_H

#include <stdbool.h>
#include <stdint.h>

#define MAX_CPUS 64
#define CPU_STACK_SIZE (32 * 1024)
#define CPU_IST_SIZE (8 * 1024)

struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} __attribute__((packed));

struct cpu {
    struct cpu *self;             /* %gs:0 */
    uint32_t index;
    uint32_t apic_id;
    uint32_t node;
    volatile uint32_t online;
    uint64_t gdt[7];
    struct tss64 tss;
    uint8_t *stack_top;
    /* Work for a parked AP: the BSP stores fn then kicks the CPU. */
    void (*volatile work_fn)(void *arg);
    void *volatile work_arg;
    /* The running vCPU's time slice: set by the scheduler, enforced by the backend. */
    uint64_t slice_end_tsc;
    /* The next guest exit the backend must force: the slice's end or, sooner, the next
     * event of the running VM's device clocks (a timer interrupt to deliver). */
    uint64_t deadline_tsc;
    bool slice_armed;             /* SVM: the APIC timer is counting down to armed_tsc */
    uint64_t armed_tsc;
    volatile bool timer_fired;    /* the APIC timer's interrupt came (SVM, idle wake-ups) */
};

extern struct cpu cpus[MAX_CPUS];
extern unsigned cpu_count;        /* CPUs known (from MADT or MP services) */

static inline struct cpu *this_cpu(void)
{
    struct cpu *c;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(c));
    return c;
}

void cpu_setup(struct cpu *c);    /* GDT, TSS, IDT, GS base on the calling CPU */

#define GDT_CODE64 0x08
#define GDT_DATA   0x10
#define GDT_TSS    0x18

#endif
