/* Core entry from the loader: %rdi = boot_info (direct map), interrupts off. */
    .section .text.entry, "ax"
    .globl _start
_start:
    leaq boot_stack_top(%rip), %rsp
    xorl %ebp, %ebp
    call hv_main
1:  cli
    hlt
    jmp 1b

    .bss
    .align 4096
    .globl boot_stack_top
boot_stack:
    .skip 32768
boot_stack_top:
