/*
 * memtest entry, placed first in .text so a flat binary starts here too.
 * ferry enters every vCPU in long mode with RSP = the top of its own
 * 16-byte aligned stack and RDI = its boot-info page (docs/guest-boot.md);
 * RDI passes straight through as memtest_main's argument.
 */
    .section .text.start, "ax"
    .globl _start
    .type _start, @function
_start:
    cld
    xor %ebp, %ebp
    call memtest_main          /* RSP is 16-aligned here, as the SysV ABI wants */
1:  cli
    hlt
    jmp 1b
    .size _start, . - _start

    .section .note.GNU-stack, "", @progbits
