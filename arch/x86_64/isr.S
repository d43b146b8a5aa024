/* IDT entry stubs: normalise the frame (vector + error code) and call C. */
#include "arch/x86_64/trap_offsets.h"

.macro ISR vec
    .align 16
isr_\vec:
    .if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
    .else
    pushq $0
    .endif
    pushq $\vec
    jmp isr_common
.endm

    .text
    .altmacro
vec = 0
.rept 256
    ISR %vec
    vec = vec + 1
.endr

isr_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld
    movq %rsp, %rdi
    call trap_dispatch
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq

.macro ISR_ADDR vec
    .quad isr_\vec
.endm
    .section .rodata
    .align 8
    .globl isr_table
isr_table:
vec = 0
.rept 256
    ISR_ADDR %vec
    vec = vec + 1
.endr
