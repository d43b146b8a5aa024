/*
 * The Multiboot test kernel's entry (32-bit protected mode, paging off, as the Multiboot
 * specification leaves it), its interrupt entry points, and the APs' real-mode trampoline (copied to
 * 0x8000, SIPI vector 8).
 */
    .set MB_MAGIC, 0x1badb002
    .set MB_FLAGS, 0x3                  /* page-aligned modules; memory information */

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

    .text
    .code32
    .globl _start
_start:
    mov $stack_top, %esp
    mov %eax, %esi                      /* the loader's magic and info pointer */
    lgdt gdt_desc                       /* our own GDT (the loader's is not ours to keep) */
    ljmp $0x08, $1f
1:  mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    push %ebx
    push %esi
    call mb_main
2:  cli
    hlt
    jmp 2b

    .macro INTR_ENTRY name, vector
    .globl \name
\name:
    pusha
    push $\vector
    call on_interrupt
    add $4, %esp
    popa
    iret
    .endm

    INTR_ENTRY isr_pit, 0x30
    INTR_ENTRY isr_lapic, 0x31
    INTR_ENTRY isr_ipi, 0x32
    INTR_ENTRY isr_noeoi, 0x33
    INTR_ENTRY isr_nmi, 2
    INTR_ENTRY isr_other, 0
    .globl isr_spurious
isr_spurious:
    iret

    /* #GP where the test expects one: only from a RDMSR or WRMSR (2 bytes), which it skips;
     * gp_count says how many came. */
    .globl isr_gp
isr_gp:
    addl $2, 4(%esp)
    lock incl gp_count
    add $4, %esp                        /* the error code */
    iret

    .globl tramp_start, tramp_end
    .code16
tramp_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    lgdtl 0x8000 + (tramp_gdtr - tramp_start)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $ap_entry32
    .align 4
tramp_gdtr:
    .word 23
    .long 0x8000 + (gdt - tramp_start)
    .align 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff            /* 0x08: 32-bit code, 4 GiB */
    .quad 0x00cf92000000ffff            /* 0x10: data, 4 GiB */
tramp_end:

    .code32
ap_entry32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    mov 0xfee00020, %eax                /* this CPU's APIC ID picks its stack */
    shr $24, %eax
    and $7, %eax
    inc %eax
    shl $12, %eax
    lea ap_stacks(%eax), %esp
    call ap_main
3:  cli
    hlt
    jmp 3b

    .section .rodata
    .align 4
gdt_desc:
    .word 23
    .long gdt

    .bss
    .align 16
    .space 16384
stack_top:
    .globl ap_stacks
ap_stacks:
    .space 4096 * 9
