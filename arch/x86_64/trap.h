/*
 * Interrupts and exceptions on the host. Exceptions in the core print the
 * vector, error code and registers and stop that CPU; interrupt vectors are
 * routed to handlers registered with trap_set_handler().
 */
#ifndef ARCH_TRAP_H
#define ARCH_TRAP_H

#include <stdint.h>

#define TRAP_DE 0
#define TRAP_NMI 2
#define TRAP_DF 8
#define TRAP_GP 13
#define TRAP_PF 14
#define TRAP_MC 18

#define VEC_WAKEUP   0xf0   /* IPI that wakes a parked AP */
#define VEC_TIMER    0xf1   /* local APIC timer: end of a guest time slice */
#define VEC_SPURIOUS 0xff

struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

typedef void (*trap_handler_fn)(struct trap_frame *tf);

void trap_set_handler(unsigned vector, trap_handler_fn fn);
void trap_dispatch(struct trap_frame *tf);

#endif
