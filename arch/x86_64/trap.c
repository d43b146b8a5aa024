/*
 * Exception and interrupt dispatch. An exception in host code is a bug or a
 * hardware fault: print everything needed to find it and stop that CPU
 * (the others and the console keep going where they can).
 */
#include <stddef.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/percpu.h"
#include "arch/x86_64/trap.h"
#include "arch/x86_64/trap_offsets.h"
#include "hv/base/log.h"

_Static_assert(sizeof(struct trap_frame) == TRAP_FRAME_SIZE, "isr.S pushes struct trap_frame");

static trap_handler_fn handlers[256];

static const char *const exc_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP",
    "#SS", "#GP", "#PF", "?15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

void trap_set_handler(unsigned vector, trap_handler_fn fn)
{
    handlers[vector & 0xff] = fn;
}

static void __attribute__((noreturn)) exception_dump(struct trap_frame *tf)
{
    const char *name = exc_names[tf->vector] ? exc_names[tf->vector] : "?";
    unsigned cpu = 0;

    /* %gs may be unset if we die very early; cpus[0] is the BSP then. */
    if (rdmsr(MSR_GS_BASE))
        cpu = this_cpu()->index;
    log_emergency("\n*** EXCEPTION %s vector=%lu error=0x%lx cpu=%u\n", name,
                  (unsigned long)tf->vector, (unsigned long)tf->error, cpu);
    log_emergency("rip=%016lx cs=%04lx rflags=%016lx rsp=%016lx ss=%04lx\n",
                  tf->rip, tf->cs, tf->rflags, tf->rsp, tf->ss);
    log_emergency("rax=%016lx rbx=%016lx rcx=%016lx rdx=%016lx\n", tf->rax, tf->rbx, tf->rcx, tf->rdx);
    log_emergency("rsi=%016lx rdi=%016lx rbp=%016lx r8 =%016lx\n", tf->rsi, tf->rdi, tf->rbp, tf->r8);
    log_emergency("r9 =%016lx r10=%016lx r11=%016lx r12=%016lx\n", tf->r9, tf->r10, tf->r11, tf->r12);
    log_emergency("r13=%016lx r14=%016lx r15=%016lx\n", tf->r13, tf->r14, tf->r15);
    log_emergency("cr0=%016lx cr2=%016lx cr3=%016lx cr4=%016lx\n", read_cr0(), read_cr2(),
                  read_cr3(), read_cr4());
    log_emergency("*** cpu %u halted\n", cpu);
    cpu_halt_forever();
}

void trap_dispatch(struct trap_frame *tf)
{
    unsigned v = tf->vector & 0xff;

    if (handlers[v]) {
        handlers[v](tf);
    } else if (v < 32) {
        exception_dump(tf);
    }
    if (v >= 32 && v != VEC_SPURIOUS)
        lapic_eoi();
}
