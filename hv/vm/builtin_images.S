/* Guest images built into ferry: `vm create NAME image=memtest`. */
    .section .rodata
    .balign 4096
    .globl builtin_memtest_start, builtin_memtest_end
builtin_memtest_start:
    .incbin MEMTEST_ELF
builtin_memtest_end:
