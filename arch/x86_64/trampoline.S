/*
 * AP start-up code, copied below 1 MiB; the SIPI vector is its page number.
 * Real mode -> long mode in one step (CR0.PE and CR0.PG set together with
 * EFER.LME, SDM vol. 3 sec. 10.8.5), on a temporary PML4 in the trampoline
 * area that identity-maps the first 2 MiB and shares the core's upper half.
 * The BSP fills the parameter block before each SIPI.
 */
#define TR_OFF(x) ((x) - trampoline_start)

    .section .rodata
    .code16
    .globl trampoline_start, trampoline_end, trampoline_params
trampoline_start:
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    movl %cr4, %eax
    orl $0x20, %eax                      /* PAE */
    movl %eax, %cr4
    movl TR_OFF(tp_cr3_low), %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx
    rdmsr
    orl $0x900, %eax                     /* LME | NXE */
    wrmsr
    lgdtl TR_OFF(tp_gdtr)
    movl %cr0, %eax
    orl $0x80010001, %eax                /* PG | WP | PE */
    movl %eax, %cr0
    ljmpl *TR_OFF(tp_farptr)

    .code64
    .globl trampoline_long
trampoline_long:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    /* The core's own tables do not map this page: ap_entry loads them. */
    movq tp_cr3(%rip), %rsi
    movq tp_stack(%rip), %rsp
    movq tp_cpu(%rip), %rdi
    movq tp_entry(%rip), %rbx
    xorl %ebp, %ebp
    jmp *%rbx

    .align 16
trampoline_params:
tp_gdt:
    .quad 0
    .quad 0x00af9a000000ffff             /* 64-bit code */
    .quad 0x00cf92000000ffff             /* data */
tp_gdtr:
    .word 23
    .long 0                              /* patched: linear address of tp_gdt */
    .word 0
tp_farptr:
    .long 0                              /* patched: linear address of trampoline_long */
    .word 0x08
    .word 0
tp_cr3_low:  .long 0                     /* temporary PML4, below 1 MiB */
    .long 0
tp_cr3:      .quad 0                     /* the core's PML4 */
tp_stack:    .quad 0
tp_cpu:      .quad 0
tp_entry:    .quad 0
trampoline_end:
